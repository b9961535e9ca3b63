/*
 * ops.c - the numeric building blocks of the decoder and the vision tower:
 * matrix products, norms, RoPE, softmax, activations, causal attention.
 *
 * Numerics follow the reference (llama.cpp's ggml CPU backend, FORMAT.md
 * §4-§5) wherever that is cheap: row sums of norms and softmax are taken in
 * double as ggml does, RoPE angles are advanced by repeated f32
 * multiplication, matrix products convert the activations to the weight's
 * vec_dot_type and call the format's own dot product, the f16 KV cache path
 * rounds q and the softmax probabilities to f16, and the GELU variants of the
 * vision tower use ggml's f16 lookup tables.
 *
 * Threading: ops that take a pool split their work into tasks handed out by
 * an atomic counter. OpenBLAS is kept single-threaded (see pool.c) and sgemm
 * is called from every pool thread on its own slice of the output.
 */
#include "config.h"

#include "glimpse/ops.h"
#include "glimpse/quant.h"

#include "quant_impl.h"
#include "util.h"

#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ggml's constants for the activations. */
#define GELU_COEF_A 0.044715f
#define SQRT_2_OVER_PI 0.79788456080286535587989211986876f
#define SQRT_2_INV 0.70710678118654752440084436210484f
#define GELU_QUICK_COEF (-1.702f)

/* ---------------------------------------------------------------- scratch */

void gl_scratch_free(struct gl_scratch *s)
{
    if (!s)
        return;
    gl_afree(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

void *gl_scratch_get(struct gl_scratch *s, size_t n)
{
    if (n == 0)
        n = 1;
    if (s->buf && s->cap >= n)
        return s->buf;
    /* Grow by at least half so a slowly growing KV length does not
     * reallocate on every token. The old contents are not kept. */
    size_t want = n;
    if (s->cap + s->cap / 2 > want)
        want = s->cap + s->cap / 2;
    if (want > SIZE_MAX - 4095)
        return NULL;
    want = (want + 4095) & ~(size_t)4095;
    gl_afree(s->buf);
    s->buf = gl_amalloc(want);
    s->cap = s->buf ? want : 0;
    return s->buf;
}

/* Bytes from `off` up to the next multiple of 64. */
static size_t align64(size_t off)
{
    return (off + 63) & ~(size_t)63;
}

/* ------------------------------------------- the reference's vector sums */

/* The reference (ggml's CPU backend built for AVX-512) sums dot products in
 * 16-lane vector registers and folds the lanes at the end; its results
 * depend on that order at the level of f32 rounding. The functions below
 * redo the same operations one lane at a time so the llama.cpp-compatible
 * paths give the reference's bits, whatever our thread count.
 *
 * Products of two f16 (or bf16) values are exact in f32, so for them a fused
 * multiply-add and "add the product" are the same operation; f32 x f32
 * products need a real fused multiply-add (fmaf). */

#define ATT_PREFETCH_ROWS 8         /* cache rows read ahead by attention (see att_prefetch) */

/* _mm512_reduce_add_ps as GCC expands it: the two 256-bit halves added,
 * then the two 128-bit quarters, then lanes {0,1} + {2,3}, then the pair. */
static inline float lanes16_sum(const float v[16])
{
    float a[8], b[4];
    for (int i = 0; i < 8; i++)
        a[i] = v[i] + v[i + 8];
    for (int i = 0; i < 4; i++)
        b[i] = a[i] + a[i + 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* ggml_vec_dot_f16 (AVX-512: 4 accumulators of 16 lanes over steps of 64,
 * folded as (acc0 + acc2) + (acc1 + acc3), the tail in double) on values
 * already widened from f16 to f32. */
static float dot_f16_vec_c(const float *x, const float *y, int64_t n)
{
    const int64_t np = n & ~(int64_t)63;
    float acc[4][16] = { { 0 } };
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < 16; t++)
                acc[j][t] += x[i + 16 * j + t] * y[i + 16 * j + t];
    for (int t = 0; t < 16; t++) {
        acc[0][t] += acc[2][t];
        acc[1][t] += acc[3][t];
    }
    for (int t = 0; t < 16; t++)
        acc[0][t] += acc[1][t];
    double sum = np ? (double)lanes16_sum(acc[0]) : 0.0;
    for (int64_t i = np; i < n; i++)
        sum += (double)(x[i] * y[i]);
    return (float)sum;
}

/* llamafile's tinyBLAS kernel for f16 x f16 on AVX-512 (the reference's
 * batched product): one 16-lane accumulator per output over the whole row
 * (n a multiple of 16), folded at the end. Widened values as above. */
static float dot_f16_tiny_c(const float *x, const float *y, int64_t n)
{
    float acc[16] = { 0 };
    for (int64_t l = 0; l < n; l += 16)
        for (int t = 0; t < 16; t++)
            acc[t] += x[l + t] * y[l + t];
    return lanes16_sum(acc);
}

/* Keep the compiler from fusing the rounded part of the tail where FMA is
 * enabled. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
float ops_dot_f32_ggml(const float *x, const float *y, int64_t n)
{
    const int64_t np = n & ~(int64_t)63;
    float acc[4][16] = { { 0 } };
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < 16; t++)
                acc[j][t] = fmaf(x[i + 16 * j + t], y[i + 16 * j + t], acc[j][t]);
    for (int t = 0; t < 16; t++) {
        acc[0][t] += acc[2][t];
        acc[1][t] += acc[3][t];
    }
    for (int t = 0; t < 16; t++)
        acc[0][t] += acc[1][t];
    float sum = np ? lanes16_sum(acc[0]) : 0.0f;
    /* The tail is the C loop `sumf += x[i]*y[i]` in f32, which GCC (-O3,
     * -march=native, GNU C: fp-contract=fast) turns into two parts: an
     * in-order vectorized reduction (vector products, rounded, then added
     * one lane after another) over whole groups of 4, and a scalar epilogue
     * for the last n % 4 values where the product is contracted into an
     * FMA. Both parts matter: the tiny mmproj's attention has 16-long score
     * dots (all rounded products; fusing them puts the output 5e-4 away
     * from llama.cpp's) and 577-long P.V dots whose one leftover value is
     * fused (rounding it first leaves one attention output of the portrait
     * exactly on an f16 tie that llama.cpp rounds the other way). Only tails
     * of n % 4 == 0 and of 1 value are confirmed against the reference. */
    const int64_t nv = np + ((n - np) & ~(int64_t)3);
    for (int64_t i = np; i < nv; i++) {
        const float p = x[i] * y[i];
        sum += p;
    }
    for (int64_t i = nv; i < n; i++)
        sum = fmaf(x[i], y[i], sum);
    return sum;
}

/* ggml_v_expf for AVX-512 (ARM's optimized-routines polynomial): 2^n by
 * rounding x*log2(e) to an integer with the 1.5*2^23 trick, a two-part
 * Cody-Waite reduction, a degree-5 polynomial, then scalef. */
static float expf_ggml_c(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (isnan(n))
        return n;               /* NaN weights (a hostile file): no (int)NaN below */
    if (fabsf(n) > 192.0f)
        return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

/* ---------------------------------------------- the same sums, 16 lanes at once */

/* AVX-512F versions of the loops above, chosen at run time. Each performs
 * the scalar code's operations lane for lane (explicit multiplies and adds,
 * never contracted; fused operations only where the scalar code calls fmaf),
 * so the results are the same bits; only the instruction count changes. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define OPS_X86 1
#define AVX512F __attribute__((target("avx512f,avx2,fma,f16c")))

static int ops_simd = -1;           /* 1: AVX-512F usable; set once */

static bool use_avx512(void)
{
    int v = __atomic_load_n(&ops_simd, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        const char *k = getenv("GLIMPSE_KERNELS");
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
            __builtin_cpu_supports("fma") && !(k && (strcmp(k, "scalar") == 0 || strcmp(k, "avx2") == 0));
        __atomic_store_n(&ops_simd, v, __ATOMIC_RELAXED);
    }
    return v != 0;
}

void ops_reset_simd(void)
{
    __atomic_store_n(&ops_simd, -1, __ATOMIC_RELAXED);
}

/* _mm512_reduce_add_ps in lanes16_sum's order, in registers. */
static inline AVX512F float lanes16_sum_v(__m512 v)
{
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));     /* b0 + b2, b1 + b3 */
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

static AVX512F float dot_f16_tiny_v(const float *x, const float *y, int64_t n)
{
    __m512 acc = _mm512_setzero_ps();
    for (int64_t l = 0; l < n; l += 16)
        acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(x + l), _mm512_loadu_ps(y + l)));
    return lanes16_sum_v(acc);
}

