/*
 * tokenizer.c - SentencePiece-style BPE over a GGUF vocabulary, behaving
 * like llama.cpp's SPM tokenizer (what LLaMA / Vicuna / LLaVA files use).
 *
 * Encoding one piece of plain text:
 *   1. every ' ' becomes U+2581 ("▁"); with the space prefix one more "▁"
 *      goes in front;
 *   2. the text is cut into symbols, one per UTF-8 character (the length is
 *      taken from the lead byte alone, as llama.cpp does, so broken input
 *      still cuts somewhere deterministic);
 *   3. repeatedly, of all adjacent symbol pairs whose concatenation is a
 *      vocabulary token, the one with the highest token score is merged
 *      (ties: the leftmost). A binary heap keeps the candidate pairs, so the
 *      whole loop is O(n log n); entries that went stale when a neighbour
 *      merged are recognised by their size and dropped;
 *   4. each final symbol is a token (every merge produced one) or a single
 *      character missing from the vocabulary: that one is spelled as
 *      <0xXX> byte tokens, one per byte (unk if the vocab has none).
 *
 * tok_tokenize() first cuts the text at the literal text of special tokens
 * (control / unknown tokens only when parse_special; user-defined ones
 * always), longest token first, exactly like llama.cpp's partitioning, and
 * gives the space prefix to each plain fragment that starts the text or
 * follows a special token.
 *
 * The vocabulary is copied out of the GGUF file and checked: types and
 * lengths of the arrays, duplicate tokens, BOS/EOS inside the vocabulary.
 */
#include "config.h"

#include "glimpse/tokenizer.h"

#include "util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Texts longer than this (bytes) are refused: symbol indices are int32 and
 * escaping can triple the length. */
#define TOK_MAX_TEXT ((size_t)INT32_MAX / 8)

struct tok_vocab {
    int32_t n;                  /* number of tokens */
    char *arena;                /* all token texts, each NUL-terminated */
    size_t *off;                /* [n] start of token i's text in arena */
    uint32_t *len;              /* [n] its length in bytes */
    float *score;               /* [n] merge priority (higher merges first) */
    uint8_t *type;              /* [n] enum tok_type */
    int16_t *byteval;           /* [n] the byte of a well-formed <0xXX> BYTE token, else -1 */

    int32_t *table;             /* open-addressing hash: token text -> id, -1 = empty */
    size_t mask;                /* table size - 1 (a power of two) */

    int32_t byte_tok[256];      /* byte -> its fallback token, -1 if none */
    int32_t *special;           /* ids of control/unknown/user-defined tokens, longest text first */
    int32_t n_special;

    int32_t bos, eos, unk;      /* unk is -1 when the file names none inside the vocab */
    bool add_bos, add_space_prefix;
};

/* ------------------------------------------------------------------ small helpers */

static const char *tok_str(const tok_vocab *v, int32_t id)
{
    return v->arena + v->off[id];
}

/* FNV-1a: simple and good enough for 32000 short keys. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int32_t lookup(const tok_vocab *v, const char *s, size_t n)
{
    if (n == 0 || n > UINT32_MAX)
        return -1;
    size_t i = (size_t)hash_bytes(s, n) & v->mask;
    for (;;) {
        int32_t id = v->table[i];
        if (id < 0)
            return -1;
        if (v->len[id] == n && memcmp(tok_str(v, id), s, n) == 0)
            return id;
        i = (i + 1) & v->mask;
    }
}

/* Length of the UTF-8 sequence a lead byte announces, from its high nibble
 * only (continuation bytes count as 1): llama.cpp's symbol cutting rule. */
static size_t utf8_lead_len(unsigned char c)
{
    static const unsigned char len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return len[c >> 4];
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* ------------------------------------------------------------------ id lists */

void tok_ids_free(struct tok_ids *l)
{
    if (!l)
        return;
    free(l->ids);
    l->ids = NULL;
    l->n = l->cap = 0;
}

int tok_ids_push(struct tok_ids *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        if (cap < l->cap || cap > SIZE_MAX / sizeof *l->ids)
            return -1;
        int32_t *p = realloc(l->ids, cap * sizeof *p);
        if (!p)
            return -1;
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

/* ------------------------------------------------------------------ loading */

void tok_free(tok_vocab *v)
{
    if (!v)
        return;
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->byteval);
    free(v->table);
    free(v->special);
    free(v);
}

static bool vt_is_int(enum gguf_vtype t)
{
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_I8: case GGUF_VT_U16: case GGUF_VT_I16:
    case GGUF_VT_U32: case GGUF_VT_I32: case GGUF_VT_U64: case GGUF_VT_I64:
        return true;
    default:
        return false;
    }
}

