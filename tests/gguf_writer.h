/*
 * gguf_writer.h - write GGUF files: valid ones for tests, the demo model and
 * synthetic benchmark models, and deliberately broken ones for the reader's
 * tests.
 *
 *   gw *w = gw_new();
 *   gw_kv_str(w, "general.architecture", "llama");
 *   gw_kv_u32(w, "llama.block_count", 2);
 *   gw_kv(w, "tokenizer.ggml.tokens", gw_arr(GGUF_VT_STR, tokens, n_tokens));
 *   gw_tensor(w, "output_norm.weight", GL_TYPE_F32, 1, (int64_t[]){256}, norm);
 *   if (gw_write_file(w, "model.gguf", &err)) ...
 *   gw_free(w);
 *
 * The writer checks nothing about what it is given (empty or duplicate
 * keys, unknown tensor types, any version or alignment): producing broken
 * files is part of its job. After a write, gw_layout() tells where every
 * header field landed so a test can overwrite "tensor 2's offset" or "key
 * 3's string length" with gw_poke_u32/u64 and feed the result to the reader.
 * gw_corpus_*() builds a fixed list of such broken files (plus a few valid
 * variants); tests/mkgguf writes them all to a directory.
 *
 * Errors: functions returning int give 0 or -1; builder failures (out of
 * memory) are remembered and reported by the next gw_write_*.
 */
#ifndef GLIMPSE_GGUF_WRITER_H
#define GLIMPSE_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glimpse/gguf.h"

typedef struct gw gw;
typedef struct gw_val gw_val;

gw *gw_new(void);
void gw_free(gw *w);                      /* NULL is a no-op */

/* The version field, written as given (default 3). */
void gw_set_version(gw *w, uint32_t version);
/* Alignment of the data area and of every tensor (default 32, any value > 0).
 * If it is not 32 and no "general.alignment" key was added, a u32 key with
 * this value is appended to the metadata when writing. */
void gw_set_alignment(gw *w, uint32_t alignment);
/* Write every header number big-endian (a byte-swapped file). */
void gw_set_big_endian(gw *w, bool big_endian);

/* ---------------------------------------------------------------- values
 * Values are trees owned by whoever holds them; gw_kv and gw_arr_push take
 * ownership (also when they fail). Constructors return NULL only on OOM. */
gw_val *gw_u8(uint8_t x);
gw_val *gw_i8(int8_t x);
gw_val *gw_u16(uint16_t x);
gw_val *gw_i16(int16_t x);
gw_val *gw_u32(uint32_t x);
gw_val *gw_i32(int32_t x);
gw_val *gw_f32(float x);
gw_val *gw_bool(bool x);
gw_val *gw_u64(uint64_t x);
gw_val *gw_i64(int64_t x);
gw_val *gw_f64(double x);
gw_val *gw_str(const char *s);                   /* copied */
gw_val *gw_strn(const void *s, size_t len);      /* any bytes, copied */
/* An array of `n` elements of type `elem`, copied from `data`:
 * fixed-size types: a C array of uint8_t/int8_t/.../float/bool/double;
 * GGUF_VT_STR: an array of `n` NUL-terminated strings (const char *const *);
 * GGUF_VT_ARR: data must be NULL and n 0; add the inner arrays with gw_arr_push.
 * `elem` is written as given, so an invalid element type needs n == 0. */
gw_val *gw_arr(enum gguf_vtype elem, const void *data, uint64_t n);
/* Append an element (of any type: the writer does not check) to an array. */
int gw_arr_push(gw_val *arr, gw_val *item);
void gw_val_free(gw_val *v);

/* ---------------------------------------------------------------- metadata
 * Pairs are written in the order they are added. */
int gw_kv(gw *w, const char *key, gw_val *v);
int gw_kvn(gw *w, const void *key, size_t key_len, gw_val *v);  /* any bytes, even empty */
int gw_kv_u32(gw *w, const char *key, uint32_t x);
int gw_kv_i32(gw *w, const char *key, int32_t x);
int gw_kv_u64(gw *w, const char *key, uint64_t x);
int gw_kv_f32(gw *w, const char *key, float x);
int gw_kv_bool(gw *w, const char *key, bool x);
int gw_kv_str(gw *w, const char *key, const char *s);

