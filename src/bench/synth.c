/*
 * synth.c - write synthetic LLaVA-1.5 model pairs (see synth.h) through the
 * tests' GGUF writer, every tensor produced by a fill callback at write time.
 *
 * Weight statistics. Real LLaMA / CLIP weights have a standard deviation
 * around 0.02; random block bytes with random scale fields would give
 * anything from zero to NaN. So each block gets a valid, modest scale:
 *   Q4_K  x = d*sc*q - dmin*m, q uniform in 0..15 (mean 7.5, sd 4.6):
 *         sc in 4..8, m = round(7.5*sc), dmin = d ~ 7.2e-4  -> sd ~0.02, mean ~0
 *   Q6_K  x = d*sc*(q-32), q uniform in 0..63 (sd 18.5):
 *         sc in 4..12, d ~ 1.35e-4                          -> sd ~0.02
 *   F16   uniform in [-0.0346, 0.0346]                      -> sd 0.02
 * The quantized bits themselves are the PRNG's: no data-dependent speed
 * exists in these kernels, so random bits time the same as trained ones.
 */
#include "config.h"

#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/prompt.h"
#include "glimpse/quant.h"
#include "../../tests/gguf_writer.h"
#include "util.h"

/* ------------------------------------------------------------ the shapes */

static const struct synth_spec specs[] = {
    {"llava-7b", "LLaVA-1.5-7B: LLaMA-7B Q4_K_M + ViT-L/14-336 f16 mmproj (4.1 + 0.6 GB)",
     32000, 4096, 32, 32, 32, 11008, 4096, 1024, 16, 4096, 23},
    {"llava-tiny", "a tiny pair for tests: width 256, 2 layers + a 3-block 64-wide ViT (15 MB)",
     32000, 256, 2, 8, 8, 768, 2048, 64, 4, 256, 3},
    {"llama-1b", "text only, TinyLlama-1.1B shapes: width 2048, 22 layers, 4 kv heads (0.7 GB)",
     32000, 2048, 22, 32, 4, 5632, 2048, 0, 0, 0, 0},
};

const struct synth_spec *synth_at(int i)
{
    return i >= 0 && i < (int)(sizeof specs / sizeof specs[0]) ? &specs[i] : NULL;
}

const struct synth_spec *synth_find(const char *name)
{
    for (int i = 0; synth_at(i); i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

char *synth_llm_name(const struct synth_spec *s)
{
    return gl_strfmt("synthetic %s Q4_K_M (glimpse-bench)", s->name);
}

/* ------------------------------------------------------------ PRNG */

/* xoshiro256**: fast, and good enough that no kernel could tell. */
struct rng {
    uint64_t s[4];
};

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) { /* splitmix64 */
        seed += 0x9e3779b97f4a7c15ULL;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        r->s[i] = z ^ (z >> 31);
    }
}

/* n bytes (a multiple of 8) of random bits. */
static void rng_fill(struct rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng_next(r);
        memcpy(p + i, &v, 8);
    }
}

/* uniform in [0, 1) */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static void put_f16(uint8_t *p, float f)
{
    gl_fp16 h = gl_fp32_to_fp16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* ------------------------------------------------------------ fills */

/* What a fill callback needs: the generator (shared by all tensors of a
 * file, so the file is one deterministic stream) and, for f16, a table of
 * 256 values of the wanted distribution indexed by random bytes. */
struct fill {
    struct rng rng;
    gl_fp16 f16_table[256];
    float f32_sd;               /* random f32 tensors */
};

/* q4_K scale fields: 6-bit scale and min of 8 sub-blocks in 12 bytes, the
 * layout quant_impl.h's k4_scale_min() reads. */
static void pack_k4_scales(uint8_t q[12], const int sc[8], const int m[8])
{
    memset(q, 0, 12);
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] & 63);
        q[j + 4] = (uint8_t)(m[j] & 63);
    }
    for (int j = 4; j < 8; j++) {
        q[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
        q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        q[j] |= (uint8_t)((m[j] >> 4) << 6);
    }
}

