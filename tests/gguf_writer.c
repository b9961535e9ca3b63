/*
 * gguf_writer.c - a GGUF writer (see gguf_writer.h) and a corpus of broken
 * GGUF files built with it.
 *
 * The writer trusts its caller completely: whatever keys, types, extents
 * and versions it is given are written as given. It streams the file out
 * through stdio (to a temporary file or a memory stream) and records the
 * offset of every header field, which is what lets tests break a valid file
 * one field at a time.
 */
#include "config.h"

#include "gguf_writer.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glimpse/quant.h"
#include "util.h"

/* Bytes of each fixed-size value type (0: STR, ARR). */
static const uint8_t vsize[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = 1, [GGUF_VT_I8] = 1, [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
    [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
};

struct gw_val {
    enum gguf_vtype type;
    uint64_t bits;              /* fixed-size scalar: its little-endian bit pattern */
    char *str;                  /* STR */
    size_t len;
    enum gguf_vtype elem;       /* ARR: element type as written */
    gw_val **items;             /* ARR: elements */
    uint64_t n, cap;
};

struct gw_kvent {
    char *key;
    size_t key_len;
    gw_val *v;
};

struct gw_tens {
    char *name;
    size_t name_len;
    uint32_t type, n_dims;
    uint64_t ne[8];
    uint64_t nbytes;
    const void *data;           /* borrowed, or NULL */
    gw_fill_fn fill;            /* or a callback */
    void *user;
    size_t row_bytes;
    int64_t nrows;
};

struct gw {
    uint32_t version;
    uint32_t alignment;
    bool big_endian;
    bool oom;                   /* a builder call failed: the next write fails */
    struct gw_kvent *kv;
    size_t n_kv, cap_kv;
    struct gw_tens *t;
    size_t n_t, cap_t;

    /* layout of the last write */
    struct gw_kv_pos *kv_pos;
    struct gw_tensor_pos *t_pos;
    struct gw_layout layout;
    bool have_layout;
};

gw *gw_new(void)
{
    gw *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->version = 3;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gw_free(gw *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        gw_val_free(w->kv[i].v);
    }
    free(w->kv);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w->kv_pos);
    free(w->t_pos);
    free(w);
}

void gw_set_version(gw *w, uint32_t version) { w->version = version; }
void gw_set_big_endian(gw *w, bool big_endian) { w->big_endian = big_endian; }

void gw_set_alignment(gw *w, uint32_t alignment)
{
    assert(alignment > 0);
    w->alignment = alignment;
}

/* ---------------------------------------------------------------- values */

static gw_val *scalar(enum gguf_vtype t, uint64_t bits)
{
    gw_val *v = calloc(1, sizeof *v);
    if (v) {
        v->type = t;
        v->bits = bits;
    }
    return v;
}

gw_val *gw_u8(uint8_t x) { return scalar(GGUF_VT_U8, x); }
gw_val *gw_i8(int8_t x) { return scalar(GGUF_VT_I8, (uint8_t)x); }
gw_val *gw_u16(uint16_t x) { return scalar(GGUF_VT_U16, x); }
gw_val *gw_i16(int16_t x) { return scalar(GGUF_VT_I16, (uint16_t)x); }
gw_val *gw_u32(uint32_t x) { return scalar(GGUF_VT_U32, x); }
gw_val *gw_i32(int32_t x) { return scalar(GGUF_VT_I32, (uint32_t)x); }
gw_val *gw_bool(bool x) { return scalar(GGUF_VT_BOOL, x ? 1 : 0); }
gw_val *gw_u64(uint64_t x) { return scalar(GGUF_VT_U64, x); }
gw_val *gw_i64(int64_t x) { return scalar(GGUF_VT_I64, (uint64_t)x); }

gw_val *gw_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return scalar(GGUF_VT_F32, u);
}

gw_val *gw_f64(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return scalar(GGUF_VT_F64, u);
}

gw_val *gw_strn(const void *s, size_t len)
{
    gw_val *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->type = GGUF_VT_STR;
    v->str = malloc(len ? len : 1);
    if (!v->str) {
        free(v);
        return NULL;
    }
    if (len)
        memcpy(v->str, s, len);
    v->len = len;
    return v;
}

gw_val *gw_str(const char *s)
{
    return gw_strn(s, strlen(s));
}

/* Element i of a C array of `elem` values, as a value. */
static gw_val *element(enum gguf_vtype elem, const void *data, uint64_t i)
{
    switch (elem) {
    case GGUF_VT_U8: return gw_u8(((const uint8_t *)data)[i]);
    case GGUF_VT_I8: return gw_i8(((const int8_t *)data)[i]);
    case GGUF_VT_U16: return gw_u16(((const uint16_t *)data)[i]);
    case GGUF_VT_I16: return gw_i16(((const int16_t *)data)[i]);
    case GGUF_VT_U32: return gw_u32(((const uint32_t *)data)[i]);
    case GGUF_VT_I32: return gw_i32(((const int32_t *)data)[i]);
    case GGUF_VT_F32: return gw_f32(((const float *)data)[i]);
    case GGUF_VT_BOOL: return gw_bool(((const bool *)data)[i]);
    case GGUF_VT_U64: return gw_u64(((const uint64_t *)data)[i]);
    case GGUF_VT_I64: return gw_i64(((const int64_t *)data)[i]);
    case GGUF_VT_F64: return gw_f64(((const double *)data)[i]);
    case GGUF_VT_STR: return gw_str(((const char *const *)data)[i]);
    default: return NULL;
    }
}

