/*
 * config_file.c - read the user's defaults file (syntax in config_file.h).
 *
 * The file is the user's, but a typo in it should still be reported like a
 * bad option: one line naming the file and the line, and no partial result.
 * Each key is a row of a table (type, range, field), so adding an option to
 * the config file is one line here.
 */
#include "config.h"

#include "config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "glimpse/quant.h"
#include "util.h"

#define CONFIG_MAX_BYTES (1 << 20)  /* a defaults file is a few lines */
#define SHOW_MAX 40                 /* bytes of a bad value quoted in messages */

enum kind { K_STR, K_PATH, K_INT, K_FLOAT, K_TEMPLATE, K_KV_TYPE, K_SEED };

struct key {
    const char *name;
    uint32_t bit;
    enum kind kind;
    double lo, hi;              /* K_INT, K_FLOAT: the accepted range */
    size_t off;                 /* the field in struct gl_config */
};

#define F(field) offsetof(struct gl_config, field)
static const struct key keys[] = {
    {"model", CONFIG_MODEL, K_PATH, 0, 0, F(model)},
    {"mmproj", CONFIG_MMPROJ, K_PATH, 0, 0, F(mmproj)},
    {"system", CONFIG_SYSTEM, K_STR, 0, 0, F(system)},
    {"template", CONFIG_TEMPLATE, K_TEMPLATE, 0, 0, F(tmpl)},
    {"threads", CONFIG_THREADS, K_INT, 1, 512, F(threads)},
    {"ctx", CONFIG_CTX, K_INT, 16, 1 << 20, F(ctx)},
    {"n_predict", CONFIG_N_PREDICT, K_INT, -1, 1 << 20, F(n_predict)},
    {"kv_type", CONFIG_KV_TYPE, K_KV_TYPE, 0, 0, F(kv_type)},
    {"temp", CONFIG_TEMP, K_FLOAT, 0, 100, F(temp)},
    {"top_k", CONFIG_TOP_K, K_INT, 0, 1 << 24, F(top_k)},
    {"top_p", CONFIG_TOP_P, K_FLOAT, 0, 1, F(top_p)},
    {"min_p", CONFIG_MIN_P, K_FLOAT, 0, 1, F(min_p)},
    {"repeat_penalty", CONFIG_REPEAT_PENALTY, K_FLOAT, 0.01, 100, F(repeat_penalty)},
    {"repeat_last_n", CONFIG_REPEAT_LAST_N, K_INT, 0, 1 << 20, F(repeat_last_n)},
    {"seed", CONFIG_SEED, K_SEED, 0, 0, F(seed)},
};
#undef F
#define N_KEYS (sizeof keys / sizeof *keys)

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

char *config_default_path(void)
{
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x && x[0] == '/')
        return gl_strfmt("%s/glimpse/config", x);
    const char *h = home_dir();
    return h ? gl_strfmt("%s/.config/glimpse/config", h) : NULL;
}

void config_free(struct gl_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->model);
    free(cfg->mmproj);
    free(cfg->system);
    *cfg = (struct gl_config){0};
}

/* ---------------------------------------------------------------- one line */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* How much of the rest of a line to quote in a message. */
static int show(size_t n)
{
    return n < SHOW_MAX ? (int)n : SHOW_MAX;
}

/* Where a parse failed: file, line, and the message (set once). */
struct where {
    const char *file;
    int line;
    char **err;
};

static int fail(const struct where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const struct where *w, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a quoted value may hold "\n": the message stays one line */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    return gl_err(w->err, "%s:%d: %s", w->file, w->line, msg);
}

/* The value part of a line (s[0..n), leading spaces already skipped) as a
 * malloc'd string: quoted or bare. */
