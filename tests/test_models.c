/*
 * test_models.c - finding models (src/models.c) and the config file
 * (src/config_file.c).
 *
 * Builds, in a temporary HOME, the places users keep models: an ollama store
 * (manifests in ollama's real registry format, blobs named sha256-<hex> that
 * are symlinks to the tiny reference models, plus config/template/params
 * blobs as real small files), a llama.cpp download cache (manifest=...json
 * and OWNER_REPO_FILE names) and glimpse's own XDG data directory. Checks
 * NAME and NAME:TAG look-ups in each, missing names, damaged manifests
 * (missing blob, wrong size, bad digest, not JSON), listing, the choice with
 * no -m (one pair, several, none), mmproj auto-detection by projector width
 * (a narrower generated mmproj and a junk file beside the right one), and
 * the config file's syntax and its errors (FILE:LINE, one line).
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config_file.h"
#include "gguf_writer.h"
#include "glimpse/gguf.h"
#include "glimpse/quant.h"
#include "glimpse/sha256.h"
#include "models.h"
#include "tap.h"
#include "util.h"

static char *g_tmp;             /* this test's scratch directory */

/* ---------------------------------------------------------------- helpers */

static char *S(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *S(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    va_end(ap);
    return s;
}

static void mkdirs(const char *path)
{
    char *p = strdup(path);
    for (char *q = p + 1; *q; q++) {
        if (*q == '/') {
            *q = 0;
            mkdir(p, 0777);
            *q = '/';
        }
    }
    mkdir(p, 0777);
    free(p);
}

static void put_file(const char *path, const char *text)
{
    char *dir = strdup(path);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    free(dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
}

static void link_to(const char *target, const char *link)
{
    char *dir = strdup(link);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    free(dir);
    unlink(link);
    if (symlink(target, link) != 0) {
        fprintf(stderr, "symlink %s: %s\n", link, strerror(errno));
        abort();
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static bool has(const char *s, const char *sub)
{
    return s && strstr(s, sub) != NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, k = strlen(suffix);
    return s && n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The sha256 of a reference file (as ollama names its blobs). */
static char *ref_hex(const char *rel)
{
    char *path = tap_refpath(rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    struct gl_sha256 h;
    uint8_t buf[1 << 16], d[32];
    size_t n;
    gl_sha256_init(&h);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        gl_sha256_update(&h, buf, n);
    fclose(f);
    free(path);
    gl_sha256_final(&h, d);
    char *hex = malloc(65);
    gl_sha256_hex(d, hex);
    return hex;
}

/* An environment of its own for each scenario. */
static void set_env(const char *home)
{
    setenv("HOME", home, 1);
    unsetenv("OLLAMA_MODELS");
    unsetenv("LLAMA_CACHE");
    unsetenv("XDG_DATA_HOME");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_CACHE_HOME");
}

/* ---------------------------------------------------------------- an ollama store */

struct layer {
    const char *media;
    char digest[72];
    uint64_t size;
};

/* A blob that is a symlink to a reference model, named by its real digest. */
static struct layer blob_ref(const char *store, const char *media, const char *rel)
{
    struct layer l = {media, "", 0};
    char *ref = tap_refpath(rel);
    char *hex = ref_hex(rel);
    char *blob = S("%s/blobs/sha256-%s", store, hex);
    link_to(ref, blob);
    snprintf(l.digest, sizeof l.digest, "sha256:%s", hex);
    l.size = file_size(ref);
    free(ref);
    free(hex);
    free(blob);
    return l;
}

/* A blob with this text as its content. */
static struct layer blob_text(const char *store, const char *media, const char *text)
{
    struct layer l = {media, "", strlen(text)};
    uint8_t d[32];
    char hex[65];
    gl_sha256(text, strlen(text), d);
    gl_sha256_hex(d, hex);
    char *blob = S("%s/blobs/sha256-%s", store, hex);
    put_file(blob, text);
    snprintf(l.digest, sizeof l.digest, "sha256:%s", hex);
    free(blob);
    return l;
}

static json_t *layer_json(const struct layer *l)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", l->media, "digest", l->digest, "size",
                     (json_int_t)l->size);
}

/* manifests/HOST/NS/MODEL/TAG as ollama writes it. */
static void write_manifest(const char *store, const char *host, const char *ns, const char *model,
                           const char *tag, const struct layer *layers, int n)
{
    struct layer cfg = blob_text(store, "application/vnd.docker.container.image.v1+json",
                                 "{\"model_format\":\"gguf\",\"model_family\":\"llama\","
                                 "\"model_families\":[\"llama\",\"clip\"],\"model_type\":\"7B\","
                                 "\"file_type\":\"Q4_K_M\",\"architecture\":\"amd64\",\"os\":\"linux\","
                                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
    json_t *ls = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(ls, layer_json(&layers[i]));
    json_t *m = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
                          "application/vnd.docker.distribution.manifest.v2+json", "config",
                          layer_json(&cfg), "layers", ls);
    char *text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *path = S("%s/manifests/%s/%s/%s/%s", store, host, ns, model, tag);
    put_file(path, text);
    free(path);
    free(text);
    json_decref(m);
}

#define MODEL "application/vnd.ollama.image.model"
#define PROJ "application/vnd.ollama.image.projector"
#define LLM_Q4KM "models/tiny-llava-llm-q4_K_M.gguf"
#define LLM_Q8 "models/tiny-llava-llm-q8_0.gguf"
#define LLM_Q4_0 "models/tiny-llava-llm-q4_0.gguf"
#define LLM_F16 "models/tiny-llava-llm-f16.gguf"
#define MMPROJ "models/tiny-llava-mmproj-f16.gguf"
#define STORIES "stories260K/stories260K.gguf"
#define HOST "registry.ollama.ai"

static void build_ollama(const char *store)
{
    struct layer tmpl = blob_text(store, "application/vnd.ollama.image.template",
                                  "{{ .System }}\nUSER: {{ .Prompt }}\nASSISTANT: ");
    struct layer params = blob_text(store, "application/vnd.ollama.image.params",
                                    "{\"stop\":[\"</s>\",\"USER:\"]}");
    struct layer llm = blob_ref(store, MODEL, LLM_Q4KM), q8 = blob_ref(store, MODEL, LLM_Q8);
    struct layer proj = blob_ref(store, PROJ, MMPROJ), text = blob_ref(store, MODEL, STORIES);

    write_manifest(store, HOST, "library", "tinyllava", "latest",
                   (struct layer[]){llm, proj, tmpl, params}, 4);
    /* the projector may come first: order does not matter */
    write_manifest(store, HOST, "library", "tinyllava", "q8", (struct layer[]){proj, q8, params}, 3);
    write_manifest(store, HOST, "someone", "tinyllava", "latest", (struct layer[]){llm, proj}, 2);
    write_manifest(store, HOST, "library", "textonly", "latest", (struct layer[]){text, tmpl}, 2);

    /* damaged entries: each must be refused by name and left out of the list */
    struct layer gone = proj;
    memcpy(gone.digest + 7, "0000", 4);
    write_manifest(store, HOST, "library", "missingblob", "latest", (struct layer[]){llm, gone}, 2);
    struct layer wrong = llm;
    wrong.size += 1;
    write_manifest(store, HOST, "library", "badsize", "latest", (struct layer[]){wrong, proj}, 2);
    struct layer evil = llm;
    snprintf(evil.digest, sizeof evil.digest, "sha256:../../../../etc/passwd");
    write_manifest(store, HOST, "library", "baddigest", "latest", (struct layer[]){evil, proj}, 2);
    char *p = S("%s/manifests/%s/library/garbage/latest", store, HOST);
    put_file(p, "{\"schemaVersion\": 2, \"layers\": [");
    free(p);
    write_manifest(store, HOST, "library", "nomodel", "latest", (struct layer[]){proj, tmpl}, 2);
}

/* ---------------------------------------------------------------- a llama.cpp cache */

static void build_llamacpp(const char *cache)
{
    char *p;
    p = S("%s/manifest=tiny-org=tiny-llava-GGUF=Q4_K_M.json", cache);
    put_file(p, "{\"ggufFile\":{\"rfilename\":\"tiny-llava-llm-q4_K_M.gguf\",\"blobId\":\"sha256:f4d8\","
                "\"size\":13084352},\"mmprojFile\":{\"rfilename\":\"mmproj/tiny-llava-mmproj-f16.gguf\","
                "\"blobId\":\"sha256:f0ab\",\"size\":624640}}");
    free(p);
    /* an older manifest without mmprojFile: the projector is found beside the model */
    p = S("%s/manifest=tiny-org=tiny-llava-GGUF=latest.json", cache);
    put_file(p, "{\"ggufFile\":{\"rfilename\":\"tiny-llava-llm-q4_0.gguf\"}}");
    free(p);
    p = S("%s/manifest=tiny-org=broken-GGUF=latest.json", cache);
    put_file(p, "{\"ggufFile\":{\"rfilename\":\"not-downloaded.gguf\"}}");
    free(p);

    char *ref = tap_refpath(LLM_Q4KM);
    p = S("%s/tiny-org_tiny-llava-GGUF_tiny-llava-llm-q4_K_M.gguf", cache);
    link_to(ref, p);
    free(p);
    free(ref);
    ref = tap_refpath(LLM_Q4_0);
    p = S("%s/tiny-org_tiny-llava-GGUF_tiny-llava-llm-q4_0.gguf", cache);
    link_to(ref, p);
    free(p);
    free(ref);
    ref = tap_refpath(MMPROJ);
    p = S("%s/tiny-org_tiny-llava-GGUF_mmproj_tiny-llava-mmproj-f16.gguf", cache);
    link_to(ref, p);
    free(p);
    free(ref);
}

/* ---------------------------------------------------------------- glimpse's directory */

static void build_glimpse(const char *dir)
{
    char *ref = tap_refpath(LLM_F16), *p = S("%s/mine/tiny-llava-llm-f16.gguf", dir);
    link_to(ref, p);
    free(p);
    free(ref);
    ref = tap_refpath(MMPROJ);
    p = S("%s/mine/mmproj-tiny.gguf", dir);
    link_to(ref, p);
    free(p);
    free(ref);
    /* a text-only model: found by name, not listed as a pair */
    ref = tap_refpath(STORIES);
    p = S("%s/stories.gguf", dir);
    link_to(ref, p);
    free(p);
    free(ref);
}

/* ---------------------------------------------------------------- a narrower mmproj */

static gw_val *copy_val(const struct gguf_value *v)
{
    switch (v->type) {
    case GGUF_VT_U8: return gw_u8((uint8_t)v->v.u64);
    case GGUF_VT_U16: return gw_u16((uint16_t)v->v.u64);
    case GGUF_VT_U32: return gw_u32((uint32_t)v->v.u64);
    case GGUF_VT_U64: return gw_u64(v->v.u64);
    case GGUF_VT_I8: return gw_i8((int8_t)v->v.i64);
    case GGUF_VT_I16: return gw_i16((int16_t)v->v.i64);
    case GGUF_VT_I32: return gw_i32((int32_t)v->v.i64);
    case GGUF_VT_I64: return gw_i64(v->v.i64);
    case GGUF_VT_F32: return gw_f32((float)v->v.f64);
    case GGUF_VT_F64: return gw_f64(v->v.f64);
    case GGUF_VT_BOOL: return gw_bool(v->v.b);
    case GGUF_VT_STR: return gw_strn(v->v.str.ptr, v->v.str.len);
    case GGUF_VT_ARR:
        if (v->v.arr.type == GGUF_VT_F32) {
            /* the mean / std arrays: copied out of the (unaligned) mapping */
            float tmp[16];
            if (v->v.arr.n > 16)
                return NULL;
            memcpy(tmp, v->v.arr.data, v->v.arr.n * sizeof *tmp);
            return gw_arr(GGUF_VT_F32, tmp, v->v.arr.n);
        }
        return NULL;
    default:
        return NULL;
    }
}

/* The tiny mmproj with its projector narrowed from 256 to `width` (zero
 * weights): loads as a CLIP projector, but for a different language model. */
static bool write_narrow_mmproj(const char *path, int width)
{
    char *ref = tap_refpath(MMPROJ), *err = NULL;
    gguf_file *f = gguf_open(ref, &err);
    free(ref);
    if (!f) {
        tap_diag("%s", err);
        free(err);
        return false;
    }
    gw *w = gw_new();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const struct gguf_kv *kv = gguf_kv_at(f, i);
        gw_val *v = copy_val(&kv->val);
        if (!v) {
            tap_diag("cannot copy key %.*s", (int)kv->key.len, kv->key.ptr);
            continue;
        }
        gw_kvn(w, kv->key.ptr, kv->key.len, v);
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        int64_t ne[GGUF_MAX_DIMS];
        memcpy(ne, t->ne, sizeof ne);
        const void *data = t->data;
        if (strcmp(t->name, "mm.0.weight") == 0 || strcmp(t->name, "mm.0.bias") == 0 ||
            strcmp(t->name, "mm.2.bias") == 0) {
            ne[t->n_dims - 1] = width;
            data = NULL;
        } else if (strcmp(t->name, "mm.2.weight") == 0) {
            ne[0] = ne[1] = width;
            data = NULL;
        }
        gw_tensor(w, t->name, t->type, t->n_dims, ne, data);
    }
    int rc = gw_write_file(w, path, &err);
    if (rc < 0) {
        tap_diag("%s", err);
        free(err);
    }
    gw_free(w);
    gguf_close(f);
    return rc == 0;
}

/* ---------------------------------------------------------------- tests */

static void test_ollama(const char *home)
{
    struct gl_model_pair p;
    char *note = NULL, *err = NULL;
    char *store = S("%s/.ollama/models", home);
    char *llm_hex = ref_hex(LLM_Q4KM), *proj_hex = ref_hex(MMPROJ);
    char *llm_blob = S("/blobs/sha256-%s", llm_hex), *proj_blob = S("/blobs/sha256-%s", proj_hex);
    char *ref_llm = tap_refpath(LLM_Q4KM), *ref_proj = tap_refpath(MMPROJ);

    int rc = models_resolve("tinyllava", NULL, &p, &note, &err);
    is_int(rc, 0, "ollama: NAME resolves (%s)", err ? err : "");
    ok(ends_with(p.llm, llm_blob) && has(p.llm, store), "NAME: the model layer's blob (%s)", p.llm);
    ok(ends_with(p.mmproj, proj_blob), "NAME: the projector layer's blob (%s)", p.mmproj);
    is_str(p.name, "tinyllava:latest", "NAME: tag latest when omitted");
    is_str(p.label, "tinyllava:latest (ollama)", "NAME: label");
    is_str(p.store, "ollama", "NAME: store");
    is_int(p.llm_bytes, file_size(ref_llm), "NAME: model size");
    is_int(p.mmproj_bytes, file_size(ref_proj), "NAME: mmproj size");
    ok(note == NULL, "NAME: nothing to note");
    models_pair_free(&p);
    free(note);
    note = NULL;
    free(err);
    err = NULL;

    rc = models_resolve("tinyllava:q8", NULL, &p, &note, &err);
    char *q8_hex = ref_hex(LLM_Q8), *q8_blob = S("/blobs/sha256-%s", q8_hex);
    ok(rc == 0 && ends_with(p.llm, q8_blob) && ends_with(p.mmproj, proj_blob),
       "ollama: NAME:TAG picks that tag's manifest (projector listed first)");
    is_str(p.name, "tinyllava:q8", "NAME:TAG: name");
    models_pair_free(&p);
    free(q8_hex);
    free(q8_blob);

    rc = models_resolve("registry.ollama.ai/library/tinyllava:latest", NULL, &p, &note, &err);
    ok(rc == 0 && ends_with(p.llm, llm_blob), "ollama: a fully qualified name");
    models_pair_free(&p);
    rc = models_resolve("someone/tinyllava", NULL, &p, &note, &err);
    ok(rc == 0 && ends_with(p.llm, llm_blob), "ollama: NAMESPACE/NAME");
    is_str(p.name, "someone/tinyllava:latest", "NAMESPACE/NAME: name keeps the namespace");
    models_pair_free(&p);

    /* --mmproj overrides the store's projector */
    rc = models_resolve("tinyllava", "/some/other-mmproj.gguf", &p, &note, &err);
    ok(rc == 0 && ends_with(p.llm, llm_blob), "ollama + --mmproj: the model from the store");
    is_str(p.mmproj, "/some/other-mmproj.gguf", "ollama + --mmproj: the given projector wins");
    models_pair_free(&p);

    /* a text-only model: usable by name, without a projector, and said so */
    rc = models_resolve("textonly", NULL, &p, &note, &err);
    ok(rc == 0 && p.llm && !p.mmproj, "ollama: a model without a projector resolves, text only");
    ok(has(note, "textonly:latest") && has(note, "projector"), "  and the note says so (%s)",
       note ? note : "(null)");
    models_pair_free(&p);
    free(note);
    note = NULL;

    /* missing and damaged */
    static const struct { const char *name, *expect; } bad[] = {
        {"tinyllava:nope", "tinyllava:nope"},
        {"nosuchmodel", "nosuchmodel"},
        {"missingblob", "missingblob:latest"},
        {"badsize", "manifest says"},
        {"baddigest", "sha256:<64 hex"},
        {"garbage", "not valid JSON"},
        {"nomodel", "no model layer"},
        {"a/../../etc", "a/../../etc"},
        {"x:y:z", "x:y:z"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = models_resolve(bad[i].name, NULL, &p, &note, &err);
        ok(rc == -1 && has(err, bad[i].expect) && !strchr(err, '\n') && !p.llm,
           "'%s' is refused in one line naming it (%s)", bad[i].name, err ? err : "(null)");
        free(err);
        err = NULL;
    }
    rc = models_resolve("missingblob", NULL, &p, &note, &err);
    ok(rc == -1 && has(err, "No such file"), "a manifest pointing to a missing blob says the blob is missing");
    free(err);
    err = NULL;
    rc = models_resolve("nosuchmodel", NULL, &p, &note, &err);
    ok(has(err, store) && has(err, "--list-models"), "a missing name lists where it looked");
    free(err);
    err = NULL;

    free(store);
    free(llm_hex);
    free(proj_hex);
    free(llm_blob);
    free(proj_blob);
    free(ref_llm);
    free(ref_proj);
}

static void test_llamacpp(const char *home)
{
    struct gl_model_pair p;
    char *note = NULL, *err = NULL;
    char *cache = S("%s/.cache/llama.cpp", home);

    int rc = models_resolve("tiny-org/tiny-llava-GGUF:Q4_K_M", NULL, &p, &note, &err);
    is_int(rc, 0, "llama.cpp: OWNER/REPO:TAG resolves (%s)", err ? err : "");
    char *want = S("%s/tiny-org_tiny-llava-GGUF_tiny-llava-llm-q4_K_M.gguf", cache);
    is_str(p.llm, want, "llama.cpp: ggufFile in the cache's naming");
    free(want);
    want = S("%s/tiny-org_tiny-llava-GGUF_mmproj_tiny-llava-mmproj-f16.gguf", cache);
    is_str(p.mmproj, want, "llama.cpp: mmprojFile, '/' turned into '_'");
    is_str(p.label, "tiny-org/tiny-llava-GGUF:Q4_K_M (llama.cpp)", "llama.cpp: label");
    models_pair_free(&p);

    rc = models_resolve("tiny-org/tiny-llava-GGUF", NULL, &p, &note, &err);
    ok(rc == 0 && ends_with(p.llm, "_tiny-llava-llm-q4_0.gguf"), "llama.cpp: tag latest when omitted");
    is_str(p.mmproj, want, "llama.cpp: no mmprojFile: the repo's mmproj beside the model");
    ok(has(note, "tiny-llava-mmproj-f16.gguf") && has(note, "width 256"), "  and the note says which (%s)",
       note ? note : "(null)");
    models_pair_free(&p);
    free(note);
    note = NULL;
    free(want);

    rc = models_resolve("tiny-org/broken-GGUF", NULL, &p, &note, &err);
    ok(rc == -1 && has(err, "not-downloaded.gguf"), "llama.cpp: a manifest whose file is missing (%s)",
       err ? err : "");
    free(err);
    err = NULL;
    free(cache);
}

static void test_glimpse_dir(const char *home)
{
    struct gl_model_pair p;
    char *note = NULL, *err = NULL;
    int rc = models_resolve("mine", NULL, &p, &note, &err);
    ok(rc == 0 && ends_with(p.llm, "/.local/share/glimpse/models/mine/tiny-llava-llm-f16.gguf"),
       "glimpse dir: a subdirectory's name (%s)", err ? err : "");
    ok(ends_with(p.mmproj, "/mine/mmproj-tiny.gguf"), "glimpse dir: its mmproj detected");
    is_str(p.label, "mine (glimpse)", "glimpse dir: label");
    models_pair_free(&p);
    free(note);
    note = NULL;
    rc = models_resolve("stories", NULL, &p, &note, &err);
    ok(rc == 0 && ends_with(p.llm, "/models/stories.gguf") && !p.mmproj,
       "glimpse dir: a top-level file by its stem, no projector");
    models_pair_free(&p);
    free(note);
    (void)home;
}

static void test_list(const char *home)
{
    struct gl_model_pair *v = NULL, p;
    size_t n = 0;
    char *err = NULL, *note = NULL;
    int rc = models_list(&v, &n, &err);
    is_int(rc, 0, "list: ok");
    static const char *const want[] = {
        "someone/tinyllava:latest", "tinyllava:latest", "tinyllava:q8",     /* ollama, by name */
        "tiny-org/tiny-llava-GGUF:Q4_K_M", "tiny-org/tiny-llava-GGUF:latest", /* llama.cpp */
        "mine",                                                             /* glimpse */
    };
    is_int(n, sizeof want / sizeof *want, "list: every usable pair, nothing damaged or text-only");
    for (size_t i = 0; i < n && i < sizeof want / sizeof *want; i++) {
        is_str(v[i].name, want[i], "list[%zu]", i);
        ok(v[i].llm && v[i].mmproj && v[i].llm_bytes > 1000000 && v[i].mmproj_bytes == 624640,
           "list[%zu]: both files with sizes", i);
    }
    char *table = models_format(v, n);
    int lines = 0;
    for (const char *c = table; c && *c; c++)
        lines += *c == '\n';
    is_int(lines, n + 1, "format: a header and a line per pair");
    ok(has(table, "tinyllava:q8") && has(table, "ollama") && has(table, "625 kB") && has(table, "20 MB"),
       "format: names, stores and sizes");
    tap_diag("--list-models would print:");
    for (char *line = table ? strtok(table, "\n") : NULL; line; line = strtok(NULL, "\n"))
        tap_diag("  %s", line);
    free(table);
    models_list_free(v, n);

    /* no -m and several pairs: -2, the candidates in the message */
    rc = models_resolve(NULL, NULL, &p, &note, &err);
    is_int(rc, -2, "no -m with several pairs: ambiguous");
    ok(has(err, "-m") && has(err, "tinyllava:q8") && has(err, "mine") && has(err, "\n"),
       "  the message lists the candidates");
    free(err);
    err = NULL;
    (void)home;
}

/* A store with exactly one pair (through OLLAMA_MODELS), then none at all. */
static void test_single_and_none(const char *home)
{
    struct gl_model_pair p;
    char *note = NULL, *err = NULL;
    char *store = S("%s/other-ollama", home), *empty = S("%s/empty", home);
    mkdirs(empty);
    struct layer llm = blob_ref(store, MODEL, LLM_Q4_0), proj = blob_ref(store, PROJ, MMPROJ);
    write_manifest(store, HOST, "library", "onlyone", "7b", (struct layer[]){llm, proj}, 2);
    setenv("OLLAMA_MODELS", store, 1);
    setenv("LLAMA_CACHE", empty, 1);
    setenv("XDG_DATA_HOME", empty, 1);

    int rc = models_resolve(NULL, NULL, &p, &note, &err);
    is_int(rc, 0, "no -m, one pair found: used (%s)", err ? err : "");
    is_str(p.name, "onlyone:7b", "  it is the one in $OLLAMA_MODELS");
    ok(has(note, "onlyone:7b") && has(note, "only"), "  and the note says so (%s)", note ? note : "");
    models_pair_free(&p);
    free(note);
    note = NULL;

    setenv("OLLAMA_MODELS", empty, 1);
    rc = models_resolve(NULL, NULL, &p, &note, &err);
    ok(rc == -1 && has(err, "none found") && has(err, empty) && !strchr(err, '\n'),
       "no -m and nothing found: one line naming the places (%s)", err ? err : "");
    free(err);
    err = NULL;

    /* XDG_DATA_HOME must be absolute to count (the XDG rule) */
    setenv("XDG_DATA_HOME", "relative/dir", 1);
    char *where = models_search_path();
    char *dflt = S("glimpse: %s/.local/share/glimpse/models", home);
    ok(has(where, dflt), "a relative XDG_DATA_HOME is ignored (%s)", where);
    free(where);
    free(dflt);
    free(store);
    free(empty);
}

static void test_mmproj_detect(void)
{
    char *side = S("%s/side", g_tmp), *p, *ref;
    struct gl_model_pair pr;
    char *note = NULL, *err = NULL, *mm = NULL;
    mkdirs(side);
    ref = tap_refpath(LLM_Q4_0);
    p = S("%s/llm.gguf", side);
    link_to(ref, p);
    free(p);
    free(ref);
    ref = tap_refpath(MMPROJ);
    p = S("%s/c-mmproj-tiny.gguf", side);
    link_to(ref, p);
    free(p);
    free(ref);
    ref = tap_refpath(STORIES);
    p = S("%s/stories.gguf", side);
    link_to(ref, p);
    free(p);
    free(ref);
    p = S("%s/b-MMPROJ-junk.gguf", side);
    put_file(p, "not a model at all\n");
    free(p);
    p = S("%s/a-mmproj-narrow.gguf", side);
    bool narrow = write_narrow_mmproj(p, 128);
    ok(narrow, "a 128-wide mmproj was written");
    free(p);

    char *llm = S("%s/llm.gguf", side);
    int rc = models_find_mmproj(llm, &mm, &note, &err);
    p = S("%s/c-mmproj-tiny.gguf", side);
    ok(rc == 0, "detect: ok (%s)", err ? err : "");
    is_str(mm, p, "detect: the mmproj whose width equals the model's (256)");
    ok(has(note, "c-mmproj-tiny.gguf") && has(note, "width 256"), "detect: the note names it (%s)",
       note ? note : "");
    ok(has(note, "a-mmproj-narrow.gguf (width 128)"), "detect: the narrower one was ignored and said so");
    ok(has(note, "b-MMPROJ-junk.gguf (not a CLIP projector)"), "detect: so was the junk file");
    free(mm);
    free(note);
    mm = note = NULL;

    /* through models_resolve with a path */
    rc = models_resolve(llm, NULL, &pr, &note, &err);
    ok(rc == 0 && pr.llm && strcmp(pr.llm, llm) == 0 && pr.mmproj && strcmp(pr.mmproj, p) == 0,
       "-m FILE without --mmproj: the detected mmproj");
    is_str(pr.store, "file", "-m FILE: store");
    is_int(pr.mmproj_bytes, 624640, "-m FILE: mmproj size");
    models_pair_free(&pr);
    free(note);
    note = NULL;
    rc = models_resolve(llm, "/given/mmproj.gguf", &pr, &note, &err);
    ok(rc == 0 && strcmp(pr.mmproj, "/given/mmproj.gguf") == 0 && !note,
       "-m FILE --mmproj FILE: as given, nothing detected");
    models_pair_free(&pr);
    free(p);

    /* a model no mmproj fits: text only, and why */
    char *stories = S("%s/stories.gguf", side);
    rc = models_find_mmproj(stories, &mm, &note, &err);
    ok(rc == 0 && !mm, "detect: none fits a 64-wide model");
    ok(has(note, "width 64") && has(note, "c-mmproj-tiny.gguf (width 256)"), "  the note says why (%s)",
       note ? note : "");
    free(note);
    note = NULL;
    free(stories);

    /* the mmproj itself given as the model */
    char *mmf = S("%s/c-mmproj-tiny.gguf", side);
    rc = models_resolve(mmf, NULL, &pr, &note, &err);
    ok(rc == -1 && has(err, "mmproj") && has(err, "--mmproj"), "an mmproj given as -m is refused (%s)",
       err ? err : "");
    free(err);
    err = NULL;
    free(mmf);

    /* missing files and directories */
    char *missing = S("%s/missing.gguf", side);
    rc = models_resolve(missing, NULL, &pr, &note, &err);
    ok(rc == -1 && has(err, "missing.gguf") && has(err, "No such file"), "a missing FILE: named (%s)",
       err ? err : "");
    free(err);
    err = NULL;
    free(missing);
    rc = models_resolve(side, NULL, &pr, &note, &err);
    ok(rc == -1 && has(err, "directory"), "a directory as -m is refused");
    free(err);
    err = NULL;
    p = S("%s/junk.gguf", side);
    put_file(p, "hello\n");
    rc = models_resolve(p, NULL, &pr, &note, &err);
    ok(rc == -1 && has(err, "junk.gguf") && !strchr(err, '\n'), "a non-GGUF -m: one line (%s)", err ? err : "");
    free(err);
    err = NULL;
    free(p);
    free(llm);
    free(side);
}

/* ---------------------------------------------------------------- config */

static int parse(const char *text, struct gl_config *c, char **err)
{
    return config_parse(text, strlen(text), "cfg", c, err);
}

static void test_config(const char *home)
{
    struct gl_config c;
    char *err = NULL;
    const char *good =
        "# glimpse defaults\n"
        "\n"
        "model = ~/models/llava.gguf\n"
        "  mmproj=llava-mmproj.gguf   # a comment after a space\n"
        "threads = 3\r\n"
        "ctx = 2048\n"
        "n-predict = -1\n"
        "temp = 0\n"
        "top_p = 0.9\n"
        "top_k = 10\n"
        "min_p = 0.01\n"
        "repeat_penalty = 1.1\n"
        "repeat_last_n = 32\n"
        "seed = 42\n"
        "kv_type = f32\n"
        "template = raw\n"
        "system = \"Say \\\"hi\\\" # not a comment\\n\"  # a comment\n";
    int rc = parse(good, &c, &err);
    is_int(rc, 0, "config: a full file parses (%s)", err ? err : "");
    char *m = S("%s/models/llava.gguf", home);
    is_str(c.model, m, "config: model, ~ expanded");
    free(m);
    is_str(c.mmproj, "llava-mmproj.gguf", "config: unquoted value, comment after a space dropped");
    is_int(c.threads, 3, "config: threads (CRLF line)");
    is_int(c.ctx, 2048, "config: ctx");
    is_int(c.n_predict, -1, "config: n-predict written with a dash");
    ok(c.temp == 0 && c.top_p == 0.9f && c.min_p == 0.01f && c.repeat_penalty == 1.1f,
       "config: floats");
    is_int(c.top_k, 10, "config: top_k");
    is_int(c.repeat_last_n, 32, "config: repeat_last_n");
    is_int(c.seed, 42, "config: seed");
    is_int(c.kv_type, GL_TYPE_F32, "config: kv_type");
    is_int(c.tmpl, GL_TMPL_RAW, "config: template");
    is_str(c.system, "Say \"hi\" # not a comment\n", "config: a quoted value with escapes");
    is_int(c.set, 0x7fff, "config: every key marked as set");

    /* applied under the command line */
    struct cli_opts o = {.n_predict = 256, .sp = gl_sampler_default_params()};
    config_apply(&c, &o);
    ok(o.n_threads == 3 && o.n_ctx == 2048 && o.n_predict == -1 && o.sp.temp == 0 &&
       o.sp.top_k == 10 && o.seed_set && o.sp.seed == 42 && o.tmpl == GL_TMPL_RAW &&
       o.kv_type == GL_TYPE_F32 && o.model == c.model && o.system == c.system,
       "config_apply copies every key");
    config_free(&c);

    rc = parse("system = ''\ntemp = 0.5\n", &c, &err);
    ok(rc == 0 && c.system && !*c.system && c.set == (CONFIG_SYSTEM | CONFIG_TEMP),
       "config: an empty quoted value; only the keys present are set");
    struct cli_opts o2 = {.n_predict = 256, .sp = gl_sampler_default_params()};
    config_apply(&c, &o2);
    ok(o2.n_predict == 256 && o2.sp.top_k == 40 && o2.sp.temp == 0.5f && !o2.seed_set,
       "config_apply leaves the other options alone");
    config_free(&c);
    rc = parse("", &c, &err);
    ok(rc == 0 && c.set == 0, "config: an empty file");
    config_free(&c);

    static const struct { const char *text, *expect; } bad[] = {
        {"colour = red\n", "cfg:1: unknown key 'colour'"},
        {"\n# fine\ntemp = hot\n", "cfg:3: temp needs a number"},
        {"top_p = 2\n", "cfg:1: top_p needs a number from 0 to 1"},
        {"threads = 0\n", "cfg:1: threads needs a whole number from 1"},
        {"ctx = 12k\n", "cfg:1: ctx needs a whole number"},
        {"temp 0.5\n", "cfg:1: expected 'key = value'"},
        {"= 3\n", "cfg:1: expected 'key = value'"},
        {"system = \"open\n", "cfg:1: the quoted value has no closing \""},
        {"system = \"a\" b\n", "cfg:1: unexpected text after the closing quote"},
        {"system = \"\\q\"\n", "cfg:1: unknown escape"},
        {"temp = 1\ntemp = 2\n", "cfg:2: temp is already set on line 1"},
        {"model =\n", "cfg:1: the value is missing"},
        {"template = chatml\n", "cfg:1:"},
        {"kv_type = q8\n", "cfg:1: kv_type is f16 or f32"},
        {"seed = -1\n", "cfg:1: seed needs a whole number"},
        {"temp = nan\n", "cfg:1: temp needs a number"},
        {"a\x01 = b\n", "cfg:1: control character"},
        {"temp = \"1\\n\"\n", "cfg:1: temp needs a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = parse(bad[i].text, &c, &err);
        ok(rc == -1 && err && strncmp(err, bad[i].expect, strlen(bad[i].expect)) == 0 &&
               !strchr(err, '\n') && c.set == 0 && !c.model,
           "config error %zu: one line, file:line (%s)", i, err ? err : "(null)");
        free(err);
        err = NULL;
    }
    rc = config_parse("temp = 1\n\0x = 2\n", 16, "cfg", &c, &err);
    ok(rc == -1 && has(err, "cfg:2: NUL byte"), "config: a NUL byte (%s)", err ? err : "");
    free(err);
    err = NULL;

    /* files: the XDG default, a missing default, an explicit missing one */
    char *xdg = S("%s/xdg-config", g_tmp);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    rc = config_load(NULL, &c, &err);
    ok(rc == 0 && c.path == NULL && c.set == 0, "config: no file at the default path is fine");
    char *path = S("%s/glimpse/config", xdg);
    put_file(path, "threads = 2\nctx = 99999999\n");
    rc = config_load(NULL, &c, &err);
    char *want = S("%s:2: ctx needs a whole number", path);
    ok(rc == -1 && has(err, want), "config: errors in the default file name it (%s)", err ? err : "");
    free(want);
    free(err);
    err = NULL;
    put_file(path, "threads = 2\n");
    rc = config_load(NULL, &c, &err);
    ok(rc == 0 && c.threads == 2 && c.path && strcmp(c.path, path) == 0,
       "config: $XDG_CONFIG_HOME/glimpse/config is read");
    config_free(&c);
    unsetenv("XDG_CONFIG_HOME");
    char *dflt = config_default_path();
    char *want2 = S("%s/.config/glimpse/config", home);
    is_str(dflt, want2, "config: default path without XDG_CONFIG_HOME");
    free(dflt);
    free(want2);
    char *missing = S("%s/nope.conf", g_tmp);
    rc = config_load(missing, &c, &err);
    ok(rc == -1 && has(err, missing), "config: a given file that is missing is an error");
    free(err);
    err = NULL;
    rc = config_load(xdg, &c, &err);
    ok(rc == -1 && has(err, "not a regular file"), "config: a directory is refused");
    free(err);
    free(missing);
    free(path);
    free(xdg);
}

int main(void)
{
    if (!tap_refdata())
        tap_skip_all("GLIMPSE_REFDATA not found");
    char *base = realpath(tap_tmpdir(), NULL);
    g_tmp = S("%s/test_models.%d", base ? base : "/tmp", (int)getpid());
    free(base);
    rm_rf(g_tmp);
    char *home = S("%s/home", g_tmp);
    mkdirs(home);
    set_env(home);

    char *store = S("%s/.ollama/models", home), *cache = S("%s/.cache/llama.cpp", home);
    char *gdir = S("%s/.local/share/glimpse/models", home);
    build_ollama(store);
    build_llamacpp(cache);
    build_glimpse(gdir);

    test_ollama(home);
    test_llamacpp(home);
    test_glimpse_dir(home);
    test_list(home);
    test_mmproj_detect();
    test_config(home);
    set_env(home);
    test_single_and_none(home);

    free(store);
    free(cache);
    free(gdir);
    free(home);
    rm_rf(g_tmp);
    free(g_tmp);
    return tap_done();
}
