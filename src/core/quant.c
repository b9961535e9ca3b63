/*
 * quant.c - tensor element formats: half/bfloat16 conversions, ggml's block
 * quantizations (layouts, dequantization, reference quantizers, scalar dot
 * products), the type-traits table that generic code goes through, and the
 * choice of kernel set (scalar here, SIMD in quant_x86.c).
 *
 * What must agree with the reference implementation (llama.cpp, Feb 2025, x86-64
 * with AVX2/AVX-512), and how closely:
 *   - block layouts: byte for byte (they are read straight out of GGUF files);
 *   - dequantization (to_float): bit for bit, same float operations in the same
 *     order as ggml's dequantize_row_* (compiled without FMA contraction);
 *   - activation quantizers (Q8_0, Q8_1, Q8_K, F16, BF16): bit for bit with what
 *     the x86 build computes, because greedy decoding is compared token by token;
 *   - dot products: bit for bit with the reference's x86 kernels. Integer sums
 *     are exact in any order, but the float terms are added in the reference's
 *     vector lanes and folded by its reduction tree (quant_impl.h). Summed in
 *     another order a logit moves by ~1e-6, enough to move an activation that
 *     sits on a rounding tie of the next Q8 quantization, and that one quant
 *     moves logits by 0.1 or more;
 *   - weight quantizers (Q4_0 .. Q6_K): our own simple algorithms. Only tests and
 *     synthetic benchmark weights use them; real weights come from GGUF files.
 *
 * The scalar kernels are the reference for the SIMD ones, which must return the
 * same bits (tests/test_quant.c checks it).
 *
 * Nothing here allocates; the global state is the f16 -> f32 table and the
 * kernel pointers in the traits table, both set up by gl_quant_init().
 */

/* Every float operation here is one of the reference's, rounded on its own:
 * the compiler must not fuse a*b + c (GCC does in GNU C mode whenever the
 * target has FMA, e.g. with -march=native). Where the reference fuses, the code
 * calls fmaf. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "config.h"

#include "glimpse/quant.h"

#include "quant_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ half / bfloat16 */

/* f16 -> f32 for all 65536 patterns; the kernels index it (faster than the
 * bit arithmetic below). Filled by gl_quant_init(), which every path to a
 * kernel (gl_type_traits) runs first. */
static float fp16_table[1 << 16];

static inline float h2f(gl_fp16 h)
{
    return fp16_table[h];
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float gl_fp16_to_fp32(gl_fp16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24, exact in f32 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    if (e == 31)                /* inf, or NaN (quietened, payload kept) */
        return bits_f32(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0));
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

/* Round to nearest even, the way F16C's _cvtss_sh(x, 0) does: overflow to
 * infinity from 65520 up, correctly rounded subnormals, NaN stays NaN (quiet,
 * top payload bits kept). */
gl_fp16 gl_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u)
        return (gl_fp16)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
    if (x >= 0x477ff000u)       /* >= 65520 (incl. inf) */
        return (gl_fp16)(sign | 0x7c00u);
    if (x >= 0x38800000u) {     /* >= 2^-14: a normal half */
        uint32_t r = x - 0x38000000u;           /* exponent bias 127 -> 15 */
        r += 0x0fffu + ((r >> 13) & 1u);        /* round the 13 dropped bits, ties to even */
        return (gl_fp16)(sign | (r >> 13));     /* a carry ripples into the exponent correctly */
    }
    if (x <= 0x33000000u)       /* <= 2^-25: rounds to (signed) zero */
        return sign;
    /* subnormal half: value / 2^-24 = mant * 2^(e-126), e in [102, 112] */
    uint32_t e = x >> 23;
    uint32_t mant = (x & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;                   /* 14 .. 24 */
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;                                    /* may become 0x400, the smallest normal: right */
    return (gl_fp16)(sign | q);
}

float gl_bf16_to_fp32(gl_bf16 h)
{
    return bits_f32((uint32_t)h << 16);
}

/* ggml_compute_fp32_to_bf16: NaN -> quiet NaN (bit 6 of the result set),
 * everything else rounded to nearest even, subnormals kept. */
gl_bf16 gl_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (gl_bf16)((u >> 16) | 64u);
    return (gl_bf16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* ------------------------------------------------------------------ rounding helpers */

/* Round to nearest (ties to even) for the weight quantizers: adding 1.5*2^23
 * leaves the rounded integer in the low mantissa bits - much faster than a
 * libm call. Out-of-range values (and NaN) saturate far outside every level
 * range, so the callers' clamps handle them. */
static inline int nearest(float v)
{
    if (!(fabsf(v) < 4194303.0f))
        return v > 0 ? 1 << 24 : -(1 << 24);
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Round-to-nearest-even to an int8 with saturation, as the x86 activation
 * quantizer does (_mm256_round_ps(v, _MM_ROUND_NEAREST), _mm256_cvtps_epi32,
 * then saturating packs; NaN becomes the "integer indefinite" and so -128).
 * rintf() uses the current rounding mode, which is the default
 * round-to-nearest-even: no one in glimpse changes it. */
static inline int8_t round_i8_sat(float v)
{
    float r = rintf(v);
    if (!(r >= -128.0f))
        return -128;
    if (r > 127.0f)
        return 127;
    return (int8_t)r;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------------ summation order */

/* See quant_impl.h: dot products add their terms the way the reference's x86
 * kernels do. The integer parts are exact whatever the order; these helpers
 * fix where each float rounding happens. */

/* lane[l] += sum of a[k] * b[k] over k = 4l..4l+3 of one 32-value chunk, times
 * sc_lo for lanes 0-3 (values 0-15) and sc_hi for lanes 4-7 (values 16-31):
 * the K-quants scale per 16 or per 32 values, both whole lanes. */
static inline void chunk_lanes(int32_t lane[8], const int8_t *a, const int8_t *b, int sc_lo,
                               int sc_hi)
{
    for (int l = 0; l < 8; l++) {
        int32_t p = 0;
        for (int k = 4 * l; k < 4 * l + 4; k++)
            p += a[k] * b[k];
        lane[l] += (l < 4 ? sc_lo : sc_hi) * p;
    }
}

/* acc[l] = fma(lane[l], d, acc[l]): one rounding per lane and block. */
static inline void scale_lanes(float acc[8], const int32_t lane[8], float d)
{
    for (int l = 0; l < 8; l++)
        acc[l] = fmaf((float)lane[l], d, acc[l]);
}

/* The 32 values of a q4_0/q4_1 block minus `offset`: value j < 16 in the low
 * nibble of qs[j], value j >= 16 in the high nibble of qs[j - 16]. */
static inline void unpack_q4(int8_t q[32], const uint8_t *qs, int offset)
{
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((qs[j] & 0x0f) - offset);
        q[j + 16] = (int8_t)((qs[j] >> 4) - offset);
    }
}

/* As unpack_q4 with the fifth bit of value j in bit j of qh. */
static inline void unpack_q5(int8_t q[32], const uint8_t *qs, const uint8_t *qh4, int offset)
{
    const uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 |
                        (uint32_t)qh4[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4) - offset);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4) - offset);
    }
}