/* block_q4_K: d, dmin (f16), scales[12], qs[128]: 144 bytes */
static void fill_q4_K(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    struct fill *f = user;
    uint8_t *p = dst;
    size_t nb = (size_t)nrows * row_bytes / 144;
    (void)row0;
    for (size_t b = 0; b < nb; b++, p += 144) {
        uint64_t u = rng_next(&f->rng);
        float d = 7.2e-4f * (0.8f + 0.4f * (float)(u & 0xffff) / 65536.0f);
        int sc[8], m[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = 4 + (int)((u >> (16 + 4 * j)) & 15) % 5;
            m[j] = (15 * sc[j] + 1) / 2;
        }
        put_f16(p, d);
        put_f16(p + 2, d);
        pack_k4_scales(p + 4, sc, m);
        rng_fill(&f->rng, p + 16, 128);
    }
}

/* block_q6_K: ql[128], qh[64], scales[16] (int8), d (f16): 210 bytes */
static void fill_q6_K(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    struct fill *f = user;
    uint8_t *p = dst;
    size_t nb = (size_t)nrows * row_bytes / 210;
    uint8_t bits[192];
    (void)row0;
    for (size_t b = 0; b < nb; b++, p += 210) {
        rng_fill(&f->rng, bits, sizeof bits);
        memcpy(p, bits, 192);
        uint64_t u = rng_next(&f->rng);
        for (int j = 0; j < 16; j++)
            p[192 + j] = (uint8_t)(4 + (int)((u >> (4 * j)) & 15) % 9);
        put_f16(p + 208, 1.35e-4f * (0.8f + 0.4f * (float)rng_unit(&f->rng)));
    }
}

static void fill_f16(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    struct fill *f = user;
    uint8_t *p = dst;
    size_t n = (size_t)nrows * row_bytes / 2;
    (void)row0;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t u = rng_next(&f->rng);
        for (size_t k = 0; k < 8 && i + k < n; k++) {
            gl_fp16 h = f->f16_table[(u >> (8 * k)) & 255];
            memcpy(p + 2 * (i + k), &h, 2);
        }
    }
}

static void fill_f32_rand(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    struct fill *f = user;
    float *p = dst;
    size_t n = (size_t)nrows * row_bytes / sizeof(float);
    (void)row0;
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((rng_unit(&f->rng) * 2.0 - 1.0) * sqrt(3.0) * f->f32_sd);
}

static void fill_ones(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    float *p = dst;
    size_t n = (size_t)nrows * row_bytes / sizeof(float);
    (void)row0;
    (void)user;
    for (size_t i = 0; i < n; i++)
        p[i] = 1.0f;
}

static void fill_init(struct fill *f, uint64_t seed, float sd)
{
    rng_seed(&f->rng, seed);
    f->f32_sd = sd;
    const double a = sd * sqrt(3.0);
    for (int i = 0; i < 256; i++)
        f->f16_table[i] = gl_fp32_to_fp16((float)(((i + 0.5) / 256.0 * 2.0 - 1.0) * a));
}

/* ------------------------------------------------------------ vocabulary */

/* A set of strings, to keep generated pieces unique. */
struct strset {
    char **slot;
    size_t mask;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* 1 if added, 0 if it was there. */
static int strset_add(struct strset *set, char *s)
{
    size_t h = (size_t)fnv(s) & set->mask;
    while (set->slot[h]) {
        if (strcmp(set->slot[h], s) == 0)
            return 0;
        h = (h + 1) & set->mask;
    }
    set->slot[h] = s;
    return 1;
}

struct vocab {
    char **tok;                 /* [n] owned */
    float *score;
    int32_t *type;
    int n, cap;
    struct strset set;
};

#define SPM_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's space */

/* Append a token unless it exists; takes ownership of s. -1 on OOM. */
static int vocab_add(struct vocab *v, char *s, int32_t type)
{
    if (!s)
        return -1;
    if (v->n >= v->cap || !strset_add(&v->set, s)) {
        free(s);
        return 0;
    }
    v->tok[v->n] = s;
    v->type[v->n] = type;
    v->score[v->n] = type == 1 ? -(float)v->n : 0.0f; /* SentencePiece-like: later = rarer */
    v->n++;
    return 0;
}

/* Every "▁"-prefix of each word of text, so SentencePiece merges build the
 * whole word: the leftmost symbol of a word always starts with "▁" and,
 * joined with its right neighbour, is again a prefix in the vocabulary. */
static int vocab_add_words(struct vocab *v, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            p++;
        const char *w = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            p++;
        for (const char *e = w + 1; e <= p && w < p; e++)
            if (vocab_add(v, gl_strfmt(SPM_SPACE "%.*s", (int)(e - w), w), 1))
                return -1;
    }
    return 0;
}

