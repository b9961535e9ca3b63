/*
 * models.c - finding the model files a user already has: a path given with
 * -m, a name in ollama's store or llama.cpp's download cache, or a file in
 * glimpse's own models directory; and the mmproj that belongs next to a
 * language model. See models.h for the layouts this reads.
 *
 * The stores are other programs' private formats, so everything read from
 * them is treated as hostile: names from the command line and from directory
 * entries are restricted to ollama's character set before they become path
 * components, manifests are size-capped and parsed with jansson, digests must
 * be sha256:<64 hex>, and a blob must be a regular file of the size its
 * manifest declares that starts with the GGUF magic. This module never
 * prints: it hands back paths, notes and error strings.
 */
#include "config.h"

#include "models.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glimpse/clip.h"
#include "glimpse/gguf.h"
#include "util.h"

#define OLLAMA_HOST "registry.ollama.ai"
#define OLLAMA_NAMESPACE "library"
#define DEFAULT_TAG "latest"
#define MEDIA_MODEL "application/vnd.ollama.image.model"
#define MEDIA_PROJECTOR "application/vnd.ollama.image.projector"

#define NAME_PART_MAX 128           /* ollama's limit on each part of a name */
#define MANIFEST_MAX (1 << 20)      /* real manifests are about 1 KB */
#define NOTE_IGNORED_MAX 4          /* ignored mmproj files named in a note */

/* ---------------------------------------------------------------- strings */

/* A growing string; an allocation failure is remembered and reported once,
 * at the end. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The string built (caller frees), or NULL after an allocation failure. */