/* ------------------------------------------------------------------ f32, f16, bf16 */

static void f32_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    memcpy(y, vx, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    memcpy(vy, x, (size_t)n * sizeof(float));
}

/* ggml's scalar f32/f16/bf16 dots multiply in f32 and accumulate in double
 * (ggml_float); the products of two halves or two bfloats are exact in f32. */
static void f32_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

static void f16_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const gl_fp16 *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = h2f(x[i]);
}

static void f16_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    gl_fp16 *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = gl_fp32_to_fp16(x[i]);
}

/* ggml_vec_dot_f16 as the reference's AVX-512 build runs it: four 16-lane
 * accumulators over steps of 64 values (accumulator j, lane t takes the values
 * 64i + 16j + t), folded lane-wise as (acc0 + acc2) + (acc1 + acc3), then
 * across the lanes by gl_hsum16; the last n % 64 products are added in double.
 * A product of two halves is exact in f32, so "add the product" is the fused
 * multiply-add of the vector code. */
static void f16_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const gl_fp16 *x = vx, *y = vy;
    const int np = n & ~63;
    float acc[4][16] = { { 0 } };
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < 16; t++)
                acc[j][t] += h2f(x[i + 16 * j + t]) * h2f(y[i + 16 * j + t]);
    float r[16];
    for (int t = 0; t < 16; t++)
        r[t] = (acc[0][t] + acc[2][t]) + (acc[1][t] + acc[3][t]);
    double sum = gl_hsum16(r);
    for (int i = np; i < n; i++)
        sum += (double)(h2f(x[i]) * h2f(y[i]));
    *s = (float)sum;
}

static void bf16_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const gl_bf16 *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = gl_bf16_to_fp32(x[i]);
}

static void bf16_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    gl_bf16 *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = gl_fp32_to_bf16(x[i]);
}