static bool vt_is_float(enum gguf_vtype t)
{
    return t == GGUF_VT_F32 || t == GGUF_VT_F64;
}

/* An optional numeric array of at least n elements: 1 if absent, 0 with *out,
 * -1 with *err when it has the wrong shape. */
static int get_num_array(const gguf_file *f, const char *key, uint64_t n, bool allow_float,
                         const struct gguf_value **out, char **err)
{
    const struct gguf_value *a = NULL;
    int r = gguf_get_arr(f, key, GGUF_VT_COUNT, &a, err);
    if (r != 0)
        return r;
    enum gguf_vtype et = a->v.arr.type;
    if (!(vt_is_int(et) || (allow_float && vt_is_float(et))))
        return gl_err(err, "%s: %s has elements of type %s, expected %s", gguf_path(f), key,
                      gguf_vtype_name(et), allow_float ? "numbers" : "integers");
    if (a->v.arr.n < n)
        return gl_err(err, "%s: %s has %llu entries for %llu tokens", gguf_path(f), key,
                      (unsigned long long)a->v.arr.n, (unsigned long long)n);
    *out = a;
    return 0;
}

/* A token id key: `def` when absent. Out-of-range values give -1 when
 * `optional`, an error otherwise. */
static int get_id(const gguf_file *f, const char *key, int32_t def, int32_t n, bool optional,
                  int32_t *out, char **err)
{
    const struct gguf_value *val = gguf_get(f, key);
    int64_t id = def;
    if (val) {
        if (!vt_is_int(val->type)) {
            if (optional) {
                *out = -1;
                return 0;
            }
            return gl_err(err, "%s: %s has type %s, expected an integer", gguf_path(f), key,
                          gguf_vtype_name(val->type));
        }
        /* Widen by hand: a u64 like 0xFFFFFFFFFFFFFFFF does not fit int64. */
        if (val->type == GGUF_VT_U8 || val->type == GGUF_VT_U16 || val->type == GGUF_VT_U32 ||
            val->type == GGUF_VT_U64)
            id = val->v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)val->v.u64;
        else
            id = val->v.i64;
    }
    if (id < 0 || id >= n) {
        if (optional) {
            *out = -1;
            return 0;
        }
        if (val)
            return gl_err(err, "%s: %s = %lld is outside the vocabulary (%d tokens)", gguf_path(f),
                          key, (long long)id, (int)n);
        return gl_err(err, "%s: %s is missing and the default id %lld is outside the vocabulary "
                      "(%d tokens)", gguf_path(f), key, (long long)id, (int)n);
    }
    *out = (int32_t)id;
    return 0;
}

struct spec_sort {
    uint32_t len;
    int32_t id;
};