static void vocab_free(struct vocab *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->tok[i]);
    free(v->tok);
    free(v->score);
    free(v->type);
    free(v->set.slot);
}

/* LLaMA's layout: <unk> <s> </s>, the byte tokens <0x00>..<0xFF>, then
 * pieces. Ours: "▁", the printable ASCII characters, the words of the chat
 * templates (and a filler word), then pseudo-words made of syllables. */
static int vocab_build(struct vocab *v, int n, uint64_t seed)
{
    memset(v, 0, sizeof *v);
    size_t slots = 64;
    while (slots < (size_t)n * 2)
        slots *= 2;
    v->cap = n;
    v->tok = calloc((size_t)n, sizeof *v->tok);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->type = calloc((size_t)n, sizeof *v->type);
    v->set.slot = calloc(slots, sizeof *v->set.slot);
    v->set.mask = slots - 1;
    if (!v->tok || !v->score || !v->type || !v->set.slot)
        return -1;
    if (vocab_add(v, gl_strfmt("<unk>"), 2) || vocab_add(v, gl_strfmt("<s>"), 3) ||
        vocab_add(v, gl_strfmt("</s>"), 3))
        return -1;
    for (int b = 0; b < 256; b++)
        if (vocab_add(v, gl_strfmt("<0x%02X>", b), 6))
            return -1;
    if (vocab_add(v, gl_strfmt(SPM_SPACE), 1))
        return -1;
    for (int c = 33; c < 127; c++)
        if (vocab_add(v, gl_strfmt("%c", c), 1))
            return -1;
    for (int t = 0; t < GL_TMPL_COUNT; t++)
        if (vocab_add_words(v, gl_template_system((enum gl_template)t)))
            return -1;
    if (vocab_add_words(v, "USER ASSISTANT Human What is in this picture Describe the image "
                           "detail the a of and to it there are on with colour"))
        return -1;
    static const char cons[] = "bcdfghjklmnprstvwz", vow[] = "aeiou";
    struct rng r;
    rng_seed(&r, seed);
    for (int guard = 0; v->n < n && guard < n * 64; guard++) {
        char w[64];
        size_t k = 0;
        int syll = 1 + (int)(rng_next(&r) % 4);
        for (int s = 0; s < syll; s++) {
            uint64_t u = rng_next(&r);
            w[k++] = cons[u % (sizeof cons - 1)];
            w[k++] = vow[(u >> 16) % (sizeof vow - 1)];
            if ((u >> 32) % 4 == 0)
                w[k++] = cons[(u >> 40) % (sizeof cons - 1)];
        }
        w[k] = 0;
        if (vocab_add(v, gl_strfmt(SPM_SPACE "%s", w), 1))
            return -1;
    }
    return v->n == n ? 0 : -1;
}

/* ------------------------------------------------------------ the LLM */

/* llama.cpp's use_more_bits(): the layers Q4_K_M gives more bits. */
static bool more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int add_weight(gw *w, const char *name, int type, int64_t n_in, int64_t n_out, struct fill *f)
{
    gw_fill_fn fn = type == GL_TYPE_Q6_K ? fill_q6_K : type == GL_TYPE_Q4_K ? fill_q4_K : fill_f16;
    return gw_tensor_fill(w, name, type, 2, (int64_t[]){n_in, n_out}, fn, f);
}