/* ---------------------------------------------------------------- tensors
 * Tensors are written in the order they are added, each at the next offset
 * that is a multiple of the alignment. Their data is read at write time. */

/* Produce rows [row0, row0 + nrows) of a tensor (a row is ne[0] values,
 * row_bytes bytes) into dst. Called in chunks of whole rows. */
typedef void (*gw_fill_fn)(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user);

/* A tensor of a type quant.h supports; its size comes from the type's
 * traits (ne[0] must be a multiple of the block size). `data` (nbytes) is
 * NOT copied: it must stay valid until the last write. NULL writes zeros. */
int gw_tensor(gw *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data);
/* The same with the data produced by a callback at write time. */
int gw_tensor_fill(gw *w, const char *name, int type, int n_dims, const int64_t *ne,
                   gw_fill_fn fill, void *user);
/* Anything at all: the name (any bytes), n_dims, extents and type are
 * written as given and `nbytes` of data (from `data`, or zeros) are stored.
 * ne must have max(n_dims, 0) entries, at most 8 are used. */
int gw_tensor_raw(gw *w, const void *name, size_t name_len, uint32_t type, uint32_t n_dims,
                  const uint64_t *ne, uint64_t nbytes, const void *data);

/* ---------------------------------------------------------------- output */

/* Write to `path` atomically (a temporary file in the same directory, then
 * rename). */
int gw_write_file(gw *w, const char *path, char **err);
/* Write into a malloc'd buffer (*buf, *len; caller frees *buf). */
int gw_write_mem(gw *w, void **buf, size_t *len, char **err);

/* Byte offsets of every header field in the last file written. */
struct gw_kv_pos {
    uint64_t key_len;           /* u64 key length */
    uint64_t key;               /* key bytes */
    uint64_t type;              /* u32 value type */
    uint64_t value;             /* the value; STR: its u64 length; ARR: its u32 element type */
    uint64_t arr_count;         /* ARR: the u64 element count (0 for other types) */
    uint64_t end;               /* first byte after the pair */
};

struct gw_tensor_pos {
    uint64_t name_len;          /* u64 */
    uint64_t name;
    uint64_t n_dims;            /* u32 */
    uint64_t ne[GGUF_MAX_DIMS]; /* u64 each (0 when n_dims is smaller) */
    uint64_t type;              /* u32 */
    uint64_t offset;            /* u64: the field holding the data offset */
    uint64_t data_offset;       /* the value written there (relative to the data area) */
    uint64_t data;              /* absolute file offset of the data */
    uint64_t nbytes;
};

struct gw_layout {
    uint64_t version;           /* u32 */
    uint64_t n_tensors;         /* u64 */
    uint64_t n_kv;              /* u64 */
    size_t kv_count;
    const struct gw_kv_pos *kv;
    size_t tensor_count;
    const struct gw_tensor_pos *tensor;
    uint64_t header_size;       /* end of the tensor directory */
    uint64_t data_start;        /* start of the data area */
    uint64_t data_end;          /* end of the last tensor's data (before padding) */
    uint64_t size;              /* whole file */
};

/* Valid after a successful write, until the next write or gw_free. */
const struct gw_layout *gw_layout(const gw *w);

/* Overwrite a little-endian field of a written image (asserts it fits). */
void gw_poke_u32(void *buf, size_t len, uint64_t off, uint32_t v);
void gw_poke_u64(void *buf, size_t len, uint64_t off, uint64_t v);
/* Store bytes as `path` atomically. */
int gw_save(const char *path, const void *buf, size_t len, char **err);

/* ---------------------------------------------------------------- corpus
 * A deterministic list of small GGUF files: a few valid variants and many
 * broken ones, each derived from one small valid file. */
struct gw_case {
    const char *name;           /* file name stem: "good-..." or "bad-..." */
    bool valid;                 /* the reader must accept it */
    const char *expect;         /* bad: a phrase the reader's message must contain ("" = any) */
    const char *what;           /* one line saying what is wrong */
};

int gw_corpus_count(void);
const struct gw_case *gw_corpus_case(int i);
/* Build case i into a malloc'd buffer. */
int gw_corpus_build(int i, void **buf, size_t *len, char **err);
/* A writer loaded with the small valid file the broken cases derive from
 * (NULL on OOM); write it and use gw_layout() to find its fields. */
gw *gw_corpus_base(uint32_t version, uint32_t alignment);

#endif
