/*
 * clip.c - the LLaVA-1.5 vision tower: CLIP ViT + two-layer MLP projector.
 *
 * Sections: model (binding and checking an mmproj file), run state
 * (activations kept between encodes), matrix products for the two modes,
 * attention, encode.
 *
 * Everything runs as matrix-matrix products over all positions at once
 * (577 rows for LLaVA-1.5): the patch embedding is an im2col followed by a
 * product with the conv kernel, attention is Q.K^T and P.V per head.
 *
 * The two modes differ only in numerics and in the block count (see clip.h):
 *   CLIP_MODE_LLAMACPP  products through ops_matmul, which converts the
 *                       activations to the weight's vec_dot_type (f16 for f16
 *                       weights) and sums in ggml's own order (AVX-512
 *                       tinyBLAS / vec_dot_f16); attention in f32 with
 *                       ggml_vec_dot_f32's order and ggml's softmax; table
 *                       GELUs. Bit for bit llama.cpp's projector output
 *                       for all three reference images.
 *   CLIP_MODE_LLAVA     products in f32. With AVX-512, gemm_f32.c's packed
 *                       kernel: the activations are packed once per product
 *                       (once for Q, K and V together), each weight is
 *                       converted to f32 one cache block at a time while it
 *                       is packed, so no f32 copy of the model (1.2 GB for
 *                       ViT-L) is ever kept; attention runs per head in row
 *                       blocks that stay in L2 (scores, softmax, P.V).
 *                       Without AVX-512: each weight is dequantized a tile of
 *                       rows at a time into a per-thread buffer and
 *                       multiplied with OpenBLAS sgemm, attention with sgemm
 *                       too. Either way every element is summed in one
 *                       order whatever the thread count.
 */
#include "config.h"

#include "glimpse/clip.h"
#include "glimpse/ops.h"
#include "glimpse/quant.h"
#include "gemm_f32.h"
#include "util.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ model */

/* One ViT block. D = n_embd, F = n_ff. */
struct clip_layer {
    struct gl_weight q, k, v;   /* [D][D] each (n_out rows of n_in) */
    struct gl_weight o;         /* [D][D] attention output */
    const float *q_b, *k_b, *v_b, *o_b;  /* [D] */
    const float *ln1_w, *ln1_b; /* [D] before attention */
    const float *ln2_w, *ln2_b; /* [D] before the MLP */
    struct gl_weight fc1;       /* [F][D] "ffn_down" in the file: HF mlp.fc1, D -> F */
    const float *fc1_b;         /* [F] */
    struct gl_weight fc2;       /* [D][F] "ffn_up" in the file: HF mlp.fc2, F -> D */
    const float *fc2_b;         /* [D] */
};

/* Activations, allocated on the first encode and reused. N = positions
 * (patches + CLS), P = patches, K = 3 * patch^2, E = projector hidden width. */
struct clip_state {
    bool ready;
    bool fast;                  /* this encode's LLAVA products run on gemm_f32.c */
    float *x;                   /* [N][D] residual stream */
    float *h;                   /* [N][D] normalised input of a sub-layer; attention output */
    float *q, *k, *v;           /* [N][D] (q is reused for sub-layer outputs) */
    float *ff;                  /* [N][F] MLP hidden */
    float *cols;                /* [P][K] im2col of the image */
    float *mid;                 /* [P][E] projector hidden */
    float *scores;              /* [n_slots][attn_slot] attention buffers, one per thread */
    float *wtile;               /* [n_slots][wtile_floats] f32 weight tiles (LLAVA, sgemm) */
    size_t wtile_floats;
    int n_wtile;                /* per-thread weight tiles allocated */
    float *gbuf;                /* [n_slots][gl_gemm_thread_floats] (LLAVA, packed kernel) */
    float *apack;               /* [apack_floats] packed activations (LLAVA, packed kernel) */
    size_t apack_floats;
    int n_slots;                /* per-thread buffers allocated */
    struct gl_scratch scratch;  /* for ops_matmul */
};

struct clip_model {
    const gguf_file *f;
    struct clip_hparams hp;
    int n_side;                 /* patches per side: 24 */
    int n_patch;                /* P = n_side^2: 576 */
    int n_pos;                  /* N = P + 1 */
    int patch_k;                /* K = 3 * patch * patch: 588 */
    int n_mid;                  /* E = projector hidden width (mm.0 rows) */
    int d_head;                 /* D / n_head */

    struct gl_weight patch_w;   /* [D][K] conv kernel as stored, row = (c, ky, kx) */
    float *patch_w32;           /* [D][K] the same in f32 (owned) */
    const float *patch_b;       /* [D] or NULL */
    const float *class_embd;    /* [D] */
    float *pos_embd;            /* [N][D] f32 (owned), row 0 = CLS */
    const float *pre_ln_w, *pre_ln_b;   /* [D] */
    struct clip_layer *layers;  /* [n_layer] */
    struct gl_weight mm0;       /* [E][D] */
    const float *mm0_b;         /* [E] */
    struct gl_weight mm2;       /* [n_out][E] */
    const float *mm2_b;         /* [n_out] */

    float **owned;              /* small tensors converted to f32 at load */
    int n_owned, cap_owned;

    struct clip_state st;
};

/* Loader context: the model being built plus the file's name for messages. */
struct loader {
    clip_model *m;
    const gguf_file *f;
    const char *path;
};

static void fmt_shape(char *buf, size_t cap, const int64_t *ne, int n)
{
    size_t len = 0;
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

static float *own(clip_model *m, size_t n_floats)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 16;
        float **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        m->owned = p;
        m->cap_owned = cap;
    }
    float *buf = gl_amalloc(n_floats * sizeof(float));
    if (buf)
        m->owned[m->n_owned++] = buf;
    return buf;
}

/* Find `name` and check its extents are exactly want[0..n) (trailing
 * extents 1). NULL + *err if absent or shaped differently. */