static void bf16_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const gl_bf16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(gl_bf16_to_fp32(x[i]) * gl_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* ------------------------------------------------------------------ q4_0, q4_1, q5_0, q5_1 */

/* The value of largest magnitude (the first one on ties), with its sign. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    *mn = lo;
    *mx = hi;
}

static inline uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void q4_0_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int64_t b = 0; b < n / QK4_0; b++, y += QK4_0) {
        const float d = h2f(x[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + QK4_0 / 2] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Symmetric: the value of largest magnitude maps to -8, the end of the range
 * with the extra level, so both signs are used fully. */
static void q4_0_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q4_0 *y = vy;
    for (int64_t b = 0; b < n / QK4_0; b++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = gl_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = clampi(nearest(x[j] * id) + 8, 0, 15);
            int q1 = clampi(nearest(x[j + QK4_0 / 2] * id) + 8, 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* q4_0 . q8_0. The reference repacks q4_0 weight matrices for its AVX2 "8x8"
 * kernels (ggml_gemv/gemm_q4_0_8x8_q8_0, used when the row count is a multiple
 * of 8, as in every LLaVA matrix): one output per vector lane, so each block's
 * integer sum is scaled into a single accumulator, in block order:
 * sum = fma(sumi, dx*dy, sum). (Its plain AVX2 kernel, with lanes like q8_0's,
 * misses the tiny model's logits by up to 0.3; this order matches them.) */
static void q4_0_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    int8_t q[32];
    for (int b = 0; b < n / QK4_0; b++) {
        unpack_q4(q, x[b].qs, 8);
        int32_t sumi = 0;
        for (int j = 0; j < QK4_0; j++)
            sumi += q[j] * y[b].qs[j];
        sum = fmaf((float)sumi, h2f(x[b].d) * h2f(y[b].d), sum);
    }
    *s = sum;
}

static void q4_1_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q4_1 *x = vx;
    for (int64_t b = 0; b < n / QK4_1; b++, y += QK4_1) {
        const float d = h2f(x[b].d), m = h2f(x[b].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (x[b].qs[j] & 0x0f) * d + m;
            y[j + QK4_1 / 2] = (x[b].qs[j] >> 4) * d + m;
        }
    }
}

/* Affine: [min, max] split into 15 steps. */
static void q4_1_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q4_1 *y = vy;
    for (int64_t b = 0; b < n / QK4_1; b++, x += QK4_1) {
        float lo, hi;
        min_max(x, QK4_1, &lo, &hi);
        const float d = (hi - lo) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = gl_fp32_to_fp16(d);
        y[b].m = gl_fp32_to_fp16(lo);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = clampi(nearest((x[j] - lo) * id), 0, 15);
            int q1 = clampi(nearest((x[j + QK4_1 / 2] - lo) * id), 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* q4_1 . q8_1 (ggml's AVX2 kernel): lanes scaled by dx*dy into eight
 * accumulators; the offset term mx*sy (sy = dy * sum(qy), stored) summed
 * separately in block order and added after the fold. (mx*sy, a product of
 * two halves, is exact: fused into the sum or not, the bits are the same.) */
static void q4_1_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = { 0 }, summs = 0.0f;
    int8_t q[32];
    for (int b = 0; b < n / QK4_1; b++) {
        int32_t lane[8] = { 0 };
        unpack_q4(q, x[b].qs, 0);
        chunk_lanes(lane, q, y[b].qs, 1, 1);
        scale_lanes(acc, lane, h2f(x[b].d) * h2f(y[b].d));
        summs += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = gl_hsum8(acc) + summs;
}

static void q5_0_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q5_0 *x = vx;
    for (int64_t b = 0; b < n / QK5_0; b++, y += QK5_0) {
        const float d = h2f(x[b].d);
        const uint32_t qh = load_u32le(x[b].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4;
            y[j] = (q0 - 16) * d;
            y[j + QK5_0 / 2] = (q1 - 16) * d;
        }
    }
}

static void q5_0_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q5_0 *y = vy;
    for (int64_t b = 0; b < n / QK5_0; b++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = gl_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = clampi(nearest(x[j] * id) + 16, 0, 31);
            int q1 = clampi(nearest(x[j + QK5_0 / 2] * id) + 16, 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_u32le(y[b].qh, qh);
    }
}

/* q5_0 . q8_0 (ggml's AVX2 kernel): lanes of (q - 16) * qy scaled by dx*dy. */
static void q5_0_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = { 0 };
    int8_t q[32];
    for (int b = 0; b < n / QK5_0; b++) {
        int32_t lane[8] = { 0 };
        unpack_q5(q, x[b].qs, x[b].qh, 16);
        chunk_lanes(lane, q, y[b].qs, 1, 1);
        scale_lanes(acc, lane, h2f(x[b].d) * h2f(y[b].d));
    }
    *s = gl_hsum8(acc);
}

static void q5_1_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q5_1 *x = vx;
    for (int64_t b = 0; b < n / QK5_1; b++, y += QK5_1) {
        const float d = h2f(x[b].d), m = h2f(x[b].m);
        const uint32_t qh = load_u32le(x[b].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4;
            y[j] = q0 * d + m;
            y[j + QK5_1 / 2] = q1 * d + m;
        }
    }
}

static void q5_1_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q5_1 *y = vy;
    for (int64_t b = 0; b < n / QK5_1; b++, x += QK5_1) {
        float lo, hi;
        min_max(x, QK5_1, &lo, &hi);
        const float d = (hi - lo) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = gl_fp32_to_fp16(d);
        y[b].m = gl_fp32_to_fp16(lo);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = clampi(nearest((x[j] - lo) * id), 0, 31);
            int q1 = clampi(nearest((x[j + QK5_1 / 2] - lo) * id), 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_u32le(y[b].qh, qh);
    }
}

/* q5_1 . q8_1: as q4_1 with five-bit values. */
static void q5_1_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = { 0 }, summs = 0.0f;
    int8_t q[32];
    for (int b = 0; b < n / QK5_1; b++) {
        int32_t lane[8] = { 0 };
        unpack_q5(q, x[b].qs, x[b].qh, 0);
        chunk_lanes(lane, q, y[b].qs, 1, 1);
        scale_lanes(acc, lane, h2f(x[b].d) * h2f(y[b].d));
        summs += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = gl_hsum8(acc) + summs;
}

/* ------------------------------------------------------------------ q8_0, q8_1 */

static void q8_0_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK8_0; b++, y += QK8_0) {
        const float d = h2f(x[b].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = x[b].qs[j] * d;
    }
}

/* The block maximum of |x| and the x86 multiplier 127/amax. ggml's portable
 * quantize_row_q8_0_ref computes 1/d and uses roundf (ties away from zero);
 * the AVX2/AVX-512 build that produced the reference outputs instead multiplies
 * by 127.f/amax and rounds to nearest even. We mirror the x86 behaviour; d itself
 * (amax/127.f, then f16) is the same in both. */
static float q8_block_scale(const float *x, float *id)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    *id = amax != 0.0f ? 127.0f / amax : 0.0f;
    return amax / 127.0f;
}

static void q8_0_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        float id;
        const float d = q8_block_scale(x, &id);
        y[b].d = gl_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++)
            y[b].qs[j] = round_i8_sat(x[j] * id);
    }
}

/* q8_0 . q8_0: lanes scaled by dx*dy (ggml's AVX2 kernel; llamafile's tinyBLAS,
 * which takes the reference's batched products, sums the same way). */
static void q8_0_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q8_0 *x = vx, *y = vy;
    float acc[8] = { 0 };
    for (int b = 0; b < n / QK8_0; b++) {
        int32_t lane[8] = { 0 };
        chunk_lanes(lane, x[b].qs, y[b].qs, 1, 1);
        scale_lanes(acc, lane, h2f(x[b].d) * h2f(y[b].d));
    }
    *s = gl_hsum8(acc);
}

/* Q8_1 exists only as an activation format, so this just exposes d*q. */
static void q8_1_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q8_1 *x = vx;
    for (int64_t b = 0; b < n / QK8_1; b++, y += QK8_1) {
        const float d = h2f(x[b].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = x[b].qs[j] * d;
    }
}

/* As q8_0 (x86 path), plus s = f16(d * (float)sum of the quants), where d is
 * the f32 scale before its rounding to f16 - that is what the AVX2 code does. */
