/*
 * quant_impl.h - private to quant.c and quant_x86.c: ggml's block layouts,
 * the fixed summation orders every dot-product kernel shares, and the hook
 * through which quant.c installs a SIMD kernel set.
 *
 * The kernels must reproduce what llama.cpp's x86 build computes, and that
 * build sums in vector registers: a dot product's float terms are added in
 * the order its AVX2/AVX-512 code adds them, not left to right. The scalar
 * kernels in quant.c spell that order out element by element (they are the
 * reference); the SIMD kernels in quant_x86.c perform the same operations
 * eight lanes at a time and must give the same bits.
 *
 * The shared vocabulary:
 *   - "lane l" of a 32-value chunk: the integer sum of the products of its
 *     values 4l..4l+3 (what _mm256_madd_epi16 leaves in 32-bit lane l);
 *   - each lane is scaled into a float accumulator with one fused
 *     multiply-add per block (or super-block): acc[l] = fma(lane, d, acc[l]);
 *   - the eight accumulators are folded by gl_hsum8(), the tree of ggml's
 *     hsum_float_8.
 */
#ifndef GLIMPSE_QUANT_IMPL_H
#define GLIMPSE_QUANT_IMPL_H

#include "glimpse/quant.h"

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

/* The q4_K/q5_K min term: the activation sums of 16 are added in pairs (in
 * 16 bits, as _mm_hadd_epi16 does) to sums of 32 and weighted by the 6-bit
 * mins: prod[k] = m[2k]*q8s[2k] + m[2k+1]*q8s[2k+1], k = 0..3. Shared by
 * the scalar, AVX2 and NEON kernels. */
static inline void k45_min_lanes(const block_q8_K *y, const int *m, int32_t prod[4])
{
    for (int k = 0; k < 4; k++) {
        const int16_t s0 = (int16_t)(y->bsums[4 * k] + y->bsums[4 * k + 1]);
        const int16_t s1 = (int16_t)(y->bsums[4 * k + 2] + y->bsums[4 * k + 3]);
        prod[k] = m[2 * k] * s0 + m[2 * k + 1] * s1;
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

/* ggml's hsum_float_8: upper and lower halves added, then lanes {0,1} +
 * {2,3}, then the pair: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)). */
static inline float gl_hsum8(const float a[8])
{
    const float r0 = a[0] + a[4], r1 = a[1] + a[5], r2 = a[2] + a[6], r3 = a[3] + a[7];
    return (r0 + r2) + (r1 + r3);
}

/* _mm512_reduce_add_ps as GCC expands it: lanes i and i+8 added, then the
 * result folded by gl_hsum8. */
static inline float gl_hsum16(const float a[16])
{
    float h[8];
    for (int i = 0; i < 8; i++)
        h[i] = a[i] + a[i + 8];
    return gl_hsum8(h);
}

/* A batched product (ops.c's prefill path): nr weight rows of n values,
 * row r at w + r * w_stride, against m activation rows in the format's
 * vec_dot_type, row i at xq + i * x_stride:
 *   y[i * ldy + r] = vec_dot(n, row r, activation row i), bit for bit.
 * panel: scratch of gl_gemm_panel_bytes(n, nr) bytes, 64-byte aligned, where
 * the weight rows are decoded once for all m activation rows. */
typedef void (*gl_gemm_fn)(int n, int nr, int m, float *y, size_t ldy, const void *w,
                           size_t w_stride, const void *xq, size_t x_stride, void *panel);
size_t gl_gemm_panel_bytes(int n, int nr);
/* The current kernel set's batched product for weights of this type, or
 * NULL (then ops.c calls vec_dot per output). Used by ops.c. */
gl_gemm_fn gl_quant_gemm(int type);

/* Kernels a SIMD set may replace, indexed by enum gl_type; NULL entries keep
 * the scalar kernel (and for gemm: no batched product). */
struct gl_quant_kernels {
    gl_vec_dot_fn vec_dot[GL_TYPE_COUNT];
    gl_from_float_fn from_float[GL_TYPE_COUNT];
    gl_gemm_fn gemm[GL_TYPE_COUNT];
};

/* quant_neon.c: true on AArch64 CPUs with the dot-product extension; the
 * "neon" set (q4_K and q6_K dot products, the rest scalar). */
bool gl_quant_neon_has(void);
void gl_quant_neon(struct gl_quant_kernels *k);

/* quant_x86.c: true when this build has the AVX2+FMA+F16C kernels and the
 * CPU (and OS) can run them. */
bool gl_quant_x86_has_avx2(void);
/* true when the CPU has AVX-512F. */
bool gl_quant_x86_has_avx512(void);
/* Fill in the AVX2 kernels (call only when gl_quant_x86_has_avx2()). */
void gl_quant_x86_avx2(struct gl_quant_kernels *k);
/* true when the CPU runs AVX-512 F/BW/DQ/VL with VNNI (and the AVX2 set). */
bool gl_quant_x86_has_avx512vnni(void);
/* The AVX2 kernels plus the AVX-512 VNNI batched products (call only when
 * gl_quant_x86_has_avx512vnni()). */
void gl_quant_x86_avx512(struct gl_quant_kernels *k);

#endif
