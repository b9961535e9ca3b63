/*
 * test_clip.c - the vision tower against reference outputs.
 *
 *   compat     llama.cpp's own normalised input through CLIP_MODE_LLAMACPP
 *              vs llama.cpp's projector output (expected/embd): every image
 *              within 1e-6 relative (bit for bit on the reference machine)
 *   faithful   our image pipeline (GL_PRE_LLAVA) + CLIP_MODE_LLAVA vs
 *              LLaVA-1.5's float32 torch output (faithful/embd), 3e-3
 *   toy        the trained toy mmproj loads and encodes a toy picture
 *   hostile    wrong files and damaged mmproj files (patched in memory) are
 *              refused with messages naming the tensor / key
 *   weights    the tiny mmproj rewritten (gguf_writer) with f32 and q8_0..q5_1
 *              matrices vs the same values stored as f32, and vs the f16 original
 *   abort, progress, and 1 vs 2 threads
 */
#include "config.h"

#include "glimpse/clip.h"
#include "glimpse/gguf.h"
#include "glimpse/image.h"
#include "glimpse/pool.h"
#include "glimpse/quant.h"
#include "gguf_writer.h"
#include "tap.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MMPROJ "models/tiny-llava-mmproj-f16.gguf"

/* max|a - ref| / max|ref|; infinity if anything is not finite. */
static double rel_err(const float *a, const float *ref, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(ref[i]))
            return INFINITY;
        double d = fabs((double)a[i] - ref[i]);
        if (d > md)
            md = d;
        if (fabs(ref[i]) > mr)
            mr = fabs(ref[i]);
    }
    return mr > 0 ? md / mr : md;
}

static bool all_finite(const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return false;
    return true;
}

/* Read a float32 file of exactly n values (malloc'd) or NULL. */
static float *slurp_f32(const char *path, size_t n)
{
    size_t len = 0;
    float *p = tap_slurp(path, &len);
    if (p && len != n * sizeof(float)) {
        tap_diag("%s: %zu bytes, expected %zu", path, len, n * sizeof(float));
        free(p);
        return NULL;
    }
    return p;
}

static bool exists(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp)
        fclose(fp);
    return fp != NULL;
}

static clip_model *open_clip(const char *rel, gguf_file **gf)
{
    char *path = tap_refpath(rel), *err = NULL;
    clip_model *cm = NULL;
    *gf = gguf_open(path, &err);
    if (*gf)
        cm = clip_load(*gf, &err);
    if (!cm) {
        tap_diag("%s: %s", path, err ? err : "?");
        gguf_close(*gf);
        *gf = NULL;
    }
    free(err);
    free(path);
    return cm;
}

static size_t out_len(const clip_model *cm)
{
    return (size_t)clip_n_rows(cm) * (size_t)clip_n_out(cm);
}

static int encode(clip_model *cm, gl_pool *pool, const float *chw, enum clip_mode mode, float *out)
{
    struct clip_opts o = {.mode = mode};
    char *err = NULL;
    int rc = clip_encode(cm, pool, chw, &o, out, &err);
    if (rc != 0)
        tap_diag("clip_encode: %d %s", rc, err ? err : "");
    free(err);
    return rc;
}

/* Our preprocessing of an image file into planar normalised floats. */
static float *prep_image(const clip_model *cm, const char *path, enum gl_preprocess pre)
{
    const struct clip_hparams *hp = clip_hparams(cm);
    const int S = hp->image_size;
    struct gl_image img = {0};
    char *err = NULL;
    uint8_t *rgb = malloc((size_t)S * S * 3);
    float *chw = malloc((size_t)S * S * 3 * sizeof *chw);
    if (!rgb || !chw || gl_image_load(path, NULL, &img, &err) < 0 ||
        gl_image_square(&img, pre, S, hp->pad_rgb, rgb, &err) < 0) {
        tap_diag("%s: %s", path, err ? err : "out of memory");
        free(chw);
        chw = NULL;
    } else {
        gl_image_normalize(chw, rgb, S, hp->mean, hp->std);
    }
    gl_image_free(&img);
    free(rgb);
    free(err);
    return chw;
}