static const struct gguf_tensor *find_shaped(struct loader *L, const char *name, int n,
                                             const int64_t *want, bool optional, char **err)
{
    const struct gguf_tensor *t = gguf_find_tensor(L->f, name);
    if (!t) {
        if (!optional)
            gl_err(err, "%s: missing tensor '%s'", L->path, name);
        return NULL;
    }
    bool same = true;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        if (t->ne[i] != (i < n ? want[i] : 1))
            same = false;
    if (!same) {
        char got[96], exp[96];
        fmt_shape(got, sizeof got, t->ne, t->n_dims);
        fmt_shape(exp, sizeof exp, want, n);
        gl_err(err, "%s: tensor '%s' has shape %s, expected %s", L->path, name, got, exp);
        return NULL;
    }
    /* Our kernels read floats and f16 block scales in place. */
    if ((uintptr_t)t->data % 4 != 0) {
        gl_err(err, "%s: data of tensor '%s' is not 4-byte aligned", L->path, name);
        return NULL;
    }
    return t;
}

static const char *type_name(int type)
{
    const char *s = gl_type_name(type);
    return s ? s : "unknown";
}

/* Bind a 1-D float vector of n values: f32 stays in the mapping, f16/bf16 is
 * converted once. *out = NULL when optional and absent. 0 or -1. */
static int bind_vec(struct loader *L, const char *name, int64_t n, bool optional,
                    const float **out, char **err)
{
    *out = NULL;
    const struct gguf_tensor *t = find_shaped(L, name, 1, &n, optional, err);
    if (!t)
        return optional && !gguf_find_tensor(L->f, name) ? 0 : -1;
    if (t->type == GL_TYPE_F32) {
        *out = t->data;
        return 0;
    }
    const struct gl_type_traits *tr = gl_type_traits(t->type);
    if ((t->type != GL_TYPE_F16 && t->type != GL_TYPE_BF16) || !tr || !tr->to_float)
        return gl_err(err, "%s: tensor '%s' has type %s, expected f32 or f16", L->path, name,
                      type_name(t->type));
    float *buf = own(L->m, (size_t)n);
    if (!buf)
        return gl_err(err, "%s: out of memory converting '%s'", L->path, name);
    tr->to_float(t->data, buf, n);
    *out = buf;
    return 0;
}

/* Bind a weight matrix stored as ggml ne = [n_in, n_out]: any type we have a
 * dot product and a dequantizer for, rows a whole number of blocks. */
static int bind_mat(struct loader *L, const char *name, int64_t n_in, int64_t n_out,
                    struct gl_weight *w, char **err)
{
    int64_t want[2] = {n_in, n_out};
    const struct gguf_tensor *t = find_shaped(L, name, 2, want, false, err);
    if (!t)
        return -1;
    const struct gl_type_traits *tr = gl_type_traits(t->type);
    if (!tr || !tr->vec_dot || !tr->to_float)
        return gl_err(err, "%s: tensor '%s' has type %s, which is not supported for weights",
                      L->path, name, type_name(t->type));
    if (n_in % tr->blck_size != 0)
        return gl_err(err, "%s: tensor '%s': rows of %lld values are not a multiple of %s's "
                      "block size %d", L->path, name, (long long)n_in, tr->name, tr->blck_size);
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = gl_row_size(t->type, n_in);
    return 0;
}

/* Convert a whole tensor (any dequantizable type) to a new owned f32 array. */
static float *to_f32(struct loader *L, const struct gguf_tensor *t, char **err)
{
    const struct gl_type_traits *tr = gl_type_traits(t->type);
    if (!tr || !tr->to_float || t->ne[0] % tr->blck_size != 0) {
        gl_err(err, "%s: tensor '%s' has type %s, which cannot be used here", L->path, t->name,
               type_name(t->type));
        return NULL;
    }
    float *buf = own(L->m, (size_t)t->nelements);
    if (!buf) {
        gl_err(err, "%s: out of memory converting '%s'", L->path, t->name);
        return NULL;
    }
    /* Rows are contiguous (row size = ne0 values in the type's blocks). */
    int64_t rows = t->nelements / t->ne[0];
    size_t rb = gl_row_size(t->type, t->ne[0]);
    for (int64_t r = 0; r < rows; r++)
        tr->to_float((const char *)t->data + (size_t)r * rb, buf + r * t->ne[0], t->ne[0]);
    return buf;
}

/* Required u32 hyperparameter in [lo, hi]. */
static int get_hp(struct loader *L, const char *key, int lo, int hi, int *out, char **err)
{
    uint32_t v;
    int rc = gguf_get_u32(L->f, key, &v, err);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return gl_err(err, "%s: missing key '%s'", L->path, key);
    if (v < (uint32_t)lo || v > (uint32_t)hi)
        return gl_err(err, "%s: %s = %u is out of range [%d, %d]", L->path, key, v, lo, hi);
    *out = (int)v;
    return 0;
}

/* Optional bool key that must not be true (a feature we do not implement). */
static int refuse_flag(struct loader *L, const char *key, const char *what, char **err)
{
    bool b = false;
    int rc = gguf_get_bool(L->f, key, &b, err);
    if (rc < 0)
        return -1;
    if (rc == 0 && b)
        return gl_err(err, "%s: %s is not supported yet (%s)", L->path, what, key);
    return 0;
}

static int get_rgb(struct loader *L, const char *key, float out[3], char **err)
{
    const struct gguf_value *a;
    int rc = gguf_get_arr(L->f, key, GGUF_VT_F32, &a, err);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return gl_err(err, "%s: missing key '%s'", L->path, key);
    if (a->v.arr.n != 3)
        return gl_err(err, "%s: %s has %llu values, expected 3", L->path, key,
                      (unsigned long long)a->v.arr.n);
    for (int c = 0; c < 3; c++) {
        out[c] = (float)gguf_arr_f64(a, (uint64_t)c);
        if (!isfinite(out[c]))
            return gl_err(err, "%s: %s[%d] is not finite", L->path, key, c);
    }
    return 0;
}

