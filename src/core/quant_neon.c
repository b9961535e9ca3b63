/*
 * quant_neon.c - AArch64 NEON (with the dot-product extension) versions of
 * the q4_K and q6_K dot products, the two formats of a Q4_K_M model's
 * matrices, installed at run time by gl_quant_init() as the "neon" set.
 *
 * Like quant_x86.c they return the scalar reference's bits (quant_impl.h):
 * the reference's eight integer lanes of a 32-value chunk (lane l: values
 * 4l..4l+3) are what sdot computes, four lanes to a register, so lanes 0-3
 * and 4-7 live in two registers; the integers are exact (sdot sums in 32
 * bits), each block scales its lanes into the float accumulators with one
 * fused multiply-add, and the folds are the reference's trees.
 *
 * The ARM build of llama.cpp sums in other orders than its x86 build, whose
 * orders the reference mirrors; on ARM, --compat llama.cpp therefore agrees
 * with an x86 llama.cpp, not necessarily with an ARM one.
 *
 * Elsewhere the file compiles to two stubs.
 */

/* As in quant.c: a*b + c is never fused behind our back. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "config.h"

#include "quant_impl.h"

#include <string.h>

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_neon.h>
#include <sys/auxv.h>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

bool gl_quant_neon_has(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}

static inline float h2f(gl_fp16 h)
{
    return gl_fp16_to_fp32(h);
}

/* gl_hsum8 of the lanes lo (0-3) and hi (4-7). */
static inline float hsum8(float32x4_t lo, float32x4_t hi)
{
    const float32x4_t r = vaddq_f32(lo, hi);
    return (vgetq_lane_f32(r, 0) + vgetq_lane_f32(r, 2)) + (vgetq_lane_f32(r, 1) + vgetq_lane_f32(r, 3));
}

/* q4_K: the 32 values of chunk c are the low (c even) or high (c odd)
 * nibbles of qs[32 (c/2) ..], signed-byte range either way. */
static DOTPROD void q4_K_vec_dot_neon(int n, float *restrict s, const void *restrict vx,
                                      const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, am = acc0;
    for (int b = 0; b < n / QK_K; b++) {
        int sc[8], m[8];
        for (int j = 0; j < 8; j++)
            k4_scale_min(x[b].scales, j, &sc[j], &m[j]);
        const float d = y[b].d * h2f(x[b].d), dmin = -y[b].d * h2f(x[b].dmin);
        int32_t prod[4];
        k45_min_lanes(&y[b], m, prod);
        am = vfmaq_f32(am, vcvtq_f32_s32(vld1q_s32(prod)), vdupq_n_f32(dmin));
        int32x4_t l0 = vdupq_n_s32(0), l1 = l0;
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * j), q1 = vld1q_u8(x[b].qs + 32 * j + 16);
            const int8_t *yq = y[b].qs + 64 * j;
            const int32x4_t lo0 = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(yq));
            const int32x4_t lo1 = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(yq + 16));
            const int32x4_t hi0 = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(yq + 32));
            const int32x4_t hi1 = vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(yq + 48));
            l0 = vmlaq_n_s32(vmlaq_n_s32(l0, lo0, sc[2 * j]), hi0, sc[2 * j + 1]);
            l1 = vmlaq_n_s32(vmlaq_n_s32(l1, lo1, sc[2 * j]), hi1, sc[2 * j + 1]);
        }
        acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(l0), vdupq_n_f32(d));
        acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(l1), vdupq_n_f32(d));
    }
    *s = hsum8(acc0, acc1) +
         ((vgetq_lane_f32(am, 0) + vgetq_lane_f32(am, 2)) + (vgetq_lane_f32(am, 1) + vgetq_lane_f32(am, 3)));
}

/* q6_K: chunk 4j+k holds low nibbles of ql[64j + 32(k&1) ..] (k < 2) or
 * their high nibbles (k >= 2), bits 2k, 2k+1 of qh[32j ..] on top, minus 32;
 * lanes 0-3 carry sub-block 2c's scale, lanes 4-7 sub-block 2c+1's. */
static DOTPROD void q6_K_vec_dot_neon(int n, float *restrict s, const void *restrict vx,
                                      const void *restrict vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    for (int b = 0; b < n / QK_K; b++) {
        int32x4_t l0 = vdupq_n_s32(0), l1 = l0;
        for (int j = 0; j < 2; j++) {
            for (int k = 0; k < 4; k++) {
                const int c = 4 * j + k;
                const uint8_t *ql = x[b].ql + 64 * j + 32 * (k & 1);
                const uint8_t *qh = x[b].qh + 32 * j;
                int8x16_t v[2];
                for (int h = 0; h < 2; h++) {
                    const uint8x16_t l = vld1q_u8(ql + 16 * h);
                    const uint8x16_t lo = k < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
                    const uint8x16_t hb = vandq_u8(vshlq_u8(vld1q_u8(qh + 16 * h), vdupq_n_s8((int8_t)(-2 * k))), m3);
                    v[h] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hb, 4))), m32);
                }
                const int8_t *yq = y[b].qs + 32 * c;
                l0 = vmlaq_n_s32(l0, vdotq_s32(vdupq_n_s32(0), v[0], vld1q_s8(yq)), x[b].scales[2 * c]);
                l1 = vmlaq_n_s32(l1, vdotq_s32(vdupq_n_s32(0), v[1], vld1q_s8(yq + 16)), x[b].scales[2 * c + 1]);
            }
        }
        const float d = y[b].d * h2f(x[b].d);
        acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(l0), vdupq_n_f32(d));
        acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(l1), vdupq_n_f32(d));
    }
    *s = hsum8(acc0, acc1);
}

void gl_quant_neon(struct gl_quant_kernels *k)
{
    k->vec_dot[GL_TYPE_Q4_K] = q4_K_vec_dot_neon;
    k->vec_dot[GL_TYPE_Q6_K] = q6_K_vec_dot_neon;
}

#else /* not AArch64 */

bool gl_quant_neon_has(void)
{
    return false;
}

void gl_quant_neon(struct gl_quant_kernels *k)
{
    (void)k;
}

#endif
