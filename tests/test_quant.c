/*
 * test_quant.c - the element formats of quant.c: traits table, half/bfloat16
 * conversions, dequantization of hand-built blocks, the x86-exact activation
 * quantizers, per-format round-trip and dot-product error bounds (in the
 * spirit of ggml's tests/test-quantize-fns.cpp) under every kernel set this CPU
 * runs, and the SIMD kernels returning exactly the scalar reference's bits on
 * random and extreme blocks.
 *
 * Hand-built blocks are written byte by byte at the offsets of ggml's layouts
 * and decoded here with formulas arranged differently from quant.c's (ggml's
 * loop order, 32-bit scale words), so a layout slip in either shows up.
 */
#include "config.h"

#include "tap.h"

#include "glimpse/quant.h"
#include "quant_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SIGNAL 4096

/* ------------------------------------------------------------------ helpers */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Deterministic filler bytes. */
static uint8_t pattern(int i, int seed)
{
    return (uint8_t)((i * 37 + seed * 11 + (i >> 3) * 5) & 0xff);
}

/* The synthetic signal of test-quantize-fns: 0.1 + 2 cos(i + offset). */
static void make_signal(float *x, int n, float offset)
{
    for (int i = 0; i < n; i++)
        x[i] = 0.1f + 2.0f * cosf((float)i + offset);
}

/* Exact value of a half, from its definition (independent of quant.c). */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* Compare two float arrays bit for bit; report the first difference. */
static bool same_floats(const float *got, const float *want, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (f2u(got[i]) != f2u(want[i])) {
            tap_diag("  %s: element %d is %.9g, want %.9g", what, i, got[i], want[i]);
            return false;
        }
    }
    return true;
}

static const struct gl_type_traits *tr(int type)
{
    return gl_type_traits(type);
}

/* ------------------------------------------------------------------ init from several threads */

static void *init_thread(void *arg)
{
    float *out = arg;
    const struct gl_type_traits *t = gl_type_traits(GL_TYPE_F16);
    gl_fp16 h[4] = { 0x3c00, 0xc000, 0x3555, 0x0001 };
    t->to_float(h, out, 4);
    return NULL;
}