static int load_hparams(struct loader *L, char **err)
{
    clip_model *m = L->m;
    struct clip_hparams *hp = &m->hp;
    struct gguf_str s;
    int rc;

    rc = gguf_get_str(L->f, "general.architecture", &s, err);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return gl_err(err, "%s is not an mmproj (vision) file: general.architecture is missing",
                      L->path);
    if (!gguf_str_eq(s, "clip"))
        return gl_err(err, "%s is not an mmproj (vision) file: architecture is '%.*s'", L->path,
                      (int)(s.len > 64 ? 64 : s.len), s.ptr);

    bool b = false;
    if ((rc = gguf_get_bool(L->f, "clip.has_vision_encoder", &b, err)) < 0)
        return -1;
    if (rc > 0 || !b)
        return gl_err(err, "%s: this clip file has no vision encoder (clip.has_vision_encoder)",
                      L->path);
    b = false;
    if ((rc = gguf_get_bool(L->f, "clip.has_llava_projector", &b, err)) < 0)
        return -1;
    if (rc > 0 || !b)
        return gl_err(err, "%s: this clip file has no LLaVA projector (clip.has_llava_projector)",
                      L->path);
    if (refuse_flag(L, "clip.has_minicpmv_projector", "the MiniCPM-V projector", err) < 0 ||
        refuse_flag(L, "clip.has_glm_projector", "the GLM projector", err) < 0 ||
        refuse_flag(L, "clip.has_qwen2vl_merger", "the Qwen2-VL merger", err) < 0 ||
        refuse_flag(L, "clip.use_silu", "a SiLU vision tower", err) < 0)
        return -1;

    /* Projector type: absent in 2023 files, which are all "mlp". */
    rc = gguf_get_str(L->f, "clip.projector_type", &s, err);
    if (rc < 0)
        return -1;
    if (rc == 0 && !gguf_str_eq(s, "mlp"))
        return gl_err(err, "%s: projector type '%.*s' is not supported yet", L->path,
                      (int)(s.len > 64 ? 64 : s.len), s.ptr);
    /* mlp plus a mm.3 tensor is Yi-VL's mlp_norm projector. */
    if (gguf_find_tensor(L->f, "mm.3.weight"))
        return gl_err(err, "%s: projector type 'mlp_norm' (Yi-VL, has mm.3.weight) is not "
                      "supported yet", L->path);

    if (get_hp(L, "clip.vision.image_size", 1, 8192, &hp->image_size, err) < 0 ||
        get_hp(L, "clip.vision.patch_size", 1, 1024, &hp->patch_size, err) < 0 ||
        get_hp(L, "clip.vision.embedding_length", 1, 1 << 16, &hp->n_embd, err) < 0 ||
        get_hp(L, "clip.vision.feed_forward_length", 1, 1 << 18, &hp->n_ff, err) < 0 ||
        get_hp(L, "clip.vision.attention.head_count", 1, 1 << 12, &hp->n_head, err) < 0 ||
        get_hp(L, "clip.vision.block_count", 1, 1 << 10, &hp->n_layer, err) < 0)
        return -1;
    rc = gguf_get_f32(L->f, "clip.vision.attention.layer_norm_epsilon", &hp->eps, err);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return gl_err(err, "%s: missing key 'clip.vision.attention.layer_norm_epsilon'", L->path);
    if (!(hp->eps > 0.0f && hp->eps < 1.0f))
        return gl_err(err, "%s: layer_norm_epsilon %g is out of range", L->path, (double)hp->eps);
    hp->use_gelu = false;
    if (gguf_get_bool(L->f, "clip.use_gelu", &hp->use_gelu, err) < 0)
        return -1;
    if (get_rgb(L, "clip.vision.image_mean", hp->mean, err) < 0 ||
        get_rgb(L, "clip.vision.image_std", hp->std, err) < 0)
        return -1;
    for (int c = 0; c < 3; c++) {
        if (hp->std[c] == 0.0f)
            return gl_err(err, "%s: clip.vision.image_std[%d] is zero", L->path, c);
        /* LLaVA's expand2square colour: tuple(int(x * 255) for x in image_mean). */
        float v = hp->mean[c] * 255.0f;
        hp->pad_rgb[c] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
    }

    if (hp->image_size % hp->patch_size != 0)
        return gl_err(err, "%s: image size %d is not a multiple of the patch size %d", L->path,
                      hp->image_size, hp->patch_size);
    if (hp->n_embd % hp->n_head != 0)
        return gl_err(err, "%s: embedding length %d is not a multiple of the head count %d",
                      L->path, hp->n_embd, hp->n_head);
    m->n_side = hp->image_size / hp->patch_size;
    if ((int64_t)m->n_side * m->n_side > (1 << 20))
        return gl_err(err, "%s: %d x %d patches is too many", L->path, m->n_side, m->n_side);
    m->n_patch = m->n_side * m->n_side;
    m->n_pos = m->n_patch + 1;
    m->patch_k = 3 * hp->patch_size * hp->patch_size;
    m->d_head = hp->n_embd / hp->n_head;
    return 0;
}

static int load_layer(struct loader *L, int il, char **err)
{
    clip_model *m = L->m;
    struct clip_layer *ly = &m->layers[il];
    const int64_t D = m->hp.n_embd, F = m->hp.n_ff;
    char nm[96];
#define NAME(suffix) (snprintf(nm, sizeof nm, "v.blk.%d.%s", il, suffix), nm)
    if (bind_mat(L, NAME("attn_q.weight"), D, D, &ly->q, err) < 0 ||
        bind_vec(L, NAME("attn_q.bias"), D, false, &ly->q_b, err) < 0 ||
        bind_mat(L, NAME("attn_k.weight"), D, D, &ly->k, err) < 0 ||
        bind_vec(L, NAME("attn_k.bias"), D, false, &ly->k_b, err) < 0 ||
        bind_mat(L, NAME("attn_v.weight"), D, D, &ly->v, err) < 0 ||
        bind_vec(L, NAME("attn_v.bias"), D, false, &ly->v_b, err) < 0 ||
        bind_mat(L, NAME("attn_out.weight"), D, D, &ly->o, err) < 0 ||
        bind_vec(L, NAME("attn_out.bias"), D, false, &ly->o_b, err) < 0 ||
        bind_vec(L, NAME("ln1.weight"), D, false, &ly->ln1_w, err) < 0 ||
        bind_vec(L, NAME("ln1.bias"), D, false, &ly->ln1_b, err) < 0 ||
        /* The converter's names are swapped: ffn_down is fc1 (D -> F). */
        bind_mat(L, NAME("ffn_down.weight"), D, F, &ly->fc1, err) < 0 ||
        bind_vec(L, NAME("ffn_down.bias"), F, false, &ly->fc1_b, err) < 0 ||
        bind_mat(L, NAME("ffn_up.weight"), F, D, &ly->fc2, err) < 0 ||
        bind_vec(L, NAME("ffn_up.bias"), D, false, &ly->fc2_b, err) < 0 ||
        bind_vec(L, NAME("ln2.weight"), D, false, &ly->ln2_w, err) < 0 ||
        bind_vec(L, NAME("ln2.bias"), D, false, &ly->ln2_b, err) < 0)
        return -1;
#undef NAME
    return 0;
}