static void q8_1_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        float id;
        const float d = q8_block_scale(x, &id);
        int sum = 0;
        y[b].d = gl_fp32_to_fp16(d);
        for (int j = 0; j < QK8_1; j++) {
            y[b].qs[j] = round_i8_sat(x[j] * id);
            sum += y[b].qs[j];
        }
        y[b].s = gl_fp32_to_fp16(d * (float)sum);
    }
}

/* ------------------------------------------------------------------ K-quant helpers */

/* Least-squares fit of x[i] ~ scale*L[i] - mn with L in 0..nmax and mn >= 0
 * (the K-quants subtract a non-negative minimum). Several grids between the
 * block's min and max are tried; for each, scale and offset are refitted by
 * least squares and the one with the smallest squared error wins.
 * n <= 32. Returns the scale, stores mn. */
static float fit_affine(const float *x, int n, int nmax, uint8_t *L, float *mn)
{
    float lo, hi;
    min_max(x, n, &lo, &hi);
    if (lo > 0.0f)
        lo = 0.0f;              /* the offset can only pull values down */
    if (!(hi > lo)) {
        memset(L, 0, (size_t)n);
        *mn = -lo;
        return 0.0f;
    }
    /* start from the plain grid: lo .. hi in nmax steps */
    float best_s = (hi - lo) / nmax, best_b = lo;
    double best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest((x[i] - lo) / best_s), 0, nmax);
        double e = (double)best_s * L[i] + lo - x[i];
        best_err += e * e;
    }
    uint8_t cand[32];
    for (int step = -6; step <= 8; step++) {
        const float iscale = (nmax + 0.1f * step) / (hi - lo);
        double sl = 0, sl2 = 0, sx = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * (x[i] - lo)), 0, nmax);
            cand[i] = (uint8_t)l;
            sl += l;
            sl2 += (double)l * l;
            sx += x[i];
            sxl += (double)l * x[i];
        }
        double det = n * sl2 - sl * sl, s, b;
        if (det > 0) {
            s = (n * sxl - sx * sl) / det;
            b = (sl2 * sx - sl * sxl) / det;
            if (b > 0) {        /* offset must stay <= 0: refit the scale alone */
                b = 0;
                s = sxl / sl2;
            }
        } else {
            s = 1.0 / iscale;
            b = lo;
        }
        if (!(s >= 0))
            continue;
        double err = 0;
        for (int i = 0; i < n; i++) {
            double e = s * cand[i] + b - x[i];
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_s = (float)s;
            best_b = (float)b;
            memcpy(L, cand, (size_t)n);
        }
    }
    *mn = -best_b;
    return best_s;
}

/* Least-squares fit of x[i] ~ scale*L[i] with L in -nneg..nneg-1. The value of
 * largest magnitude goes to the -nneg end (the longer side); the scale is
 * negative when that value is positive. n <= 32. Returns the scale. */
static float fit_symmetric(const float *x, int n, int nneg)
{
    const float xm = signed_absmax(x, n);
    if (fabsf(xm) < 1e-30f)
        return 0.0f;
    double best_err = INFINITY;
    float best_s = xm / -nneg;
    for (int step = -6; step <= 6; step++) {
        const float iscale = -(nneg + 0.1f * step) / xm;
        double slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * x[i]), -nneg, nneg - 1);
            slx += (double)l * x[i];
            sl2 += (double)l * l;
        }
        if (sl2 <= 0)
            continue;
        /* error = sum x^2 - slx^2/sl2: maximise slx^2/sl2 */
        double err = -slx * slx / sl2;
        if (err < best_err) {
            best_err = err;
            best_s = (float)(slx / sl2);
        }
    }
    return best_s;
}

static void k4_pack_scales(uint8_t *q, const int *sc, const int *m)
{
    memset(q, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] |= (uint8_t)sc[j];
            q[j + 4] |= (uint8_t)m[j];
        } else {
            q[j + 4] = (uint8_t)((sc[j] & 0x0f) | (m[j] & 0x0f) << 4);
            q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            q[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

static void q3k_pack_scales(uint8_t *q, const int *biased)
{
    memset(q, 0, 12);
    for (int j = 0; j < 16; j++) {
        int v = biased[j];
        if (j < 8)
            q[j] |= (uint8_t)(v & 0x0f);
        else
            q[j - 8] |= (uint8_t)((v & 0x0f) << 4);
        q[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
    }
}

/* Super-block scale for a set of non-negative sub-block values quantized to
 * 0..nq: returns the f16 super scale and fills the integer levels. */
static gl_fp16 quantize_unsigned_scales(const float *v, int count, int nq, int *lv)
{
    float vmax = 0.0f;
    for (int j = 0; j < count; j++)
        vmax = v[j] > vmax ? v[j] : vmax;
    if (!(vmax > 0.0f)) {
        memset(lv, 0, (size_t)count * sizeof *lv);
        return 0;
    }
    const float iscale = nq / vmax;
    for (int j = 0; j < count; j++)
        lv[j] = clampi(nearest(iscale * v[j]), 0, nq);
    return gl_fp32_to_fp16(vmax / nq);
}

/* ------------------------------------------------------------------ q2_K */

/* Element e of a q2_K/q3_K super-block: byte e/128*32 + e%32, bits 2*((e%128)/32). */

static void q2_K_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q2_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = h2f(x[b].d), dmin = h2f(x[b].dmin);
        for (int e = 0; e < QK_K; e++) {
            const uint8_t sc = x[b].scales[e / 16];
            const float dl = d * (sc & 0x0f), ml = dmin * (sc >> 4);
            const int q = (x[b].qs[e / 128 * 32 + e % 32] >> (2 * (e % 128 / 32))) & 3;
            *y++ = dl * q - ml;
        }
    }
}

static void q2_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q2_K *y = vy;
    uint8_t L[QK_K];
    float scales[16], mins[16];
    int ls[16], lm[16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        for (int j = 0; j < 16; j++)
            scales[j] = fit_affine(x + 16 * j, 16, 3, L + 16 * j, &mins[j]);
        y[b].d = quantize_unsigned_scales(scales, 16, 15, ls);
        y[b].dmin = quantize_unsigned_scales(mins, 16, 15, lm);
        const float d = gl_fp16_to_fp32(y[b].d), dmin = gl_fp16_to_fp32(y[b].dmin);
        for (int j = 0; j < 16; j++) {
            y[b].scales[j] = (uint8_t)(ls[j] | lm[j] << 4);
            /* requantize against the scales as they will be decoded */
            const float dl = d * ls[j], ml = dmin * lm[j];
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = dl > 0.0f ? (uint8_t)clampi(nearest((x[16 * j + i] + ml) / dl), 0, 3) : 0;
        }
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QK_K; e++)
            y[b].qs[e / 128 * 32 + e % 32] |= (uint8_t)(L[e] << (2 * (e % 128 / 32)));
    }
}