static AVX512F float dot_f16_vec_v(const float *x, const float *y, int64_t n)
{
    const int64_t np = n & ~(int64_t)63;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < np; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16)));
        a2 = _mm512_add_ps(a2, _mm512_mul_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32)));
        a3 = _mm512_add_ps(a3, _mm512_mul_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48)));
    }
    const __m512 f = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3));
    double sum = np ? (double)lanes16_sum_v(f) : 0.0;
    for (int64_t i = np; i < n; i++)
        sum += (double)(x[i] * y[i]);
    return (float)sum;
}

/* expf_ggml on 16 values: the same fused steps; ldexpf is scalef (both
 * round j * 2^n once), the NaN and overflow cases blended in afterwards. */
static inline AVX512F __m512 exp16_ggml(__m512 x)
{
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    __m512 e = _mm512_scalef_ps(j, n);
    const __m512 an = _mm512_abs_ps(n);
    const __mmask16 big = _mm512_cmp_ps_mask(an, _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    const __mmask16 pos = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ);
    e = _mm512_mask_mov_ps(e, big, _mm512_setzero_ps());
    e = _mm512_mask_mov_ps(e, big & pos, _mm512_set1_ps(INFINITY));
    const __mmask16 nan = _mm512_cmp_ps_mask(n, n, _CMP_UNORD_Q);
    return _mm512_mask_mov_ps(e, nan, n);
}

/* softmax_row_ggml with 16 lanes: the same maximum (NaNs skipped: max_ps
 * returns its second operand, the running maximum, when x is NaN; the
 * maximum of the rest does not depend on order), the same exps and their
 * sum in the same order, the same products. */
static AVX512F void softmax_row_ggml_v(float *x, int64_t n, float scale)
{
    const int64_t n16 = n & ~(int64_t)15;
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n16; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        if (scale != 1.0f) {
            v = _mm512_mul_ps(v, _mm512_set1_ps(scale));
            _mm512_storeu_ps(x + i, v);
        }
        vmx = _mm512_max_ps(v, vmx);
    }
    float mx = _mm512_reduce_max_ps(vmx);
    for (int64_t i = n16; i < n; i++) {
        if (scale != 1.0f)
            x[i] *= scale;
        if (x[i] > mx)
            mx = x[i];
    }
    double sum = 0.0;
    const __m512 vm = _mm512_set1_ps(mx);
    for (int64_t i = 0; i < n16; i += 16) {
        const __m512 e = exp16_ggml(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        sum += (double)lanes16_sum_v(e);
    }
    for (int64_t i = n16; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    const __m512 vi = _mm512_set1_ps(inv);
    int64_t k = 0;
    for (; k < n16; k += 16)
        _mm512_storeu_ps(x + k, _mm512_mul_ps(_mm512_loadu_ps(x + k), vi));
    for (; k < n; k++)
        x[k] *= inv;
}

/* x[i] = gl_round_fp16(x[i]): vcvtps2ph rounds to nearest even as
 * gl_fp32_to_fp16 does (only a NaN's payload could differ). */
static AVX512F void round_fp16_v(float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i),
                                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (; i < n; i++)
        x[i] = gl_round_fp16(x[i]);
}

/* lanes16_sum's tree applied lane by lane to sixteen registers (l is
 * overwritten): lane j of the result sums lane j of l[0..15]. */
static inline AVX512F __m512 lanes16_tree(__m512 l[16])
{
    for (int i = 0; i < 8; i++)
        l[i] = _mm512_add_ps(l[i], l[i + 8]);
    for (int i = 0; i < 4; i++)
        l[i] = _mm512_add_ps(l[i], l[i + 4]);
    return _mm512_add_ps(_mm512_add_ps(l[0], l[2]), _mm512_add_ps(l[1], l[3]));
}

/* out[d] = lanes16_sum(acc[0][d], ..., acc[15][d]) for d < n (a multiple of
 * 16): the sixteen lanes of each output are the sixteen rows. */
static AVX512F void lanes16_rows_v(float *out, const float *acc, int64_t ld, int64_t n)
{
    for (int64_t d = 0; d < n; d += 16) {
        __m512 l[16];
        for (int t = 0; t < 16; t++)
            l[t] = _mm512_loadu_ps(acc + t * ld + d);
        _mm512_storeu_ps(out + d, lanes16_tree(l));
    }
}

/* silu over whole blocks of 16: x / (1 + e^-x). */
static AVX512F void silu16(float *x, int64_t n16)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n16; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 e = exp16_ggml(_mm512_sub_ps(_mm512_setzero_ps(), v));
        _mm512_storeu_ps(x + i, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}

/* a += p * v, the product rounded, then added (as the scalar axpy). */
static AVX512F void axpy_v(float *restrict a, const float *restrict v, float p, int n)
{
    const __m512 pv = _mm512_set1_ps(p);
    int d = 0;
    for (; d + 16 <= n; d += 16)
        _mm512_storeu_ps(a + d, _mm512_add_ps(_mm512_loadu_ps(a + d),
                                              _mm512_mul_ps(pv, _mm512_loadu_ps(v + d))));
    for (; d < n; d++)
        a[d] += p * v[d];
}

/* A decoded token's scores against nk f16 key rows (hd a multiple of 64):
 * s[t] = dot_f16_vec(key t widened, q) * scale, the keys widened in
 * registers instead of through a row buffer; the same operations. (Fusing
 * the V side the same way measured slower: its accumulators live in memory
 * either way.) */
static AVX512F void scores_f16_v(float *s, const char *k, const char *v, size_t stride, int64_t nk,
                                 const float *q, int hd, float scale)
{
    for (int64_t t = 0; t < nk; t++) {
        const gl_fp16 *kr = (const gl_fp16 *)(k + (size_t)t * stride);
        if (t + ATT_PREFETCH_ROWS < nk)
            for (int off = 0; off < hd * 2; off += 64) {
                _mm_prefetch((const char *)kr + ATT_PREFETCH_ROWS * stride + off, _MM_HINT_T0);
                /* the value rows too, into L2, in order: P V reads them
                 * in 64 strided passes (pv_rows_128_v) */
                _mm_prefetch(v + (size_t)(t + ATT_PREFETCH_ROWS) * stride + off, _MM_HINT_T1);
            }
#define KROW(i, u) _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + (i) + 16 * (u)))), \
                                _mm512_loadu_ps(q + (i) + 16 * (u)))
        __m512 a0 = KROW(0, 0), a1 = KROW(0, 1), a2 = KROW(0, 2), a3 = KROW(0, 3);
        for (int i = 64; i < hd; i += 64) {
            a0 = _mm512_add_ps(a0, KROW(i, 0));
            a1 = _mm512_add_ps(a1, KROW(i, 1));
            a2 = _mm512_add_ps(a2, KROW(i, 2));
            a3 = _mm512_add_ps(a3, KROW(i, 3));
        }
#undef KROW
        s[t] = lanes16_sum_v(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3))) * scale;
    }
}

/* One accumulator row of P V for head size 128: out[d] = the sum over keys
 * t = first, first + step, ... below n, in order, of the rounded products
 * p[t] * v[t][d] (as the axpy loops add them, from zero), its 128 sums held
 * in 8 registers while the keys pass. Keys step rows apart are asked for
 * two steps ahead. */
static AVX512F void pv_row_128_v(float *out, const char *v, size_t stride, const float *p, int64_t first,
                                 int64_t step, int64_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t t = first; t < n; t += step) {
        const gl_fp16 *r = (const gl_fp16 *)(v + (size_t)t * stride);
        if (t + 2 * step < n)
            for (int off = 0; off < 256; off += 64)
                _mm_prefetch((const char *)r + 2 * step * (int64_t)stride + off, _MM_HINT_T0);
        const __m512 pt = _mm512_set1_ps(p[t]);
#define PV(a, s) a = _mm512_add_ps(a, _mm512_mul_ps(pt, _mm512_cvtph_ps(_mm256_loadu_si256( \
                                          (const __m256i *)(r + 16 * (s))))))
        PV(a0, 0); PV(a1, 1); PV(a2, 2); PV(a3, 3); PV(a4, 4); PV(a5, 5); PV(a6, 6); PV(a7, 7);
