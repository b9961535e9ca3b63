/*
 * test_gguf.c - the GGUF reader against files from tests/gguf_writer.c and
 * the reference models.
 *
 * Covers: a round trip of every value type (scalars, string arrays, nested
 * arrays) and of tensors of several types, for versions 2 and 3 and
 * alignments 1, 32 and 64, from memory and from a file; the typed getters'
 * 0 / 1 / -1 contract; the broken-file corpus (each case refused with a
 * message naming the file and the problem); truncation at every byte offset
 * and single-byte corruption of the whole header (refused or accepted, never
 * a crash - run under ASan); fast lookup among many tensors. With the
 * reference data: every .gguf parses, the tiny models' metadata and tensor
 * types match FORMAT.md / TENSOR_TYPES.md, the damaged vocabulary is
 * refused, and every quantized tensor dequantizes close to the f16 file's.
 */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "glimpse/gguf.h"
#include "glimpse/quant.h"
#include "gguf_writer.h"
#include "tap.h"

/* For printing a message that may be absent. */
static const char *msg(const char *err)
{
    return err ? err : "(no message)";
}

static bool has(const char *s, const char *sub)
{
    return s && sub && strstr(s, sub) != NULL;
}

/* An exact-size heap copy, so ASan sees any read past the end. */
static void *dup_exact(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

/* ================================================================ round trip */

static const uint8_t a_u8[] = {0, 1, 255};
static const int8_t a_i8[] = {-128, 0, 127};
static const uint16_t a_u16[] = {0, 65535, 1234};
static const int16_t a_i16[] = {-32768, 32767, -1};
static const uint32_t a_u32[] = {0, 4000000000u, 7};
static const int32_t a_i32[] = {INT32_MIN, INT32_MAX, -5};
static const float a_f32[] = {1.5f, -2.25f, 1e-5f};
static const bool a_bool[] = {true, false, true};
static const uint64_t a_u64[] = {0, UINT64_MAX, 1ull << 40};
static const int64_t a_i64[] = {INT64_MIN, INT64_MAX, -7};
static const double a_f64[] = {3.25e100, -0.5, 1e-300};
static const char *const a_str[] = {"a", "", "c\xc3\xa7\xc3\xa7"};

static float t_f32[5][3];
static uint16_t t_f16[7];
static uint16_t t_bf16[16];

static void fill_q8(void *dst, int64_t row0, int64_t nrows, size_t row_bytes, void *user)
{
    (void)user;
    uint8_t *y = dst;
    for (size_t i = 0; i < (size_t)nrows * row_bytes; i++)
        y[i] = (uint8_t)(i * 7 + (size_t)row0 * 13 + 1);
}

static gw *build_all(uint32_t version, uint32_t alignment)
{
    gw *w = gw_new();
    gw_set_version(w, version);
    gw_set_alignment(w, alignment);
    gw_kv(w, "t.u8", gw_u8(200));
    gw_kv(w, "t.i8", gw_i8(-100));
    gw_kv(w, "t.u16", gw_u16(60000));
    gw_kv(w, "t.i16", gw_i16(-30000));
    gw_kv(w, "t.u32", gw_u32(4000000000u));
    gw_kv(w, "t.i32", gw_i32(-2000000000));
    gw_kv(w, "t.f32", gw_f32(1.5f));
    gw_kv(w, "t.bool.t", gw_bool(true));
    gw_kv(w, "t.bool.f", gw_bool(false));
    gw_kv(w, "t.str", gw_str("h\xc3\xa9llo w\xc3\xb6rld"));
    gw_kv(w, "t.str.empty", gw_str(""));
    gw_kv(w, "t.u64", gw_u64(0x8000000000000005ull));
    gw_kv(w, "t.i64", gw_i64(-(1ll << 62)));
    gw_kv(w, "t.f64", gw_f64(3.25e100));
    gw_kv(w, "a.u8", gw_arr(GGUF_VT_U8, a_u8, 3));
    gw_kv(w, "a.i8", gw_arr(GGUF_VT_I8, a_i8, 3));
    gw_kv(w, "a.u16", gw_arr(GGUF_VT_U16, a_u16, 3));
    gw_kv(w, "a.i16", gw_arr(GGUF_VT_I16, a_i16, 3));
    gw_kv(w, "a.u32", gw_arr(GGUF_VT_U32, a_u32, 3));
    gw_kv(w, "a.i32", gw_arr(GGUF_VT_I32, a_i32, 3));
    gw_kv(w, "a.f32", gw_arr(GGUF_VT_F32, a_f32, 3));
    gw_kv(w, "a.bool", gw_arr(GGUF_VT_BOOL, a_bool, 3));
    gw_kv(w, "a.u64", gw_arr(GGUF_VT_U64, a_u64, 3));
    gw_kv(w, "a.i64", gw_arr(GGUF_VT_I64, a_i64, 3));
    gw_kv(w, "a.f64", gw_arr(GGUF_VT_F64, a_f64, 3));
    gw_kv(w, "a.str", gw_arr(GGUF_VT_STR, a_str, 3));
    gw_kv(w, "a.empty", gw_arr(GGUF_VT_U32, NULL, 0));
    gw_val *nested = gw_arr(GGUF_VT_ARR, NULL, 0);
    gw_arr_push(nested, gw_arr(GGUF_VT_U8, a_u8, 2));
    gw_arr_push(nested, gw_arr(GGUF_VT_STR, a_str, 3));
    gw_arr_push(nested, gw_arr(GGUF_VT_ARR, NULL, 0));
    gw_kv(w, "a.nested", nested);
    gw_val *deep = gw_arr(GGUF_VT_ARR, NULL, 0), *mid = gw_arr(GGUF_VT_ARR, NULL, 0);
    gw_arr_push(mid, gw_arr(GGUF_VT_I32, a_i32, 3));
    gw_arr_push(deep, mid);
    gw_kv(w, "a.deep", deep);

    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++)
            t_f32[r][c] = (float)(r * 3 + c) - 0.5f;
    for (int i = 0; i < 7; i++)
        t_f16[i] = gl_fp32_to_fp16((float)i * 0.125f);
    for (int i = 0; i < 16; i++)
        t_bf16[i] = gl_fp32_to_bf16((float)i);
    gw_tensor(w, "f32.weight", GL_TYPE_F32, 2, (int64_t[]){3, 5}, t_f32);
    gw_tensor(w, "f16", GL_TYPE_F16, 1, (int64_t[]){7}, t_f16);
    gw_tensor(w, "bf16.4d", GL_TYPE_BF16, 4, (int64_t[]){2, 2, 2, 2}, t_bf16);
    gw_tensor_fill(w, "q8", GL_TYPE_Q8_0, 2, (int64_t[]){64, 3}, fill_q8, NULL);
    gw_tensor(w, "zeros.q4_K", GL_TYPE_Q4_K, 2, (int64_t[]){256, 2}, NULL);
    gw_tensor(w, "x", GL_TYPE_F32, 3, (int64_t[]){1, 1, 1}, t_f32);
    return w;
}