/* ------------------------------------------------------------ sections */

static void test_hparams(const clip_model *cm)
{
    const struct clip_hparams *hp = clip_hparams(cm);
    is_int(hp->image_size, 336, "image_size");
    is_int(hp->patch_size, 14, "patch_size");
    is_int(hp->n_embd, 64, "n_embd");
    is_int(hp->n_ff, 256, "n_ff");
    is_int(hp->n_head, 4, "n_head");
    is_int(hp->n_layer, 3, "n_layer");
    is_int(hp->n_out, 256, "n_out");
    ok(!hp->use_gelu, "use_gelu false");
    ok(fabsf(hp->eps - 1e-5f) < 1e-9f, "eps 1e-5");
    is_int(clip_n_rows(cm), 576, "576 rows");
    is_int(clip_n_out(cm), 256, "256 wide");
    ok(hp->pad_rgb[0] == 122 && hp->pad_rgb[1] == 116 && hp->pad_rgb[2] == 104,
       "pad colour (122,116,104), got (%d,%d,%d)", hp->pad_rgb[0], hp->pad_rgb[1],
       hp->pad_rgb[2]);
    ok(fabsf(hp->mean[0] - 0.48145466f) < 1e-7f && fabsf(hp->std[2] - 0.27577711f) < 1e-7f,
       "image mean/std");
}

static void test_compat(clip_model *cm, gl_pool *pool)
{
    char *ipath = tap_refpath("expected/embd/index.json");
    json_error_t jerr;
    json_t *idx = json_load_file(ipath, 0, &jerr);
    free(ipath);
    if (!ok(idx && json_is_object(idx), "expected/embd/index.json parses")) {
        json_decref(idx);
        return;
    }
    const size_t S = 336, n_in = S * S * 3, n_out = out_len(cm);
    float *chw = malloc(n_in * sizeof *chw), *out = malloc(n_out * sizeof *out);
    const char *name;
    json_t *val;
    int tested = 0, bit_exact = 0;
    json_object_foreach(idx, name, val) {
        char rel[256];
        snprintf(rel, sizeof rel, "expected/embd/%s.pre.f32", name);
        char *pre_path = tap_refpath(rel);
        snprintf(rel, sizeof rel, "expected/embd/%s.embd.f32", name);
        char *ref_path = tap_refpath(rel);
        if (!exists(pre_path) || !exists(ref_path)) {
            tap_skip(1, "compat %s: reference files absent", name);
        } else {
            float *hwc = slurp_f32(pre_path, n_in), *ref = slurp_f32(ref_path, n_out);
            if (ok(hwc && ref, "compat %s: reference files read", name)) {
                /* HWC -> planar CHW, as clip.cpp does before its graph. */
                for (size_t y = 0; y < S; y++)
                    for (size_t x = 0; x < S; x++)
                        for (size_t c = 0; c < 3; c++)
                            chw[(c * S + y) * S + x] = hwc[(y * S + x) * 3 + c];
                int rc = encode(cm, pool, chw, CLIP_MODE_LLAMACPP, out);
                double e = rc == 0 ? rel_err(out, ref, n_out) : INFINITY;
                tap_diag("compat %s: max|diff|/max|ref| = %.3g", name, e);
                ok(rc == 0 && e <= 1e-6, "compat %s: llama.cpp mode within 1e-6 (%.3g)", name,
                   e);
                tested++;
                bit_exact += rc == 0 && memcmp(out, ref, n_out * sizeof *out) == 0;
            }
            free(hwc);
            free(ref);
        }
        free(pre_path);
        free(ref_path);
    }
    ok(tested >= 3, "compat: %d images compared", tested);
    /* Mirroring ggml's sum orders, its FMA contractions (the GELU table, the
     * f32 dot's leftover) and its tables reproduces llama.cpp's projector
     * output bit for bit; libm's expf/tanhf differing between C libraries
     * could flip a table entry, hence the 1e-6 bound above. */
    tap_diag("compat: %d of %d images bit for bit", bit_exact, tested);
    free(chw);
    free(out);
    json_decref(idx);
}