static char *sb_take(struct sbuf *b)
{
    if (b->oom || !b->s) {
        free(b->s);
        *b = (struct sbuf){0};
        return b->oom ? NULL : strdup("");
    }
    char *s = b->s;
    *b = (struct sbuf){0};
    return s;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static bool contains_ci(const char *s, const char *sub)
{
    size_t k = strlen(sub);
    for (; *s; s++)
        if (strncasecmp(s, sub, k) == 0)
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void models_human_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"kB", "MB", "GB", "TB"};
    if (bytes < 1000) {
        snprintf(buf, size, "%u B", (unsigned)bytes);
        return;
    }
    double v = (double)bytes / 1000;
    int u = 0;
    while (v >= 999.95 && u < 3) {
        v /= 1000;
        u++;
    }
    snprintf(buf, size, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* ---------------------------------------------------------------- places */

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* $HOME, else the password database's entry. */
static const char *home_dir(void)
{
    const char *h = env_nonempty("HOME");
    if (h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* An XDG base directory: the variable when it is absolute (the spec says to
 * ignore relative ones), else HOME/fallback. NULL without a home. */
static char *xdg_dir(const char *var, const char *fallback, const char *sub)
{
    const char *v = env_nonempty(var);
    if (v && v[0] == '/')
        return gl_strfmt("%s/%s", v, sub);
    const char *h = home_dir();
    return h ? gl_strfmt("%s/%s/%s", h, fallback, sub) : NULL;
}

static char *ollama_dir(void)
{
    const char *v = env_nonempty("OLLAMA_MODELS");
    if (v)
        return strdup(v);
    const char *h = home_dir();
    return h ? gl_strfmt("%s/.ollama/models", h) : NULL;
}

/* llama.cpp's own rule on Linux: LLAMA_CACHE, else XDG_CACHE_HOME/llama.cpp,
 * else ~/.cache/llama.cpp. */
static char *llamacpp_dir(void)
{
    const char *v = env_nonempty("LLAMA_CACHE");
    if (v)
        return strdup(v);
    return xdg_dir("XDG_CACHE_HOME", ".cache", "llama.cpp");
}

static char *glimpse_dir(void)
{
    return xdg_dir("XDG_DATA_HOME", ".local/share", "glimpse/models");
}

char *models_search_path(void)
{
    char *o = ollama_dir(), *l = llamacpp_dir(), *g = glimpse_dir();
    char *s = gl_strfmt("ollama: %s, llama.cpp: %s, glimpse: %s", o ? o : "(no home directory)",
                        l ? l : "(no home directory)", g ? g : "(no home directory)");
    free(o);
    free(l);
    free(g);
    return s;
}

/* ---------------------------------------------------------------- files */

/* A model file found in a store: it must exist (symlinks followed), be a
 * regular file, have the expected size (want = UINT64_MAX: any) and start
 * with the GGUF magic. */
static int check_gguf(const char *path, uint64_t want, uint64_t *size, char **err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gl_err(err, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return gl_err(err, "%s is not a regular file", path);
    if (want != UINT64_MAX && (uint64_t)st.st_size != want)
        return gl_err(err, "%s has %lld bytes, its manifest says %llu (an unfinished download?)",
                      path, (long long)st.st_size, (unsigned long long)want);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gl_err(err, "cannot open %s: %s", path, strerror(errno));
    char magic[4];
    ssize_t r = read(fd, magic, sizeof magic);
    close(fd);
    if (r != (ssize_t)sizeof magic || memcmp(magic, "GGUF", 4) != 0)
        return gl_err(err, "%s is not a GGUF file", path);
    *size = (uint64_t)st.st_size;
    return 0;
}

static bool is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Read a small regular file whole (NUL-terminated). 1 = absent, 0 = read,
 * -1 = error. */
static int read_small(const char *path, size_t max, char **buf, size_t *len, char **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return gl_err(err, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gl_err(err, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return gl_err(err, "%s is too large for a manifest (%lld bytes)", path, (long long)st.st_size);
    }
    char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        close(fd);
        return gl_err(err, "out of memory");
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

/* Names of the entries of a directory for which keep() is true, sorted.
 * A missing directory gives an empty list. Returns 0 or -1 (OOM). */
static int list_dir(const char *dir, bool (*keep)(const char *name, const void *u), const void *u,
                    char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !keep(e->d_name, u))
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
            cap = nc;
        }
        if (!(v[cnt] = strdup(e->d_name)))
            goto oom;
        cnt++;
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_str);
    *out = v;
    *n = cnt;
    return 0;
oom:
    closedir(d);
    free_strv(v, cnt);
    return -1;
}

static bool keep_any(const char *name, const void *u)
{
    (void)name;
    (void)u;
    return true;
}

/* ---------------------------------------------------------------- pairs */

void models_pair_free(struct gl_model_pair *p)
{
    if (!p)
        return;
    free(p->llm);
    free(p->mmproj);
    free(p->name);
    free(p->label);
    *p = (struct gl_model_pair){0};
}

void models_list_free(struct gl_model_pair *pairs, size_t n)
{
    for (size_t i = 0; pairs && i < n; i++)
        models_pair_free(&pairs[i]);
    free(pairs);
}

struct plist {
    struct gl_model_pair *v;
    size_t n, cap;
};

/* Move *p into the list (p is cleared either way). -1 on OOM. */
static int plist_take(struct plist *l, struct gl_model_pair *p)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        struct gl_model_pair *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            models_pair_free(p);
            return -1;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *p;
    *p = (struct gl_model_pair){0};
    return 0;
}

static int cmp_pair_name(const void *a, const void *b)
{
    return strcmp(((const struct gl_model_pair *)a)->name, ((const struct gl_model_pair *)b)->name);
}

/* Fill in name, store and label; -1 on OOM. */
static int pair_name(struct gl_model_pair *p, const char *name, const char *store)
{
    p->store = store;
    p->name = strdup(name);
    p->label = gl_strfmt("%s (%s)", name, store);
    return p->name && p->label ? 0 : -1;
}

/* ---------------------------------------------------------------- mmproj detection */

/* What the language model at `path` is: its architecture must not be clip;
 * its width is <arch>.embedding_length (0 when absent). */
static int llm_width(const char *path, uint32_t *width, char **err)
{
    gguf_file *f = gguf_open(path, err);
    if (!f)
        return -1;
    struct gguf_str arch;
    int rc = gguf_get_str(f, "general.architecture", &arch, err);
    *width = 0;
    if (rc == 0 && gguf_str_eq(arch, "clip")) {
        rc = gl_err(err, "%s is a vision projector (mmproj) file, not a language model: "
                         "give it with --mmproj", path);
    } else if (rc == 0 && arch.len > 0 && arch.len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.embedding_length", (int)arch.len, arch.ptr);
        rc = gguf_get_u32(f, key, width, err) < 0 ? -1 : 0;
    } else if (rc == 1) {
        rc = 0;                 /* no architecture: the loader will say so */
    }
    gguf_close(f);
    return rc < 0 ? -1 : 0;
}

/* The projector width of an mmproj file: 0 and *why when it does not load
 * as a CLIP projector. */
static int mmproj_width(const char *path, char **why)
{
    char *err = NULL;
    int w = 0;
    gguf_file *f = gguf_open(path, &err);
    clip_model *cm = f ? clip_load(f, &err) : NULL;
    if (cm)
        w = clip_n_out(cm);
    clip_free(cm);
    gguf_close(f);
    *why = err;
    return w;
}

struct mm_filter {
    const char *prefix;         /* names must start with this ("" = any) */
    const char *self;           /* the language model's own file name */
};

static bool keep_mmproj(const char *name, const void *u)
{
    const struct mm_filter *f = u;
    return strncmp(name, f->prefix, strlen(f->prefix)) == 0 && strcmp(name, f->self) != 0 &&
           contains_ci(name, "mmproj") && ends_with_ci(name, ".gguf");
}

/* The directory part of a path (malloc'd; "." when there is none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* mmproj auto-detection, optionally among names starting with `prefix`
 * (llama.cpp's cache keeps every repository in one directory). */
static int find_mmproj(const char *llm_path, const char *prefix, char **mmproj, char **note,
                       char **err)
{
    char *dir = NULL, **names = NULL;
    size_t n = 0;
    struct sbuf ign = {0};
    int n_ign = 0, rc = -1;
    uint32_t width;
    *mmproj = NULL;
    if (note)
        *note = NULL;

    if (llm_width(llm_path, &width, err) < 0)
        return -1;
    if (!(dir = dir_of(llm_path)))
        goto oom;
    const char *base = strrchr(llm_path, '/');
    struct mm_filter filt = {prefix ? prefix : "", base ? base + 1 : llm_path};
    if (list_dir(dir, keep_mmproj, &filt, &names, &n) < 0)
        goto oom;

    struct stat self;
    bool have_self = stat(llm_path, &self) == 0;
    char *picked = NULL;
    int picked_w = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = gl_strfmt("%s/%s", dir, names[i]);
        if (!path)
            goto oom;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            (have_self && st.st_dev == self.st_dev && st.st_ino == self.st_ino)) {
            free(path);
            continue;
        }
        if (picked) {
            /* one is enough; the rest are only named as ignored if they were tried */
            free(path);
            continue;
        }
        char *why = NULL;
        int w = mmproj_width(path, &why);
        if (w > 0 && width > 0 && (uint32_t)w == width) {
            picked = path;
            picked_w = w;
        } else {
            if (n_ign < NOTE_IGNORED_MAX) {
                if (w > 0)
                    sb_printf(&ign, "%s%s (width %d)", n_ign ? ", " : "", names[i], w);
                else
                    sb_printf(&ign, "%s%s (not a CLIP projector)", n_ign ? ", " : "", names[i]);
            } else if (n_ign == NOTE_IGNORED_MAX) {
                sb_printf(&ign, ", ...");
            }
            n_ign++;
            free(path);
        }
        free(why);
    }

    if (note && picked) {
        *note = n_ign ? gl_strfmt("using mmproj %s found next to the model (projector width %d; "
                                  "ignored %s)", picked, picked_w, ign.s ? ign.s : "")
                      : gl_strfmt("using mmproj %s found next to the model (projector width %d)",
                                  picked, picked_w);
        if (!*note)
            goto oom_picked;
    } else if (note && n_ign) {
        if (width > 0)
            *note = gl_strfmt("no mmproj next to %s fits its width %u (%s): text only; "
                              "give --mmproj FILE for images", llm_path, width, ign.s ? ign.s : "");
        else
            *note = gl_strfmt("%s does not say its width: no mmproj picked; give --mmproj FILE for "
                              "images", llm_path);
        if (!*note)
            goto oom;
    }
    if (ign.oom)
        goto oom_picked;
    *mmproj = picked;
    rc = 0;
    goto done;
oom_picked:
    free(picked);
    if (note) {
        free(*note);
        *note = NULL;
    }
oom:
    rc = gl_err(err, "out of memory");
done:
    free(ign.s);
    free_strv(names, n);
    free(dir);
    return rc;
}

int models_find_mmproj(const char *llm_path, char **mmproj, char **note, char **err)
{
    return find_mmproj(llm_path, NULL, mmproj, note, err);
}

/* ---------------------------------------------------------------- names */

/* [HOST/][NAMESPACE/]MODEL[:TAG], each part checked like ollama does. */
struct mname {
    char host[NAME_PART_MAX + 1], ns[NAME_PART_MAX + 1], model[NAME_PART_MAX + 1];
    char tag[NAME_PART_MAX + 1];
    int n_parts;                /* 1..3 parts before the tag */
    bool tagged;                /* a tag was written */
};

/* Letters, digits, '_', '-' and '.', not starting with '.' (which also keeps
 * "." and ".." out of paths); namespaces have no dots. */
static bool name_part_ok(const char *s, size_t n, bool dots)
{
    if (n == 0 || n > NAME_PART_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && dots);
        if (!ok)
            return false;
    }
    return true;
}

