/*
 * demo.c - `glimpse --demo`: write a tiny LLaVA-1.5-shaped model pair with
 * random weights, so that someone without a model (real ones are
 * gigabytes) can try the program, and find the sample picture.
 *
 * The pair is laid out exactly like a converted LLaVA-1.5 (FORMAT.md §2-§4:
 * same keys in the same order, same tensor names, shapes and types), only
 * narrow, so every code path of the real thing runs. The language model's
 * vocabulary is our own: the SentencePiece specials, the 256 byte tokens,
 * the printable ASCII characters, a few hundred English words with the
 * U+2581 word prefix and the prefixes of those words (so that BPE merges a
 * typed word into one token, as a real vocabulary does).
 *
 * Random weights would pick byte tokens and word fragments as often as
 * words, which reads as garbage. So the otherwise random model carries one
 * deliberate structure, in a few dimensions of the residual stream: each
 * token's embedding has a large constant in the dimension of its word
 * class (determiner, adjective, noun, verb, ...), residual branches are too
 * small to drown it, and the output matrix turns that dimension into a
 * bonus for the classes that may follow (a determiner is followed by an
 * adjective or a noun, a full stop by the end of the answer or a capital).
 * Everything else is Gaussian noise from a seeded generator, so the answers
 * are random but readable phrases ("The sleepy fox watches a wooden
 * bridge."), and always the same bytes are written.
 */
#include "config.h"

#include "demo.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The GGUF writer lives with the tests (which use it to make broken files);
 * the demo shares it. */
#include "../tests/gguf_writer.h"
#include "glimpse/quant.h"
#include "util.h"

#ifndef GL_DATADIR
#define GL_DATADIR "/usr/local/share/glimpse"
#endif

#define DEMO_SEED 0x676c696d70736531ull  /* "glimpse1" */
#define WORD_PREFIX "\xe2\x96\x81"       /* U+2581, SentencePiece's space */

/* ------------------------------------------------------------ geometry */

/* Language model (FORMAT.md §4). */
enum {
    LM_EMBD = 256, LM_LAYERS = 2, LM_HEADS = 4, LM_FF = 512, LM_CTX = 2048,
    LM_HEAD_DIM = LM_EMBD / LM_HEADS
};
/* Vision tower and projector (FORMAT.md §2-§3). */
enum {
    V_IMAGE = 336, V_PATCH = 14, V_EMBD = 64, V_HEADS = 4, V_FF = 256, V_BLOCKS = 3,
    V_POS = (V_IMAGE / V_PATCH) * (V_IMAGE / V_PATCH) + 1       /* 576 patches + CLS */
};

/* ------------------------------------------------------------ word classes */

enum word_class {
    WC_OTHER,       /* specials, bytes, characters, word fragments: never said */
    WC_CAPDET,      /* "The": starts a sentence */
    WC_DET,
    WC_ADJ,
    WC_NOUN,
    WC_VT,          /* transitive verb: an object follows */
    WC_VI,          /* intransitive verb */
    WC_PREP,
    WC_ADV,
    WC_CONJ,
    WC_COMMA,
    WC_PERIOD,
    WC_EOS,         /* output only: the end of the answer */
    WC_COUNT        /* = the residual dimensions that carry the class */
};