static void check_scalars(const gguf_file *f, const char *tag)
{
    const struct gguf_value *v;
    v = gguf_get(f, "t.u8");
    ok(v && v->type == GGUF_VT_U8 && v->v.u64 == 200, "%s: u8", tag);
    v = gguf_get(f, "t.i8");
    ok(v && v->type == GGUF_VT_I8 && v->v.i64 == -100, "%s: i8", tag);
    v = gguf_get(f, "t.u16");
    ok(v && v->type == GGUF_VT_U16 && v->v.u64 == 60000, "%s: u16", tag);
    v = gguf_get(f, "t.i16");
    ok(v && v->type == GGUF_VT_I16 && v->v.i64 == -30000, "%s: i16", tag);
    v = gguf_get(f, "t.u32");
    ok(v && v->type == GGUF_VT_U32 && v->v.u64 == 4000000000u, "%s: u32", tag);
    v = gguf_get(f, "t.i32");
    ok(v && v->type == GGUF_VT_I32 && v->v.i64 == -2000000000, "%s: i32", tag);
    v = gguf_get(f, "t.f32");
    ok(v && v->type == GGUF_VT_F32 && v->v.f64 == 1.5, "%s: f32", tag);
    v = gguf_get(f, "t.bool.t");
    ok(v && v->type == GGUF_VT_BOOL && v->v.b, "%s: bool true", tag);
    v = gguf_get(f, "t.bool.f");
    ok(v && v->type == GGUF_VT_BOOL && !v->v.b, "%s: bool false", tag);
    v = gguf_get(f, "t.str");
    ok(v && v->type == GGUF_VT_STR && gguf_str_eq(v->v.str, "h\xc3\xa9llo w\xc3\xb6rld"), "%s: str", tag);
    v = gguf_get(f, "t.str.empty");
    ok(v && v->type == GGUF_VT_STR && v->v.str.len == 0, "%s: empty str", tag);
    v = gguf_get(f, "t.u64");
    ok(v && v->type == GGUF_VT_U64 && v->v.u64 == 0x8000000000000005ull, "%s: u64", tag);
    v = gguf_get(f, "t.i64");
    ok(v && v->type == GGUF_VT_I64 && v->v.i64 == -(1ll << 62), "%s: i64", tag);
    v = gguf_get(f, "t.f64");
    ok(v && v->type == GGUF_VT_F64 && v->v.f64 == 3.25e100, "%s: f64", tag);
}

static bool arr_is(const gguf_file *f, const char *key, enum gguf_vtype t, uint64_t n)
{
    const struct gguf_value *v = gguf_get(f, key);
    return v && v->type == GGUF_VT_ARR && v->v.arr.type == t && v->v.arr.n == n;
}

static void check_arrays(const gguf_file *f, const char *tag)
{
    const struct gguf_value *v;
    bool good = true;
    good &= arr_is(f, "a.u8", GGUF_VT_U8, 3);
    good &= arr_is(f, "a.i8", GGUF_VT_I8, 3);
    good &= arr_is(f, "a.u16", GGUF_VT_U16, 3);
    good &= arr_is(f, "a.i16", GGUF_VT_I16, 3);
    good &= arr_is(f, "a.u32", GGUF_VT_U32, 3);
    good &= arr_is(f, "a.i32", GGUF_VT_I32, 3);
    good &= arr_is(f, "a.f32", GGUF_VT_F32, 3);
    good &= arr_is(f, "a.bool", GGUF_VT_BOOL, 3);
    good &= arr_is(f, "a.u64", GGUF_VT_U64, 3);
    good &= arr_is(f, "a.i64", GGUF_VT_I64, 3);
    good &= arr_is(f, "a.f64", GGUF_VT_F64, 3);
    good &= arr_is(f, "a.str", GGUF_VT_STR, 3);
    good &= arr_is(f, "a.empty", GGUF_VT_U32, 0);
    ok(good, "%s: every array has its element type and count", tag);
    if (!good)
        return;
    bool vals = true;
    for (int i = 0; i < 3; i++) {
        vals &= gguf_arr_i64(gguf_get(f, "a.u8"), (uint64_t)i) == a_u8[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.i8"), (uint64_t)i) == a_i8[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.u16"), (uint64_t)i) == a_u16[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.i16"), (uint64_t)i) == a_i16[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.u32"), (uint64_t)i) == a_u32[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.i32"), (uint64_t)i) == a_i32[i];
        vals &= gguf_arr_f64(gguf_get(f, "a.f32"), (uint64_t)i) == a_f32[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.bool"), (uint64_t)i) == a_bool[i];
        vals &= (uint64_t)gguf_arr_i64(gguf_get(f, "a.u64"), (uint64_t)i) == a_u64[i];
        vals &= gguf_arr_i64(gguf_get(f, "a.i64"), (uint64_t)i) == a_i64[i];
        vals &= gguf_arr_f64(gguf_get(f, "a.f64"), (uint64_t)i) == a_f64[i];
    }
    vals &= gguf_arr_f64(gguf_get(f, "a.u64"), 1) == (double)UINT64_MAX;
    vals &= gguf_arr_i64(gguf_get(f, "a.f32"), 1) == -2;
    ok(vals, "%s: fixed-size array elements read back", tag);
    v = gguf_get(f, "a.str");
    ok(v->v.arr.items && gguf_str_eq(v->v.arr.items[0].v.str, "a") &&
       v->v.arr.items[1].v.str.len == 0 && gguf_str_eq(v->v.arr.items[2].v.str, a_str[2]) &&
       v->v.arr.items[2].type == GGUF_VT_STR, "%s: string array", tag);

    v = gguf_get(f, "a.nested");
    bool nest = v && v->type == GGUF_VT_ARR && v->v.arr.type == GGUF_VT_ARR && v->v.arr.n == 3 &&
                v->v.arr.items;
    if (nest) {
        const struct gguf_value *it = v->v.arr.items;
        nest = it[0].type == GGUF_VT_ARR && it[0].v.arr.type == GGUF_VT_U8 && it[0].v.arr.n == 2 &&
               gguf_arr_i64(&it[0], 1) == 1 && it[0].v.arr.data &&
               it[1].v.arr.type == GGUF_VT_STR && it[1].v.arr.n == 3 &&
               gguf_str_eq(it[1].v.arr.items[2].v.str, a_str[2]) &&
               it[2].v.arr.type == GGUF_VT_ARR && it[2].v.arr.n == 0;
    }
    ok(nest, "%s: nested arrays of u8, str and arr", tag);
    v = gguf_get(f, "a.deep");
    nest = v && v->v.arr.n == 1 && v->v.arr.items[0].v.arr.n == 1 &&
           v->v.arr.items[0].v.arr.items[0].v.arr.type == GGUF_VT_I32 &&
           gguf_arr_i64(&v->v.arr.items[0].v.arr.items[0], 0) == INT32_MIN;
    ok(nest, "%s: three-level nesting", tag);
}