static void test_init_race(void)
{
    /* First use from four threads at once: every one must see a built table. */
    pthread_t th[4];
    float out[4][4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, init_thread, out[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    bool good = true;
    for (int i = 0; i < 4; i++)
        good = good && out[i][0] == 1.0f && out[i][1] == -2.0f && out[i][3] == 0x1p-24f &&
               out[i][2] == (float)half_value(0x3555);
    ok(good, "concurrent first use of the traits sees the f16 table built");
}

/* ------------------------------------------------------------------ traits table */

static const struct {
    int type;
    const char *name;
    int blck;
    size_t size;
    bool quantized;
    int vec_dot_type;
    bool has_vec_dot;
} expected_traits[] = {
    { GL_TYPE_F32, "f32", 1, 4, false, GL_TYPE_F32, true },
    { GL_TYPE_F16, "f16", 1, 2, false, GL_TYPE_F16, true },
    { GL_TYPE_BF16, "bf16", 1, 2, false, GL_TYPE_BF16, true },
    { GL_TYPE_Q4_0, "q4_0", 32, 18, true, GL_TYPE_Q8_0, true },
    { GL_TYPE_Q4_1, "q4_1", 32, 20, true, GL_TYPE_Q8_1, true },
    { GL_TYPE_Q5_0, "q5_0", 32, 22, true, GL_TYPE_Q8_0, true },
    { GL_TYPE_Q5_1, "q5_1", 32, 24, true, GL_TYPE_Q8_1, true },
    { GL_TYPE_Q8_0, "q8_0", 32, 34, true, GL_TYPE_Q8_0, true },
    { GL_TYPE_Q8_1, "q8_1", 32, 36, true, GL_TYPE_Q8_1, false },
    { GL_TYPE_Q2_K, "q2_K", 256, 84, true, GL_TYPE_Q8_K, true },
    { GL_TYPE_Q3_K, "q3_K", 256, 110, true, GL_TYPE_Q8_K, true },
    { GL_TYPE_Q4_K, "q4_K", 256, 144, true, GL_TYPE_Q8_K, true },
    { GL_TYPE_Q5_K, "q5_K", 256, 176, true, GL_TYPE_Q8_K, true },
    { GL_TYPE_Q6_K, "q6_K", 256, 210, true, GL_TYPE_Q8_K, true },
    { GL_TYPE_Q8_K, "q8_K", 256, 292, true, GL_TYPE_Q8_K, false },
};
#define N_TYPES (int)(sizeof expected_traits / sizeof expected_traits[0])

static void test_traits(void)
{
    for (int i = 0; i < N_TYPES; i++) {
        const struct gl_type_traits *t = tr(expected_traits[i].type);
        const char *nm = expected_traits[i].name;
        if (!ok(t != NULL, "%s: traits exist", nm))
            continue;
        is_str(t->name, nm, "%s: name", nm);
        is_str(gl_type_name(expected_traits[i].type), nm, "%s: gl_type_name", nm);
        is_int(t->blck_size, expected_traits[i].blck, "%s: block size", nm);
        is_int(t->type_size, expected_traits[i].size, "%s: bytes per block", nm);
        ok(t->is_quantized == expected_traits[i].quantized, "%s: is_quantized", nm);
        is_int(t->vec_dot_type, expected_traits[i].vec_dot_type, "%s: vec_dot_type", nm);
        ok(t->to_float && t->from_float, "%s: to_float and from_float", nm);
        ok((t->vec_dot != NULL) == expected_traits[i].has_vec_dot, "%s: vec_dot %s", nm,
           expected_traits[i].has_vec_dot ? "present" : "absent (activation-only)");
        /* the activation format of a weight format must itself be supported */
        ok(tr(t->vec_dot_type) && tr(t->vec_dot_type)->blck_size == t->blck_size,
           "%s: vec_dot_type has the same block size", nm);
    }

    /* numbers GGUF knows but we do not compute with */
    static const struct { int type; const char *name; } named[] = {
        { 16, "iq2_xxs" }, { 17, "iq2_xs" }, { 18, "iq3_xxs" }, { 19, "iq1_s" },
        { 20, "iq4_nl" }, { 21, "iq3_s" }, { 22, "iq2_s" }, { 23, "iq4_xs" },
        { 24, "i8" }, { 25, "i16" }, { 26, "i32" }, { 27, "i64" }, { 28, "f64" },
        { 29, "iq1_m" }, { 34, "tq1_0" }, { 35, "tq2_0" },
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        is_str(gl_type_name(named[i].type), named[i].name, "type %d is named", named[i].type);
        ok(gl_type_traits(named[i].type) == NULL, "type %d (%s) has no traits", named[i].type,
           named[i].name);
    }
    static const int unknown[] = { 4, 5, 99, -1, GL_TYPE_COUNT, 1000000 };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ok(gl_type_traits(unknown[i]) == NULL, "type %d: no traits", unknown[i]);
        ok(gl_type_name(unknown[i]) == NULL, "type %d: no name", unknown[i]);
    }

    is_int(gl_row_size(GL_TYPE_Q4_0, 4096), 4096 / 32 * 18, "row size q4_0 x 4096");
    is_int(gl_row_size(GL_TYPE_Q6_K, 4096), 16 * 210, "row size q6_K x 4096");
    is_int(gl_row_size(GL_TYPE_F16, 7), 14, "row size f16 x 7");
    is_int(gl_row_size(GL_TYPE_F32, 0), 0, "row size of an empty row");
    is_int(gl_row_size(GL_TYPE_Q4_K, 100), 0, "row size: not a whole number of blocks gives 0");
    is_int(gl_row_size(GL_TYPE_Q8_0, -32), 0, "row size: negative length gives 0");
    is_int(gl_row_size(16, 256), 0, "row size of an unsupported type is 0");
}

/* ------------------------------------------------------------------ half and bfloat16 */

static void test_fp16_specials(void)
{
    static const struct { uint32_t f; uint16_t h; const char *what; } cases[] = {
        { 0x00000000, 0x0000, "+0" },
        { 0x80000000, 0x8000, "-0" },
        { 0x3f800000, 0x3c00, "1" },
        { 0xc0000000, 0xc000, "-2" },
        { 0x3dcccccd, 0x2e66, "0.1" },
        { 0x477fe000, 0x7bff, "65504 (largest half)" },
        { 0x477fefff, 0x7bff, "just below 65520 rounds down" },
        { 0x477ff000, 0x7c00, "65520 ties to even = inf" },
        { 0x7f7fffff, 0x7c00, "FLT_MAX overflows to inf" },
        { 0x7f800000, 0x7c00, "+inf" },
        { 0xff800000, 0xfc00, "-inf" },
        { 0x38800000, 0x0400, "2^-14 (smallest normal)" },
        { 0x387fc000, 0x03ff, "1023 * 2^-24 (largest subnormal)" },
        { 0x387fe000, 0x0400, "1023.5 * 2^-24 ties up to the smallest normal" },
        { 0x33800000, 0x0001, "2^-24 (smallest subnormal)" },
        { 0x33000000, 0x0000, "2^-25 ties to even = 0" },
        { 0x33000001, 0x0001, "just above 2^-25 rounds up" },
        { 0x33c00000, 0x0002, "1.5 * 2^-24 ties to even = 2" },
        { 0x34200000, 0x0002, "2.5 * 2^-24 ties to even = 2" },
        { 0xb3c00000, 0x8002, "-1.5 * 2^-24" },
        { 0x00000001, 0x0000, "f32 denormal -> 0" },
        { 0x3f801000, 0x3c00, "1 + 2^-11 ties to even = 1" },
        { 0x3f803000, 0x3c02, "1 + 3*2^-11 ties to even = 1 + 2^-9" },
        { 0x3f801001, 0x3c01, "just above the tie rounds up" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        is_int(gl_fp32_to_fp16(u2f(cases[i].f)), cases[i].h, "f32->f16 %s", cases[i].what);

    gl_fp16 qn = gl_fp32_to_fp16(u2f(0x7fc00000));
    gl_fp16 sn = gl_fp32_to_fp16(u2f(0xff800001));
    ok((qn & 0x7e00) == 0x7e00 && !(qn & 0x8000), "f32->f16 quiet NaN stays a quiet NaN");
    ok((sn & 0x7e00) == 0x7e00 && (sn & 0x8000), "f32->f16 signalling NaN becomes quiet, sign kept");
    ok(isnan(gl_fp16_to_fp32(0x7e00)) && isnan(gl_fp16_to_fp32(0xfd01)), "f16->f32 NaN");
    ok(isinf(gl_fp16_to_fp32(0x7c00)) && gl_fp16_to_fp32(0xfc00) < 0, "f16->f32 infinities");
    ok(signbit(gl_fp16_to_fp32(0x8000)) && gl_fp16_to_fp32(0x8000) == 0, "f16->f32 -0");
    ok(gl_round_fp16(1.0f / 3.0f) == (float)half_value(0x3555), "gl_round_fp16(1/3)");
}

static void test_fp16_exhaustive(void)
{
    int bad_value = -1, bad_back = -1, n_checked = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;           /* NaN */
        float f = gl_fp16_to_fp32((gl_fp16)h);
        double want = (h & 0x7c00) == 0x7c00 ? (h & 0x8000 ? -INFINITY : INFINITY) : half_value((uint16_t)h);
        if ((double)f != want || !!signbit(f) != !!(h & 0x8000))
            bad_value = bad_value < 0 ? (int)h : bad_value;
        if (gl_fp32_to_fp16(f) != h)
            bad_back = bad_back < 0 ? (int)h : bad_back;
        n_checked++;
    }
    is_int(n_checked, 65536 - 2 * 1023, "all non-NaN half patterns visited");
    ok(bad_value < 0, "f16->f32 gives the exact value of every half (first bad: %d)", bad_value);
    ok(bad_back < 0, "f16->f32->f16 is the identity for every non-NaN half (first bad: %d)", bad_back);
}

/* f32->f16 rounds to the nearest half, ties to even: checked against the
 * neighbours for a spread of random floats across the whole half range. */
static void test_fp16_rne_random(void)
{
    uint64_t st = 0x9e3779b97f4a7c15ull;
    int bad = 0;
    for (int i = 0; i < 300000 && bad < 3; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(st >> 32);
        /* exponent 100..143 covers f16 underflow, subnormals, normals and overflow */
        uint32_t bits = (r & 0x807fffffu) | ((100u + (r >> 8) % 44u) << 23);
        if (i % 7 == 0)
            bits = (bits & 0xffffe000u) | 0x1000u;      /* an exact tie between two halves */
        float f = u2f(bits);
        uint16_t h = gl_fp32_to_fp16(f);
        double af = fabs((double)f);
        uint16_t mag = h & 0x7fff;
        bool good;
        if (af >= 65520.0) {
            good = mag == 0x7c00;
        } else if (mag >= 0x7c00) {
            good = false;
        } else {
            double v = half_value(mag);
            double lo = mag > 0 ? half_value((uint16_t)(mag - 1)) : -1.0;
            double hi = mag < 0x7bff ? half_value((uint16_t)(mag + 1)) : 65536.0;
            double dv = fabs(af - v);
            good = dv <= fabs(af - lo) && dv <= fabs(af - hi);
            if (good && (dv == fabs(af - lo) || dv == fabs(af - hi)))
                good = (mag & 1) == 0;                  /* tie: the even one */
            good = good && (!!(h & 0x8000) == !!signbit(f) || mag == 0);
        }
        if (!good) {
            tap_diag("  f32 %08x -> f16 %04x", bits, h);
            bad++;
        }
    }
    ok(bad == 0, "f32->f16 rounds to nearest even on 300000 random values");
}

static void test_bf16(void)
{
    static const struct { uint32_t f; uint16_t b; const char *what; } cases[] = {
        { 0x3f800000, 0x3f80, "1" },
        { 0x3f808000, 0x3f80, "tie to even (down)" },
        { 0x3f818000, 0x3f82, "tie to even (up)" },
        { 0x3f808001, 0x3f81, "above the tie" },
        { 0xc0490fdb, 0xc049, "-pi" },
        { 0x7f7fffff, 0x7f80, "FLT_MAX rounds to inf" },
        { 0x7f800000, 0x7f80, "inf" },
        { 0x00008000, 0x0000, "subnormal tie to even" },
        { 0x00018000, 0x0002, "subnormal tie up, not flushed" },
        { 0x7fc00000, 0x7fc0, "quiet NaN" },
        { 0x7fa00000, 0x7fe0, "signalling NaN quietened" },
        { 0xff800001, 0xffc0, "negative signalling NaN quietened" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        is_int(gl_fp32_to_bf16(u2f(cases[i].f)), cases[i].b, "f32->bf16 %s", cases[i].what);
    bool good = true;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = gl_bf16_to_fp32((gl_bf16)b);
        if (f2u(f) != b << 16 || (!isnan(f) && gl_fp32_to_bf16(f) != b))
            good = false;
    }
    ok(good, "bf16->f32 is a shift and bf16->f32->bf16 is the identity (non-NaN)");
}

/* ------------------------------------------------------------------ round trip and dot product */

/* RMSE bounds on the signal 0.1 + 2cos(i): values span about [-1.9, 2.1], and a
 * block of 32 (or a sub-block of 16) consecutive samples covers nearly all of
 * it. A uniform quantizer with step D has RMSE about D/sqrt(12); the bounds are
 * that estimate with some room, smaller where the format has more levels:
 *   q4_0  step 2.1/8  = 0.26  -> 0.076   bound 0.10
 *   q4_1  step 4.0/15 = 0.27  -> 0.077   bound 0.10
 *   q5_0  step 2.1/16 = 0.13  -> 0.038   bound 0.05
 *   q5_1  step 4.0/31 = 0.13  -> 0.037   bound 0.05
 *   q8_0  step 2.1/127        -> 0.0048  bound 0.008
 *   q2_K  step 4.0/3  = 1.33  -> 0.38    bound 0.35 (least squares over 16 values helps)
 *   q3_K  step 2.1/4  = 0.53  -> 0.15    bound 0.20
 *   q4_K  step 4.0/15         -> 0.077   bound 0.10
 *   q5_K  step 4.0/31         -> 0.037   bound 0.05
 *   q6_K  step 2.1/32         -> 0.019   bound 0.025
 *   f16: relative 2^-11 of values <= 2.1 -> 3e-4; bf16: 2^-8 -> 5e-3; f32 exact.
 * The 6-bit / 4-bit sub-block scales of the K-quants add a little on top.
 * The dot bound is on |vec_dot - exact float dot| / n with y quantized to the
 * vec_dot_type; each term errs by about |x| * err(y) + |y| * err(x). */
static const struct {
    int type;
    double rmse;
    double dot;
} bounds[] = {
    { GL_TYPE_F32, 1e-7, 1e-6 },
    { GL_TYPE_F16, 4e-4, 1e-3 },
    { GL_TYPE_BF16, 5e-3, 1e-2 },
    { GL_TYPE_Q4_0, 0.10, 0.02 },
    { GL_TYPE_Q4_1, 0.10, 0.02 },
    { GL_TYPE_Q5_0, 0.05, 0.01 },
    { GL_TYPE_Q5_1, 0.05, 0.01 },
    { GL_TYPE_Q8_0, 0.008, 0.004 },
    { GL_TYPE_Q8_1, 0.008, 0 },
    { GL_TYPE_Q2_K, 0.35, 0.06 },
    { GL_TYPE_Q3_K, 0.20, 0.03 },
    { GL_TYPE_Q4_K, 0.10, 0.02 },
    { GL_TYPE_Q5_K, 0.05, 0.01 },
    { GL_TYPE_Q6_K, 0.025, 0.006 },
    { GL_TYPE_Q8_K, 0.008, 0 },
};

static void test_round_trip_and_dot(const char *set)
{
    float *x = malloc(N_SIGNAL * sizeof *x), *y = malloc(N_SIGNAL * sizeof *y);
    float *xd = malloc(N_SIGNAL * sizeof *xd), *yd = malloc(N_SIGNAL * sizeof *yd);
    void *qx = malloc(N_SIGNAL * 8), *qy = malloc(N_SIGNAL * 8);
    if (!x || !y || !xd || !yd || !qx || !qy)
        tap_skip_all("out of memory");
    make_signal(x, N_SIGNAL, 0.0f);
    make_signal(y, N_SIGNAL, 1.0f);

    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        const struct gl_type_traits *t = tr(bounds[k].type);
        char nm[48];
        snprintf(nm, sizeof nm, "%s %s", set, gl_type_name(bounds[k].type));
        if (!t)
            continue;
        is_int(gl_row_size(bounds[k].type, N_SIGNAL), N_SIGNAL / t->blck_size * t->type_size,
               "%s: row size of %d values", nm, N_SIGNAL);

        t->from_float(x, qx, N_SIGNAL);
        t->to_float(qx, xd, N_SIGNAL);
        double se = 0;
        for (int i = 0; i < N_SIGNAL; i++)
            se += ((double)xd[i] - x[i]) * ((double)xd[i] - x[i]);
        double rmse = sqrt(se / N_SIGNAL);
        if (!ok(rmse <= bounds[k].rmse, "%s: round-trip RMSE %.3g <= %.3g", nm, rmse, bounds[k].rmse))
            continue;

        /* deterministic: quantizing again gives the same bytes */
        memset(qy, 0xa5, N_SIGNAL * 8);
        t->from_float(x, qy, N_SIGNAL);
        ok(memcmp(qx, qy, gl_row_size(bounds[k].type, N_SIGNAL)) == 0, "%s: quantizer is deterministic", nm);

        if (!t->vec_dot)
            continue;
        const struct gl_type_traits *ty = tr(t->vec_dot_type);
        ty->from_float(y, qy, N_SIGNAL);
        ty->to_float(qy, yd, N_SIGNAL);
        float got = NAN;
        t->vec_dot(N_SIGNAL, &got, qx, qy);

        /* the kernel against the exact dot of what it was given */
        double exact = 0, mag = 0, ref = 0;
        for (int i = 0; i < N_SIGNAL; i++) {
            exact += (double)xd[i] * yd[i];
            mag += fabs((double)xd[i] * yd[i]);
            ref += (double)x[i] * y[i];
        }
        if (t->vec_dot_type == GL_TYPE_Q8_1) {
            /* q4_1/q5_1 take the offset term from the stored s = f16(d * sum q)
             * (bytes 2-3 of a q8_1 block), not from the sum of the dequantized
             * values: add exactly that difference, times the block offset m
             * (bytes 2-3 of a q4_1/q5_1 block). */
            const uint8_t *bx = qx, *by = qy;
            for (int b = 0; b < N_SIGNAL / 32; b++) {
                const uint8_t *yb = by + 36 * b;
                int sumq = 0;
                for (int j = 0; j < 32; j++)
                    sumq += (int8_t)yb[4 + j];
                double mx = gl_fp16_to_fp32(get16(bx + t->type_size * b + 2));
                double sy = gl_fp16_to_fp32(get16(yb + 2)), dy = gl_fp16_to_fp32(get16(yb));
                exact += mx * (sy - dy * sumq);
            }
        }
        double kerr = fabs(got - exact) / mag;
        ok(kerr <= 1e-6, "%s: vec_dot matches the dot of the dequantized rows (rel %.2g)", nm, kerr);
        double derr = fabs(got - ref) / N_SIGNAL;
        ok(derr <= bounds[k].dot, "%s: vec_dot vs float dot of the originals: %.3g <= %.3g per value",
           nm, derr, bounds[k].dot);

        /* a row of two blocks exercises the edges of the block loop: its dot is
         * the one of the first two blocks of the long row, up to rounding */
        float two = NAN, first = NAN, second = NAN;
        const int nb = t->blck_size;    /* the vec_dot_type has the same block size */
        t->vec_dot(2 * nb, &two, qx, qy);
        t->vec_dot(nb, &first, qx, qy);
        t->vec_dot(nb, &second, (const uint8_t *)qx + t->type_size, (const uint8_t *)qy + ty->type_size);
        ok(fabs(two - ((double)first + second)) <= 1e-6 * (fabs(first) + fabs(second)) + 1e-6,
           "%s: a two-block row is the sum of its blocks", nm);
    }

    /* All-zero input: every format decodes it back to zeros. */
    memset(x, 0, N_SIGNAL * sizeof *x);
    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        const struct gl_type_traits *t = tr(bounds[k].type);
        t->from_float(x, qx, 512);
        for (int i = 0; i < 512; i++)
            xd[i] = 1.0f;
        t->to_float(qx, xd, 512);
        bool zero = true;
        for (int i = 0; i < 512; i++)
            zero = zero && xd[i] == 0.0f;
        ok(zero, "%s %s: zeros round-trip to zeros", set, t->name);
    }
    free(x);
    free(y);
    free(xd);
    free(yd);
    free(qx);
    free(qy);
}

/* Values that are exact multiples of a representable step come back exactly. */
static void test_exact_weights(void)
{
    float x[256], xd[256];
    uint8_t q[512];
    /* q4_0: levels -8..7 times 0.25; -2.0 is the largest magnitude -> d = 0.25 */
    for (int i = 0; i < 32; i++)
        x[i] = ((i * 5) % 16 - 8) * 0.25f;
    tr(GL_TYPE_Q4_0)->from_float(x, q, 32);
    tr(GL_TYPE_Q4_0)->to_float(q, xd, 32);
    is_int(get16(q), 0x3400, "q4_0: d = 0.25 for a block whose extreme is -2");
    ok(same_floats(xd, x, 32, "q4_0"), "q4_0: exact grid values round-trip exactly");
    /* q4_1: 1.5 + k*0.5, k = 0..15 */
    for (int i = 0; i < 32; i++)
        x[i] = 1.5f + (float)((i * 7) % 16) * 0.5f;
    tr(GL_TYPE_Q4_1)->from_float(x, q, 32);
    tr(GL_TYPE_Q4_1)->to_float(q, xd, 32);
    ok(same_floats(xd, x, 32, "q4_1"), "q4_1: exact grid values round-trip exactly");
    /* q8_0: k/127 * 127 ... integers -127..127 with 127 present */
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 41) % 255 - 127);
    x[3] = 127.0f;
    tr(GL_TYPE_Q8_0)->from_float(x, q, 32);
    tr(GL_TYPE_Q8_0)->to_float(q, xd, 32);
    ok(same_floats(xd, x, 32, "q8_0"), "q8_0: integers with max 127 round-trip exactly");
    /* q6_K: levels -32..31 times 1/8, each group of 16 led by its extreme -4:
     * every sub-block scale is 1/8, so d = -2^-10 and scales -128 are exact */
    for (int i = 0; i < 256; i++)
        x[i] = i % 16 == 0 ? -4.0f : ((i * 13) % 64 - 32) * 0.125f;
    tr(GL_TYPE_Q6_K)->from_float(x, q, 256);
    tr(GL_TYPE_Q6_K)->to_float(q, xd, 256);
    ok(same_floats(xd, x, 256, "q6_K"), "q6_K: exact grid values round-trip exactly");
}