#undef PV
    }
    _mm512_storeu_ps(out, a0), _mm512_storeu_ps(out + 16, a1), _mm512_storeu_ps(out + 32, a2);
    _mm512_storeu_ps(out + 48, a3), _mm512_storeu_ps(out + 64, a4), _mm512_storeu_ps(out + 80, a5);
    _mm512_storeu_ps(out + 96, a6), _mm512_storeu_ps(out + 112, a7);
}

/* A decoded token's P V (ggml_vec_dot_f16's 64 accumulators, acc[r] for
 * keys t % 64 == r) and tinyBLAS's for one query of a batch (16, acc[l] for
 * keys t % 16 == l): each row's sums in registers instead of all of them
 * going through memory for every key, and every value row read once. */
static AVX512F void pv_rows_128_v(float *acc, int rows, const char *v, size_t stride, const float *p,
                                  int64_t n)
{
    for (int r = 0; r < rows; r++)
        pv_row_128_v(acc + (size_t)r * 128, v, stride, p, r, rows, n);
}

/* The end of a decoded token's P V (hd a multiple of 16), vectorized
 * across the outputs d: the four 16-lane accumulators folded as
 * (a0 + a2) + (a1 + a3) and summed in lanes16_sum's tree, then the keys
 * [np, nk) beyond the last whole 64 added in double, one rounded product
 * each, in order. */
static AVX512F void pv_finish_v(float *o, const float *acc, int hd, int64_t np, int64_t nk, const float *p,
                                const char *v, size_t stride)
{
    for (int d = 0; d < hd; d += 16) {
        __m512 f = _mm512_setzero_ps();
        if (np) {
            __m512 l[16];
            for (int t = 0; t < 16; t++)
                l[t] = _mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(acc + t * hd + d),
                                                   _mm512_loadu_ps(acc + (32 + t) * hd + d)),
                                     _mm512_add_ps(_mm512_loadu_ps(acc + (16 + t) * hd + d),
                                                   _mm512_loadu_ps(acc + (48 + t) * hd + d)));
            f = lanes16_tree(l);
        }
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
        for (int64_t t = np; t < nk; t++) {
            const __m512 pr = _mm512_mul_ps(_mm512_set1_ps(p[t]), _mm512_cvtph_ps(_mm256_loadu_si256(
                                                                      (const __m256i *)(v + (size_t)t * stride) + d / 16)));
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(pr)));
            hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(pr), 1))));
        }
        _mm256_storeu_ps(o + d, _mm512_cvtpd_ps(lo));
        _mm256_storeu_ps(o + d + 8, _mm512_cvtpd_ps(hi));
    }
}

/* n f16 values to f32 (exact either way). */
static AVX512F void f16_row_v(float *y, const gl_fp16 *x, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    for (; i < n; i++)
        y[i] = gl_fp16_to_fp32(x[i]);
}
#else
#define OPS_X86 0
static bool use_avx512(void)
{
    return false;
}

void ops_reset_simd(void)
{
}
#endif

static float dot_f16_tiny(const float *x, const float *y, int64_t n)
{
#if OPS_X86
    if (use_avx512())
        return dot_f16_tiny_v(x, y, n);
#endif
    return dot_f16_tiny_c(x, y, n);
}

static float dot_f16_vec(const float *x, const float *y, int64_t n)
{
#if OPS_X86
    if (use_avx512())
        return dot_f16_vec_v(x, y, n);
#endif
    return dot_f16_vec_c(x, y, n);
}

static inline float expf_ggml(float x)
{
    return expf_ggml_c(x);
}

/* One row of ggml_soft_max: scaled, the maximum taken, exp(x - max) over
 * blocks of 16 with the vector exp, each block folded in f32 and added to a
 * double sum; a tail shorter than 16 through the C library's expf. Then
 * x *= (float)(1 / sum). */
static void softmax_row_ggml(float *x, int64_t n, float scale)
{
#if OPS_X86
    if (use_avx512()) {
        softmax_row_ggml_v(x, n, scale);
        return;
    }
#endif
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (scale != 1.0f)
            x[i] *= scale;
        if (x[i] > mx)
            mx = x[i];
    }
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int t = 0; t < 16; t++)
            x[i + t] = expf_ggml(x[i + t] - mx);
        sum += (double)lanes16_sum(x + i);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t k = 0; k < n; k++)
        x[k] *= inv;
}

void ops_softmax_ggml(float *x, int64_t m, int64_t n, float scale)
{
    for (int64_t r = 0; r < m; r++)
        softmax_row_ggml(x + r * n, n, scale);
}

/* ---------------------------------------------------------------- matmul */

#define MM_WROWS 16                 /* weight rows per tile of the vec_dot kernel (at least) */
#define MM_TASK_BYTES (1u << 20)    /* weight bytes x activation rows per task, aimed at */
#define MM_XROWS 32                 /* activation rows per tile */
#define MM_BLAS_MIN_M 32            /* from this batch size on, F32/F16/BF16 go to sgemm */
#define MM_WTILE_BYTES (4u << 20)   /* f32 weight tile per thread on the converting sgemm path */

struct mm_job {
    const struct gl_weight *w;
    const struct gl_type_traits *wt;    /* traits of the weights */
    const struct gl_type_traits *vt;    /* traits of their vec_dot_type */
    const float *x;                     /* [m][n_in] activations */
    int64_t m;
    const char *xq;                     /* [m] rows of xq_row bytes in vec_dot_type */
    char *xq_buf;                       /* the same rows while they are being written */
    size_t xq_row;
    float *xr;                          /* [m][n_in] rounded activations (sgemm path) */
    float *y;                           /* [m][n_out] */
    float *wbuf;                        /* [nth][tile_rows][n_in] weights in f32 (sgemm path) */
    int64_t tile_rows;                  /* weight rows per task on the converting sgemm path */
    int64_t n_wb, n_xb;                 /* tile grid of the vec_dot kernel */
    int64_t wrows;                      /* weight rows per tile of the vec_dot kernel */
    gl_gemm_fn gemm;                    /* the format's batched product, or NULL */
    char *panels;                       /* [nth] decoded weight panels (gemm path) */
    size_t panel_bytes;
    atomic_int_fast64_t next;           /* next task */
};

/* Activation rows [b, e) -> vec_dot_type (and back to f32 for sgemm). */
static void mm_convert_rows(void *arg, int64_t b, int64_t e)
{
    struct mm_job *j = arg;
    const int64_t n_in = j->w->n_in;
    for (int64_t i = b; i < e; i++) {
        char *q = j->xq_buf + (size_t)i * j->xq_row;
        j->vt->from_float(j->x + i * n_in, q, n_in);
        if (j->xr)
            j->vt->to_float(q, j->xr + i * n_in, n_in);
    }
}

/* Weight rows per task of the vec_dot kernel. A decoded token (m = 1)
 * streams every weight from memory once; each core's prefetches run a few
 * KiB ahead of the row it sums (quant_x86.c), so with small tasks that
 * alternate between the threads a core keeps fetching its neighbour's rows
 * and restarting its own stream. q4_K from memory on the test machine,
 * 2 threads, read bandwidth 51 GB/s: 16-row tasks 37-39 GB/s, 256 KiB ones
 * 48.5, 512 KiB 50.4, 1 MiB 51.7. Tasks of about MM_TASK_BYTES, at least 4
 * per thread for balance, in steps of MM_WROWS.
 * Each output is one vec_dot call whatever the tiling. */
static int64_t mm_task_rows(const struct gl_weight *w, int64_t m, int nth)
{
    const int64_t xrows = m < MM_XROWS ? m : MM_XROWS;
    int64_t rows = (int64_t)(MM_TASK_BYTES / w->row_bytes) / xrows;
    const int64_t most = w->n_out / (4 * (int64_t)nth);
    if (rows > most)
        rows = most;
    rows -= rows % MM_WROWS;
    return rows > MM_WROWS ? rows : MM_WROWS;
}