static void check_tensors(const gguf_file *f, const struct gw_layout *L, uint32_t alignment,
                          const char *tag)
{
    static const char *const names[] = {"f32.weight", "f16", "bf16.4d", "q8", "zeros.q4_K", "x"};
    is_int(gguf_n_tensors(f), 6, "%s: tensor count", tag);
    is_int(gguf_alignment(f), alignment, "%s: alignment", tag);
    is_int(gguf_header_size(f), L->header_size, "%s: header size = end of the directory", tag);
    is_int(gguf_data_offset(f), L->data_start, "%s: data area offset", tag);
    ok(gguf_data_offset(f) % alignment == 0 && gguf_data_offset(f) >= gguf_header_size(f) &&
       gguf_data_offset(f) - gguf_header_size(f) < alignment,
       "%s: data area aligned right after the header", tag);
    bool good = gguf_n_tensors(f) == 6;
    for (int i = 0; good && i < 6; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        good &= strcmp(t->name, names[i]) == 0 && gguf_find_tensor(f, names[i]) == t;
        good &= t->offset == L->tensor[i].data_offset && t->offset % alignment == 0;
        good &= t->data == (const uint8_t *)gguf_base(f) + gguf_data_offset(f) + t->offset;
        good &= t->nbytes == L->tensor[i].nbytes;
    }
    ok(good, "%s: names, lookup, offsets and data pointers", tag);
    if (!good)
        return;
    const struct gguf_tensor *t = gguf_find_tensor(f, "f32.weight");
    ok(t->type == GL_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 5 && t->ne[2] == 1 &&
       t->ne[3] == 1 && t->nelements == 15 && t->nbytes == 60 && memcmp(t->data, t_f32, 60) == 0,
       "%s: f32 tensor shape and data", tag);
    t = gguf_find_tensor(f, "f16");
    ok(t->type == GL_TYPE_F16 && t->n_dims == 1 && t->ne[0] == 7 && t->nbytes == 14 &&
       memcmp(t->data, t_f16, 14) == 0, "%s: f16 tensor", tag);
    t = gguf_find_tensor(f, "bf16.4d");
    ok(t->type == GL_TYPE_BF16 && t->n_dims == 4 && t->nelements == 16 && t->nbytes == 32 &&
       memcmp(t->data, t_bf16, 32) == 0, "%s: 4-d bf16 tensor", tag);
    t = gguf_find_tensor(f, "q8");
    uint8_t want[3 * 68];
    fill_q8(want, 0, 3, 68, NULL);
    ok(t->type == GL_TYPE_Q8_0 && t->nbytes == 3 * 68 && t->nelements == 192 &&
       memcmp(t->data, want, sizeof want) == 0, "%s: q8_0 tensor from a fill callback", tag);
    t = gguf_find_tensor(f, "zeros.q4_K");
    ok(t->type == GL_TYPE_Q4_K && t->nbytes == 2 * gl_row_size(GL_TYPE_Q4_K, 256), "%s: q4_K size", tag);
    ok(!gguf_find_tensor(f, "absent") && !gguf_find_tensor(f, "") && !gguf_find_tensor(f, "f1"),
       "%s: absent tensors are not found", tag);
}

static void test_round_trip(void)
{
    static const uint32_t versions[] = {2, 3};
    static const uint32_t aligns[] = {32, 64, 1};
    for (int vi = 0; vi < 2; vi++) {
        for (int ai = 0; ai < 3; ai++) {
            char tag[64], name[64];
            void *buf = NULL;
            size_t len = 0;
            char *err = NULL;
            snprintf(tag, sizeof tag, "v%u align %u", versions[vi], aligns[ai]);
            snprintf(name, sizeof name, "roundtrip-v%u-a%u.gguf", versions[vi], aligns[ai]);
            gw *w = build_all(versions[vi], aligns[ai]);
            if (!ok(gw_write_mem(w, &buf, &len, &err) == 0, "%s: written", tag)) {
                tap_diag("%s", msg(err));
                free(err);
                gw_free(w);
                continue;
            }
            const struct gw_layout *L = gw_layout(w);
            is_int(len, L->size, "%s: layout size", tag);
            gguf_file *f = gguf_open_mem(buf, len, name, &err);
            if (!ok(f != NULL, "%s: parses", tag)) {
                tap_diag("%s", msg(err));
                free(err);
            } else {
                is_int(gguf_version(f), versions[vi], "%s: version", tag);
                is_int(gguf_file_size(f), len, "%s: size", tag);
                is_str(gguf_path(f), name, "%s: name", tag);
                int64_t n_kv = 29 + (aligns[ai] != 32);
                is_int(gguf_n_kv(f), n_kv, "%s: key count", tag);
                ok(gguf_kv_at(f, 0) && gguf_str_eq(gguf_kv_at(f, 0)->key, "t.u8") &&
                   gguf_str_eq(gguf_kv_at(f, 28)->key, "a.deep") && !gguf_kv_at(f, n_kv) &&
                   !gguf_kv_at(f, -1), "%s: keys in file order", tag);
                if (aligns[ai] != 32) {
                    uint32_t a = 0;
                    ok(gguf_get_u32(f, "general.alignment", &a, NULL) == 0 && a == aligns[ai],
                       "%s: general.alignment key", tag);
                }
                check_scalars(f, tag);
                check_arrays(f, tag);
                check_tensors(f, L, aligns[ai], tag);
                gguf_close(f);
            }
            free(buf);
            gw_free(w);
        }
    }
}

