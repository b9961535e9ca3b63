/*
 * quant.h - tensor element formats: plain floats and ggml's block quantizations.
 *
 * Type numbers are GGUF's (they are stored in the tensor directory). Quantized
 * formats pack `blck_size` consecutive values of a row into one block of
 * `type_size` bytes; a row's length must be a multiple of the block size.
 *
 * Generic code never switches on a type: it asks gl_type_traits() for the
 * format's name, sizes and kernels. A matrix-vector product with weights of
 * type T first converts the activations to traits(T)->vec_dot_type (Q8_0 for
 * Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16, BF16
 * for BF16, F32 for F32), exactly as the reference implementation does, then
 * calls traits(T)->vec_dot on a weight row and the converted activation row.
 *
 * The scalar kernels in quant.c are the reference; SIMD versions (chosen at
 * run time, see gl_quant_init) return exactly the same bits: every kernel adds
 * its float terms in the order of llama.cpp's x86 kernels.
 */
#ifndef GLIMPSE_QUANT_H
#define GLIMPSE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gl_type {
    GL_TYPE_F32 = 0,
    GL_TYPE_F16 = 1,
    GL_TYPE_Q4_0 = 2,
    GL_TYPE_Q4_1 = 3,
    GL_TYPE_Q5_0 = 6,
    GL_TYPE_Q5_1 = 7,
    GL_TYPE_Q8_0 = 8,
    GL_TYPE_Q8_1 = 9,
    GL_TYPE_Q2_K = 10,
    GL_TYPE_Q3_K = 11,
    GL_TYPE_Q4_K = 12,
    GL_TYPE_Q5_K = 13,
    GL_TYPE_Q6_K = 14,
    GL_TYPE_Q8_K = 15,
    GL_TYPE_BF16 = 30,
    GL_TYPE_COUNT = 40          /* upper bound of GGUF type numbers we know names for */
};

#define GL_QK_K 256             /* super-block size of the K-quants */

typedef uint16_t gl_fp16;       /* IEEE half, bit pattern */
typedef uint16_t gl_bf16;       /* bfloat16, bit pattern */

/* x = row of `n` values in the format, y = n floats. */
typedef void (*gl_to_float_fn)(const void *restrict x, float *restrict y, int64_t n);
/* Quantize n floats into the format (reference quantizer). */
typedef void (*gl_from_float_fn)(const float *restrict x, void *restrict y, int64_t n);
/* *s = dot(x, y) over n values; x in this format, y in its vec_dot_type. */
typedef void (*gl_vec_dot_fn)(int n, float *restrict s, const void *restrict x, const void *restrict y);

struct gl_type_traits {
    const char *name;           /* "q4_K", as ggml names it */
    int blck_size;              /* values per block (1 for plain floats) */
    size_t type_size;           /* bytes per block */
    bool is_quantized;
    gl_to_float_fn to_float;
    gl_from_float_fn from_float;
    int vec_dot_type;           /* enum gl_type the activations are converted to */
    gl_vec_dot_fn vec_dot;      /* NULL for activation-only formats (Q8_1, Q8_K) */
};

/* Pick the kernels for this CPU (idempotent, thread-safe; called by
 * gl_type_traits on first use). GLIMPSE_KERNELS=scalar|avx2|avx512|neon forces one. */
void gl_quant_init(void);
/* Name of the kernel set in use ("scalar", "avx2", ...). */
const char *gl_quant_kernels(void);
/* Switch to a kernel set by name: "scalar", "avx2" (AVX2+FMA+F16C, with
 * batched q4_K/q6_K products for prefill) or "avx512" (AVX-512 with VNNI:
 * 512-bit q4_K/q6_K dot products and batched products; picked by default
 * where the CPU has it). Every set gives results bit-identical to the
 * scalar reference.
 * Returns 0, or -1 and changes nothing when the name is unknown or this CPU
 * cannot run the set. For tests and benchmarks: call it while no kernel runs. */
int gl_quant_set_kernels(const char *name);

/* Traits of a supported type, or NULL for an unknown/unsupported one. */
const struct gl_type_traits *gl_type_traits(int type);
/* Name of any GGUF type number we know of (also unsupported ones such as
 * "iq2_xxs"), or NULL when the number is unknown. */
const char *gl_type_name(int type);
/* Bytes of a row of n values (n must be a multiple of the block size). */
size_t gl_row_size(int type, int64_t n);

/* Half and bfloat16 conversions (round to nearest even, as F16C does). */
float gl_fp16_to_fp32(gl_fp16 h);
gl_fp16 gl_fp32_to_fp16(float f);
float gl_bf16_to_fp32(gl_bf16 h);
gl_bf16 gl_fp32_to_bf16(float f);
/* f32 -> f16 -> f32, the rounding the reference applies to activations. */
static inline float gl_round_fp16(float f) { return gl_fp16_to_fp32(gl_fp32_to_fp16(f)); }

#ifdef __cplusplus
}
#endif
#endif