/* Longest text first; equal lengths by id, so the order is deterministic. */
static int cmp_spec(const void *a, const void *b)
{
    const struct spec_sort *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

tok_vocab *tok_load(const gguf_file *f, char **err)
{
    const char *path = gguf_path(f);
    tok_vocab *v = NULL;
    struct spec_sort *ss = NULL;
    struct gguf_str model;

    int r = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (r < 0)
        return NULL;
    if (r == 1) {
        gl_err(err, "%s: no tokenizer in this file (tokenizer.ggml.model is missing)", path);
        return NULL;
    }
    if (!gguf_str_eq(model, "llama")) {
        int shown = model.len > 64 ? 64 : (int)model.len;
        gl_err(err, "%s: tokenizer model \"%.*s\" is not supported (glimpse reads \"llama\" "
               "SentencePiece vocabularies)", path, shown, model.ptr);
        return NULL;
    }

    const struct gguf_value *toks = NULL, *scores = NULL, *types = NULL;
    r = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STR, &toks, err);
    if (r < 0)
        return NULL;
    if (r == 1) {
        gl_err(err, "%s: tokenizer.ggml.tokens is missing", path);
        return NULL;
    }
    uint64_t n64 = toks->v.arr.n;
    if (n64 == 0 || n64 >= (uint64_t)INT32_MAX / 4) {
        gl_err(err, "%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)n64);
        return NULL;
    }
    int32_t n = (int32_t)n64;
    if (get_num_array(f, "tokenizer.ggml.scores", n64, true, &scores, err) < 0)
        return NULL;
    if (get_num_array(f, "tokenizer.ggml.token_type", n64, false, &types, err) < 0)
        return NULL;

    v = calloc(1, sizeof *v);
    if (!v)
        goto oom;
    v->n = n;
    v->off = malloc((size_t)n * sizeof *v->off);
    v->len = malloc((size_t)n * sizeof *v->len);
    v->score = malloc((size_t)n * sizeof *v->score);
    v->type = malloc((size_t)n);
    v->byteval = malloc((size_t)n * sizeof *v->byteval);
    if (!v->off || !v->len || !v->score || !v->type || !v->byteval)
        goto oom;

    /* Texts: an empty token is renamed "[EMPTY_<id>]" (as llama.cpp does) so
     * that it can never match anything. */
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        uint64_t l = toks->v.arr.items[i].v.str.len;
        if (l == 0)
            l = (uint64_t)snprintf(NULL, 0, "[EMPTY_%d]", (int)i);
        if (l >= UINT32_MAX || total + l + 1 < total) {
            gl_err(err, "%s: token %d is too long", path, (int)i);
            goto fail;
        }
        total += l + 1;
    }
    v->arena = malloc(total);
    if (!v->arena)
        goto oom;
    size_t pos = 0;
    for (int32_t i = 0; i < n; i++) {
        struct gguf_str s = toks->v.arr.items[i].v.str;
        v->off[i] = pos;
        if (s.len == 0) {
            int k = snprintf(v->arena + pos, total - pos, "[EMPTY_%d]", (int)i);
            v->len[i] = (uint32_t)k;
        } else {
            memcpy(v->arena + pos, s.ptr, s.len);
            v->len[i] = (uint32_t)s.len;
        }
        pos += v->len[i];
        v->arena[pos++] = '\0';
    }

    for (int32_t i = 0; i < n; i++) {
        float sc = 0.0f;
        if (scores) {
            enum gguf_vtype et = scores->v.arr.type;
            double d = vt_is_float(et) ? gguf_arr_f64(scores, (uint64_t)i)
                                       : (double)gguf_arr_i64(scores, (uint64_t)i);
            /* NaN would make the merge order ill-defined: rank it last. */
            sc = isnan(d) ? -FLT_MAX : (float)d;
        }
        v->score[i] = sc;
        int64_t t = types ? gguf_arr_i64(types, (uint64_t)i) : TOK_TYPE_NORMAL;
        v->type[i] = (t >= TOK_TYPE_UNDEFINED && t <= TOK_TYPE_BYTE) ? (uint8_t)t
                                                                     : TOK_TYPE_UNDEFINED;
        v->byteval[i] = -1;
        const char *s = tok_str(v, i);
        if (v->type[i] == TOK_TYPE_BYTE && v->len[i] == 6 && memcmp(s, "<0x", 3) == 0 &&
            s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0)
            v->byteval[i] = (int16_t)(hexval(s[3]) * 16 + hexval(s[4]));
    }

    /* Hash table at most half full. */
    size_t cap = 64;
    while (cap < (size_t)n * 2)
        cap *= 2;
    v->table = malloc(cap * sizeof *v->table);
    if (!v->table)
        goto oom;
    memset(v->table, 0xff, cap * sizeof *v->table);
    v->mask = cap - 1;
    for (int32_t i = 0; i < n; i++) {
        const char *s = tok_str(v, i);
        size_t h = (size_t)hash_bytes(s, v->len[i]) & v->mask;
        while (v->table[h] >= 0) {
            int32_t o = v->table[h];
            if (v->len[o] == v->len[i] && memcmp(tok_str(v, o), s, v->len[i]) == 0) {
                int shown = v->len[i] > 64 ? 64 : (int)v->len[i];
                gl_err(err, "%s: duplicate token in the vocabulary: \"%.*s\" has ids %d and %d",
                       path, shown, s, (int)o, (int)i);
                goto fail;
            }
            h = (h + 1) & v->mask;
        }
        v->table[h] = i;
    }

    /* Byte fallback: "<0xXX>" (upper-case hex), else the byte itself as a
     * one-character token, as llama.cpp looks them up. */
    for (int b = 0; b < 256; b++) {
        char hex[7];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = lookup(v, hex, 6);
        if (id < 0) {
            char c = (char)b;
            id = lookup(v, &c, 1);
        }
        v->byte_tok[b] = id;
    }

    /* Special tokens for partitioning, longest first. */
    int32_t ns = 0;
    for (int32_t i = 0; i < n; i++)
        if (v->type[i] == TOK_TYPE_CONTROL || v->type[i] == TOK_TYPE_USER_DEFINED ||
            v->type[i] == TOK_TYPE_UNKNOWN)
            ns++;
    if (ns > 0) {
        ss = malloc((size_t)ns * sizeof *ss);
        v->special = malloc((size_t)ns * sizeof *v->special);
        if (!ss || !v->special)
            goto oom;
        int32_t k = 0;
        for (int32_t i = 0; i < n; i++)
            if (v->type[i] == TOK_TYPE_CONTROL || v->type[i] == TOK_TYPE_USER_DEFINED ||
                v->type[i] == TOK_TYPE_UNKNOWN)
                ss[k++] = (struct spec_sort){ v->len[i], i };
        qsort(ss, (size_t)ns, sizeof *ss, cmp_spec);
        for (int32_t i = 0; i < ns; i++)
            v->special[i] = ss[i].id;
        v->n_special = ns;
        free(ss);
        ss = NULL;
    }

    /* Ids. Optional extra ids (padding, separator: llama2.c conversions store
     * 0xFFFFFFFF there) are not read at all. */
    if (get_id(f, "tokenizer.ggml.bos_token_id", 1, n, false, &v->bos, err) < 0 ||
        get_id(f, "tokenizer.ggml.eos_token_id", 2, n, false, &v->eos, err) < 0 ||
        get_id(f, "tokenizer.ggml.unknown_token_id", 0, n, true, &v->unk, err) < 0)
        goto fail;

    v->add_bos = true;
    v->add_space_prefix = true;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos, err) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err) < 0)
        goto fail;
    return v;