/* ------------------------------------------------------------------ activation quantizers */

/* Nearest integer to num/den (den > 0), ties to even, in exact integer math. */
static int rne_div(int num, int den)
{
    int q = num >= 0 ? num / den : -((-num + den - 1) / den);      /* floor */
    int r2 = 2 * (num - q * den);                                   /* 2 * remainder, in [0, 2den) */
    if (r2 > den || (r2 == den && (q & 1)))
        q++;
    return q;
}

static void test_q8_0_q8_1(void)
{
    const struct gl_type_traits *t0 = tr(GL_TYPE_Q8_0), *t1 = tr(GL_TYPE_Q8_1);
    float x[32];
    uint8_t b0[34], b1[36];

    /* x = j - 16: amax 16, d = 16/127 -> f16 0x3008 (0.1259765625); the x86
     * multiplier 127/16 = 7.9375 is exact, so q = nearest(127*(j-16)/16). */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    t0->from_float(x, b0, 32);
    t1->from_float(x, b1, 32);
    is_int(get16(b0), 0x3008, "q8_0: d = f16(16/127)");
    is_int(get16(b1), 0x3008, "q8_1: d = f16(16/127)");
    bool good0 = true, good1 = true;
    for (int j = 0; j < 32; j++) {
        int want = rne_div(127 * (j - 16), 16);
        good0 = good0 && (int8_t)b0[2 + j] == want;
        good1 = good1 && (int8_t)b1[4 + j] == want;
    }
    ok(good0, "q8_0: quants are round(127 x / amax)");
    ok(good1, "q8_1: quants are round(127 x / amax)");
    is_int((int8_t)b0[2], -127, "q8_0: the extreme maps to -127");
    /* the quants of +-k cancel except -16 -> -127: s = f16(16/127 * -127) = -16 */
    is_int(get16(b1 + 2), 0xcc00, "q8_1: s = f16(d * sum(q)) = -16");

    /* amax 127 gives multiplier 1: exact .5 cases round to even, as
     * _mm256_round_ps does (roundf would give 3, -4, 1, 2, -1, 127, -3). */
    static const float tie_x[] = { 127.0f, 2.5f, -3.5f, 0.5f, 1.5f, -0.5f, 126.5f, -2.5f, 4.4f, -4.6f };
    static const int tie_q[] = { 127, 2, -4, 0, 2, 0, 126, -2, 4, -5 };
    memset(x, 0, sizeof x);
    memcpy(x, tie_x, sizeof tie_x);
    t0->from_float(x, b0, 32);
    t1->from_float(x, b1, 32);
    is_int(get16(b0), 0x3c00, "q8_0: d = 1 for amax 127");
    int sum = 0;
    for (size_t j = 0; j < sizeof tie_q / sizeof tie_q[0]; j++) {
        is_int((int8_t)b0[2 + j], tie_q[j], "q8_0: %g -> %d (ties to even)", tie_x[j], tie_q[j]);
        is_int((int8_t)b1[4 + j], tie_q[j], "q8_1: %g -> %d", tie_x[j], tie_q[j]);
        sum += tie_q[j];
    }
    is_int(sum, 250, "hand sum of the quants");
    is_int(get16(b1 + 2), 0x5bd0, "q8_1: s = f16(1 * 250)");

    /* a block of zeros next to a normal block: d = 0, q = 0 */
    float two[64];
    uint8_t bb[68];
    memset(two, 0, sizeof two);
    two[40] = -3.0f;
    t0->from_float(two, bb, 64);
    is_int(get16(bb), 0, "q8_0: zero block has d = 0");
    is_int(get16(bb + 34), gl_fp32_to_fp16(3.0f / 127.0f), "q8_0: second block has its own d");
    is_int((int8_t)bb[34 + 2 + 8], -127, "q8_0: second block quant of the extreme");
}