static void test_faithful(clip_model *cm, gl_pool *pool)
{
    static const char *const names[] = {"checker_336x336", "gradient_shapes_640x480"};
    const size_t n_out = out_len(cm);
    float *out = malloc(n_out * sizeof *out);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "images/%s.png", names[i]);
        char *img = tap_refpath(rel);
        snprintf(rel, sizeof rel, "faithful/embd/%s.embd.f32", names[i]);
        char *refp = tap_refpath(rel);
        float *ref = slurp_f32(refp, n_out);
        float *chw = ref ? prep_image(cm, img, GL_PRE_LLAVA) : NULL;
        if (ok(ref && chw, "faithful %s: image and reference read", names[i])) {
            int rc = encode(cm, pool, chw, CLIP_MODE_LLAVA, out);
            double e = rc == 0 ? rel_err(out, ref, n_out) : INFINITY;
            tap_diag("faithful %s: max|diff|/max|ref| = %.3g", names[i], e);
            ok(rc == 0 && e <= 3e-3, "faithful %s: LLaVA mode within 3e-3 (%.3g)", names[i], e);
        }
        free(chw);
        free(ref);
        free(img);
        free(refp);
    }
    free(out);
}

static void test_toy(gl_pool *pool)
{
    gguf_file *gf;
    clip_model *cm = open_clip("toy/toy-llava-mmproj-f16.gguf", &gf);
    if (!ok(cm, "toy mmproj loads")) {
        tap_skip(4, "toy mmproj did not load");
        return;
    }
    is_int(clip_n_rows(cm), 576, "toy: 576 rows");
    is_int(clip_n_out(cm), 64, "toy: 64 wide (the toy LLM's width)");
    char *img = tap_refpath("toy/images/test00_red_ball_1_599x469.png");
    float *chw = prep_image(cm, img, GL_PRE_LLAVA);
    float *out = malloc(out_len(cm) * sizeof *out);
    for (int mode = 0; mode < 2; mode++) {
        int rc = chw ? encode(cm, pool, chw, (enum clip_mode)mode, out) : -1;
        ok(rc == 0 && all_finite(out, out_len(cm)), "toy: %s mode encodes to finite values",
           mode == CLIP_MODE_LLAVA ? "llava" : "llama.cpp");
    }
    free(out);
    free(chw);
    free(img);
    clip_free(cm);
    gguf_close(gf);
}

/* -------------------------------------------------- hostile and damaged */