gw_val *gw_arr(enum gguf_vtype elem, const void *data, uint64_t n)
{
    assert(n == 0 || (data && (unsigned)elem < GGUF_VT_COUNT && elem != GGUF_VT_ARR));
    gw_val *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->type = GGUF_VT_ARR;
    v->elem = elem;
    for (uint64_t i = 0; i < n; i++) {
        if (gw_arr_push(v, element(elem, data, i)) != 0) {
            gw_val_free(v);
            return NULL;
        }
    }
    return v;
}

int gw_arr_push(gw_val *arr, gw_val *item)
{
    if (!arr || !item || arr->type != GGUF_VT_ARR)
        goto fail;
    if (arr->n == arr->cap) {
        uint64_t ncap = arr->cap ? arr->cap * 2 : 8;
        gw_val **ni = realloc(arr->items, ncap * sizeof *ni);
        if (!ni)
            goto fail;
        arr->items = ni;
        arr->cap = ncap;
    }
    arr->items[arr->n++] = item;
    return 0;

fail:
    gw_val_free(item);
    return -1;
}

void gw_val_free(gw_val *v)
{
    if (!v)
        return;
    for (uint64_t i = 0; i < v->n; i++)
        gw_val_free(v->items[i]);
    free(v->items);
    free(v->str);
    free(v);
}

/* ---------------------------------------------------------------- metadata */

int gw_kvn(gw *w, const void *key, size_t key_len, gw_val *v)
{
    char *k = NULL;
    if (!v)
        goto fail;
    if (w->n_kv == w->cap_kv) {
        size_t ncap = w->cap_kv ? w->cap_kv * 2 : 16;
        struct gw_kvent *nk = realloc(w->kv, ncap * sizeof *nk);
        if (!nk)
            goto fail;
        w->kv = nk;
        w->cap_kv = ncap;
    }
    k = malloc(key_len ? key_len : 1);
    if (!k)
        goto fail;
    if (key_len)
        memcpy(k, key, key_len);
    w->kv[w->n_kv++] = (struct gw_kvent){k, key_len, v};
    return 0;

fail:
    gw_val_free(v);
    w->oom = true;
    return -1;
}

int gw_kv(gw *w, const char *key, gw_val *v) { return gw_kvn(w, key, strlen(key), v); }
int gw_kv_u32(gw *w, const char *key, uint32_t x) { return gw_kv(w, key, gw_u32(x)); }
int gw_kv_i32(gw *w, const char *key, int32_t x) { return gw_kv(w, key, gw_i32(x)); }
int gw_kv_u64(gw *w, const char *key, uint64_t x) { return gw_kv(w, key, gw_u64(x)); }
int gw_kv_f32(gw *w, const char *key, float x) { return gw_kv(w, key, gw_f32(x)); }
int gw_kv_bool(gw *w, const char *key, bool x) { return gw_kv(w, key, gw_bool(x)); }
int gw_kv_str(gw *w, const char *key, const char *s) { return gw_kv(w, key, gw_str(s)); }

/* ---------------------------------------------------------------- tensors */

static struct gw_tens *tens_add(gw *w, const void *name, size_t name_len)
{
    if (w->n_t == w->cap_t) {
        size_t ncap = w->cap_t ? w->cap_t * 2 : 16;
        struct gw_tens *nt = realloc(w->t, ncap * sizeof *nt);
        if (!nt)
            return NULL;
        w->t = nt;
        w->cap_t = ncap;
    }
    char *n = malloc(name_len ? name_len : 1);
    if (!n)
        return NULL;
    if (name_len)
        memcpy(n, name, name_len);
    struct gw_tens *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = n;
    t->name_len = name_len;
    return t;
}

int gw_tensor_raw(gw *w, const void *name, size_t name_len, uint32_t type, uint32_t n_dims,
                  const uint64_t *ne, uint64_t nbytes, const void *data)
{
    struct gw_tens *t = tens_add(w, name, name_len);
    if (!t) {
        w->oom = true;
        return -1;
    }
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims && d < 8; d++)
        t->ne[d] = ne[d];
    t->nbytes = nbytes;
    t->data = data;
    return 0;
}

/* Size of a supported tensor; -1 if the type or shape is not. */
static int tensor_size(int type, int n_dims, const int64_t *ne, size_t *row_bytes,
                       int64_t *nrows, uint64_t *nbytes)
{
    const struct gl_type_traits *tr = gl_type_traits(type);
    if (!tr || n_dims < 1 || n_dims > GGUF_MAX_DIMS || ne[0] <= 0 || ne[0] % tr->blck_size)
        return -1;
    uint64_t rows = 1;
    for (int d = 1; d < n_dims; d++)
        if (ne[d] <= 0 || !gl_mul_ok(rows, (uint64_t)ne[d], &rows))
            return -1;
    uint64_t rb;
    if (!gl_mul_ok((uint64_t)(ne[0] / tr->blck_size), tr->type_size, &rb) ||
        !gl_mul_ok(rb, rows, nbytes) || rows > INT64_MAX)
        return -1;
    *row_bytes = (size_t)rb;
    *nrows = (int64_t)rows;
    return 0;
}