/* The same through a real file: atomic write, then gguf_open's mmap. */
static void test_file(void)
{
    char path[512], *err = NULL;
    snprintf(path, sizeof path, "%s/test_gguf-roundtrip.gguf", tap_tmpdir());
    gw *w = build_all(3, 64);
    int rc = gw_write_file(w, path, &err);
    if (!ok(rc == 0, "written to %s", path)) {
        tap_diag("%s", msg(err));
        free(err);
        gw_free(w);
        return;
    }
    gguf_file *f = gguf_open(path, &err);
    if (ok(f != NULL, "gguf_open maps it")) {
        is_str(gguf_path(f), path, "path kept");
        check_scalars(f, "file");
        check_arrays(f, "file");
        check_tensors(f, gw_layout(w), 64, "file");
        gguf_close(f);
    } else {
        tap_diag("%s", err);
        free(err);
        err = NULL;
    }
    DIR *d = opendir(tap_tmpdir());
    bool leftovers = false;
    struct dirent *de;
    while (d && (de = readdir(d)))
        leftovers |= strstr(de->d_name, "test_gguf-roundtrip.gguf.tmp") != NULL;
    if (d)
        closedir(d);
    ok(!leftovers, "no temporary file left behind");
    remove(path);
    gw_free(w);

    /* Not a regular file, missing, empty. */
    f = gguf_open(tap_tmpdir(), &err);
    ok(!f && has(err, tap_tmpdir()) && has(err, "not a regular file"),
       "a directory is refused: %s", msg(err));
    free(err);
    err = NULL;
    snprintf(path, sizeof path, "%s/test_gguf-missing.gguf", tap_tmpdir());
    f = gguf_open(path, &err);
    ok(!f && has(err, path), "a missing file is refused: %s", msg(err));
    free(err);
    err = NULL;
    snprintf(path, sizeof path, "%s/test_gguf-empty.gguf", tap_tmpdir());
    FILE *fp = fopen(path, "wb");
    if (fp)
        fclose(fp);
    f = gguf_open(path, &err);
    ok(!f && has(err, path) && has(err, "empty"), "an empty file is refused: %s", msg(err));
    free(err);
    remove(path);
    gguf_close(NULL);
}

/* ================================================================ getters */

static void test_getters(void)
{
    void *buf;
    size_t len;
    char *err = NULL;
    gw *w = build_all(3, 32);
    if (gw_write_mem(w, &buf, &len, &err)) {
        ok(0, "getters: written");
        gw_free(w);
        return;
    }
    gguf_file *f = gguf_open_mem(buf, len, "getters.gguf", &err);
    if (!ok(f, "getters: parses")) {
        free(buf);
        gw_free(w);
        return;
    }
    uint32_t u = 77;
    int64_t i = 0;
    float x = 0;
    bool b = false;
    struct gguf_str s = {0};
    const struct gguf_value *a = NULL;
    int rc;

    ok(gguf_get_u32(f, "t.u8", &u, &err) == 0 && u == 200, "u32 from u8");
    ok(gguf_get_u32(f, "t.u32", &u, &err) == 0 && u == 4000000000u, "u32 from u32");
    u = 77;
    ok(gguf_get_u32(f, "nope", &u, &err) == 1 && u == 77 && !err, "absent key: 1, out untouched");
    rc = gguf_get_u32(f, "t.i8", &u, &err);
    ok(rc == -1 && u == 77 && has(err, "getters.gguf") && has(err, "t.i8"),
       "negative value refused for u32: %s", msg(err));
    free(err);
    err = NULL;
    rc = gguf_get_u32(f, "t.u64", &u, &err);
    ok(rc == -1 && has(err, "t.u64"), "u64 too big for u32: %s", msg(err));
    free(err);
    err = NULL;
    rc = gguf_get_u32(f, "t.str", &u, &err);
    ok(rc == -1 && has(err, "str"), "string is not an integer: %s", msg(err));
    free(err);
    err = NULL;
    ok(gguf_get_u32(f, "t.f32", &u, NULL) == -1, "f32 is not an integer (NULL err is fine)");
    ok(gguf_get_i64(f, "t.i64", &i, &err) == 0 && i == -(1ll << 62), "i64");
    ok(gguf_get_i64(f, "t.u32", &i, &err) == 0 && i == 4000000000ll, "i64 from u32");
    ok(gguf_get_i64(f, "t.i8", &i, &err) == 0 && i == -100, "i64 from i8");
    rc = gguf_get_i64(f, "t.u64", &i, &err);
    ok(rc == -1 && has(err, "getters.gguf"), "u64 above INT64_MAX: %s", msg(err));
    free(err);
    err = NULL;
    ok(gguf_get_i64(f, "nope", &i, &err) == 1, "i64 absent");
    ok(gguf_get_f32(f, "t.f32", &x, &err) == 0 && x == 1.5f, "f32");
    ok(gguf_get_f32(f, "t.f64", &x, &err) == 0 && isinf(x), "f32 from a huge f64 is inf");
    ok(gguf_get_f32(f, "t.i32", &x, &err) == 0 && x == -2e9f, "f32 from i32");
    rc = gguf_get_f32(f, "t.bool.t", &x, &err);
    ok(rc == -1 && has(err, "t.bool.t"), "bool is not a number: %s", msg(err));
    free(err);
    err = NULL;
    ok(gguf_get_bool(f, "t.bool.t", &b, &err) == 0 && b, "bool");
    rc = gguf_get_bool(f, "t.u8", &b, &err);
    ok(rc == -1 && has(err, "bool"), "u8 is not a bool: %s", msg(err));
    free(err);
    err = NULL;
    ok(gguf_get_str(f, "t.str", &s, &err) == 0 && s.len == 13, "str");
    char *c = gguf_str_dup(s);
    is_str(c, "h\xc3\xa9llo w\xc3\xb6rld", "str_dup");
    free(c);
    rc = gguf_get_str(f, "a.str", &s, &err);
    ok(rc == -1 && has(err, "arr"), "array is not a str: %s", msg(err));
    free(err);
    err = NULL;
    ok(gguf_get_arr(f, "a.str", GGUF_VT_STR, &a, &err) == 0 && a->v.arr.n == 3, "arr of str");
    ok(gguf_get_arr(f, "a.str", GGUF_VT_COUNT, &a, &err) == 0, "arr of any");
    rc = gguf_get_arr(f, "a.str", GGUF_VT_F32, &a, &err);
    ok(rc == -1 && has(err, "a.str") && has(err, "f32"), "wrong element type: %s", msg(err));
    free(err);
    err = NULL;
    ok(gguf_get_arr(f, "t.u8", GGUF_VT_COUNT, &a, &err) == -1, "scalar is not an array");
    free(err);
    err = NULL;
    ok(gguf_get_arr(f, "nope", GGUF_VT_COUNT, &a, &err) == 1, "arr absent");
    ok(gguf_get(f, "t.u") == NULL && gguf_get(f, "") == NULL, "prefix / empty key not found");
    is_str(gguf_vtype_name(GGUF_VT_STR), "str", "vtype name str");
    is_str(gguf_vtype_name(GGUF_VT_F64), "f64", "vtype name f64");
    is_str(gguf_vtype_name((enum gguf_vtype)99), "unknown", "vtype name out of range");
    gguf_close(f);
    free(buf);
    gw_free(w);
}

