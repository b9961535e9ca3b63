/*
 * hostile.c - derive hostile variants of a GGUF file for
 * tests/hostile_models.sh.
 *
 *   hostile --list FILE [BUDGET [tensors]]
 *                                  one line per variant: "ID<TAB>what it is"
 *                                  (tensors: only the tensor directory's fields)
 *   hostile --make FILE ID OUT     write variant ID of FILE to OUT
 *
 * The file's structure is walked here, independently of the reader under
 * test (src/core/gguf.c), recording where every header field lies: magic,
 * version, the two counts, each key's length, each value's type, string
 * lengths, array element types and counts (and the lengths of a few strings
 * inside arrays), u32/i32/f32 values, each tensor's name length, n_dims,
 * extents, type and offset, and the alignment. The walk stops where the
 * file stops making sense (a damaged file still gives its first fields).
 *
 * Variants are truncations (inside the fixed header, at a stride through
 * the metadata and tensor directory, at field boundaries, and in the data
 * area) and overwrites of one field with a hostile value of its class
 * (zero, one more, all ones, 2^31, 2^32, 2^63, unknown types, other
 * types whose size differs, NaN and infinity, misaligned and overlapping
 * offsets...). BUDGET (default: all) limits how many are listed: the
 * classes then take turns, so each class is tried before any is tried twice,
 * and the picks are spread over the list. The list is deterministic.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ the walk */

enum fclass {
    F_MAGIC, F_VERSION, F_NTENSORS, F_NKV, F_KEYLEN, F_VTYPE, F_STRLEN, F_ARRTYPE, F_ARRCOUNT,
    F_ARRSTRLEN, F_INT, F_FLOAT, F_ALIGN, F_TNAMELEN, F_NDIMS, F_DIM, F_TTYPE, F_TOFFSET,
    F_COUNT
};

struct field {
    enum fclass cls;
    uint64_t off;               /* where it is */
    int width;                  /* 4 or 8 bytes */
    uint64_t val;               /* what it holds */
    char what[96];              /* "key 'general.name' length" */
};

static struct field *fields;
static size_t n_fields, cap_fields;
static uint64_t header_end;     /* end of the tensor directory (0: the walk stopped) */
static uint64_t data_start, second_off;    /* second_off: tensor 1's data offset (0: none) */
static uint64_t file_size;
static const uint8_t *mem;

static void add(enum fclass c, uint64_t off, int width, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static uint64_t rd(uint64_t off, int width)
{
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = v << 8 | mem[off + (uint64_t)i];
    return v;
}

static void add(enum fclass c, uint64_t off, int width, const char *fmt, ...)
{
    if (n_fields == cap_fields) {
        cap_fields = cap_fields ? 2 * cap_fields : 256;
        fields = realloc(fields, cap_fields * sizeof *fields);
        if (!fields) {
            fprintf(stderr, "hostile: out of memory\n");
            exit(1);
        }
    }
    struct field *f = &fields[n_fields++];
    f->cls = c;
    f->off = off;
    f->width = width;
    f->val = rd(off, width);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->what, sizeof f->what, fmt, ap);
    va_end(ap);
}

/* Bytes available from off? */
static bool have(uint64_t off, uint64_t n)
{
    return off <= file_size && n <= file_size - off;
}

static const int scalar_size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* A string at *pos: record its length field, skip it. */
static bool walk_str(uint64_t *pos, enum fclass c, bool record, const char *what, char *copy, size_t cap)
{
    if (!have(*pos, 8))
        return false;
    uint64_t n = rd(*pos, 8);
    if (record)
        add(c, *pos, 8, "%s", what);
    if (!have(*pos + 8, n))
        return false;
    if (copy) {
        size_t k = n < cap - 1 ? (size_t)n : cap - 1;
        memcpy(copy, mem + *pos + 8, k);
        copy[k] = 0;
    }
    *pos += 8 + n;
    return true;
}