static int tensor_add(gw *w, const char *name, int type, int n_dims, const int64_t *ne,
                      const void *data, gw_fill_fn fill, void *user)
{
    size_t rb;
    int64_t rows;
    uint64_t nbytes, une[GGUF_MAX_DIMS];
    if (tensor_size(type, n_dims, ne, &rb, &rows, &nbytes))
        return -1;
    for (int d = 0; d < n_dims; d++)
        une[d] = (uint64_t)ne[d];
    if (gw_tensor_raw(w, name, strlen(name), (uint32_t)type, (uint32_t)n_dims, une, nbytes, data))
        return -1;
    struct gw_tens *t = &w->t[w->n_t - 1];
    t->fill = fill;
    t->user = user;
    t->row_bytes = rb;
    t->nrows = rows;
    return 0;
}

int gw_tensor(gw *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data)
{
    return tensor_add(w, name, type, n_dims, ne, data, NULL, NULL);
}

int gw_tensor_fill(gw *w, const char *name, int type, int n_dims, const int64_t *ne,
                   gw_fill_fn fill, void *user)
{
    assert(fill);
    return tensor_add(w, name, type, n_dims, ne, NULL, fill, user);
}

/* ---------------------------------------------------------------- output */

struct out {
    FILE *fp;
    uint64_t pos;
    bool be;
    bool failed;
};

static void out_bytes(struct out *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->fp) != n)
        o->failed = true;
    o->pos += n;
}

static void out_uint(struct out *o, uint64_t v, int size)
{
    uint8_t b[8];
    for (int i = 0; i < size; i++)
        b[o->be ? size - 1 - i : i] = (uint8_t)(v >> (8 * i));
    out_bytes(o, b, (size_t)size);
}

static void out_zeros(struct out *o, uint64_t n)
{
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        out_bytes(o, zeros, k);
        n -= k;
    }
}

static void out_pad_to(struct out *o, uint64_t pos)
{
    if (pos > o->pos)
        out_zeros(o, pos - o->pos);
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

/* A value without its type tag; p (top level only) records positions. */
static void out_value(struct out *o, const gw_val *v, struct gw_kv_pos *p)
{
    if (p)
        p->value = o->pos;
    switch (v->type) {
    case GGUF_VT_STR:
        out_uint(o, v->len, 8);
        out_bytes(o, v->str, v->len);
        break;
    case GGUF_VT_ARR:
        out_uint(o, (uint32_t)v->elem, 4);
        if (p)
            p->arr_count = o->pos;
        out_uint(o, v->n, 8);
        for (uint64_t i = 0; i < v->n; i++)
            out_value(o, v->items[i], NULL);
        break;
    default:
        out_uint(o, v->bits, vsize[v->type]);
        break;
    }
}

/* Fill callback output, whole rows at a time, about 4 MiB per call. */
static int out_filled(struct out *o, const struct gw_tens *t)
{
    int64_t per = t->row_bytes ? (int64_t)((4u << 20) / t->row_bytes) : 1;
    if (per < 1)
        per = 1;
    if (per > t->nrows)
        per = t->nrows;
    uint8_t *buf = malloc((size_t)per * t->row_bytes);
    if (!buf)
        return -1;
    for (int64_t r = 0; r < t->nrows; r += per) {
        int64_t k = t->nrows - r < per ? t->nrows - r : per;
        t->fill(buf, r, k, t->row_bytes, t->user);
        out_bytes(o, buf, (size_t)k * t->row_bytes);
    }
    free(buf);
    return 0;
}

static bool has_key(const gw *w, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < w->n_kv; i++)
        if (w->kv[i].key_len == n && memcmp(w->kv[i].key, key, n) == 0)
            return true;
    return false;
}

