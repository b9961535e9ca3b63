/*
 * gguf.c - the GGUF reader: maps a model file read-only and validates its
 * header, metadata, tensor directory and tensor placement before anyone
 * else looks at it (format summary in gguf.h).
 *
 * The file is hostile until proven otherwise. Every count, length, extent
 * and offset is checked against the bytes that remain and against overflow
 * before it is used; arrays of variable-size elements are grown as their
 * elements are actually parsed, so a garbage count can never make us
 * allocate more than a small multiple of the bytes really present.
 * Fixed-size array elements and tensor data are not copied: they point into
 * the mapping. Tensor names are copied (NUL-terminated) and indexed by a
 * hash table, as are the keys.
 */
#include "config.h"

#include "glimpse/gguf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glimpse/quant.h"
#include "util.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_NAME (64u * 1024)      /* longest key / tensor name we accept */
#define GGUF_MAX_DEPTH 8                /* deepest array nesting we accept */

/* Smallest possible encodings, used to bound counts before allocating:
 * a key/value pair is a key (u64 length + at least 1 byte), a u32 type and
 * at least one byte of value; a tensor entry is a name (u64 + 1), a u32
 * n_dims, one u64 extent, a u32 type and a u64 offset. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)

/* An open-addressing hash table of entry indices (-1 = empty slot). It
 * grows with the entries actually parsed, never with a count read from
 * the file. */
struct index {
    int64_t *slots;
    uint64_t mask;              /* capacity - 1 (a power of two), or 0 if unallocated */
    bool keys;                  /* indices into kv[] (else into tensors[]) */
};

struct gguf_file {
    char *path;                 /* name used in messages (copy) */
    const uint8_t *base;        /* mapping or caller's buffer */
    uint64_t size;
    bool mapped;                /* munmap at close */
    uint32_t version;
    uint32_t alignment;
    uint64_t header_size;       /* end of the tensor directory */
    uint64_t data_offset;       /* aligned start of the data area */

    struct gguf_kv *kv;         /* n_kv pairs, file order */
    int64_t n_kv;
    struct gguf_tensor *tensors;/* n_tensors, file order */
    int64_t n_tensors;

    struct index kv_index;      /* key -> kv[] index */
    struct index t_index;       /* tensor name -> tensors[] index */
};

