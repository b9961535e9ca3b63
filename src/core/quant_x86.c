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

/* The q4_K/q5_K min sums' fold: (am0 + am2) + (am1 + am3). */
static inline AVX2 float fold_am(__m128 am)
{
    am = _mm_add_ps(am, _mm_movehl_ps(am, am));
    am = _mm_add_ss(am, _mm_movehdup_ps(am));
    return _mm_cvtss_f32(am);
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

/* The eight 6-bit scales and mins of a q4_K/q5_K super-block (see
 * k4_scale_min) as bytes: sc0..7 then m0..7, unpacked with word operations
 * instead of a per-sub-block loop. */
static inline AVX2 __m128i k4_scales_mins(const uint8_t *q)
{
    uint32_t a, b, c;
    memcpy(&a, q, 4);
    memcpy(&b, q + 4, 4);
    memcpy(&c, q + 8, 4);
    const uint32_t s03 = a & 0x3f3f3f3fu, m03 = b & 0x3f3f3f3fu;
    const uint32_t s47 = (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4;
    const uint32_t m47 = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 6) & 0x03030303u) << 4;
    return _mm_set_epi32((int)m47, (int)m03, (int)s47, (int)s03);
}

/* shuffle_epi8 controls that broadcast 16-bit element e of each 128-bit half. */
static inline AVX2 __m256i bcast16_ctl(int e)
{
    return _mm256_set1_epi16((short)((2 * e) | (2 * e + 1) << 8));
}

/* Controls that put element lo in the low half and hi in the high half. */
static inline AVX2 __m256i bcast16_ctl2(int lo, int hi)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)((2 * hi) | (2 * hi + 1) << 8)),
                            _mm_set1_epi16((short)((2 * lo) | (2 * lo + 1) << 8)));
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
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins(x[b].scales));
        /* min term (quant.c's k45_min_lanes): bsums added in pairs in 16
         * bits, then m[2k]*s[2k] + m[2k+1]*s[2k+1] */
        const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[b].bsums),
                                           _mm_loadu_si128((const __m128i *)(y[b].bsums + 8)));
        const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), q8s);
        am = _mm_fmadd_ps(_mm_cvtepi32_ps(prod), _mm_set1_ps(dmin), am);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm16));
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j + 32));
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i s0 = _mm256_shuffle_epi8(sc, bcast16_ctl(2 * j));
            const __m256i s1 = _mm256_shuffle_epi8(sc, bcast16_ctl(2 * j + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1));
        }
        acc = scale_lanes(acc, sumi, d);
    }
    *s = hsum8(acc) + fold_am(am);
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
        /* the 16 signed scales as 16-bit values, scales 0-7 and 8-15 each
         * in both halves */
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(j ? _mm_srli_si128(sc8, 8) : sc8));
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
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, bcast16_ctl2(2 * k, 2 * k + 1))));
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

/* ------------------------------------------------------------------ batched K-quant products */

/* The batched products of q4_K and q6_K weights with many q8_K activation
 * rows (prefill), on AVX-512BW + VNNI. Every output is bit for bit the
 * format's vec_dot above: per super-block the same exact integer lanes (lane
 * l holds sub-block sums of the products of values 4l..4l+3, times their
 * scales), then the same fused multiply-adds and the same final folds. What
 * changes is only how the integers are formed and how often the weights are
 * decoded:
 *   - a panel of weight rows is decoded once into `struct kblk` (values as
 *     bytes in natural order, scales widened to 16 bits per value pair,
 *     float scales) and reused for every activation row;
 *   - a 512-bit register covers 64 values (chunks 2k and 2k+1): vpmaddubsw
 *     forms the pair sums, vpdpwssd multiplies them by their scales and adds
 *     them to 16 int32 lanes; lanes 0-7 (even chunks) plus lanes 8-15 (odd
 *     chunks) are exactly the eight lanes of the AVX2 kernel. q6_K's signed
 *     weights go in as (y + 128) * w, less 128 * w (weight-only, summed at
 *     decode time). Integer sums are exact in any order, so only where the
 *     floats round matters, and that is unchanged. */

struct kblk {
    uint8_t q[QK_K];            /* q4_K: unsigned values; q6_K: signed values */
    int16_t s[4][32];           /* s[k][t]: scale of values 64k+2t, 64k+2t+1 */
    int32_t cw[16];             /* q6_K: lanes of 128 * the values, scaled (see krow) */
    int16_t mins[8];            /* q4_K: the sub-block mins */
    float d, dmin;              /* the super-block scales as floats */
    uint8_t pad[40];
};
_Static_assert(sizeof(struct kblk) == 640, "kblk size");

/* Per activation tile: for each quad of activation rows and super-block,
 * what krow4 needs of them, gathered once. */
struct kact {
    __m512i q8s4;               /* 128-bit lane i: the pair sums of bsums of row i */
    __m512 nyd4;                /* lanes 4i..4i+3: -d of row i */
    __m512 yd2[2];              /* rows 0,1 and 2,3: d of each row in 8 lanes */
};

