/*
 * gemm_f32.c - f32 matrix products (packed, cache-blocked, AVX-512) for the
 * vision tower's faithful mode; see gemm_f32.h for the contract.
 *
 * Sections: dispatch, packing, micro-kernels, drivers, softmax.
 *
 * The scheme is the classic one of high-performance BLAS: A (the 577
 * activation rows) is packed once per product into panels of MR = 14 rows
 * laid out k-major, and shared by all threads; each thread takes chunks of
 * NR = 32 output columns, converts the matching weight rows straight from
 * f16 (or any format) to f32 into a k-major panel of one cache block
 * (KC = 256 deep: 32 KiB, sits in the 48 KiB L1D) and runs it against every
 * A panel of that block (577 x 256 floats = 590 KiB, in the 1 MiB L2). The
 * micro-kernel keeps a 14 x 32 tile of C in 28 zmm registers: per step of k
 * it loads two B vectors and broadcasts 14 A values, 28 FMAs.
 *
 * Every C element is one FMA chain over k in order from 0 (a later block
 * reloads the tile and continues the chain), so results do not depend on
 * the thread count, the chunking or the kernel set.
 */
#include "config.h"

#include "gemm_f32.h"

#include "glimpse/quant.h"
#include "util.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define GEMM_X86 1
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#endif

#define MR GL_GEMM_MR
#define NR GL_GEMM_NR
#define KC GL_GEMM_KC
/* Column panels per chunk a thread takes: 2 x 32 columns keep the chunk's
 * C (577 x 64 floats) plus one A block in L2, and give 16 chunks for a
 * 1024-wide product. */
#define CHUNK_PANELS 2

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* --------------------------------------------------------------- dispatch */

/* -1 = not decided yet, 0 = portable, 1 = AVX-512. A race on first use
 * only makes two threads store the same answer. */
static atomic_int g_kind = -1;

static int detect(void)
{
#ifdef GEMM_X86
    const char *k = getenv("GLIMPSE_KERNELS");
    if (k && (strcmp(k, "scalar") == 0 || strcmp(k, "avx2") == 0))
        return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") ? 1 : 0;
#else
    return 0;
#endif
}

static int kind(void)
{
    int v = atomic_load_explicit(&g_kind, memory_order_relaxed);
    if (v < 0) {
        v = detect();
        atomic_store(&g_kind, v);
    }
    return v;
}

bool gl_gemm_fast(void) { return kind() == 1; }

void gl_gemm_force_portable(bool on) { atomic_store(&g_kind, on ? 0 : detect()); }

size_t gl_gemm_a_floats(int64_t m, int64_t k) { return (size_t)(round_up(m, MR) * k); }
size_t gl_gemm_b_floats(int64_t n, int64_t k) { return (size_t)(round_up(n, NR) * k); }
/* One packed B panel plus NR dequantized row segments. */
size_t gl_gemm_thread_floats(void) { return (size_t)2 * KC * NR; }

/* ---------------------------------------------------------------- packing */

/* dst[kb][MR] = rows r0 .. r0+mr of A, columns p0 .. p0+kb (zero rows past mr). */
static void pack_a_panel_c(float *dst, const float *a, size_t lda, int64_t r0, int mr, int64_t p0,
                           int64_t kb)
{
    for (int64_t t = 0; t < kb; t++)
        for (int i = 0; i < MR; i++)
            dst[t * MR + i] = i < mr ? a[(size_t)(r0 + i) * lda + (size_t)(p0 + t)] : 0.0f;
}

/* Row segment r of a weight as f32 pointer: f32 rows directly, anything
 * else dequantized into tmp (p0 is a multiple of KC, hence of the block). */
static const float *b_row_f32(const struct gl_gemm_b *b, int64_t r, int64_t p0, int64_t kb,
                              float *tmp)
{
    const char *row = (const char *)b->data + (size_t)r * b->stride;
    if (b->type == GL_TYPE_F32)
        return (const float *)row + p0;
    const struct gl_type_traits *tr = gl_type_traits(b->type);
    tr->to_float(row + (size_t)(p0 / tr->blck_size) * tr->type_size, tmp, kb);
    return tmp;
}