static void test_q8_K(void)
{
    const struct gl_type_traits *t = tr(GL_TYPE_Q8_K);
    float x[512];
    uint8_t b[2 * 292];
    memset(x, 0, sizeof x);
    /* block 0: the largest magnitude is negative (-127), so iscale = -127/-127 = 1,
     * d = 1; +127 later has the same magnitude but the first one wins. */
    x[3] = -127.0f;
    x[10] = 2.5f;               /* ties to even: 2 */
    x[11] = 3.5f;               /* 4 */
    x[12] = -0.5f;              /* 0 */
    x[20] = 127.0f;             /* 127 */
    x[255] = -1.25f;            /* -1 */
    /* block 1: the largest magnitude is positive: iscale = -1, d = -1, signs flip */
    x[256 + 0] = 127.0f;
    x[256 + 1] = -127.0f;
    x[256 + 2] = 2.5f;          /* -2.5 -> -2 */
    x[256 + 17] = -6.5f;        /* 6.5 -> 6 */
    t->from_float(x, b, 512);

    float d0, d1;
    memcpy(&d0, b, 4);
    memcpy(&d1, b + 292, 4);
    ok(d0 == 1.0f, "q8_K: d = 1/iscale = 1 (got %g)", d0);
    ok(d1 == -1.0f, "q8_K: d is negative when the extreme is positive (got %g)", d1);
    const int8_t *q0 = (const int8_t *)b + 4, *q1 = (const int8_t *)b + 292 + 4;
    is_int(q0[3], -127, "q8_K: extreme");
    is_int(q0[10], 2, "q8_K: 2.5 -> 2");
    is_int(q0[11], 4, "q8_K: 3.5 -> 4");
    is_int(q0[12], 0, "q8_K: -0.5 -> 0");
    is_int(q0[20], 127, "q8_K: +127 with the same magnitude");
    is_int(q0[255], -1, "q8_K: -1.25 -> -1");
    is_int(q1[0], -127, "q8_K: block 1 extreme");
    is_int(q1[1], 127, "q8_K: block 1 opposite extreme");
    is_int(q1[2], -2, "q8_K: block 1 2.5 -> -2");
    is_int(q1[17], 6, "q8_K: block 1 -6.5 -> 6");
    /* bsums at byte 4 + 256 */
    is_int((int16_t)get16(b + 260), -127 + 2 + 4 + 0, "q8_K: bsum of the first 16");
    is_int((int16_t)get16(b + 260 + 2), 127, "q8_K: bsum of the second 16");
    is_int((int16_t)get16(b + 260 + 30), -1, "q8_K: bsum of the last 16");
    is_int((int16_t)get16(b + 292 + 260), -127 + 127 - 2, "q8_K: block 1 bsum 0");
    is_int((int16_t)get16(b + 292 + 262), 6, "q8_K: block 1 bsum 1");

    /* a fractional scale: max 2 -> iscale = -63.5, d = 1/-63.5 */
    float y[256];
    uint8_t c[292];
    for (int j = 0; j < 256; j++)
        y[j] = (float)((j * 29) % 41 - 20) / 10.0f;     /* -2.0 .. 2.0, first extreme -2 at j=0 */
    t->from_float(y, c, 256);
    float dc;
    memcpy(&dc, c, 4);
    const float iscale = -127.0f / y[0];
    ok(dc == 1.0f / iscale, "q8_K: d = 1/(-127/max)");
    bool good = true;
    int bs0 = 0;
    for (int j = 0; j < 256; j++) {
        int want = (int)rintf(iscale * y[j]);
        good = good && (int8_t)c[4 + j] == want;
        if (j < 16)
            bs0 += want;
    }
    ok(good, "q8_K: quants are nearest(iscale * x)");
    is_int((int16_t)get16(c + 260), bs0, "q8_K: bsum matches the quants");

    memset(y, 0, sizeof y);
    memset(c, 0x55, sizeof c);
    t->from_float(y, c, 256);
    bool zero = true;
    for (int i = 0; i < 292; i++)
        zero = zero && c[i] == 0;
    ok(zero, "q8_K: an all-zero block is all zero bytes (d, quants, bsums)");
}

/* ------------------------------------------------------------------ hand-built blocks */

static void test_hand_q4_0(void)
{
    uint8_t b[2 * 18];
    float got[64], want[64];
    put16(b, 0x3800);           /* d = 0.5 */
    put16(b + 18, 0xbc00);      /* d = -1 */
    for (int i = 0; i < 16; i++) {
        b[2 + i] = pattern(i, 1);
        b[18 + 2 + i] = pattern(i, 2);
    }
    b[2] = 0x1f;                /* element 0: 15-8 = 7, element 16: 1-8 = -7 */
    for (int blk = 0; blk < 2; blk++) {
        const uint8_t *p = b + 18 * blk;
        float d = blk ? -1.0f : 0.5f;
        for (int j = 0; j < 32; j++) {
            int nib = j < 16 ? p[2 + j] & 15 : p[2 + j - 16] >> 4;
            want[32 * blk + j] = (nib - 8) * d;
        }
    }
    tr(GL_TYPE_Q4_0)->to_float(b, got, 64);
    ok(got[0] == 3.5f && got[16] == -3.5f, "q4_0: hand values 0x1f with d 0.5 -> 3.5, -3.5");
    ok(same_floats(got, want, 64, "q4_0"), "q4_0: hand-built blocks decode bit-exactly");
}