static int add_norm(gw *w, const char *name, int64_t n)
{
    return gw_tensor_fill(w, name, GL_TYPE_F32, 1, (int64_t[]){n}, fill_ones, NULL);
}

uint64_t synth_llm_bytes(const struct synth_spec *s)
{
    const uint64_t E = (uint64_t)s->n_embd, F = (uint64_t)s->n_ff, V = (uint64_t)s->n_vocab;
    const uint64_t KV = E / (uint64_t)s->n_head * (uint64_t)s->n_head_kv;
    uint64_t b = gl_row_size(GL_TYPE_Q4_K, (int64_t)E) * V + gl_row_size(GL_TYPE_Q6_K, (int64_t)E) * V +
                 E * 4;
    for (int i = 0; i < s->n_layer; i++) {
        int big = more_bits(i, s->n_layer) ? GL_TYPE_Q6_K : GL_TYPE_Q4_K;
        b += gl_row_size(GL_TYPE_Q4_K, (int64_t)E) * (E + KV + E + 2 * F) +
             gl_row_size(big, (int64_t)E) * KV + gl_row_size(big, (int64_t)F) * E + 2 * E * 4;
    }
    return b + (uint64_t)s->n_vocab * 40 + 4096; /* + the header: vocabulary and directory */
}

int synth_write_llm(const struct synth_spec *s, const char *path, char **err)
{
    const int64_t E = s->n_embd, F = s->n_ff, V = s->n_vocab;
    const int64_t KV = E / s->n_head * s->n_head_kv;
    struct vocab v;
    struct fill *f = malloc(sizeof *f);
    char *name = synth_llm_name(s);
    gw *w = gw_new();
    int rc = -1;
    if (vocab_build(&v, s->n_vocab, 0x5eed0001) || !f || !w || !name) {
        gl_err(err, "%s: out of memory", path);
        goto done;
    }
    fill_init(f, 0x5eed0002, 0.02f);

    int r = 0;
    r |= gw_kv_str(w, "general.architecture", "llama");
    r |= gw_kv_str(w, "general.name", name);
    r |= gw_kv_u32(w, "llama.context_length", (uint32_t)s->n_ctx);
    r |= gw_kv_u32(w, "llama.embedding_length", (uint32_t)E);
    r |= gw_kv_u32(w, "llama.block_count", (uint32_t)s->n_layer);
    r |= gw_kv_u32(w, "llama.feed_forward_length", (uint32_t)F);
    r |= gw_kv_u32(w, "llama.rope.dimension_count", (uint32_t)(E / s->n_head));
    r |= gw_kv_u32(w, "llama.attention.head_count", (uint32_t)s->n_head);
    r |= gw_kv_u32(w, "llama.attention.head_count_kv", (uint32_t)s->n_head_kv);
    r |= gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    r |= gw_kv_f32(w, "llama.rope.freq_base", 10000.0f);
    r |= gw_kv_u32(w, "general.file_type", 15); /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    r |= gw_kv_u32(w, "llama.vocab_size", (uint32_t)V);
    r |= gw_kv_str(w, "tokenizer.ggml.model", "llama");
    r |= gw_kv_str(w, "tokenizer.ggml.pre", "default");
    r |= gw_kv(w, "tokenizer.ggml.tokens", gw_arr(GGUF_VT_STR, v.tok, (uint64_t)v.n));
    r |= gw_kv(w, "tokenizer.ggml.scores", gw_arr(GGUF_VT_F32, v.score, (uint64_t)v.n));
    r |= gw_kv(w, "tokenizer.ggml.token_type", gw_arr(GGUF_VT_I32, v.type, (uint64_t)v.n));
    r |= gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    r |= gw_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    r |= gw_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    r |= gw_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    r |= gw_kv_bool(w, "tokenizer.ggml.add_eos_token", false);
    r |= gw_kv_u32(w, "general.quantization_version", 2);

    r |= add_weight(w, "token_embd.weight", GL_TYPE_Q4_K, E, V, f);
    for (int i = 0; i < s->n_layer && !r; i++) {
        char nm[64];
        const int big = more_bits(i, s->n_layer) ? GL_TYPE_Q6_K : GL_TYPE_Q4_K;
#define NAME(x) (snprintf(nm, sizeof nm, "blk.%d." x, i), nm)
        r |= add_norm(w, NAME("attn_norm.weight"), E);
        r |= add_weight(w, NAME("attn_q.weight"), GL_TYPE_Q4_K, E, E, f);
        r |= add_weight(w, NAME("attn_k.weight"), GL_TYPE_Q4_K, E, KV, f);
        r |= add_weight(w, NAME("attn_v.weight"), big, E, KV, f);
        r |= add_weight(w, NAME("attn_output.weight"), GL_TYPE_Q4_K, E, E, f);
        r |= add_norm(w, NAME("ffn_norm.weight"), E);
        r |= add_weight(w, NAME("ffn_gate.weight"), GL_TYPE_Q4_K, E, F, f);
        r |= add_weight(w, NAME("ffn_up.weight"), GL_TYPE_Q4_K, E, F, f);
        r |= add_weight(w, NAME("ffn_down.weight"), big, F, E, f);
#undef NAME
    }
    r |= add_norm(w, "output_norm.weight", E);
    r |= add_weight(w, "output.weight", GL_TYPE_Q6_K, E, V, f);
    if (r) {
        gl_err(err, "%s: out of memory", path);
        goto done;
    }
    rc = gw_write_file(w, path, err);
done:
    gw_free(w);
    vocab_free(&v);
    free(f);
    free(name);
    return rc;
}