oom:
    gl_err(err, "%s: out of memory loading the vocabulary", path);
fail:
    free(ss);
    tok_free(v);
    return NULL;
}

/* ------------------------------------------------------------------ accessors */

int32_t tok_n_vocab(const tok_vocab *v) { return v->n; }
int32_t tok_bos(const tok_vocab *v) { return v->bos; }
int32_t tok_eos(const tok_vocab *v) { return v->eos; }
int32_t tok_unk(const tok_vocab *v) { return v->unk; }
bool tok_add_bos(const tok_vocab *v) { return v->add_bos; }
bool tok_add_space_prefix(const tok_vocab *v) { return v->add_space_prefix; }

const char *tok_text(const tok_vocab *v, int32_t id)
{
    if (!v || id < 0 || id >= v->n)
        return NULL;
    return tok_str(v, id);
}

enum tok_type tok_get_type(const tok_vocab *v, int32_t id)
{
    if (!v || id < 0 || id >= v->n)
        return TOK_TYPE_UNDEFINED;
    return (enum tok_type)v->type[id];
}

int32_t tok_lookup(const tok_vocab *v, const char *s, size_t len)
{
    if (!v || !s)
        return -1;
    return lookup(v, s, len);
}

/* ------------------------------------------------------------------ BPE merge loop */

struct sym {
    int32_t prev, next;         /* neighbours in the live chain, -1 at the ends */
    size_t off, n;              /* bytes of the escaped text; n == 0 once merged away */
};

struct bigram {
    float score;
    int32_t left, right;        /* symbol indices */
    size_t size;                /* bytes of the pair when it was queued */
};

/* Heap order: higher score first, then the leftmost pair. */
static bool bg_before(const struct bigram *a, const struct bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

struct heap {
    struct bigram *a;
    size_t n;                   /* capacity is fixed up front: see spm_encode */
};

static void heap_push(struct heap *h, struct bigram b)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bg_before(&b, &h->a[p]))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
}