/* Sizes of the fixed-size value types; 0 for STR and ARR. */
static const uint8_t vt_size[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = 1, [GGUF_VT_I8] = 1, [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
    [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_STR] = 0, [GGUF_VT_ARR] = 0, [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8,
    [GGUF_VT_F64] = 8,
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
    static const char *const names[GGUF_VT_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
    };
    if ((unsigned)t >= GGUF_VT_COUNT)
        return "unknown";
    return names[t];
}

/* ------------------------------------------------------------ byte access */

/* Explicit little-endian loads: correct on any host and for any alignment. */
static uint16_t ld_u16(const uint8_t *b)
{
    return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}

static uint32_t ld_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t ld_u64(const uint8_t *b)
{
    return (uint64_t)ld_u32(b) | (uint64_t)ld_u32(b + 4) << 32;
}

static uint64_t fnv1a(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ------------------------------------------------------------ the parser */

struct parser {
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
    const char *name;           /* file name for messages */
    char **err;
    char ctx[160];              /* what is being read: "key 3 ('general.name')" */
};

static uint64_t left(const struct parser *ps)
{
    return ps->size - ps->pos;
}

/* A printable, bounded rendering of a key or tensor name for messages. */
static void show_name(char *out, size_t cap, const char *s, uint64_t n)
{
    size_t o = 0;
    uint64_t lim = n > 60 ? 60 : n;
    for (uint64_t i = 0; i < lim && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n > lim && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
}

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *ps, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* "tensor 'x' has 5 dimensions" reads better without a colon. */
    if (ps->ctx[0])
        return gl_err(ps->err, "%s: %s%s%s", ps->name, ps->ctx,
                      strncmp(msg, "has ", 4) == 0 ? " " : ": ", msg);
    return gl_err(ps->err, "%s: %s", ps->name, msg);
}

/* Fail unless n more bytes are available; `what` names the field. */
static int need(struct parser *ps, uint64_t n, const char *what)
{
    if (n <= left(ps))
        return 0;
    return fail(ps, "file is truncated: %s at offset %" PRIu64 " needs %" PRIu64
                " bytes, only %" PRIu64 " left", what, ps->pos, n, left(ps));
}

static int rd_u32(struct parser *ps, uint32_t *v, const char *what)
{
    if (need(ps, 4, what))
        return -1;
    *v = ld_u32(ps->p + ps->pos);
    ps->pos += 4;
    return 0;
}

static int rd_u64(struct parser *ps, uint64_t *v, const char *what)
{
    if (need(ps, 8, what))
        return -1;
    *v = ld_u64(ps->p + ps->pos);
    ps->pos += 8;
    return 0;
}

/* A string: u64 length, then the bytes (left in the mapping). */
static int rd_str(struct parser *ps, struct gguf_str *s, const char *what)
{
    uint64_t n;
    if (rd_u64(ps, &n, what))
        return -1;
    if (n > left(ps))
        return fail(ps, "%s %" PRIu64 " at offset %" PRIu64 " runs past the end of the file"
                    " (%" PRIu64 " bytes left; truncated or corrupt file)", what, n, ps->pos - 8, left(ps));
    s->ptr = (const char *)ps->p + ps->pos;
    s->len = n;
    ps->pos += n;
    return 0;
}

/* Keys and tensor names: not empty, not huge, no NUL bytes. */
static int check_name(struct parser *ps, struct gguf_str s, const char *what)
{
    if (s.len == 0)
        return fail(ps, "%s is empty", what);
    if (s.len > GGUF_MAX_NAME)
        return fail(ps, "%s is %" PRIu64 " bytes long (at most %u allowed)", what, s.len, GGUF_MAX_NAME);
    if (memchr(s.ptr, 0, s.len))
        return fail(ps, "%s contains a NUL byte", what);
    return 0;
}

static void value_free(struct gguf_value *v)
{
    if (v->type != GGUF_VT_ARR || !v->v.arr.items)
        return;
    struct gguf_value *items = (struct gguf_value *)v->v.arr.items;
    for (uint64_t i = 0; i < v->v.arr.n; i++)
        value_free(&items[i]);
    free(items);
    v->v.arr.items = NULL;
}

static int parse_value(struct parser *ps, enum gguf_vtype t, struct gguf_value *v, int depth);

/* An array: u32 element type, u64 count, elements. */
static int parse_array(struct parser *ps, struct gguf_value *v, int depth)
{
    uint32_t et;
    uint64_t n;

    if (depth >= GGUF_MAX_DEPTH)
        return fail(ps, "arrays are nested more than %d deep", GGUF_MAX_DEPTH);
    if (rd_u32(ps, &et, "the array element type"))
        return -1;
    if (et >= GGUF_VT_COUNT)
        return fail(ps, "unknown array element type %" PRIu32 " at offset %" PRIu64, et, ps->pos - 4);
    if (rd_u64(ps, &n, "the array count"))
        return -1;
    /* The smallest encoding of one element bounds the count. */
    uint64_t min = vt_size[et] ? vt_size[et] : et == GGUF_VT_STR ? 8 : 12;
    if (n > left(ps) / min)
        return fail(ps, "array count %" PRIu64 " at offset %" PRIu64 " cannot fit in the %"
                    PRIu64 " bytes left (%s elements; truncated or corrupt file)", n, ps->pos - 8, left(ps),
                    gguf_vtype_name((enum gguf_vtype)et));
    v->v.arr.type = (enum gguf_vtype)et;
    v->v.arr.data = ps->p + ps->pos;
    v->v.arr.items = NULL;
    v->v.arr.n = 0;

    if (vt_size[et]) {
        if (et == GGUF_VT_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (ps->p[ps->pos + i] > 1)
                    return fail(ps, "bool array element %" PRIu64 " is %u (must be 0 or 1)",
                                i, ps->p[ps->pos + i]);
        }
        v->v.arr.n = n;
        ps->pos += n * vt_size[et];
        return 0;
    }

    /* Strings / arrays: grow as elements really parse, so a lying count
     * costs at most what the bytes present can justify. */
    struct gguf_value *items = NULL;
    uint64_t cap = 0, done = 0;
    while (done < n) {
        if (done == cap) {
            uint64_t ncap = cap ? cap * 2 : 16;
            if (ncap > n)
                ncap = n;
            struct gguf_value *ni = realloc(items, ncap * sizeof *items);
            if (!ni) {
                fail(ps, "out of memory for an array of %" PRIu64 " elements", n);
                goto fail;
            }
            items = ni;
            cap = ncap;
        }
        if (parse_value(ps, (enum gguf_vtype)et, &items[done], depth + 1))
            goto fail;
        done++;
    }
    v->v.arr.items = items;
    v->v.arr.n = n;
    v->v.arr.data = NULL;
    return 0;

fail:
    for (uint64_t i = 0; i < done; i++)
        value_free(&items[i]);
    free(items);
    return -1;
}

static int parse_value(struct parser *ps, enum gguf_vtype t, struct gguf_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    if (vt_size[t] && need(ps, vt_size[t], "the value"))
        return -1;
    const uint8_t *b = ps->p + ps->pos;
    switch (t) {
    case GGUF_VT_U8: v->v.u64 = b[0]; break;
    case GGUF_VT_I8: v->v.i64 = (int8_t)b[0]; break;
    case GGUF_VT_U16: v->v.u64 = ld_u16(b); break;
    case GGUF_VT_I16: v->v.i64 = (int16_t)ld_u16(b); break;
    case GGUF_VT_U32: v->v.u64 = ld_u32(b); break;
    case GGUF_VT_I32: v->v.i64 = (int32_t)ld_u32(b); break;
    case GGUF_VT_U64: v->v.u64 = ld_u64(b); break;
    case GGUF_VT_I64: v->v.i64 = (int64_t)ld_u64(b); break;
    case GGUF_VT_F32: {
        uint32_t u = ld_u32(b);
        float f;
        memcpy(&f, &u, 4);
        v->v.f64 = f;
        break;
    }
    case GGUF_VT_F64: {
        uint64_t u = ld_u64(b);
        memcpy(&v->v.f64, &u, 8);
        break;
    }
    case GGUF_VT_BOOL:
        if (b[0] > 1)
            return fail(ps, "bool value at offset %" PRIu64 " is %u (must be 0 or 1)", ps->pos, b[0]);
        v->v.b = b[0] != 0;
        break;
    case GGUF_VT_STR:
        return rd_str(ps, &v->v.str, "string length");
    case GGUF_VT_ARR:
        return parse_array(ps, v, depth);
    default:
        return fail(ps, "unknown value type %d", (int)t);
    }
    ps->pos += vt_size[t];
    return 0;
}

/* ------------------------------------------------------------ hash index */

static void entry_name(const gguf_file *f, bool keys, int64_t i, const char **p, uint64_t *len)
{
    if (keys) {
        *p = f->kv[i].key.ptr;
        *len = f->kv[i].key.len;
    } else {
        *p = f->tensors[i].name;
        *len = strlen(*p);
    }
}

/* The slot holding name s[0..n), or the empty slot where it would go. */
static uint64_t index_slot(const struct index *ix, const gguf_file *f, const char *s, uint64_t n)
{
    uint64_t h = fnv1a(s, n) & ix->mask;
    for (;;) {
        int64_t i = ix->slots[h];
        const char *p;
        uint64_t len;
        if (i < 0)
            return h;
        entry_name(f, ix->keys, i, &p, &len);
        if (len == n && memcmp(p, s, n) == 0)
            return h;
        h = (h + 1) & ix->mask;
    }
}

/* Index of the entry named s[0..n), or -1. */
static int64_t index_find(const struct index *ix, const gguf_file *f, const char *s, uint64_t n)
{
    if (!ix->slots)
        return -1;
    return ix->slots[index_slot(ix, f, s, n)];
}

/* Add entry i (already stored, with a name not yet present); the table is
 * kept at most half full. */
static int index_add(struct index *ix, const gguf_file *f, int64_t i)
{
    const char *p;
    uint64_t len;
    if (!ix->slots || (uint64_t)(i + 1) * 2 > ix->mask + 1) {
        uint64_t cap = ix->slots ? (ix->mask + 1) * 2 : 64;
        int64_t *ns = malloc(cap * sizeof *ns);
        if (!ns)
            return -1;
        for (uint64_t k = 0; k < cap; k++)
            ns[k] = -1;
        free(ix->slots);
        ix->slots = ns;
        ix->mask = cap - 1;
        for (int64_t k = 0; k < i; k++) {
            entry_name(f, ix->keys, k, &p, &len);
            ix->slots[index_slot(ix, f, p, len)] = k;
        }
    }
    entry_name(f, ix->keys, i, &p, &len);
    ix->slots[index_slot(ix, f, p, len)] = i;
    return 0;
}

/* Room for one more element in a growing array of `size`-byte items:
 * returns the (possibly moved) array, or NULL (the old one intact). */
static void *grow(void *arr, uint64_t *cap, uint64_t used, size_t size)
{
    if (used < *cap)
        return arr;
    uint64_t ncap = *cap ? *cap * 2 : 32;
    void *p = realloc(arr, (size_t)ncap * size);
    if (p)
        *cap = ncap;
    return p;
}

/* ------------------------------------------------------------ sections */

static int parse_kvs(struct parser *ps, gguf_file *f, uint64_t n_kv)
{
    uint64_t cap = 0;
    f->kv_index.keys = true;
    for (uint64_t i = 0; i < n_kv; i++) {
        struct gguf_kv kv;
        uint32_t t;
        char shown[80];

        snprintf(ps->ctx, sizeof ps->ctx, "key %" PRIu64, i);
        if (rd_str(ps, &kv.key, "key length"))
            return -1;
        if (check_name(ps, kv.key, "the key"))
            return -1;
        show_name(shown, sizeof shown, kv.key.ptr, kv.key.len);
        snprintf(ps->ctx, sizeof ps->ctx, "key %" PRIu64 " ('%s')", i, shown);
        int64_t dup = index_find(&f->kv_index, f, kv.key.ptr, kv.key.len);
        if (dup >= 0)
            return fail(ps, "duplicate key (also key %" PRId64 ")", dup);
        if (rd_u32(ps, &t, "the value type"))
            return -1;
        if (t >= GGUF_VT_COUNT)
            return fail(ps, "unknown value type %" PRIu32 " at offset %" PRIu64, t, ps->pos - 4);
        if (parse_value(ps, (enum gguf_vtype)t, &kv.val, 0))
            return -1;
        struct gguf_kv *nk = grow(f->kv, &cap, (uint64_t)f->n_kv, sizeof *f->kv);
        if (!nk) {
            value_free(&kv.val);
            return fail(ps, "out of memory");
        }
        f->kv = nk;
        f->kv[f->n_kv] = kv;
        if (index_add(&f->kv_index, f, f->n_kv++))
            return fail(ps, "out of memory");
    }
    ps->ctx[0] = 0;
    return 0;
}

static int parse_alignment(struct parser *ps, gguf_file *f)
{
    const struct gguf_value *v = gguf_get(f, "general.alignment");
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!v)
        return 0;
    if (v->type != GGUF_VT_U32)
        return fail(ps, "general.alignment has type %s (must be u32)", gguf_vtype_name(v->type));
    uint64_t a = v->v.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(ps, "general.alignment %" PRIu64 " is not a power of two", a);
    f->alignment = (uint32_t)a;
    return 0;
}

/* One directory entry; sizes checked against types and overflow. */
static int parse_tensor(struct parser *ps, gguf_file *f, int64_t i)
{
    struct gguf_tensor *t = &f->tensors[i];
    struct gguf_str name;
    uint32_t n_dims, type;
    char shown[80];

    snprintf(ps->ctx, sizeof ps->ctx, "tensor %" PRId64, i);
    if (rd_str(ps, &name, "name length"))
        return -1;
    if (check_name(ps, name, "the name"))
        return -1;
    show_name(shown, sizeof shown, name.ptr, name.len);
    snprintf(ps->ctx, sizeof ps->ctx, "tensor '%s'", shown);
    int64_t dup = index_find(&f->t_index, f, name.ptr, name.len);
    if (dup >= 0)
        return fail(ps, "duplicate tensor name (tensors %" PRId64 " and %" PRId64 ")", dup, i);
    char *copy = malloc(name.len + 1);
    if (!copy)
        return fail(ps, "out of memory");
    memcpy(copy, name.ptr, name.len);
    copy[name.len] = 0;
    memset(t, 0, sizeof *t);
    t->name = copy;
    f->n_tensors = i + 1;           /* owns the name from here on */
    if (index_add(&f->t_index, f, i))
        return fail(ps, "out of memory");

    if (rd_u32(ps, &n_dims, "the dimension count"))
        return -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(ps, "has %" PRIu32 " dimensions (must be 1 to %d)", n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t nel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        if (rd_u64(ps, &ne, "an extent"))
            return -1;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return fail(ps, "dimension %" PRIu32 " is %" PRId64 " (must be positive)", d, (int64_t)ne);
        if (!gl_mul_ok(nel, ne, &nel) || nel > (uint64_t)INT64_MAX)
            return fail(ps, "element count overflows");
        t->ne[d] = (int64_t)ne;
    }
    t->nelements = (int64_t)nel;

    if (rd_u32(ps, &type, "the tensor type"))
        return -1;
    const struct gl_type_traits *tr = type <= INT32_MAX ? gl_type_traits((int)type) : NULL;
    if (!tr) {
        const char *tn = type <= INT32_MAX ? gl_type_name((int)type) : NULL;
        if (tn)
            return fail(ps, "has type %s, which glimpse does not support", tn);
        return fail(ps, "has unknown type %" PRIu32, type);
    }
    t->type = (int)type;
    if (tr->blck_size <= 0 || t->ne[0] % tr->blck_size != 0)
        return fail(ps, "row length %" PRId64 " is not a multiple of %s's block size %d",
                    t->ne[0], tr->name, tr->blck_size);
    uint64_t row, nbytes;
    if (!gl_mul_ok((uint64_t)(t->ne[0] / tr->blck_size), tr->type_size, &row) ||
        !gl_mul_ok(row, nel / (uint64_t)t->ne[0], &nbytes))
        return fail(ps, "byte size overflows");
    t->nbytes = nbytes;
    if (rd_u64(ps, &t->offset, "the data offset"))
        return -1;
    return 0;
}

struct span {
    uint64_t off, end;
    int64_t i;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Every tensor aligned, inside the data area, and no two overlapping. */
static int place_tensors(struct parser *ps, gguf_file *f)
{
    uint64_t avail = f->size - f->data_offset;
    struct span *sp = NULL;

    for (int64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        uint64_t end;
        char shown[80];
        show_name(shown, sizeof shown, t->name, strlen(t->name));
        snprintf(ps->ctx, sizeof ps->ctx, "tensor '%s'", shown);
        if (t->offset % f->alignment != 0)
            return fail(ps, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                        t->offset, f->alignment);
        if (!gl_add_ok(t->offset, t->nbytes, &end) || end > avail)
            return fail(ps, "data (%" PRIu64 " bytes at offset %" PRIu64 " of the data area) extends"
                        " past the end of the file (the data area holds %" PRIu64 " bytes)",
                        t->nbytes, t->offset, avail);
        t->data = f->base + f->data_offset + t->offset;
    }
    ps->ctx[0] = 0;
    if (f->n_tensors < 2)
        return 0;
    sp = malloc((size_t)f->n_tensors * sizeof *sp);
    if (!sp)
        return fail(ps, "out of memory");
    for (int64_t i = 0; i < f->n_tensors; i++)
        sp[i] = (struct span){f->tensors[i].offset, f->tensors[i].offset + f->tensors[i].nbytes, i};
    qsort(sp, (size_t)f->n_tensors, sizeof *sp, span_cmp);
    for (int64_t k = 1; k < f->n_tensors; k++) {
        if (sp[k].off < sp[k - 1].end) {
            char a[80], b[80];
            const char *na = f->tensors[sp[k - 1].i].name, *nb = f->tensors[sp[k].i].name;
            show_name(a, sizeof a, na, strlen(na));
            show_name(b, sizeof b, nb, strlen(nb));
            free(sp);
            return fail(ps, "the data of tensors '%s' and '%s' overlap", a, b);
        }
    }
    free(sp);
    return 0;
}

static int parse(gguf_file *f, char **err)
{
    struct parser ps = {.p = f->base, .size = f->size, .name = f->path, .err = err};
    uint64_t n_tensors, n_kv;

    if (f->size == 0)
        return fail(&ps, "empty file");
    if (f->size < 4 || memcmp(f->base, GGUF_MAGIC, 4) != 0)
        return fail(&ps, "not a GGUF file (no GGUF magic at the start)");
    ps.pos = 4;
    if (rd_u32(&ps, &f->version, "the version"))
        return -1;
    if (f->version != 2 && f->version != 3) {
        /* A byte-swapped file has its small version number in the high bytes. */
        if (f->version != 0 && (f->version & 0xffff) == 0)
            return fail(&ps, "big-endian GGUF files are not supported (version field reads 0x%08"
                        PRIx32 ")", f->version);
        if (f->version == 1)
            return fail(&ps, "GGUF version 1 is not supported (it has 32-bit counts; "
                        "glimpse reads versions 2 and 3)");
        return fail(&ps, "GGUF version %" PRIu32 " is not supported (glimpse reads versions 2 and 3)",
                    f->version);
    }
    if (rd_u64(&ps, &n_tensors, "the tensor count") || rd_u64(&ps, &n_kv, "the metadata key count"))
        return -1;
    if (n_kv > left(&ps) / MIN_KV_BYTES)
        return fail(&ps, "metadata key count %" PRIu64 " cannot fit in the %" PRIu64
                    " bytes left (truncated or corrupt file)", n_kv, left(&ps));
    /* Tensors come after the keys; the keys take at least MIN_KV_BYTES each. */
    if (n_tensors > (left(&ps) - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return fail(&ps, "tensor count %" PRIu64 " cannot fit in the %" PRIu64
                    " bytes left (truncated or corrupt file)", n_tensors, left(&ps));

    if (parse_kvs(&ps, f, n_kv))
        return -1;
    if (parse_alignment(&ps, f))
        return -1;
    if (n_tensors > left(&ps) / MIN_TENSOR_BYTES)
        return fail(&ps, "tensor count %" PRIu64 " cannot fit in the %" PRIu64
                    " bytes left after the metadata (truncated or corrupt file)", n_tensors, left(&ps));
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct gguf_tensor *nt = grow(f->tensors, &cap, i, sizeof *f->tensors);
        if (!nt)
            return fail(&ps, "out of memory");
        f->tensors = nt;
        if (parse_tensor(&ps, f, (int64_t)i))
            return -1;
    }
    ps.ctx[0] = 0;
    f->header_size = ps.pos;

    uint64_t pad = (f->alignment - f->header_size % f->alignment) % f->alignment;
    if (!gl_add_ok(f->header_size, pad, &f->data_offset))
        return fail(&ps, "data area offset overflows");
    if (f->data_offset > f->size) {
        if (n_tensors)
            return fail(&ps, "file is truncated: the data area would start at offset %" PRIu64
                        " but the file has %" PRIu64 " bytes", f->data_offset, f->size);
        f->data_offset = f->size;   /* no tensors: a file may end right after the directory */
    }
    return place_tensors(&ps, f);
}

/* ------------------------------------------------------------ open/close */

static gguf_file *file_new(const char *name)
{
    gguf_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->path = strdup(name ? name : "(memory)");
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_mem(const void *buf, size_t len, const char *name, char **err)
{
    assert(buf || len == 0);
    gguf_file *f = file_new(name);
    if (!f) {
        gl_err(err, "%s: out of memory", name ? name : "(memory)");
        return NULL;
    }
    f->base = buf;
    f->size = len;
    if (parse(f, err)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open(const char *path, char **err)
{
    struct stat st;
    gguf_file *f = NULL;
    /* O_NONBLOCK: opening a FIFO must not hang waiting for a writer (it is
     * refused below as not a regular file); it changes nothing for files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        gl_err(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        gl_err(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        gl_err(err, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size == 0) {
        gl_err(err, "%s: empty file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        gl_err(err, "%s: file too large to map", path);
        goto fail;
    }
    f = file_new(path);
    if (!f) {
        gl_err(err, "%s: out of memory", path);
        goto fail;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        gl_err(err, "%s: cannot map the file: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    f->base = m;
    f->size = (uint64_t)st.st_size;
    f->mapped = true;
    if (parse(f, err))
        goto fail;
    return f;

fail:
    if (fd >= 0)
        close(fd);
    gguf_close(f);
    return NULL;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (int64_t i = 0; i < f->n_kv; i++)
        value_free(&f->kv[i].val);
    free(f->kv);
    for (int64_t i = 0; i < f->n_tensors; i++)
        free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->kv_index.slots);
    free(f->t_index.slots);
    if (f->mapped)
        munmap((void *)f->base, (size_t)f->size);
    free(f->path);
    free(f);
}

/* ------------------------------------------------------------ accessors */

const char *gguf_path(const gguf_file *f) { return f->path; }
uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
uint64_t gguf_header_size(const gguf_file *f) { return f->header_size; }
const void *gguf_base(const gguf_file *f) { return f->base; }
int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const struct gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i)
{
    return i >= 0 && i < f->n_kv ? &f->kv[i] : NULL;
}

const struct gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i)
{
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const struct gguf_value *gguf_get(const gguf_file *f, const char *key)
{
    int64_t i = index_find(&f->kv_index, f, key, strlen(key));
    return i >= 0 ? &f->kv[i].val : NULL;
}

const struct gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    int64_t i = index_find(&f->t_index, f, name, strlen(name));
    return i >= 0 ? &f->tensors[i] : NULL;
}

static bool is_uint(enum gguf_vtype t)
{
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}

static bool is_sint(enum gguf_vtype t)
{
    return t == GGUF_VT_I8 || t == GGUF_VT_I16 || t == GGUF_VT_I32 || t == GGUF_VT_I64;
}

static int wrong_type(const gguf_file *f, const char *key, const struct gguf_value *v,
                      const char *want, char **err)
{
    return gl_err(err, "%s: key '%s' has type %s, expected %s", f->path, key,
                  gguf_vtype_name(v->type), want);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char **err)
{
    const struct gguf_value *v = gguf_get(f, key);
    if (!v)
        return 1;
    if (is_uint(v->type) && v->v.u64 <= UINT32_MAX) {
        *out = (uint32_t)v->v.u64;
        return 0;
    }
    if (is_sint(v->type) && v->v.i64 >= 0 && v->v.i64 <= (int64_t)UINT32_MAX) {
        *out = (uint32_t)v->v.i64;
        return 0;
    }
    if (is_uint(v->type))
        return gl_err(err, "%s: key '%s' is %" PRIu64 ", out of range for u32", f->path, key, v->v.u64);
    if (is_sint(v->type))
        return gl_err(err, "%s: key '%s' is %" PRId64 ", out of range for u32", f->path, key, v->v.i64);
    return wrong_type(f, key, v, "an integer", err);
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char **err)
{
    const struct gguf_value *v = gguf_get(f, key);
    if (!v)
        return 1;
    if (is_sint(v->type)) {
        *out = v->v.i64;
        return 0;
    }
    if (is_uint(v->type)) {
        if (v->v.u64 > (uint64_t)INT64_MAX)
            return gl_err(err, "%s: key '%s' is %" PRIu64 ", out of range for i64", f->path, key, v->v.u64);
        *out = (int64_t)v->v.u64;
        return 0;
    }
    return wrong_type(f, key, v, "an integer", err);
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, char **err)
{
    const struct gguf_value *v = gguf_get(f, key);
    if (!v)
        return 1;
    if (v->type == GGUF_VT_F32 || v->type == GGUF_VT_F64) {
        *out = (float)v->v.f64;
        return 0;
    }
    /* Some converters store round numbers (e.g. a rope base) as integers. */
    if (is_uint(v->type)) {
        *out = (float)v->v.u64;
        return 0;
    }
    if (is_sint(v->type)) {
        *out = (float)v->v.i64;
        return 0;
    }
    return wrong_type(f, key, v, "a number", err);
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char **err)
{
    const struct gguf_value *v = gguf_get(f, key);
    if (!v)
        return 1;
    if (v->type != GGUF_VT_BOOL)
        return wrong_type(f, key, v, "bool", err);
    *out = v->v.b;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, struct gguf_str *out, char **err)
{
    const struct gguf_value *v = gguf_get(f, key);
    if (!v)
        return 1;
    if (v->type != GGUF_VT_STR)
        return wrong_type(f, key, v, "str", err);
    *out = v->v.str;
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype elem,
                 const struct gguf_value **out, char **err)
{
    const struct gguf_value *v = gguf_get(f, key);
    if (!v)
        return 1;
    if (v->type != GGUF_VT_ARR)
        return wrong_type(f, key, v, "arr", err);
    if (elem != GGUF_VT_COUNT && v->v.arr.type != elem)
        return gl_err(err, "%s: key '%s' is an array of %s, expected an array of %s", f->path, key,
                      gguf_vtype_name(v->v.arr.type), gguf_vtype_name(elem));
    *out = v;
    return 0;
}

double gguf_arr_f64(const struct gguf_value *arr, uint64_t i)
{
    if (arr->type != GGUF_VT_ARR || i >= arr->v.arr.n || !arr->v.arr.data)
        return 0;
    const uint8_t *b = (const uint8_t *)arr->v.arr.data + i * vt_size[arr->v.arr.type];
    switch (arr->v.arr.type) {
    case GGUF_VT_F32: {
        uint32_t u = ld_u32(b);
        float x;
        memcpy(&x, &u, 4);
        return x;
    }
    case GGUF_VT_F64: {
        uint64_t u = ld_u64(b);
        double x;
        memcpy(&x, &u, 8);
        return x;
    }
    case GGUF_VT_U64:
        return (double)ld_u64(b);
    default:
        return (double)gguf_arr_i64(arr, i);
    }
}

int64_t gguf_arr_i64(const struct gguf_value *arr, uint64_t i)
{
    if (arr->type != GGUF_VT_ARR || i >= arr->v.arr.n || !arr->v.arr.data)
        return 0;
    const uint8_t *b = (const uint8_t *)arr->v.arr.data + i * vt_size[arr->v.arr.type];
    switch (arr->v.arr.type) {
    case GGUF_VT_U8:
    case GGUF_VT_BOOL: return b[0];
    case GGUF_VT_I8: return (int8_t)b[0];
    case GGUF_VT_U16: return ld_u16(b);
    case GGUF_VT_I16: return (int16_t)ld_u16(b);
    case GGUF_VT_U32: return ld_u32(b);
    case GGUF_VT_I32: return (int32_t)ld_u32(b);
    case GGUF_VT_U64:
    case GGUF_VT_I64: return (int64_t)ld_u64(b);
    case GGUF_VT_F32:
    case GGUF_VT_F64: {
        /* Truncate toward zero; NaN and out-of-range values give 0 rather
         * than undefined behaviour. */
        double x = gguf_arr_f64(arr, i);
        return isfinite(x) && fabs(x) < 9.2e18 ? (int64_t)x : 0;
    }
    default: return 0;
    }
}

bool gguf_str_eq(struct gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

char *gguf_str_dup(struct gguf_str s)
{
    if (s.len >= SIZE_MAX)
        return NULL;
    char *p = malloc((size_t)s.len + 1);
    if (!p)
        return NULL;
    if (s.len)
        memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
    return p;
}