static bool parse_name(const char *s, struct mname *m)
{
    *m = (struct mname){0};
    const char *slash = strrchr(s, '/');
    const char *colon = strrchr(slash ? slash : s, ':');
    size_t body = colon ? (size_t)(colon - s) : strlen(s);
    if (colon) {
        if (!name_part_ok(colon + 1, strlen(colon + 1), true))
            return false;
        memcpy(m->tag, colon + 1, strlen(colon + 1));
        m->tagged = true;
    } else {
        strcpy(m->tag, DEFAULT_TAG);
    }
    const char *parts[3];
    size_t lens[3];
    int k = 0;
    for (size_t i = 0, start = 0; i <= body; i++) {
        if (i == body || s[i] == '/') {
            if (k == 3)
                return false;
            parts[k] = s + start;
            lens[k++] = i - start;
            start = i + 1;
        }
    }
    for (int i = 0; i < k; i++)
        if (!name_part_ok(parts[i], lens[i], !(k >= 2 && i == k - 2)))
            return false;
    char *dst[3] = {m->model, NULL, NULL};
    if (k == 2) {
        dst[0] = m->ns;
        dst[1] = m->model;
    } else if (k == 3) {
        dst[0] = m->host;
        dst[1] = m->ns;
        dst[2] = m->model;
    }
    for (int i = 0; i < k; i++)
        memcpy(dst[i], parts[i], lens[i]);
    m->n_parts = k;
    return true;
}