static struct bigram heap_pop(struct heap *h)
{
    struct bigram top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && bg_before(&h->a[c + 1], &h->a[c]))
            c++;
        if (!bg_before(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = last;
    return top;
}

static void try_pair(const tok_vocab *v, const char *text, const struct sym *sy,
                     struct heap *h, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    size_t size = sy[left].n + sy[right].n;
    int32_t id = lookup(v, text + sy[left].off, size);
    if (id < 0)
        return;
    heap_push(h, (struct bigram){ v->score[id], left, right, size });
}

static int push_or_oom(struct tok_ids *out, int32_t id, char **err)
{
    if (tok_ids_push(out, id) < 0)
        return gl_err(err, "out of memory while tokenizing");
    return 0;
}

/* BPE of already escaped text (spaces are U+2581). */
static int spm_encode(const tok_vocab *v, const char *text, size_t len, struct tok_ids *out,
                      char **err)
{
    if (len == 0)
        return 0;
    struct sym *sy = malloc(len * sizeof *sy);
    /* Queue size bound: n-1 initial pairs plus at most two per merge, and
     * there are at most n-1 merges. */
    struct heap h = { malloc(3 * len * sizeof *h.a), 0 };
    if (!sy || !h.a) {
        free(sy);
        free(h.a);
        return gl_err(err, "out of memory while tokenizing");
    }

    int32_t ns = 0;
    for (size_t o = 0; o < len;) {
        size_t n = utf8_lead_len((unsigned char)text[o]);
        if (n > len - o)
            n = len - o;
        sy[ns] = (struct sym){ ns - 1, -1, o, n };
        if (ns > 0)
            sy[ns - 1].next = ns;
        ns++;
        o += n;
    }

    for (int32_t i = 1; i < ns; i++)
        try_pair(v, text, sy, &h, i - 1, i);

    while (h.n > 0) {
        struct bigram b = heap_pop(&h);
        struct sym *l = &sy[b.left], *r = &sy[b.right];
        /* Stale: one side was merged into something else meanwhile (sizes
         * only ever grow, so unchanged sizes mean an unchanged pair). */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sy[r->next].prev = b.left;
        try_pair(v, text, sy, &h, l->prev, b.left);
        try_pair(v, text, sy, &h, b.left, l->next);
    }

    int rc = 0;
    for (int32_t i = 0; i >= 0 && rc == 0; i = sy[i].next) {
        int32_t id = lookup(v, text + sy[i].off, sy[i].n);
        if (id >= 0) {
            rc = push_or_oom(out, id, err);
            continue;
        }
        /* Only an unmerged single character can miss the vocabulary: every
         * merge made a token. Spell it in bytes. */
        for (size_t k = 0; k < sy[i].n && rc == 0; k++) {
            int32_t bt = v->byte_tok[(unsigned char)text[sy[i].off + k]];
            if (bt < 0)
                bt = v->unk;
            if (bt >= 0)
                rc = push_or_oom(out, bt, err);
        }
    }
    free(sy);
    free(h.a);
    return rc;
}

int tok_encode_plain(const tok_vocab *v, const char *text, size_t len, bool space_prefix,
                     struct tok_ids *out, char **err)
{
    if (len > TOK_MAX_TEXT)
        return gl_err(err, "text too long to tokenize (%zu bytes)", len);
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++)
        spaces += text[i] == ' ';
    size_t n = len + 2 * spaces + (space_prefix ? 3 : 0);
    if (n == 0)
        return 0;
    char *buf = malloc(n);
    if (!buf)
        return gl_err(err, "out of memory while tokenizing");
    size_t o = 0;
    if (space_prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            buf[o++] = text[i];
        }
    }
    size_t n0 = out->n;
    int rc = spm_encode(v, buf, o, out, err);
    if (rc < 0)
        out->n = n0;
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ special-token partitioning */

struct frag {
    int32_t id;                 /* a special token, or -1 for raw text */
    size_t off, len;            /* the raw text's bytes in the input */
};

struct frags {
    struct frag *a;
    size_t n, cap;
};