/* dst[kb][NR] = columns j0 .. j0+nv of B, depth p0 .. p0+kb (zero past nv). */
static void pack_b_panel_c(float *dst, const struct gl_gemm_b *b, int64_t j0, int nv, int64_t p0,
                           int64_t kb, float *tmp)
{
    if (b->k_major) {
        for (int64_t t = 0; t < kb; t++) {
            const float *src = (const float *)((const char *)b->data +
                                               (size_t)(p0 + t) * b->stride) + j0;
            for (int j = 0; j < NR; j++)
                dst[t * NR + j] = j < nv ? src[j] : 0.0f;
        }
        return;
    }
    for (int j = 0; j < NR; j++) {
        if (j >= nv) {
            for (int64_t t = 0; t < kb; t++)
                dst[t * NR + j] = 0.0f;
            continue;
        }
        if (b->type == GL_TYPE_F16) {
            const gl_fp16 *src = (const gl_fp16 *)((const char *)b->data +
                                                   (size_t)(j0 + j) * b->stride) + p0;
            for (int64_t t = 0; t < kb; t++)
                dst[t * NR + j] = gl_fp16_to_fp32(src[t]);
        } else {
            const float *src = b_row_f32(b, j0 + j, p0, kb, tmp);
            for (int64_t t = 0; t < kb; t++)
                dst[t * NR + j] = src[t];
        }
    }
}

#ifdef GEMM_X86
/* r[i] <- column i of the 16 x 16 matrix whose rows were r[0..15]. */
static inline __attribute__((always_inline)) AVX512 void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + c], lane l: rows 4g .. 4g+3 of column 4l + c */
    for (int g = 0; g < 4; g++) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
        __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        __m512 w0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        __m512 v1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v0, v1, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v1, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(w0, w1, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(w0, w1, 0xDD);
    }
}

static AVX512 void pack_a_panel_512(float *dst, const float *a, size_t lda, int64_t r0, int mr,
                                    int64_t p0, int64_t kb)
{
    for (int64_t t0 = 0; t0 < kb; t0 += 16) {
        int rem = (int)min64(16, kb - t0);
        __mmask16 km = (__mmask16)((1u << rem) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < mr ? _mm512_maskz_loadu_ps(km, a + (size_t)(r0 + i) * lda +
                                                          (size_t)(p0 + t0))
                          : _mm512_setzero_ps();
        transpose16(r);
        for (int t = 0; t < rem; t++)
            _mm512_mask_storeu_ps(dst + (t0 + t) * MR, (__mmask16)((1u << MR) - 1), r[t]);
    }
}

/* 16 columns (j0h .. +16 of the panel, nv of them real) of a weight panel. */
static AVX512 void pack_b_half_512(float *dst, const struct gl_gemm_b *b, int64_t j0, int nv,
                                   int64_t p0, int64_t kb, float *tmp)
{
    const bool f16 = b->type == GL_TYPE_F16;
    const float *rows32[16];
    if (!f16)
        for (int j = 0; j < nv; j++)
            rows32[j] = b_row_f32(b, j0 + j, p0, kb, tmp + (size_t)j * KC);
    for (int64_t t0 = 0; t0 < kb; t0 += 16) {
        int rem = (int)min64(16, kb - t0);
        __mmask16 km = (__mmask16)((1u << rem) - 1);
        __m512 r[16];
        for (int j = 0; j < 16; j++) {
            if (j >= nv) {
                r[j] = _mm512_setzero_ps();
            } else if (f16) {
                const gl_fp16 *src = (const gl_fp16 *)((const char *)b->data +
                                                       (size_t)(j0 + j) * b->stride) + p0 + t0;
                r[j] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(km, src));
            } else {
                r[j] = _mm512_maskz_loadu_ps(km, rows32[j] + t0);
            }
        }
        transpose16(r);
        for (int t = 0; t < rem; t++)
            _mm512_store_ps(dst + (t0 + t) * NR, r[t]);
    }
}

