/*
 * llama.c - the LLaMA decoder: weights bound to the GGUF mapping, a KV
 * cache, and forward() over a batch of positions (prefill) or one (decode).
 *
 * Graph (FORMAT.md §4), per layer:
 *   h = rmsnorm(x) * attn_norm
 *   q, k, v = Wq h, Wk h, Wv h;  q, k roped (adjacent pairs)
 *   x += Wo attention(q, K cache, V cache)           causal, grouped-query
 *   h = rmsnorm(x) * ffn_norm
 *   x += Wdown(silu(Wgate h) * (Wup h))
 * logits = Woutput(rmsnorm(x_last) * output_norm)
 */
#include "config.h"

#include "glimpse/llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/ops.h"
#include "glimpse/quant.h"
#include "util.h"

/* ------------------------------------------------------------ weights */

struct llama_layer {
    const float *attn_norm;     /* (E) */
    struct gl_weight wq;        /* (E -> E) */
    struct gl_weight wk;        /* (E -> n_head_kv*hd) */
    struct gl_weight wv;        /* (E -> n_head_kv*hd) */
    struct gl_weight wo;        /* (E -> E) */
    const float *ffn_norm;      /* (E) */
    struct gl_weight w_gate;    /* (E -> F) */
    struct gl_weight w_up;      /* (E -> F) */
    struct gl_weight w_down;    /* (F -> E) */
};

struct llama_model {
    struct llama_hparams hp;
    const gguf_file *file;
    struct gl_weight tok_embd;  /* (V rows of E) */
    const float *output_norm;   /* (E) */
    struct gl_weight output;    /* (E -> V); token_embd when tied */
    struct llama_layer *layers; /* [n_layer] */
    uint64_t weight_bytes;
};

/* ------------------------------------------------------------ run state */

struct llama_state {
    const llama_model *m;
    struct llama_state_params p;
    int pos;                    /* positions filled in the cache */
    size_t kv_row;              /* bytes of one position of a layer: n_head_kv*hd elements */
    /* Head-major: a head's positions are contiguous, so a decoded token's
     * attention streams each head's keys and values in order instead of
     * taking hd values every n_head_kv*hd (5 -> 20+ GB/s of cache read). */
    uint8_t *k_cache;           /* (n_layer, n_head_kv, n_ctx, hd) kv_type */
    uint8_t *v_cache;           /* same */
    /* activations for one chunk of up to n_batch rows */
    float *x;                   /* (n_batch, E) residual stream */
    float *h;                   /* (n_batch, E) normed input of a sub-block */
    float *q;                   /* (n_batch, E) */
    float *k;                   /* (n_batch, n_head_kv*hd) */
    float *v;                   /* (n_batch, n_head_kv*hd) */
    float *att;                 /* (n_batch, E) attention output */
    float *g;                   /* (n_batch, F) gate */
    float *u;                   /* (n_batch, F) up */
    float *logits_row;          /* (E) last row for the head */
    int32_t *rope_pos;          /* (n_batch) */
    struct gl_scratch scratch;
};

/* ------------------------------------------------------------ loading */

static const struct gguf_tensor *need(const gguf_file *f, const char *name, int64_t ne0,
                                      int64_t ne1, char **err)
{
    const struct gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        gl_err(err, "%s: tensor '%s' is missing", gguf_path(f), name);
        return NULL;
    }
    int64_t want_dims = ne1 > 0 ? 2 : 1;
    bool okshape = t->ne[0] == ne0 && (ne1 > 0 ? t->ne[1] == ne1 : t->ne[1] == 1) &&
                   t->ne[2] == 1 && t->ne[3] == 1;
    if (!okshape) {
        if (want_dims == 1)
            gl_err(err, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld]", gguf_path(f),
                   name, (long long)t->ne[0], (long long)t->ne[1], (long long)ne0);
        else
            gl_err(err, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                   gguf_path(f), name, (long long)t->ne[0], (long long)t->ne[1], (long long)ne0,
                   (long long)ne1);
        return NULL;
    }
    return t;
}