static int frag_push(struct frags *fl, struct frag f)
{
    if (fl->n == fl->cap) {
        size_t cap = fl->cap ? fl->cap * 2 : 16;
        struct frag *p = realloc(fl->a, cap * sizeof *p);
        if (!p)
            return -1;
        fl->a = p;
        fl->cap = cap;
    }
    fl->a[fl->n++] = f;
    return 0;
}

/* First occurrence of needle in hay[0, hn), or SIZE_MAX. */
static size_t find_bytes(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn)
        return SIZE_MAX;
    const char *p = hay, *end = hay + (hn - nn) + 1;
    while (p < end) {
        p = memchr(p, (unsigned char)needle[0], (size_t)(end - p));
        if (!p)
            return SIZE_MAX;
        if (memcmp(p, needle, nn) == 0)
            return (size_t)(p - hay);
        p++;
    }
    return SIZE_MAX;
}

/* Split every raw fragment of `in` at each occurrence of token `id`. */
static int split_at(const tok_vocab *v, const char *text, int32_t id, const struct frags *in,
                    struct frags *res)
{
    const char *tt = tok_str(v, id);
    size_t tl = v->len[id];
    res->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        struct frag f = in->a[i];
        if (f.id >= 0) {
            if (frag_push(res, f) < 0)
                return -1;
            continue;
        }
        size_t o = f.off, end = f.off + f.len;
        for (;;) {
            size_t m = find_bytes(text + o, end - o, tt, tl);
            if (m == SIZE_MAX) {
                if (end > o && frag_push(res, (struct frag){ -1, o, end - o }) < 0)
                    return -1;
                break;
            }
            if (m > 0 && frag_push(res, (struct frag){ -1, o, m }) < 0)
                return -1;
            if (frag_push(res, (struct frag){ id, 0, 0 }) < 0)
                return -1;
            o += m + tl;
        }
    }
    return 0;
}

int tok_tokenize(const tok_vocab *v, const char *text, size_t len, bool add_bos,
                 bool parse_special, struct tok_ids *out, char **err)
{
    struct frags a = { 0 }, b = { 0 };
    size_t n0 = out->n;
    int rc = -1;

    if (len > TOK_MAX_TEXT)
        return gl_err(err, "text too long to tokenize (%zu bytes)", len);
    if (len > 0 && frag_push(&a, (struct frag){ -1, 0, len }) < 0)
        goto oom;
    for (int32_t k = 0; k < v->n_special && a.n > 0; k++) {
        int32_t id = v->special[k];
        /* Control and unknown tokens are text unless parse_special; user-
         * defined ones are always cut out (llama.cpp, after HF tokenizers). */
        if (!parse_special && v->type[id] != TOK_TYPE_USER_DEFINED)
            continue;
        if (split_at(v, text, id, &a, &b) < 0)
            goto oom;
        struct frags t = a;
        a = b;
        b = t;
    }

    if (add_bos && v->add_bos && push_or_oom(out, v->bos, err) < 0)
        goto fail;
    bool prev_special = true;   /* the first fragment is prefixed too */
    for (size_t i = 0; i < a.n; i++) {
        if (a.a[i].id >= 0) {
            if (push_or_oom(out, a.a[i].id, err) < 0)
                goto fail;
            prev_special = true;
        } else {
            if (tok_encode_plain(v, text + a.a[i].off, a.a[i].len,
                                 v->add_space_prefix && prev_special, out, err) < 0)
                goto fail;
            prev_special = false;
        }
    }
    rc = 0;
    goto done;

oom:
    gl_err(err, "out of memory while tokenizing");
fail:
    out->n = n0;
done:
    free(a.a);
    free(b.a);
    return rc;
}

/* ------------------------------------------------------------------ detokenizing */

static void put(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos < cap) {
        size_t k = cap - *pos < n ? cap - *pos : n;
        memcpy(buf + *pos, s, k);
    }
    *pos += n;
}

/* Mirrors llama.cpp's token_to_piece for SPM: control and unknown tokens
 * print nothing unless `special` (then their text); user-defined tokens print
 * their text as is; normal tokens with U+2581 turned back into spaces; byte
 * tokens their byte; unused / undefined tokens nothing. A NUL goes after the
 * piece when there is room. */