static AVX512 void pack_b_panel_512(float *dst, const struct gl_gemm_b *b, int64_t j0, int nv,
                                    int64_t p0, int64_t kb, float *tmp)
{
    if (b->k_major) {
        __mmask16 m0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
        __mmask16 m1 = (__mmask16)(nv >= 32 ? 0xffff : nv > 16 ? (1u << (nv - 16)) - 1 : 0);
        for (int64_t t = 0; t < kb; t++) {
            const float *src = (const float *)((const char *)b->data +
                                               (size_t)(p0 + t) * b->stride) + j0;
            _mm512_store_ps(dst + t * NR, _mm512_maskz_loadu_ps(m0, src));
            _mm512_store_ps(dst + t * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
        }
        return;
    }
    /* The second half's rows are dequantized into tmp after the first
     * half's (the first half's are consumed by then). */
    pack_b_half_512(dst, b, j0, nv < 16 ? nv : 16, p0, kb, tmp);
    pack_b_half_512(dst + 16, b, j0 + 16, nv > 16 ? nv - 16 : 0, p0, kb, tmp);
}
#endif

static void pack_a_panel(float *dst, const float *a, size_t lda, int64_t r0, int mr, int64_t p0,
                         int64_t kb)
{
#ifdef GEMM_X86
    if (kind() == 1) {
        pack_a_panel_512(dst, a, lda, r0, mr, p0, kb);
        return;
    }
#endif
    pack_a_panel_c(dst, a, lda, r0, mr, p0, kb);
}

static void pack_b_panel(float *dst, const struct gl_gemm_b *b, int64_t j0, int nv, int64_t p0,
                         int64_t kb, float *tmp)
{
#ifdef GEMM_X86
    if (kind() == 1) {
        pack_b_panel_512(dst, b, j0, nv, p0, kb, tmp);
        return;
    }
#endif
    pack_b_panel_c(dst, b, j0, nv, p0, kb, tmp);
}

/* Panels [i0, i1) of A, every k block. */
static void pack_a_range(float *ap, const float *a, size_t lda, int64_t m, int64_t k, int64_t i0,
                         int64_t i1)
{
    const int64_t m_pad = round_up(m, MR);
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        int64_t kb = min64(KC, k - p0);
        for (int64_t i = i0; i < i1; i++)
            pack_a_panel(ap + p0 * m_pad + i * MR * kb, a, lda, i * MR,
                         (int)min64(MR, m - i * MR), p0, kb);
    }
}

void gl_gemm_pack_a(float *ap, const float *a, size_t lda, int64_t m, int64_t k)
{
    pack_a_range(ap, a, lda, m, k, 0, round_up(m, MR) / MR);
}

struct pack_a_job {
    float *ap;
    const float *a;
    size_t lda;
    int64_t m, k;
};

static void pack_a_body(void *vctx, int64_t begin, int64_t end)
{
    struct pack_a_job *j = vctx;
    pack_a_range(j->ap, j->a, j->lda, j->m, j->k, begin, end);
}

void gl_gemm_pack_a_pool(gl_pool *pool, float *ap, const float *a, size_t lda, int64_t m,
                         int64_t k)
{
    struct pack_a_job j = {.ap = ap, .a = a, .lda = lda, .m = m, .k = k};
    gl_pool_for(pool, round_up(m, MR) / MR, 4, pack_a_body, &j);
}

void gl_gemm_pack_b(float *bp, const struct gl_gemm_b *b, int64_t n, int64_t k)
{
    const int64_t n_pad = round_up(n, NR);
    float tmp[NR * KC];
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        int64_t kb = min64(KC, k - p0);
        for (int64_t j = 0; j < n_pad / NR; j++)
            pack_b_panel(bp + p0 * n_pad + j * NR * kb, b, j * NR, (int)min64(NR, n - j * NR),
                         p0, kb, tmp);
    }
}

/* ---------------------------------------------------------- micro-kernels */

