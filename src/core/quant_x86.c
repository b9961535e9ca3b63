/*
 * quant_x86.c - AVX2+FMA+F16C versions of quant.c's dot products and
 * activation quantizers, installed at run time by gl_quant_init().
 *
 * Every kernel does the scalar reference's operations (quant_impl.h) eight
 * lanes at a time and returns the same bits: 32-bit integer lane l of a
 * 32-value chunk holds the products of values 4l..4l+3, each block scales its
 * lanes into float accumulators with one fused multiply-add, and the
 * accumulators are folded by ggml's hsum_float_8 tree. That is the layout of
 * the reference's own AVX2 code, so the vector form is the natural one.
 *
 * Unlike ggml's code, the integer parts here are exact for every input: a
 * signed x signed product goes through 16-bit multiplies (no saturating
 * _mm256_maddubs_epi16 pair sums), and signed weights enter maddubs as
 * unsigned values minus an offset. Edge values (-128 quants, all-max blocks)
 * therefore agree with the scalar kernels too.
 *
 * The functions carry target attributes: the rest of the build stays baseline
 * x86-64, and nothing here runs unless the CPU has AVX2, FMA and F16C. On
 * other architectures the file compiles to three stubs.
 */

/* As in quant.c: a*b + c is never fused behind our back (the target
 * attribute enables FMA, and GCC contracts by default in GNU C mode). The
 * fused operations are the explicit _mm*_fmadd_ps and fmaf calls. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "config.h"

#include "quant_impl.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* __builtin_cpu_supports also checks that the OS saves the AVX registers;
 * clang's does not know "f16c", so that one bit comes from CPUID leaf 1. */
bool gl_quant_x86_has_avx2(void)
{
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

bool gl_quant_x86_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* ------------------------------------------------------------------ helpers */

static inline AVX2 float h2f(gl_fp16 h)
{
    return _cvtsh_ss(h);
}

/* gl_hsum8 on a vector: halves added, then lanes {0,1} + {2,3}, then the pair. */
static inline AVX2 float hsum8(__m256 v)
{
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline AVX2 int32_t hsum_i32(__m256i v)
{
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(r);
}

/* acc + lanes * d, fused (the scalar scale_lanes). */
static inline AVX2 __m256 scale_lanes(__m256 acc, __m256i lanes, float d)
{
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(d), acc);
}

/* 32 four-bit values: bytes 0-15 the low nibbles of qs[0..15], bytes 16-31
 * the high ones. */
static inline AVX2 __m256i nibbles32(const uint8_t *qs)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0f));
}

/* Byte j is 0xff when bit j of the little-endian word at p is set. */
static inline AVX2 __m256i bits32(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof w);
    /* byte j <- byte j/8 of w, then test bit j%8 */
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)w),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

/* Lanes of u * y for unsigned u <= 127 (pair sums fit 16 bits exactly). */
static inline AVX2 __m256i lanes_u8(__m256i u, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

/* Lanes of (u - off) * y for unsigned u, off <= 63: the pair sums of u*y and
 * off*y are exact in 16 bits, and so is their difference. */
static inline AVX2 __m256i lanes_u8_off(__m256i u, __m256i y, int off)
{
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(u, y),
                                       _mm256_maddubs_epi16(_mm256_set1_epi8((char)off), y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* 16-bit pair sums of u * y (unsigned u <= 63 here) times the scale of values
 * 0-15 (lo) and 16-31 (hi), as 32-bit lanes. */
static inline AVX2 __m256i scaled_pairs(__m256i p16, int lo, int hi)
{
    return _mm256_madd_epi16(p16, _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo)));
}

/* Lanes of x * y for any signed bytes, in 16 bits: the result holds lanes
 * 0,1,4,5,2,3,6,7 (see unpermute). */
static inline AVX2 __m256i lanes_i8_permuted(__m256i x, __m256i y)
{
    const __m256i xl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x));
    const __m256i xh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1));
    const __m256i yl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y));
    const __m256i yh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1));
    return _mm256_hadd_epi32(_mm256_madd_epi16(xl, yl), _mm256_madd_epi16(xh, yh));
}

/* Lanes 0,1,4,5,2,3,6,7 back to 0..7 (64-bit pairs 0,2,1,3). */
static inline AVX2 __m256 unpermute(__m256 v)
{
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xd8));
}