static const char *const w_capdet[] = {
    "The", "A", "This", "That", "My", "Our", "One", "Every", "Some", "Each", "Your", "Her", "His",
};
static const char *const w_det[] = {
    "the", "a", "this", "that", "my", "our", "one", "every", "some", "each", "your", "her", "his",
};
static const char *const w_adj[] = {
    "small", "big", "red", "blue", "green", "yellow", "bright", "quiet", "old", "young",
    "warm", "cold", "happy", "sleepy", "tall", "round", "soft", "golden", "tiny", "gentle",
    "brave", "silver", "wooden", "sunny", "cloudy", "friendly", "curious", "shiny", "dark",
    "lazy", "busy", "wild", "calm", "sweet", "strange", "little", "huge", "orange", "purple",
    "pink", "white", "black", "brown", "grey", "clever", "funny", "proud", "fuzzy", "striped",
    "ancient", "hidden", "empty", "lucky", "noisy", "silent", "smooth", "rusty", "fresh",
    "lonely", "famous", "hungry", "magic",
};
static const char *const w_noun[] = {
    "cat", "dog", "house", "tree", "sun", "sky", "cloud", "bird", "flower", "river", "hill",
    "garden", "window", "door", "road", "car", "boat", "fish", "moon", "star", "mountain",
    "forest", "field", "child", "friend", "teacher", "farmer", "robot", "dragon", "horse",
    "apple", "cake", "cup", "book", "chair", "table", "lamp", "picture", "song", "story",
    "letter", "bridge", "village", "city", "castle", "island", "lake", "ocean", "beach",
    "shell", "stone", "leaf", "branch", "fence", "roof", "chimney", "path", "train",
    "bicycle", "kite", "ball", "hat", "coat", "shoe", "box", "basket", "bottle", "clock",
    "key", "map", "ship", "owl", "fox", "rabbit", "bear", "frog", "mouse", "duck", "cow",
    "sheep", "goat", "bee", "butterfly", "squirrel", "pumpkin", "cookie", "sandwich",
    "blanket", "pillow", "candle", "mirror", "balloon", "piano", "guitar", "umbrella",
    "tower", "meadow", "pond", "wagon", "lantern", "puppy", "kitten", "baker", "sailor",
    "painter", "king", "queen", "giant", "wizard",
};
static const char *const w_vt[] = {
    "sees", "likes", "watches", "paints", "finds", "visits", "follows", "carries", "holds",
    "loves", "greets", "draws", "remembers", "chases", "builds", "opens", "reads", "wants",
    "meets", "passes", "shares", "hides", "wakes", "calls", "feeds", "helps", "hugs", "knows",
    "bakes", "fixes",
};
static const char *const w_vi[] = {
    "sleeps", "sits", "waits", "dances", "runs", "walks", "sings", "smiles", "rests", "jumps",
    "flies", "swims", "stands", "hums",
};
static const char *const w_prep[] = {
    "on", "under", "near", "behind", "beside", "over", "above", "in", "into", "across",
    "along", "through", "with", "past", "around", "below", "inside", "toward",
};
static const char *const w_adv[] = {
    "slowly", "quietly", "happily", "always", "often", "today", "softly", "suddenly", "again",
    "gently", "together", "outside", "brightly",
};
static const char *const w_conj[] = { "and", "but", "while", "because", "so" };

static const struct {
    enum word_class wc;
    const char *const *words;
    int n;
} word_lists[] = {
#define LIST(c, a) { c, a, (int)(sizeof a / sizeof a[0]) }
    LIST(WC_CAPDET, w_capdet), LIST(WC_DET, w_det), LIST(WC_ADJ, w_adj),
    LIST(WC_NOUN, w_noun), LIST(WC_VT, w_vt), LIST(WC_VI, w_vi), LIST(WC_PREP, w_prep),
    LIST(WC_ADV, w_adv), LIST(WC_CONJ, w_conj),
#undef LIST
};

/* Which class may follow which, and how welcome it is: logit bonuses
 * (before the sampler's temperature) for the next token's class given the
 * current one. Pairs not listed get FORBID. Punctuation is one token where
 * a class has dozens of words, hence its larger bonus. */
#define FORBID (-4.0f)
static const struct {
    enum word_class from, to;
    float bonus;
} grammar[] = {
    { WC_OTHER, WC_CAPDET, 0.0f },                      /* the answer begins */
    { WC_CAPDET, WC_ADJ, 0.0f }, { WC_CAPDET, WC_NOUN, 0.1f },
    { WC_DET, WC_ADJ, 0.0f }, { WC_DET, WC_NOUN, 0.1f },
    { WC_ADJ, WC_NOUN, 0.2f }, { WC_ADJ, WC_ADJ, -0.6f },
    { WC_NOUN, WC_VT, 0.0f }, { WC_NOUN, WC_VI, 0.0f }, { WC_NOUN, WC_PREP, -0.3f },
    { WC_NOUN, WC_PERIOD, 0.55f }, { WC_NOUN, WC_COMMA, 0.0f }, { WC_NOUN, WC_CONJ, -0.3f },
    { WC_VT, WC_DET, 0.0f },
    { WC_VI, WC_PREP, 0.0f }, { WC_VI, WC_ADV, 0.0f }, { WC_VI, WC_PERIOD, 0.3f },
    { WC_PREP, WC_DET, 0.0f },
    { WC_ADV, WC_PERIOD, 0.5f }, { WC_ADV, WC_PREP, -0.2f }, { WC_ADV, WC_COMMA, 0.0f },
    { WC_CONJ, WC_DET, 0.0f },
    { WC_COMMA, WC_CONJ, 0.0f }, { WC_COMMA, WC_DET, -0.2f },
    { WC_PERIOD, WC_EOS, 0.4f }, { WC_PERIOD, WC_CAPDET, 0.0f },
};