#define KGEMM_MT 16                 /* activation rows per tile */
/* Bytes after each row of a tile's copied activations: rows nb * 256 bytes
 * apart would fall on the same L1 sets whenever nb is a multiple of 16
 * (4 KiB), and the tile's 16 rows would evict each other (measured: q6_K
 * 30% slower than reading the q8_K blocks directly). */
#define KGEMM_YPAD 192

size_t gl_gemm_panel_bytes(int n, int nr)
{
    /* decoded rows, per-quad activation terms, the aligned activation copy */
    return (size_t)(n / QK_K) * ((size_t)nr * sizeof(struct kblk) + KGEMM_MT / 4 * sizeof(struct kact) +
                                 (size_t)KGEMM_MT * QK_K) + (size_t)KGEMM_MT * KGEMM_YPAD;
}

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

bool gl_quant_x86_has_avx512vnni(void)
{
    __builtin_cpu_init();
    return gl_quant_x86_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
}

/* 32 16-bit values: lo in elements 0-15, hi in 16-31. */
static inline AVX512 __m512i halves16(int lo, int hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)lo)),
                              _mm256_set1_epi16((short)hi), 1);
}

/* q4_K panel rows (defined with the AVX2 batched products below; the
 * AVX-512 kernel reads the same layout). */
static AVX2 void unpack_q4_K_avx2(struct kblk *p, const block_q4_K *x, int nb);

/* A q6_K super-block's values in value order, as signed bytes (q - 32):
 * the q of both batched kernels' panels. */
static AVX2 void q6_K_panel_values(struct kblk *p, const block_q6_K *x)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    for (int j = 0; j < 2; j++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * j));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * j + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * j));
        __m256i u[4];
        u[0] = _mm256_and_si256(l0, m4);
        u[1] = _mm256_and_si256(l1, m4);
        u[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4);
        u[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4);
        for (int k = 0; k < 4; k++) {
            const __m256i h = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3), 4);
            _mm256_store_si256((__m256i *)(p->q + 32 * (4 * j + k)),
                               _mm256_sub_epi8(_mm256_or_si256(u[k], h), _mm256_set1_epi8(32)));
        }
    }
}

static AVX512 void unpack_q6_K(struct kblk *p, const block_q6_K *x, int nb)
{
    for (int b = 0; b < nb; b++, p++) {
        q6_K_panel_values(p, &x[b]);
        /* values 64k+2t, 64k+2t+1 lie in sub-block 4k + t/8 */
        const __m512i sc = _mm512_cvtepi8_epi16(_mm256_castsi128_si256(
            _mm_loadu_si128((const __m128i *)x[b].scales)));
        for (int k = 0; k < 4; k++) {
            const __m512i idx = _mm512_set_epi16(
                4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
                4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2,
                4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
                4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k);
            _mm512_store_si512(p->s[k], _mm512_permutexvar_epi16(idx, sc));
        }
        /* krow feeds the activations in as unsigned bytes y + 128, so its
         * pair sums carry 128 * (w[2t] + w[2t+1]) too: their scaled lanes,
         * to subtract once per super-block */
        __m512i cw = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++)
            cw = _mm512_dpwssd_epi32(cw, _mm512_maddubs_epi16(_mm512_set1_epi8((char)0x80),
                                                              _mm512_load_si512(p->q + 64 * k)),
                                     _mm512_load_si512(p->s[k]));
        _mm512_store_si512(p->cw, cw);
        memset(p->mins, 0, sizeof p->mins);
        p->d = h2f(x[b].d);
        p->dmin = 0.0f;
    }
}

/* Decoding streams every weight once from memory, and the hardware
 * prefetchers stop at 4 KiB page boundaries (the model is a file mapping of
 * 4 KiB pages): without help a core waits on each new page. Asking for the
 * lines PREFETCH_BYTES ahead of the block being summed keeps the next page
 * in flight (q4_K from memory, 2 threads: 26 -> 36 GB/s on the test
 * machine). Prefetches past the end of the mapping are harmless: they never
 * fault. */
#define PREFETCH_BYTES 4096

static inline void prefetch_ahead(const void *block, size_t size)
{
    const char *p = (const char *)block + PREFETCH_BYTES;
    for (size_t off = 0; off < size; off += 64)
        _mm_prefetch(p + off, _MM_HINT_T0);
}

/* The running sums of one output: the AVX2 kernel's accumulators. */
struct kacc {
    __m256 acc;
    __m128 am;
};

/* Activation row i of a tile copied for the batched kernels (both sets):
 * its values 64-byte aligned at yalign's row i (in a q8_K block they start
 * 4 bytes into a line, so every 64-byte read would touch two), q6_K's + 128
 * as unsigned bytes; once per tile instead of once per weight row. */