/* ------------------------------------------------------------------ f16 */

/* f16_vec_dot: the AVX-512 layout (four accumulators of 16 lanes) in pairs of
 * 8-lane registers: acc[2j] holds lanes 0-7 of accumulator j, acc[2j+1]
 * lanes 8-15. */
static AVX2 void f16_vec_dot(int n, float *restrict s, const void *restrict vx,
                             const void *restrict vy)
{
    const gl_fp16 *x = vx, *y = vy;
    const int np = n & ~63;
    __m256 acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = _mm256_setzero_ps();
    for (int i = 0; i < np; i += 64) {
        for (int k = 0; k < 8; k++) {
            const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
        }
    }
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
    double sum = hsum8(_mm256_add_ps(lo, hi));
    for (int i = np; i < n; i++)
        sum += (double)(h2f(x[i]) * h2f(y[i]));
    *s = (float)sum;
}

/* ------------------------------------------------------------------ q4_0 .. q8_0 */

static AVX2 void q4_0_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int b = 0; b < n / QK4_0; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const int32_t sumi = hsum_i32(lanes_u8_off(nibbles32(x[b].qs), qy, 8));
        sum = fmaf((float)sumi, h2f(x[b].d) * h2f(y[b].d), sum);
    }
    *s = sum;
}

static AVX2 void q4_1_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int b = 0; b < n / QK4_1; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = scale_lanes(acc, lanes_u8(nibbles32(x[b].qs), qy), h2f(x[b].d) * h2f(y[b].d));
        summs += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = hsum8(acc) + summs;
}

/* The five-bit values of a q5 block: nibble | 16 * (bit j of qh). */
static inline AVX2 __m256i q5_values(const uint8_t *qs, const uint8_t *qh)
{
    return _mm256_or_si256(nibbles32(qs), _mm256_and_si256(bits32(qh), _mm256_set1_epi8(0x10)));
}

static AVX2 void q5_0_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK5_0; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = scale_lanes(acc, lanes_u8_off(q5_values(x[b].qs, x[b].qh), qy, 16),
                          h2f(x[b].d) * h2f(y[b].d));
    }
    *s = hsum8(acc);
}

static AVX2 void q5_1_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int b = 0; b < n / QK5_1; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = scale_lanes(acc, lanes_u8(q5_values(x[b].qs, x[b].qh), qy), h2f(x[b].d) * h2f(y[b].d));
        summs += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = hsum8(acc) + summs;
}

static AVX2 void q8_0_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q8_0 *x = vx, *y = vy;
    __m256 acc = _mm256_setzero_ps();       /* lanes 0,1,4,5,2,3,6,7 */
    for (int b = 0; b < n / QK8_0; b++) {
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = scale_lanes(acc, lanes_i8_permuted(qx, qy), h2f(x[b].d) * h2f(y[b].d));
    }
    *s = hsum8(unpermute(acc));
}

/* ------------------------------------------------------------------ K-quants */

static AVX2 void q2_K_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *sc = x[b].scales;
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        /* mins times the activation sums of 16, pairwise: eight lanes */
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)sc);
        const __m128i m8 = _mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0f));
        const __m256i mins = _mm256_cvtepu8_epi16(m8);
        const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[b].bsums));
        acc = scale_lanes(acc, prod, dmin);

        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            for (int k = 0; k < 4; k++) {
                const int c = 4 * j + k;
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i qy = _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * c));
                sumi = _mm256_add_epi32(sumi, scaled_pairs(_mm256_maddubs_epi16(u, qy),
                                                           sc[2 * c] & 0x0f, sc[2 * c + 1] & 0x0f));
            }
        }
        acc = scale_lanes(acc, sumi, d);
    }
    *s = hsum8(acc);
}

static AVX2 void q3_K_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        int sc[16];
        for (int j = 0; j < 16; j++)
            sc[j] = q3k_scale(x[b].scales, j) - 32;
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[b].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            for (int k = 0; k < 4; k++) {
                const int c = 4 * j + k;
                /* value = low - high, high = 4 where hmask bit c is clear */
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i hi = _mm256_slli_epi16(_mm256_andnot_si256(_mm256_srli_epi16(hm, c), one), 2);
                const __m256i qy = _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * c));
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(lo, qy), _mm256_maddubs_epi16(hi, qy));
                sumi = _mm256_add_epi32(sumi, scaled_pairs(p, sc[2 * c], sc[2 * c + 1]));
            }
        }
        acc = scale_lanes(acc, sumi, y[b].d * h2f(x[b].d));
    }
    *s = hsum8(acc);
}