/* ---------------------------------------------------------------- ollama */

static bool digest_ok(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* The blob a layer names, checked against its declared size. */
static int ollama_blob(const char *root, const char *label, json_t *layer, char **path,
                       uint64_t *size, char **err)
{
    json_t *jd = json_object_get(layer, "digest"), *js = json_object_get(layer, "size");
    const char *d = json_is_string(jd) ? json_string_value(jd) : NULL;
    if (!d || !digest_ok(d))
        return gl_err(err, "%s: a layer's digest is not sha256:<64 hex digits>", label);
    if (!json_is_integer(js) || json_integer_value(js) < 0)
        return gl_err(err, "%s: a layer's size is missing or negative", label);
    /* blobs are named sha256-<hex>; ollama before 0.1.3x used sha256:<hex> */
    char *p = gl_strfmt("%s/blobs/sha256-%s", root, d + 7);
    if (!p)
        return gl_err(err, "out of memory");
    if (!is_regular(p)) {
        char *old = gl_strfmt("%s/blobs/%s", root, d);
        if (old && is_regular(old)) {
            free(p);
            p = old;
        } else {
            free(old);
        }
    }
    char *e = NULL;
    if (check_gguf(p, (uint64_t)json_integer_value(js), size, &e) < 0) {
        gl_err(err, "%s: blob %.19s...: %s", label, d, e ? e : "out of memory");
        free(e);
        free(p);
        return -1;
    }
    *path = p;
    return 0;
}

/* Read the manifest of one ollama name. Returns 1 when there is no such
 * manifest, 0 with *out filled, -1 when it exists but is unusable. */
static int ollama_pair(const char *root, const char *host, const char *ns, const char *model,
                       const char *tag, struct gl_model_pair *out, char **err)
{
    char *mpath = NULL, *buf = NULL, *name = NULL;
    size_t len;
    json_t *j = NULL;
    struct gl_model_pair p = {0};
    int rc = -1;

    if (strcmp(host, OLLAMA_HOST) != 0)
        name = gl_strfmt("%s/%s/%s:%s", host, ns, model, tag);
    else if (strcmp(ns, OLLAMA_NAMESPACE) != 0)
        name = gl_strfmt("%s/%s:%s", ns, model, tag);
    else
        name = gl_strfmt("%s:%s", model, tag);
    mpath = gl_strfmt("%s/manifests/%s/%s/%s/%s", root, host, ns, model, tag);
    if (!name || !mpath || pair_name(&p, name, "ollama") < 0) {
        gl_err(err, "out of memory");
        goto fail;
    }
    rc = read_small(mpath, MANIFEST_MAX, &buf, &len, err);
    if (rc != 0)
        goto fail;
    rc = -1;
    json_error_t je;
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        gl_err(err, "%s: the manifest %s is not valid JSON (line %d: %s)", p.label, mpath, je.line,
               je.text);
        goto fail;
    }
    json_t *sv = json_object_get(j, "schemaVersion"), *layers = json_object_get(j, "layers");
    if (!json_is_object(j) || !json_is_integer(sv) || json_integer_value(sv) != 2 ||
        !json_is_array(layers)) {
        gl_err(err, "%s: %s is not a registry manifest (schemaVersion 2 with layers)", p.label,
               mpath);
        goto fail;
    }
    size_t i;
    json_t *layer;
    int n_model = 0;
    json_array_foreach(layers, i, layer) {
        json_t *mt = json_object_get(layer, "mediaType");
        const char *t = json_is_string(mt) ? json_string_value(mt) : "";
        if (strcmp(t, MEDIA_MODEL) == 0) {
            if (n_model++) {
                gl_err(err, "%s: the manifest has several model layers", p.label);
                goto fail;
            }
            if (ollama_blob(root, p.label, layer, &p.llm, &p.llm_bytes, err) < 0)
                goto fail;
        } else if (strcmp(t, MEDIA_PROJECTOR) == 0 && !p.mmproj) {
            /* LLaVA has one projector; a second one would be for another tower */
            if (ollama_blob(root, p.label, layer, &p.mmproj, &p.mmproj_bytes, err) < 0)
                goto fail;
        }
    }
    if (!p.llm) {
        gl_err(err, "%s: the manifest has no model layer", p.label);
        goto fail;
    }
    *out = p;
    p = (struct gl_model_pair){0};
    rc = 0;
fail:
    json_decref(j);
    models_pair_free(&p);
    free(buf);
    free(mpath);
    free(name);
    return rc;
}

static bool keep_name_part(const char *name, const void *u)
{
    return name_part_ok(name, strlen(name), u != NULL);
}