static AVX2 const uint8_t *kgemm_act_row(uint8_t *yalign, int i, const block_q8_K *y, int nb, bool q6)
{
    uint8_t *d = yalign + (size_t)i * ((size_t)nb * QK_K + KGEMM_YPAD);
    const __m256i flip = _mm256_set1_epi8(q6 ? (char)0x80 : 0);
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < QK_K; k += 32)
            _mm256_store_si256((__m256i *)(d + (size_t)b * QK_K + k),
                               _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(y[b].qs + k)), flip));
    return d;
}

/* A finished tile's outputs: y[i0 + i][r0 + r] from the sums of st[i][r]. */
static AVX2 void kgemm_store(float *y, size_t ldy, int i0, int r0, int mt, int R, int nst,
                             const struct kacc *st, bool q6)
{
    for (int i = 0; i < mt; i++) {
        float *yi = y + (size_t)(i0 + i) * ldy + r0;
        for (int r = 0; r < R; r++) {
            const struct kacc *a = &st[(size_t)i * (size_t)nst + (size_t)r];
            yi[r] = q6 ? hsum8(a->acc) : hsum8(a->acc) + fold_am(a->am);
        }
    }
}

/* One decoded row against A activation rows yb[0..A-1], super-blocks
 * [b0, b1), carrying on the sums st[0], st[sst], ... in block order. The
 * row's values and scales stay in registers while the activation rows pass
 * (per output: four vpmaddubsw + four vpdpwssd per super-block). */
static inline __attribute__((always_inline)) AVX512 void krow(
    int A, bool q6, const struct kblk *p, int b0, int b1, const block_q8_K *const *yb,
    const uint8_t *const *yq, size_t yqs, struct kacc *st, int sst)
{
    __m256 acc[4];
    __m128 am[4];
    for (int i = 0; i < A; i++) {
        acc[i] = st[i * sst].acc;
        am[i] = st[i * sst].am;
    }
    for (int b = b0; b < b1; b++) {
        __m512i w[4], sc[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            w[k] = _mm512_load_si512(p[b].q + 64 * k);
            sc[k] = _mm512_load_si512(p[b].s[k]);
        }
        const __m512i cw = q6 ? _mm512_load_si512(p[b].cw) : _mm512_setzero_si512();
        const __m128i mins = _mm_load_si128((const __m128i *)p[b].mins);
        const float pd = p[b].d, pdmin = p[b].dmin;
#pragma GCC unroll 4
        for (int i = 0; i < A; i++) {
            const block_q8_K *y = yb[i] + b;
            const uint8_t *aq = yq[i] + (size_t)b * yqs;
            __m512i s2[2] = { _mm512_setzero_si512(), _mm512_setzero_si512() };
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m512i ak = _mm512_loadu_si512(aq + 64 * k);
                /* q4_K: unsigned weights x signed activations; q6_K: the
                 * activations + 128 (unsigned, biased once per tile in
                 * kgemm) x signed weights, pair sums exact in 16 bits
                 * either way (|sum| <= 2 * 255 * 32) */
                const __m512i pr = q6 ? _mm512_maddubs_epi16(ak, w[k]) : _mm512_maddubs_epi16(w[k], ak);
                s2[k & 1] = _mm512_dpwssd_epi32(s2[k & 1], pr, sc[k]);
            }
            __m512i t = _mm512_add_epi32(s2[0], s2[1]);
            if (q6)
                t = _mm512_sub_epi32(t, cw);
            const __m256i l8 = _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
            const float yd = y->d;
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(l8), _mm256_set1_ps(yd * pd), acc[i]);
            if (!q6) {
                const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums),
                                                   _mm_loadu_si128((const __m128i *)(y->bsums + 8)));
                const __m128i prod = _mm_madd_epi16(mins, q8s);
                am[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(prod), _mm_set1_ps(-yd * pdmin), am[i]);
            }
        }
    }
    for (int i = 0; i < A; i++) {
        st[i * sst].acc = acc[i];
        st[i * sst].am = am[i];
    }
}

/* krow for four activation rows, their sums packed two (acc) and four (am)
 * to a register so that the per-output float steps run 16 lanes at a time:
 * the same operations per lane as krow. */