/* Start of the bytes of string `s` as GGUF writes it (u64 length, bytes). */
static uint8_t *find_gstr(uint8_t *buf, size_t len, const char *s)
{
    size_t n = strlen(s);
    uint8_t pat[128];
    if (n + 8 > sizeof pat)
        return NULL;
    for (int i = 0; i < 8; i++)
        pat[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(pat + 8, s, n);
    uint8_t *p = memmem(buf, len, pat, n + 8);
    return p ? p + 8 : NULL;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Load a patched copy; returns the loader's error (malloc'd) or NULL if it loaded. */
static char *load_err(const uint8_t *buf, size_t len, const char *what, bool *opened)
{
    char *err = NULL;
    gguf_file *gf = gguf_open_mem(buf, len, what, &err);
    *opened = gf != NULL;
    if (!gf) {
        tap_diag("%s: gguf refused it: %s", what, err ? err : "?");
        return err;
    }
    clip_model *cm = clip_load(gf, &err);
    if (cm) {
        clip_free(cm);
        free(err);
        err = NULL;
    }
    gguf_close(gf);
    return err;
}

static bool has(const char *s, const char *sub)
{
    return s && strstr(s, sub);
}

enum patch_kind { P_NE1, P_RENAME, P_STR, P_BOOL, P_U32, P_TYPE };

struct patch_case {
    const char *what;
    enum patch_kind kind;
    const char *target;         /* tensor or key name */
    const char *new_text;       /* P_RENAME / P_STR: same length */
    uint64_t value;             /* P_NE1 / P_BOOL / P_U32 / P_TYPE */
    const char *expect[3];      /* substrings the message must contain */
};

static const struct patch_case cases[] = {
    {"wrong shape", P_NE1, "v.blk.1.attn_q.weight", NULL, 32,
     {"v.blk.1.attn_q.weight", "[64, 32]", "[64, 64]"}},
    {"wrong fc1 shape", P_NE1, "v.blk.0.ffn_down.weight", NULL, 128,
     {"v.blk.0.ffn_down.weight", "[64, 128]", "[64, 256]"}},
    {"short position table", P_NE1, "v.position_embd.weight", NULL, 576,
     {"v.position_embd.weight", "[64, 576]", "[64, 577]"}},
    {"missing tensor", P_RENAME, "v.blk.2.ffn_up.bias", "v.blk.2.ffn_up.biaz",
     0, {"missing", "v.blk.2.ffn_up.bias", NULL}},
    {"missing class embedding", P_RENAME, "v.class_embd", "v.klass_embd", 0,
     {"missing", "v.class_embd", NULL}},
    {"projector ldp", P_STR, "clip.projector_type", "ldp", 0,
     {"projector type 'ldp'", "not supported", NULL}},
    {"Yi-VL mm.3", P_RENAME, "mm.2.weight", "mm.3.weight", 0, {"mm.3", "not supported", NULL}},
    {"no llava projector", P_BOOL, "clip.has_llava_projector", NULL, 0,
     {"projector", NULL, NULL}},
    {"patch size", P_U32, "clip.vision.patch_size", NULL, 15, {"patch size 15", NULL, NULL}},
    {"head count", P_U32, "clip.vision.attention.head_count", NULL, 5, {"head count 5", NULL, NULL}},
    {"quantized bias", P_TYPE, "v.pre_ln.bias", NULL, 8, {"v.pre_ln.bias", "q8_0", NULL}},
};

static void test_hostile(gl_pool *pool)
{
    (void)pool;
    /* The language model given where the mmproj belongs. */
    char *llm = tap_refpath("models/tiny-llava-llm-f16.gguf"), *err = NULL;
    gguf_file *gf = gguf_open(llm, &err);
    if (ok(gf, "LLM file opens as GGUF")) {
        clip_model *cm = clip_load(gf, &err);
        ok(!cm && has(err, "not an mmproj") && has(err, "'llama'") && has(err, "tiny-llava-llm"),
           "LLM as mmproj refused: %s", err ? err : "(loaded!)");
        clip_free(cm);
    }
    gguf_close(gf);
    free(err);
    free(llm);

    char *path = tap_refpath(MMPROJ);
    size_t len = 0;
    uint8_t *orig = tap_slurp(path, &len);
    free(path);
    if (!ok(orig, "mmproj read into memory")) {
        tap_skip((int)(sizeof cases / sizeof cases[0]), "no mmproj");
        return;
    }
    uint8_t *buf = malloc(len);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct patch_case *pc = &cases[i];
        memcpy(buf, orig, len);
        uint8_t *p = find_gstr(buf, len, pc->target);
        size_t tn = strlen(pc->target);
        if (!ok(p, "%s: found '%s' to patch", pc->what, pc->target))
            continue;
        switch (pc->kind) {
        case P_NE1:       /* name, u32 n_dims, u64 ne0, u64 ne1 */
            put_u64(p + tn + 4 + 8, pc->value);
            break;
        case P_RENAME:
            memcpy(p, pc->new_text, tn);
            break;
        case P_STR:       /* key, u32 type, u64 len, bytes */
            memcpy(p + tn + 4 + 8, pc->new_text, strlen(pc->new_text));
            break;
        case P_BOOL:      /* key, u32 type, u8 */
            p[tn + 4] = (uint8_t)pc->value;
            break;
        case P_U32:
            put_u32(p + tn + 4, (uint32_t)pc->value);
            break;
        case P_TYPE: {    /* name, u32 n_dims, ne[n_dims], u32 type */
            uint32_t nd = p[tn] | (uint32_t)p[tn + 1] << 8;
            put_u32(p + tn + 4 + 8 * nd, (uint32_t)pc->value);
            break;
        }
        }
        bool opened;
        char *msg = load_err(buf, len, "damaged-mmproj.gguf", &opened);
        bool good = opened && msg && has(msg, "damaged-mmproj.gguf");
        for (int k = 0; k < 3; k++)
            if (pc->expect[k] && !has(msg, pc->expect[k]))
                good = false;
        ok(good, "%s refused: %s", pc->what, msg ? msg : "(loaded!)");
        free(msg);
    }
    /* An f16 norm is accepted (converted once). */
    memcpy(buf, orig, len);
    uint8_t *p = find_gstr(buf, len, "v.blk.0.ln1.weight");
    if (p)
        put_u32(p + strlen("v.blk.0.ln1.weight") + 4 + 8, 1);
    bool opened;
    char *msg = load_err(buf, len, "f16-norm.gguf", &opened);
    ok(p && opened && !msg, "an f16 layer-norm weight is accepted: %s", msg ? msg : "ok");
    free(msg);
    free(buf);
    free(orig);
}