size_t tok_piece(const tok_vocab *v, int32_t id, bool special, char *buf, size_t cap)
{
    size_t pos = 0;
    if (!v || id < 0 || id >= v->n)
        goto end;
    const char *s = tok_str(v, id);
    size_t n = v->len[id];
    switch ((enum tok_type)v->type[id]) {
    case TOK_TYPE_CONTROL:
    case TOK_TYPE_UNKNOWN:
        if (special)
            put(buf, cap, &pos, s, n);
        break;
    case TOK_TYPE_USER_DEFINED:
        put(buf, cap, &pos, s, n);
        break;
    case TOK_TYPE_NORMAL:
        for (size_t i = 0; i < n;) {
            if (n - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                put(buf, cap, &pos, " ", 1);
                i += 3;
            } else {
                put(buf, cap, &pos, s + i, 1);
                i++;
            }
        }
        break;
    case TOK_TYPE_BYTE:
        if (v->byteval[id] >= 0) {
            char c = (char)v->byteval[id];
            put(buf, cap, &pos, &c, 1);
        }
        break;
    default:
        break;
    }
end:
    if (buf && pos < cap)
        buf[pos] = '\0';
    return pos;
}

/* Where complete characters go; one that does not fit is dropped whole. */
struct sink {
    char *out;
    size_t cap, n;
};

static void emit(struct sink *o, const unsigned char *s, size_t n)
{
    if (o->cap - o->n >= n) {
        memcpy(o->out + o->n, s, n);
        o->n += n;
    }
}

static void emit_fffd(struct sink *o)
{
    emit(o, (const unsigned char *)"\xef\xbf\xbd", 3);
}

/* Total length of a sequence from its lead byte; 0 for a byte that cannot
 * start one (continuation bytes, C0/C1 overlongs, F5..FF). */
static int seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* May c follow the pending bytes? The second byte's range excludes
 * overlongs, surrogates and code points above U+10FFFF. */
static bool cont_ok(unsigned char lead, int pos, unsigned char c)
{
    if (c < 0x80 || c > 0xBF)
        return false;
    if (pos == 1) {
        if (lead == 0xE0)
            return c >= 0xA0;
        if (lead == 0xED)
            return c <= 0x9F;
        if (lead == 0xF0)
            return c >= 0x90;
        if (lead == 0xF4)
            return c <= 0x8F;
    }
    return true;
}

/* One byte through the decoder; each maximal invalid subpart becomes one
 * U+FFFD (the Unicode-recommended substitution). */
static void stream_byte(struct tok_stream *s, unsigned char c, struct sink *o)
{
    for (;;) {
        if (s->npend == 0) {
            int need = seq_len(c);
            if (need == 1)
                emit(o, &c, 1);
            else if (need == 0)
                emit_fffd(o);
            else {
                s->pend[0] = c;
                s->npend = 1;
            }
            return;
        }
        if (cont_ok(s->pend[0], s->npend, c)) {
            s->pend[s->npend++] = c;
            if (s->npend == seq_len(s->pend[0])) {
                emit(o, s->pend, (size_t)s->npend);
                s->npend = 0;
            }
            return;
        }
        emit_fffd(o);
        s->npend = 0;           /* and c starts afresh */
    }
}

/* A zeroed struct is a fresh stream; repair anything else inconsistent. */
static void stream_sane(struct tok_stream *s)
{
    if (s->npend < 0 || s->npend > 3 || (s->npend > 0 && seq_len(s->pend[0]) <= s->npend))
        s->npend = 0;
}

size_t tok_stream_feed(const tok_vocab *v, struct tok_stream *s, int32_t id, char *out, size_t cap)
{
    struct sink o = { out, cap, 0 };
    char local[256], *piece = local;
    stream_sane(s);
    size_t n = tok_piece(v, id, false, local, sizeof local);
    if (n >= sizeof local) {
        piece = malloc(n + 1);
        if (!piece)
            return 0;
        tok_piece(v, id, false, piece, n + 1);
    }
    for (size_t i = 0; i < n; i++)
        stream_byte(s, (unsigned char)piece[i], &o);
    if (piece != local)
        free(piece);
    return o.n;
}

size_t tok_stream_flush(struct tok_stream *s, char *out, size_t cap)
{
    struct sink o = { out, cap, 0 };
    stream_sane(s);
    if (s->npend > 0)
        emit_fffd(&o);
    s->npend = 0;
    return o.n;
}
