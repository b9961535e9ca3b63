/*
 * ops.h - the numeric building blocks of the decoder and the vision tower.
 *
 * Conventions: outputs first; matrices are row-major arrays of rows; a
 * "batch" is m rows of activations. Each function states its math in one
 * line. Ops that take a pool split their work over its threads; pool may be
 * NULL (single thread).
 */
#ifndef GLIMPSE_OPS_H
#define GLIMPSE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glimpse/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A weight matrix as stored in GGUF: n_out rows of n_in values of `type`
 * (ggml ne = [n_in, n_out]); row r starts at data + r * row_bytes. */
struct gl_weight {
    const void *data;
    int type;                   /* enum gl_type */
    int64_t n_in;               /* ne[0], contiguous */
    int64_t n_out;              /* ne[1] */
    size_t row_bytes;
};

/* Scratch memory an op may need (grown on demand, reused between calls). */
struct gl_scratch {
    void *buf;
    size_t cap;
};
void gl_scratch_free(struct gl_scratch *s);
/* Returns a buffer of at least n bytes (64-byte aligned) or NULL on OOM. */
void *gl_scratch_get(struct gl_scratch *s, size_t n);

/* Y[m][n_out] = X[m][n_in] @ W^T   (each y row: W(n_out,n_in) @ x(n_in))
 * The activations are converted once to W's vec_dot_type (as the reference
 * does), then the product runs as a tiled matrix-matrix kernel: each block of
 * weight rows is multiplied with many activation rows while it is in cache.
 * F32 weights with m large go to OpenBLAS sgemm. F16 weights are summed in
 * the reference's order (ggml's AVX-512 vec_dot_f16 for one row, llamafile's
 * tinyBLAS for batches), bit for bit and whatever the thread count.
 * Returns 0, or -1 on OOM. */
int ops_matmul(gl_pool *pool, struct gl_scratch *scratch, float *y, const float *x,
               int64_t m, const struct gl_weight *w);

/* y[k] = X @ w[k]^T for k < n (n <= 4 shares the work; more run one by one):
 * n products of the same input, bit for bit those of n ops_matmul calls.
 * Quantized weights of one activation format convert X once and run as one
 * pool job (one barrier instead of n). Returns 0, or -1 on OOM. */
int ops_matmul_n(gl_pool *pool, struct gl_scratch *scratch, int n, float *const *y, const float *x,
                 int64_t m, const struct gl_weight *const *w);

/* For tests: forget the vector-or-portable choice of the ops above and
 * below (not of the quantized kernels), so that the next op reads
 * GLIMPSE_KERNELS again ("scalar" or "avx2": portable code). Call it while
 * no op runs. */
void ops_reset_simd(void);

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]   over rows of n, m rows */
void ops_rmsnorm(float *out, const float *x, const float *w, int64_t m, int64_t n, float eps);
/* out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i]   (w, b may be NULL) */
void ops_layernorm(float *out, const float *x, const float *w, const float *b,
                   int64_t m, int64_t n, float eps);

/* RoPE, ggml "NORM" mode (pairs x[2i], x[2i+1]) on m rows, each n_head heads of
 * hd values; row j has position pos[j]. theta_i = pos * base^(-2i/hd),
 * computed as the reference does (theta *= base^(-2/hd) iteratively, f32). */
void ops_rope(float *x, int64_t m, int n_head, int hd, const int32_t *pos, float freq_base);

/* In-place softmax of each of m rows of n: x = exp(x*scale - max) / sum. */
void ops_softmax(float *x, int64_t m, int64_t n, float scale);
/* The same as the reference computes it (ggml_soft_max on AVX-512: its
 * vector exp on blocks of 16, block sums folded in f32, added in double). */
void ops_softmax_ggml(float *x, int64_t m, int64_t n, float scale);
/* sum x[i]*y[i] in the order of ggml_vec_dot_f32 on AVX-512 (4 x 16 lanes of
 * fused multiply-adds over steps of 64, folded; then the remaining loop as
 * GCC compiles it: rounded products added in order, the last n % 4 fused). */
float ops_dot_f32_ggml(const float *x, const float *y, int64_t n);

/* Activations, in place over n values. */
void ops_silu(float *x, int64_t n);                 /* x * sigmoid(x) */
void ops_gelu_tanh(float *x, int64_t n);            /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void ops_gelu_erf(float *x, int64_t n);             /* 0.5x(1+erf(x/sqrt 2)) */
void ops_quick_gelu(float *x, int64_t n);           /* x * sigmoid(1.702 x) */
/* The reference's table versions: x rounded to f16, result an f16-rounded value. */
void ops_gelu_tanh_f16tab(float *x, int64_t n);
void ops_quick_gelu_f16tab(float *x, int64_t n);

/* out[i] = a[i] * b[i] etc. */
void ops_mul(float *out, const float *a, const float *b, int64_t n);
void ops_add(float *out, const float *a, const float *b, int64_t n);

/* Causal attention for a batch of m queries at positions pos0 .. pos0+m-1
 * against a KV cache holding positions 0 .. pos0+m-1.
 *   q:   [m][n_head*hd] f32 (already roped)
 *   k,v: the hd values of kv head g at position t start at
 *        k + g * kv_head_bytes + t * kv_row_bytes; element type kv_type (F16
 *        or F32). Position-major caches pass (n_kv_head*hd*size, hd*size);
 *        head-major ones (each head's positions contiguous, what decoding
 *        reads fastest) pass (hd*size, n_ctx*hd*size).
 *   out: [m][n_head*hd]
 * Query head h reads kv head h / (n_head / n_kv_head); scale 1/sqrt(hd).
 * With an F16 cache it mirrors the reference: q rounded to f16, scores in f32,
 * softmax in f32, probabilities rounded to f16 before the product with V.
 * Returns 0, or -1 on OOM. */
int ops_attention(gl_pool *pool, struct gl_scratch *scratch, float *out, const float *q,
                  int64_t m, int64_t pos0, const void *k, const void *v, int kv_type,
                  size_t kv_row_bytes, size_t kv_head_bytes, int n_head, int n_kv_head, int hd);

#ifdef __cplusplus
}
#endif
#endif