/* The tiled kernel: every output element is one call of the format's dot
 * product, so a batch gives bit-for-bit the results of m separate
 * matrix-vector products. A tile is MM_WROWS weight rows x MM_XROWS
 * activation rows; each weight row is read once from memory and reused from
 * L1 for all activation rows of the tile. */
static void mm_tiles(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    const struct gl_weight *w = j->w;
    const int64_t n_out = w->n_out, n_tiles = j->n_wb * j->n_xb;
    const int n_in = (int)w->n_in;
    (void)ith;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= n_tiles)
            break;
        /* Consecutive tasks share a weight block. */
        int64_t r0 = t / j->n_xb * j->wrows, i0 = t % j->n_xb * MM_XROWS;
        int64_t r1 = r0 + j->wrows < n_out ? r0 + j->wrows : n_out;
        int64_t i1 = i0 + MM_XROWS < j->m ? i0 + MM_XROWS : j->m;
        for (int64_t r = r0; r < r1; r++) {
            const char *wrow = (const char *)w->data + (size_t)r * w->row_bytes;
            for (int64_t i = i0; i < i1; i++)
                j->wt->vec_dot(n_in, &j->y[i * n_out + r], wrow, j->xq + (size_t)i * j->xq_row);
        }
    }
}

/* The batched kernel of the format (quant_impl.h): a task is MM_GEMM_ROWS
 * weight rows against the whole batch; the kernel decodes the rows once into
 * this thread's panel and reuses them for every activation row. Its outputs
 * are the vec_dot ones bit for bit, so the thread count changes nothing. */
#define MM_GEMM_ROWS 16
#define MM_GEMM_MIN_M 4             /* from this batch size on, use the batched kernel */

static void mm_gemm(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    const struct gl_weight *w = j->w;
    const int64_t n_out = w->n_out, n_tasks = (n_out + MM_GEMM_ROWS - 1) / MM_GEMM_ROWS;
    void *panel = j->panels + (size_t)ith * j->panel_bytes;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= n_tasks)
            break;
        int64_t r0 = t * MM_GEMM_ROWS, r1 = r0 + MM_GEMM_ROWS < n_out ? r0 + MM_GEMM_ROWS : n_out;
        j->gemm((int)w->n_in, (int)(r1 - r0), (int)j->m, j->y + r0, (size_t)n_out,
                (const char *)w->data + (size_t)r0 * w->row_bytes, w->row_bytes, j->xq, j->xq_row,
                panel);
    }
}

/* F32 weights, large batch: tasks are blocks of tile_rows weight rows,
 * Y[:, r0:r1] = X W[r0:r1]^T straight from the weights. Blocks of a few
 * hundred rows keep the packed weight panel in cache and balance the load
 * better than one slice per thread. */
static void mm_blas_f32(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    const struct gl_weight *w = j->w;
    const int64_t n_tasks = (w->n_out + j->tile_rows - 1) / j->tile_rows;
    (void)ith;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= n_tasks)
            break;
        int64_t r0 = t * j->tile_rows;
        int64_t r1 = r0 + j->tile_rows < w->n_out ? r0 + j->tile_rows : w->n_out;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->m, (int)(r1 - r0),
                    (int)w->n_in, 1.0f, j->x, (int)w->n_in,
                    (const float *)((const char *)w->data + (size_t)r0 * w->row_bytes),
                    (int)(w->row_bytes / sizeof(float)), 0.0f, j->y + r0, (int)w->n_out);
    }
}

/* F16/BF16 weights, large batch: the activations were rounded to the weight
 * format (as the reference does before its dot products); a product of two
 * f16 (or bf16) values is exact in f32, so sgemm on the widened values
 * differs from the reference only in the order of the f32 sums. Tasks are
 * blocks of tile_rows weight rows, widened into this thread's buffer. */
static void mm_blas_widen(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    const struct gl_weight *w = j->w;
    const int64_t n_in = w->n_in, n_tasks = (w->n_out + j->tile_rows - 1) / j->tile_rows;
    float *wb = j->wbuf + (size_t)ith * (size_t)j->tile_rows * (size_t)n_in;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= n_tasks)
            break;
        int64_t r0 = t * j->tile_rows;
        int64_t r1 = r0 + j->tile_rows < w->n_out ? r0 + j->tile_rows : w->n_out;
        for (int64_t r = r0; r < r1; r++)
            j->wt->to_float((const char *)w->data + (size_t)r * w->row_bytes,
                            wb + (r - r0) * n_in, n_in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->m, (int)(r1 - r0),
                    (int)n_in, 1.0f, j->xr, (int)n_in, wb, (int)n_in, 0.0f, j->y + r0,
                    (int)w->n_out);
    }
}

/* F16 weights, any batch: the reference's own summation order (see "the
 * reference's vector sums"). Tasks are a fixed grid of MM_WROWS weight rows
 * x MM_F16_XROWS activation rows, so the thread count changes nothing; a
 * thread widens a weight block into its buffer once and keeps it while its
 * next task shares the block. The activations were rounded to f16 and
 * widened once (xr). ggml takes batches of two rows or more through
 * tinyBLAS when it can (rows a multiple of 16 values, a multiple of 4 weight
 * rows), everything else through ggml_vec_dot_f16. */
#define MM_F16_XROWS 64

static void mm_f16(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    const struct gl_weight *w = j->w;
    const int64_t n_in = w->n_in, n_out = w->n_out, n_tiles = j->n_wb * j->n_xb;
    const bool tiny = j->m >= 2 && n_in % 16 == 0 && n_out % 4 == 0;
    float *wb = j->wbuf + (size_t)ith * MM_WROWS * (size_t)n_in;
    int64_t have = -1;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= n_tiles)
            break;
        int64_t r0 = t / j->n_xb * MM_WROWS, i0 = t % j->n_xb * MM_F16_XROWS;
        int64_t r1 = r0 + MM_WROWS < n_out ? r0 + MM_WROWS : n_out;
        int64_t i1 = i0 + MM_F16_XROWS < j->m ? i0 + MM_F16_XROWS : j->m;
        if (have != r0) {
            for (int64_t r = r0; r < r1; r++)
                j->wt->to_float((const char *)w->data + (size_t)r * w->row_bytes,
                                wb + (r - r0) * n_in, n_in);
            have = r0;
        }
        for (int64_t i = i0; i < i1; i++) {
            const float *xi = j->xr + i * n_in;
            float *yi = j->y + i * n_out;
            for (int64_t r = r0; r < r1; r++)
                yi[r] = tiny ? dot_f16_tiny(wb + (r - r0) * n_in, xi, n_in)
                             : dot_f16_vec(wb + (r - r0) * n_in, xi, n_in);
        }
    }
}

/* Weight rows per sgemm task: a tile of at most MM_WTILE_BYTES in f32,
 * 16..256 rows, and no more than one thread's share of the output. */
static int64_t sgemm_tile_rows(const struct gl_weight *w, int nth)
{
    int64_t per = (w->n_out + nth - 1) / nth;
    int64_t rows = (int64_t)(MM_WTILE_BYTES / ((size_t)w->n_in * sizeof(float)));
    rows = rows < 16 ? 16 : rows > 256 ? 256 : rows / 16 * 16;
    if (rows > (per + 15) / 16 * 16)
        rows = (per + 15) / 16 * 16;
    return rows;
}

/* sgemm always runs single-threaded inside our own threads (pool.c sets the
 * same on pool creation; this covers callers that never made a pool). */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    openblas_set_num_threads(1);
}