/* ================================================================ corpus */

static void test_corpus(void)
{
    int n = gw_corpus_count();
    int n_bad = 0;
    for (int i = 0; i < n; i++) {
        const struct gw_case *c = gw_corpus_case(i);
        void *buf = NULL, *copy;
        size_t len = 0;
        char *err = NULL, name[128];
        if (gw_corpus_build(i, &buf, &len, &err)) {
            ok(0, "%s: built (%s)", c->name, err);
            free(err);
            continue;
        }
        snprintf(name, sizeof name, "corpus/%s.gguf", c->name);
        copy = dup_exact(buf, len);
        gguf_file *f = gguf_open_mem(copy, len, name, &err);
        if (c->valid) {
            ok(f != NULL, "%s is accepted (%s)", c->name, c->what);
            if (!f)
                tap_diag("%s", err);
        } else {
            n_bad++;
            bool good = !f && has(err, name) && has(err, c->expect) && !strchr(err, '\n');
            ok(good, "%s is refused (%s): %s", c->name, c->what, err ? err : "(accepted!)");
            if (!good)
                tap_diag("want a one-line message naming the file and saying \"%s\"", c->expect);
        }
        gguf_close(f);
        free(err);
        free(copy);
        free(buf);
    }
    ok(n_bad >= 40, "the corpus has %d broken cases", n_bad);
}

/* Every proper prefix of a valid file is refused. */
static void test_truncation(uint32_t version, uint32_t alignment, bool tensors)
{
    gw *w = gw_corpus_base(version, alignment);
    void *buf = NULL;
    size_t len = 0;
    char *err = NULL;
    if (!tensors) {
        /* rebuild without tensors: only metadata */
        gw_free(w);
        w = gw_new();
        gw_set_version(w, version);
        gw_kv_str(w, "general.architecture", "llama");
        gw_kv(w, "tokenizer.ggml.tokens", gw_arr(GGUF_VT_STR, (const char *[]){"a", "bb"}, 2));
        gw_kv(w, "x", gw_arr(GGUF_VT_I16, (int16_t[]){1, 2}, 2));
    }
    if (!w || gw_write_mem(w, &buf, &len, &err)) {
        ok(0, "truncation: base written");
        free(err);
        gw_free(w);
        return;
    }
    const struct gw_layout *L = gw_layout(w);
    uint64_t need = tensors ? L->data_end : L->header_size;
    gguf_file *f = gguf_open_mem(buf, len, "whole.gguf", &err);
    ok(f != NULL, "v%u align %u%s: the whole file parses", version, alignment, tensors ? "" : " no tensors");
    gguf_close(f);
    free(err);
    err = NULL;
    int refused = 0, named = 0;
    for (uint64_t cut = 0; cut < need; cut++) {
        void *copy = dup_exact(buf, (size_t)cut);
        f = gguf_open_mem(copy, (size_t)cut, "cut.gguf", &err);
        refused += f == NULL;
        named += has(err, "cut.gguf");
        gguf_close(f);
        free(err);
        err = NULL;
        free(copy);
    }
    is_int(refused, need, "v%u align %u: all %llu truncations refused", version, alignment,
           (unsigned long long)need);
    is_int(named, need, "v%u align %u: every message names the file", version, alignment);
    free(buf);
    gw_free(w);
}

/* Each header byte replaced by a few values: refused or accepted, never a
 * crash or an out-of-bounds read; whatever is accepted is self-consistent. */
static void test_corruption(void)
{
    gw *w = gw_corpus_base(3, 32);
    void *buf = NULL;
    size_t len = 0;
    char *err = NULL;
    if (!w || gw_write_mem(w, &buf, &len, &err)) {
        ok(0, "corruption: base written");
        gw_free(w);
        return;
    }
    uint64_t hdr = gw_layout(w)->header_size;
    static const int vals[] = {0x00, 0xff, 0x80, 0x7f, -1};
    int runs = 0, accepted = 0, bad_accept = 0, unnamed = 0;
    uint8_t *copy = malloc(len);
    for (uint64_t off = 0; copy && off < hdr; off++) {
        for (int k = 0; k < 5; k++) {
            memcpy(copy, buf, len);
            copy[off] = vals[k] < 0 ? (uint8_t)(copy[off] ^ 1) : (uint8_t)vals[k];
            gguf_file *f = gguf_open_mem(copy, len, "mutant.gguf", &err);
            runs++;
            if (f) {
                accepted++;
                for (int64_t t = 0; t < gguf_n_tensors(f); t++) {
                    const struct gguf_tensor *ti = gguf_tensor_at(f, t);
                    if ((const uint8_t *)ti->data + ti->nbytes > copy + len ||
                        (const uint8_t *)ti->data < copy + gguf_data_offset(f))
                        bad_accept++;
                }
            } else if (!has(err, "mutant.gguf")) {
                unnamed++;
            }
            gguf_close(f);
            free(err);
            err = NULL;
        }
    }
    free(copy);
    ok(runs > 1000, "%d single-byte mutants of the header parsed without a crash (%d accepted)",
       runs, accepted);
    is_int(bad_accept, 0, "accepted mutants keep every tensor inside the file");
    is_int(unnamed, 0, "every refusal names the file");
    free(buf);
    gw_free(w);
}