/* Every manifest under manifests/HOST/NAMESPACE/MODEL/TAG that has a
 * projector. */
static int ollama_list(struct plist *out)
{
    char *root = ollama_dir(), *d1 = NULL, *d2 = NULL, *d3 = NULL;
    char **hosts = NULL, **nss = NULL, **models = NULL, **tags = NULL;
    size_t nh = 0, nn = 0, nm = 0, nt = 0;
    int rc = -1;
    static const int dots = 1;
    if (!root)
        return 0;
    if (!(d1 = gl_strfmt("%s/manifests", root)) || list_dir(d1, keep_name_part, &dots, &hosts, &nh) < 0)
        goto done;
    for (size_t h = 0; h < nh; h++) {
        free(d2);
        if (!(d2 = gl_strfmt("%s/%s", d1, hosts[h])))
            goto done;
        free_strv(nss, nn);
        if (list_dir(d2, keep_name_part, NULL, &nss, &nn) < 0)
            goto done;
        for (size_t s = 0; s < nn; s++) {
            free(d3);
            if (!(d3 = gl_strfmt("%s/%s", d2, nss[s])))
                goto done;
            free_strv(models, nm);
            if (list_dir(d3, keep_name_part, &dots, &models, &nm) < 0)
                goto done;
            for (size_t m = 0; m < nm; m++) {
                char *d4 = gl_strfmt("%s/%s", d3, models[m]);
                if (!d4)
                    goto done;
                free_strv(tags, nt);
                int r = list_dir(d4, keep_name_part, &dots, &tags, &nt);
                free(d4);
                if (r < 0)
                    goto done;
                for (size_t t = 0; t < nt; t++) {
                    struct gl_model_pair p = {0};
                    char *err = NULL;
                    r = ollama_pair(root, hosts[h], nss[s], models[m], tags[t], &p, &err);
                    bool oom = r < 0 && err && strcmp(err, "out of memory") == 0;
                    free(err);
                    if (oom)
                        goto done;
                    if (r == 0 && !p.mmproj)
                        models_pair_free(&p);       /* a text model: not a pair */
                    else if (r == 0 && plist_take(out, &p) < 0)
                        goto done;
                }
            }
        }
    }
    rc = 0;
done:
    free_strv(hosts, nh);
    free_strv(nss, nn);
    free_strv(models, nm);
    free_strv(tags, nt);
    free(d1);
    free(d2);
    free(d3);
    free(root);
    return rc;
}

/* ---------------------------------------------------------------- llama.cpp */

/* A repository file name from a llama.cpp manifest, as llama.cpp stores it
 * in the cache: OWNER_REPO_FILE with '/' in FILE turned into '_'. */
static char *llamacpp_file(const char *root, const char *owner, const char *repo, json_t *j,
                           const char *key)
{
    json_t *f = json_object_get(j, key);
    json_t *r = json_is_object(f) ? json_object_get(f, "rfilename") : NULL;
    if (!json_is_string(r))
        return NULL;
    const char *s = json_string_value(r);
    size_t n = json_string_length(r);
    if (n == 0 || n > 1024 || strlen(s) != n)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return NULL;
    char *p = gl_strfmt("%s/%s_%s_%s", root, owner, repo, s);
    if (!p)
        return NULL;
    for (char *q = p + strlen(root) + 1; *q; q++)
        if (*q == '/')
            *q = '_';
    return p;
}

/* 1 = no such manifest, 0 = *out filled, -1 = unusable (*err). *note may
 * get the mmproj detection's note when the manifest names no projector. */
static int llamacpp_pair(const char *root, const char *owner, const char *repo, const char *tag,
                         struct gl_model_pair *out, char **note, char **err)
{
    char *mpath = NULL, *buf = NULL, *name = NULL, *prefix = NULL;
    size_t len;
    json_t *j = NULL;
    struct gl_model_pair p = {0};
    int rc = -1;

    name = gl_strfmt("%s/%s:%s", owner, repo, tag);
    mpath = gl_strfmt("%s/manifest=%s=%s=%s.json", root, owner, repo, tag);
    prefix = gl_strfmt("%s_%s_", owner, repo);
    if (!name || !mpath || !prefix || pair_name(&p, name, "llama.cpp") < 0) {
        gl_err(err, "out of memory");
        goto fail;
    }
    rc = read_small(mpath, MANIFEST_MAX, &buf, &len, err);
    if (rc != 0)
        goto fail;
    rc = -1;
    json_error_t je;
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        gl_err(err, "%s: the manifest %s is not a JSON object", p.label, mpath);
        goto fail;
    }
    if (!(p.llm = llamacpp_file(root, owner, repo, j, "ggufFile"))) {
        gl_err(err, "%s: the manifest %s names no usable ggufFile", p.label, mpath);
        goto fail;
    }
    char *e = NULL;
    if (check_gguf(p.llm, UINT64_MAX, &p.llm_bytes, &e) < 0) {
        gl_err(err, "%s: %s", p.label, e ? e : "out of memory");
        free(e);
        goto fail;
    }
    if ((p.mmproj = llamacpp_file(root, owner, repo, j, "mmprojFile"))) {
        if (check_gguf(p.mmproj, UINT64_MAX, &p.mmproj_bytes, &e) < 0) {
            gl_err(err, "%s: %s", p.label, e ? e : "out of memory");
            free(e);
            goto fail;
        }
    } else {
        /* older manifests name no projector: look beside the model, in the repo's files */
        if (find_mmproj(p.llm, prefix, &p.mmproj, note, err) < 0)
            goto fail;
        struct stat st;
        if (p.mmproj && stat(p.mmproj, &st) == 0)
            p.mmproj_bytes = (uint64_t)st.st_size;
    }
    *out = p;
    p = (struct gl_model_pair){0};
    rc = 0;
