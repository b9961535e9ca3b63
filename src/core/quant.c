/*
 * quant.c - tensor element formats: half/bfloat16 conversions, ggml's block
 * quantizations (layouts, dequantization, reference quantizers, scalar dot
 * products) and the type-traits table that generic code goes through.
 *
 * What must agree with the reference implementation (llama.cpp, Feb 2025, x86-64
 * with AVX2/AVX-512), and how closely:
 *   - block layouts: byte for byte (they are read straight out of GGUF files);
 *   - dequantization (to_float): bit for bit, same float operations in the same
 *     order as ggml's dequantize_row_* (compiled without FMA contraction);
 *   - activation quantizers (Q8_0, Q8_1, Q8_K, F16, BF16): bit for bit with what
 *     the x86 build computes, because greedy decoding is compared token by token;
 *   - dot products: integer sums inside a block, then float scaling in the order
 *     of ggml's generic kernels, so results track the reference to rounding noise;
 *   - weight quantizers (Q4_0 .. Q6_K): our own simple algorithms. Only tests and
 *     synthetic benchmark weights use them; real weights come from GGUF files.
 *
 * Nothing here allocates; the only global state is the f16 -> f32 table built
 * once by gl_quant_init().
 */
#include "config.h"

#include "glimpse/quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ block layouts */
/* Exact ggml layouts (ggml-common.h). Every field is a byte array or a 16/32-bit
 * scalar at its natural alignment, so there is no padding; the asserts prove it. */