/* A model-sized directory: hash lookup of every name, and a miss. */
static void test_many_tensors(void)
{
    enum { N = 2000 };
    gw *w = gw_new();
    char name[64];
    static float one[1] = {1.0f};
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", i);
        gw_tensor(w, name, GL_TYPE_F32, 1, (int64_t[]){1}, one);
    }
    void *buf;
    size_t len;
    char *err = NULL;
    if (gw_write_mem(w, &buf, &len, &err)) {
        ok(0, "many tensors: written");
        gw_free(w);
        return;
    }
    gguf_file *f = gguf_open_mem(buf, len, "many.gguf", &err);
    int found = 0;
    for (int i = 0; f && i < N; i++) {
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", i);
        const struct gguf_tensor *t = gguf_find_tensor(f, name);
        found += t && t == gguf_tensor_at(f, i) && *(const float *)t->data == 1.0f;
    }
    is_int(found, N, "all %d tensors found by name", N);
    ok(f && !gguf_find_tensor(f, "blk.2000.ffn_gate.weight"), "a missing name is not found");
    gguf_close(f);
    free(err);
    free(buf);
    gw_free(w);
}

/* ================================================================ reference data */

static gguf_file *open_ref(const char *rel)
{
    char *p = tap_refpath(rel), *err = NULL;
    gguf_file *f = gguf_open(p, &err);
    if (!f)
        tap_diag("%s", err);
    free(err);
    free(p);
    return f;
}

static int64_t geti(const gguf_file *f, const char *key)
{
    int64_t v = -1;
    if (gguf_get_i64(f, key, &v, NULL) != 0)
        return -1;
    return v;
}

static bool str_is(const gguf_file *f, const char *key, const char *want)
{
    struct gguf_str s;
    return gguf_get_str(f, key, &s, NULL) == 0 && gguf_str_eq(s, want);
}

static void test_ref_all_parse(void)
{
    static const char *const dirs[] = {"models", "stories260K", "tokenizer", "toy"};
    int n = 0;
    for (int d = 0; d < 4; d++) {
        char *dir = tap_refpath(dirs[d]);
        DIR *dp = opendir(dir);
        struct dirent *de;
        while (dp && (de = readdir(dp))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".gguf") != 0)
                continue;
            char rel[512];
            snprintf(rel, sizeof rel, "%s/%s", dirs[d], de->d_name);
            gguf_file *f = open_ref(rel);
            ok(f != NULL, "%s parses (%lld keys, %lld tensors)", rel,
               f ? (long long)gguf_n_kv(f) : 0LL, f ? (long long)gguf_n_tensors(f) : 0LL);
            gguf_close(f);
            n++;
        }
        if (dp)
            closedir(dp);
        free(dir);
    }
    ok(n >= 15, "found %d reference GGUF files", n);
}

static void test_ref_llm(const char *rel)
{
    gguf_file *f = open_ref(rel);
    if (!ok(f, "%s opens", rel))
        return;
    const struct gguf_value *tok = NULL;
    bool good = str_is(f, "general.architecture", "llama") &&
                geti(f, "llama.embedding_length") == 256 && geti(f, "llama.block_count") == 2 &&
                geti(f, "llama.attention.head_count") == 8 &&
                geti(f, "llama.attention.head_count_kv") == 8 &&
                geti(f, "llama.feed_forward_length") == 768 && geti(f, "llama.context_length") == 2048 &&
                geti(f, "tokenizer.ggml.bos_token_id") == 1 && geti(f, "tokenizer.ggml.eos_token_id") == 2 &&
                str_is(f, "tokenizer.ggml.model", "llama") &&
                gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STR, &tok, NULL) == 0 &&
                tok->v.arr.n == 32000;
    ok(good, "%s: llama, 256 wide, 2 blocks, 8/8 heads, ff 768, ctx 2048, 32000 tokens, bos 1, eos 2", rel);
    if (good)
        ok(gguf_str_eq(tok->v.arr.items[1].v.str, "<s>") && gguf_str_eq(tok->v.arr.items[2].v.str, "</s>") &&
           gguf_str_eq(tok->v.arr.items[13].v.str, "<0x0A>"),
           "%s: tokens 1, 2, 13 are <s>, </s>, <0x0A>", rel);
    float eps = 0;
    ok(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, NULL) == 0 && eps == 1e-5f,
       "%s: rms eps 1e-5", rel);
    ok(arr_is(f, "tokenizer.ggml.scores", GGUF_VT_F32, 32000) &&
       arr_is(f, "tokenizer.ggml.token_type", GGUF_VT_I32, 32000), "%s: scores and token types", rel);
    const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    ok(t && t->n_dims == 2 && t->ne[0] == 256 && t->ne[1] == 32000, "%s: token_embd is [256, 32000]", rel);
    gguf_close(f);
}

static void test_ref_mmproj(void)
{
    const char *rel = "models/tiny-llava-mmproj-f16.gguf";
    gguf_file *f = open_ref(rel);
    if (!ok(f, "%s opens", rel))
        return;
    bool b1 = false, b2 = true;
    ok(str_is(f, "general.architecture", "clip") && geti(f, "clip.vision.embedding_length") == 64 &&
       geti(f, "clip.vision.block_count") == 3 && geti(f, "clip.vision.image_size") == 336 &&
       geti(f, "clip.vision.patch_size") == 14 && geti(f, "clip.vision.attention.head_count") == 4 &&
       geti(f, "clip.vision.feed_forward_length") == 256 && str_is(f, "clip.projector_type", "mlp"),
       "mmproj: clip, 64 wide, 3 blocks, 336/14, 4 heads, ff 256, mlp projector");
    ok(gguf_get_bool(f, "clip.has_llava_projector", &b1, NULL) == 0 && b1 &&
       gguf_get_bool(f, "clip.use_gelu", &b2, NULL) == 0 && !b2, "mmproj: llava projector, quick-gelu");
    static const double mean[] = {0.48145466, 0.4578275, 0.40821073};
    static const double stdv[] = {0.26862954, 0.26130258, 0.27577711};
    const struct gguf_value *m = NULL, *s = NULL;
    bool good = gguf_get_arr(f, "clip.vision.image_mean", GGUF_VT_F32, &m, NULL) == 0 &&
                gguf_get_arr(f, "clip.vision.image_std", GGUF_VT_F32, &s, NULL) == 0 &&
                m->v.arr.n == 3 && s->v.arr.n == 3;
    for (int i = 0; good && i < 3; i++)
        good = fabs(gguf_arr_f64(m, (uint64_t)i) - mean[i]) < 1e-7 &&
               fabs(gguf_arr_f64(s, (uint64_t)i) - stdv[i]) < 1e-7;
    ok(good, "mmproj: image mean / std");
    is_int(gguf_alignment(f), 32, "mmproj: default alignment");
    gguf_close(f);
}