fail:
    json_decref(j);
    models_pair_free(&p);
    free(buf);
    free(mpath);
    free(name);
    free(prefix);
    return rc;
}

static bool keep_llamacpp_manifest(const char *name, const void *u)
{
    (void)u;
    return strncmp(name, "manifest=", 9) == 0 && ends_with_ci(name, ".json");
}

static int llamacpp_list(struct plist *out)
{
    char *root = llamacpp_dir(), **names = NULL;
    size_t n = 0;
    int rc = -1;
    if (!root)
        return 0;
    if (list_dir(root, keep_llamacpp_manifest, NULL, &names, &n) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        /* manifest=OWNER=REPO=TAG.json */
        char *s = strndup(names[i] + 9, strlen(names[i]) - 9 - 5);
        if (!s)
            goto done;
        char *owner = s, *repo = strchr(owner, '='), *tag = repo ? strchr(repo + 1, '=') : NULL;
        if (tag && !strchr(tag + 1, '=')) {
            *repo++ = 0;
            *tag++ = 0;
            if (name_part_ok(owner, strlen(owner), true) && name_part_ok(repo, strlen(repo), true) &&
                name_part_ok(tag, strlen(tag), true)) {
                struct gl_model_pair p = {0};
                char *err = NULL;
                int r = llamacpp_pair(root, owner, repo, tag, &p, NULL, &err);
                free(err);
                if (r == 0 && p.mmproj) {
                    if (plist_take(out, &p) < 0) {
                        free(s);
                        goto done;
                    }
                } else {
                    models_pair_free(&p);
                }
            }
        }
        free(s);
    }
    rc = 0;
done:
    free_strv(names, n);
    free(root);
    return rc;
}

/* ---------------------------------------------------------------- glimpse's directory */

struct gentry {
    char *name, *path;
};

static bool keep_llm_gguf(const char *name, const void *u)
{
    (void)u;
    return ends_with_ci(name, ".gguf") && !contains_ci(name, "mmproj");
}

static char *stem(const char *file)
{
    return strndup(file, strlen(file) - 5);
}

/* The language models in glimpse's directory, named as models.h says. */
static int glimpse_entries(const char *root, struct gentry **out, size_t *n_out)
{
    char **top = NULL, **sub = NULL;
    size_t nt = 0, ns = 0, n = 0, cap = 0;
    struct gentry *v = NULL;
    int rc = -1;
    *out = NULL;
    *n_out = 0;
    if (list_dir(root, keep_any, NULL, &top, &nt) < 0)
        goto done;
    for (size_t i = 0; i < nt; i++) {
        char *path = gl_strfmt("%s/%s", root, top[i]);
        if (!path)
            goto done;
        struct stat st;
        bool ok = stat(path, &st) == 0;
        bool isdir = ok && S_ISDIR(st.st_mode);
        bool isllm = ok && S_ISREG(st.st_mode) && keep_llm_gguf(top[i], NULL);
        size_t k0 = n;
        if (isllm) {
            if (n + 1 > cap) {
                cap = cap ? cap * 2 : 8;
                struct gentry *nv = realloc(v, cap * sizeof *nv);
                if (!nv)
                    goto oom_path;
                v = nv;
            }
            v[n].path = path;
            path = NULL;
            if (!(v[n++].name = stem(top[i])))
                goto done;
        } else if (isdir) {
            free_strv(sub, ns);
            if (list_dir(path, keep_llm_gguf, NULL, &sub, &ns) < 0)
                goto oom_path;
            for (size_t j = 0; j < ns; j++) {
                char *fp = gl_strfmt("%s/%s", path, sub[j]);
                if (!fp)
                    goto oom_path;
                if (!is_regular(fp)) {
                    free(fp);
                    continue;
                }
                if (n + 1 > cap) {
                    cap = cap ? cap * 2 : 8;
                    struct gentry *nv = realloc(v, cap * sizeof *nv);
                    if (!nv) {
                        free(fp);
                        goto oom_path;
                    }
                    v = nv;
                }
                v[n].path = fp;
                v[n++].name = NULL;
            }
            /* one language model in a subdirectory takes the directory's name */
            for (size_t k = k0; k < n; k++) {
                const char *file = strrchr(v[k].path, '/') + 1;
                char *st_ = n - k0 == 1 ? NULL : stem(file);
                v[k].name = n - k0 == 1 ? strdup(top[i]) : gl_strfmt("%s/%s", top[i], st_ ? st_ : "");
                free(st_);
                if (!v[k].name)
                    goto oom_path;
            }
        }
        free(path);
        continue;
oom_path:
        free(path);
        goto done;
    }
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
    rc = 0;
done:
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].path);
    }
    free(v);
    free_strv(top, nt);
    free_strv(sub, ns);
    return rc;
}