/* ------------------------------------------- other weight types */

/* A metadata value of the original file as a writer value. */
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
    case GGUF_VT_ARR: {
        /* Fixed-size elements only (all an mmproj has). The raw bytes in the
         * mapping need not be aligned for the C array gw_arr reads. */
        static const size_t esize[GGUF_VT_COUNT] = {
            [GGUF_VT_U8] = 1, [GGUF_VT_I8] = 1, [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
            [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
            [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
        };
        size_t es = v->v.arr.type < GGUF_VT_COUNT ? esize[v->v.arr.type] : 0;
        if (!es)
            return NULL;
        void *tmp = malloc(es * v->v.arr.n + 1);
        memcpy(tmp, v->v.arr.data, es * v->v.arr.n);
        gw_val *a = gw_arr(v->v.arr.type, tmp, v->v.arr.n);
        free(tmp);
        return a;
    }
    default: return NULL;
    }
}

/* The file's 2-D block and projector matrices converted to `type` into a
 * malloc'd GGUF image, everything else as it was. With `back`, the
 * converted values are stored dequantized, as f32. */
static void *retype(const gguf_file *src, int type, bool back, size_t *len)
{
    const struct gl_type_traits *to = gl_type_traits(type);
    gw *w = gw_new();
    int64_t nt = gguf_n_tensors(src);
    void **bufs = calloc((size_t)nt, sizeof *bufs);
    void *out = NULL;
    char *err = NULL;
    for (int64_t i = 0; i < gguf_n_kv(src); i++) {
        const struct gguf_kv *kv = gguf_kv_at(src, i);
        gw_kvn(w, kv->key.ptr, kv->key.len, copy_val(&kv->val));
    }
    for (int64_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(src, i);
        bool conv = t->n_dims == 2 && strstr(t->name, ".weight") &&
                    (!strncmp(t->name, "v.blk.", 6) || !strncmp(t->name, "mm.", 3));
        if (!conv) {
            gw_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            continue;
        }
        const int64_t n_in = t->ne[0], rows = t->ne[1];
        const size_t rb = gl_row_size(type, n_in);
        float *f = malloc((size_t)t->nelements * sizeof *f);
        char *q = malloc(rb * (size_t)rows);
        gl_type_traits(t->type)->to_float(t->data, f, t->nelements);
        for (int64_t r = 0; r < rows; r++) {
            to->from_float(f + r * n_in, q + (size_t)r * rb, n_in);
            if (back)
                to->to_float(q + (size_t)r * rb, f + r * n_in, n_in);
        }
        if (back) {
            free(q);
            bufs[i] = f;
        } else {
            free(f);
            bufs[i] = q;
        }
        gw_tensor(w, t->name, back ? GL_TYPE_F32 : type, t->n_dims, t->ne, bufs[i]);
    }
    if (gw_write_mem(w, &out, len, &err) < 0) {
        tap_diag("gguf writer: %s", err ? err : "?");
        out = NULL;
    }
    for (int64_t i = 0; i < nt; i++)
        free(bufs[i]);
    free(bufs);
    free(err);
    gw_free(w);
    return out;
}

struct variant {
    void *img;
    gguf_file *gf;
    clip_model *cm;
};

static bool variant_open(struct variant *v, const gguf_file *src, int type, bool back)
{
    size_t len = 0;
    char *err = NULL;
    memset(v, 0, sizeof *v);
    v->img = retype(src, type, back, &len);
    if (v->img)
        v->gf = gguf_open_mem(v->img, len, "retyped.gguf", &err);
    if (v->gf)
        v->cm = clip_load(v->gf, &err);
    if (!v->cm)
        tap_diag("%s%s model: %s", gl_type_name(type), back ? " (dequantized)" : "",
                 err ? err : "?");
    free(err);
    return v->cm != NULL;
}

static void variant_close(struct variant *v)
{
    clip_free(v->cm);
    gguf_close(v->gf);
    free(v->img);
}

/* For each weight format Q: the model with Q matrices against the same
 * model with those Q values stored as f32. The faithful mode dequantizes
 * and multiplies in f32, so it must agree exactly; the llama.cpp mode also
 * quantizes the activations (q8_0 / q8_1): as coarse as q8_0 weights, and
 * measured at 0.016-0.02 here, so it is allowed 3e-2. And
 * against the f16 original, the format's own rounding: loose sanity bounds
 * (measured 0.02 for q8_0, 0.3 for q4_0 with these random weights). */
static void test_weight_types(gl_pool *pool, const float *chw)
{
    static const struct { int type; double vs_f16; } types[] = {
        {GL_TYPE_F32, 2e-3}, {GL_TYPE_Q8_0, 0.05}, {GL_TYPE_Q4_0, 0.5}, {GL_TYPE_Q4_1, 0.5},
        {GL_TYPE_Q5_0, 0.3}, {GL_TYPE_Q5_1, 0.3},
    };
    gguf_file *gf;
    clip_model *ref = open_clip(MMPROJ, &gf);
    if (!ref)
        return;
    size_t n = out_len(ref);
    float *f16out = malloc(n * sizeof *f16out), *a = malloc(n * sizeof *a),
          *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const int ty = types[i].type;
        const char *tn = gl_type_name(ty);
        struct variant q, dq;
        /* both opened whatever the first gives (each is closed below) */
        const bool have_q = variant_open(&q, gf, ty, false);
        const bool have = variant_open(&dq, gf, ty, true) && have_q;
        if (!ok(have, "%s: quantized and dequantized models load", tn)) {
            tap_skip(4, "no %s models", tn);
        } else {
            for (int mode = 0; mode < 2; mode++) {
                const char *mn = mode ? "llama.cpp" : "llava";
                int rc = encode(ref, pool, chw, (enum clip_mode)mode, f16out) |
                         encode(q.cm, pool, chw, (enum clip_mode)mode, a) |
                         encode(dq.cm, pool, chw, (enum clip_mode)mode, b);
                double e_dq = rc == 0 ? rel_err(a, b, n) : INFINITY;
                double e_16 = rc == 0 ? rel_err(a, f16out, n) : INFINITY;
                double bound = mode == CLIP_MODE_LLAVA || ty == GL_TYPE_F32 ? 1e-6 : 3e-2;
                tap_diag("%s weights, %s mode: %.3g from dequantized f32, %.3g from f16", tn,
                         mn, e_dq, e_16);
                ok(e_dq <= bound, "%s, %s mode: within %.2g of its dequantized f32 twin (%.3g)",
                   tn, mn, bound, e_dq);
                ok(e_16 <= types[i].vs_f16, "%s, %s mode: within %.2g of the f16 model (%.3g)",
                   tn, mn, types[i].vs_f16, e_16);
            }
        }
        variant_close(&q);
        variant_close(&dq);
    }
    free(f16out);
    free(a);
    free(b);
    clip_free(ref);
    gguf_close(gf);
}