/* A value of type t at *pos (depth: nested arrays). */
static bool walk_value(uint64_t *pos, uint32_t t, const char *key, int depth, uint32_t *align)
{
    char what[96];
    if (t < 13 && scalar_size[t]) {
        if (!have(*pos, (uint64_t)scalar_size[t]))
            return false;
        if (depth == 0 && (t == 4 || t == 5))
            add(F_INT, *pos, 4, "value of '%s'", key);
        if (depth == 0 && t == 6)
            add(F_FLOAT, *pos, 4, "value of '%s'", key);
        if (depth == 0 && strcmp(key, "general.alignment") == 0 && t == 4) {
            fields[n_fields - 1].cls = F_ALIGN;
            *align = (uint32_t)rd(*pos, 4);
        }
        *pos += (uint64_t)scalar_size[t];
        return true;
    }
    if (t == 8) {
        snprintf(what, sizeof what, "string length of '%s'", key);
        return walk_str(pos, F_STRLEN, depth == 0, what, NULL, 0);
    }
    if (t != 9 || depth > 2 || !have(*pos, 12))
        return false;
    uint32_t et = (uint32_t)rd(*pos, 4);
    uint64_t n = rd(*pos + 4, 8);
    add(F_ARRTYPE, *pos, 4, "element type of '%s'", key);
    add(F_ARRCOUNT, *pos + 4, 8, "element count of '%s'", key);
    *pos += 12;
    if (et < 13 && scalar_size[et]) {
        uint64_t bytes;
        if (__builtin_mul_overflow(n, (uint64_t)scalar_size[et], &bytes) || !have(*pos, bytes))
            return false;
        *pos += bytes;
        return true;
    }
    for (uint64_t i = 0; i < n; i++) {
        /* the lengths of the first, a middle and the last string */
        bool rec = et == 8 && (i == 0 || i == n / 2 || i == n - 1);
        snprintf(what, sizeof what, "length of '%s'[%" PRIu64 "]", key, i);
        if (et == 8) {
            if (!walk_str(pos, F_ARRSTRLEN, rec, what, NULL, 0))
                return false;
        } else if (!walk_value(pos, et, key, depth + 1, align))
            return false;
    }
    return true;
}

static void walk(void)
{
    if (!have(0, 24))
        return;
    add(F_MAGIC, 0, 4, "magic");
    add(F_VERSION, 4, 4, "version");
    add(F_NTENSORS, 8, 8, "tensor count");
    add(F_NKV, 16, 8, "kv count");
    uint64_t n_t = rd(8, 8), n_kv = rd(16, 8), pos = 24;
    uint32_t align = 32;
    for (uint64_t i = 0; i < n_kv; i++) {
        char key[64] = "?";
        if (!have(pos, 8))
            return;
        add(F_KEYLEN, pos, 8, "key %" PRIu64 " length", i);
        if (!walk_str(&pos, F_KEYLEN, false, "", key, sizeof key) || !have(pos, 4))
            return;
        snprintf(fields[n_fields - 1].what, sizeof fields[0].what, "length of key '%s'", key);
        add(F_VTYPE, pos, 4, "type of '%s'", key);
        uint32_t t = (uint32_t)rd(pos, 4);
        pos += 4;
        if (!walk_value(&pos, t, key, 0, &align))
            return;
    }
    for (uint64_t i = 0; i < n_t; i++) {
        char name[64] = "?";
        if (!have(pos, 8))
            return;
        size_t lf = n_fields;
        add(F_TNAMELEN, pos, 8, "tensor %" PRIu64 " name length", i);
        if (!walk_str(&pos, F_TNAMELEN, false, "", name, sizeof name) || !have(pos, 4))
            return;
        snprintf(fields[lf].what, sizeof fields[0].what, "name length of tensor '%s'", name);
        uint32_t nd = (uint32_t)rd(pos, 4);
        add(F_NDIMS, pos, 4, "n_dims of '%s'", name);
        pos += 4;
        if (nd > 8 || !have(pos, 8ull * nd + 12))
            return;
        for (uint32_t d = 0; d < nd; d++) {
            add(F_DIM, pos, 8, "ne[%u] of '%s'", d, name);
            pos += 8;
        }
        add(F_TTYPE, pos, 4, "type of '%s'", name);
        pos += 4;
        add(F_TOFFSET, pos, 8, "offset of '%s'", name);
        if (i == 1)
            second_off = rd(pos, 8);
        pos += 8;
    }
    header_end = pos;
    if (align == 0 || (align & (align - 1)))
        align = 32;
    data_start = (pos + align - 1) / align * align;
}