#define QK4_0 32
typedef struct {
    gl_fp16 d;                  /* scale */
    uint8_t qs[QK4_0 / 2];      /* element j in the low nibble of qs[j], j+16 in the high one */
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

#define QK4_1 32
typedef struct {
    gl_fp16 d;                  /* scale */
    gl_fp16 m;                  /* offset (the block minimum) */
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

#define QK5_0 32
typedef struct {
    gl_fp16 d;
    uint8_t qh[4];              /* fifth bit of element j is bit j of this little-endian word */
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

#define QK5_1 32
typedef struct {
    gl_fp16 d;
    gl_fp16 m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

#define QK8_0 32
typedef struct {
    gl_fp16 d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

#define QK8_1 32
typedef struct {
    gl_fp16 d;
    gl_fp16 s;                  /* d * sum(qs), used by the q4_1/q5_1 dot products */
    int8_t qs[QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

#define QK_K GL_QK_K
#define K_SCALE_SIZE 12

/* 16 sub-blocks of 16: x = d*sc*q - dmin*m, q in 0..3, sc and m 4 bits each. */
typedef struct {
    uint8_t scales[QK_K / 16];  /* low nibble: scale, high nibble: min */
    uint8_t qs[QK_K / 4];       /* 2-bit quants, see q2_index() */
    gl_fp16 d;
    gl_fp16 dmin;
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* 16 sub-blocks of 16: x = d*(sc-32)*q, q in -4..3, sc 6 bits. */
typedef struct {
    uint8_t hmask[QK_K / 8];    /* high bit; set means "no -4" */
    uint8_t qs[QK_K / 4];       /* low 2 bits, same arrangement as q2_K */
    uint8_t scales[12];         /* 16 six-bit scales, see q3k_scale() */
    gl_fp16 d;
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* 8 sub-blocks of 32: x = d*sc*q - dmin*m, q in 0..15, sc and m 6 bits. */
typedef struct {
    gl_fp16 d;
    gl_fp16 dmin;
    uint8_t scales[K_SCALE_SIZE]; /* see k4_scale_min() */
    uint8_t qs[QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

/* As q4_K with a fifth bit: q in 0..31. */
typedef struct {
    gl_fp16 d;
    gl_fp16 dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];       /* element e: bit e/32 of qh[e%32] */
    uint8_t qs[QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 16 sub-blocks of 16: x = d*sc*q, q in -32..31, sc a signed byte. */
typedef struct {
    uint8_t ql[QK_K / 2];       /* low 4 bits, see q6_index() */
    uint8_t qh[QK_K / 4];       /* high 2 bits */
    int8_t scales[QK_K / 16];
    gl_fp16 d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Activations for the K-quant dot products: x = d*q. */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];   /* sums of 16 consecutive quants */
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

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

static void f16_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const gl_fp16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
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

/* q4_0 . q8_0: sumi * dx * dy per block, as ggml's generic kernel. */
static void q4_0_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK4_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j];
            sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK4_0 / 2];
        }
        sum += sumi * h2f(x[b].d) * h2f(y[b].d);
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

/* q4_1 . q8_1: (dx*dy)*sumi + mx*sy, where sy = dy * sum(qy) carries the offset term. */
static void q4_1_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK4_1; b++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (x[b].qs[j] & 0x0f) * y[b].qs[j];
            sumi += (x[b].qs[j] >> 4) * y[b].qs[j + QK4_1 / 2];
        }
        sum += (h2f(x[b].d) * h2f(y[b].d)) * sumi + h2f(x[b].m) * h2f(y[b].s);
    }
    *s = sum;
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

static void q5_0_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK5_0; b++) {
        const uint32_t qh = load_u32le(x[b].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = ((x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4) - 16;
            int q1 = ((x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4) - 16;
            sumi += q0 * y[b].qs[j] + q1 * y[b].qs[j + QK5_0 / 2];
        }
        sum += (h2f(x[b].d) * h2f(y[b].d)) * sumi;
    }
    *s = sum;
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

static void q5_1_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK5_1; b++) {
        const uint32_t qh = load_u32le(x[b].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int q1 = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4;
            sumi += q0 * y[b].qs[j] + q1 * y[b].qs[j + QK5_1 / 2];
        }
        sum += (h2f(x[b].d) * h2f(y[b].d)) * sumi + h2f(x[b].m) * h2f(y[b].s);
    }
    *s = sum;
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

static void q8_0_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q8_0 *x = vx, *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK8_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++)
            sumi += x[b].qs[j] * y[b].qs[j];
        sum += sumi * (h2f(x[b].d) * h2f(y[b].d));
    }
    *s = sum;
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

/* q4_K/q5_K: scale and min of sub-block j (0..7), 6 bits each, in 12 bytes.
 * Bytes 0-3: scales 0-3 (bits 0-5) + top bits of scales 4-7 (bits 6-7);
 * bytes 4-7: mins 0-3 + top bits of mins 4-7; bytes 8-11: low nibbles of
 * scale (bits 0-3) and min (bits 4-7) of sub-blocks 4-7. */
static inline void k4_scale_min(const uint8_t *q, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
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

/* q3_K: biased 6-bit scale of sub-block j (0..15). Low nibbles: bytes 0-7
 * (j < 8 low half, j >= 8 high half of byte j-8); the top two bits sit in byte
 * 8 + j%4 at bit 2*(j/4). The scale applied is this minus 32. */
static inline int q3k_scale(const uint8_t *q, int j)
{
    int lo = j < 8 ? q[j] & 0x0f : q[j - 8] >> 4;
    int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | hi << 4;
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

/* q2_K . q8_K: integer sums per 16, scaled by the 4-bit scales; the mins are
 * applied through the activation block sums. */
static void q2_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *sc = x[b].scales;
        int summs = 0;
        for (int j = 0; j < 16; j++)
            summs += y[b].bsums[j] * (sc[j] >> 4);
        const float dall = y[b].d * h2f(x[b].d);
        const float dmin = y[b].d * h2f(x[b].dmin);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int isuml = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                const int q = (x[b].qs[e / 128 * 32 + e % 32] >> (2 * (e % 128 / 32))) & 3;
                isuml += y[b].qs[e] * q;
            }
            isum += (sc[j] & 0x0f) * isuml;
        }
        sum += dall * isum - dmin * summs;
    }
    *s = sum;
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

/* The generic K-quant kernels accumulate into 8 integer lanes (element e goes
 * to lane e%8), scale each lane by d into 8 float sums, and add the lanes last.
 * We keep that structure so the float rounding follows the same path. */
static void q3_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = { 0 };
    for (int b = 0; b < n / QK_K; b++) {
        int32_t lane[8] = { 0 };
        for (int e = 0; e < QK_K; e++) {
            const int scale = q3k_scale(x[b].scales, e / 16) - 32;
            lane[e % 8] += scale * (y[b].qs[e] * q3_K_quant(&x[b], e));
        }
        const float d = h2f(x[b].d) * y[b].d;
        for (int l = 0; l < 8; l++)
            sums[l] += d * lane[l];
    }
    float sum = 0.0f;
    for (int l = 0; l < 8; l++)
        sum += sums[l];
    *s = sum;
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

/* Unpacks the 8 scales and mins, then the lane scheme described at q3_K. The
 * min term uses the activation sums of 16 (two per 32-value sub-block). */
static void k45_vec_dot_block(const int8_t *q, const block_q8_K *y, const uint8_t *scales,
                              int32_t *lane, int *sumi_mins)
{
    int sc[8], m[8];
    for (int j = 0; j < 8; j++)
        k4_scale_min(scales, j, &sc[j], &m[j]);
    int sm = 0;
    for (int j = 0; j < 16; j++)
        sm += y->bsums[j] * m[j / 2];
    *sumi_mins = sm;
    for (int e = 0; e < QK_K; e++)
        lane[e % 8] += sc[e / 32] * (y->qs[e] * q[e]);
}

static void q4_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = { 0 };
    float sum = 0.0f;
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++) {
        for (int e = 0; e < QK_K; e++)
            q[e] = (int8_t)q4_K_nibble(x[b].qs, e);
        int32_t lane[8] = { 0 };
        int sumi_mins;
        k45_vec_dot_block(q, &y[b], x[b].scales, lane, &sumi_mins);
        const float d = h2f(x[b].d) * y[b].d;
        for (int l = 0; l < 8; l++)
            sums[l] += d * lane[l];
        const float dmin = h2f(x[b].dmin) * y[b].d;
        sum -= dmin * sumi_mins;
    }
    for (int l = 0; l < 8; l++)
        sum += sums[l];
    *s = sum;
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

static void q5_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = { 0 };
    float sum = 0.0f;
    int8_t q[QK_K];
    for (int b = 0; b < n / QK_K; b++) {
        for (int e = 0; e < QK_K; e++)
            q[e] = (int8_t)q5_K_quant(&x[b], e);
        int32_t lane[8] = { 0 };
        int sumi_mins;
        k45_vec_dot_block(q, &y[b], x[b].scales, lane, &sumi_mins);
        const float d = h2f(x[b].d) * y[b].d;
        for (int l = 0; l < 8; l++)
            sums[l] += d * lane[l];
        const float dmin = h2f(x[b].dmin) * y[b].d;
        sum -= dmin * sumi_mins;
    }
    for (int l = 0; l < 8; l++)
        sum += sums[l];
    *s = sum;
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

static void q6_K_vec_dot(int n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = { 0 };
    for (int b = 0; b < n / QK_K; b++) {
        int32_t lane[8] = { 0 };
        for (int e = 0; e < QK_K; e++)
            lane[e % 8] += x[b].scales[e / 16] * (y[b].qs[e] * q6_K_quant(&x[b], e));
        const float d = h2f(x[b].d) * y[b].d;
        for (int l = 0; l < 8; l++)
            sums[l] += d * lane[l];
    }
    float sum = 0.0f;
    for (int l = 0; l < 8; l++)
        sum += sums[l];
    *s = sum;
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

/* Not const: gl_quant_init() is where SIMD kernel sets will be swapped in. */
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

/* Kernel sets, best first. A set is usable when the CPU has what it needs;
 * only the scalar reference exists so far (it is always usable, and the
 * table above already holds its kernels). */
static const char *const kernel_sets[] = { "scalar" };

static pthread_once_t quant_once = PTHREAD_ONCE_INIT;
static const char *kernel_set = "scalar";

static void quant_init_once(void)
{
    for (uint32_t h = 0; h < (1u << 16); h++)
        fp16_table[h] = gl_fp16_to_fp32((gl_fp16)h);

    /* GLIMPSE_KERNELS forces a set by name; an unknown or unusable name falls
     * back to the best usable set (we cannot report it from here: the library
     * never prints, and gl_quant_kernels() tells what was chosen). */
    const char *want = getenv("GLIMPSE_KERNELS");
    kernel_set = kernel_sets[0];
    for (size_t i = 0; want && i < sizeof kernel_sets / sizeof kernel_sets[0]; i++)
        if (strcmp(want, kernel_sets[i]) == 0)
            kernel_set = kernel_sets[i];
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
