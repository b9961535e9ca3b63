/*
 * tokenizer.h - SentencePiece-style BPE over a GGUF vocabulary
 * (tokenizer.ggml.model = "llama"), as LLaMA / Vicuna / LLaVA use it.
 */
#ifndef GLIMPSE_TOKENIZER_H
#define GLIMPSE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glimpse/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tok_vocab tok_vocab;

/* GGUF token types. */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0, TOK_TYPE_NORMAL = 1, TOK_TYPE_UNKNOWN = 2, TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4, TOK_TYPE_UNUSED = 5, TOK_TYPE_BYTE = 6
};

/* Build the vocabulary from a GGUF file's tokenizer.ggml.* metadata (copied:
 * the vocab does not keep the file). NULL + *err on failure. */
tok_vocab *tok_load(const gguf_file *f, char **err);
void tok_free(tok_vocab *v);

int32_t tok_n_vocab(const tok_vocab *v);
int32_t tok_bos(const tok_vocab *v);
int32_t tok_eos(const tok_vocab *v);
int32_t tok_unk(const tok_vocab *v);
bool tok_add_bos(const tok_vocab *v);          /* tokenizer.ggml.add_bos_token (default true) */
bool tok_add_space_prefix(const tok_vocab *v); /* tokenizer.ggml.add_space_prefix (default true) */
/* The token's stored text (with U+2581 for spaces), or NULL if out of range. */
const char *tok_text(const tok_vocab *v, int32_t id);
enum tok_type tok_get_type(const tok_vocab *v, int32_t id);
/* Id of a token whose text is exactly s, or -1. */
int32_t tok_lookup(const tok_vocab *v, const char *s, size_t len);

/* A growable id list. */
struct tok_ids {
    int32_t *ids;
    size_t n, cap;
};
void tok_ids_free(struct tok_ids *l);
int tok_ids_push(struct tok_ids *l, int32_t id);   /* 0, or -1 on OOM */

/* SentencePiece BPE of one piece of plain text (no special-token parsing),
 * appended to out. With space_prefix a ' ' is put in front of the text first.
 * Spaces become U+2581; characters without a token fall back to <0xXX> byte
 * tokens (or unk when the vocab has none). Returns 0 or -1 (OOM, *err set). */
int tok_encode_plain(const tok_vocab *v, const char *text, size_t len, bool space_prefix,
                     struct tok_ids *out, char **err);

/* Tokenize as llama.cpp's llama_tokenize does for SPM vocabularies:
 * add_bos puts BOS first (when the vocab asks for it); parse_special splits the
 * text at the literal text of control/unknown/user-defined tokens ("</s>") and
 * emits those ids; each plain fragment gets the space prefix when it is the
 * first thing or follows a special token (llama.cpp's behaviour). */
int tok_tokenize(const tok_vocab *v, const char *text, size_t len, bool add_bos,
                 bool parse_special, struct tok_ids *out, char **err);

/* Bytes of a token as text: U+2581 -> ' ', <0xXX> -> that byte, control tokens
 * -> "" (unless `special`). Writes at most cap bytes; returns the full length. */
size_t tok_piece(const tok_vocab *v, int32_t id, bool special, char *buf, size_t cap);

/* Streaming detokenizer: feeds token bytes, emits only complete UTF-8; an
 * invalid sequence comes out as U+FFFD. Never produces broken UTF-8. */
struct tok_stream {
    unsigned char pend[8];
    int npend;
};
/* Append the piece of `id` to the stream; complete UTF-8 text is written to
 * out (cap >= 64 is always enough for one token plus pending bytes). Returns
 * the number of bytes written. */
size_t tok_stream_feed(const tok_vocab *v, struct tok_stream *s, int32_t id, char *out, size_t cap);
/* Flush what remains (an incomplete tail becomes U+FFFD). */
size_t tok_stream_flush(struct tok_stream *s, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