/* ------------------------------------------------------------ the variants */

struct variant {
    bool trunc;
    uint64_t off;               /* truncation length, or the field's offset */
    int width;
    uint64_t val;
    int cls;                    /* F_COUNT for truncations */
    char what[160];
};

static struct variant *vars;
static size_t n_vars, cap_vars;

static struct variant *new_var(int cls)
{
    if (n_vars == cap_vars) {
        cap_vars = cap_vars ? 2 * cap_vars : 256;
        vars = realloc(vars, cap_vars * sizeof *vars);
        if (!vars) {
            fprintf(stderr, "hostile: out of memory\n");
            exit(1);
        }
    }
    struct variant *v = &vars[n_vars++];
    memset(v, 0, sizeof *v);
    v->cls = cls;
    return v;
}

static void trunc_at(uint64_t len, const char *why)
{
    if (len >= file_size)
        return;
    for (size_t i = 0; i < n_vars; i++)
        if (vars[i].trunc && vars[i].off == len)
            return;
    struct variant *v = new_var(F_COUNT);
    v->trunc = true;
    v->off = len;
    snprintf(v->what, sizeof v->what, "truncated to %" PRIu64 " bytes (%s)", len, why);
}

static void poke(const struct field *f, uint64_t val, const char *how)
{
    if (f->width == 4)
        val &= 0xFFFFFFFFu;
    if (val == f->val)
        return;
    struct variant *v = new_var((int)f->cls);
    v->off = f->off;
    v->width = f->width;
    v->val = val;
    snprintf(v->what, sizeof v->what, "%s: %" PRIu64 " -> %s", f->what, f->val, how);
}

static uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void field_variants(const struct field *f)
{
    char how[64];
    uint64_t v = f->val;
#define P(val, ...) (snprintf(how, sizeof how, __VA_ARGS__), poke(f, (val), how))
    switch (f->cls) {
    case F_MAGIC:
        P(0x47554747u, "\"GGUG\"");
        P(0x46554747u ^ 0x20202020u, "lower case");
        break;
    case F_VERSION:
        P(1, "1");
        P(4, "4");
        P(0x03000000u, "byte-swapped 3");
        break;
    case F_FLOAT:
        P(f32_bits(NAN), "NaN");
        P(f32_bits(INFINITY), "inf");
        P(0, "0");
        P(f32_bits(-1.0f), "-1");
        P(f32_bits(1e30f), "1e30");
        break;
    case F_VTYPE:
    case F_ARRTYPE:
        P(13, "13 (unknown type)");
        P(0xFFFFFFFFu, "0xffffffff");
        P(v == 8 ? 4 : 8, "%s", v == 8 ? "4 (u32 instead of a string)" : "8 (string)");
        P(9, "9 (array)");
        P(v == 10 ? 0 : 10, "%s", v == 10 ? "0 (u8)" : "10 (u64)");
        break;
    case F_NDIMS:
        P(0, "0");
        P(5, "5");
        P(v + 1, "one more");
        P(0xFFFFFFFFu, "0xffffffff");
        break;
    case F_TTYPE:
        P(4, "4 (the removed Q4_2)");
        P(40, "40 (unknown)");
        P(0xFFFFFFFFu, "0xffffffff");
        P(v == 0 ? 1 : 0, "%s", v == 0 ? "1 (f16: half the bytes)" : "0 (f32: more bytes)");
        P(v == 12 ? 2 : 12, "%s", v == 12 ? "2 (q4_0)" : "12 (q4_K: 256-blocks)");
        P(v == 8 ? 14 : 8, "%s", v == 8 ? "14 (q6_K)" : "8 (q8_0)");
        break;
    case F_TOFFSET:
        P(v + 1, "one more (misaligned)");
        P(v + 32, "one alignment further");
        P(v ? 0 : 32, "%s", v ? "0 (overlapping the first tensor)" : "32");
        P(file_size, "the file size");
        P(UINT64_MAX - 16, "2^64-17");
        P(1ull << 63, "2^63");
        break;
    case F_ALIGN:
        P(0, "0");
        P(3, "3 (not a power of two)");
        P(1u << 31, "2^31");
        P(1, "1");
        break;
    case F_DIM:
        P(0, "0");
        P(v + 1, "one more");
        P(1ull << 32, "2^32");
        P(1ull << 62, "2^62");
        P(UINT64_MAX, "2^64-1");
        P(v ? v - 1 : 2, "%s", v ? "one less" : "2");
        break;
    case F_INT:
        P(0, "0");
        P(v + 1, "one more");
        P(0xFFFFFFFFu, "0xffffffff (-1 as i32)");
        P(0x80000000u, "2^31");
        P(v * 16 + 7, "16x + 7");
        break;
    default:                    /* counts and lengths */
        P(0, "0");
        P(v + 1, "one more");
        if (v)
            P(v - 1, "one less");
        P(f->width == 4 ? 0xFFFFFFFFu : UINT64_MAX, "all ones");
        if (f->width == 8) {
            P(1ull << 63, "2^63");
            P(v + (1ull << 32), "2^32 more");
            P(1ull << 31, "2^31");
        }
        break;
    }
#undef P
}