/* q2_K . q8_K (ggml's AVX2 kernel). Per super-block: the min terms first, as
 * eight lanes prod[k] = m[2k]*bsum[2k] + m[2k+1]*bsum[2k+1] scaled by
 * dmin = -dy*dmin_x into the same accumulators, then the lanes of the 2-bit
 * values (4-bit scale per 16) scaled by d = dy*dx. */
static void q2_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = { 0 };
    int8_t q[32];
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *sc = x[b].scales;
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        int32_t prod[8];
        for (int k = 0; k < 8; k++)
            prod[k] = (sc[2 * k] >> 4) * y[b].bsums[2 * k] + (sc[2 * k + 1] >> 4) * y[b].bsums[2 * k + 1];
        scale_lanes(acc, prod, dmin);
        int32_t lane[8] = { 0 };
        for (int c = 0; c < 8; c++) {   /* chunk c: bits 2*(c%4) of qs[c/4*32 ..] */
            for (int i = 0; i < 32; i++)
                q[i] = (int8_t)((x[b].qs[c / 4 * 32 + i] >> (2 * (c % 4))) & 3);
            chunk_lanes(lane, q, y[b].qs + 32 * c, sc[2 * c] & 0x0f, sc[2 * c + 1] & 0x0f);
        }
        scale_lanes(acc, lane, d);
    }
    *s = gl_hsum8(acc);
}

/* ------------------------------------------------------------------ q3_K */

static inline int q3_K_quant(const block_q3_K *x, int e)
{
    const int lo = (x->qs[e / 128 * 32 + e % 32] >> (2 * (e % 128 / 32))) & 3;
    const int hi = (x->hmask[e % 32] >> (e / 32)) & 1;
    return lo - (hi ? 0 : 4);
}

static void q3_K_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q3_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d_all = h2f(x[b].d);
        for (int j = 0; j < 16; j++) {
            const float dl = d_all * (q3k_scale(x[b].scales, j) - 32);
            for (int e = 16 * j; e < 16 * j + 16; e++)
                *y++ = dl * q3_K_quant(&x[b], e);
        }
    }
}

static void q3_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q3_K *y = vy;
    float scales[16];
    int biased[16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        for (int j = 0; j < 16; j++)
            scales[j] = fit_symmetric(x + 16 * j, 16, 4);
        const float smax = signed_absmax(scales, 16);
        if (smax != 0.0f) {
            /* the largest sub-block scale goes to -32, the longer side of 6 signed bits */
            const float iscale = -32.0f / smax;
            for (int j = 0; j < 16; j++)
                biased[j] = clampi(nearest(iscale * scales[j]), -32, 31) + 32;
            y[b].d = gl_fp32_to_fp16(1.0f / iscale);
        } else {
            for (int j = 0; j < 16; j++)
                biased[j] = 32;
            y[b].d = 0;
        }
        q3k_pack_scales(y[b].scales, biased);
        memset(y[b].qs, 0, sizeof y[b].qs);
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        const float d = gl_fp16_to_fp32(y[b].d);
        for (int e = 0; e < QK_K; e++) {
            const float dl = d * (biased[e / 16] - 32);
            const int l = dl != 0.0f ? clampi(nearest(x[e] / dl), -4, 3) + 4 : 4;
            y[b].qs[e / 128 * 32 + e % 32] |= (uint8_t)((l & 3) << (2 * (e % 128 / 32)));
            if (l > 3)
                y[b].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
    }
}

/* q3_K . q8_K (ggml's AVX2 kernel): lanes with the 6-bit scales per 16,
 * scaled by d = dy*dx once per super-block. */
static void q3_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = { 0 };
    int8_t q[32];
    for (int b = 0; b < n / QK_K; b++) {
        int32_t lane[8] = { 0 };
        for (int c = 0; c < 8; c++) {
            for (int i = 0; i < 32; i++)
                q[i] = (int8_t)q3_K_quant(&x[b], 32 * c + i);
            chunk_lanes(lane, q, y[b].qs + 32 * c, q3k_scale(x[b].scales, 2 * c) - 32,
                        q3k_scale(x[b].scales, 2 * c + 1) - 32);
        }
        scale_lanes(acc, lane, y[b].d * h2f(x[b].d));
    }
    *s = gl_hsum8(acc);
}

/* ------------------------------------------------------------------ q4_K, q5_K */

/* Element e of a q4_K/q5_K super-block: low 4 bits in qs[e/64*32 + e%32],
 * low nibble when (e/32) is even, high nibble when odd. */
static inline int q4_K_nibble(const uint8_t *qs, int e)
{
    const uint8_t v = qs[e / 64 * 32 + e % 32];
    return (e / 32) & 1 ? v >> 4 : v & 0x0f;
}

static void q4_K_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q4_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = h2f(x[b].d), min = h2f(x[b].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(x[b].scales, j, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            for (int e = 32 * j; e < 32 * j + 32; e++)
                *y++ = d1 * q4_K_nibble(x[b].qs, e) - m1;
        }
    }
}