static int bind_weight(const gguf_file *f, const char *name, int64_t n_in, int64_t n_out,
                       struct gl_weight *w, uint64_t *bytes, char **err)
{
    const struct gguf_tensor *t = need(f, name, n_in, n_out, err);
    if (!t)
        return -1;
    const struct gl_type_traits *tr = gl_type_traits(t->type);
    if (!tr || !tr->vec_dot)
        return gl_err(err, "%s: tensor '%s' has type %s, which cannot be used as a weight",
                      gguf_path(f), name, gl_type_name(t->type) ? gl_type_name(t->type) : "?");
    if (n_in % tr->blck_size)
        return gl_err(err, "%s: tensor '%s': row of %lld is not a multiple of %s's block of %d",
                      gguf_path(f), name, (long long)n_in, tr->name, tr->blck_size);
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = gl_row_size(t->type, n_in);
    *bytes += t->nbytes;
    return 0;
}

/* A 1-D f32 norm weight. */
static const float *bind_norm(const gguf_file *f, const char *name, int64_t n, uint64_t *bytes,
                              char **err)
{
    const struct gguf_tensor *t = need(f, name, n, 0, err);
    if (!t)
        return NULL;
    if (t->type != GL_TYPE_F32) {
        gl_err(err, "%s: tensor '%s' has type %s, expected f32", gguf_path(f), name,
               gl_type_name(t->type));
        return NULL;
    }
    *bytes += t->nbytes;
    return t->data;
}

static int get_hp(const gguf_file *f, const char *key, bool required, uint32_t def, int *out,
                  char **err)
{
    uint32_t v = def;
    int r = gguf_get_u32(f, key, &v, err);
    if (r < 0)
        return -1;
    if (r == 1 && required)
        return gl_err(err, "%s: metadata key '%s' is missing", gguf_path(f), key);
    if (v == 0 || v > (1u << 24))
        return gl_err(err, "%s: metadata '%s' = %u is out of range", gguf_path(f), key, v);
    *out = (int)v;
    return 0;
}

