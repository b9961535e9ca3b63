/*
 * fuzz_tokenizer.c - libFuzzer target: arbitrary bytes through the tokenizer
 * and back through the streaming detokenizer.
 *
 * The vocabulary is built once from a small synthetic GGUF (tests/
 * gguf_writer.h) with every token kind: control, unknown, user-defined,
 * unused, all 256 byte tokens plus malformed ones, multi-byte characters,
 * and normal tokens whose text is itself broken UTF-8 (a lone lead byte, a
 * stray continuation, a surrogate, an overlong) or longer than the
 * detokenizer's stack buffer.
 *
 * The first input byte picks the mode, the rest is the text:
 *   bit 0 add_bos, bit 1 parse_special, bit 2 raw ids (the text read as
 *   16-bit token ids, some out of range) instead of tokenizing.
 * Checked: every id is inside the vocabulary; the detokenized output is
 * valid UTF-8, always; and for valid UTF-8 text without U+2581 or the text
 * of a special token, detokenizing gives the text back (after the space
 * prefix).
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/gguf.h"
#include "glimpse/tokenizer.h"
#include "../gguf_writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TOKS 400
static tok_vocab *vocab;
static int32_t n_vocab;
/* Texts of the tokens that print differently from their text (or not at
 * all). BPE may merge plain characters into them, as llama.cpp does
 * ("<" + "s>" -> "<s>"), so the round trip is only checked without them. */
static const char *const special_text[] = {"<s>", "</s>", "<unk>", "<|im_end|>", "<|img|>", "old", "undef"};

static void die(const char *what)
{
    fprintf(stderr, "fuzz_tokenizer: %s\n", what);
    abort();
}

static tok_vocab *build_vocab(void)
{
    static char byte_names[256][8];
    static char long_tok[301];
    const char *text[MAX_TOKS];
    float score[MAX_TOKS];
    int32_t type[MAX_TOKS];
    int n = 0;
#define ADD(t, s, ty) (text[n] = (t), score[n] = (s), type[n] = (ty), n++)
    ADD("<unk>", 0, TOK_TYPE_UNKNOWN);
    ADD("<s>", 0, TOK_TYPE_CONTROL);
    ADD("</s>", 0, TOK_TYPE_CONTROL);
    for (int b = 0; b < 256; b++) {
        snprintf(byte_names[b], sizeof byte_names[b], "<0x%02X>", b);
        ADD(byte_names[b], 0, TOK_TYPE_BYTE);
    }
    static const char *const normal[] = {
        "\xe2\x96\x81", "a", "b", "c", "d", "e", "h", "t", "s", "ab", "bc", "abc", "th", "he",
        "the", "\xe2\x96\x81the", "\xe2\x96\x81\x61", "\xe2\x96\x81\xe2\x96\x81", "1", "12",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe6\x97\xa5\xe6\x9c\xac",
        "\xe2\x96\x81\xe6\x97\xa5", "<", ">", "</", "s>",
        /* broken UTF-8 inside normal tokens */
        "\xc3", "\xa9", "\xff", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe2\x96",
        "a\xf0\x9f",
    };
    for (size_t i = 0; i < sizeof normal / sizeof *normal; i++)
        ADD(normal[i], -(float)(i % 7) - 0.5f * (float)(i % 3), TOK_TYPE_NORMAL);
    memset(long_tok, 'z', 300);
    ADD(long_tok, -1, TOK_TYPE_NORMAL);
    ADD("<|img|>", 0, TOK_TYPE_USER_DEFINED);
    ADD("\xe2\x96\x81x|", 0, TOK_TYPE_USER_DEFINED);
    ADD("<|im_end|>", 0, TOK_TYPE_CONTROL);
    ADD("old", -2, TOK_TYPE_UNUSED);
    ADD("<0xZZ>", 0, TOK_TYPE_BYTE);
    ADD("<0x1>", 0, TOK_TYPE_BYTE);
    ADD("undef", -3, TOK_TYPE_UNDEFINED);
#undef ADD
    gw *w = gw_new();
    if (!w)
        die("out of memory");
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_str(w, "tokenizer.ggml.model", "llama");
    gw_kv(w, "tokenizer.ggml.tokens", gw_arr(GGUF_VT_STR, text, (uint64_t)n));
    gw_kv(w, "tokenizer.ggml.scores", gw_arr(GGUF_VT_F32, score, (uint64_t)n));
    gw_kv(w, "tokenizer.ggml.token_type", gw_arr(GGUF_VT_I32, type, (uint64_t)n));
    void *buf = NULL;
    size_t len = 0;
    char *err = NULL;
    if (gw_write_mem(w, &buf, &len, &err))
        die(err ? err : "gw_write_mem");
    gw_free(w);
    gguf_file *f = gguf_open_mem(buf, len, "fuzz-vocab.gguf", &err);
    if (!f)
        die(err ? err : "gguf_open_mem");
    tok_vocab *v = tok_load(f, &err);
    if (!v)
        die(err ? err : "tok_load");
    gguf_close(f);
    free(buf);
    n_vocab = tok_n_vocab(v);
    return v;
}