static void test_hand_q4_1_q5(void)
{
    float got[32], want[32];
    /* q4_1: d, m, qs */
    uint8_t a[20];
    put16(a, 0x3400);           /* 0.25 */
    put16(a + 2, 0xc100);       /* -2.5 */
    for (int i = 0; i < 16; i++)
        a[4 + i] = pattern(i, 3);
    for (int j = 0; j < 32; j++) {
        int nib = j < 16 ? a[4 + j] & 15 : a[4 + j - 16] >> 4;
        want[j] = nib * 0.25f + -2.5f;
    }
    tr(GL_TYPE_Q4_1)->to_float(a, got, 32);
    ok(same_floats(got, want, 32, "q4_1"), "q4_1: hand-built block decodes bit-exactly");

    /* q5_0: d, qh (bit j = fifth bit of element j), qs */
    uint8_t c[22];
    put16(c, 0x2e66);
    c[2] = 0x01;
    c[3] = 0x80;
    c[4] = 0x01;
    c[5] = 0xf0;                /* bits 0, 15, 16, 28-31 */
    for (int i = 0; i < 16; i++)
        c[6 + i] = pattern(i, 4);
    float d = (float)half_value(0x2e66);
    uint32_t qh = get32(c + 2);
    for (int j = 0; j < 32; j++) {
        int nib = j < 16 ? c[6 + j] & 15 : c[6 + j - 16] >> 4;
        int v = nib | (int)((qh >> j) & 1) << 4;
        want[j] = (v - 16) * d;
    }
    tr(GL_TYPE_Q5_0)->to_float(c, got, 32);
    ok(same_floats(got, want, 32, "q5_0"), "q5_0: hand-built block decodes bit-exactly");
    ok(got[0] == ((c[6] & 15) + 16 - 16) * d, "q5_0: element 0 takes qh bit 0");

    /* q5_1: d, m, qh, qs */
    uint8_t e[24];
    put16(e, 0x3c00);
    put16(e + 2, 0xbc00);
    e[4] = 0xaa;
    e[5] = 0x55;
    e[6] = 0x0f;
    e[7] = 0x81;
    for (int i = 0; i < 16; i++)
        e[8 + i] = pattern(i, 5);
    qh = get32(e + 4);
    for (int j = 0; j < 32; j++) {
        int nib = j < 16 ? e[8 + j] & 15 : e[8 + j - 16] >> 4;
        int v = nib | (int)((qh >> j) & 1) << 4;
        want[j] = v * 1.0f + -1.0f;
    }
    tr(GL_TYPE_Q5_1)->to_float(e, got, 32);
    ok(same_floats(got, want, 32, "q5_1"), "q5_1: hand-built block decodes bit-exactly");
    /* element 31: high nibble of qs[15] (pattern(15, 5) = 0x6f -> 6), qh bit 31 set */
    is_int(e[8 + 15] >> 4, 6, "q5_1: the nibble of element 31");
    ok(got[31] == 21.0f, "q5_1: element 31 = (6 | 16) * 1 - 1 = 21 (got %g)", got[31]);
}

static void test_hand_q2_K(void)
{
    /* scales[16], qs[64], d, dmin */
    uint8_t b[84];
    float got[256], want[256];
    for (int i = 0; i < 16; i++)
        b[i] = pattern(i, 6);
    for (int i = 0; i < 64; i++)
        b[16 + i] = pattern(i, 7);
    put16(b + 80, 0x3800);      /* d = 0.5 */
    put16(b + 82, 0x3000);      /* dmin = 0.125 */
    const float d = 0.5f, dmin = 0.125f;
    /* ggml's order: two 128-value halves, four 2-bit planes, two groups of 16 */
    int o = 0, is = 0;
    for (int half = 0; half < 2; half++) {
        const uint8_t *q = b + 16 + 32 * half;
        for (int plane = 0; plane < 4; plane++) {
            for (int g = 0; g < 2; g++) {
                uint8_t sc = b[is++];
                float dl = d * (sc & 15), ml = dmin * (sc >> 4);
                for (int l = 0; l < 16; l++)
                    want[o++] = dl * ((q[16 * g + l] >> (2 * plane)) & 3) - ml;
            }
        }
    }
    tr(GL_TYPE_Q2_K)->to_float(b, got, 256);
    ok(same_floats(got, want, 256, "q2_K"), "q2_K: hand-built block decodes bit-exactly");
}

static void test_hand_q3_K(void)
{
    /* hmask[32], qs[64], scales[12], d */
    uint8_t b[110];
    float got[256], want[256];
    for (int i = 0; i < 32; i++)
        b[i] = pattern(i, 8);
    for (int i = 0; i < 64; i++)
        b[32 + i] = pattern(i, 9);
    for (int i = 0; i < 12; i++)
        b[96 + i] = pattern(i, 10);
    put16(b + 108, 0xb400);     /* d = -0.25 */
    /* the 16 biased scales via 32-bit words: low nibbles from words 0 and 1,
     * two high bits each from word 2 */
    uint32_t w0 = get32(b + 96), w1 = get32(b + 100), w2 = get32(b + 104);
    uint32_t words[4] = {
        (w0 & 0x0f0f0f0fu) | ((w2 & 0x03030303u) << 4),
        (w1 & 0x0f0f0f0fu) | (((w2 >> 2) & 0x03030303u) << 4),
        ((w0 >> 4) & 0x0f0f0f0fu) | (((w2 >> 4) & 0x03030303u) << 4),
        ((w1 >> 4) & 0x0f0f0f0fu) | (((w2 >> 6) & 0x03030303u) << 4),
    };
    int sc[16];
    for (int j = 0; j < 16; j++)
        sc[j] = (int)((words[j / 4] >> (8 * (j % 4))) & 0xff) - 32;
    const float d = -0.25f;
    int o = 0, is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; half++) {
        const uint8_t *q = b + 32 + 32 * half;
        for (int plane = 0; plane < 4; plane++, m <<= 1) {
            for (int g = 0; g < 2; g++) {
                float dl = d * sc[is++];
                for (int l = 16 * g; l < 16 * g + 16; l++) {
                    int v = ((q[l] >> (2 * plane)) & 3) - (b[l] & m ? 0 : 4);
                    want[o++] = dl * v;
                }
            }
        }
    }
    tr(GL_TYPE_Q3_K)->to_float(b, got, 256);
    ok(same_floats(got, want, 256, "q3_K"), "q3_K: hand-built block decodes bit-exactly");
    /* one by hand: scale 0 = low nibble of byte 96 | low 2 bits of byte 104 */
    int s0 = ((b[96] & 15) | (b[104] & 3) << 4) - 32;
    int v0 = (b[32] & 3) - (b[0] & 1 ? 0 : 4);
    ok(got[0] == d * s0 * v0, "q3_K: element 0 = %g * %d * %d", d, s0, v0);
}