static inline __attribute__((always_inline)) AVX512 void krow4(
    int NW, bool q6, const struct kblk *const *pw, int b0, int b1, const uint8_t *const *yq, size_t yqs,
    const struct kact *ka, struct kacc *st, int sst)
{
    /* NW (1 or 2) weight rows at once: each activation read serves both */
    __m512 acc01[2], acc23[2], am4[2];
#pragma GCC unroll 2
    for (int r = 0; r < NW; r++) {
        acc01[r] = _mm512_insertf32x8(_mm512_castps256_ps512(st[r].acc), st[sst + r].acc, 1);
        acc23[r] = _mm512_insertf32x8(_mm512_castps256_ps512(st[2 * sst + r].acc), st[3 * sst + r].acc, 1);
        am4[r] = _mm512_castps128_ps512(st[r].am);
        am4[r] = _mm512_insertf32x4(am4[r], st[sst + r].am, 1);
        am4[r] = _mm512_insertf32x4(am4[r], st[2 * sst + r].am, 2);
        am4[r] = _mm512_insertf32x4(am4[r], st[3 * sst + r].am, 3);
    }
    for (int b = b0; b < b1; b++) {
        __m512i w[2][4], sc[2][4];
#pragma GCC unroll 2
        for (int r = 0; r < NW; r++)
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                w[r][k] = _mm512_load_si512(pw[r][b].q + 64 * k);
                sc[r][k] = _mm512_load_si512(pw[r][b].s[k]);
            }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {           /* activation rows 2h, 2h+1 */
            __m512i t[2][2];
#pragma GCC unroll 2
            for (int i = 0; i < 2; i++) {
                const uint8_t *aq = yq[2 * h + i] + (size_t)b * yqs;
                __m512i s2[2][2];
#pragma GCC unroll 2
                for (int r = 0; r < NW; r++)
                    s2[r][0] = s2[r][1] = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) {
                    const __m512i ak = _mm512_load_si512(aq + 64 * k);
#pragma GCC unroll 2
                    for (int r = 0; r < NW; r++) {
                        const __m512i pr = q6 ? _mm512_maddubs_epi16(ak, w[r][k]) : _mm512_maddubs_epi16(w[r][k], ak);
                        s2[r][k & 1] = _mm512_dpwssd_epi32(s2[r][k & 1], pr, sc[r][k]);
                    }
                }
#pragma GCC unroll 2
                for (int r = 0; r < NW; r++) {
                    t[r][i] = _mm512_add_epi32(s2[r][0], s2[r][1]);
                    if (q6)
                        t[r][i] = _mm512_sub_epi32(t[r][i], _mm512_load_si512(pw[r][b].cw));
                }
            }
#pragma GCC unroll 2
            for (int r = 0; r < NW; r++) {
                /* [lanes 0-7 + 8-15 of row 2h | the same of row 2h+1] */
                const __m512i f = _mm512_add_epi32(_mm512_shuffle_i64x2(t[r][0], t[r][1], 0x44),
                                                   _mm512_shuffle_i64x2(t[r][0], t[r][1], 0xee));
                const __m512 dd = _mm512_mul_ps(ka[b].yd2[h], _mm512_set1_ps(pw[r][b].d));
                if (h == 0)
                    acc01[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(f), dd, acc01[r]);
                else
                    acc23[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(f), dd, acc23[r]);
            }
        }
        if (!q6) {
#pragma GCC unroll 2
            for (int r = 0; r < NW; r++) {
                const __m512i mins = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)pw[r][b].mins));
                const __m512i prod = _mm512_madd_epi16(mins, ka[b].q8s4);
                am4[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod),
                                         _mm512_mul_ps(ka[b].nyd4, _mm512_set1_ps(pw[r][b].dmin)), am4[r]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < NW; r++) {
        st[r].acc = _mm512_castps512_ps256(acc01[r]);
        st[sst + r].acc = _mm512_extractf32x8_ps(acc01[r], 1);
        st[2 * sst + r].acc = _mm512_castps512_ps256(acc23[r]);
        st[3 * sst + r].acc = _mm512_extractf32x8_ps(acc23[r], 1);
        st[r].am = _mm512_castps512_ps128(am4[r]);
        st[sst + r].am = _mm512_extractf32x4_ps(am4[r], 1);
        st[2 * sst + r].am = _mm512_extractf32x4_ps(am4[r], 2);
        st[3 * sst + r].am = _mm512_extractf32x4_ps(am4[r], 3);
    }
}

/* Blocking: a tile of KGEMM_MT activation rows x KGEMM_KB super-blocks
 * (16 KB) stays in L1 while every row of the panel passes over it; each
 * output's sums still run through its super-blocks in order. (Zen 5, 48 KB
 * L1, one thread, q4_K 4096 x 4096 x 311, activations read from their
 * q8_K blocks: 16 x 4 229 GOP/s, 16 x 8 200, 16 x 16 151, 16 x 2 211,
 * 32 x 4 200, 8 x 8 235, 8 x 4 227; from the aligned copy: 16 x 4 254,
 * 16 x 6 253, 16 x 8 229.) */
#define KGEMM_KB 4
#define KGEMM_NR 16                 /* rows per call at most (ops.c's MM_GEMM_ROWS) */