/* ------------------------------------------------------------ vocabulary */

struct vocab {
    char **text;
    float *score;
    int32_t *type;              /* enum tok_type values */
    uint8_t *cls_in;            /* class carried by the embedding */
    uint8_t *cls_out;           /* class whose bonus the output row gets */
    int n, cap;
    int32_t *hash;              /* open addressing over text, -1 = empty */
    size_t hmask;
};

static void vocab_free(struct vocab *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->text[i]);
    free(v->text);
    free(v->score);
    free(v->type);
    free(v->cls_in);
    free(v->cls_out);
    free(v->hash);
    memset(v, 0, sizeof *v);
}

/* FNV-1a: the vocabulary's hash table and the tensors' seeds. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Slot of `s` in the hash table: where it is, or the empty slot for it. */
static size_t vocab_slot(const struct vocab *v, const char *s)
{
    size_t h = (size_t)name_hash(s) & v->hmask;
    while (v->hash[h] >= 0 && strcmp(v->text[v->hash[h]], s) != 0)
        h = (h + 1) & v->hmask;
    return h;
}

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };   /* GGUF token types */

/* Add a token unless it exists: 0 added, 1 already there, -1 out of memory.
 * The arrays were sized for every token up front (vocab_build). Normal
 * tokens are scored by rank, earlier = more common, as SentencePiece does. */
static int vocab_add(struct vocab *v, const char *text, int32_t type, enum word_class in,
                     enum word_class out)
{
    size_t h = vocab_slot(v, text);
    if (v->hash[h] >= 0)
        return 1;
    assert(v->n < v->cap);
    if (!(v->text[v->n] = strdup(text)))
        return -1;
    v->score[v->n] = type == TT_NORMAL ? -(float)v->n : 0.0f;
    v->type[v->n] = type;
    v->cls_in[v->n] = (uint8_t)in;
    v->cls_out[v->n] = (uint8_t)out;
    v->hash[h] = v->n++;
    return 0;
}

/* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the words, the
 * single characters, and the word prefixes BPE needs to reach the words. */