static void test_ref_stories(void)
{
    const char *rel = "stories260K/stories260K.gguf";
    gguf_file *f = open_ref(rel);
    if (!ok(f, "%s opens", rel))
        return;
    const struct gguf_value *tok = NULL;
    ok(str_is(f, "general.architecture", "llama") && geti(f, "llama.block_count") == 5 &&
       geti(f, "llama.attention.head_count") == 8 && geti(f, "llama.attention.head_count_kv") == 4 &&
       geti(f, "llama.embedding_length") == 64 &&
       gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STR, &tok, NULL) == 0 && tok->v.arr.n == 512,
       "stories260K: llama, 64 wide, 5 layers, 8 heads, 4 kv heads, 512 tokens");
    /* Optional ids the converter sets to 0xFFFFFFFF must simply read back. */
    static const char *const opt[] = {"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id"};
    for (int i = 0; i < 2; i++) {
        uint32_t id = 0;
        int rc = gguf_get_u32(f, opt[i], &id, NULL);
        ok(rc == 1 || (rc == 0 && (id == 0xFFFFFFFFu || id < 512)), "stories260K: %s reads (%s %u)",
           opt[i], rc ? "absent" : "value", id);
    }
    bool f32 = true;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++)
        f32 &= gguf_tensor_at(f, i)->type == GL_TYPE_F32;
    ok(f32 && gguf_find_tensor(f, "output.weight"), "stories260K: all f32, has output.weight");
    gguf_close(f);
}

/* "blk.12.attn_q.weight" -> "blk.N.attn_q.weight" (also "v.blk.N..."). */
static void pattern_of(const char *name, char *out, size_t cap)
{
    const char *p = strstr(name, "blk.");
    size_t o = 0;
    if (p && (p == name || p[-1] == '.') && p[4] >= '0' && p[4] <= '9') {
        size_t pre = (size_t)(p - name) + 4;
        const char *q = p + 4;
        while (*q >= '0' && *q <= '9')
            q++;
        o = (size_t)snprintf(out, cap, "%.*sN%s", (int)pre, name, q);
    } else {
        o = (size_t)snprintf(out, cap, "%s", name);
    }
    (void)o;
}

/* Does "output.weight:Q6_K, blk.N.attn_v.weight:Q4_K/Q6_K, ..." allow `name` with type `tn`? */
static int pattern_allows(const char *line, const char *pat, const char *tn)
{
    size_t pl = strlen(pat);
    const char *p = line;
    while ((p = strstr(p, pat))) {
        bool start = p == line || p[-1] == ' ' || p[-1] == ',';
        if (start && p[pl] == ':') {
            const char *types = p + pl + 1;
            size_t tl = strcspn(types, ",\n");
            size_t nl = strlen(tn);
            for (const char *t = types; t < types + tl;) {
                size_t k = strcspn(t, "/,\n");
                if (k > (size_t)(types + tl - t))
                    k = (size_t)(types + tl - t);
                if (k == nl && strncasecmp(t, tn, nl) == 0)
                    return 1;
                t += k + 1;
            }
            return 0;
        }
        p += pl;
    }
    return -1;
}

static void test_ref_tensor_types(void)
{
    char *path = tap_refpath("models/TENSOR_TYPES.md");
    char *text = tap_slurp(path, NULL);
    free(path);
    if (!ok(text, "TENSOR_TYPES.md read"))
        return;
    int files = 0;
    for (char *h = strstr(text, "\n## "); h; h = strstr(h + 1, "\n## ")) {
        char fname[128];
        unsigned long long size = 0;
        int ftype = -1, ntens = -1;
        if (sscanf(h, "\n## %127s (%llu bytes, general.file_type=%d, %d tensors)", fname, &size, &ftype,
                   &ntens) != 4)
            continue;
        char *line = strchr(h + 1, '\n');
        if (!line)
            break;
        line++;
        char *eol = strchr(line, '\n');
        char *pats = strndup(line, eol ? (size_t)(eol - line) : strlen(line));
        char rel[256];
        snprintf(rel, sizeof rel, "models/%s", fname);
        gguf_file *f = open_ref(rel);
        files++;
        if (!ok(f, "%s opens", rel)) {
            free(pats);
            continue;
        }
        ok(gguf_file_size(f) == size && geti(f, "general.file_type") == ftype && gguf_n_tensors(f) == ntens,
           "%s: %llu bytes, file_type %d, %d tensors", fname, size, ftype, ntens);
        int matched = 0;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const struct gguf_tensor *t = gguf_tensor_at(f, i);
            char pat[256];
            pattern_of(t->name, pat, sizeof pat);
            int r = pattern_allows(pats, pat, gl_type_name(t->type));
            if (r == 1)
                matched++;
            else
                tap_diag("%s: %s has type %s (%s)", fname, t->name, gl_type_name(t->type),
                         r < 0 ? "not listed" : "not the listed type");
        }
        is_int(matched, gguf_n_tensors(f), "%s: every tensor's type is the listed one", fname);

        /* The shapes line of the mmproj. */
        if (eol && strncmp(eol + 1, "\nshapes (ne): ", 14) == 0) {
            int checked = 0, right = 0;
            for (char *s = eol + 15; *s && *s != '\n';) {
                char tn[128];
                long long ne[4] = {1, 1, 1, 1};
                int nd = 0, used = 0;
                if (sscanf(s, " %127[^[][%n", tn, &used) != 1 || !used)
                    break;
                s += used;
                while (nd < 4 && sscanf(s, "%lld%n", &ne[nd], &used) == 1) {
                    nd++;
                    s += used;
                    if (*s == ',')
                        s++;
                }
                if (*s == ']')
                    s++;
                if (*s == ';')
                    s++;
                const struct gguf_tensor *t = gguf_find_tensor(f, tn);
                checked++;
                right += t && t->n_dims == nd && t->ne[0] == ne[0] && t->ne[1] == ne[1] &&
                         t->ne[2] == ne[2] && t->ne[3] == ne[3];
                while (*s == ' ')
                    s++;
                if (*s == '.')
                    break;
            }
            ok(checked >= 10 && right == checked, "%s: %d/%d listed shapes match", fname, right, checked);
        }
        gguf_close(f);
        free(pats);
    }
    ok(files == 11, "TENSOR_TYPES.md lists %d files", files);
    free(text);
}

