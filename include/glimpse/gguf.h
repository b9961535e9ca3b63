/*
 * gguf.h - a bounds-checked reader for GGUF model files (versions 2 and 3).
 *
 * The format, in our own words
 * ----------------------------
 * A GGUF file is little-endian throughout and has four parts, in this order:
 *
 *   1. Header: the magic bytes "GGUF", a u32 version (2 or 3; version 1 used
 *      32-bit counts and is not supported), a u64 tensor count and a u64
 *      metadata key/value count.
 *   2. Metadata: that many key/value pairs. A key is a string; a value is a
 *      u32 type tag followed by the value itself. Strings everywhere are a u64
 *      byte length followed by that many bytes (UTF-8, no terminating NUL).
 *      Scalar types are u8 i8 u16 i16 u32 i32 f32 bool(1 byte) u64 i64 f64;
 *      an array is a u32 element type, a u64 element count, then the elements
 *      (which may themselves be strings or arrays).
 *   3. Tensor directory: for each tensor its name (string), a u32 number of
 *      dimensions (1..4), that many u64 extents (ne[0] is the contiguous one),
 *      a u32 element type (see quant.h) and a u64 offset relative to the start
 *      of the data area.
 *   4. Data area: starts at the first multiple of the alignment after the
 *      directory. The alignment is the u32 key "general.alignment" (default
 *      32, must be a power of two). Every tensor offset is a multiple of it.
 *
 * This reader maps the file read-only and never trusts it: every count,
 * length, extent and offset is checked against the bytes that remain (and
 * against overflow) before anything is allocated or read. Duplicate keys or
 * tensor names, unknown versions or value types, byte-swapped (big-endian)
 * files, unknown tensor types, misaligned, overlapping or out-of-range tensor
 * data are refused with a message that names the file and the problem.
 *
 * Strings returned by this API point into the mapping and are NOT terminated;
 * use their length. Everything stays valid until gguf_close().
 */
#ifndef GLIMPSE_GGUF_H
#define GLIMPSE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gguf_vtype {
    GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4, GGUF_VT_I32 = 5, GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STR = 8, GGUF_VT_ARR = 9, GGUF_VT_U64 = 10, GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
    GGUF_VT_COUNT
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

struct gguf_str {
    const char *ptr;            /* into the mapping, not NUL-terminated */
    uint64_t len;
};

/* One metadata value. Scalars are widened into u64 / i64 / f64 / b. */
struct gguf_value {
    enum gguf_vtype type;
    union {
        uint64_t u64;           /* U8 U16 U32 U64 */
        int64_t i64;            /* I8 I16 I32 I64 */
        double f64;             /* F32 F64 */
        bool b;                 /* BOOL */
        struct gguf_str str;    /* STR */
        struct {
            enum gguf_vtype type;          /* element type */
            uint64_t n;                    /* element count */
            const void *data;              /* fixed-size elements: raw LE bytes in the mapping */
            const struct gguf_value *items;/* STR / ARR elements: n parsed values; else NULL */
        } arr;
    } v;
};

struct gguf_kv {
    struct gguf_str key;
    struct gguf_value val;
};

struct gguf_tensor {
    const char *name;           /* NUL-terminated copy owned by the reader */
    int n_dims;                 /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS];  /* extents; unused dims are 1 */
    int type;                   /* enum gl_type (quant.h); validated to be known */
    uint64_t offset;            /* relative to the data area */
    uint64_t nbytes;            /* size of the tensor's data */
    int64_t nelements;
    const void *data;           /* into the mapping */
};

typedef struct gguf_file gguf_file;

/* Open and validate a GGUF file (read-only mmap). Returns NULL and sets *err
 * (malloc'd, caller frees) on any problem. */
gguf_file *gguf_open(const char *path, char **err);

/* Parse a GGUF image already in memory (not copied; must outlive the handle).
 * `name` is used in messages. For tests and fuzzing. */
gguf_file *gguf_open_mem(const void *buf, size_t len, const char *name, char **err);

/* Unmap and free; NULL is a no-op. */
void gguf_close(gguf_file *f);

const char *gguf_path(const gguf_file *f);       /* the name given at open */
uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);   /* start of the data area in the file */
/* Bytes of header + metadata + tensor directory (what a fingerprint hashes). */
uint64_t gguf_header_size(const gguf_file *f);
const void *gguf_base(const gguf_file *f);       /* start of the mapping */

/* Metadata. */
int64_t gguf_n_kv(const gguf_file *f);
const struct gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i);
const struct gguf_value *gguf_get(const gguf_file *f, const char *key);  /* NULL if absent */
const char *gguf_vtype_name(enum gguf_vtype t);

/* Typed getters. Each returns 0 on success, 1 if the key is absent (out is
 * untouched), -1 if present with an incompatible type or out of range
 * (*err set, naming the file and the key). Integer getters accept any integer
 * type whose value fits. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char **err);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char **err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, char **err);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char **err);
/* String value; *out points into the mapping (not terminated). */
int gguf_get_str(const gguf_file *f, const char *key, struct gguf_str *out, char **err);
/* Array value whose elements have type `elem` (GGUF_VT_COUNT = any); *out is the value. */
int gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype elem,
                 const struct gguf_value **out, char **err);

/* Element i of a fixed-size numeric array, widened (caller checked the type). */
double gguf_arr_f64(const struct gguf_value *arr, uint64_t i);
int64_t gguf_arr_i64(const struct gguf_value *arr, uint64_t i);

/* Convenience: compare a gguf_str with a C string. */
bool gguf_str_eq(struct gguf_str s, const char *c);
/* malloc'd NUL-terminated copy of a string (NULL on allocation failure). */
char *gguf_str_dup(struct gguf_str s);

/* Tensors. */
int64_t gguf_n_tensors(const gguf_file *f);
const struct gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
const struct gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name); /* NULL if absent */

#ifdef __cplusplus
}
#endif
#endif