/* C[mr][nv] (+)= ap[kb][MR] @ bp[kb][NR]: accumulate onto C when `more`
 * (a later k block), else start from 0; + bias[nv] at the end if given. */
typedef void (*kernel_fn)(int64_t kb, const float *ap, const float *bp, float *c, size_t ldc,
                          int nv, bool more, const float *bias);

static inline __attribute__((always_inline)) void kernel_c(int mr, int64_t kb, const float *ap,
                                                           const float *bp, float *c, size_t ldc,
                                                           int nv, bool more, const float *bias)
{
    float acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = more && j < nv ? c[(size_t)i * ldc + j] : 0.0f;
    for (int64_t t = 0; t < kb; t++)
        for (int i = 0; i < mr; i++) {
            float av = ap[t * MR + i];
            for (int j = 0; j < NR; j++)
                acc[i][j] = fmaf(av, bp[t * NR + j], acc[i][j]);
        }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nv; j++)
            c[(size_t)i * ldc + j] = bias ? acc[i][j] + bias[j] : acc[i][j];
}

#ifdef GEMM_X86
static inline __attribute__((always_inline)) AVX512 void
kernel_512(int mr, int64_t kb, const float *ap, const float *bp, float *c, size_t ldc, int nv,
           bool more, const float *bias)
{
    __mmask16 m0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
    __mmask16 m1 = (__mmask16)(nv >= 32 ? 0xffff : nv > 16 ? (1u << (nv - 16)) - 1 : 0);
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        if (more) {
            c0[i] = _mm512_maskz_loadu_ps(m0, c + (size_t)i * ldc);
            c1[i] = _mm512_maskz_loadu_ps(m1, c + (size_t)i * ldc + 16);
        } else {
            c0[i] = _mm512_setzero_ps();
            c1[i] = _mm512_setzero_ps();
        }
    }
#pragma GCC unroll 2
    for (int64_t t = 0; t < kb; t++) {
        __m512 b0 = _mm512_load_ps(bp + t * NR), b1 = _mm512_load_ps(bp + t * NR + 16);
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(ap[t * MR + i]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
    __m512 bb0 = _mm512_setzero_ps(), bb1 = _mm512_setzero_ps();
    if (bias) {
        bb0 = _mm512_maskz_loadu_ps(m0, bias);
        bb1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        if (bias) {
            c0[i] = _mm512_add_ps(c0[i], bb0);
            c1[i] = _mm512_add_ps(c1[i], bb1);
        }
        _mm512_mask_storeu_ps(c + (size_t)i * ldc, m0, c0[i]);
        _mm512_mask_storeu_ps(c + (size_t)i * ldc + 16, m1, c1[i]);
    }
}
#endif

/* One instance per row count, so the loops over rows unroll into registers. */
#define KERNEL_C(R)                                                                          \
    static void kc_##R(int64_t kb, const float *ap, const float *bp, float *c, size_t ldc,  \
                       int nv, bool more, const float *bias)                                 \
    {                                                                                        \
        kernel_c(R, kb, ap, bp, c, ldc, nv, more, bias);                                     \
    }
#define KERNEL_512(R)                                                                        \
    static AVX512 void k512_##R(int64_t kb, const float *ap, const float *bp, float *c,      \
                                size_t ldc, int nv, bool more, const float *bias)            \
    {                                                                                        \
        kernel_512(R, kb, ap, bp, c, ldc, nv, more, bias);                                   \
    }
#define EACH_ROWS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14)

EACH_ROWS(KERNEL_C)
static const kernel_fn kernels_c[MR + 1] = {
    NULL, kc_1, kc_2, kc_3, kc_4, kc_5, kc_6, kc_7, kc_8, kc_9, kc_10, kc_11, kc_12, kc_13, kc_14,
};
#ifdef GEMM_X86
EACH_ROWS(KERNEL_512)
static const kernel_fn kernels_512[MR + 1] = {
    NULL, k512_1, k512_2, k512_3, k512_4, k512_5, k512_6, k512_7,
    k512_8, k512_9, k512_10, k512_11, k512_12, k512_13, k512_14,
};
#endif