/* The q4_K/q5_K min term (quant.c's k45_min_lanes): the activation sums of
 * 16 added in pairs in 16 bits, weighted by the mins. */
static inline void k45_min_lanes(const block_q8_K *y, const int *m, int32_t prod[4])
{
    for (int k = 0; k < 4; k++) {
        const int16_t s0 = (int16_t)(y->bsums[4 * k] + y->bsums[4 * k + 1]);
        const int16_t s1 = (int16_t)(y->bsums[4 * k + 2] + y->bsums[4 * k + 3]);
        prod[k] = m[2 * k] * s0 + m[2 * k + 1] * s1;
    }
}

static AVX2 void q4_K_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m128 am = _mm_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            k4_scale_min(x[b].scales, j, &sc[j], &m[j]);
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        int32_t prod[4];
        k45_min_lanes(&y[b], m, prod);
        am = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)prod)), _mm_set1_ps(dmin), am);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j + 32));
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            sumi = _mm256_add_epi32(sumi, scaled_pairs(_mm256_maddubs_epi16(lo, y0), sc[2 * j], sc[2 * j]));
            sumi = _mm256_add_epi32(sumi,
                                    scaled_pairs(_mm256_maddubs_epi16(hi, y1), sc[2 * j + 1], sc[2 * j + 1]));
        }
        acc = scale_lanes(acc, sumi, d);
    }
    /* (am0 + am2) + (am1 + am3) */
    am = _mm_add_ps(am, _mm_movehl_ps(am, am));
    am = _mm_add_ss(am, _mm_movehdup_ps(am));
    *s = hsum8(acc) + _mm_cvtss_f32(am);
}

static AVX2 void q5_K_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int b = 0; b < n / QK_K; b++) {
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            k4_scale_min(x[b].scales, j, &sc[j], &m[j]);
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        int32_t prod[4];
        k45_min_lanes(&y[b], m, prod);
        summs += dmin * (float)(prod[0] + prod[1] + prod[2] + prod[3]);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[b].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j + 32));
            /* fifth bit of chunk c: bit c of qh[i], moved to bit 4 */
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 2 * j), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 2 * j + 1), one), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
            sumi = _mm256_add_epi32(sumi, scaled_pairs(_mm256_maddubs_epi16(lo, y0), sc[2 * j], sc[2 * j]));
            sumi = _mm256_add_epi32(sumi,
                                    scaled_pairs(_mm256_maddubs_epi16(hi, y1), sc[2 * j + 1], sc[2 * j + 1]));
        }
        acc = scale_lanes(acc, sumi, d);
    }
    *s = hsum8(acc) + summs;
}

static AVX2 void q6_K_vec_dot(int n, float *restrict s, const void *restrict vx,
                              const void *restrict vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        const int8_t *sc = x[b].scales;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[b].ql + 64 * j));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[b].ql + 64 * j + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * j));
            /* chunk 4j+k: low nibbles of l0, l1, then high nibbles; two bits
             * 2k of hb on top; stored biased by 32 */
            __m256i u[4];
            u[0] = _mm256_and_si256(l0, m4);
            u[1] = _mm256_and_si256(l1, m4);
            u[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4);
            u[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4);
            for (int k = 0; k < 4; k++) {
                const int c = 4 * j + k;
                const __m256i h = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3), 4);
                const __m256i qy = _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * c));
                const __m256i v = _mm256_or_si256(u[k], h);
                const __m256i p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(v, qy), _mm256_maddubs_epi16(m32, qy));
                sumi = _mm256_add_epi32(sumi, scaled_pairs(p, sc[2 * c], sc[2 * c + 1]));
            }
        }
        acc = scale_lanes(acc, sumi, y[b].d * h2f(x[b].d));
    }
    *s = hsum8(acc);
}

/* ------------------------------------------------------------------ activation quantizers */