/* Shared by q4_K (nmax 15) and q5_K (nmax 31): fit the 8 sub-blocks, quantize
 * their scales and mins to 6 bits, requantize against the decoded scales. */
static void k45_quantize(const float *x, int nmax, gl_fp16 *dd, gl_fp16 *dmin, uint8_t *scales, uint8_t *L)
{
    float sc[8], mn[8];
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++)
        sc[j] = fit_affine(x + 32 * j, 32, nmax, L + 32 * j, &mn[j]);
    *dd = quantize_unsigned_scales(sc, 8, 63, ls);
    *dmin = quantize_unsigned_scales(mn, 8, 63, lm);
    k4_pack_scales(scales, ls, lm);
    const float d = gl_fp16_to_fp32(*dd), dm = gl_fp16_to_fp32(*dmin);
    for (int j = 0; j < 8; j++) {
        const float dl = d * ls[j], ml = dm * lm[j];
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = dl > 0.0f ? (uint8_t)clampi(nearest((x[32 * j + i] + ml) / dl), 0, nmax) : 0;
    }
}

static void q4_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        k45_quantize(x, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QK_K; e++)
            y[b].qs[e / 64 * 32 + e % 32] |= (uint8_t)(L[e] << ((e / 32) & 1 ? 4 : 0));
    }
}

/* Lanes of one q4_K/q5_K super-block (values q[256]), one scale per 32. */
static void k45_lanes(const int8_t *q, const block_q8_K *y, const int *sc, int32_t lane[8])
{
    for (int c = 0; c < 8; c++)
        chunk_lanes(lane, q + 32 * c, y->qs + 32 * c, sc[c], sc[c]);
}

/* q4_K . q8_K (ggml's AVX2 kernel): lanes scaled by d = dy*dx into eight
 * accumulators; the min term in four more, am[k] = fma(dmin, prod[k], am[k])
 * with dmin = -dy*dmin_x, folded as (am0 + am2) + (am1 + am3) and added last. */
static void q4_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = { 0 }, am[4] = { 0 };
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++) {
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            k4_scale_min(x[b].scales, j, &sc[j], &m[j]);
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        int32_t prod[4];
        k45_min_lanes(&y[b], m, prod);
        for (int k = 0; k < 4; k++)
            am[k] = fmaf(dmin, (float)prod[k], am[k]);
        for (int e = 0; e < QK_K; e++)
            q[e] = (int8_t)q4_K_nibble(x[b].qs, e);
        int32_t lane[8] = { 0 };
        k45_lanes(q, &y[b], sc, lane);
        scale_lanes(acc, lane, d);
    }
    *s = gl_hsum8(acc) + ((am[0] + am[2]) + (am[1] + am[3]));
}



static inline int q5_K_quant(const block_q5_K *x, int e)
{
    return q4_K_nibble(x->qs, e) + ((x->qh[e % 32] >> (e / 32)) & 1) * 16;
}

static void q5_K_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q5_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = h2f(x[b].d), min = h2f(x[b].dmin);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(x[b].scales, j, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            for (int e = 32 * j; e < 32 * j + 32; e++)
                *y++ = d1 * q5_K_quant(&x[b], e) - m1;
        }
    }
}

static void q5_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        k45_quantize(x, 31, &y[b].d, &y[b].dmin, y[b].scales, L);
        memset(y[b].qs, 0, sizeof y[b].qs);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int e = 0; e < QK_K; e++) {
            y[b].qs[e / 64 * 32 + e % 32] |= (uint8_t)((L[e] & 0x0f) << ((e / 32) & 1 ? 4 : 0));
            if (L[e] > 15)
                y[b].qh[e % 32] |= (uint8_t)(1u << (e / 32));
        }
    }
}

/* q5_K . q8_K (ggml's AVX2 kernel): lanes as q4_K; the min term summed to one
 * integer per super-block and accumulated apart, summs += dmin * sum, added
 * after the fold. */
static void q5_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = { 0 }, summs = 0.0f;
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++) {
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            k4_scale_min(x[b].scales, j, &sc[j], &m[j]);
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        int32_t prod[4];
        k45_min_lanes(&y[b], m, prod);
        summs += dmin * (float)(prod[0] + prod[1] + prod[2] + prod[3]);
        for (int e = 0; e < QK_K; e++)
            q[e] = (int8_t)q5_K_quant(&x[b], e);
        int32_t lane[8] = { 0 };
        k45_lanes(q, &y[b], sc, lane);
        scale_lanes(acc, lane, d);
    }
    *s = gl_hsum8(acc) + summs;
}

/* ------------------------------------------------------------------ q6_K */

/* Element e of a q6_K super-block, with h = e/128, k = (e%128)/32, l = e%32:
 * low 4 bits in ql[h*64 + (k&1)*32 + l] (low nibble for k < 2, high for k >= 2),
 * high 2 bits in qh[h*32 + l] at bit 2k. Stored biased by 32. */
static inline int q6_K_quant(const block_q6_K *x, int e)
{
    const int h = e / 128, k = e % 128 / 32, l = e % 32;
    const uint8_t v = x->ql[h * 64 + (k & 1) * 32 + l];
    const int lo = k < 2 ? v & 0x0f : v >> 4;
    const int hi = (x->qh[h * 32 + l] >> (2 * k)) & 3;
    return (lo | hi << 4) - 32;
}

static void q6_K_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q6_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = h2f(x[b].d);
        for (int e = 0; e < QK_K; e++)
            *y++ = d * x[b].scales[e / 16] * q6_K_quant(&x[b], e);
    }
}