static int load_tensors(struct loader *L, char **err)
{
    clip_model *m = L->m;
    const int64_t D = m->hp.n_embd, p = m->hp.patch_size;

    /* Projector first: its shapes give E and n_out. */
    const struct gguf_tensor *t = gguf_find_tensor(L->f, "mm.0.weight");
    if (!t)
        return gl_err(err, "%s: missing tensor 'mm.0.weight'", L->path);
    if (t->n_dims != 2 || t->ne[1] < 1 || t->ne[1] > (1 << 18)) {
        char got[96];
        fmt_shape(got, sizeof got, t->ne, t->n_dims);
        return gl_err(err, "%s: tensor 'mm.0.weight' has shape %s, expected [%lld, E]", L->path,
                      got, (long long)D);
    }
    m->n_mid = (int)t->ne[1];
    if (bind_mat(L, "mm.0.weight", D, m->n_mid, &m->mm0, err) < 0 ||
        bind_vec(L, "mm.0.bias", m->n_mid, false, &m->mm0_b, err) < 0)
        return -1;
    t = gguf_find_tensor(L->f, "mm.2.weight");
    if (!t)
        return gl_err(err, "%s: missing tensor 'mm.2.weight'", L->path);
    if (t->n_dims != 2 || t->ne[1] < 1 || t->ne[1] > (1 << 18)) {
        char got[96];
        fmt_shape(got, sizeof got, t->ne, t->n_dims);
        return gl_err(err, "%s: tensor 'mm.2.weight' has shape %s, expected [%d, n_out]",
                      L->path, got, m->n_mid);
    }
    m->hp.n_out = (int)t->ne[1];
    if (bind_mat(L, "mm.2.weight", m->n_mid, m->hp.n_out, &m->mm2, err) < 0 ||
        bind_vec(L, "mm.2.bias", m->hp.n_out, false, &m->mm2_b, err) < 0)
        return -1;

    /* Patch embedding: a conv kernel [p, p, 3, D] (kx fastest, then ky, then
     * channel) is, row by row, a [D][3*p*p] matrix whose row order matches
     * the im2col order (c, ky, kx). Only float types: a row of p values is
     * not a whole number of quantization blocks. */
    int64_t pe[4] = {p, p, 3, D};
    t = find_shaped(L, "v.patch_embd.weight", 4, pe, false, err);
    if (!t)
        return -1;
    if (t->type != GL_TYPE_F32 && t->type != GL_TYPE_F16 && t->type != GL_TYPE_BF16)
        return gl_err(err, "%s: tensor 'v.patch_embd.weight' has type %s, expected f16 or f32",
                      L->path, type_name(t->type));
    m->patch_w.data = t->data;
    m->patch_w.type = t->type;
    m->patch_w.n_in = m->patch_k;
    m->patch_w.n_out = D;
    m->patch_w.row_bytes = gl_row_size(t->type, m->patch_k);
    if (!(m->patch_w32 = to_f32(L, t, err)))
        return -1;
    if (bind_vec(L, "v.patch_embd.bias", D, true, &m->patch_b, err) < 0 ||
        bind_vec(L, "v.class_embd", D, false, &m->class_embd, err) < 0)
        return -1;

    int64_t ps[2] = {D, m->n_pos};
    t = find_shaped(L, "v.position_embd.weight", 2, ps, false, err);
    if (!t || !(m->pos_embd = to_f32(L, t, err)))
        return -1;
    if (bind_vec(L, "v.pre_ln.weight", D, false, &m->pre_ln_w, err) < 0 ||
        bind_vec(L, "v.pre_ln.bias", D, false, &m->pre_ln_b, err) < 0)
        return -1;

    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers)
        return gl_err(err, "%s: out of memory", L->path);
    for (int il = 0; il < m->hp.n_layer; il++)
        if (load_layer(L, il, err) < 0)
            return -1;
    return 0;
}

clip_model *clip_load(const gguf_file *f, char **err)
{
    clip_model *m = calloc(1, sizeof *m);
    if (!m) {
        gl_err(err, "out of memory");
        return NULL;
    }
    struct loader L = {.m = m, .f = f, .path = gguf_path(f)};
    if (!L.path)
        L.path = "(mmproj)";
    m->f = f;
    if (load_hparams(&L, err) < 0 || load_tensors(&L, err) < 0)
        goto fail;
    return m;
fail:
    clip_free(m);
    return NULL;
}

static void state_free(struct clip_state *st)
{
    gl_afree(st->x);
    gl_afree(st->h);
    gl_afree(st->q);
    gl_afree(st->k);
    gl_afree(st->v);
    gl_afree(st->ff);
    gl_afree(st->cols);
    gl_afree(st->mid);
    gl_afree(st->scores);
    gl_afree(st->wtile);
    gl_afree(st->gbuf);
    gl_afree(st->apack);
    gl_scratch_free(&st->scratch);
    memset(st, 0, sizeof *st);
}

void clip_free(clip_model *m)
{
    if (!m)
        return;
    state_free(&m->st);
    for (int i = 0; i < m->n_owned; i++)
        gl_afree(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m);
}