llama_model *llama_load(const gguf_file *f, char **err)
{
    struct gguf_str arch;
    int r = gguf_get_str(f, "general.architecture", &arch, err);
    if (r < 0)
        return NULL;
    if (r == 1) {
        gl_err(err, "%s: no general.architecture: not a model file glimpse understands", gguf_path(f));
        return NULL;
    }
    if (!gguf_str_eq(arch, "llama")) {
        if (gguf_str_eq(arch, "clip"))
            gl_err(err, "%s is a vision projector (mmproj) file, not a language model: give it with --mmproj",
                   gguf_path(f));
        else
            gl_err(err, "%s: architecture '%.*s' is not supported (glimpse runs 'llama' language models)",
                   gguf_path(f), (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        return NULL;
    }

    llama_model *m = calloc(1, sizeof *m);
    if (!m) {
        gl_err(err, "out of memory");
        return NULL;
    }
    m->file = f;
    struct llama_hparams *hp = &m->hp;
    if (get_hp(f, "llama.embedding_length", true, 0, &hp->n_embd, err) ||
        get_hp(f, "llama.block_count", true, 0, &hp->n_layer, err) ||
        get_hp(f, "llama.attention.head_count", true, 0, &hp->n_head, err) ||
        get_hp(f, "llama.feed_forward_length", true, 0, &hp->n_ff, err) ||
        get_hp(f, "llama.context_length", false, 2048, &hp->n_ctx_train, err))
        goto fail;
    if (get_hp(f, "llama.attention.head_count_kv", false, (uint32_t)hp->n_head, &hp->n_head_kv, err))
        goto fail;
    if (hp->n_embd % hp->n_head) {
        gl_err(err, "%s: embedding width %d is not a multiple of %d heads", gguf_path(f), hp->n_embd,
               hp->n_head);
        goto fail;
    }
    if (hp->n_head % hp->n_head_kv) {
        gl_err(err, "%s: %d heads cannot share %d key/value heads", gguf_path(f), hp->n_head,
               hp->n_head_kv);
        goto fail;
    }
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->head_dim % 2) {
        gl_err(err, "%s: head size %d is odd: rotary embedding needs pairs", gguf_path(f), hp->head_dim);
        goto fail;
    }
    int n_rot = hp->head_dim;
    if (get_hp(f, "llama.rope.dimension_count", false, (uint32_t)hp->head_dim, &n_rot, err))
        goto fail;
    if (n_rot != hp->head_dim) {
        gl_err(err, "%s: partial rotary embedding (%d of %d) is not supported", gguf_path(f), n_rot,
               hp->head_dim);
        goto fail;
    }
    hp->rope_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    if (gguf_get_f32(f, "llama.rope.freq_base", &hp->rope_base, err) < 0 ||
        gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &hp->rms_eps, err) < 0)
        goto fail;
    if (!(hp->rope_base > 0.0f) || !(hp->rms_eps >= 0.0f) || !isfinite(hp->rope_base)) {
        gl_err(err, "%s: rope base or rms epsilon out of range", gguf_path(f));
        goto fail;
    }

    const int64_t E = hp->n_embd, F = hp->n_ff, KV = (int64_t)hp->n_head_kv * hp->head_dim;
    const struct gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) {
        gl_err(err, "%s: tensor 'token_embd.weight' is missing", gguf_path(f));
        goto fail;
    }
    if (te->ne[1] < 1 || te->ne[1] > (1 << 22)) {
        gl_err(err, "%s: token_embd.weight has %lld rows: not a vocabulary size", gguf_path(f),
               (long long)te->ne[1]);
        goto fail;
    }
    hp->n_vocab = (int)te->ne[1];
    uint64_t bytes = 0;
    if (bind_weight(f, "token_embd.weight", E, hp->n_vocab, &m->tok_embd, &bytes, err))
        goto fail;
    if (!gl_type_traits(m->tok_embd.type)->to_float) {
        gl_err(err, "%s: token_embd.weight cannot be read as floats", gguf_path(f));
        goto fail;
    }
    bytes = 0; /* the embedding table is not read per token: only one row */
    if (!(m->output_norm = bind_norm(f, "output_norm.weight", E, &bytes, err)))
        goto fail;
    if (gguf_find_tensor(f, "output.weight")) {
        if (bind_weight(f, "output.weight", E, hp->n_vocab, &m->output, &bytes, err))
            goto fail;
    } else {
        m->output = m->tok_embd;
        hp->tied_output = true;
        bytes += gl_row_size(m->output.type, E) * (uint64_t)hp->n_vocab;
    }

    /* Every layer has nine tensors of its own: a block count the file
     * cannot hold is refused before the layer table is allocated for it. */
    if ((int64_t)hp->n_layer * 9 > gguf_n_tensors(f)) {
        gl_err(err, "%s: llama.block_count is %d but the file has only %lld tensors (9 per layer)",
               gguf_path(f), hp->n_layer, (long long)gguf_n_tensors(f));
        goto fail;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        gl_err(err, "out of memory");
        goto fail;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        struct llama_layer *L = &m->layers[il];
        char nm[96];
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)
        if (!(L->attn_norm = bind_norm(f, NAME("attn_norm.weight"), E, &bytes, err)) ||
            bind_weight(f, NAME("attn_q.weight"), E, E, &L->wq, &bytes, err) ||
            bind_weight(f, NAME("attn_k.weight"), E, KV, &L->wk, &bytes, err) ||
            bind_weight(f, NAME("attn_v.weight"), E, KV, &L->wv, &bytes, err) ||
            bind_weight(f, NAME("attn_output.weight"), E, E, &L->wo, &bytes, err) ||
            !(L->ffn_norm = bind_norm(f, NAME("ffn_norm.weight"), E, &bytes, err)) ||
            bind_weight(f, NAME("ffn_gate.weight"), E, F, &L->w_gate, &bytes, err) ||
            bind_weight(f, NAME("ffn_up.weight"), E, F, &L->w_up, &bytes, err) ||
            bind_weight(f, NAME("ffn_down.weight"), F, E, &L->w_down, &bytes, err))
            goto fail;