static void gentries_free(struct gentry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].path);
    }
    free(v);
}

/* A pair from one entry: the language model checked, the mmproj detected. */
static int glimpse_pair(const struct gentry *e, struct gl_model_pair *out, char **note, char **err)
{
    struct gl_model_pair p = {0};
    char *e2 = NULL;
    if (pair_name(&p, e->name, "glimpse") < 0 || !(p.llm = strdup(e->path))) {
        models_pair_free(&p);
        return gl_err(err, "out of memory");
    }
    if (check_gguf(p.llm, UINT64_MAX, &p.llm_bytes, &e2) < 0 ||
        find_mmproj(p.llm, NULL, &p.mmproj, note, &e2) < 0) {
        gl_err(err, "%s: %s", p.label, e2 ? e2 : "out of memory");
        free(e2);
        models_pair_free(&p);
        return -1;
    }
    struct stat st;
    if (p.mmproj && stat(p.mmproj, &st) == 0)
        p.mmproj_bytes = (uint64_t)st.st_size;
    *out = p;
    return 0;
}

static int glimpse_list(struct plist *out)
{
    char *root = glimpse_dir();
    struct gentry *v = NULL;
    size_t n = 0;
    int rc = -1;
    if (!root)
        return 0;
    if (glimpse_entries(root, &v, &n) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        struct gl_model_pair p = {0};
        char *err = NULL;
        int r = glimpse_pair(&v[i], &p, NULL, &err);
        free(err);
        if (r == 0 && p.mmproj) {
            if (plist_take(out, &p) < 0)
                goto done;
        } else {
            models_pair_free(&p);
        }
    }
    rc = 0;
done:
    gentries_free(v, n);
    free(root);
    return rc;
}

/* ---------------------------------------------------------------- listing */