int ops_matmul(gl_pool *pool, struct gl_scratch *scratch, float *y, const float *x,
               int64_t m, const struct gl_weight *w)
{
    const struct gl_type_traits *wt = gl_type_traits(w->type);
    assert(wt && wt->vec_dot && "ops_matmul: unsupported weight type");
    assert(w->n_in % wt->blck_size == 0);
    if (m <= 0 || w->n_out <= 0)
        return 0;

    const struct gl_type_traits *vt = gl_type_traits(wt->vec_dot_type);
    assert(vt);
    const int nth = gl_pool_size(pool);
    const bool blas_dims = m >= MM_BLAS_MIN_M && m <= INT_MAX && w->n_in <= INT_MAX &&
                           w->n_out <= INT_MAX;

    struct mm_job j = { .w = w, .wt = wt, .vt = vt, .x = x, .m = m, .y = y };
    atomic_init(&j.next, 0);
    if (blas_dims)
        pthread_once(&blas_once, blas_single_thread);

    if (blas_dims && w->type == GL_TYPE_F32 && w->row_bytes % sizeof(float) == 0 &&
        w->row_bytes / sizeof(float) <= INT_MAX) {
        j.tile_rows = sgemm_tile_rows(w, nth);
        gl_pool_run(pool, mm_blas_f32, &j);
        return 0;
    }

    struct gl_scratch local = { 0 };
    struct gl_scratch *s = scratch ? scratch : &local;
    const bool f16 = w->type == GL_TYPE_F16 && wt->vec_dot_type == w->type && wt->to_float;
    const bool widen = !f16 && blas_dims && !wt->is_quantized && w->type != GL_TYPE_F32 &&
                       wt->vec_dot_type == w->type && wt->to_float && vt->to_float;

    const gl_gemm_fn gemm = !f16 && !widen && m >= MM_GEMM_MIN_M && m <= INT_MAX &&
                            w->n_in <= INT_MAX ? gl_quant_gemm(w->type) : NULL;

    if (wt->vec_dot_type == GL_TYPE_F32) {
        /* F32 weights, small batch: the activations are already in the
         * vec_dot_type; no copy. */
        j.xq = (const char *)x;
        j.xq_row = (size_t)w->n_in * sizeof(float);
    } else {
        j.xq_row = gl_row_size(wt->vec_dot_type, w->n_in);
        size_t off = 0, xq_off = 0, xr_off = 0, wb_off = 0;
        uint64_t sz;
        if (!gl_mul_ok((uint64_t)m, j.xq_row, &sz))
            return -1;
        off = align64(xq_off + sz);
        if (f16) {
            xr_off = off;
            if (!gl_mul_ok((uint64_t)m * sizeof(float), (uint64_t)w->n_in, &sz))
                return -1;
            off = align64(xr_off + sz);
            wb_off = off;
            if (!gl_mul_ok((uint64_t)nth * MM_WROWS * sizeof(float), (uint64_t)w->n_in, &sz))
                return -1;
            off = wb_off + sz;
        } else if (widen) {
            /* BF16: a tile that does not depend on the thread count, so
             * that sgemm's blocking (and its sums) does not either. */
            int64_t rows = sgemm_tile_rows(w, 1);
            j.tile_rows = rows;
            xr_off = off;
            if (!gl_mul_ok((uint64_t)m * sizeof(float), (uint64_t)w->n_in, &sz))
                return -1;
            off = align64(xr_off + sz);
            wb_off = off;
            if (!gl_mul_ok((uint64_t)nth * (uint64_t)rows * sizeof(float), (uint64_t)w->n_in,
                           &sz))
                return -1;
            off = wb_off + sz;
        } else if (gemm) {
            j.gemm = gemm;
            j.panel_bytes = align64(gl_gemm_panel_bytes((int)w->n_in, MM_GEMM_ROWS));
            wb_off = off;
            if (!gl_mul_ok((uint64_t)nth, j.panel_bytes, &sz))
                return -1;
            off = wb_off + sz;
        }
        char *buf = gl_scratch_get(s, off);
        if (!buf)
            return -1;
        j.xq_buf = buf + xq_off;
        j.xq = j.xq_buf;
        if (widen || f16) {
            j.xr = (float *)(buf + xr_off);
            j.wbuf = (float *)(buf + wb_off);
        } else if (j.gemm) {
            j.panels = buf + wb_off;
        }
        int64_t chunk = (m + 4 * nth - 1) / (4 * nth);
        gl_pool_for(pool, m, chunk, mm_convert_rows, &j);
    }

    if (f16) {
        j.n_wb = (w->n_out + MM_WROWS - 1) / MM_WROWS;
        j.n_xb = (m + MM_F16_XROWS - 1) / MM_F16_XROWS;
        gl_pool_run(pool, mm_f16, &j);
    } else if (widen) {
        gl_pool_run(pool, mm_blas_widen, &j);
    } else if (j.gemm) {
        gl_pool_run(pool, mm_gemm, &j);
    } else {
        j.wrows = mm_task_rows(w, m, nth);
        j.n_wb = (w->n_out + j.wrows - 1) / j.wrows;
        j.n_xb = (m + MM_XROWS - 1) / MM_XROWS;
        gl_pool_run(pool, mm_tiles, &j);
    }
    gl_scratch_free(&local);
    return 0;
}

/* Several products of one input (q, k, v; gate, up): the activations are
 * converted once and all the products run as one pool job, so a decoded
 * token waits at one barrier instead of three. Tasks of the vec_dot kernel
 * are MM_WROWS weight rows x the whole (small) batch; tasks of the batched
 * kernel are MM_GEMM_ROWS rows x the whole batch. Outputs are those of
 * separate ops_matmul calls, bit for bit. */
#define MM_MULTI_MAX 4

struct mm_multi_job {
    int n;
    struct {
        const struct gl_weight *w;
        gl_vec_dot_fn vec_dot;
        gl_gemm_fn gemm;
        float *y;
        int64_t rows;                   /* weight rows per task */
        int64_t end;                    /* tasks of parts 0..k */
    } part[MM_MULTI_MAX];
    const char *xq;
    size_t xq_row;
    int64_t m;
    char *panels;
    size_t panel_bytes;
    atomic_int_fast64_t next;
};

static void mm_multi_worker(void *arg, int ith, int nth)
{
    struct mm_multi_job *j = arg;
    void *panel = j->panels ? j->panels + (size_t)ith * j->panel_bytes : NULL;
    const int64_t total = j->part[j->n - 1].end;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= total)
            break;
        int k = 0;
        while (t >= j->part[k].end)
            k++;
        const struct gl_weight *w = j->part[k].w;
        const int64_t r0 = (t - (k ? j->part[k - 1].end : 0)) * j->part[k].rows;
        const int64_t r1 = r0 + j->part[k].rows < w->n_out ? r0 + j->part[k].rows : w->n_out;
        float *y = j->part[k].y;
        if (j->part[k].gemm) {
            j->part[k].gemm((int)w->n_in, (int)(r1 - r0), (int)j->m, y + r0, (size_t)w->n_out,
                            (const char *)w->data + (size_t)r0 * w->row_bytes, w->row_bytes, j->xq,
                            j->xq_row, panel);
            continue;
        }
        for (int64_t r = r0; r < r1; r++) {
            const char *wrow = (const char *)w->data + (size_t)r * w->row_bytes;
            for (int64_t i = 0; i < j->m; i++)
                j->part[k].vec_dot((int)w->n_in, &y[i * w->n_out + r], wrow, j->xq + (size_t)i * j->xq_row);
        }
    }
}