/* Largest |x| of n (a multiple of 8) values, NaNs skipped: max_ps returns
 * its second operand when either is NaN, and the running maximum is never
 * NaN (quant.c's q8_block_scale and signed_absmax skip them too). */
static inline AVX2 float abs_max(const float *x, int n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        mx = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), mx);
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* 32 values times mul, rounded to nearest even and saturated to int8 with
 * NaN -> -128 (quant.c's round_i8_sat), stored in order. */
static inline AVX2 __m256i quantize32(const float *x, __m256 mul)
{
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
        __m256 t = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);        /* max_ps(NaN, lo) = lo */
        v[k] = _mm256_cvtps_epi32(t);
    }
    /* the packs interleave 128-bit halves: dwords come out as values
     * 0-3, 8-11, 16-19, 24-27, 4-7, ...; put them back in order */
    const __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    return _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline AVX2 int32_t sum_i8(__m256i q)
{
    return hsum_i32(lanes_u8(_mm256_set1_epi8(1), q));
}

static AVX2 void q8_0_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        const float amax = abs_max(x, QK8_0);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[b].qs, quantize32(x, _mm256_set1_ps(id)));
    }
}

static AVX2 void q8_1_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        const float amax = abs_max(x, QK8_1);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const __m256i q = quantize32(x, _mm256_set1_ps(id));
        _mm256_storeu_si256((__m256i *)y[b].qs, q);
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[b].s = _cvtss_sh(d * (float)sum_i8(q), _MM_FROUND_TO_NEAREST_INT);
    }
}

static AVX2 void q8_K_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        const float amax = abs_max(x, QK_K);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* the first value of that magnitude, with its sign */
        int j = 0;
        while (fabsf(x[j]) != amax)
            j++;
        const float iscale = -127.0f / x[j];
        const __m256 mul = _mm256_set1_ps(iscale);
        for (int c = 0; c < QK_K / 32; c++) {
            const __m256i q = quantize32(x + 32 * c, mul);
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * c), q);
            /* sums of 16: lanes 0-3 and 4-7 of the byte sums */
            __m256i p = lanes_u8(_mm256_set1_epi8(1), q);
            p = _mm256_hadd_epi32(p, p);
            p = _mm256_hadd_epi32(p, p);
            y[b].bsums[2 * c] = (int16_t)_mm256_extract_epi32(p, 0);
            y[b].bsums[2 * c + 1] = (int16_t)_mm256_extract_epi32(p, 4);
        }
        y[b].d = 1.0f / iscale;
    }
}

static AVX2 void f16_from_float(const float *restrict x, void *restrict vy, int64_t n)
{
    gl_fp16 *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

/* ------------------------------------------------------------------ the set */

void gl_quant_x86_avx2(struct gl_quant_kernels *k)
{
    k->vec_dot[GL_TYPE_F16] = f16_vec_dot;
    k->vec_dot[GL_TYPE_Q4_0] = q4_0_vec_dot;
    k->vec_dot[GL_TYPE_Q4_1] = q4_1_vec_dot;
    k->vec_dot[GL_TYPE_Q5_0] = q5_0_vec_dot;
    k->vec_dot[GL_TYPE_Q5_1] = q5_1_vec_dot;
    k->vec_dot[GL_TYPE_Q8_0] = q8_0_vec_dot;
    k->vec_dot[GL_TYPE_Q2_K] = q2_K_vec_dot;
    k->vec_dot[GL_TYPE_Q3_K] = q3_K_vec_dot;
    k->vec_dot[GL_TYPE_Q4_K] = q4_K_vec_dot;
    k->vec_dot[GL_TYPE_Q5_K] = q5_K_vec_dot;
    k->vec_dot[GL_TYPE_Q6_K] = q6_K_vec_dot;
    k->from_float[GL_TYPE_F16] = f16_from_float;
    k->from_float[GL_TYPE_Q8_0] = q8_0_from_float;
    k->from_float[GL_TYPE_Q8_1] = q8_1_from_float;
    k->from_float[GL_TYPE_Q8_K] = q8_K_from_float;
}

#else /* not x86-64: no SIMD sets */

bool gl_quant_x86_has_avx2(void)
{
    return false;
}

bool gl_quant_x86_has_avx512(void)
{
    return false;
}

void gl_quant_x86_avx2(struct gl_quant_kernels *k)
{
    (void)k;
}

#endif