static void test_ref_bad(void)
{
    char *p = tap_refpath("bad-gguf/text-mangled-vocab.gguf"), *err = NULL;
    gguf_file *f = gguf_open(p, &err);
    ok(!f && has(err, "text-mangled-vocab.gguf") && !strchr(err, '\n'),
       "the text-mangled vocabulary is refused: %s", err ? err : "(accepted!)");
    gguf_close(f);
    free(err);
    free(p);
}

/* ================================================================ cross-quantization */

struct qstat {
    double worst;               /* largest relative RMSE seen */
    double bound;
    int n;
};

/* Relative RMSE of tensor q against tensor r (same shape), both dequantized. */
static double rel_rmse(const struct gguf_tensor *q, const struct gguf_tensor *r)
{
    const struct gl_type_traits *tq = gl_type_traits(q->type), *tr = gl_type_traits(r->type);
    int64_t ne0 = q->ne[0], rows = q->nelements / ne0;
    float *a = malloc((size_t)ne0 * sizeof *a), *b = malloc((size_t)ne0 * sizeof *b);
    size_t rq = gl_row_size(q->type, ne0), rr = gl_row_size(r->type, ne0);
    double se = 0, ss = 0;
    if (!a || !b || !tq->to_float || !tr->to_float) {
        free(a);
        free(b);
        return INFINITY;
    }
    for (int64_t i = 0; i < rows; i++) {
        tq->to_float((const uint8_t *)q->data + (size_t)i * rq, a, ne0);
        tr->to_float((const uint8_t *)r->data + (size_t)i * rr, b, ne0);
        for (int64_t j = 0; j < ne0; j++) {
            double d = (double)a[j] - b[j];
            se += d * d;
            ss += (double)b[j] * b[j];
        }
    }
    free(a);
    free(b);
    return ss > 0 ? sqrt(se / ss) : sqrt(se);
}

static void test_cross_quant(void)
{
    static const char *const qs[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                     "q2_K", "q3_K_M", "q4_K_M", "q5_K_M"};
    /* Per-type bounds on the relative RMSE against the f16 file: the worst
     * tensor measured with the scalar dequantizers, plus ~40%. A wrong block
     * layout or scale gives errors of order 1. */
    struct qstat st[GL_TYPE_COUNT] = {0};
    st[GL_TYPE_F32].bound = 1e-6;
    st[GL_TYPE_Q8_0].bound = 0.0075;    /* measured 0.0054 */
    st[GL_TYPE_Q6_K].bound = 0.025;     /* 0.0178 */
    st[GL_TYPE_Q5_0].bound = 0.06;      /* 0.0430 */
    st[GL_TYPE_Q5_1].bound = 0.055;     /* 0.0380 */
    st[GL_TYPE_Q5_K].bound = 0.05;      /* 0.0363 */
    st[GL_TYPE_Q4_0].bound = 0.12;      /* 0.0864 */
    st[GL_TYPE_Q4_1].bound = 0.11;      /* 0.0786 */
    st[GL_TYPE_Q4_K].bound = 0.10;      /* 0.0716 */
    st[GL_TYPE_Q3_K].bound = 0.21;      /* 0.1515 */
    st[GL_TYPE_Q2_K].bound = 0.40;      /* 0.2978 */

    gguf_file *ref = open_ref("models/tiny-llava-llm-f16.gguf");
    if (!ok(ref, "f16 reference model opens"))
        return;
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/tiny-llava-llm-%s.gguf", qs[k]);
        gguf_file *f = open_ref(rel);
        if (!ok(f, "%s opens", rel))
            continue;
        int compared = 0, within = 0;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const struct gguf_tensor *q = gguf_tensor_at(f, i), *r = gguf_find_tensor(ref, q->name);
            if (!r || r->nelements != q->nelements || r->ne[0] != q->ne[0] || q->type >= GL_TYPE_COUNT ||
                !st[q->type].bound) {
                tap_diag("%s: %s cannot be compared", rel, q->name);
                continue;
            }
            double e = rel_rmse(q, r);
            struct qstat *s = &st[q->type];
            compared++;
            s->n++;
            if (e > s->worst || isnan(e))
                s->worst = e;
            if (e <= s->bound)
                within++;
            else
                tap_diag("%s: %s (%s) relative RMSE %.4f > %.4f", rel, q->name,
                         gl_type_name(q->type), e, s->bound);
        }
        ok(compared == gguf_n_tensors(f) && within == compared,
           "%s: all %d tensors dequantize within their type's bound of the f16 file", rel, compared);
        gguf_close(f);
    }
    for (int t = 0; t < GL_TYPE_COUNT; t++)
        if (st[t].n)
            tap_diag("%-5s %3d tensors, worst relative RMSE %.5f (bound %g)", gl_type_name(t), st[t].n,
                     st[t].worst, st[t].bound);
    gguf_close(ref);
}

int main(void)
{
    test_round_trip();
    test_file();
    test_getters();
    test_corpus();
    test_truncation(3, 32, true);
    test_truncation(2, 64, true);
    test_truncation(3, 32, false);
    test_corruption();
    test_many_tensors();

    if (!tap_refdata()) {
        tap_skip(1, "reference data not found (GLIMPSE_REFDATA)");
        return tap_done();
    }
    test_ref_all_parse();
    test_ref_llm("models/tiny-llava-llm-f16.gguf");
    test_ref_llm("models/tiny-llava-llm-q4_K_M.gguf");
    test_ref_llm("models/tiny-llava-llm-q2_K.gguf");
    test_ref_mmproj();
    test_ref_stories();
    test_ref_tensor_types();
    test_ref_bad();
    test_cross_quant();
    return tap_done();
}