int ops_matmul_n(gl_pool *pool, struct gl_scratch *scratch, int n, float *const *y, const float *x,
                 int64_t m, const struct gl_weight *const *w)
{
    if (n <= 0 || m <= 0)
        return 0;
    /* Shared conversion: quantized weights of one vec_dot_type and width,
     * in the range of the tiled or batched kernels (not sgemm, not F16). */
    bool shared = n <= MM_MULTI_MAX && m <= INT_MAX && w[0]->n_in <= INT_MAX;
    const struct gl_type_traits *wt0 = gl_type_traits(w[0]->type);
    for (int k = 0; shared && k < n; k++) {
        const struct gl_type_traits *t = gl_type_traits(w[k]->type);
        shared = t && t->is_quantized && t->vec_dot && t->vec_dot_type == wt0->vec_dot_type &&
                 w[k]->n_in == w[0]->n_in && w[k]->n_out > 0 &&
                 (m < MM_XROWS || (m >= MM_GEMM_MIN_M && gl_quant_gemm(w[k]->type)));
    }
    if (!shared) {
        for (int k = 0; k < n; k++)
            if (ops_matmul(pool, scratch, y[k], x, m, w[k]))
                return -1;
        return 0;
    }

    const int nth = gl_pool_size(pool);
    const int64_t n_in = w[0]->n_in;
    struct mm_multi_job j = { .n = n, .m = m };
    atomic_init(&j.next, 0);
    int64_t end = 0;
    bool any_gemm = false;
    for (int k = 0; k < n; k++) {
        const struct gl_type_traits *t = gl_type_traits(w[k]->type);
        j.part[k].w = w[k];
        j.part[k].vec_dot = t->vec_dot;
        j.part[k].gemm = m >= MM_GEMM_MIN_M ? gl_quant_gemm(w[k]->type) : NULL;
        j.part[k].y = y[k];
        j.part[k].rows = j.part[k].gemm ? MM_GEMM_ROWS : mm_task_rows(w[k], m, nth);
        end += (w[k]->n_out + j.part[k].rows - 1) / j.part[k].rows;
        j.part[k].end = end;
        any_gemm |= j.part[k].gemm != NULL;
    }

    const struct gl_type_traits *vt = gl_type_traits(wt0->vec_dot_type);
    j.xq_row = gl_row_size(wt0->vec_dot_type, n_in);
    uint64_t sz;
    if (!gl_mul_ok((uint64_t)m, j.xq_row, &sz))
        return -1;
    size_t off = align64((size_t)sz);
    if (any_gemm) {
        j.panel_bytes = align64(gl_gemm_panel_bytes((int)n_in, MM_GEMM_ROWS));
        if (!gl_mul_ok((uint64_t)nth, j.panel_bytes, &sz))
            return -1;
        off += (size_t)sz;
    }
    struct gl_scratch local = { 0 };
    struct gl_scratch *s = scratch ? scratch : &local;
    char *buf = gl_scratch_get(s, off);
    if (!buf)
        return -1;
    if (any_gemm)
        j.panels = buf + align64((size_t)m * j.xq_row);

    /* the conversion, as ops_matmul does it */
    struct mm_job cj = { .w = w[0], .wt = wt0, .vt = vt, .x = x, .m = m, .xq_buf = buf, .xq_row = j.xq_row };
    gl_pool_for(pool, m, (m + 4 * nth - 1) / (4 * nth), mm_convert_rows, &cj);
    j.xq = buf;
    gl_pool_run(pool, mm_multi_worker, &j);
    gl_scratch_free(&local);
    return 0;
}

/* ---------------------------------------------------------------- norms */

void ops_rmsnorm(float *out, const float *x, const float *w, int64_t m, int64_t n, float eps)
{
    for (int64_t r = 0; r < m; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        /* ggml: squares in f32, summed in double, mean rounded to f32. */
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)(xr[i] * xr[i]);
        const float mean = (float)(sum / (double)n);
        const float scale = 1.0f / sqrtf(mean + eps);
        /* The reference scales, rounds, then multiplies by the weight. */
        for (int64_t i = 0; i < n; i++) {
            float v = xr[i] * scale;
            o[i] = w ? v * w[i] : v;
        }
    }
}

void ops_layernorm(float *out, const float *x, const float *w, const float *b, int64_t m,
                   int64_t n, float eps)
{
    for (int64_t r = 0; r < m; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)xr[i];
        const float mean = (float)(sum / (double)n);
        double sq = 0.0;
        for (int64_t i = 0; i < n; i++) {
            float d = xr[i] - mean;
            sq += (double)(d * d);
        }
        const float var = (float)(sq / (double)n);
        const float scale = 1.0f / sqrtf(var + eps);
        /* Each step rounded to f32 as the reference's separate ops are:
         * ((x - mean) * scale) * w + b. */
        for (int64_t i = 0; i < n; i++) {
            float v = (xr[i] - mean) * scale;
            if (w)
                v = v * w[i];
            if (b)
                v = v + b[i];
            o[i] = v;
        }
    }
}

/* ---------------------------------------------------------------- rope */

void ops_rope(float *x, int64_t m, int n_head, int hd, const int32_t *pos, float freq_base)
{
    assert(hd % 2 == 0);
    const float theta_scale = powf(freq_base, -2.0f / (float)hd);
    const int64_t row = (int64_t)n_head * hd;
    for (int64_t r = 0; r < m; r++) {
        float *xr = x + r * row;
        /* theta_i = pos * theta_scale^i, advanced by multiplication in f32
         * exactly as ggml's rope cache does (so it drifts the same way). */
        float theta = (float)pos[r];
        for (int i = 0; i < hd; i += 2) {
            const float c = cosf(theta), s = sinf(theta);
            for (int h = 0; h < n_head; h++) {
                float *p = xr + (int64_t)h * hd + i;
                const float x0 = p[0], x1 = p[1];
                /* ggml-cpu is built with -march=native in GNU C mode, so
                 * GCC contracts x0*c - x1*s into fma(x0, c, -(x1*s)) (the
                 * first product fused, the second rounded); a last-bit
                 * difference here can flip the f16 rounding of q or k. */
                p[0] = fmaf(x0, c, -(x1 * s));
                p[1] = fmaf(x0, s, x1 * c);
            }
            theta *= theta_scale;
        }
    }
}

/* ---------------------------------------------------------------- softmax */

/* One row: x = exp(x*scale - max) / sum, the sum in double as in ggml. */
static void softmax_row(float *x, int64_t n, float scale)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        x[i] *= scale;
        if (x[i] > mx)
            mx = x[i];
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - mx);
        x[i] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

void ops_softmax(float *x, int64_t m, int64_t n, float scale)
{
    for (int64_t r = 0; r < m; r++)
        softmax_row(x + r * n, n, scale);
}

/* ---------------------------------------------------------------- activations */

/* ggml_gelu_f32 as GCC compiles it for the reference (GNU C, -march=native,
 * so -ffp-contract=fast): 1 + A*x*x becomes fma(A*x, x, 1). The f16 table is
 * built from this; the unfused form rounds some entries to the neighbouring
 * f16 (e.g. x = -1.999: -0.045471 instead of -0.045502). */
static inline float gelu_tanh1(float x)
{
    const float inner = fmaf(GELU_COEF_A * x, x, 1.0f);
    return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * x * inner));
}

static inline float quick_gelu1(float x)
{
    return x * (1.0f / (1.0f + expf(GELU_QUICK_COEF * x)));
}

/* ggml_vec_silu_f32 on AVX-512: x / (1 + e^-x) with the vector exp
 * (ggml_v_expf) for blocks of 16 and the C library's expf for a tail. The
 * reference runs it per row of the feed-forward width (a multiple of 16 in
 * every LLaMA), so the whole of x goes through the vector exp here; libm's
 * expf differs from it in the last bit now and then, which is enough to
 * flip a Q8 quant of the next product. */
void ops_silu(float *x, int64_t n)
{
    int64_t i = 0;
#if OPS_X86
    if (use_avx512()) {
        silu16(x, n & ~(int64_t)15);
        i = n & ~(int64_t)15;
    }
#endif
    for (; i + 16 <= n; i += 16)
        for (int t = 0; t < 16; t++)
            x[i + t] = x[i + t] / (1.0f + expf_ggml(-x[i + t]));
    for (; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

void ops_gelu_tanh(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = gelu_tanh1(x[i]);
}

void ops_gelu_erf(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * SQRT_2_INV));
}

void ops_quick_gelu(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = quick_gelu1(x[i]);
}

/* The reference's tables: the activation of every f16 value, rounded to f16
 * (2 x 128 KB), built once on first use. */
static gl_fp16 gelu_tab[1 << 16], quick_gelu_tab[1 << 16];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (uint32_t i = 0; i < (1u << 16); i++) {
        float f = gl_fp16_to_fp32((gl_fp16)i);
        gelu_tab[i] = gl_fp32_to_fp16(gelu_tanh1(f));
        quick_gelu_tab[i] = gl_fp32_to_fp16(quick_gelu1(f));
    }
}

void ops_gelu_tanh_f16tab(float *x, int64_t n)
{
    pthread_once(&tab_once, build_tables);
    for (int64_t i = 0; i < n; i++) {
        /* ggml (GGML_GELU_FP16) bypasses the table outside (-10, 10). */
        if (x[i] <= -10.0f)
            x[i] = 0.0f;
        else if (x[i] < 10.0f)
            x[i] = gl_fp16_to_fp32(gelu_tab[gl_fp32_to_fp16(x[i])]);
    }
}

void ops_quick_gelu_f16tab(float *x, int64_t n)
{
    pthread_once(&tab_once, build_tables);
    /* GGML_GELU_QUICK_FP16 looks every value up, with no clamping. */
    for (int64_t i = 0; i < n; i++)
        x[i] = gl_fp16_to_fp32(quick_gelu_tab[gl_fp32_to_fp16(x[i])]);
}