#undef NAME
    }
    m->weight_bytes = bytes;
    return m;
fail:
    llama_free(m);
    return NULL;
}

void llama_free(llama_model *m)
{
    if (!m)
        return;
    free(m->layers);
    free(m);
}

const struct llama_hparams *llama_get_hparams(const llama_model *m)
{
    return &m->hp;
}

uint64_t llama_weight_bytes(const llama_model *m)
{
    return m->weight_bytes;
}

/* ------------------------------------------------------------ state */

struct llama_state_params llama_state_default_params(void)
{
    struct llama_state_params p = {.n_ctx = 2048, .kv_type = GL_TYPE_F16, .n_batch = 512};
    return p;
}

static size_t kv_elem_size(int kv_type)
{
    return kv_type == GL_TYPE_F32 ? 4 : 2;
}

uint64_t llama_state_bytes(const llama_model *m, const struct llama_state_params *p)
{
    const struct llama_hparams *hp = &m->hp;
    uint64_t kv = (uint64_t)hp->n_layer * (uint64_t)p->n_ctx * (uint64_t)hp->n_head_kv *
                  (uint64_t)hp->head_dim * kv_elem_size(p->kv_type) * 2;
    uint64_t nb = (uint64_t)(p->n_batch > 0 ? p->n_batch : 512);
    uint64_t act = nb * ((uint64_t)hp->n_embd * 4 + (uint64_t)hp->n_head_kv * hp->head_dim * 2 +
                         (uint64_t)hp->n_ff * 2) * 4;
    return kv + act;
}

llama_state *llama_state_new(const llama_model *m, const struct llama_state_params *p, char **err)
{
    const struct llama_hparams *hp = &m->hp;
    if (p->n_ctx <= 0 || p->n_ctx > (1 << 20))
        return gl_err(err, "context size %d is out of range", p->n_ctx), NULL;
    if (p->kv_type != GL_TYPE_F16 && p->kv_type != GL_TYPE_F32)
        return gl_err(err, "the KV cache can be f16 or f32"), NULL;
    llama_state *s = calloc(1, sizeof *s);
    if (!s)
        return gl_err(err, "out of memory"), NULL;
    s->m = m;
    s->p = *p;
    if (s->p.n_batch <= 0)
        s->p.n_batch = 512;
    const size_t nb = (size_t)s->p.n_batch, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t KV = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    s->kv_row = KV * kv_elem_size(p->kv_type);
    uint64_t cache;
    if (!gl_mul_ok((uint64_t)hp->n_layer * (uint64_t)p->n_ctx, s->kv_row, &cache) ||
        cache > SIZE_MAX / 2) {
        gl_err(err, "KV cache for %d positions is too large", p->n_ctx);
        goto fail;
    }
    s->k_cache = gl_amalloc(cache);
    s->v_cache = gl_amalloc(cache);
    s->x = gl_amalloc(nb * E * sizeof(float));
    s->h = gl_amalloc(nb * E * sizeof(float));
    s->q = gl_amalloc(nb * E * sizeof(float));
    s->k = gl_amalloc(nb * KV * sizeof(float));
    s->v = gl_amalloc(nb * KV * sizeof(float));
    s->att = gl_amalloc(nb * E * sizeof(float));
    s->g = gl_amalloc(nb * F * sizeof(float));
    s->u = gl_amalloc(nb * F * sizeof(float));
    s->logits_row = gl_amalloc(E * sizeof(float));
    s->rope_pos = gl_amalloc(nb * sizeof(int32_t));
    if (!s->k_cache || !s->v_cache || !s->x || !s->h || !s->q || !s->k || !s->v || !s->att ||
        !s->g || !s->u || !s->logits_row || !s->rope_pos) {
        gl_err(err, "out of memory for a context of %d positions (%.1f MiB)", p->n_ctx,
               (double)llama_state_bytes(m, p) / (1 << 20));
        goto fail;
    }
    return s;
fail:
    llama_state_free(s);
    return NULL;
}