static void q6_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q6_K *y = vy;
    float scales[16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        for (int j = 0; j < 16; j++)
            scales[j] = fit_symmetric(x + 16 * j, 16, 32);
        const float smax = signed_absmax(scales, 16);
        memset(&y[b], 0, sizeof y[b]);
        if (smax == 0.0f)
            continue;           /* all zero: d = 0 and zero scales decode to 0 */
        const float iscale = -128.0f / smax;
        y[b].d = gl_fp32_to_fp16(1.0f / iscale);
        for (int j = 0; j < 16; j++)
            y[b].scales[j] = (int8_t)clampi(nearest(iscale * scales[j]), -128, 127);
        const float d = gl_fp16_to_fp32(y[b].d);
        for (int e = 0; e < QK_K; e++) {
            const float dl = d * y[b].scales[e / 16];
            const int l = dl != 0.0f ? clampi(nearest(x[e] / dl), -32, 31) + 32 : 32;
            const int h = e / 128, k = e % 128 / 32, i = e % 32;
            y[b].ql[h * 64 + (k & 1) * 32 + i] |= (uint8_t)((l & 0x0f) << (k < 2 ? 0 : 4));
            y[b].qh[h * 32 + i] |= (uint8_t)((l >> 4) << (2 * k));
        }
    }
}

/* q6_K . q8_K (ggml's AVX2 kernel): lanes with the signed 8-bit scales per 16,
 * scaled by d = dy*dx once per super-block. */
static void q6_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = { 0 };
    int8_t q[32];
    for (int b = 0; b < n / QK_K; b++) {
        int32_t lane[8] = { 0 };
        for (int c = 0; c < 8; c++) {
            for (int i = 0; i < 32; i++)
                q[i] = (int8_t)q6_K_quant(&x[b], 32 * c + i);
            chunk_lanes(lane, q, y[b].qs + 32 * c, x[b].scales[2 * c], x[b].scales[2 * c + 1]);
        }
        scale_lanes(acc, lane, y[b].d * h2f(x[b].d));
    }
    *s = gl_hsum8(acc);
}

/* ------------------------------------------------------------------ q8_K */

static void q8_K_to_float(const void *restrict vx, float *restrict y, int64_t n)
{
    const block_q8_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++)
        for (int j = 0; j < QK_K; j++)
            *y++ = x[b].d * x[b].qs[j];
}

/* On x86 ggml's quantize_row_q8_K is quantize_row_q8_K_ref: find the value of
 * largest magnitude with its sign (the first one on ties), iscale = -127.f/max,
 * q = nearest_int(iscale*x) capped at 127, d = 1/iscale, bsums per 16.
 * nearest_int rounds a float to nearest even (the 1.5*2^23 trick), which is
 * rintf() of the rounded product. (A GCC build with FMA may fuse that product
 * into the magic addition; that changes a quant only when the product lands on
 * an exact .5 after rounding - a few times per million values.) */
static void q8_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float max = signed_absmax(x, QK_K);
        if (max == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++)
            y[b].qs[j] = round_i8_sat(iscale * x[j]);
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++)
                sum += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------------ traits */

/* Not const: gl_quant_init() and gl_quant_set_kernels() swap kernel sets in. */
static struct gl_type_traits traits[GL_TYPE_COUNT] = {
    [GL_TYPE_F32] = { "f32", 1, sizeof(float), false,
                      f32_to_float, f32_from_float, GL_TYPE_F32, f32_vec_dot },
    [GL_TYPE_F16] = { "f16", 1, sizeof(gl_fp16), false,
                      f16_to_float, f16_from_float, GL_TYPE_F16, f16_vec_dot },
    [GL_TYPE_BF16] = { "bf16", 1, sizeof(gl_bf16), false,
                       bf16_to_float, bf16_from_float, GL_TYPE_BF16, bf16_vec_dot },
    [GL_TYPE_Q4_0] = { "q4_0", QK4_0, sizeof(block_q4_0), true,
                       q4_0_to_float, q4_0_from_float, GL_TYPE_Q8_0, q4_0_vec_dot },
    [GL_TYPE_Q4_1] = { "q4_1", QK4_1, sizeof(block_q4_1), true,
                       q4_1_to_float, q4_1_from_float, GL_TYPE_Q8_1, q4_1_vec_dot },
    [GL_TYPE_Q5_0] = { "q5_0", QK5_0, sizeof(block_q5_0), true,
                       q5_0_to_float, q5_0_from_float, GL_TYPE_Q8_0, q5_0_vec_dot },
    [GL_TYPE_Q5_1] = { "q5_1", QK5_1, sizeof(block_q5_1), true,
                       q5_1_to_float, q5_1_from_float, GL_TYPE_Q8_1, q5_1_vec_dot },
    [GL_TYPE_Q8_0] = { "q8_0", QK8_0, sizeof(block_q8_0), true,
                       q8_0_to_float, q8_0_from_float, GL_TYPE_Q8_0, q8_0_vec_dot },
    [GL_TYPE_Q8_1] = { "q8_1", QK8_1, sizeof(block_q8_1), true,
                       q8_1_to_float, q8_1_from_float, GL_TYPE_Q8_1, NULL },
    [GL_TYPE_Q2_K] = { "q2_K", QK_K, sizeof(block_q2_K), true,
                       q2_K_to_float, q2_K_from_float, GL_TYPE_Q8_K, q2_K_vec_dot },
    [GL_TYPE_Q3_K] = { "q3_K", QK_K, sizeof(block_q3_K), true,
                       q3_K_to_float, q3_K_from_float, GL_TYPE_Q8_K, q3_K_vec_dot },
    [GL_TYPE_Q4_K] = { "q4_K", QK_K, sizeof(block_q4_K), true,
                       q4_K_to_float, q4_K_from_float, GL_TYPE_Q8_K, q4_K_vec_dot },
    [GL_TYPE_Q5_K] = { "q5_K", QK_K, sizeof(block_q5_K), true,
                       q5_K_to_float, q5_K_from_float, GL_TYPE_Q8_K, q5_K_vec_dot },
    [GL_TYPE_Q6_K] = { "q6_K", QK_K, sizeof(block_q6_K), true,
                       q6_K_to_float, q6_K_from_float, GL_TYPE_Q8_K, q6_K_vec_dot },
    [GL_TYPE_Q8_K] = { "q8_K", QK_K, sizeof(block_q8_K), true,
                       q8_K_to_float, q8_K_from_float, GL_TYPE_Q8_K, NULL },
};