static const kernel_fn *kernels(void)
{
#ifdef GEMM_X86
    if (kind() == 1)
        return kernels_512;
#endif
    return kernels_c;
}

/* --------------------------------------------------------------- drivers */

/* All A panels of one k block against one packed B panel. */
static void panel_times_a(const kernel_fn *kern, float *c, size_t ldc, const float *apb,
                          const float *bpanel, int64_t m, int64_t kb, int nv, bool more,
                          const float *bias)
{
    for (int64_t r0 = 0; r0 < m; r0 += MR) {
        int mr = (int)min64(MR, m - r0);
        kern[mr](kb, apb + r0 * kb, bpanel, c + (size_t)r0 * ldc, ldc, nv, more, bias);
    }
}

void gl_gemm_packed(float *c, size_t ldc, const float *ap, const float *bp, int64_t m, int64_t n,
                    int64_t k, const float *bias)
{
    const kernel_fn *kern = kernels();
    const int64_t m_pad = round_up(m, MR), n_pad = round_up(n, NR);
    if (k == 0) {
        /* An empty sum: the kernels would still store 0 (+ bias). */
        for (int64_t j0 = 0; j0 < n; j0 += NR)
            panel_times_a(kern, c + j0, ldc, ap, bp, m, 0, (int)min64(NR, n - j0), false,
                          bias ? bias + j0 : NULL);
        return;
    }
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        int64_t kb = min64(KC, k - p0);
        bool last = p0 + kb >= k;
        for (int64_t j0 = 0; j0 < n; j0 += NR)
            panel_times_a(kern, c + j0, ldc, ap + p0 * m_pad, bp + p0 * n_pad + j0 * kb, m, kb,
                          (int)min64(NR, n - j0), p0 > 0, last && bias ? bias + j0 : NULL);
    }
}

struct run_job {
    const kernel_fn *kern;
    float *tbuf;
    float *c;
    size_t ldc;
    const float *ap;
    int64_t m, k, n;
    const struct gl_gemm_b *b;
    const float *bias;
    int64_t n_chunks;
    atomic_llong next;
};

static void run_worker(void *vctx, int ith, int nth)
{
    struct run_job *j = vctx;
    const int64_t m_pad = round_up(j->m, MR);
    float *panel = j->tbuf + (size_t)ith * gl_gemm_thread_floats();
    float *tmp = panel + (size_t)KC * NR;
    (void)nth;
    for (;;) {
        int64_t ch = atomic_fetch_add(&j->next, 1);
        if (ch >= j->n_chunks)
            break;
        int64_t c0 = ch * CHUNK_PANELS * NR, c1 = min64(c0 + CHUNK_PANELS * NR, j->n);
        int64_t p0 = 0;
        do {
            int64_t kb = min64(KC, j->k - p0);
            bool last = p0 + kb >= j->k;
            for (int64_t j0 = c0; j0 < c1; j0 += NR) {
                int nv = (int)min64(NR, c1 - j0);
                pack_b_panel(panel, j->b, j0, nv, p0, kb, tmp);
                panel_times_a(j->kern, j->c + j0, j->ldc, j->ap + p0 * m_pad, panel, j->m, kb,
                              nv, p0 > 0, last && j->bias ? j->bias + j0 : NULL);
            }
            p0 += kb;
        } while (p0 < j->k);
    }
}

void gl_gemm_run(gl_pool *pool, float *tbuf, float *c, size_t ldc, const float *ap, int64_t m,
                 int64_t k, const struct gl_gemm_b *b, int64_t n, const float *bias)
{
    if (m <= 0 || n <= 0)
        return;
    struct run_job j = {
        .kern = kernels(), .tbuf = tbuf, .c = c, .ldc = ldc, .ap = ap,
        .m = m, .k = k, .n = n, .b = b, .bias = bias,
        .n_chunks = (n + CHUNK_PANELS * NR - 1) / (CHUNK_PANELS * NR),
    };
    atomic_init(&j.next, 0);
    if (j.n_chunks == 1)
        run_worker(&j, 0, 1);
    else
        gl_pool_run(pool, run_worker, &j);
}