/* Strict UTF-8: no overlongs, surrogates or code points above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        int len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else
            return false;
        if (n - i < (size_t)len)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (int k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return false;
        i += (size_t)len;
    }
    return true;
}

static bool contains(const uint8_t *h, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(h + i, needle, nn) == 0)
            return true;
    return false;
}

/* Detokenize ids through the stream into a malloc'd buffer. */
static char *detok(const int32_t *ids, size_t n, size_t *len)
{
    size_t cap = 64, used = 0;
    char *out = malloc(cap);
    struct tok_stream st = {0};
    char piece[1024];           /* longest token (300) x 3 for U+FFFD + pending */
    for (size_t i = 0; out && i <= n; i++) {
        size_t k = i < n ? tok_stream_feed(vocab, &st, ids[i], piece, sizeof piece)
                         : tok_stream_flush(&st, piece, sizeof piece);
        if (k > sizeof piece)
            die("the stream wrote more than its capacity");
        if (!utf8_valid((const unsigned char *)piece, k))
            die("one token's output is not valid UTF-8");
        if (used + k > cap) {
            while (used + k > cap)
                cap *= 2;
            char *o = realloc(out, cap);
            if (!o) {
                free(out);
                return NULL;
            }
            out = o;
        }
        memcpy(out + used, piece, k);
        used += k;
    }
    *len = used;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vocab)
        vocab = build_vocab();
    if (size == 0)
        return 0;
    unsigned mode = data[0];
    bool add_bos = mode & 1, special = mode & 2, raw = mode & 4;
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    char *tbuf = malloc(n ? n : 1);           /* exact size: ASan sees overreads */
    if (!tbuf)
        return 0;
    memcpy(tbuf, text, n);

    struct tok_ids ids = {0};
    if (raw) {
        for (size_t i = 0; i + 1 < n; i += 2) {
            int32_t id = (int32_t)((text[i] | text[i + 1] << 8) % (uint32_t)(n_vocab + 3)) - 1;
            if (tok_ids_push(&ids, id))
                goto out;
        }
    } else {
        char *err = NULL;
        if (tok_tokenize(vocab, tbuf, n, add_bos, special, &ids, &err)) {
            if (!err)
                die("tok_tokenize failed without a message");
            free(err);
            goto out;
        }
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] < 0 || ids.ids[i] >= n_vocab)
                die("tok_tokenize produced an id outside the vocabulary");
    }
    size_t olen = 0;
    char *o = detok(ids.ids, ids.n, &olen);
    if (o) {
        if (!utf8_valid((const unsigned char *)o, olen))
            die("detokenized output is not valid UTF-8");
        /* Plain valid text comes back exactly (byte fallback covers every
         * character), with the space prefix in front. */
        bool plain = !raw && !special && n > 0 && utf8_valid(text, n) &&
                     !contains(text, n, "\xe2\x96\x81");
        for (size_t k = 0; plain && k < sizeof special_text / sizeof *special_text; k++)
            plain = !contains(text, n, special_text[k]);
        if (plain) {
            bool pre = tok_add_space_prefix(vocab);
            if (olen != n + pre || (pre && o[0] != ' ') || memcmp(o + pre, text, n) != 0) {
                fprintf(stderr, "fuzz_tokenizer: round trip gave %zu bytes for %zu: \"%.*s\"\n", olen,
                        n, (int)(olen < 200 ? olen : 200), o);
                abort();
            }
        }
        free(o);
    }
out:
    tok_ids_free(&ids);
    free(tbuf);
    return 0;
}