/* ---------------------------------------------------------------- elementwise */

void ops_mul(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

void ops_add(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

/* ---------------------------------------------------------------- attention */

#define ATT_QROWS 16                /* query rows per task */

struct att_job {
    float *out;                     /* [m][n_head*hd] */
    const float *q;                 /* [m][n_head*hd] */
    int64_t m, pos0, n_kv;          /* n_kv = pos0 + m keys in all */
    const char *k, *v;              /* cache rows [pos][n_kv_head*hd] of kv_type */
    size_t kv_row, kv_head, kv_es;  /* position and head strides, element size */
    bool f16;
    int n_head, n_kv_head, hd;
    float scale;
    const struct gl_type_traits *kt;    /* traits of kv_type (its own vec_dot_type) */
    int64_t n_qb;                   /* query blocks */
    int64_t s_stride;               /* scores per query row: n_kv rounded up to 16 */
    char *scr;                      /* per-thread scratch, scr_per bytes each */
    size_t scr_per, off_scores, off_acc, off_vrow;
    atomic_int_fast64_t next;
};

/* a += p * v over n values. Written as fixed 16-wide blocks (no aliasing,
 * a known trip count) so that the compiler vectorizes it at -O2. */
static void axpy(float *restrict a, const float *restrict v, float p, int n)
{
#if OPS_X86
    if (use_avx512()) {
        axpy_v(a, v, p, n);
        return;
    }
#endif
    int d = 0;
    for (; d + 16 <= n; d += 16)
        for (int k = 0; k < 16; k++)
            a[d + k] += p * v[d + k];
    for (; d < n; d++)
        a[d] += p * v[d];
}

/* A head's cache rows are read one after another; in a position-major
 * cache they lie one model width apart (8 KiB for LLaMA-7B), a stride the
 * hardware prefetchers do not follow across pages. Rows are asked for
 * ATT_PREFETCH_ROWS ahead (never past the last one); with a head-major
 * cache (llama.c's) this only starts the stream early. */
static inline void att_prefetch(const struct att_job *j, const char *base, int64_t t, int64_t end)
{
    if (t + ATT_PREFETCH_ROWS < end) {
        const char *p = base + (size_t)(t + ATT_PREFETCH_ROWS) * j->kv_row;
        for (size_t off = 0; off < (size_t)j->hd * j->kv_es; off += 64)
            __builtin_prefetch(p + off);
    }
}

/* x[i] = gl_round_fp16(x[i]) over n values. */
static void round_fp16(float *x, int64_t n)
{
#if OPS_X86
    if (use_avx512()) {
        round_fp16_v(x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        x[i] = gl_round_fp16(x[i]);
}

/* One f16 cache row (hd values) widened to f32. */
static void kv_row_f32(const struct att_job *j, const char *src, float *dst)
{
#if OPS_X86
    if (use_avx512()) {
        f16_row_v(dst, (const gl_fp16 *)src, j->hd);
        return;
    }
#endif
    j->kt->to_float(src, dst, j->hd);
}

/* One task with an F16 cache, in the reference's order of operations.
 * llama.cpp (no flash attention) computes KQ = mul_mat(K, Q), a masked
 * ggml_soft_max_ext over n_kv keys (the cache's used cells rounded up to 32)
 * and KQV = mul_mat(V^T, KQ) with KQ rounded to f16. Both products go
 * through llamafile's tinyBLAS (f16 x f16, AVX-512) when the batch has two
 * rows or more and the sums are a multiple of 16 long (KQ: hd; KQV: n_kv,
 * always), else through ggml_vec_dot_f16. A single probability rounded to
 * f16 the other way moves a head's output by ~1e-4, enough to flip a Q8
 * quant of the next product, so every step is mirrored:
 *   scores: [nq][s_stride], masked keys -inf up to a multiple of 16
 *   acc:    tinyBLAS: [nq][16 lanes][hd]; vec_dot_f16 (nq == 1): [4][16][hd]
 *   qc:     [nq][hd] q rounded to f16, widened;  vrow: [hd] one cache row */
static void att_task_ggml(struct att_job *j, char *scr, int h, int64_t i0, int64_t i1)
{
    const int hd = j->hd;
    const int64_t row = (int64_t)j->n_head * hd;
    const int g = h / (j->n_head / j->n_kv_head);
    const size_t head_off = (size_t)g * j->kv_head;
    float *scores = (float *)(scr + j->off_scores);
    float *acc = (float *)(scr + j->off_acc);
    float *vrow = (float *)(scr + j->off_vrow);
    float *qw = (float *)scr;
    const int64_t nq = i1 - i0;
    const bool tiny_kq = j->m >= 2 && hd % 16 == 0;
    const bool tiny_pv = j->m >= 2 && hd % 4 == 0;

    for (int64_t qi = 0; qi < nq; qi++) {
        const float *qr = j->q + (i0 + qi) * row + (int64_t)h * hd;
        float *qf = qw + qi * hd;
        memcpy(qf, qr, (size_t)hd * sizeof(float));
        round_fp16(qf, hd);
    }
    /* Scores, one widened key row at a time for every query that sees it. */
#if OPS_X86
    if (nq == 1 && !tiny_kq && hd % 64 == 0 && use_avx512()) {
        scores_f16_v(scores, j->k + head_off, j->v + head_off, j->kv_row, j->pos0 + i1, qw, hd, j->scale);
    } else
#endif
    for (int64_t t = 0; t < j->pos0 + i1; t++) {
        att_prefetch(j, j->k + head_off, t, j->pos0 + i1);
        kv_row_f32(j, j->k + (size_t)t * j->kv_row + head_off, vrow);
        int64_t first = t - j->pos0 - i0;
        if (first < 0)
            first = 0;
        for (int64_t qi = first; qi < nq; qi++)
            scores[qi * j->s_stride + t] =
                (tiny_kq ? dot_f16_tiny(vrow, qw + qi * hd, hd) : dot_f16_vec(vrow, qw + qi * hd, hd)) *
                j->scale;
    }
    for (int64_t qi = 0; qi < nq; qi++) {
        const int64_t nk = j->pos0 + i0 + qi + 1;
        const int64_t nb = (nk + 15) & ~(int64_t)15;
        float *s = scores + qi * j->s_stride;
        for (int64_t t = nk; t < nb; t++)
            s[t] = -INFINITY;
        softmax_row_ggml(s, nb, 1.0f);
        round_fp16(s, nk);
    }

    const int64_t nk_max = j->pos0 + i1;
    if (tiny_pv) {
        /* one accumulator of 16 lanes per output: key t goes to lane t % 16 */
        memset(acc, 0, (size_t)nq * 16 * (size_t)hd * sizeof(float));
#if OPS_X86
        if (hd == 128 && use_avx512()) {
            for (int64_t qi = 0; qi < nq; qi++)
                pv_rows_128_v(acc + qi * 16 * hd, 16, j->v + head_off, j->kv_row, scores + qi * j->s_stride,
                              j->pos0 + i0 + qi + 1);
        } else
#endif
        for (int64_t t = 0; t < nk_max; t++) {
            att_prefetch(j, j->v + head_off, t, nk_max);
            kv_row_f32(j, j->v + (size_t)t * j->kv_row + head_off, vrow);
            int64_t first = t - j->pos0 - i0;
            if (first < 0)
                first = 0;
            for (int64_t qi = first; qi < nq; qi++)
                axpy(acc + (qi * 16 + (t & 15)) * hd, vrow, scores[qi * j->s_stride + t], hd);
        }
        for (int64_t qi = 0; qi < nq; qi++) {
            float *o = j->out + (i0 + qi) * row + (int64_t)h * hd;
#if OPS_X86
            if (hd % 16 == 0 && use_avx512()) {
                lanes16_rows_v(o, acc + qi * 16 * hd, hd, hd);
                continue;
            }
#endif
            for (int d = 0; d < hd; d++) {
                float l[16];
                for (int t = 0; t < 16; t++)
                    l[t] = acc[(qi * 16 + t) * hd + d];
                o[d] = lanes16_sum(l);
            }
        }
        return;
    }

    /* ggml_vec_dot_f16 over n_kv = keys rounded up to 32: four accumulators
     * of 16 lanes over the first n_kv & ~63 keys, the rest in double. */
    for (int64_t qi = 0; qi < nq; qi++) {
        const int64_t nk = j->pos0 + i0 + qi + 1;
        const int64_t n_kv = (nk + 31) & ~(int64_t)31;
        const int64_t np = n_kv & ~(int64_t)63;
        const float *p = scores + qi * j->s_stride;
        float *o = j->out + (i0 + qi) * row + (int64_t)h * hd;
        memset(acc, 0, 64 * (size_t)hd * sizeof(float));
#if OPS_X86
        if (hd == 128 && use_avx512()) {
            pv_rows_128_v(acc, 64, j->v + head_off, j->kv_row, p, nk < np ? nk : np);
        } else
#endif
        for (int64_t t = 0; t < nk && t < np; t++) {
            att_prefetch(j, j->v + head_off, t, nk);
            kv_row_f32(j, j->v + (size_t)t * j->kv_row + head_off, vrow);
            axpy(acc + (t & 63) * hd, vrow, p[t], hd);
        }
#if OPS_X86
        if (hd % 16 == 0 && use_avx512()) {
            pv_finish_v(o, acc, hd, np, nk, p, j->v + head_off, j->kv_row);
            continue;
        }
#endif
        for (int d = 0; d < hd; d++) {
            float l[16];
            for (int t = 0; t < 16; t++)
                l[t] = (acc[t * hd + d] + acc[(32 + t) * hd + d]) +
                       (acc[(16 + t) * hd + d] + acc[(48 + t) * hd + d]);
            vrow[d] = np ? lanes16_sum(l) : 0.0f;
        }
        for (int d = 0; d < hd; d++) {
            double sum = vrow[d];
            for (int64_t t = np; t < nk; t++) {
                const gl_fp16 *vh = (const gl_fp16 *)(j->v + (size_t)t * j->kv_row + head_off);
                sum += (double)(p[t] * gl_fp16_to_fp32(vh[d]));
            }
            o[d] = (float)sum;
        }
    }
}

/* One task: query head h for query rows [i0, i1).
 *   qc:     [nq][hd] q in the cache's type (f16: rounded, as the reference)
 *   scores: [nq][n_kv] scores, then probabilities
 *   acc:    [nq][hd] f32 accumulators of P V
 *   vrow:   [hd] one V row widened to f32 */
static void att_task(struct att_job *j, char *scr, int h, int64_t i0, int64_t i1)
{
    const int hd = j->hd;
    const int64_t row = (int64_t)j->n_head * hd;
    const int g = h / (j->n_head / j->n_kv_head);
    const size_t head_off = (size_t)g * j->kv_head;
    float *scores = (float *)(scr + j->off_scores);
    float *acc = (float *)(scr + j->off_acc);
    float *vrow = (float *)(scr + j->off_vrow);
    char *qc = scr;
    const int64_t nq = i1 - i0;

    for (int64_t qi = 0; qi < nq; qi++) {
        const float *qr = j->q + (i0 + qi) * row + (int64_t)h * hd;
        const void *qd = qr;
        if (j->f16) {
            j->kt->from_float(qr, qc + (size_t)qi * hd * sizeof(gl_fp16), hd);
            qd = qc + (size_t)qi * hd * sizeof(gl_fp16);
        }
        /* Causal: query at position pos0+i0+qi sees keys 0 .. itself. */
        const int64_t nk = j->pos0 + i0 + qi + 1;
        float *s = scores + qi * j->n_kv;
        for (int64_t t = 0; t < nk; t++) {
            float d;
            j->kt->vec_dot(hd, &d, j->k + (size_t)t * j->kv_row + head_off, qd);
            s[t] = d * j->scale;
        }
        softmax_row(s, nk, 1.0f);
        if (j->f16)
            for (int64_t t = 0; t < nk; t++)
                s[t] = gl_round_fp16(s[t]);
        memset(acc + qi * hd, 0, (size_t)hd * sizeof(float));
    }

    /* P V, one V row at a time so a widened f16 row serves the whole block. */
    const int64_t nk_max = j->pos0 + i1;
    for (int64_t t = 0; t < nk_max; t++) {
        const char *vp = j->v + (size_t)t * j->kv_row + head_off;
        const float *vr;
        if (j->f16) {
            j->kt->to_float(vp, vrow, hd);
            vr = vrow;
        } else {
            vr = (const float *)vp;
        }
        /* Rows whose position is below t do not see key t. */
        int64_t first = t - j->pos0 - i0;
        if (first < 0)
            first = 0;
        for (int64_t qi = first; qi < nq; qi++) {
            axpy(acc + qi * hd, vr, scores[qi * j->n_kv + t], hd);
        }
    }

    for (int64_t qi = 0; qi < nq; qi++)
        memcpy(j->out + (i0 + qi) * row + (int64_t)h * hd, acc + qi * hd,
               (size_t)hd * sizeof(float));
}

static void att_worker(void *arg, int ith, int nth)
{
    struct att_job *j = arg;
    char *scr = j->scr + (size_t)ith * j->scr_per;
    const int64_t n_tasks = j->n_qb * j->n_head;
    (void)nth;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (t >= n_tasks)
            break;
        /* Last query blocks (the longest rows) first, for load balance. */
        int64_t qb = j->n_qb - 1 - t / j->n_head;
        int h = (int)(t % j->n_head);
        int64_t i0 = qb * ATT_QROWS, i1 = i0 + ATT_QROWS < j->m ? i0 + ATT_QROWS : j->m;
        if (j->f16)
            att_task_ggml(j, scr, h, i0, i1);
        else
            att_task(j, scr, h, i0, i1);
    }
}

int ops_attention(gl_pool *pool, struct gl_scratch *scratch, float *out, const float *q,
                  int64_t m, int64_t pos0, const void *k, const void *v, int kv_type,
                  size_t kv_row_bytes, size_t kv_head_bytes, int n_head, int n_kv_head, int hd)
{
    assert(kv_type == GL_TYPE_F16 || kv_type == GL_TYPE_F32);
    assert(n_kv_head > 0 && n_head % n_kv_head == 0);
    if (m <= 0)
        return 0;
    const struct gl_type_traits *kt = gl_type_traits(kv_type);
    assert(kt && kt->vec_dot && kt->vec_dot_type == kv_type);

    const int nth = gl_pool_size(pool);
    struct att_job j = {
        .out = out, .q = q, .m = m, .pos0 = pos0, .n_kv = pos0 + m,
        .k = k, .v = v, .kv_row = kv_row_bytes, .kv_head = kv_head_bytes,
        .kv_es = kv_type == GL_TYPE_F16 ? sizeof(gl_fp16) : sizeof(float),
        .f16 = kv_type == GL_TYPE_F16,
        .n_head = n_head, .n_kv_head = n_kv_head, .hd = hd,
        .scale = 1.0f / sqrtf((float)hd), .kt = kt,
        .n_qb = (m + ATT_QROWS - 1) / ATT_QROWS,
    };
    atomic_init(&j.next, 0);

    const int64_t qrows = m < ATT_QROWS ? m : ATT_QROWS;
    uint64_t sz;
    size_t off = align64((size_t)qrows * (size_t)hd * sizeof(float));      /* qc */
    j.off_scores = off;
    j.s_stride = (j.n_kv + 15) & ~(int64_t)15;
    if (!gl_mul_ok((uint64_t)qrows * sizeof(float), (uint64_t)j.s_stride, &sz))
        return -1;
    off = align64(off + sz);
    j.off_acc = off;
    /* the F16 path keeps 16 lanes per query row, or 64 for a single row */
    const int64_t acc_rows = !j.f16 ? qrows : qrows * 16 > 64 ? qrows * 16 : 64;
    off = align64(off + (size_t)acc_rows * (size_t)hd * sizeof(float));
    j.off_vrow = off;
    off = align64(off + (size_t)hd * sizeof(float));
    j.scr_per = off;

    struct gl_scratch local = { 0 };
    struct gl_scratch *s = scratch ? scratch : &local;
    if (!gl_mul_ok((uint64_t)nth, j.scr_per, &sz) || !(j.scr = gl_scratch_get(s, sz)))
        return -1;
    gl_pool_run(pool, att_worker, &j);
    gl_scratch_free(&local);
    return 0;
}
