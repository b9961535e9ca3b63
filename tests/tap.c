/* tap.c - see tap.h. */
#include "config.h"

#include "tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int n_run, n_failed;

bool tap_ok(bool cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    n_run++;
    printf("%sok %d - ", cond ? "" : "not ", n_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        n_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

void tap_diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void tap_skip(int n, const char *reason, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, reason);
    vsnprintf(buf, sizeof buf, reason, ap);
    va_end(ap);
    for (int i = 0; i < n; i++)
        printf("ok %d # SKIP %s\n", ++n_run, buf);
    fflush(stdout);
}

void tap_skip_all(const char *reason, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, reason);
    vsnprintf(buf, sizeof buf, reason, ap);
    va_end(ap);
    printf("1..0 # SKIP %s\n", buf);
    fflush(stdout);
    exit(0);
}

int tap_done(void)
{
    printf("1..%d\n", n_run);
    if (n_failed)
        printf("# %d of %d failed\n", n_failed, n_run);
    fflush(stdout);
    return n_failed ? 1 : 0;
}

int tap_failed(void)
{
    return n_failed;
}

const char *tap_refdata(void)
{
    const char *d = getenv("GLIMPSE_REFDATA");
    struct stat st;
    if (!d || !*d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return d;
}

char *tap_refpath(const char *rel)
{
    const char *d = tap_refdata();
    if (!d)
        d = ".";
    size_t n = strlen(d) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    snprintf(p, n, "%s/%s", d, rel);
    return p;
}

const char *tap_tmpdir(void)
{
    const char *d = getenv("GLIMPSE_TMP");
    if (!d || !*d)
        d = "/tmp";
    if (mkdir(d, 0777) != 0 && errno != EEXIST)
        return "/tmp";
    return d;
}

void *tap_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return buf;
}