void llama_state_free(llama_state *s)
{
    if (!s)
        return;
    gl_afree(s->k_cache);
    gl_afree(s->v_cache);
    gl_afree(s->x);
    gl_afree(s->h);
    gl_afree(s->q);
    gl_afree(s->k);
    gl_afree(s->v);
    gl_afree(s->att);
    gl_afree(s->g);
    gl_afree(s->u);
    gl_afree(s->logits_row);
    gl_afree(s->rope_pos);
    gl_scratch_free(&s->scratch);
    free(s);
}

int llama_state_pos(const llama_state *s)
{
    return s->pos;
}

int llama_state_n_ctx(const llama_state *s)
{
    return s->p.n_ctx;
}

void llama_state_truncate(llama_state *s, int pos)
{
    if (pos >= 0 && pos < s->pos)
        s->pos = pos;
}

/* ------------------------------------------------------------ forward */

/* Store n rows of k/v (f32) into layer il's cache at positions pos0.. */
static void kv_store(llama_state *s, int il, int pos0, int n)
{
    const struct llama_hparams *hp = &s->m->hp;
    const size_t hd = (size_t)hp->head_dim, KV = (size_t)hp->n_head_kv * hd;
    const size_t es = kv_elem_size(s->p.kv_type);
    const size_t layer_off = (size_t)il * (size_t)s->p.n_ctx * s->kv_row;
    const size_t head_bytes = (size_t)s->p.n_ctx * hd * es;
    for (int i = 0; i < n; i++) {
        const float *ks = s->k + (size_t)i * KV, *vs = s->v + (size_t)i * KV;
        for (int g = 0; g < hp->n_head_kv; g++) {
            const size_t off = layer_off + (size_t)g * head_bytes + (size_t)(pos0 + i) * hd * es;
            const float *kh = ks + (size_t)g * hd, *vh = vs + (size_t)g * hd;
            if (s->p.kv_type == GL_TYPE_F16) {
                gl_fp16 *k16 = (gl_fp16 *)(s->k_cache + off), *v16 = (gl_fp16 *)(s->v_cache + off);
                for (size_t d = 0; d < hd; d++) {
                    k16[d] = gl_fp32_to_fp16(kh[d]);
                    v16[d] = gl_fp32_to_fp16(vh[d]);
                }
            } else {
                memcpy(s->k_cache + off, kh, hd * sizeof(float));
                memcpy(s->v_cache + off, vh, hd * sizeof(float));
            }
        }
    }
}

/* One chunk of n rows (n <= n_batch) at positions s->pos .. s->pos+n-1.
 * Returns 0, -1 (OOM), -2 (aborted). */