const struct clip_hparams *clip_hparams(const clip_model *m) { return &m->hp; }
int clip_n_rows(const clip_model *m) { return m->n_patch; }
int clip_n_out(const clip_model *m) { return m->hp.n_out; }

/* -------------------------------------------------------------- run state */

static float *alloc_floats(size_t a, size_t b, bool *oom)
{
    uint64_t n;
    if (!gl_mul_ok(a, b, &n) || !gl_mul_ok(n, sizeof(float), &n) || n > SIZE_MAX) {
        *oom = true;
        return NULL;
    }
    float *p = gl_amalloc((size_t)n);
    if (!p)
        *oom = true;
    return p;
}

/* Rows of weight tile the LLAVA-mode product dequantizes at a time. */
static int64_t wtile_rows(int64_t n_in)
{
    /* Up to 4 MB of f32 and 256 rows: each sgemm call packs all activation
     * rows again, so narrow tiles pay that many times over. */
    int64_t r = ((int64_t)1 << 20) / n_in;
    return r < 16 ? 16 : r > 256 ? 256 : r / 16 * 16;
}

/* Query rows per block of the packed-kernel attention: the block's scores
 * (112 x 577 floats) and their packed copy stay in L2 with K and V. */
#define ATTN_ROWS (8 * GL_GEMM_MR)

/* Floats of one thread's attention buffer: an N x N score matrix and one
 * head's V transposed (dh x N) for sgemm and the compat mode; for the packed
 * kernel K and V of a head packed, a block's scores and their packing. */
static size_t attn_slot(const clip_model *m)
{
    const int64_t N = m->n_pos, dh = m->d_head, R = ATTN_ROWS < N ? ATTN_ROWS : N;
    size_t plain = (size_t)N * (size_t)N + (size_t)dh * (size_t)N;
    size_t packed = gl_gemm_b_floats(N, dh) + gl_gemm_b_floats(dh, N) + (size_t)(R * N) +
                    gl_gemm_a_floats(R, N > dh ? N : dh);
    packed += 64;                                /* room to align the parts */
    /* Whole cache lines, so every thread's slot starts 64-byte aligned. */
    return ((plain > packed ? plain : packed) + 15) / 16 * 16;
}

/* Activations packed for the fast kernel: the widest input of any product. */
static size_t apack_floats(const clip_model *m)
{
    int64_t k = m->hp.n_embd;
    const int64_t ks[] = {m->hp.n_ff, m->n_mid, m->patch_k};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        k = ks[i] > k ? ks[i] : k;
    return gl_gemm_a_floats(m->n_pos, k);
}

/* need_wtile: the sgemm path of LLAVA mode runs; need_apack: the packed one. */
static int state_ready(clip_model *m, int n_threads, bool need_wtile, bool need_apack,
                       char **err)
{
    struct clip_state *st = &m->st;
    const size_t N = (size_t)m->n_pos, D = (size_t)m->hp.n_embd, F = (size_t)m->hp.n_ff;
    bool oom = false;

    if (!st->ready) {
        st->x = alloc_floats(N, D, &oom);
        st->h = alloc_floats(N, D, &oom);
        st->q = alloc_floats(N, D, &oom);
        st->k = alloc_floats(N, D, &oom);
        st->v = alloc_floats(N, D, &oom);
        st->ff = alloc_floats(N, F, &oom);
        st->cols = alloc_floats((size_t)m->n_patch, (size_t)m->patch_k, &oom);
        st->mid = alloc_floats((size_t)m->n_patch, (size_t)m->n_mid, &oom);
        if (oom)
            goto fail;
        /* The largest tile any weight of the model needs. */
        size_t most = 0;
        const int64_t ins[] = {m->hp.n_embd, m->hp.n_ff, m->n_mid};
        for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
            size_t t = (size_t)(wtile_rows(ins[i]) * ins[i]);
            if (t > most)
                most = t;
        }
        st->wtile_floats = most;
        st->ready = true;
    }
    if (st->n_slots < n_threads) {
        gl_afree(st->scores);
        gl_afree(st->gbuf);
        st->n_slots = 0;
        st->scores = alloc_floats(attn_slot(m), (size_t)n_threads, &oom);
        st->gbuf = alloc_floats(gl_gemm_thread_floats(), (size_t)n_threads, &oom);
        if (oom)
            goto fail;
        st->n_slots = n_threads;
    }
    /* The sgemm tiles (4 MB a thread) and the packed activations (10 MB
     * for ViT-L) only exist for the path that uses them. */
    if (need_wtile && st->n_wtile < n_threads) {
        gl_afree(st->wtile);
        st->n_wtile = 0;
        if (!(st->wtile = alloc_floats(st->wtile_floats, (size_t)n_threads, &oom)))
            goto fail;
        st->n_wtile = n_threads;
    }
    if (need_apack && !st->apack) {
        st->apack_floats = apack_floats(m);
        if (!(st->apack = alloc_floats(st->apack_floats, 1, &oom)))
            goto fail;
    }
    return 0;
fail:
    state_free(st);
    return gl_err(err, "%s: out of memory for the vision tower's activations", gguf_path(m->f));
}

/* ------------------------------------------------------ matrix products */

/* The sgemm calls below are issued from inside the pool's jobs, each on its
 * own slice, so OpenBLAS must not fan out itself: pool.c sets it to one
 * thread for the process when a pool is created (with a NULL pool there is
 * nothing to collide with). */

/* Y[m][n_out] = X[m][n_in] @ W^T with everything in f32: the pool's threads
 * take tiles of weight rows, dequantize each into their own buffer and
 * multiply it with all activation rows. */
struct f32mm {
    const struct gl_weight *w;
    const float *x;
    float *y;
    int64_t m, tile, n_tiles;
    float *wtile;               /* [nth][wtile_floats] */
    size_t wtile_floats;
    atomic_llong next;
};