/* -------------------------------------------------- abort and threads */

struct cb_state {
    int polls, abort_at, progress_calls;
    double last, prev;
    bool monotonic;
};

static bool cb_abort(void *u)
{
    struct cb_state *s = u;
    return ++s->polls >= s->abort_at;
}

static void cb_progress(void *u, double f)
{
    struct cb_state *s = u;
    if (f <= s->prev || f > 1.0)
        s->monotonic = false;
    s->prev = s->last = f;
    s->progress_calls++;
}

static void test_abort(clip_model *cm, gl_pool *pool, const float *chw)
{
    float *out = malloc(out_len(cm) * sizeof *out);
    char *err = NULL;
    struct cb_state s = {.abort_at = 1, .monotonic = true};
    struct clip_opts o = {.mode = CLIP_MODE_LLAVA, .should_abort = cb_abort,
                          .on_progress = cb_progress, .user = &s};
    int rc = clip_encode(cm, pool, chw, &o, out, &err);
    is_int(rc, -2, "abort at once: -2");
    ok(s.polls == 1 && s.progress_calls == 0, "abort at once: stops at the first poll");

    s = (struct cb_state){.abort_at = 3, .monotonic = true};
    rc = clip_encode(cm, pool, chw, &o, out, &err);
    is_int(rc, -2, "abort between blocks: -2");
    ok(s.polls == 3 && s.progress_calls == 1, "abort between blocks: %d polls, %d progress calls",
       s.polls, s.progress_calls);

    s = (struct cb_state){.abort_at = 1000, .monotonic = true};
    o.mode = CLIP_MODE_LLAMACPP;
    rc = clip_encode(cm, pool, chw, &o, out, &err);
    is_int(rc, 0, "no abort: 0");
    ok(s.monotonic && s.last == 1.0 && s.progress_calls == 3,
       "progress rises to 1 (%d calls: 2 blocks + projector)", s.progress_calls);
    free(err);
    free(out);
}

