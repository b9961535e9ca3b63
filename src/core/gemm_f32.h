/*
 * gemm_f32.h - f32 matrix products for the vision tower's faithful mode.
 *
 *   C[m][n] = A[m][k] @ B^T   (B a weight: n rows of k values, any gl_type)
 *   C[m][n] = A[m][k] @ B     (B k rows of n f32 values, e.g. attention's V)
 *
 * A is f32 activations, packed once per product into panels of GL_GEMM_MR
 * rows (gl_gemm_pack_a); B is converted to f32 and packed GL_GEMM_NR columns
 * at a time, a cache block at a time, so no f32 copy of a weight is ever
 * kept. Every element of C is one fused multiply-add chain over k in order
 * 0..k-1 starting from 0 (then + bias): the result does not depend on the
 * thread count, the blocking, or the kernel set (AVX-512 and the portable
 * kernel agree bit for bit).
 *
 * Packed layouts (both in blocks of GL_GEMM_KC along k; kb = the block's
 * length, the last one shorter):
 *   A: block p0 at ap + p0 * m_pad, then panel i at + i * MR * kb,
 *      [kb][MR] (rows past m are zero).       m_pad = m rounded up to MR
 *   B: block p0 at bp + p0 * n_pad, then panel j at + j * NR * kb,
 *      [kb][NR] (columns past n are zero).    n_pad = n rounded up to NR
 */
#ifndef GLIMPSE_GEMM_F32_H
#define GLIMPSE_GEMM_F32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glimpse/ops.h"
#include "glimpse/pool.h"

#define GL_GEMM_MR 14           /* rows of A per micro-tile */
#define GL_GEMM_NR 32           /* columns of B per micro-tile (two zmm) */
#define GL_GEMM_KC 256          /* depth of a cache block (a multiple of every quant block) */

/* Operand B. k_major = false: a weight, row r (output column r) holds k
 * values of `type` (any type with to_float; k a multiple of its block size).
 * k_major = true: row t holds n f32 values (type must be GL_TYPE_F32). */
struct gl_gemm_b {
    const void *data;
    int type;
    bool k_major;
    size_t stride;              /* bytes between rows */
};

/* True when the AVX-512 kernels run (the CPU has AVX-512 F/BW/VL and
 * GLIMPSE_KERNELS does not force scalar or avx2). */
bool gl_gemm_fast(void);
/* Tests: force the portable kernels (true) or back to the CPU's best. */
void gl_gemm_force_portable(bool on);

/* Floats of packed A for m x k, of packed B for n x k. */
size_t gl_gemm_a_floats(int64_t m, int64_t k);
size_t gl_gemm_b_floats(int64_t n, int64_t k);
/* Floats of per-thread scratch gl_gemm_run needs (times the thread count). */
size_t gl_gemm_thread_floats(void);

/* ap = A[m][k] (rows lda floats apart) packed; 64-byte aligned ap. */
void gl_gemm_pack_a(float *ap, const float *a, size_t lda, int64_t m, int64_t k);
/* The same split over the pool's threads. */
void gl_gemm_pack_a_pool(gl_pool *pool, float *ap, const float *a, size_t lda, int64_t m,
                         int64_t k);
/* bp = B (n x k as described by b) packed; 64-byte aligned bp. */
void gl_gemm_pack_b(float *bp, const struct gl_gemm_b *b, int64_t n, int64_t k);

/* C[m][n] (rows ldc floats apart) = packed A @ packed B (+ bias[n] if not
 * NULL), on the calling thread. */
void gl_gemm_packed(float *c, size_t ldc, const float *ap, const float *bp, int64_t m, int64_t n,
                    int64_t k, const float *bias);

/* C[m][n] = packed A @ B (+ bias), B packed on the fly a cache block at a
 * time; the pool's threads take chunks of columns. `tbuf` holds
 * gl_gemm_thread_floats() floats per pool thread (64-byte aligned). */
void gl_gemm_run(gl_pool *pool, float *tbuf, float *c, size_t ldc, const float *ap, int64_t m,
                 int64_t k, const struct gl_gemm_b *b, int64_t n, const float *bias);

/* Everything in one call: A packed into `scratch` (plus the threads'
 * buffers). Returns 0, or -1 when the scratch cannot grow. */
int gl_gemm_f32(gl_pool *pool, struct gl_scratch *scratch, float *c, size_t ldc, const float *a,
                size_t lda, int64_t m, int64_t k, const struct gl_gemm_b *b, int64_t n,
                const float *bias);

/* In-place softmax of each of m rows of n (rows ld floats apart):
 * x = exp(x - max) / sum. The exponential is a polynomial good to 2 ulp
 * (the AVX-512 and portable paths differ in the last bits). */
void gl_gemm_softmax(float *x, int64_t m, int64_t n, size_t ld);
/* In place over n values: x = x / (1 + exp(-1.702 x)) (CLIP's quick GELU),
 * with the same exponential. */
void gl_gemm_quick_gelu(float *x, int64_t n);

#endif