static void f32mm_worker(void *vctx, int ith, int nth)
{
    struct f32mm *c = vctx;
    const struct gl_weight *w = c->w;
    const struct gl_type_traits *tr = gl_type_traits(w->type);
    float *buf = c->wtile + (size_t)ith * c->wtile_floats;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add(&c->next, 1);
        if (t >= c->n_tiles)
            break;
        int64_t r0 = t * c->tile, r1 = r0 + c->tile < w->n_out ? r0 + c->tile : w->n_out;
        const float *wt;
        if (w->type == GL_TYPE_F32) {
            wt = (const float *)((const char *)w->data + (size_t)r0 * w->row_bytes);
        } else {
            for (int64_t r = r0; r < r1; r++)
                tr->to_float((const char *)w->data + (size_t)r * w->row_bytes,
                             buf + (r - r0) * w->n_in, w->n_in);
            wt = buf;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->m, (int)(r1 - r0),
                    (int)w->n_in, 1.0f, c->x, (int)w->n_in, wt, (int)w->n_in, 0.0f, c->y + r0,
                    (int)w->n_out);
    }
}

/* Packed-kernel path: x[rows][n_in] packed into st->apack once, then any
 * number of products with it. */
static void fast_pack(clip_model *m, gl_pool *pool, const float *x, int64_t rows, int64_t n_in)
{
    assert(gl_gemm_a_floats(rows, n_in) <= m->st.apack_floats);
    gl_gemm_pack_a_pool(pool, m->st.apack, x, (size_t)n_in, rows, n_in);
}

/* y[rows][n_out] = packed x @ W^T + bias, the bias added to the finished sum
 * (as after sgemm). */
static void fast_run(clip_model *m, gl_pool *pool, float *y, int64_t rows,
                     const struct gl_weight *w, const float *bias)
{
    struct gl_gemm_b b = {.data = w->data, .type = w->type, .stride = w->row_bytes};
    gl_gemm_run(pool, m->st.gbuf, y, (size_t)w->n_out, m->st.apack, rows, w->n_in, &b, w->n_out,
                bias);
}

/* y[rows][n_out] = x[rows][n_in] @ W^T (+ bias), in the mode's numerics. */
static int matmul(clip_model *m, gl_pool *pool, enum clip_mode mode, float *y, const float *x,
                  int64_t rows, const struct gl_weight *w, const float *bias, char **err)
{
    if (mode == CLIP_MODE_LLAVA && m->st.fast) {
        fast_pack(m, pool, x, rows, w->n_in);
        fast_run(m, pool, y, rows, w, bias);
        return 0;
    }
    if (mode == CLIP_MODE_LLAMACPP) {
        if (ops_matmul(pool, &m->st.scratch, y, x, rows, w) < 0)
            return gl_err(err, "%s: out of memory in a matrix product", gguf_path(m->f));
    } else {
        struct f32mm c = {
            .w = w, .x = x, .y = y, .m = rows,
            .wtile = m->st.wtile, .wtile_floats = m->st.wtile_floats,
        };
        /* The tiling must not depend on the thread count: sgemm's result for
         * an element can change with the width of the call (edge kernels,
         * small-matrix paths), and 1 and 2 threads should agree bit for bit.
         * About 8 tiles per weight (when it has 128 rows or more) keep
         * two threads busy. */
        int64_t tile = wtile_rows(w->n_in);
        int64_t eighth = (w->n_out + 7) / 8;
        eighth = (eighth + 15) / 16 * 16;
        if (eighth < tile)
            tile = eighth;
        c.tile = tile;
        c.n_tiles = (w->n_out + tile - 1) / tile;
        atomic_init(&c.next, 0);
        gl_pool_run(pool, f32mm_worker, &c);
    }
    if (bias)
        for (int64_t r = 0; r < rows; r++) {
            float *yr = y + r * w->n_out;
            for (int64_t j = 0; j < w->n_out; j++)
                yr[j] += bias[j];
        }
    return 0;
}

/* ------------------------------------------------------------- attention */

/* out[N][D] = softmax(Q K^T) V for each head, Q already scaled by
 * 1/sqrt(d_head). Heads are handed out to the pool's threads; each keeps its
 * own N x N score matrix. No mask: every position sees every other. */
struct attn {
    float *out;
    const float *q, *k, *v;     /* [N][D], head h in columns h*dh .. */
    float *scores;              /* [nth][slot]: [N][N] scores, then [dh][N] V^T */
    size_t slot;
    bool ggml;                  /* the reference's order of operations */
    bool fast;                  /* gemm_f32.c's packed kernel (LLAVA mode) */
    int n_pos, n_embd, d_head, n_head;
    atomic_int next;
};

/* One head as ggml computes clip.cpp's graph (all f32): KQ = mul_mat(K, Q)
 * and KQV = mul_mat(V^T, softmax(KQ)) are too narrow or too odd for
 * tinyBLAS (577 rows, 577-long sums), so every element is one
 * ggml_vec_dot_f32; the softmax is ggml's. */
static void attn_head_ggml(struct attn *c, float *s, int h)
{
    const int N = c->n_pos, D = c->n_embd, dh = c->d_head;
    float *vt = s + (size_t)N * N;
    for (int i = 0; i < N; i++) {
        const float *qi = c->q + (size_t)i * D + h * dh;
        for (int t = 0; t < N; t++)
            s[(size_t)i * N + t] = ops_dot_f32_ggml(c->k + (size_t)t * D + h * dh, qi, dh);
    }
    ops_softmax_ggml(s, N, N, 1.0f);
    for (int t = 0; t < N; t++)
        for (int d = 0; d < dh; d++)
            vt[(size_t)d * N + t] = c->v[(size_t)t * D + h * dh + d];
    for (int i = 0; i < N; i++)
        for (int d = 0; d < dh; d++)
            c->out[(size_t)i * D + h * dh + d] =
                ops_dot_f32_ggml(vt + (size_t)d * N, s + (size_t)i * N, N);
}

/* One head with the packed kernel, ATTN_ROWS query rows at a time: the
 * block's scores, their softmax and P.V stay in L2. s is the thread's slot. */