static int parse_value(const char *s, size_t n, const struct where *w, char **out)
{
    char *v = malloc(n + 1);
    size_t o = 0, i = 0;
    if (!v)
        return gl_err(w->err, "out of memory");
    if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
        char q = s[0];
        bool closed = false;
        for (i = 1; i < n; i++) {
            if (s[i] == q) {
                closed = true;
                i++;
                break;
            }
            if (q == '"' && s[i] == '\\') {
                if (++i == n)
                    break;
                switch (s[i]) {
                case '"': v[o++] = '"'; break;
                case '\\': v[o++] = '\\'; break;
                case 'n': v[o++] = '\n'; break;
                case 't': v[o++] = '\t'; break;
                default:
                    free(v);
                    return fail(w, "unknown escape '\\%c' in a quoted value (use \\\" \\\\ \\n \\t)",
                                s[i]);
                }
                continue;
            }
            v[o++] = s[i];
        }
        if (!closed) {
            free(v);
            return fail(w, "the quoted value has no closing %c", q);
        }
        while (i < n && is_space(s[i]))
            i++;
        if (i < n && s[i] != '#') {
            free(v);
            return fail(w, "unexpected text after the closing quote: '%.*s'", show(n - i), s + i);
        }
    } else {
        /* bare: up to a '#' that follows a space, trailing spaces dropped */
        size_t end = n;
        for (i = 0; i < n; i++)
            if (s[i] == '#' && i > 0 && is_space(s[i - 1])) {
                end = i;
                break;
            }
        while (end > 0 && is_space(s[end - 1]))
            end--;
        if (end == 0) {
            free(v);
            return fail(w, "the value is missing (write \"\" for an empty one)");
        }
        memcpy(v, s, end);
        o = end;
    }
    v[o] = 0;
    *out = v;
    return 0;
}

static int parse_long(const struct where *w, const struct key *k, const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < (long)k->lo || x > (long)k->hi)
        return fail(w, "%s needs a whole number from %ld to %ld, not '%.*s'", k->name, (long)k->lo,
                    (long)k->hi, SHOW_MAX, v);
    *out = x;
    return 0;
}

/* Store the value of key k (text v, owned by the caller) in cfg. */
static int set_value(struct gl_config *cfg, const struct key *k, char **v, const struct where *w)
{
    char *field = (char *)cfg + k->off;
    long l = 0;
    switch (k->kind) {
    case K_PATH:
        if ((*v)[0] == '~' && ((*v)[1] == '/' || (*v)[1] == 0)) {
            const char *h = home_dir();
            if (!h)
                return fail(w, "%s: cannot expand '~': no home directory", k->name);
            char *e = gl_strfmt("%s%s", h, *v + 1);
            if (!e)
                return gl_err(w->err, "out of memory");
            free(*v);
            *v = e;
        }
        /* fall through */
    case K_STR:
        *(char **)field = *v;
        *v = NULL;
        return 0;
    case K_INT:
        if (parse_long(w, k, *v, &l) < 0)
            return -1;
        *(int *)field = (int)l;
        return 0;
    case K_FLOAT: {
        char *end;
        errno = 0;
        double x = strtod(*v, &end);
        if (errno || end == *v || *end || !(x >= k->lo && x <= k->hi))
            return fail(w, "%s needs a number from %g to %g, not '%.*s'", k->name, k->lo, k->hi,
                        SHOW_MAX, *v);
        *(float *)field = (float)x;
        return 0;
    }
    case K_SEED: {
        char *end;
        errno = 0;
        unsigned long long x = (*v)[0] == '-' ? 0 : strtoull(*v, &end, 10);
        if ((*v)[0] == '-' || errno || end == *v || *end || x > LONG_MAX)
            return fail(w, "seed needs a whole number from 0 to %ld, not '%.*s'", LONG_MAX,
                        SHOW_MAX, *v);
        *(uint64_t *)field = x;
        return 0;
    }
    case K_TEMPLATE: {
        char *e = NULL;
        if (gl_template_parse(*v, (enum gl_template *)(void *)field, &e) < 0) {
            fail(w, "%s", e ? e : "out of memory");
            free(e);
            return -1;
        }
        return 0;
    }
    case K_KV_TYPE:
        if (strcmp(*v, "f16") == 0)
            *(int *)field = GL_TYPE_F16;
        else if (strcmp(*v, "f32") == 0)
            *(int *)field = GL_TYPE_F32;
        else
            return fail(w, "kv_type is f16 or f32, not '%.*s'", SHOW_MAX, *v);
        return 0;
    }
    return fail(w, "internal error: key kind %d", (int)k->kind);
}