static void make_list(void)
{
    /* truncations: the fixed header, a stride through the header region,
     * field boundaries, the data area */
    static const uint64_t fixed[] = {0, 1, 3, 4, 6, 8, 12, 16, 20, 23, 24};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        trunc_at(fixed[i], "fixed header");
    uint64_t hend = header_end ? header_end : file_size;
    for (int k = 1; k < 32; k++)
        trunc_at(24 + (hend - 24) * (uint64_t)k / 32, "header stride");
    for (size_t i = 0; i < n_fields; i += 1 + n_fields / 24)
        trunc_at(fields[i].off + (uint64_t)fields[i].width / 2, "inside a field");
    if (header_end) {
        trunc_at(header_end - 1, "last directory byte");
        trunc_at(header_end, "end of the directory");
        trunc_at(data_start, "start of the data");
        trunc_at(data_start + 1, "one data byte");
        if (second_off)
            trunc_at(data_start + second_off + 7, "inside the second tensor");
        trunc_at(data_start + (file_size - data_start) / 2, "middle of the data");
        trunc_at(file_size - 1, "last byte missing");
    }
    for (size_t i = 0; i < n_fields; i++)
        field_variants(&fields[i]);
}

/* ------------------------------------------------------------ main */

static int load(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "hostile: %s: %s\n", path, strerror(errno));
        return -1;
    }
    file_size = (uint64_t)st.st_size;
    /* Only the header region is walked: read at most 64 MiB. */
    size_t n = file_size < (64u << 20) ? (size_t)file_size : (64u << 20);
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != n) {
        fprintf(stderr, "hostile: %s: cannot read\n", path);
        return -1;
    }
    mem = buf;
    uint64_t real = file_size;
    file_size = n;              /* the walk stays inside what was read */
    walk();
    file_size = real;
    return 0;
}

/* The order in which variants are listed under a budget: classes take
 * turns; within a class, picks are spread evenly over its variants. */
static bool tensors_only;       /* --list ... tensors: the tensor directory's fields only */

static bool listed(const struct variant *v)
{
    return !tensors_only || v->cls == F_TNAMELEN || v->cls == F_NDIMS || v->cls == F_DIM ||
           v->cls == F_TTYPE || v->cls == F_TOFFSET;
}