int models_list(struct gl_model_pair **out, size_t *n, char **err)
{
    struct plist l = {0};
    *out = NULL;
    *n = 0;
    size_t k0 = 0;
    int (*const stores[])(struct plist *) = {ollama_list, llamacpp_list, glimpse_list};
    for (size_t s = 0; s < sizeof stores / sizeof *stores; s++) {
        if (stores[s](&l) < 0) {
            models_list_free(l.v, l.n);
            return gl_err(err, "out of memory");
        }
        if (l.n > k0)
            qsort(l.v + k0, l.n - k0, sizeof *l.v, cmp_pair_name);
        k0 = l.n;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

char *models_format(const struct gl_model_pair *pairs, size_t n)
{
    struct sbuf b = {0};
    int w = 4;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(pairs[i].name);
        if (len > w)
            w = len < 60 ? len : 60;
    }
    if (n)
        sb_printf(&b, "%-*s  %-9s  %9s  %9s\n", w, "NAME", "FROM", "MODEL", "MMPROJ");
    for (size_t i = 0; i < n; i++) {
        char a[32], m[32];
        models_human_size(pairs[i].llm_bytes, a, sizeof a);
        if (pairs[i].mmproj)
            models_human_size(pairs[i].mmproj_bytes, m, sizeof m);
        else
            snprintf(m, sizeof m, "-");
        sb_printf(&b, "%-*s  %-9s  %9s  %9s\n", w, pairs[i].name, pairs[i].store, a, m);
    }
    return sb_take(&b);
}

/* ---------------------------------------------------------------- resolving */

/* A path rather than a name: what a user would not type as a model name. */
static bool looks_like_path(const char *s)
{
    return s[0] == '/' || s[0] == '.' || s[0] == '~' || ends_with_ci(s, ".gguf");
}

static int copy_pair(struct gl_model_pair *dst, const struct gl_model_pair *src)
{
    *dst = *src;
    dst->llm = xstrdup(src->llm);
    dst->mmproj = xstrdup(src->mmproj);
    dst->name = xstrdup(src->name);
    dst->label = xstrdup(src->label);
    if (!dst->llm || !dst->name || !dst->label || (src->mmproj && !dst->mmproj)) {
        models_pair_free(dst);
        return -1;
    }
    return 0;
}

/* --mmproj given: it replaces whatever was found. */
static int override_mmproj(struct gl_model_pair *p, const char *mmproj_arg, char **err)
{
    char *m = strdup(mmproj_arg);
    if (!m)
        return gl_err(err, "out of memory");
    free(p->mmproj);
    p->mmproj = m;
    struct stat st;
    p->mmproj_bytes = stat(m, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

static int resolve_none(const char *mmproj_arg, struct gl_model_pair *out, char **note, char **err)
{
    struct gl_model_pair *v;
    size_t n;
    if (models_list(&v, &n, err) < 0)
        return -1;
    int rc = -1;
    if (n == 0) {
        char *where = models_search_path();
        gl_err(err, "no model given (-m FILE or NAME) and none found (%s); glimpse --demo tries a tiny random one",
               where ? where : "out of memory");
        free(where);
    } else if (n == 1) {
        if (copy_pair(out, &v[0]) < 0)
            gl_err(err, "out of memory");
        else if (mmproj_arg && override_mmproj(out, mmproj_arg, err) < 0)
            models_pair_free(out);
        else {
            rc = 0;
            if (note)
                *note = gl_strfmt("using %s, the only model found", out->label);
        }
    } else {
        char *table = models_format(v, n);
        gl_err(err, "no model given and %zu found: choose one with -m NAME\n%s", n,
               table ? table : "");
        free(table);
        rc = -2;
    }
    models_list_free(v, n);
    return rc;
}

static int resolve_file(const char *path, const struct stat *st, const char *mmproj_arg,
                        struct gl_model_pair *out, char **note, char **err)
{
    struct gl_model_pair p = {0};
    p.store = "file";
    p.llm_bytes = (uint64_t)st->st_size;
    if (!(p.llm = strdup(path)) || !(p.name = strdup(path)) || !(p.label = strdup(path)))
        goto oom;
    if (mmproj_arg) {
        if (override_mmproj(&p, mmproj_arg, err) < 0)
            goto fail;
    } else {
        if (find_mmproj(path, NULL, &p.mmproj, note, err) < 0)
            goto fail;
        struct stat ms;
        if (p.mmproj && stat(p.mmproj, &ms) == 0)
            p.mmproj_bytes = (uint64_t)ms.st_size;
    }
    *out = p;
    return 0;
oom:
    gl_err(err, "out of memory");
fail:
    models_pair_free(&p);
    return -1;
}

static int resolve_glimpse(const char *name, struct gl_model_pair *out, char **note, char **err)
{
    char *root = glimpse_dir();
    struct gentry *v = NULL;
    size_t n = 0;
    int rc = 1;
    if (!root)
        return 1;
    if (glimpse_entries(root, &v, &n) < 0)
        rc = gl_err(err, "out of memory");
    for (size_t i = 0; rc == 1 && i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            rc = glimpse_pair(&v[i], out, note, err);
    gentries_free(v, n);
    free(root);
    return rc;
}

int models_resolve(const char *m_arg, const char *mmproj_arg, struct gl_model_pair *out,
                   char **note, char **err)
{
    *out = (struct gl_model_pair){0};
    if (note)
        *note = NULL;
    if (!m_arg)
        return resolve_none(mmproj_arg, out, note, err);
    if (!*m_arg)
        return gl_err(err, "-m needs a model file or name, not an empty string");

    struct stat st;
    if (stat(m_arg, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return gl_err(err, "%s is a directory, not a model file", m_arg);
        return resolve_file(m_arg, &st, mmproj_arg, out, note, err);
    }
    if ((errno != ENOENT && errno != ENOTDIR) || looks_like_path(m_arg))
        return gl_err(err, "cannot open %s: %s", m_arg, strerror(errno));

    struct mname nm;
    int rc = 1;
    if (parse_name(m_arg, &nm)) {
        char *root = ollama_dir();
        if (root)
            rc = ollama_pair(root, nm.n_parts == 3 ? nm.host : OLLAMA_HOST,
                             nm.n_parts >= 2 ? nm.ns : OLLAMA_NAMESPACE, nm.model, nm.tag, out, err);
        free(root);
        if (rc == 0 && !out->mmproj && !mmproj_arg && note)
            *note = gl_strfmt("%s has no vision projector: text only", out->label);
        if (rc == 1 && nm.n_parts == 2) {
            root = llamacpp_dir();
            if (root)
                rc = llamacpp_pair(root, nm.ns, nm.model, nm.tag, out, note, err);
            free(root);
        }
    }
    if (rc == 1)
        rc = resolve_glimpse(m_arg, out, note, err);
    if (rc == 1) {
        char *where = models_search_path();
        gl_err(err, "no model file or model named '%s' (looked in %s); see glimpse --list-models",
               m_arg, where ? where : "the model stores");
        free(where);
        return -1;
    }
    if (rc < 0)
        return -1;
    if (mmproj_arg && override_mmproj(out, mmproj_arg, err) < 0) {
        models_pair_free(out);
        if (note) {
            free(*note);
            *note = NULL;
        }
        return -1;
    }
    return 0;
}