static void attn_head_fast(struct attn *c, float *s, int h)
{
    const int64_t N = c->n_pos, D = c->n_embd, dh = c->d_head;
    const int64_t R = ATTN_ROWS < N ? ATTN_ROWS : N;
    float *kp = s;                                          /* K_h packed as B: [N][dh]^T */
    float *vp = kp + (gl_gemm_b_floats(N, dh) + 15) / 16 * 16;  /* V_h packed as B: [N][dh] */
    float *sc = vp + (gl_gemm_b_floats(dh, N) + 15) / 16 * 16;  /* [R][N] scores */
    float *ap = sc + (R * N + 15) / 16 * 16;                /* a block of Q or of scores, packed */
    const struct gl_gemm_b kb = {
        .data = c->k + h * dh, .type = GL_TYPE_F32, .stride = (size_t)D * sizeof(float),
    };
    const struct gl_gemm_b vb = {
        .data = c->v + h * dh, .type = GL_TYPE_F32, .k_major = true,
        .stride = (size_t)D * sizeof(float),
    };
    gl_gemm_pack_b(kp, &kb, N, dh);
    gl_gemm_pack_b(vp, &vb, dh, N);
    for (int64_t r0 = 0; r0 < N; r0 += R) {
        int64_t rb = N - r0 < R ? N - r0 : R;
        /* S[rb][N] = Qh[rows] @ Kh^T, softmax by row, Oh[rows] = S @ Vh */
        gl_gemm_pack_a(ap, c->q + r0 * D + h * dh, (size_t)D, rb, dh);
        gl_gemm_packed(sc, (size_t)N, ap, kp, rb, N, dh, NULL);
        gl_gemm_softmax(sc, rb, N, (size_t)N);
        gl_gemm_pack_a(ap, sc, (size_t)N, rb, N);
        gl_gemm_packed(c->out + r0 * D + h * dh, (size_t)D, ap, vp, rb, dh, N, NULL);
    }
}

static void attn_worker(void *vctx, int ith, int nth)
{
    struct attn *c = vctx;
    const int N = c->n_pos, D = c->n_embd, dh = c->d_head;
    float *s = c->scores + (size_t)ith * c->slot;
    (void)nth;
    for (;;) {
        int h = atomic_fetch_add(&c->next, 1);
        if (h >= c->n_head)
            break;
        if (c->ggml) {
            attn_head_ggml(c, s, h);
            continue;
        }
        if (c->fast) {
            attn_head_fast(c, s, h);
            continue;
        }
        /* S[N][N] = Qh[N][dh] @ Kh[N][dh]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, dh, 1.0f, c->q + h * dh, D,
                    c->k + h * dh, D, 0.0f, s, N);
        ops_softmax(s, N, N, 1.0f);
        /* Oh[N][dh] = S[N][N] @ Vh[N][dh] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dh, N, 1.0f, s, N,
                    c->v + h * dh, D, 0.0f, c->out + h * dh, D);
    }
}

/* ---------------------------------------------------------------- encode */

/* Element-wise work over rows, split across the pool. */
enum rowop {
    ROW_QUICK_GELU, ROW_QUICK_GELU_VEC, ROW_QUICK_GELU_TAB, ROW_GELU_TANH, ROW_GELU_TANH_TAB,
    ROW_GELU_ERF,
};

struct rows_ctx {
    float *x;
    int64_t n;                  /* values per row */
    enum rowop op;
};

static void rows_body(void *vctx, int64_t begin, int64_t end)
{
    struct rows_ctx *c = vctx;
    float *p = c->x + begin * c->n;
    int64_t cnt = (end - begin) * c->n;
    switch (c->op) {
    case ROW_QUICK_GELU: ops_quick_gelu(p, cnt); break;
    case ROW_QUICK_GELU_VEC: gl_gemm_quick_gelu(p, cnt); break;
    case ROW_QUICK_GELU_TAB: ops_quick_gelu_f16tab(p, cnt); break;
    case ROW_GELU_TANH: ops_gelu_tanh(p, cnt); break;
    case ROW_GELU_TANH_TAB: ops_gelu_tanh_f16tab(p, cnt); break;
    case ROW_GELU_ERF: ops_gelu_erf(p, cnt); break;
    }
}

static void rows_apply(gl_pool *pool, float *x, int64_t rows, int64_t n, enum rowop op)
{
    struct rows_ctx c = {.x = x, .n = n, .op = op};
    gl_pool_for(pool, rows, 16, rows_body, &c);
}

/* x[rows][n] += y[rows][n] */
static void add_into(float *x, const float *y, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        x[i] += y[i];
}

/* Patch embedding + CLS + positions into st->h ([N][D]). */
static int embed(clip_model *m, gl_pool *pool, enum clip_mode mode, const float *chw, char **err)
{
    struct clip_state *st = &m->st;
    const int S = m->hp.image_size, p = m->hp.patch_size, side = m->n_side, K = m->patch_k;
    const int64_t D = m->hp.n_embd;

    /* im2col: cols[py*side+px][c*p*p + ky*p + kx] = chw[c][py*p+ky][px*p+kx] */
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++) {
            float *row = st->cols + ((size_t)py * side + px) * K;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < p; ky++) {
                    const float *src = chw + ((size_t)c * S + (size_t)py * p + ky) * S +
                                       (size_t)px * p;
                    memcpy(row + (c * p + ky) * p, src, (size_t)p * sizeof *src);
                }
        }

    /* Patches go to rows 1..P, CLS is row 0. llama.cpp's im2col runs in the
     * kernel's type (f16): ops_matmul's conversion of the activations to the
     * f16 kernel's dot type is that rounding. The faithful mode uses the f32
     * copy of the kernel and keeps the pixels f32. */
    float *patches = st->h + D;
    if (mode == CLIP_MODE_LLAMACPP) {
        if (matmul(m, pool, mode, patches, st->cols, m->n_patch, &m->patch_w, m->patch_b,
                   err) < 0)
            return -1;
    } else {
        struct gl_weight w32 = {
            .data = m->patch_w32, .type = GL_TYPE_F32, .n_in = K, .n_out = D,
            .row_bytes = (size_t)K * sizeof(float),
        };
        if (matmul(m, pool, mode, patches, st->cols, m->n_patch, &w32, m->patch_b, err) < 0)
            return -1;
    }
    memcpy(st->h, m->class_embd, (size_t)D * sizeof(float));
    add_into(st->h, m->pos_embd, (int64_t)m->n_pos * D);
    return 0;
}