static void test_hand_q4_K(void)
{
    /* d, dmin, scales[12], qs[128] */
    uint8_t b[144];
    float got[256], want[256];
    static const int sc[8] = { 1, 2, 3, 63, 10, 33, 47, 60 };
    static const int mn[8] = { 0, 5, 62, 7, 17, 40, 2, 63 };
    /* packed by hand:
     *   bytes 0-3: sc0..3 | (sc4..7 >> 4) << 6 = 1|0, 2|2<<6, 3|2<<6, 63|3<<6
     *   bytes 4-7: mn0..3 | (mn4..7 >> 4) << 6 = 0|1<<6, 5|2<<6, 62|0, 7|3<<6
     *   bytes 8-11: (sc & 15) | (mn & 15) << 4 for 4..7 = 0x1a, 0x81, 0x2f, 0xfc */
    static const uint8_t scales[12] = { 0x01, 0x82, 0x83, 0xff, 0x40, 0x85, 0x3e, 0xc7,
                                        0x1a, 0x81, 0x2f, 0xfc };
    put16(b, 0x3800);           /* d = 0.5 */
    put16(b + 2, 0x3400);       /* dmin = 0.25 */
    memcpy(b + 4, scales, 12);
    for (int i = 0; i < 128; i++)
        b[16 + i] = (uint8_t)((i * 7 + 3) & 0xff);
    const float d = 0.5f, dmin = 0.25f;
    int o = 0;
    for (int chunk = 0; chunk < 4; chunk++) {
        const uint8_t *q = b + 16 + 32 * chunk;
        for (int hi = 0; hi < 2; hi++) {
            int j = 2 * chunk + hi;
            float d1 = d * sc[j], m1 = dmin * mn[j];
            for (int l = 0; l < 32; l++)
                want[o++] = d1 * (hi ? q[l] >> 4 : q[l] & 15) - m1;
        }
    }
    tr(GL_TYPE_Q4_K)->to_float(b, got, 256);
    ok(same_floats(got, want, 256, "q4_K"), "q4_K: hand-built block decodes bit-exactly");
    ok(got[0] == 1.5f, "q4_K: element 0 = 0.5*1*3 - 0 = 1.5 (got %g)", got[0]);
    ok(got[32] == -1.25f, "q4_K: element 32 = 0.5*2*0 - 0.25*5 = -1.25 (got %g)", got[32]);
    ok(got[224] == 284.25f, "q4_K: element 224 = 0.5*60*10 - 0.25*63 = 284.25 (got %g)", got[224]);
}

static void test_hand_q5_K(void)
{
    /* d, dmin, scales[12], qh[32], qs[128] */
    uint8_t b[176];
    float got[256], want[256];
    static const int sc[8] = { 7, 0, 31, 32, 63, 1, 16, 48 };
    static const int mn[8] = { 3, 63, 0, 15, 16, 33, 62, 1 };
    uint8_t *s = b + 4;
    memset(s, 0, 12);
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    put16(b, 0x2c00);           /* d = 1/16 */
    put16(b + 2, 0x3c00);       /* dmin = 1 */
    for (int i = 0; i < 32; i++)
        b[16 + i] = pattern(i, 11);
    for (int i = 0; i < 128; i++)
        b[48 + i] = pattern(i, 12);
    const float d = 0.0625f, dmin = 1.0f;
    int o = 0;
    uint8_t u = 1;
    for (int chunk = 0; chunk < 4; chunk++) {
        const uint8_t *q = b + 48 + 32 * chunk;
        for (int hi = 0; hi < 2; hi++, u <<= 1) {
            int j = 2 * chunk + hi;
            float d1 = d * sc[j], m1 = dmin * mn[j];
            for (int l = 0; l < 32; l++) {
                int v = (hi ? q[l] >> 4 : q[l] & 15) + (b[16 + l] & u ? 16 : 0);
                want[o++] = d1 * v - m1;
            }
        }
    }
    tr(GL_TYPE_Q5_K)->to_float(b, got, 256);
    ok(same_floats(got, want, 256, "q5_K"), "q5_K: hand-built block decodes bit-exactly");
}

static void test_hand_q6_K(void)
{
    /* ql[128], qh[64], scales[16] (int8), d */
    uint8_t b[210];
    float got[512], want[512];
    static const int8_t sc[16] = { -3, 127, -128, 1, 2, -1, 64, 0, 5, -7, 33, -50, 100, 9, -9, 12 };
    for (int i = 0; i < 128; i++)
        b[i] = pattern(i, 13);
    for (int i = 0; i < 64; i++)
        b[128 + i] = pattern(i, 14);
    memcpy(b + 192, sc, 16);
    put16(b + 208, 0x3000);     /* d = 0.125 */
    b[0] = 0x21;
    b[128] = 0xe4;
    /* ggml's order: per 128-value half, element l, l+32, l+64, l+96 from
     * ql[l], ql[l+32] (low, then high nibbles) and the four 2-bit fields of qh[l] */
    int qv[256];
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        int *v = qv + 128 * half;
        for (int l = 0; l < 32; l++) {
            v[l] = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
            v[l + 32] = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
            v[l + 64] = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            v[l + 96] = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        }
    }
    /* block 0 with d = 0.125, block 1 the same bytes with d = -2; scale of
     * element e is sc[e/16] */
    uint8_t two[420];
    memcpy(two, b, 210);
    memcpy(two + 210, b, 210);
    put16(two + 210 + 208, 0xc000);
    for (int e = 0; e < 256; e++) {
        want[e] = 0.125f * sc[e / 16] * qv[e];
        want[256 + e] = -2.0f * sc[e / 16] * qv[e];
    }
    tr(GL_TYPE_Q6_K)->to_float(two, got, 512);
    ok(same_floats(got, want, 512, "q6_K"), "q6_K: hand-built blocks decode bit-exactly");
    /* by hand: element 0: low 1, high (0xe4 & 3) = 0 -> 1 - 32 = -31, scale -3:
     * 0.125 * -3 * -31 = 11.625. element 64: high nibble 2 of 0x21, bits 4-5 of
     * 0xe4 = 2 -> 34 - 32 = 2, scale[4] = 2: 0.125 * 2 * 2 = 0.5 */
    ok(got[0] == 11.625f, "q6_K: element 0 = 11.625 (got %g)", got[0]);
    ok(got[64] == 0.5f, "q6_K: element 64 = 0.5 (got %g)", got[64]);
}

static void test_hand_q8_0(void)
{
    uint8_t b[34];
    float got[32];
    put16(b, 0x1400);           /* 2^-10 */
    for (int j = 0; j < 32; j++)
        b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    tr(GL_TYPE_Q8_0)->to_float(b, got, 32);
    bool good = true;
    for (int j = 0; j < 32; j++)
        good = good && got[j] == (float)(j * 8 - 128) / 1024.0f;
    ok(good, "q8_0: hand-built block decodes to q * d");
}

/* The kernels on hand-built blocks: the integer part against a plain sum. */
static void test_hand_dots(void)
{
    /* q4_0 . q8_0 with d = 1 on both sides: the dot is the integer sum */
    uint8_t x[18], y[34];
    put16(x, 0x3c00);
    put16(y, 0x3c00);
    int want = 0;
    for (int j = 0; j < 16; j++)
        x[2 + j] = pattern(j, 15);
    for (int j = 0; j < 32; j++)
        y[2 + j] = (uint8_t)(int8_t)(j * 7 - 100);
    for (int j = 0; j < 32; j++) {
        int nib = j < 16 ? x[2 + j] & 15 : x[2 + j - 16] >> 4;
        want += (nib - 8) * (int8_t)y[2 + j];
    }
    float s = NAN;
    tr(GL_TYPE_Q4_0)->vec_dot(32, &s, x, y);
    ok(s == (float)want, "q4_0.q8_0: integer dot %d (got %g)", want, s);

    /* q6_K . q8_K with d = 1 and y.d = 1: sum of scale * q6 * q8 */
    uint8_t a[210], c[292];
    for (int i = 0; i < 192; i++)
        a[i] = pattern(i, 16);
    for (int i = 0; i < 16; i++)
        a[192 + i] = (uint8_t)(int8_t)(i * 5 - 40);
    put16(a + 208, 0x3c00);
    float one = 1.0f;
    memcpy(c, &one, 4);
    for (int i = 0; i < 256; i++)
        c[4 + i] = (uint8_t)(int8_t)((i * 31) % 41 - 20);   /* small: every partial sum stays exact in f32 */
    float deq[256];
    tr(GL_TYPE_Q6_K)->to_float(a, deq, 256);
    long long iw = 0;
    for (int i = 0; i < 256; i++)
        iw += (long long)deq[i] * (int8_t)c[4 + i];     /* deq is scale*q exactly (d = 1) */
    tr(GL_TYPE_Q6_K)->vec_dot(256, &s, a, c);
    ok(s == (float)iw, "q6_K.q8_K: integer dot %lld (got %g)", iw, s);
}

/* ------------------------------------------------------------------ kernel sets */

/* The set gl_quant_init() picked: GLIMPSE_KERNELS when it names a set this
 * CPU runs, else the best one. */