static int vocab_build(struct vocab *v)
{
    memset(v, 0, sizeof *v);
    int cap = 3 + 256 + 1 + ('~' - '!' + 1);
    for (size_t l = 0; l < sizeof word_lists / sizeof word_lists[0]; l++)
        for (int i = 0; i < word_lists[l].n; i++)
            cap += 1 + (int)strlen(word_lists[l].words[i]);   /* the word and its prefixes */
    size_t hcap = 64;
    while (hcap < 2 * (size_t)cap)
        hcap *= 2;
    v->cap = cap;
    v->text = calloc((size_t)cap, sizeof *v->text);
    v->score = calloc((size_t)cap, sizeof *v->score);
    v->type = calloc((size_t)cap, sizeof *v->type);
    v->cls_in = calloc((size_t)cap, 1);
    v->cls_out = calloc((size_t)cap, 1);
    v->hash = malloc(hcap * sizeof *v->hash);
    if (!v->text || !v->score || !v->type || !v->cls_in || !v->cls_out || !v->hash)
        return -1;
    memset(v->hash, 0xff, hcap * sizeof *v->hash);
    v->hmask = hcap - 1;

    char buf[64];
    int rc = 0;
    rc |= vocab_add(v, "<unk>", TT_UNKNOWN, WC_OTHER, WC_OTHER);
    rc |= vocab_add(v, "<s>", TT_CONTROL, WC_OTHER, WC_OTHER);
    rc |= vocab_add(v, "</s>", TT_CONTROL, WC_OTHER, WC_EOS);
    for (int b = 0; b < 256; b++) {
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        rc |= vocab_add(v, buf, TT_BYTE, WC_OTHER, WC_OTHER);
    }
    for (size_t l = 0; l < sizeof word_lists / sizeof word_lists[0]; l++)
        for (int i = 0; i < word_lists[l].n; i++) {
            snprintf(buf, sizeof buf, WORD_PREFIX "%s", word_lists[l].words[i]);
            int r = vocab_add(v, buf, TT_NORMAL, word_lists[l].wc, word_lists[l].wc);
            assert(r != 1 && "a word is listed twice");
            rc |= r;
        }
    rc |= vocab_add(v, WORD_PREFIX, TT_NORMAL, WC_OTHER, WC_OTHER);
    for (int c = '!'; c <= '~'; c++) {
        enum word_class wc = c == '.' ? WC_PERIOD : c == ',' ? WC_COMMA : WC_OTHER;
        buf[0] = (char)c;
        buf[1] = '\0';
        rc |= vocab_add(v, buf, TT_NORMAL, wc, wc);
    }
    for (size_t l = 0; l < sizeof word_lists / sizeof word_lists[0]; l++)
        for (int i = 0; i < word_lists[l].n; i++) {
            const char *w = word_lists[l].words[i];
            for (size_t k = 1; k < strlen(w); k++) {
                snprintf(buf, sizeof buf, WORD_PREFIX "%.*s", (int)k, w);
                rc |= vocab_add(v, buf, TT_NORMAL, WC_OTHER, WC_OTHER);
            }
        }
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ random weights */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() below is finite. */
static double uniform01(uint64_t *s)
{
    return ((double)(splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* out[0..n) ~ N(0, sigma^2) (Box-Muller). Every row has its own stream, so
 * the values do not depend on how the writer chunks its calls. */
static void gauss_row(float *out, int n, uint64_t seed, int64_t row, float sigma)
{
    const double two_pi = 6.283185307179586;
    uint64_t s = seed ^ ((uint64_t)row * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform01(&s))), a = two_pi * uniform01(&s);
        out[i] = (float)(sigma * r * cos(a));
        if (i + 1 < n)
            out[i + 1] = (float)(sigma * r * sin(a));
    }
}

/* Scales. Embeddings: noise of EMB_SIGMA plus EMB_CLASS in the class
 * dimension; after the final RMS norm that dimension holds about
 * EMB_CLASS / rms (bonus_table computes it), which the output matrix scales
 * into the grammar bonus. Weights N(0, W_SIGMA) keep each residual branch
 * at ~0.1 per dimension, far below the class constant. OUT_SIGMA gives the
 * logits a spread of ~0.3 among the allowed words: with the sampler's
 * default temperature (0.2) several compete at each step. */
#define EMB_SIGMA 0.5f
#define EMB_CLASS 8.0f
#define W_SIGMA 0.02f
#define OUT_SIGMA 0.03f
#define BIAS_SIGMA 0.01f

enum fill_kind { FILL_ZERO, FILL_ONE, FILL_GAUSS, FILL_EMBD, FILL_OUTPUT };

struct fill_spec {
    enum fill_kind kind;
    int type;                   /* GL_TYPE_F32 or GL_TYPE_F16 */
    float sigma;                /* FILL_GAUSS, FILL_EMBD, FILL_OUTPUT: the noise */
    uint64_t seed;
    const struct vocab *voc;    /* FILL_EMBD, FILL_OUTPUT: rows are tokens */
    const float (*bonus)[WC_COUNT]; /* FILL_OUTPUT: [current class][next class], scaled */
};

#define MAX_ROW 1024
#define MAX_TENSORS 64

static void make_row(const struct fill_spec *s, int64_t row, float *out, int n)
{
    switch (s->kind) {
    case FILL_ZERO:
    case FILL_ONE:
        for (int i = 0; i < n; i++)
            out[i] = s->kind == FILL_ONE ? 1.0f : 0.0f;
        return;
    case FILL_GAUSS:
        gauss_row(out, n, s->seed, row, s->sigma);
        return;
    case FILL_EMBD:
        /* token `row`: noise, and its class as a constant */
        gauss_row(out, n, s->seed, row, s->sigma);
        for (int k = 0; k < WC_COUNT; k++)
            out[k] = k == s->voc->cls_in[row] ? EMB_CLASS : 0.0f;
        return;
    case FILL_OUTPUT:
        /* token `row`'s logit: noise . h + bonus[class of the current token][class of row] */
        gauss_row(out, n, s->seed, row, s->sigma);
        for (int k = 0; k < WC_COUNT; k++)
            out[k] = s->bonus[k][s->voc->cls_out[row]];
        return;
    }
}

/* gw_fill_fn: rows [row0, row0 + nrows) of the tensor described by user. */
static void fill_rows(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    const struct fill_spec *s = user;
    size_t esz = s->type == GL_TYPE_F16 ? sizeof(gl_fp16) : sizeof(float);
    int n = (int)(row_bytes / esz);
    float row[MAX_ROW];
    gl_fp16 half[MAX_ROW];
    assert(n <= MAX_ROW);
    for (int64_t r = 0; r < nrows; r++) {
        unsigned char *d = (unsigned char *)dst + (size_t)r * row_bytes;
        make_row(s, row0 + r, row, n);
        if (s->type == GL_TYPE_F16) {
            for (int i = 0; i < n; i++)
                half[i] = gl_fp32_to_fp16(row[i]);
            memcpy(d, half, row_bytes);
        } else {
            memcpy(d, row, row_bytes);
        }
    }
}

/* A GGUF file under construction: the writer and the fill specs its
 * callbacks read at write time. */
struct builder {
    gw *w;
    const struct vocab *voc;
    float bonus[WC_COUNT][WC_COUNT];
    struct fill_spec spec[MAX_TENSORS];
    int n_spec;
};

static void tensor(struct builder *b, const char *name, int type, int n_dims, const int64_t *ne,
                   enum fill_kind kind, float sigma)
{
    assert(b->n_spec < MAX_TENSORS);
    struct fill_spec *s = &b->spec[b->n_spec++];
    *s = (struct fill_spec){ .kind = kind, .type = type, .sigma = sigma,
                             .seed = DEMO_SEED ^ name_hash(name), .voc = b->voc,
                             .bonus = (const float (*)[WC_COUNT])b->bonus };
    gw_tensor_fill(b->w, name, type, n_dims, ne, fill_rows, s);
}

#define T1(b, name, type, n0, kind, sigma) \
    tensor(b, name, type, 1, (const int64_t[]){ n0 }, kind, sigma)
#define T2(b, name, type, n0, n1, kind, sigma) \
    tensor(b, name, type, 2, (const int64_t[]){ n0, n1 }, kind, sigma)

/* The output matrix's class weights: the grammar bonus divided by the value
 * the class dimension has after the final RMS norm (its noise dims have
 * rms EMB_SIGMA; the residual branches change this little). */
static void bonus_table(float bonus[WC_COUNT][WC_COUNT])
{
    double ms = ((double)EMB_CLASS * EMB_CLASS +
                 (double)(LM_EMBD - WC_COUNT) * EMB_SIGMA * EMB_SIGMA) / LM_EMBD;
    float normed = (float)(EMB_CLASS / sqrt(ms));
    for (int i = 0; i < WC_COUNT; i++)
        for (int j = 0; j < WC_COUNT; j++)
            bonus[i][j] = FORBID / normed;
    for (size_t g = 0; g < sizeof grammar / sizeof grammar[0]; g++)
        bonus[grammar[g].from][grammar[g].to] = grammar[g].bonus / normed;
}

/* ------------------------------------------------------------ the two files */

static int write_llm(const char *path, const struct vocab *voc, char **err)
{
    struct builder *b = calloc(1, sizeof *b);
    if (!b || !(b->w = gw_new())) {
        free(b);
        return gl_err(err, "out of memory");
    }
    gw *w = b->w;
    b->voc = voc;
    bonus_table(b->bonus);
    const int64_t E = LM_EMBD, F = LM_FF, V = voc->n;

    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_str(w, "general.name", "glimpse demo (random weights)");
    gw_kv_u32(w, "llama.context_length", LM_CTX);
    gw_kv_u32(w, "llama.embedding_length", LM_EMBD);
    gw_kv_u32(w, "llama.block_count", LM_LAYERS);
    gw_kv_u32(w, "llama.feed_forward_length", LM_FF);
    gw_kv_u32(w, "llama.rope.dimension_count", LM_HEAD_DIM);
    gw_kv_u32(w, "llama.attention.head_count", LM_HEADS);
    gw_kv_u32(w, "llama.attention.head_count_kv", LM_HEADS);
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_kv_f32(w, "llama.rope.freq_base", 10000.0f);
    gw_kv_u32(w, "general.file_type", 1);                  /* mostly f16 */
    gw_kv_u32(w, "llama.vocab_size", (uint32_t)V);
    gw_kv_str(w, "tokenizer.ggml.model", "llama");
    gw_kv_str(w, "tokenizer.ggml.pre", "default");
    gw_kv(w, "tokenizer.ggml.tokens", gw_arr(GGUF_VT_STR, voc->text, (uint64_t)V));
    gw_kv(w, "tokenizer.ggml.scores", gw_arr(GGUF_VT_F32, voc->score, (uint64_t)V));
    gw_kv(w, "tokenizer.ggml.token_type", gw_arr(GGUF_VT_I32, voc->type, (uint64_t)V));
    gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gw_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gw_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gw_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    gw_kv_bool(w, "tokenizer.ggml.add_eos_token", false);

    T2(b, "token_embd.weight", GL_TYPE_F16, E, V, FILL_EMBD, EMB_SIGMA);       /* [E, V] */
    for (int il = 0; il < LM_LAYERS; il++) {
        char nm[64];
#define N(s) (snprintf(nm, sizeof nm, "blk.%d." s, il), nm)
        T1(b, N("attn_norm.weight"), GL_TYPE_F32, E, FILL_ONE, 0);              /* [E] */
        T2(b, N("attn_q.weight"), GL_TYPE_F16, E, E, FILL_GAUSS, W_SIGMA);      /* [E, E] */
        T2(b, N("attn_k.weight"), GL_TYPE_F16, E, E, FILL_GAUSS, W_SIGMA);      /* [E, E] */
        T2(b, N("attn_v.weight"), GL_TYPE_F16, E, E, FILL_GAUSS, W_SIGMA);      /* [E, E] */
        T2(b, N("attn_output.weight"), GL_TYPE_F16, E, E, FILL_GAUSS, W_SIGMA); /* [E, E] */
        T1(b, N("ffn_norm.weight"), GL_TYPE_F32, E, FILL_ONE, 0);               /* [E] */
        T2(b, N("ffn_gate.weight"), GL_TYPE_F16, E, F, FILL_GAUSS, W_SIGMA);    /* [E, F] */
        T2(b, N("ffn_up.weight"), GL_TYPE_F16, E, F, FILL_GAUSS, W_SIGMA);      /* [E, F] */
        T2(b, N("ffn_down.weight"), GL_TYPE_F16, F, E, FILL_GAUSS, W_SIGMA);    /* [F, E] */
#undef N
    }
    T1(b, "output_norm.weight", GL_TYPE_F32, E, FILL_ONE, 0);                  /* [E] */
    T2(b, "output.weight", GL_TYPE_F16, E, V, FILL_OUTPUT, OUT_SIGMA);         /* [E, V] */

    int rc = gw_write_file(w, path, err);
    gw_free(w);
    free(b);
    return rc;
}

/* The vision tower and projector, in the converter's order: projector
 * first, then CLIP's state dict (FORMAT.md §3). */
static int write_mmproj(const char *path, char **err)
{
    struct builder *b = calloc(1, sizeof *b);
    if (!b || !(b->w = gw_new())) {
        free(b);
        return gl_err(err, "out of memory");
    }
    gw *w = b->w;
    const int64_t D = V_EMBD, F = V_FF, E = LM_EMBD;
    static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
    static const float std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

    gw_kv_str(w, "general.architecture", "clip");
    gw_kv_bool(w, "clip.has_text_encoder", false);
    gw_kv_bool(w, "clip.has_vision_encoder", true);
    gw_kv_bool(w, "clip.has_llava_projector", true);
    gw_kv_u32(w, "general.file_type", 1);
    gw_kv_str(w, "general.name", "glimpse demo vision tower (random weights)");
    gw_kv_str(w, "general.description", "image encoder for LLaVA");
    gw_kv_str(w, "clip.projector_type", "mlp");
    gw_kv_u32(w, "clip.vision.image_size", V_IMAGE);
    gw_kv_u32(w, "clip.vision.patch_size", V_PATCH);
    gw_kv_u32(w, "clip.vision.embedding_length", V_EMBD);
    gw_kv_u32(w, "clip.vision.feed_forward_length", V_FF);
    gw_kv_u32(w, "clip.vision.projection_dim", V_EMBD);
    gw_kv_u32(w, "clip.vision.attention.head_count", V_HEADS);
    gw_kv_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    gw_kv_u32(w, "clip.vision.block_count", V_BLOCKS);
    gw_kv(w, "clip.vision.image_mean", gw_arr(GGUF_VT_F32, mean, 3));
    gw_kv(w, "clip.vision.image_std", gw_arr(GGUF_VT_F32, std, 3));
    gw_kv_bool(w, "clip.use_gelu", false);

    T2(b, "mm.0.weight", GL_TYPE_F16, D, E, FILL_GAUSS, W_SIGMA);              /* [D, E_llm] */
    T1(b, "mm.0.bias", GL_TYPE_F32, E, FILL_GAUSS, BIAS_SIGMA);
    T2(b, "mm.2.weight", GL_TYPE_F16, E, E, FILL_GAUSS, W_SIGMA);              /* [E_llm, E_llm] */
    T1(b, "mm.2.bias", GL_TYPE_F32, E, FILL_GAUSS, BIAS_SIGMA);
    T1(b, "v.class_embd", GL_TYPE_F32, D, FILL_GAUSS, W_SIGMA);                /* [D] */
    tensor(b, "v.patch_embd.weight", GL_TYPE_F16, 4,                         /* [14, 14, 3, D] */
           (const int64_t[]){ V_PATCH, V_PATCH, 3, D }, FILL_GAUSS, W_SIGMA);
    T2(b, "v.position_embd.weight", GL_TYPE_F16, D, V_POS, FILL_GAUSS, W_SIGMA); /* [D, 577] */
    T1(b, "v.pre_ln.weight", GL_TYPE_F32, D, FILL_ONE, 0);
    T1(b, "v.pre_ln.bias", GL_TYPE_F32, D, FILL_ZERO, 0);
    for (int il = 0; il < V_BLOCKS; il++) {
        /* HF's order within a block: k, v, q, out, layer_norm1, fc1, fc2, layer_norm2 */
        static const char *const attn[4] = { "attn_k", "attn_v", "attn_q", "attn_out" };
        char nm[64];
        for (int a = 0; a < 4; a++) {
            snprintf(nm, sizeof nm, "v.blk.%d.%s.weight", il, attn[a]);
            T2(b, nm, GL_TYPE_F16, D, D, FILL_GAUSS, W_SIGMA);                /* [D, D] */
            snprintf(nm, sizeof nm, "v.blk.%d.%s.bias", il, attn[a]);
            T1(b, nm, GL_TYPE_F32, D, FILL_GAUSS, BIAS_SIGMA);                /* [D] */
        }
#define N(s) (snprintf(nm, sizeof nm, "v.blk.%d." s, il), nm)
        T1(b, N("ln1.weight"), GL_TYPE_F32, D, FILL_ONE, 0);
        T1(b, N("ln1.bias"), GL_TYPE_F32, D, FILL_ZERO, 0);
        /* the converter's names are swapped: ffn_down is fc1 (D -> F) */
        T2(b, N("ffn_down.weight"), GL_TYPE_F16, D, F, FILL_GAUSS, W_SIGMA);  /* [D, F] */
        T1(b, N("ffn_down.bias"), GL_TYPE_F32, F, FILL_GAUSS, BIAS_SIGMA);
        T2(b, N("ffn_up.weight"), GL_TYPE_F16, F, D, FILL_GAUSS, W_SIGMA);    /* [F, D] */
        T1(b, N("ffn_up.bias"), GL_TYPE_F32, D, FILL_GAUSS, BIAS_SIGMA);
        T1(b, N("ln2.weight"), GL_TYPE_F32, D, FILL_ONE, 0);
        T1(b, N("ln2.bias"), GL_TYPE_F32, D, FILL_ZERO, 0);
#undef N
    }
    int rc = gw_write_file(w, path, err);
    gw_free(w);
    free(b);
    return rc;
}

/* ------------------------------------------------------------ the interface */

int demo_make(const char *dir, struct demo_files *out, char **err)
{
    struct vocab voc;
    struct demo_files f = { 0 };
    int rc = -1;
    memset(out, 0, sizeof *out);
    memset(&voc, 0, sizeof voc);
    /* say which directory is the problem rather than the writer's temporary name */
    struct stat st;
    if (stat(dir, &st) != 0 || (S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) != 0)) {
        gl_err(err, "cannot write the demo model into %s: %s", dir, strerror(errno));
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        gl_err(err, "cannot write the demo model into %s: not a directory", dir);
        goto done;
    }
    if (vocab_build(&voc) < 0) {
        gl_err(err, "out of memory");
        goto done;
    }
    f.llm = gl_strfmt("%s/glimpse-demo-llm-f16.gguf", dir);
    f.mmproj = gl_strfmt("%s/glimpse-demo-mmproj-f16.gguf", dir);
    if (!f.llm || !f.mmproj) {
        gl_err(err, "out of memory");
        goto done;
    }
    if (write_llm(f.llm, &voc, err) < 0)
        goto done;
    if (write_mmproj(f.mmproj, err) < 0) {
        unlink(f.llm);
        goto done;
    }
    *out = f;
    f = (struct demo_files){ 0 };
    rc = 0;
done:
    demo_files_free(&f);
    vocab_free(&voc);
    return rc;
}

void demo_files_free(struct demo_files *f)
{
    if (!f)
        return;
    free(f->llm);
    free(f->mmproj);
    f->llm = f->mmproj = NULL;
}

void demo_unlink(const struct demo_files *f)
{
    if (f && f->llm)
        unlink(f->llm);
    if (f && f->mmproj)
        unlink(f->mmproj);
}

char *demo_tmpdir(char **err)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *d = gl_strfmt("%s/glimpse-demo-XXXXXX", base);
    if (!d)
        return gl_err(err, "out of memory"), NULL;
    if (!mkdtemp(d)) {
        gl_err(err, "cannot make a temporary directory in %s: %s", base, strerror(errno));
        free(d);
        return NULL;
    }
    return d;
}

const char *demo_banner(void)
{
    return "glimpse demo: the model has random weights, its answers are noise. Get a real "
           "LLaVA-1.5 pair (see README: Getting a model) and run: "
           "glimpse -m MODEL.gguf --mmproj MMPROJ.gguf photo.jpg";
}

#define SAMPLE_NAME "glimpse-sample.png"

static bool readable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

const char *demo_sample_image(void)
{
    static char found[PATH_MAX + 64];
    const char *env = getenv("GLIMPSE_DATADIR");
    if (env && *env) {
        snprintf(found, sizeof found, "%s/" SAMPLE_NAME, env);
        if (readable_file(found))
            return found;
    }
    snprintf(found, sizeof found, "%s/" SAMPLE_NAME, GL_DATADIR);
    if (readable_file(found))
        return found;

    /* Beside the executable: <dir>/../share/ in a build tree (the program is
     * src/glimpse), <dir>/../share/glimpse/ in an install moved elsewhere. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    static const char *const rel[] = { "../share/" SAMPLE_NAME, "../share/glimpse/" SAMPLE_NAME };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(found, sizeof found, "%s/%s", exe, rel[i]);
        if (readable_file(found))
            return found;
    }
    return NULL;
}