int gl_gemm_f32(gl_pool *pool, struct gl_scratch *scratch, float *c, size_t ldc, const float *a,
                size_t lda, int64_t m, int64_t k, const struct gl_gemm_b *b, int64_t n,
                const float *bias)
{
    if (m <= 0 || n <= 0)
        return 0;
    /* Packed A, then the threads' buffers on a 64-byte boundary. */
    size_t a_floats = (gl_gemm_a_floats(m, k) + 15) / 16 * 16;
    size_t t_floats = gl_gemm_thread_floats() * (size_t)gl_pool_size(pool);
    float *buf = gl_scratch_get(scratch, (a_floats + t_floats) * sizeof(float));
    if (!buf)
        return -1;
    gl_gemm_pack_a_pool(pool, buf, a, lda, m, k);
    gl_gemm_run(pool, buf + a_floats, c, ldc, buf, m, k, b, n, bias);
    return 0;
}

/* ---------------------------------------------------------------- softmax */

/* exp(x): x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial to
 * degree 7 (truncation 5e-9 relative), times 2^n. Below -104 the result is
 * 0 (under the smallest subnormal), above 89 it is +inf. */
static const float EXP_C[8] = {
    1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040,
};
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693145751953125f       /* 11 significant bits: n * LN2_HI is exact */
#define LN2_LO 1.42860682030941723212e-6f
#define QUICK_GELU_COEF 1.702f

static float exp_f(float x)
{
    if (x < -104.0f)
        return 0.0f;
    if (x > 89.0f)
        return INFINITY;
    float n = nearbyintf(x * LOG2E);
    float r = fmaf(-n, LN2_HI, x);
    r = fmaf(-n, LN2_LO, r);
    float p = EXP_C[7];
    for (int i = 6; i >= 0; i--)
        p = fmaf(p, r, EXP_C[i]);
    return ldexpf(p, (int)n);
}

static void softmax_row_c(float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = exp_f(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

#ifdef GEMM_X86
static inline __attribute__((always_inline)) AVX512 __m512 exp_512(__m512 x)
{
    /* 2^n for n in [-150, 129] is 0 or inf exactly where exp is. */
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(EXP_C[7]);
    for (int i = 6; i >= 0; i--)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_C[i]));
    return _mm512_scalef_ps(p, n);
}

static AVX512 void softmax_row_512(float *x, int64_t n)
{
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 km = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        vmx = _mm512_mask_max_ps(vmx, km, vmx, _mm512_maskz_loadu_ps(km, x + i));
    }
    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmx));
    __m512 vs = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 km = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        __m512 e = exp_512(_mm512_sub_ps(_mm512_maskz_loadu_ps(km, x + i), mx));
        vs = _mm512_mask_add_ps(vs, km, vs, e);
        _mm512_mask_storeu_ps(x + i, km, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vs));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 km = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, km, _mm512_mul_ps(_mm512_maskz_loadu_ps(km, x + i), inv));
    }
}
#endif

#ifdef GEMM_X86
static AVX512 void quick_gelu_512(float *x, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), coef = _mm512_set1_ps(-QUICK_GELU_COEF);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 km = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(km, x + i);
        __m512 e = exp_512(_mm512_mul_ps(coef, v));
        _mm512_mask_storeu_ps(x + i, km, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
}
#endif

void gl_gemm_quick_gelu(float *x, int64_t n)
{
#ifdef GEMM_X86
    if (kind() == 1) {
        quick_gelu_512(x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + exp_f(-QUICK_GELU_COEF * x[i]));
}

void gl_gemm_softmax(float *x, int64_t m, int64_t n, size_t ld)
{
    for (int64_t r = 0; r < m; r++) {
#ifdef GEMM_X86
        if (kind() == 1) {
            softmax_row_512(x + (size_t)r * ld, n);
            continue;
        }
#endif
        softmax_row_c(x + (size_t)r * ld, n);
    }
}