/* ------------------------------------------------------------ the mmproj */

uint64_t synth_mmproj_bytes(const struct synth_spec *s)
{
    const uint64_t D = (uint64_t)s->n_vit_embd, F = (uint64_t)s->n_vit_ff, E = (uint64_t)s->n_embd;
    if (!D)
        return 0;
    uint64_t b = 2 * (D * E + E * E) + 4 * 2 * E + 4 * D + 2 * (14 * 14 * 3 * D) + 2 * D * 577 + 8 * D;
    b += (uint64_t)s->n_vit_layer * (2 * (4 * D * D + 2 * D * F) + 4 * (4 * D + F + D + 4 * D));
    return b + 64 * 1024;
}

int synth_write_mmproj(const struct synth_spec *s, const char *path, char **err)
{
    const int64_t D = s->n_vit_embd, F = s->n_vit_ff, E = s->n_embd, P = 14;
    const int64_t n_pos = (336 / P) * (336 / P) + 1;
    struct fill *f = malloc(sizeof *f);
    gw *w = gw_new();
    int rc = -1;
    if (!D) {
        gl_err(err, "%s: the %s shapes have no vision tower", path, s->name);
        goto done;
    }
    if (!f || !w) {
        gl_err(err, "%s: out of memory", path);
        goto done;
    }
    fill_init(f, 0x5eed0003, 0.02f);
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float sd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    char name[96];
    snprintf(name, sizeof name, "synthetic %s vision tower (glimpse-bench)", s->name);

    int r = 0;
    r |= gw_kv_str(w, "general.architecture", "clip");
    r |= gw_kv_bool(w, "clip.has_text_encoder", false);
    r |= gw_kv_bool(w, "clip.has_vision_encoder", true);
    r |= gw_kv_bool(w, "clip.has_llava_projector", true);
    r |= gw_kv_u32(w, "general.file_type", 1);
    r |= gw_kv_str(w, "general.name", name);
    r |= gw_kv_str(w, "general.description", "image encoder for LLaVA");
    r |= gw_kv_str(w, "clip.projector_type", "mlp");
    r |= gw_kv_u32(w, "clip.vision.image_size", 336);
    r |= gw_kv_u32(w, "clip.vision.patch_size", (uint32_t)P);
    r |= gw_kv_u32(w, "clip.vision.embedding_length", (uint32_t)D);
    r |= gw_kv_u32(w, "clip.vision.feed_forward_length", (uint32_t)F);
    r |= gw_kv_u32(w, "clip.vision.projection_dim", 768);
    r |= gw_kv_u32(w, "clip.vision.attention.head_count", (uint32_t)s->n_vit_head);
    r |= gw_kv_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    r |= gw_kv_u32(w, "clip.vision.block_count", (uint32_t)s->n_vit_layer);
    r |= gw_kv(w, "clip.vision.image_mean", gw_arr(GGUF_VT_F32, mean, 3));
    r |= gw_kv(w, "clip.vision.image_std", gw_arr(GGUF_VT_F32, sd, 3));
    r |= gw_kv_bool(w, "clip.use_gelu", false);

    /* The converter's order: projector, then the tower in HF order. */
    r |= add_weight(w, "mm.0.weight", GL_TYPE_F16, D, E, f);
    r |= gw_tensor(w, "mm.0.bias", GL_TYPE_F32, 1, (int64_t[]){E}, NULL);
    r |= add_weight(w, "mm.2.weight", GL_TYPE_F16, E, E, f);
    r |= gw_tensor(w, "mm.2.bias", GL_TYPE_F32, 1, (int64_t[]){E}, NULL);
    r |= gw_tensor_fill(w, "v.class_embd", GL_TYPE_F32, 1, (int64_t[]){D}, fill_f32_rand, f);
    r |= gw_tensor_fill(w, "v.patch_embd.weight", GL_TYPE_F16, 4, (int64_t[]){P, P, 3, D}, fill_f16, f);
    r |= add_weight(w, "v.position_embd.weight", GL_TYPE_F16, D, n_pos, f);
    r |= add_norm(w, "v.pre_ln.weight", D);
    r |= gw_tensor(w, "v.pre_ln.bias", GL_TYPE_F32, 1, (int64_t[]){D}, NULL);
    for (int i = 0; i < s->n_vit_layer && !r; i++) {
        char nm[64];
#define NAME(x) (snprintf(nm, sizeof nm, "v.blk.%d." x, i), nm)
        static const char *const attn[] = {"attn_k", "attn_v", "attn_q", "attn_out"};
        for (int k = 0; k < 4; k++) {
            char wn[64], bn[64];
            snprintf(wn, sizeof wn, "v.blk.%d.%s.weight", i, attn[k]);
            snprintf(bn, sizeof bn, "v.blk.%d.%s.bias", i, attn[k]);
            r |= add_weight(w, wn, GL_TYPE_F16, D, D, f);
            r |= gw_tensor(w, bn, GL_TYPE_F32, 1, (int64_t[]){D}, NULL);
        }
        r |= add_norm(w, NAME("ln1.weight"), D);
        r |= gw_tensor(w, NAME("ln1.bias"), GL_TYPE_F32, 1, (int64_t[]){D}, NULL);
        r |= add_weight(w, NAME("ffn_down.weight"), GL_TYPE_F16, D, F, f); /* fc1: D -> F */
        r |= gw_tensor(w, NAME("ffn_down.bias"), GL_TYPE_F32, 1, (int64_t[]){F}, NULL);
        r |= add_weight(w, NAME("ffn_up.weight"), GL_TYPE_F16, F, D, f); /* fc2: F -> D */
        r |= gw_tensor(w, NAME("ffn_up.bias"), GL_TYPE_F32, 1, (int64_t[]){D}, NULL);
        r |= add_norm(w, NAME("ln2.weight"), D);
        r |= gw_tensor(w, NAME("ln2.bias"), GL_TYPE_F32, 1, (int64_t[]){D}, NULL);
#undef NAME
    }
    if (r) {
        gl_err(err, "%s: out of memory", path);
        goto done;
    }
    rc = gw_write_file(w, path, err);
done:
    gw_free(w);
    free(f);
    return rc;
}