static size_t *budget_order(size_t budget, size_t *n_out)
{
    size_t *by_cls[F_COUNT + 1] = {0}, cnt[F_COUNT + 1] = {0}, taken[F_COUNT + 1] = {0};
    for (size_t i = 0; i < n_vars; i++)
        cnt[vars[i].cls]++;
    for (int c = 0; c <= F_COUNT; c++)
        by_cls[c] = malloc((cnt[c] + 1) * sizeof(size_t)), cnt[c] = 0;
    for (size_t i = 0; i < n_vars; i++)
        if (listed(&vars[i]))
            by_cls[vars[i].cls][cnt[vars[i].cls]++] = i;
    size_t *out = malloc((n_vars + 1) * sizeof *out), n = 0;
    /* truncations get a third of the budget, the field classes the rest */
    size_t tbudget = budget / 3 < cnt[F_COUNT] ? budget / 3 : cnt[F_COUNT];
    for (size_t k = 0; k < tbudget; k++)
        out[n++] = by_cls[F_COUNT][k * cnt[F_COUNT] / tbudget];
    taken[F_COUNT] = cnt[F_COUNT];
    for (int round = 0; n < budget; round++) {
        bool any = false;
        for (int c = 0; c < F_COUNT && n < budget; c++) {
            if (taken[c] >= cnt[c])
                continue;
            /* the round-th pick of a golden-ratio walk through the class,
             * started at a place that depends on the file */
            size_t j = ((size_t)((double)round * 0.6180339887 * (double)cnt[c]) +
                        (size_t)(file_size % 7919)) % cnt[c];   /* files of one shape differ */
            while (by_cls[c][j] == SIZE_MAX)
                j = (j + 1) % cnt[c];
            out[n++] = by_cls[c][j];
            by_cls[c][j] = SIZE_MAX;
            taken[c]++;
            any = true;
        }
        if (!any)
            break;
    }
    for (int c = 0; c <= F_COUNT; c++)
        free(by_cls[c]);
    *n_out = n;
    return out;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int copy_file(const char *src, const char *dst, const struct variant *v)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) {
        fprintf(stderr, "hostile: %s: %s\n", in < 0 ? src : dst, strerror(errno));
        return -1;
    }
    uint64_t n = v->trunc ? v->off : file_size;
    static uint8_t buf[1 << 20];
    uint64_t done = 0;
    while (done < n) {
        size_t want = n - done < sizeof buf ? (size_t)(n - done) : sizeof buf;
        ssize_t r = read(in, buf, want);
        if (r <= 0 || write(out, buf, (size_t)r) != r) {
            fprintf(stderr, "hostile: copying %s: %s\n", src, strerror(errno));
            return -1;
        }
        done += (uint64_t)r;
    }
    if (!v->trunc) {
        uint8_t b[8];
        for (int i = 0; i < v->width; i++)
            b[i] = (uint8_t)(v->val >> (8 * i));
        if (pwrite(out, b, (size_t)v->width, (off_t)v->off) != v->width) {
            fprintf(stderr, "hostile: %s: %s\n", dst, strerror(errno));
            return -1;
        }
    }
    close(in);
    return close(out);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--list") == 0) {
        if (load(argv[2]))
            return 1;
        make_list();
        size_t budget = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
        tensors_only = argc > 4 && strcmp(argv[4], "tensors") == 0;
        if (budget == 0 || budget >= n_vars) {
            for (size_t i = 0; i < n_vars; i++)
                if (listed(&vars[i]))
                    printf("%zu\t%s\n", i, vars[i].what);
            return 0;
        }
        size_t n, *order = budget_order(budget, &n);
        qsort(order, n, sizeof *order, cmp_size);
        for (size_t i = 0; i < n; i++)
            printf("%zu\t%s\n", order[i], vars[order[i]].what);
        free(order);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "--make") == 0) {
        if (load(argv[2]))
            return 1;
        make_list();
        size_t id = strtoul(argv[3], NULL, 10);
        if (id >= n_vars) {
            fprintf(stderr, "hostile: %s has no variant %zu\n", argv[2], id);
            return 1;
        }
        return copy_file(argv[2], argv[4], &vars[id]) ? 1 : 0;
    }
    fprintf(stderr, "usage: hostile --list FILE [BUDGET [tensors]] | hostile --make FILE ID OUT\n");
    return 2;
}