static inline __attribute__((always_inline)) AVX512 void kgemm(
    bool q6, int n, int nr, int m, float *y, size_t ldy, const void *w, size_t w_stride,
    const void *xq, size_t x_stride, void *panel)
{
    const int nb = n / QK_K;
    struct kblk *p = panel;
    for (int r = 0; r < nr; r++) {
        const void *row = (const char *)w + (size_t)r * w_stride;
        if (q6)
            unpack_q6_K(p + (size_t)r * (size_t)nb, row, nb);
        else
            unpack_q4_K_avx2(p + (size_t)r * (size_t)nb, row, nb);
    }
    struct kact *ka = (struct kact *)(p + (size_t)nr * (size_t)nb);  /* [KGEMM_MT/4][nb] */
    /* [KGEMM_MT][nb * QK_K + KGEMM_YPAD] */
    uint8_t *yalign = (uint8_t *)(ka + (size_t)(KGEMM_MT / 4) * (size_t)nb);
    struct kacc st[KGEMM_MT][KGEMM_NR];
    for (int r0 = 0; r0 < nr; r0 += KGEMM_NR) {
        const int R = nr - r0 < KGEMM_NR ? nr - r0 : KGEMM_NR;
        for (int i0 = 0; i0 < m; i0 += KGEMM_MT) {
            const int mt = m - i0 < KGEMM_MT ? m - i0 : KGEMM_MT;
            const block_q8_K *yb[KGEMM_MT];
            const uint8_t *yq[KGEMM_MT];
            const size_t yqs = QK_K;
            for (int i = 0; i < mt; i++) {
                yb[i] = (const void *)((const char *)xq + (size_t)(i0 + i) * x_stride);
                yq[i] = kgemm_act_row(yalign, i, yb[i], nb, q6);
                for (int r = 0; r < R; r++) {
                    st[i][r].acc = _mm256_setzero_ps();
                    st[i][r].am = _mm_setzero_ps();
                }
            }
            for (int q = 0; q < mt / 4; q++)
                for (int b = 0; b < nb; b++) {
                    struct kact *k = ka + (size_t)q * (size_t)nb + b;
                    float d[4];
                    for (int i = 0; i < 4; i++) {
                        const block_q8_K *yi = yb[4 * q + i] + b;
                        d[i] = yi->d;
                        const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)yi->bsums),
                                                           _mm_loadu_si128((const __m128i *)(yi->bsums + 8)));
                        _mm_storeu_si128((__m128i *)&k->q8s4 + i, q8s);
                    }
                    k->nyd4 = _mm512_set_ps(-d[3], -d[3], -d[3], -d[3], -d[2], -d[2], -d[2], -d[2],
                                            -d[1], -d[1], -d[1], -d[1], -d[0], -d[0], -d[0], -d[0]);
                    k->yd2[0] = _mm512_insertf32x8(_mm512_set1_ps(d[0]), _mm256_set1_ps(d[1]), 1);
                    k->yd2[1] = _mm512_insertf32x8(_mm512_set1_ps(d[2]), _mm256_set1_ps(d[3]), 1);
                }
            for (int b0 = 0; b0 < nb; b0 += KGEMM_KB) {
                const int b1 = nb - b0 < KGEMM_KB ? nb : b0 + KGEMM_KB;
                for (int r = 0; r < R; r += 2) {
                    const struct kblk *pr[2] = { p + (size_t)(r0 + r) * (size_t)nb,
                                                 p + (size_t)(r0 + r + 1) * (size_t)nb };
                    int i = 0;
                    for (; i + 4 <= mt; i += 4) {
                        if (r + 1 < R)
                            krow4(2, q6, pr, b0, b1, yq + i, yqs, ka + (size_t)(i / 4) * (size_t)nb,
                                  &st[i][r], KGEMM_NR);
                        else
                            krow4(1, q6, pr, b0, b1, yq + i, yqs, ka + (size_t)(i / 4) * (size_t)nb,
                                  &st[i][r], KGEMM_NR);
                    }
                    for (; i < mt; i++) {
                        krow(1, q6, pr[0], b0, b1, yb + i, yq + i, yqs, &st[i][r], KGEMM_NR);
                        if (r + 1 < R)
                            krow(1, q6, pr[1], b0, b1, yb + i, yq + i, yqs, &st[i][r + 1], KGEMM_NR);
                    }
                }
            }
            kgemm_store(y, ldy, i0, r0, mt, R, KGEMM_NR, &st[0][0], q6);
        }
    }
}

static AVX512 void q4_K_gemm(int n, int nr, int m, float *y, size_t ldy, const void *w,
                             size_t w_stride, const void *xq, size_t x_stride, void *panel)
{
    kgemm(false, n, nr, m, y, ldy, w, w_stride, xq, x_stride, panel);
}

static AVX512 void q6_K_gemm(int n, int nr, int m, float *y, size_t ldy, const void *w,
                             size_t w_stride, const void *xq, size_t x_stride, void *panel)
{
    kgemm(true, n, nr, m, y, ldy, w, w_stride, xq, x_stride, panel);
}

/* ------------------------------------------------------------------ AVX2 batched products */

/* The panels for CPUs without AVX-512 too: q4_K rows (the AVX-512 kernel's
 * as well); q6_K rows with the scale words filled one by one and the
 * 128 * weight correction folded to the eight lanes of a 256-bit sum. */
