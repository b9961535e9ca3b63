/*
 * replay.c - run a fuzz target on files, without libFuzzer: the regression
 * test (tests/fuzz_regress.sh) builds every target with the normal compiler
 * (and the sanitizers in an --enable-sanitizers build) and replays the seed
 * corpus and the crashers kept in tests/data/bad/ through it.
 *
 *   replay_TARGET FILE|DIR...    exit 0 when every input went through; a
 *                                target that finds a problem aborts
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    /* an exact-size copy, as libFuzzer passes it */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact) {
        memcpy(exact, buf, n);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    free(buf);
    return exact ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int n = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            bad++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad += run_file(argv[i]) != 0;
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        char **names = NULL;
        size_t k = 0;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char **nn = realloc(names, (k + 1) * sizeof *names);
            if (!nn)
                break;
            names = nn;
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            if (!(names[k] = malloc(len)))
                break;
            snprintf(names[k++], len, "%s/%s", argv[i], e->d_name);
        }
        if (d)
            closedir(d);
        if (k)
            qsort(names, k, sizeof *names, cmp_str);
        for (size_t j = 0; j < k; j++) {
            bad += run_file(names[j]) != 0;
            n++;
            free(names[j]);
        }
        free(names);
    }
    printf("%d inputs replayed, %d unreadable\n", n, bad);
    return bad ? 1 : 0;
}