static int parse_line(struct gl_config *cfg, const char *s, size_t n, int *set_on,
                      const struct where *w)
{
    size_t i = 0;
    for (size_t j = 0; j < n; j++)
        if ((unsigned char)s[j] < 0x20 && s[j] != '\t')
            return fail(w, "control character 0x%02x in the line", (unsigned char)s[j]);
    while (i < n && is_space(s[i]))
        i++;
    if (i == n || s[i] == '#')
        return 0;
    size_t k0 = i;
    while (i < n && is_key_char(s[i]))
        i++;
    size_t klen = i - k0;
    while (i < n && is_space(s[i]))
        i++;
    if (klen == 0 || i == n || s[i] != '=')
        return fail(w, "expected 'key = value', not '%.*s'", show(n - k0), s + k0);
    i++;
    while (i < n && is_space(s[i]))
        i++;

    char key[32];
    if (klen >= sizeof key)
        return fail(w, "unknown key '%.*s'", show(klen), s + k0);
    for (size_t j = 0; j < klen; j++)
        key[j] = s[k0 + j] == '-' ? '_' : s[k0 + j];
    key[klen] = 0;
    size_t ki;
    for (ki = 0; ki < N_KEYS; ki++)
        if (strcmp(keys[ki].name, key) == 0)
            break;
    if (ki == N_KEYS)
        return fail(w, "unknown key '%s' (known: model, mmproj, system, template, threads, ctx, "
                       "n_predict, kv_type, temp, top_k, top_p, min_p, repeat_penalty, "
                       "repeat_last_n, seed)", key);
    if (set_on[ki])
        return fail(w, "%s is already set on line %d", key, set_on[ki]);

    char *v = NULL;
    if (parse_value(s + i, n - i, w, &v) < 0)
        return -1;
    int rc = set_value(cfg, &keys[ki], &v, w);
    free(v);
    if (rc < 0)
        return -1;
    cfg->set |= keys[ki].bit;
    set_on[ki] = w->line;
    return 0;
}

/* ---------------------------------------------------------------- files */

int config_parse(const char *text, size_t len, const char *name, struct gl_config *cfg, char **err)
{
    int set_on[N_KEYS] = {0};
    struct where w = {name, 0, err};
    *cfg = (struct gl_config){0};
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        w.line++;
        if (n > 0 && text[pos + n - 1] == '\r')
            n--;
        if (memchr(text + pos, 0, n)) {
            fail(&w, "NUL byte in the line (is this a text file?)");
            goto fail;
        }
        if (parse_line(cfg, text + pos, n, set_on, &w) < 0)
            goto fail;
        pos = end + 1;
    }
    return 0;
fail:
    config_free(cfg);
    return -1;
}

int config_load(const char *path, struct gl_config *cfg, char **err)
{
    char *def = NULL, *buf = NULL;
    int rc = -1, fd = -1;
    *cfg = (struct gl_config){0};
    if (!path) {
        if (!(def = config_default_path()))
            return 0;           /* no home: no defaults file */
        path = def;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (def && errno == ENOENT)
            rc = 0;
        else
            gl_err(err, "cannot read the config file %s: %s", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        gl_err(err, "the config file %s is not a regular file", path);
        goto done;
    }
    if (st.st_size > CONFIG_MAX_BYTES) {
        gl_err(err, "the config file %s is too large (%lld bytes)", path, (long long)st.st_size);
        goto done;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        gl_err(err, "out of memory");
        goto done;
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            gl_err(err, "cannot read the config file %s: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (config_parse(buf, n, path, cfg, err) < 0)
        goto done;
    if (!(cfg->path = strdup(path))) {
        config_free(cfg);
        gl_err(err, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(def);
    return rc;
}

void config_apply(const struct gl_config *cfg, struct cli_opts *o)
{
    uint32_t s = cfg->set;
    if (s & CONFIG_MODEL)
        o->model = cfg->model;
    if (s & CONFIG_MMPROJ)
        o->mmproj = cfg->mmproj;
    if (s & CONFIG_SYSTEM)
        o->system = cfg->system;
    if (s & CONFIG_TEMPLATE)
        o->tmpl = cfg->tmpl;
    if (s & CONFIG_THREADS)
        o->n_threads = cfg->threads;
    if (s & CONFIG_CTX)
        o->n_ctx = cfg->ctx;
    if (s & CONFIG_N_PREDICT)
        o->n_predict = cfg->n_predict;
    if (s & CONFIG_KV_TYPE)
        o->kv_type = cfg->kv_type;
    if (s & CONFIG_TEMP)
        o->sp.temp = cfg->temp;
    if (s & CONFIG_TOP_K)
        o->sp.top_k = cfg->top_k;
    if (s & CONFIG_TOP_P)
        o->sp.top_p = cfg->top_p;
    if (s & CONFIG_MIN_P)
        o->sp.min_p = cfg->min_p;
    if (s & CONFIG_REPEAT_PENALTY)
        o->sp.repeat_penalty = cfg->repeat_penalty;
    if (s & CONFIG_REPEAT_LAST_N)
        o->sp.repeat_last_n = cfg->repeat_last_n;
    if (s & CONFIG_SEED) {
        o->sp.seed = cfg->seed;
        o->seed_set = true;
    }
}