static AVX2 void unpack_q4_K_avx2(struct kblk *p, const block_q4_K *x, int nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int b = 0; b < nb; b++, p++) {
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            _mm256_store_si256((__m256i *)(p->q + 64 * j), _mm256_and_si256(bits, m4));
            _mm256_store_si256((__m256i *)(p->q + 64 * j + 32),
                               _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4));
        }
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, k4_scales_mins(x[b].scales));
        for (int k = 0; k < 4; k++) {
            _mm256_store_si256((__m256i *)p->s[k], _mm256_set1_epi16(sm[2 * k]));
            _mm256_store_si256((__m256i *)(p->s[k] + 16), _mm256_set1_epi16(sm[2 * k + 1]));
        }
        for (int k = 0; k < 8; k++)
            p->mins[k] = sm[8 + k];
        p->d = h2f(x[b].d);
        p->dmin = h2f(x[b].dmin);
    }
}

static AVX2 void unpack_q6_K_avx2(struct kblk *p, const block_q6_K *x, int nb)
{
    for (int b = 0; b < nb; b++, p++) {
        q6_K_panel_values(p, &x[b]);
        /* values 64k+2t, 64k+2t+1 lie in sub-block 4k + t/8 */
        for (int k = 0; k < 4; k++)
            for (int t = 0; t < 32; t++)
                p->s[k][t] = x[b].scales[4 * k + t / 8];
        __m256i cw = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++)
            cw = _mm256_add_epi32(cw, _mm256_madd_epi16(
                                          _mm256_maddubs_epi16(_mm256_set1_epi8((char)0x80),
                                                               _mm256_load_si256((const __m256i *)(p->q + 32 * c))),
                                          _mm256_load_si256((const __m256i *)(p->s[c >> 1] + 16 * (c & 1)))));
        _mm256_store_si256((__m256i *)p->cw, cw);
        _mm256_store_si256((__m256i *)(p->cw + 8), _mm256_setzero_si256());
        memset(p->mins, 0, sizeof p->mins);
        p->d = h2f(x[b].d);
        p->dmin = 0.0f;
    }
}

/* One decoded row against one activation row (its values aligned at aq,
 * QK_K bytes per super-block), super-blocks [b0, b1): the AVX2 dot
 * product's lanes, integers and float steps. */
static inline __attribute__((always_inline)) AVX2 void krow_avx2(
    bool q6, const struct kblk *p, int b0, int b1, const block_q8_K *yb, const uint8_t *aq0,
    struct kacc *st)
{
    __m256 acc = st->acc;
    __m128 am = st->am;
    for (int b = b0; b < b1; b++) {
        const uint8_t *aq = aq0 + (size_t)b * QK_K;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m256i w = _mm256_load_si256((const __m256i *)(p[b].q + 32 * c));
            const __m256i a = _mm256_load_si256((const __m256i *)(aq + 32 * c));
            const __m256i pr = q6 ? _mm256_maddubs_epi16(a, w) : _mm256_maddubs_epi16(w, a);
            const __m256i v = _mm256_madd_epi16(pr, _mm256_load_si256((const __m256i *)(p[b].s[c >> 1] + 16 * (c & 1))));
            if (c & 1)
                s1 = _mm256_add_epi32(s1, v);
            else
                s0 = _mm256_add_epi32(s0, v);
        }
        __m256i t = _mm256_add_epi32(s0, s1);
        if (q6)
            t = _mm256_sub_epi32(t, _mm256_load_si256((const __m256i *)p[b].cw));
        const float yd = yb[b].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_set1_ps(yd * p[b].d), acc);
        if (!q6) {
            const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)yb[b].bsums),
                                               _mm_loadu_si128((const __m128i *)(yb[b].bsums + 8)));
            const __m128i prod = _mm_madd_epi16(_mm_load_si128((const __m128i *)p[b].mins), q8s);
            am = _mm_fmadd_ps(_mm_cvtepi32_ps(prod), _mm_set1_ps(-yd * p[b].dmin), am);
        }
    }
    st->acc = acc;
    st->am = am;
}

/* kgemm with 256-bit registers: the same panels, tiles and aligned
 * activation copy; a weight row's super-block does not fit in the sixteen
 * registers next to its scales, so every output re-reads it from L1. */