/* GGUF type numbers we can name but not compute with, so a loader can say
 * "type iq2_xxs is not supported". 4 and 5 (q4_2, q4_3) were removed from
 * ggml long ago and are treated as unknown. */
static const char *const other_names[GL_TYPE_COUNT] = {
    [16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s",
    [20] = "iq4_nl", [21] = "iq3_s", [22] = "iq2_s", [23] = "iq4_xs",
    [24] = "i8", [25] = "i16", [26] = "i32", [27] = "i64", [28] = "f64",
    [29] = "iq1_m",
    [31] = "q4_0_4x4", [32] = "q4_0_4x8", [33] = "q4_0_8x8",
    [34] = "tq1_0", [35] = "tq2_0",
    [36] = "iq4_nl_4x4", [37] = "iq4_nl_4x8", [38] = "iq4_nl_8x8",
    [39] = "mxfp4",
};

/* ------------------------------------------------------------------ kernel sets */

/* The scalar kernels, saved from the table above before any SIMD set
 * replaces them. */
static struct gl_quant_kernels scalar_kernels;

static pthread_once_t quant_once = PTHREAD_ONCE_INIT;
static const char *kernel_set = "scalar";

/* Point the traits at k's kernels, the scalar ones where k has none. */
static gl_gemm_fn gemm_table[GL_TYPE_COUNT];

static void install_kernels(const struct gl_quant_kernels *k)
{
    for (int t = 0; t < GL_TYPE_COUNT; t++) {
        gemm_table[t] = k ? k->gemm[t] : NULL;
        if (!traits[t].name)
            continue;
        traits[t].vec_dot = k && k->vec_dot[t] ? k->vec_dot[t] : scalar_kernels.vec_dot[t];
        traits[t].from_float = k && k->from_float[t] ? k->from_float[t] : scalar_kernels.from_float[t];
    }
}

/* Switch to the named set; -1 when unknown or not runnable here. "avx512"
 * is the AVX2 set with 512-bit q4_K/q6_K dot and batched products (VNNI);
 * on a CPU with AVX-512F but without VNNI it runs the AVX2 set and says so.
 * "neon" is AArch64's (dot-product extension). The reference's summation
 * order is the same in every set. */
static int select_kernels(const char *name)
{
    if (strcmp(name, "scalar") == 0) {
        install_kernels(NULL);
        kernel_set = "scalar";
        return 0;
    }
    const bool avx512 = strcmp(name, "avx512") == 0;
    if (strcmp(name, "avx2") == 0 || avx512) {
        if (!gl_quant_x86_has_avx2() || (avx512 && !gl_quant_x86_has_avx512()))
            return -1;
        struct gl_quant_kernels k;
        memset(&k, 0, sizeof k);
        if (avx512 && gl_quant_x86_has_avx512vnni()) {
            gl_quant_x86_avx512(&k);
            kernel_set = "avx512";
        } else {
            gl_quant_x86_avx2(&k);
            kernel_set = "avx2";
        }
        install_kernels(&k);
        return 0;
    }
    if (strcmp(name, "neon") == 0 && gl_quant_neon_has()) {
        struct gl_quant_kernels k;
        memset(&k, 0, sizeof k);
        gl_quant_neon(&k);
        install_kernels(&k);
        kernel_set = "neon";
        return 0;
    }
    return -1;
}

static void quant_init_once(void)
{
    for (uint32_t h = 0; h < (1u << 16); h++)
        fp16_table[h] = gl_fp16_to_fp32((gl_fp16)h);
    for (int t = 0; t < GL_TYPE_COUNT; t++) {
        scalar_kernels.vec_dot[t] = traits[t].vec_dot;
        scalar_kernels.from_float[t] = traits[t].from_float;
    }

    /* GLIMPSE_KERNELS forces a set by name; an unknown or unusable name falls
     * back to the best usable set (we cannot report it from here: the library
     * never prints, and gl_quant_kernels() tells what was chosen). */
    const char *want = getenv("GLIMPSE_KERNELS");
    if (want && select_kernels(want) == 0)
        return;
    if (select_kernels("avx512") != 0 && select_kernels("avx2") != 0 && select_kernels("neon") != 0)
        select_kernels("scalar");
}

void gl_quant_init(void)
{
    pthread_once(&quant_once, quant_init_once);
}

const char *gl_quant_kernels(void)
{
    gl_quant_init();
    return kernel_set;
}

int gl_quant_set_kernels(const char *name)
{
    gl_quant_init();
    return name ? select_kernels(name) : -1;
}

gl_gemm_fn gl_quant_gemm(int type)
{
    gl_quant_init();
    return type >= 0 && type < GL_TYPE_COUNT ? gemm_table[type] : NULL;
}

const struct gl_type_traits *gl_type_traits(int type)
{
    if (type < 0 || type >= GL_TYPE_COUNT || !traits[type].name)
        return NULL;
    gl_quant_init();
    return &traits[type];
}

const char *gl_type_name(int type)
{
    if (type < 0 || type >= GL_TYPE_COUNT)
        return NULL;
    return traits[type].name ? traits[type].name : other_names[type];
}

/* 0 for an unsupported type, a negative n or one that is not a whole number
 * of blocks (callers check the GGUF shapes before they get here). */
size_t gl_row_size(int type, int64_t n)
{
    const struct gl_type_traits *t = gl_type_traits(type);
    if (!t || n < 0 || n % t->blck_size != 0)
        return 0;
    return (size_t)(n / t->blck_size) * t->type_size;
}