static int write_all(gw *w, FILE *fp, const char *name, char **err)
{
    struct out o = {.fp = fp, .be = w->big_endian};
    uint64_t A = w->alignment;

    if (w->oom)
        return gl_err(err, "%s: out of memory while building the file", name);
    /* The implicit general.alignment key goes last. */
    if (A != GGUF_DEFAULT_ALIGNMENT && !has_key(w, "general.alignment")) {
        if (gw_kv_u32(w, "general.alignment", (uint32_t)A))
            return gl_err(err, "%s: out of memory", name);
    }

    free(w->kv_pos);
    free(w->t_pos);
    w->have_layout = false;
    w->kv_pos = calloc(w->n_kv ? w->n_kv : 1, sizeof *w->kv_pos);
    w->t_pos = calloc(w->n_t ? w->n_t : 1, sizeof *w->t_pos);
    if (!w->kv_pos || !w->t_pos)
        return gl_err(err, "%s: out of memory", name);
    struct gw_layout *L = &w->layout;
    memset(L, 0, sizeof *L);

    out_bytes(&o, "GGUF", 4);
    L->version = o.pos;
    out_uint(&o, w->version, 4);
    L->n_tensors = o.pos;
    out_uint(&o, w->n_t, 8);
    L->n_kv = o.pos;
    out_uint(&o, w->n_kv, 8);

    for (size_t i = 0; i < w->n_kv; i++) {
        struct gw_kv_pos *p = &w->kv_pos[i];
        p->key_len = o.pos;
        out_uint(&o, w->kv[i].key_len, 8);
        p->key = o.pos;
        out_bytes(&o, w->kv[i].key, w->kv[i].key_len);
        p->type = o.pos;
        out_uint(&o, (uint32_t)w->kv[i].v->type, 4);
        out_value(&o, w->kv[i].v, p);
        p->end = o.pos;
    }

    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct gw_tens *t = &w->t[i];
        struct gw_tensor_pos *p = &w->t_pos[i];
        off = align_up(off, A);
        p->name_len = o.pos;
        out_uint(&o, t->name_len, 8);
        p->name = o.pos;
        out_bytes(&o, t->name, t->name_len);
        p->n_dims = o.pos;
        out_uint(&o, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims && d < 8; d++) {
            if (d < GGUF_MAX_DIMS)
                p->ne[d] = o.pos;
            out_uint(&o, t->ne[d], 8);
        }
        p->type = o.pos;
        out_uint(&o, t->type, 4);
        p->offset = o.pos;
        out_uint(&o, off, 8);
        p->data_offset = off;
        p->nbytes = t->nbytes;
        off += t->nbytes;
    }
    L->header_size = o.pos;
    L->data_start = align_up(o.pos, A);

    for (size_t i = 0; i < w->n_t; i++) {
        const struct gw_tens *t = &w->t[i];
        struct gw_tensor_pos *p = &w->t_pos[i];
        out_pad_to(&o, L->data_start + p->data_offset);
        p->data = o.pos;
        if (t->fill) {
            if (out_filled(&o, t))
                return gl_err(err, "%s: out of memory", name);
        } else if (t->data) {
            out_bytes(&o, t->data, (size_t)t->nbytes);
        } else {
            out_zeros(&o, t->nbytes);
        }
    }
    L->data_end = w->n_t ? o.pos : L->data_start;
    /* Like llama.cpp's writer, pad the last tensor too. */
    if (w->n_t)
        out_pad_to(&o, align_up(o.pos, A));
    L->size = o.pos;
    L->kv = w->kv_pos;
    L->kv_count = w->n_kv;
    L->tensor = w->t_pos;
    L->tensor_count = w->n_t;
    if (o.failed)
        return gl_err(err, "%s: write error: %s", name, strerror(errno));
    w->have_layout = true;
    return 0;
}

int gw_write_mem(gw *w, void **buf, size_t *len, char **err)
{
    char *p = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&p, &n);
    if (!fp)
        return gl_err(err, "(memory): %s", strerror(errno));
    int rc = write_all(w, fp, "(memory)", err);
    if (fclose(fp) != 0 && rc == 0)
        rc = gl_err(err, "(memory): %s", strerror(errno));
    if (rc) {
        free(p);
        return -1;
    }
    *buf = p;
    *len = n;
    return 0;
}

/* Open a temporary file beside `path`; *tmp receives its malloc'd name. */
static FILE *tmp_beside(const char *path, char **tmp, char **err)
{
    *tmp = gl_strfmt("%s.tmp.XXXXXX", path);
    if (!*tmp) {
        gl_err(err, "%s: out of memory", path);
        return NULL;
    }
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        gl_err(err, "%s: %s", *tmp, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    /* mkstemp makes it 0600; a model file is ordinary data. */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        gl_err(err, "%s: %s", *tmp, strerror(errno));
        close(fd);
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
    }
    return fp;
}