static inline __attribute__((always_inline)) AVX2 void kgemm_avx2(
    bool q6, int n, int nr, int m, float *y, size_t ldy, const void *w, size_t w_stride,
    const void *xq, size_t x_stride, void *panel)
{
    const int nb = n / QK_K;
    struct kblk *p = panel;
    for (int r = 0; r < nr; r++) {
        const void *row = (const char *)w + (size_t)r * w_stride;
        if (q6)
            unpack_q6_K_avx2(p + (size_t)r * (size_t)nb, row, nb);
        else
            unpack_q4_K_avx2(p + (size_t)r * (size_t)nb, row, nb);
    }
    /* kgemm's layout: the per-quad terms (unused here), then the copy */
    uint8_t *yalign = (uint8_t *)((struct kact *)(p + (size_t)nr * (size_t)nb) + (size_t)(KGEMM_MT / 4) * (size_t)nb);
    struct kacc st[KGEMM_MT][KGEMM_NR];
    for (int r0 = 0; r0 < nr; r0 += KGEMM_NR) {
        const int R = nr - r0 < KGEMM_NR ? nr - r0 : KGEMM_NR;
        for (int i0 = 0; i0 < m; i0 += KGEMM_MT) {
            const int mt = m - i0 < KGEMM_MT ? m - i0 : KGEMM_MT;
            const block_q8_K *yb[KGEMM_MT];
            const uint8_t *yq[KGEMM_MT];
            for (int i = 0; i < mt; i++) {
                yb[i] = (const void *)((const char *)xq + (size_t)(i0 + i) * x_stride);
                yq[i] = kgemm_act_row(yalign, i, yb[i], nb, q6);
                for (int r = 0; r < R; r++) {
                    st[i][r].acc = _mm256_setzero_ps();
                    st[i][r].am = _mm_setzero_ps();
                }
            }
            for (int b0 = 0; b0 < nb; b0 += KGEMM_KB) {
                const int b1 = nb - b0 < KGEMM_KB ? nb : b0 + KGEMM_KB;
                for (int r = 0; r < R; r++) {
                    const struct kblk *pr = p + (size_t)(r0 + r) * (size_t)nb;
                    for (int i = 0; i < mt; i++)
                        krow_avx2(q6, pr, b0, b1, yb[i], yq[i], &st[i][r]);
                }
            }
            kgemm_store(y, ldy, i0, r0, mt, R, KGEMM_NR, &st[0][0], q6);
        }
    }
}

static AVX2 void q4_K_gemm_avx2(int n, int nr, int m, float *y, size_t ldy, const void *w,
                                size_t w_stride, const void *xq, size_t x_stride, void *panel)
{
    kgemm_avx2(false, n, nr, m, y, ldy, w, w_stride, xq, x_stride, panel);
}

static AVX2 void q6_K_gemm_avx2(int n, int nr, int m, float *y, size_t ldy, const void *w,
                                size_t w_stride, const void *xq, size_t x_stride, void *panel)
{
    kgemm_avx2(true, n, nr, m, y, ldy, w, w_stride, xq, x_stride, panel);
}

/* k4_scales_mins in vector registers: the same bytes, without moving
 * twelve bytes through general registers for every super-block. */
static inline AVX512 __m128i k4_scales_mins_v(const uint8_t *q)
{
    /* dwords a = q[0..3], b = q[4..7], c = q[8..11]; out: sc0-3, sc4-7, m0-3, m4-7 */
    const __m128i v = _mm_loadu_si128((const __m128i *)q);     /* block_q4_K: qs follows */
    const __m128i p = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_set_epi32(4, 0, 0, 0));
    const __m128i hi = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 0, 0)), 2);
    /* [a, c, b, c >> 4] & [3f, 0f, 3f, 0f] | [., a, ., b] >> 2 & [0, 30, 0, 30] */
    return _mm_or_si128(_mm_and_si128(p, _mm_set_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f)),
                        _mm_and_si128(hi, _mm_set_epi32(0x30303030, 0, 0x30303030, 0)));
}

/* q4_K with 512-bit registers: 32 bytes of qs read into both halves of a
 * register, the low half keeping the low nibbles (chunk 2j), the high half
 * the high ones (chunk 2j+1): values 64j..64j+63 in order, against 64
 * activation bytes as they lie. Each half gets its chunk's scale (vpermw)
 * and vpdpwssd does the scale multiply and the lane add in one. Lanes 0-7
 * and 8-15 of the 16-lane sum are the AVX2 kernel's lanes of even and odd
 * chunks: folded, its eight integers. */
static AVX512 void q4_K_vec_dot_512(int n, float *restrict s, const void *restrict vx,
                                    const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0f), nib = halves16(0, 4);
    const __m512i i01 = halves16(0, 1), i23 = halves16(2, 3), i45 = halves16(4, 5), i67 = halves16(6, 7);
    __m256 acc = _mm256_setzero_ps();
    __m128 am = _mm_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        prefetch_ahead(x + b, sizeof *x);
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        const __m256i sm16 = _mm256_cvtepu8_epi16(k4_scales_mins_v(x[b].scales));
        const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[b].bsums),
                                           _mm_loadu_si128((const __m128i *)(y[b].bsums + 8)));
        const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), q8s);
        am = _mm_fmadd_ps(_mm_cvtepi32_ps(prod), _mm_set1_ps(dmin), am);
        const __m512i sc = _mm512_castsi256_si512(sm16);    /* elements 0-7: the scales */
#define Q4K_PART(j) _mm512_maddubs_epi16( \
            _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4( \
                                 _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * (j)))), nib), m4), \
            _mm512_loadu_si512(y[b].qs + 64 * (j)))
        __m512i s0 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), Q4K_PART(0), _mm512_permutexvar_epi16(i01, sc));
        __m512i s1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), Q4K_PART(1), _mm512_permutexvar_epi16(i23, sc));
        s0 = _mm512_dpwssd_epi32(s0, Q4K_PART(2), _mm512_permutexvar_epi16(i45, sc));
        s1 = _mm512_dpwssd_epi32(s1, Q4K_PART(3), _mm512_permutexvar_epi16(i67, sc));