static void test_threads(clip_model *cm, const float *chw)
{
    char *err = NULL;
    gl_pool *p1 = gl_pool_new(1, &err), *p2 = gl_pool_new(2, &err);
    if (!ok(p1 && p2, "pools of 1 and 2 threads")) {
        tap_diag("%s", err ? err : "?");
        free(err);
        gl_pool_free(p1);
        gl_pool_free(p2);
        return;
    }
    size_t n = out_len(cm);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (int mode = 0; mode < 2; mode++) {
        int r1 = encode(cm, p1, chw, (enum clip_mode)mode, a);
        int r2 = encode(cm, p2, chw, (enum clip_mode)mode, b);
        double e = r1 == 0 && r2 == 0 ? rel_err(b, a, n) : INFINITY;
        tap_diag("%s mode: 1 vs 2 threads %.3g", mode ? "llama.cpp" : "llava", e);
        ok(e <= 1e-5, "%s mode: 1 and 2 threads agree (%.3g)", mode ? "llama.cpp" : "llava", e);
    }
    free(a);
    free(b);
    gl_pool_free(p1);
    gl_pool_free(p2);
}

int main(void)
{
    if (!tap_refdata())
        tap_skip_all("no reference data (GLIMPSE_REFDATA)");
    char *err = NULL;
    gl_pool *pool = gl_pool_new(2, &err);
    if (!pool)
        tap_skip_all("no thread pool: %s", err ? err : "?");

    gguf_file *gf;
    clip_model *cm = open_clip(MMPROJ, &gf);
    if (ok(cm, "tiny mmproj loads")) {
        test_hparams(cm);
        test_compat(cm, pool);
        test_faithful(cm, pool);

        char *img = tap_refpath("images/gradient_shapes_640x480.png");
        float *chw = prep_image(cm, img, GL_PRE_LLAVA);
        free(img);
        if (ok(chw, "an input image for the abort and thread tests")) {
            test_abort(cm, pool, chw);
            test_threads(cm, chw);
            test_weight_types(pool, chw);
        }
        free(chw);
    }
    clip_free(cm);
    gguf_close(gf);

    test_toy(pool);
    test_hostile(pool);
    gl_pool_free(pool);
    return tap_done();
}