static int finish_tmp(FILE *fp, char *tmp, const char *path, int rc, char **err)
{
    if (fclose(fp) != 0 && rc == 0)
        rc = gl_err(err, "%s: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = gl_err(err, "%s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

int gw_write_file(gw *w, const char *path, char **err)
{
    char *tmp;
    FILE *fp = tmp_beside(path, &tmp, err);
    if (!fp)
        return -1;
    return finish_tmp(fp, tmp, path, write_all(w, fp, path, err), err);
}

int gw_save(const char *path, const void *buf, size_t len, char **err)
{
    char *tmp;
    FILE *fp = tmp_beside(path, &tmp, err);
    if (!fp)
        return -1;
    int rc = 0;
    if (len && fwrite(buf, 1, len, fp) != len)
        rc = gl_err(err, "%s: %s", path, strerror(errno));
    return finish_tmp(fp, tmp, path, rc, err);
}

const struct gw_layout *gw_layout(const gw *w)
{
    return w->have_layout ? &w->layout : NULL;
}

void gw_poke_u32(void *buf, size_t len, uint64_t off, uint32_t v)
{
    assert(off <= len && len - off >= 4);
    uint8_t *b = (uint8_t *)buf + off;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

void gw_poke_u64(void *buf, size_t len, uint64_t off, uint64_t v)
{
    assert(off <= len && len - off >= 8);
    uint8_t *b = (uint8_t *)buf + off;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* ================================================================ corpus */

/* Deterministic tensor contents for the base file. */
static void fill_f32(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    (void)user;
    float *y = dst;
    int64_t per = (int64_t)(row_bytes / 4);
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t i = 0; i < per; i++)
            y[r * per + i] = (float)((row0 + r) * per + i) * 0.25f - 3.0f;
}

static void fill_bytes(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    (void)user;
    uint8_t *y = dst;
    uint32_t s = 2463534242u + (uint32_t)row0;
    for (size_t i = 0; i < (size_t)nrows * row_bytes; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        y[i] = (uint8_t)s;
    }
    /* q8_0 blocks start with an f16 scale: keep it a small finite number. */
    for (size_t i = 0; i + 34 <= (size_t)nrows * row_bytes; i += 34) {
        y[i] = 0x00;
        y[i + 1] = 0x20;
    }
}

static void fill_f16(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    (void)user;
    uint16_t *y = dst;
    int64_t per = (int64_t)(row_bytes / 2);
    for (int64_t i = 0; i < nrows * per; i++)
        y[i] = gl_fp32_to_fp16((float)(row0 * per + i) / 8.0f);
}

/* Key indices of the base file, for the cases below. */
enum { K_ARCH, K_NAME, K_BLOCKS, K_EPS, K_ADD_BOS, K_TOKENS, K_SCORES, K_NESTED, K_COUNT };

gw *gw_corpus_base(uint32_t version, uint32_t alignment)
{
    static const char *const tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81hello"};
    static const float scores[] = {0.0f, 0.0f, 0.0f, -1.5f};
    static const uint16_t a1[] = {1, 2, 3}, a2[] = {4};
    gw *w = gw_new();
    if (!w)
        return NULL;
    gw_set_version(w, version);
    gw_set_alignment(w, alignment);
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_str(w, "general.name", "glimpse test file");
    gw_kv_u32(w, "llama.block_count", 2);
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    gw_kv(w, "tokenizer.ggml.tokens", gw_arr(GGUF_VT_STR, tokens, 4));
    gw_kv(w, "tokenizer.ggml.scores", gw_arr(GGUF_VT_F32, scores, 4));
    gw_val *nested = gw_arr(GGUF_VT_ARR, NULL, 0);
    gw_arr_push(nested, gw_arr(GGUF_VT_U16, a1, 3));
    gw_arr_push(nested, gw_arr(GGUF_VT_U16, a2, 1));
    gw_arr_push(nested, gw_arr(GGUF_VT_U16, NULL, 0));
    gw_kv(w, "test.nested", nested);
    gw_tensor_fill(w, "token_embd.weight", GL_TYPE_F32, 2, (int64_t[]){8, 4}, fill_f32, NULL);
    gw_tensor_fill(w, "output_norm.weight", GL_TYPE_F16, 1, (int64_t[]){8}, fill_f16, NULL);
    gw_tensor_fill(w, "blk.0.attn_q.weight", GL_TYPE_Q8_0, 2, (int64_t[]){32, 2}, fill_bytes, NULL);
    if (w->oom || w->n_t != 3) {
        gw_free(w);
        return NULL;
    }
    return w;
}

/* A case either edits the base writer before writing (pre) or the written
 * bytes after (post, which may also resize the buffer), or builds its bytes
 * from scratch (post with the base ignored). */
struct image {
    uint8_t *b;
    size_t len;
    const struct gw_layout *L;
};

typedef int (*pre_fn)(gw *w);
typedef int (*post_fn)(struct image *im);

/* --- pre-write edits */
static int pre_none(gw *w) { (void)w; return 0; }
static int pre_dup_key(gw *w) { return gw_kv_u32(w, "llama.block_count", 3); }
static int pre_empty_key(gw *w) { return gw_kvn(w, "", 0, gw_u32(1)); }
static int pre_align_48(gw *w) { gw_set_alignment(w, 48); return 0; }
static int pre_align_0(gw *w) { return gw_kv_u32(w, "general.alignment", 0); }
static int pre_align_u64(gw *w) { return gw_kv_u64(w, "general.alignment", 32); }
static int pre_align_64(gw *w) { gw_set_alignment(w, 64); return 0; }
static int pre_dup_tensor(gw *w)
{
    return gw_tensor(w, "output_norm.weight", GL_TYPE_F32, 1, (int64_t[]){8}, NULL);
}
static int pre_empty_tensor_name(gw *w)
{
    return gw_tensor_raw(w, "", 0, GL_TYPE_F32, 1, (uint64_t[]){8}, 32, NULL);
}
static int pre_no_tensors(gw *w)
{
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    w->n_t = 0;
    return 0;
}

static int long_name(gw *w, bool tensor)
{
    size_t n = 70000;
    char *s = malloc(n);
    if (!s)
        return -1;
    memset(s, 'x', n);
    int rc = tensor ? gw_tensor_raw(w, s, n, GL_TYPE_F32, 1, (uint64_t[]){8}, 32, NULL)
                    : gw_kvn(w, s, n, gw_u32(1));
    free(s);
    return rc;
}
static int pre_long_key(gw *w) { return long_name(w, false); }
static int pre_long_tensor_name(gw *w) { return long_name(w, true); }

static int pre_deep(gw *w)
{
    gw_val *v = gw_arr(GGUF_VT_I32, (int32_t[]){1}, 1);
    for (int i = 0; i < 40 && v; i++) {
        gw_val *outer = gw_arr(GGUF_VT_ARR, NULL, 0);
        if (gw_arr_push(outer, v)) {
            gw_val_free(outer);
            return -1;
        }
        v = outer;
    }
    return gw_kv(w, "test.deep", v);
}

static int pre_elements_overflow(gw *w)
{
    return gw_tensor_raw(w, "huge", 4, GL_TYPE_F32, 3,
                         (uint64_t[]){1ull << 32, 1ull << 32, 1ull << 32}, 32, NULL);
}
static int pre_bytes_overflow(gw *w)
{
    return gw_tensor_raw(w, "huge", 4, GL_TYPE_F32, 1, (uint64_t[]){1ull << 62}, 32, NULL);
}
static int pre_row_not_block(gw *w)
{
    return gw_tensor_raw(w, "odd_row", 7, GL_TYPE_Q8_0, 2, (uint64_t[]){48, 2}, 102, NULL);
}

/* --- post-write edits: the base file's fields by name */
#define KV(i) (im->L->kv[(i)])
#define TS(i) (im->L->tensor[(i)])

static int post_none(struct image *im) { (void)im; return 0; }

static int set_bytes(struct image *im, const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    if (n)
        memcpy(b, p, n);
    free(im->b);
    im->b = b;
    im->len = n;
    return 0;
}

static int post_empty(struct image *im) { return set_bytes(im, "", 0); }
static int post_short(struct image *im) { return set_bytes(im, "GGU", 3); }
static int post_magic(struct image *im) { memcpy(im->b, "GGML", 4); return 0; }
static int post_ver1(struct image *im) { gw_poke_u32(im->b, im->len, im->L->version, 1); return 0; }
static int post_ver4(struct image *im) { gw_poke_u32(im->b, im->len, im->L->version, 4); return 0; }
static int post_ver0(struct image *im) { gw_poke_u32(im->b, im->len, im->L->version, 0); return 0; }

static int post_cut_header(struct image *im) { im->len = 20; return 0; }
static int post_cut_kv(struct image *im) { im->len = KV(K_TOKENS).value + 20; return 0; }
static int post_cut_dir(struct image *im) { im->len = TS(1).n_dims + 2; return 0; }
static int post_cut_data(struct image *im) { im->len = im->L->data_end - 1; return 0; }
static int post_cut_to_dir(struct image *im) { im->len = im->L->header_size; return 0; }

static int post_kv_count(struct image *im)
{
    gw_poke_u64(im->b, im->len, im->L->n_kv, 1ull << 62);
    return 0;
}
static int post_kv_count_more(struct image *im)
{
    gw_poke_u64(im->b, im->len, im->L->n_kv, K_COUNT + 1);
    return 0;
}
static int post_tensor_count(struct image *im)
{
    gw_poke_u64(im->b, im->len, im->L->n_tensors, UINT64_MAX);
    return 0;
}
static int post_tensor_count_more(struct image *im)
{
    gw_poke_u64(im->b, im->len, im->L->n_tensors, 4);
    return 0;
}
static int post_key_len(struct image *im)
{
    gw_poke_u64(im->b, im->len, KV(K_BLOCKS).key_len, 1ull << 60);
    return 0;
}
static int post_value_type(struct image *im)
{
    gw_poke_u32(im->b, im->len, KV(K_EPS).type, 13);
    return 0;
}
static int post_value_type_huge(struct image *im)
{
    gw_poke_u32(im->b, im->len, KV(K_EPS).type, UINT32_MAX);
    return 0;
}
static int post_elem_type(struct image *im)
{
    gw_poke_u32(im->b, im->len, KV(K_SCORES).value, 99);
    return 0;
}
static int post_str_len(struct image *im)
{
    gw_poke_u64(im->b, im->len, KV(K_NAME).value, UINT64_MAX - 3);
    return 0;
}
static int post_arr_count(struct image *im)
{
    gw_poke_u64(im->b, im->len, KV(K_SCORES).arr_count, 1ull << 61);
    return 0;
}
static int post_strarr_count(struct image *im)
{
    gw_poke_u64(im->b, im->len, KV(K_TOKENS).arr_count, UINT64_MAX);
    return 0;
}
static int post_token_len(struct image *im)
{
    /* The first token's length field follows the element type and count. */
    gw_poke_u64(im->b, im->len, KV(K_TOKENS).arr_count + 8, 1ull << 40);
    return 0;
}
static int post_nested_count(struct image *im)
{
    gw_poke_u64(im->b, im->len, KV(K_NESTED).arr_count, 1ull << 50);
    return 0;
}
static int post_bool(struct image *im)
{
    im->b[KV(K_ADD_BOS).value] = 2;
    return 0;
}
static int post_name_nul(struct image *im)
{
    im->b[TS(1).name + 3] = 0;
    return 0;
}
static int post_ndims(struct image *im, uint32_t v)
{
    gw_poke_u32(im->b, im->len, TS(1).n_dims, v);
    return 0;
}
static int post_ndims0(struct image *im) { return post_ndims(im, 0); }
static int post_ndims5(struct image *im) { return post_ndims(im, 5); }
static int post_dim_zero(struct image *im)
{
    gw_poke_u64(im->b, im->len, TS(0).ne[1], 0);
    return 0;
}
static int post_dim_negative(struct image *im)
{
    gw_poke_u64(im->b, im->len, TS(0).ne[0], (uint64_t)-32);
    return 0;
}
static int post_type(struct image *im, uint32_t v)
{
    gw_poke_u32(im->b, im->len, TS(2).type, v);
    return 0;
}
static int post_type77(struct image *im) { return post_type(im, 77); }
static int post_type_iq2(struct image *im) { return post_type(im, 16); }
static int post_type_huge(struct image *im) { return post_type(im, UINT32_MAX); }
static int post_offset(struct image *im, int i, uint64_t v)
{
    gw_poke_u64(im->b, im->len, TS(i).offset, v);
    return 0;
}
static int post_misaligned(struct image *im) { return post_offset(im, 1, TS(1).data_offset + 4); }
static int post_overlap(struct image *im) { return post_offset(im, 2, TS(1).data_offset); }
static int post_overlap_first(struct image *im) { return post_offset(im, 2, 0); }
static int post_overlap_tail(struct image *im) { return post_offset(im, 1, TS(0).nbytes - 32); }
static int post_past_end(struct image *im)
{
    return post_offset(im, 2, align_up(im->len - im->L->data_start, 32));
}
static int post_offset_huge(struct image *im) { return post_offset(im, 2, UINT64_MAX - 31); }

static int post_big_endian_version(struct image *im)
{
    /* Only the version swapped: the byte order check must come first. */
    im->b[4] = 0;
    im->b[7] = 3;
    return 0;
}

/* Bytes after the version replaced by deterministic noise. */
static int post_noise(struct image *im)
{
    uint32_t s = 12345;
    for (size_t i = 8; i < im->len; i++) {
        s = s * 1103515245u + 12345u;
        im->b[i] = (uint8_t)(s >> 16);
    }
    return 0;
}

/* What a text conversion does to a binary file: every byte that is not
 * part of valid UTF-8 becomes U+FFFD (EF BF BD). High bytes are treated as
 * invalid one by one, which is what happens to most binary data. */
static int post_mangle(struct image *im)
{
    size_t n = 0;
    for (size_t i = 0; i < im->len; i++)
        n += im->b[i] >= 0x80 ? 3 : 1;
    uint8_t *b = malloc(n);
    if (!b)
        return -1;
    for (size_t i = 0, o = 0; i < im->len; i++) {
        if (im->b[i] >= 0x80) {
            b[o++] = 0xef;
            b[o++] = 0xbf;
            b[o++] = 0xbd;
        } else {
            b[o++] = im->b[i];
        }
    }
    free(im->b);
    im->b = b;
    im->len = n;
    return 0;
}

struct case_def {
    struct gw_case c;
    uint32_t version;
    bool big_endian;
    pre_fn pre;
    post_fn post;
};

#define GOOD(n, w, v, pre) {{n, true, NULL, w}, v, false, pre, post_none}
#define BAD(n, e, w, pre, post) {{n, false, e, w}, 3, false, pre, post}

static const struct case_def cases[] = {
    GOOD("good-v3", "a small valid file (version 3)", 3, pre_none),
    GOOD("good-v2", "the same as version 2", 2, pre_none),
    GOOD("good-align64", "general.alignment 64", 3, pre_align_64),
    GOOD("good-no-tensors", "metadata only, no tensors", 3, pre_no_tensors),
    BAD("bad-empty", "empty", "a 0-byte file", pre_none, post_empty),
    BAD("bad-short", "not a GGUF file", "3 bytes", pre_none, post_short),
    BAD("bad-magic", "not a GGUF file", "magic GGML instead of GGUF", pre_none, post_magic),
    BAD("bad-version-0", "version 0", "version 0", pre_none, post_ver0),
    BAD("bad-version-1", "version 1", "version 1 (32-bit counts)", pre_none, post_ver1),
    BAD("bad-version-4", "version 4", "a future version", pre_none, post_ver4),
    {{"bad-big-endian", false, "big-endian", "every header number byte-swapped"}, 3, true, pre_none,
     post_none},
    BAD("bad-big-endian-version", "big-endian", "version 3 stored big-endian", pre_none,
        post_big_endian_version),
    BAD("bad-truncated-header", "truncated", "cut inside the header", pre_none, post_cut_header),
    BAD("bad-truncated-metadata", "", "cut inside the token array", pre_none, post_cut_kv),
    BAD("bad-truncated-directory", "truncated", "cut inside the tensor directory", pre_none,
        post_cut_dir),
    BAD("bad-truncated-data", "past the end", "last tensor's data cut short", pre_none, post_cut_data),
    BAD("bad-no-data", "", "cut right after the tensor directory", pre_none, post_cut_to_dir),
    BAD("bad-kv-count-huge", "key count", "metadata key count 2^62", pre_none, post_kv_count),
    BAD("bad-kv-count-plus-one", "", "one more key than present", pre_none, post_kv_count_more),
    BAD("bad-tensor-count-huge", "tensor count", "tensor count 2^64-1", pre_none, post_tensor_count),
    BAD("bad-tensor-count-plus-one", "", "one more tensor than present", pre_none,
        post_tensor_count_more),
    BAD("bad-key-length-huge", "key length", "key 2's length 2^60", pre_none, post_key_len),
    BAD("bad-key-empty", "empty", "a key of length 0", pre_empty_key, post_none),
    BAD("bad-key-too-long", "bytes long", "a 70000-byte key", pre_long_key, post_none),
    BAD("bad-key-duplicate", "duplicate key", "llama.block_count twice", pre_dup_key, post_none),
    BAD("bad-value-type", "unknown value type 13", "key 3's value type 13", pre_none,
        post_value_type),
    BAD("bad-value-type-huge", "unknown value type", "key 3's value type 2^32-1", pre_none,
        post_value_type_huge),
    BAD("bad-array-type", "unknown array element type 99", "array element type 99", pre_none,
        post_elem_type),
    BAD("bad-string-length-huge", "string length", "general.name's length 2^64-4", pre_none,
        post_str_len),
    BAD("bad-array-count-huge", "array count", "f32 array count 2^61", pre_none, post_arr_count),
    BAD("bad-string-array-count-huge", "array count", "string array count 2^64-1", pre_none,
        post_strarr_count),
    BAD("bad-string-array-element-length", "string length", "first token's length 2^40", pre_none,
        post_token_len),
    BAD("bad-nested-array-count-huge", "array count", "array-of-arrays count 2^50", pre_none,
        post_nested_count),
    BAD("bad-array-too-deep", "nested", "arrays nested 41 deep", pre_deep, post_none),
    BAD("bad-bool", "bool", "a bool stored as 2", pre_none, post_bool),
    BAD("bad-alignment-not-pow2", "power of two", "general.alignment 48", pre_align_48, post_none),
    BAD("bad-alignment-zero", "power of two", "general.alignment 0", pre_align_0, post_none),
    BAD("bad-alignment-type", "must be u32", "general.alignment stored as u64", pre_align_u64,
        post_none),
    BAD("bad-tensor-duplicate", "duplicate tensor name", "output_norm.weight twice", pre_dup_tensor,
        post_none),
    BAD("bad-tensor-name-empty", "empty", "a tensor named ''", pre_empty_tensor_name, post_none),
    BAD("bad-tensor-name-too-long", "bytes long", "a 70000-byte tensor name", pre_long_tensor_name,
        post_none),
    BAD("bad-tensor-name-nul", "NUL", "a NUL byte inside a tensor name", pre_none, post_name_nul),
    BAD("bad-tensor-ndims-0", "dimensions", "tensor 1 with 0 dimensions", pre_none, post_ndims0),
    BAD("bad-tensor-ndims-5", "dimensions", "tensor 1 with 5 dimensions", pre_none, post_ndims5),
    BAD("bad-tensor-dim-zero", "must be positive", "an extent of 0", pre_none, post_dim_zero),
    BAD("bad-tensor-dim-negative", "must be positive", "an extent of -32", pre_none,
        post_dim_negative),
    BAD("bad-tensor-elements-overflow", "overflow", "2^32 x 2^32 x 2^32 elements",
        pre_elements_overflow, post_none),
    BAD("bad-tensor-bytes-overflow", "overflow", "2^62 f32 elements", pre_bytes_overflow, post_none),
    BAD("bad-tensor-type-unknown", "unknown type 77", "tensor type 77", pre_none, post_type77),
    BAD("bad-tensor-type-unsupported", "iq2_xxs", "tensor type iq2_xxs", pre_none, post_type_iq2),
    BAD("bad-tensor-type-huge", "unknown type", "tensor type 2^32-1", pre_none, post_type_huge),
    BAD("bad-tensor-row-not-block", "block size", "q8_0 rows of 48 values", pre_row_not_block,
        post_none),
    BAD("bad-tensor-misaligned", "alignment", "tensor 1's offset moved by 4 bytes", pre_none,
        post_misaligned),
    BAD("bad-tensor-overlap", "overlap", "tensor 2 placed on tensor 1", pre_none, post_overlap),
    BAD("bad-tensor-overlap-first", "overlap", "tensor 2 placed at offset 0, on tensor 0", pre_none,
        post_overlap_first),
    BAD("bad-tensor-overlap-tail", "overlap", "tensor 1 placed on the last 32 bytes of tensor 0",
        pre_none, post_overlap_tail),
    BAD("bad-tensor-out-of-range", "past the end", "tensor 2 placed after the end of the file",
        pre_none, post_past_end),
    BAD("bad-tensor-offset-huge", "past the end", "tensor 2 at offset 2^64-32", pre_none,
        post_offset_huge),
    BAD("bad-noise", "", "random bytes after a valid version", pre_none, post_noise),
    BAD("bad-text-mangled", "", "high bytes replaced by U+FFFD, as a text conversion does", pre_none,
        post_mangle),
};

int gw_corpus_count(void)
{
    return (int)(sizeof cases / sizeof cases[0]);
}

const struct gw_case *gw_corpus_case(int i)
{
    return i >= 0 && i < gw_corpus_count() ? &cases[i].c : NULL;
}

int gw_corpus_build(int i, void **buf, size_t *len, char **err)
{
    const struct case_def *cd = &cases[i];
    struct image im = {0};
    void *p = NULL;
    int rc = -1;
    assert(i >= 0 && i < gw_corpus_count());

    gw *w = gw_corpus_base(cd->version, GGUF_DEFAULT_ALIGNMENT);
    if (!w)
        return gl_err(err, "%s: out of memory", cd->c.name);
    gw_set_big_endian(w, cd->big_endian);
    if (cd->pre(w)) {
        gl_err(err, "%s: cannot build the case", cd->c.name);
        goto out;
    }
    if (gw_write_mem(w, &p, &im.len, err))
        goto out;
    im.b = p;
    im.L = gw_layout(w);
    if (cd->post(&im)) {
        gl_err(err, "%s: out of memory", cd->c.name);
        free(im.b);
        goto out;
    }
    *buf = im.b;
    *len = im.len;
    rc = 0;
out:
    gw_free(w);
    return rc;
}