static void test_kernel_sets(void)
{
    const char *first = gl_quant_kernels();
    ok(strcmp(first, "scalar") == 0 || strcmp(first, "avx2") == 0 || strcmp(first, "avx512") == 0 ||
           strcmp(first, "neon") == 0,
       "kernel set in use is known (%s)", first);
    const bool avx2 = gl_quant_set_kernels("avx2") == 0;
    const bool vnni = gl_quant_set_kernels("avx512") == 0 && strcmp(gl_quant_kernels(), "avx512") == 0;
    const bool neon = gl_quant_set_kernels("neon") == 0;
    const char *env = getenv("GLIMPSE_KERNELS");
    if (env && (strcmp(env, "scalar") == 0 || strcmp(env, "avx2") == 0 || (neon && strcmp(env, "neon") == 0)))
        is_str(first, env, "GLIMPSE_KERNELS=%s is obeyed", env);
    else
        is_str(first, vnni ? "avx512" : avx2 ? "avx2" : neon ? "neon" : "scalar",
               "the best set this CPU runs is the default");

    is_int(gl_quant_set_kernels("no-such-set"), -1, "an unknown set is refused");
    is_int(gl_quant_set_kernels(NULL), -1, "a NULL set name is refused");
    is_int(gl_quant_set_kernels("scalar"), 0, "the scalar set is always available");
    is_str(gl_quant_kernels(), "scalar", "switched to scalar");
    is_int(gl_quant_set_kernels("no-such-set"), -1, "a refused name...");
    is_str(gl_quant_kernels(), "scalar", "...changes nothing");
    if (avx2) {
        is_int(gl_quant_set_kernels("avx2"), 0, "avx2 selectable again");
        is_str(gl_quant_kernels(), "avx2", "switched to avx2");
        ok(tr(GL_TYPE_Q4_K)->vec_dot != NULL && tr(GL_TYPE_Q8_K)->from_float != NULL,
           "avx2 set fills the traits");
        ok(gl_quant_gemm(GL_TYPE_Q4_K) && gl_quant_gemm(GL_TYPE_Q6_K) && !gl_quant_gemm(GL_TYPE_Q4_0),
           "avx2 set: q4_K and q6_K batched products (only)");
        int r = gl_quant_set_kernels("avx512");
        if (r == 0 && vnni)
            ok(strcmp(gl_quant_kernels(), "avx512") == 0 && gl_quant_gemm(GL_TYPE_Q4_K) &&
               gl_quant_gemm(GL_TYPE_Q6_K), "avx512 set: AVX-512 VNNI batched products");
        else if (r == 0)
            is_str(gl_quant_kernels(), "avx2", "avx512 without VNNI runs the avx2 kernels");
        else
            ok(r == -1, "avx512 refused on a CPU without it");
    } else {
        tap_skip(5, "this CPU has no AVX2+FMA+F16C");
    }
    if (neon)
        ok(gl_quant_set_kernels("neon") == 0 && strcmp(gl_quant_kernels(), "neon") == 0 &&
               !gl_quant_gemm(GL_TYPE_Q4_K),
           "neon set: q4_K/q6_K dot products, no batched products");
    else
        ok(gl_quant_set_kernels("neon") == -1, "neon refused on a CPU without it");
    gl_quant_set_kernels(first);
}

/* ------------------------------------------------------------------ SIMD == scalar */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* A finite half: mostly ordinary scales, sometimes an extreme one. */
static uint16_t rnd_half(void)
{
    static const uint16_t edge[] = { 0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff,
                                     0x3c00, 0xbc00, 0x0200, 0x8001 };
    uint32_t r = rnd();
    if (r % 8 == 0)
        return edge[(r >> 3) % (sizeof edge / sizeof edge[0])];
    /* exponent 5..24: magnitudes 2^-10 .. 2^9 */
    return (uint16_t)((r & 0x83ff) | ((5u + (r >> 16) % 20u) << 10));
}

static float rnd_float_scale(void)
{
    static const float edge[] = { 0.0f, -0.0f, 1.0f, 1e-30f, 3e30f, -7.5f, 0x1p-126f };
    uint32_t r = rnd();
    if (r % 8 == 0)
        return edge[(r >> 3) % (sizeof edge / sizeof edge[0])];
    return ldexpf((float)(int)(r % 2001 - 1000) / 1000.0f, (int)(rnd() % 40) - 25);
}

/* Offsets of the f16 scale fields of each weight/activation block. */
static void fix_halves(int type, uint8_t *b)
{
    switch (type) {
    case GL_TYPE_Q4_1: case GL_TYPE_Q5_1: case GL_TYPE_Q8_1: case GL_TYPE_Q4_K: case GL_TYPE_Q5_K:
        put16(b + 2, rnd_half());
        /* fall through */
    case GL_TYPE_Q4_0: case GL_TYPE_Q5_0: case GL_TYPE_Q8_0:
        put16(b, rnd_half());
        break;
    case GL_TYPE_Q2_K:
        put16(b + 80, rnd_half());
        put16(b + 82, rnd_half());
        break;
    case GL_TYPE_Q3_K:
        put16(b + 108, rnd_half());
        break;
    case GL_TYPE_Q6_K:
        put16(b + 208, rnd_half());
        break;
    case GL_TYPE_Q8_K: {
        float d = rnd_float_scale();
        memcpy(b, &d, 4);
        if (rnd() % 2) {        /* consistent bsums, or arbitrary ones */
            for (int j = 0; j < 16; j++) {
                int sum = 0;
                for (int i = 0; i < 16; i++)
                    sum += (int8_t)b[4 + 16 * j + i];
                put16(b + 260 + 2 * j, (uint16_t)(int16_t)sum);
            }
        }
        break;
    }
    default:
        break;
    }
}

/* A row of random blocks: random bytes (every quant pattern, -128 included),
 * finite scales. Some rows are all-extreme: every quant byte 0x80 or 0xff. */
static void rnd_row(int type, uint8_t *b, size_t bytes, int style)
{
    const struct gl_type_traits *t = tr(type);
    for (size_t i = 0; i < bytes; i++)
        b[i] = style == 0 ? (uint8_t)rnd() : style == 1 ? 0x80 : 0xff;
    if (type == GL_TYPE_F16) {
        for (size_t i = 0; i + 1 < bytes; i += 2)
            if ((get16(b + i) & 0x7c00) == 0x7c00)
                put16(b + i, (uint16_t)(get16(b + i) & 0xbfff));   /* no inf/NaN */
        return;
    }
    for (size_t off = 0; off < bytes; off += t->type_size)
        fix_halves(type, b + off);
}

static bool same_bits(float a, float b)
{
    return f2u(a) == f2u(b) || (isnan(a) && isnan(b));
}

static const int simd_dot_types[] = {
    GL_TYPE_F16, GL_TYPE_Q4_0, GL_TYPE_Q4_1, GL_TYPE_Q5_0, GL_TYPE_Q5_1, GL_TYPE_Q8_0,
    GL_TYPE_Q2_K, GL_TYPE_Q3_K, GL_TYPE_Q4_K, GL_TYPE_Q5_K, GL_TYPE_Q6_K,
};
#define N_SIMD_DOT (int)(sizeof simd_dot_types / sizeof simd_dot_types[0])

/* Every SIMD dot product against the scalar one on the same bytes. */
static void test_simd_dots_set(const char *set)
{
    if (gl_quant_set_kernels(set) != 0 || strcmp(gl_quant_kernels(), set) != 0) {
        tap_skip(1, "this CPU does not run the %s set (%d dot products not compared)", set, N_SIMD_DOT);
        gl_quant_set_kernels("scalar");
        return;
    }
    gl_vec_dot_fn simd[GL_TYPE_COUNT] = { 0 }, ref[GL_TYPE_COUNT] = { 0 };
    for (int k = 0; k < N_SIMD_DOT; k++)
        simd[simd_dot_types[k]] = tr(simd_dot_types[k])->vec_dot;
    gl_quant_set_kernels("scalar");
    for (int k = 0; k < N_SIMD_DOT; k++)
        ref[simd_dot_types[k]] = tr(simd_dot_types[k])->vec_dot;

    enum { MAXB = 40 };
    uint8_t *x = malloc(MAXB * 256 * 2), *y = malloc(MAXB * 292);
    if (!x || !y)
        tap_skip_all("out of memory");
    for (int k = 0; k < N_SIMD_DOT; k++) {
        const int type = simd_dot_types[k];
        const struct gl_type_traits *t = tr(type), *ty = tr(t->vec_dot_type);
        int bad = 0, trials = 0, nonzero = 0;
        for (int trial = 0; trial < 1500 && bad < 3; trial++) {
            /* rows of 1..MAXB blocks; f16 rows of any length up to 300 */
            int n = type == GL_TYPE_F16 ? (int)(rnd() % 301)
                                        : t->blck_size * (1 + (int)(rnd() % (trial < 200 ? 3 : MAXB)));
            int style = trial % 50 == 1 ? 1 : trial % 50 == 2 ? 2 : 0;
            rnd_row(type, x, gl_row_size(type, n), style);
            rnd_row(t->vec_dot_type, y, gl_row_size(t->vec_dot_type, n), style);
            float a = NAN, b = NAN;
            ref[type](n, &a, x, y);
            simd[type](n, &b, x, y);
            trials++;
            nonzero += a != 0.0f;
            if (!same_bits(a, b)) {
                tap_diag("  %s n=%d style %d: scalar %.9g (%08x), %s %.9g (%08x)", t->name, n, style, a,
                         f2u(a), set, b, f2u(b));
                bad++;
            }
        }
        (void)ty;
        ok(bad == 0 && nonzero > trials / 2, "%s %s vec_dot: the scalar bits on %d random rows", set, t->name,
           trials);
    }
    free(x);
    free(y);
}