/* One pre-norm transformer block on st->x ([N][D]). */
static int block(clip_model *m, gl_pool *pool, enum clip_mode mode, const struct clip_layer *ly,
                 char **err)
{
    struct clip_state *st = &m->st;
    const int64_t N = m->n_pos, D = m->hp.n_embd, F = m->hp.n_ff;
    const float eps = m->hp.eps;

    /* Attention. */
    ops_layernorm(st->h, st->x, ly->ln1_w, ly->ln1_b, N, D, eps);
    if (mode == CLIP_MODE_LLAVA && st->fast) {
        /* Q, K and V share one packing of their input. */
        fast_pack(m, pool, st->h, N, D);
        fast_run(m, pool, st->q, N, &ly->q, ly->q_b);
        fast_run(m, pool, st->k, N, &ly->k, ly->k_b);
        fast_run(m, pool, st->v, N, &ly->v, ly->v_b);
    } else if (matmul(m, pool, mode, st->q, st->h, N, &ly->q, ly->q_b, err) < 0 ||
               matmul(m, pool, mode, st->k, st->h, N, &ly->k, ly->k_b, err) < 0 ||
               matmul(m, pool, mode, st->v, st->h, N, &ly->v, ly->v_b, err) < 0) {
        return -1;
    }
    /* Both CLIP and ggml's graph scale Q (not the scores). */
    const float scale = 1.0f / sqrtf((float)m->d_head);
    for (int64_t i = 0; i < N * D; i++)
        st->q[i] *= scale;
    struct attn a = {
        .out = st->h, .q = st->q, .k = st->k, .v = st->v, .scores = st->scores,
        .slot = attn_slot(m), .ggml = mode == CLIP_MODE_LLAMACPP,
        .fast = mode == CLIP_MODE_LLAVA && st->fast,
        .n_pos = (int)N, .n_embd = (int)D, .d_head = m->d_head, .n_head = m->hp.n_head,
    };
    atomic_init(&a.next, 0);
    gl_pool_run(pool, attn_worker, &a);
    if (matmul(m, pool, mode, st->q, st->h, N, &ly->o, ly->o_b, err) < 0)
        return -1;
    add_into(st->x, st->q, N * D);

    /* MLP: fc1 -> activation -> fc2. */
    ops_layernorm(st->h, st->x, ly->ln2_w, ly->ln2_b, N, D, eps);
    if (matmul(m, pool, mode, st->ff, st->h, N, &ly->fc1, ly->fc1_b, err) < 0)
        return -1;
    enum rowop act;
    if (mode == CLIP_MODE_LLAMACPP)
        act = m->hp.use_gelu ? ROW_GELU_TANH_TAB : ROW_QUICK_GELU_TAB;
    else    /* HF's hidden_act "gelu" (what use_gelu records) is the erf form. */
        act = m->hp.use_gelu ? ROW_GELU_ERF : st->fast ? ROW_QUICK_GELU_VEC : ROW_QUICK_GELU;
    rows_apply(pool, st->ff, N, F, act);
    if (matmul(m, pool, mode, st->q, st->ff, N, &ly->fc2, ly->fc2_b, err) < 0)
        return -1;
    add_into(st->x, st->q, N * D);
    return 0;
}

int clip_encode(clip_model *m, gl_pool *pool, const float *chw, const struct clip_opts *opts,
                float *out, char **err)
{
    static const struct clip_opts defaults = {.mode = CLIP_MODE_LLAVA};
    if (!opts)
        opts = &defaults;
    enum clip_mode mode = opts->mode;
    if (mode != CLIP_MODE_LLAVA && mode != CLIP_MODE_LLAMACPP)
        return gl_err(err, "clip_encode: unknown mode %d", (int)mode);
    struct clip_state *st = &m->st;
    bool fast = mode == CLIP_MODE_LLAVA && gl_gemm_fast();
    if (state_ready(m, gl_pool_size(pool), mode == CLIP_MODE_LLAVA && !fast, fast, err) < 0)
        return -1;
    st->fast = fast;
    const int64_t N = m->n_pos, D = m->hp.n_embd;

    /* llama.cpp runs one block fewer than the file holds (FORMAT.md 5). */
    int n_blocks = mode == CLIP_MODE_LLAMACPP ? m->hp.n_layer - 1 : m->hp.n_layer;

    if (opts->should_abort && opts->should_abort(opts->user))
        return -2;
    if (embed(m, pool, mode, chw, err) < 0)
        return -1;
    ops_layernorm(st->x, st->h, m->pre_ln_w, m->pre_ln_b, N, D, m->hp.eps);

    for (int il = 0; il < n_blocks; il++) {
        if (opts->should_abort && opts->should_abort(opts->user))
            return -2;
        if (block(m, pool, mode, &m->layers[il], err) < 0)
            return -1;
        if (opts->on_progress)
            opts->on_progress(opts->user, (double)(il + 1) / (n_blocks + 1));
    }
    if (opts->should_abort && opts->should_abort(opts->user))
        return -2;

    /* Projector over the patch rows (CLS dropped): mm.2(gelu(mm.0 y)). */
    const float *patches = st->x + D;
    if (matmul(m, pool, mode, st->mid, patches, m->n_patch, &m->mm0, m->mm0_b, err) < 0)
        return -1;
    rows_apply(pool, st->mid, m->n_patch, m->n_mid,
               mode == CLIP_MODE_LLAMACPP ? ROW_GELU_TANH_TAB : ROW_GELU_ERF);
    if (matmul(m, pool, mode, out, st->mid, m->n_patch, &m->mm2, m->mm2_b, err) < 0)
        return -1;
    if (opts->on_progress)
        opts->on_progress(opts->user, 1.0);
    return 0;
}