#undef Q4K_PART
        const __m512i t = _mm512_add_epi32(s0, s1);
        acc = scale_lanes(acc, _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1)), d);
    }
    *s = hsum8(acc) + fold_am(am);
}

/* q6_K with 512-bit registers. A register of 64 low-bit bytes ql[64j..]
 * holds, as low nibbles, values 128j..128j+63 (chunks 4j, 4j+1) and as high
 * nibbles values 128j+64..128j+127 (chunks 4j+2, 4j+3): in value order, so
 * the activations need no regrouping. The two high bits come from one 32-byte
 * row of qh read into both halves and shifted per half (vpsllvw/vpsrlvw) so
 * that chunk k's bits 2k, 2k+1 land on bits 4-5. Per 64 values: (v*y pairs)
 * - (32*y pairs) in 16 bits, then vpdpwssd with the sub-block scales: the
 * AVX2 kernel's integers. Lanes 0-7 of the 16-lane sum belong to even
 * chunks, 8-15 to odd ones; folded they are its eight lanes. */
static AVX512 void q6_K_vec_dot_512(int n, float *restrict s, const void *restrict vx,
                                    const void *restrict vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30), m32 = _mm512_set1_epi8(32);
    const __m512i shl_a = halves16(4, 2);     /* chunks 4j, 4j+1: bits 0-1, 2-3 -> 4-5 */
    const __m512i shr_b = halves16(0, 2);     /* chunks 4j+2, 4j+3: bits 4-5, 6-7 -> 4-5 */
    /* 16-bit element t of the scale vector of values 64i..64i+63: the scale
     * of sub-block 4i + t/8 */
    const __m512i t8 = _mm512_srli_epi16(_mm512_set_epi16(
        31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
        15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3);
    const __m512i sidx0 = t8, sidx1 = _mm512_add_epi16(t8, _mm512_set1_epi16(4));
    const __m512i sidx2 = _mm512_add_epi16(t8, _mm512_set1_epi16(8));
    const __m512i sidx3 = _mm512_add_epi16(t8, _mm512_set1_epi16(12));
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        prefetch_ahead(x + b, sizeof *x);
        const __m512i sc = _mm512_cvtepi8_epi16(_mm256_castsi128_si256(
            _mm_loadu_si128((const __m128i *)x[b].scales)));
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        for (int j = 0; j < 2; j++) {
            const __m512i l = _mm512_loadu_si512(x[b].ql + 64 * j);
            const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * j)));
            /* (l & 0x0f) | (h' & 0x30): vpternlogd 0xf8 is a | (b & c) */
            const __m512i va = _mm512_ternarylogic_epi32(_mm512_and_si512(l, m4), _mm512_sllv_epi16(h, shl_a),
                                                         m30, 0xf8);
            const __m512i vb = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                                         _mm512_srlv_epi16(h, shr_b), m30, 0xf8);
            const __m512i ya = _mm512_loadu_si512(y[b].qs + 128 * j);
            const __m512i yb = _mm512_loadu_si512(y[b].qs + 128 * j + 64);
            const __m512i pa = _mm512_sub_epi16(_mm512_maddubs_epi16(va, ya), _mm512_maddubs_epi16(m32, ya));
            const __m512i pb = _mm512_sub_epi16(_mm512_maddubs_epi16(vb, yb), _mm512_maddubs_epi16(m32, yb));
            s0 = _mm512_dpwssd_epi32(s0, pa, _mm512_permutexvar_epi16(j ? sidx2 : sidx0, sc));
            s1 = _mm512_dpwssd_epi32(s1, pb, _mm512_permutexvar_epi16(j ? sidx3 : sidx1, sc));
        }
        const __m512i t = _mm512_add_epi32(s0, s1);
        acc = scale_lanes(acc, _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1)),
                          y[b].d * h2f(x[b].d));
    }
    *s = hsum8(acc);
}

void gl_quant_x86_avx512(struct gl_quant_kernels *k)
{
    gl_quant_x86_avx2(k);
    k->vec_dot[GL_TYPE_Q4_K] = q4_K_vec_dot_512;
    k->vec_dot[GL_TYPE_Q6_K] = q6_K_vec_dot_512;
    k->gemm[GL_TYPE_Q4_K] = q4_K_gemm;
    k->gemm[GL_TYPE_Q6_K] = q6_K_gemm;
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
    k->gemm[GL_TYPE_Q4_K] = q4_K_gemm_avx2;
    k->gemm[GL_TYPE_Q6_K] = q6_K_gemm_avx2;
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

bool gl_quant_x86_has_avx512vnni(void)
{
    return false;
}

void gl_quant_x86_avx512(struct gl_quant_kernels *k)
{
    (void)k;
}

size_t gl_gemm_panel_bytes(int n, int nr)
{
    (void)n;
    (void)nr;
    return 0;
}

#endif