/* The batched products against the scalar dot product on the same bytes:
 * random and all-extreme weight rows and q8_K rows (arbitrary bsums too),
 * odd row and batch counts, every output bit for bit. */
static void test_gemm_set(const char *set)
{
    static const int types[] = { GL_TYPE_Q4_K, GL_TYPE_Q6_K };
    const int nt = (int)(sizeof types / sizeof types[0]);
    if (gl_quant_set_kernels(set) != 0 || strcmp(gl_quant_kernels(), set) != 0) {
        tap_skip(1, "this CPU has no %s batched products (%d formats not compared)", set, nt);
        gl_quant_set_kernels("scalar");
        return;
    }
    gl_gemm_fn gemm[GL_TYPE_COUNT] = { 0 };
    for (int k = 0; k < nt; k++)
        gemm[types[k]] = gl_quant_gemm(types[k]);
    gl_quant_set_kernels("scalar");
    enum { NB = 10, NR = 9, M = 21 };    /* crosses the kernel's 8-block and 16-row tiles */
    const int n = NB * 256;
    for (int k = 0; k < nt; k++) {
        const int type = types[k];
        const struct gl_type_traits *t = tr(type);
        const size_t wrow = gl_row_size(type, n), xrow = gl_row_size(GL_TYPE_Q8_K, n);
        uint8_t *w = malloc(NR * wrow), *x = malloc(M * xrow);
        float *y = malloc(sizeof(float) * M * (NR + 3));
        void *panel = aligned_alloc(64, (gl_gemm_panel_bytes(n, NR) + 63) / 64 * 64);
        if (!w || !x || !y || !panel)
            tap_skip_all("out of memory");
        int bad = 0, nonzero = 0, total = 0;
        for (int trial = 0; trial < 60 && bad < 3; trial++) {
            const int nr = 1 + trial % NR, m = 1 + trial % M;
            for (int r = 0; r < nr; r++)
                rnd_row(type, w + r * wrow, wrow, trial % 10 == 3 ? 1 : trial % 10 == 7 ? 2 : 0);
            for (int i = 0; i < m; i++)
                rnd_row(GL_TYPE_Q8_K, x + i * xrow, xrow, trial % 10 == 3 ? 2 : 0);
            gemm[type](n, nr, m, y, NR + 3, w, wrow, x, xrow, panel);
            for (int i = 0; i < m; i++)
                for (int r = 0; r < nr; r++) {
                    float ref = NAN;
                    t->vec_dot(n, &ref, w + r * wrow, x + i * xrow);
                    total++;
                    nonzero += ref != 0.0f;
                    if (!same_bits(ref, y[i * (NR + 3) + r]) && bad++ < 3)
                        tap_diag("  %s trial %d row %d act %d: scalar %.9g, gemm %.9g", t->name, trial,
                                 r, i, ref, y[i * (NR + 3) + r]);
                }
        }
        ok(bad == 0 && nonzero > total / 2, "%s %s batched product: the scalar bits on %d outputs", set,
           t->name, total);
        free(w), free(x), free(y), free(panel);
    }
}

static void test_gemm(void)
{
    test_gemm_set("avx2");
    test_gemm_set("avx512");
}

static void test_simd_dots(void)
{
    test_simd_dots_set("avx2");
    test_simd_dots_set("avx512");
    test_simd_dots_set("neon");
}

/* A row of floats for the activation quantizers, in one of several styles:
 * random magnitudes, rounding ties, zeros, specials. */
static void rnd_floats(float *x, int n, int style)
{
    for (int i = 0; i < n; i++) {
        uint32_t r = rnd();
        switch (style) {
        case 0:     /* ordinary activations at a random scale */
            x[i] = ldexpf((float)(int)(r % 20001 - 10000) / 10000.0f, (int)(rnd() % 20) - 10);
            break;
        case 1:     /* halves: with a block maximum of 127 the q8 multiplier is 1 */
            x[i] = i % 32 == 5 ? 127.0f : (float)(int)(r % 254 - 127) + 0.5f;
            break;
        case 2:     /* many zeros and signed zeros, a few tiny values */
            x[i] = r % 4 == 0 ? 0x1p-140f * (float)(r % 7) : r % 2 ? 0.0f : -0.0f;
            break;
        case 3:     /* any bit pattern: NaN, inf, subnormals, huge */
            x[i] = u2f(r ^ rnd() << 16);
            break;
        default:    /* the same magnitude twice with both signs: first one wins */
            x[i] = i % 16 == 3 ? 2.5f : i % 16 == 9 ? -2.5f : (float)(int)(r % 5) * 0.25f;
            break;
        }
    }
}

/* The SIMD activation quantizers against the scalar ones, byte for byte. */
static void test_simd_quantizers(void)
{
    static const int types[] = { GL_TYPE_Q8_0, GL_TYPE_Q8_1, GL_TYPE_Q8_K, GL_TYPE_F16 };
    const int n_types = (int)(sizeof types / sizeof types[0]);
    if (gl_quant_set_kernels("avx2") != 0) {
        tap_skip(n_types, "this CPU has no AVX2+FMA+F16C");
        return;
    }
    gl_from_float_fn simd[4], ref[4];
    for (int k = 0; k < n_types; k++)
        simd[k] = tr(types[k])->from_float;
    gl_quant_set_kernels("scalar");
    for (int k = 0; k < n_types; k++)
        ref[k] = tr(types[k])->from_float;

    enum { MAXN = 256 * 8 };
    float *x = malloc(MAXN * sizeof *x);
    uint8_t *a = malloc(MAXN * 2), *b = malloc(MAXN * 2);
    if (!x || !a || !b)
        tap_skip_all("out of memory");
    for (int k = 0; k < n_types; k++) {
        const struct gl_type_traits *t = tr(types[k]);
        int bad = 0, trials = 0;
        for (int trial = 0; trial < 600 && bad < 3; trial++) {
            const int style = trial % 5;
            int n = t->blck_size * (1 + (int)(rnd() % (MAXN / 256)));
            if (types[k] == GL_TYPE_F16)
                n = (int)(rnd() % 200);         /* tails too */
            rnd_floats(x, n, style);
            const size_t bytes = gl_row_size(types[k], n);
            memset(a, 0x11, bytes);
            memset(b, 0x22, bytes);
            ref[k](x, a, n);
            simd[k](x, b, n);
            trials++;
            if (memcmp(a, b, bytes) != 0) {
                size_t i = 0;
                while (a[i] == b[i])
                    i++;
                tap_diag("  %s style %d n=%d: first difference at byte %zu (%02x vs %02x)", t->name, style, n,
                         i, a[i], b[i]);
                bad++;
            }
        }
        ok(bad == 0, "avx2 %s from_float: the scalar bytes on %d rows (ties, zeros, NaN, inf)", t->name,
           trials);
    }
    free(x);
    free(a);
    free(b);
}

int main(void)
{
    test_init_race();
    test_kernel_sets();
    test_traits();
    test_fp16_specials();
    test_fp16_exhaustive();
    test_fp16_rne_random();
    test_bf16();
    test_q8_0_q8_1();
    test_q8_K();
    test_hand_q4_0();
    test_hand_q4_1_q5();
    test_hand_q2_K();
    test_hand_q3_K();
    test_hand_q4_K();
    test_hand_q5_K();
    test_hand_q6_K();
    test_hand_q8_0();
    test_hand_dots();
    test_exact_weights();
    test_simd_dots();
    test_simd_quantizers();
    test_gemm();

    /* the error bounds hold under every kernel set this CPU runs */
    const char *first = gl_quant_kernels();
    static const char *const sets[] = { "scalar", "avx2" };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (gl_quant_set_kernels(sets[i]) == 0)
            test_round_trip_and_dot(sets[i]);
        else
            tap_diag("kernel set %s: not available on this CPU", sets[i]);
    }
    gl_quant_set_kernels(first);
    return tap_done();
}