static int forward_chunk(llama_state *s, gl_pool *pool, const int32_t *tokens, const float *embd,
                         int n, float *logits, const struct llama_abort *ab, char **err)
{
    const llama_model *m = s->m;
    const struct llama_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff;
    const int pos0 = s->pos;

    /* x = token embeddings or the given rows */
    if (tokens) {
        const struct gl_type_traits *tr = gl_type_traits(m->tok_embd.type);
        for (int i = 0; i < n; i++)
            tr->to_float((const uint8_t *)m->tok_embd.data + (size_t)tokens[i] * m->tok_embd.row_bytes,
                         s->x + (size_t)i * E, E);
    } else {
        memcpy(s->x, embd, (size_t)n * (size_t)E * sizeof(float));
    }
    for (int i = 0; i < n; i++)
        s->rope_pos[i] = pos0 + i;

    for (int il = 0; il < hp->n_layer; il++) {
        if (ab && ab->should_abort && ab->should_abort(ab->user))
            return -2;
        const struct llama_layer *L = &m->layers[il];

        /* attention */
        ops_rmsnorm(s->h, s->x, L->attn_norm, n, E, hp->rms_eps);
        {
            float *const ys[3] = { s->q, s->k, s->v };
            const struct gl_weight *const ws[3] = { &L->wq, &L->wk, &L->wv };
            if (ops_matmul_n(pool, &s->scratch, 3, ys, s->h, n, ws))
                goto oom;
        }
        ops_rope(s->q, n, hp->n_head, hp->head_dim, s->rope_pos, hp->rope_base);
        ops_rope(s->k, n, hp->n_head_kv, hp->head_dim, s->rope_pos, hp->rope_base);
        kv_store(s, il, pos0, n);
        const size_t layer_off = (size_t)il * (size_t)s->p.n_ctx * s->kv_row;
        if (ops_attention(pool, &s->scratch, s->att, s->q, n, pos0, s->k_cache + layer_off,
                          s->v_cache + layer_off, s->p.kv_type,
                          (size_t)hp->head_dim * kv_elem_size(s->p.kv_type),
                          (size_t)s->p.n_ctx * (size_t)hp->head_dim * kv_elem_size(s->p.kv_type), hp->n_head,
                          hp->n_head_kv, hp->head_dim))
            goto oom;
        if (ops_matmul(pool, &s->scratch, s->h, s->att, n, &L->wo))
            goto oom;
        ops_add(s->x, s->x, s->h, (int64_t)n * E);

        /* feed-forward */
        ops_rmsnorm(s->h, s->x, L->ffn_norm, n, E, hp->rms_eps);
        {
            float *const ys[2] = { s->g, s->u };
            const struct gl_weight *const ws[2] = { &L->w_gate, &L->w_up };
            if (ops_matmul_n(pool, &s->scratch, 2, ys, s->h, n, ws))
                goto oom;
        }
        ops_silu(s->g, (int64_t)n * F);
        ops_mul(s->g, s->g, s->u, (int64_t)n * F);
        if (ops_matmul(pool, &s->scratch, s->h, s->g, n, &L->w_down))
            goto oom;
        ops_add(s->x, s->x, s->h, (int64_t)n * E);
    }

    if (logits) {
        ops_rmsnorm(s->logits_row, s->x + (size_t)(n - 1) * E, m->output_norm, 1, E, hp->rms_eps);
        if (ops_matmul(pool, &s->scratch, logits, s->logits_row, 1, &m->output))
            goto oom;
    }
    return 0;
oom:
    return gl_err(err, "out of memory during the forward pass");
}

int llama_forward(llama_state *s, gl_pool *pool, const int32_t *tokens, const float *embd, int n,
                  float *logits, const struct llama_abort *ab, char **err)
{
    const struct llama_hparams *hp = &s->m->hp;
    if (n <= 0)
        return gl_err(err, "nothing to process");
    if ((tokens == NULL) == (embd == NULL))
        return gl_err(err, "forward needs either tokens or embedding rows");
    if (n > s->p.n_ctx - s->pos)
        return gl_err(err, "the context is full: %d positions used, %d more needed, %d in all",
                      s->pos, n, s->p.n_ctx);
    if (tokens)
        for (int i = 0; i < n; i++)
            if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
                return gl_err(err, "token id %d is outside the vocabulary (%d tokens)", tokens[i],
                              hp->n_vocab);

    const int start = s->pos;
    for (int done = 0; done < n;) {
        int c = n - done < s->p.n_batch ? n - done : s->p.n_batch;
        bool last = done + c == n;
        int r = forward_chunk(s, pool, tokens ? tokens + done : NULL,
                              embd ? embd + (size_t)done * (size_t)hp->n_embd : NULL, c,
                              last ? logits : NULL, ab, err);
        if (r) {
            s->pos = start;
            return r;
        }
        s->pos += c;
        done += c;
        if (ab && ab->on_progress)
            ab->on_progress(ab->user, done, n);
    }
    return 0;
}
