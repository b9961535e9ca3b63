/*
 * test_gemm_f32.c - gemm_f32.c's packed f32 products and softmax against a
 * double-precision reference written here.
 *
 * Each product C = A @ B^T (weights in f32, f16, q8_0) or A @ B (k-major
 * f32) runs on odd shapes (m = 1, edge tiles in every direction, k not a
 * multiple of anything, k past one cache block, k = 0), with and without
 * bias and with padded row strides. Checks:
 *   - every element within (k + 2) * 2^-24 * sum|a_i b_i| (+ the bias's
 *     rounding) of the double product with the same f32 operands: the bound
 *     of a sequential f32 sum of k products;
 *   - pools of 1, 2 and 3 threads give identical bits, and so does the
 *     single-threaded pre-packed path;
 *   - the AVX-512 and the portable kernels give identical bits (one FMA
 *     chain per element in the same order), where the CPU has AVX-512;
 *   - C's padding columns (past n within ldc) are never written.
 * The softmax and quick GELU (both paths) against double, within 8 ulp.
 */
#include "config.h"

#include "gemm_f32.h"
#include "glimpse/pool.h"
#include "glimpse/quant.h"
#include "util.h"

#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double urand(void)               /* uniform [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static void fill(float *x, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * urand());
}

#define SENTINEL 12345.0f

/* One test case: the operands in f32 (wf = B as the kernel sees it after
 * conversion, [n][k] for weights, [k][n] for k-major) and in B's format. */
struct gcase {
    int64_t m, k, n;
    int type;                   /* GL_TYPE_F32, F16, Q8_0 */
    bool k_major;
    bool bias;
    size_t lda, ldc;
    float *a;                   /* [m][lda] */
    float *wf;                  /* B's values in f32 */
    void *wq;                   /* B as stored */
    size_t stride;              /* bytes between B's rows */
    float *bias_v;              /* [n] */
};

static void case_free(struct gcase *g)
{
    gl_afree(g->a);
    gl_afree(g->wf);
    gl_afree(g->wq);
    gl_afree(g->bias_v);
}

static bool case_make(struct gcase *g, int64_t m, int64_t k, int64_t n, int type, bool k_major,
                      bool bias, size_t pad)
{
    memset(g, 0, sizeof *g);
    g->m = m, g->k = k, g->n = n, g->type = type, g->k_major = k_major, g->bias = bias;
    g->lda = (size_t)k + pad;
    g->ldc = (size_t)n + pad;
    g->a = gl_amalloc(((size_t)m * g->lda + 1) * sizeof(float));
    g->bias_v = gl_amalloc(((size_t)n + 1) * sizeof(float));
    int64_t rows = k_major ? k : n, cols = k_major ? n : k;
    g->wf = gl_amalloc(((size_t)(rows * cols) + 1) * sizeof(float));
    const struct gl_type_traits *tr = gl_type_traits(type);
    g->stride = gl_row_size(type, cols) + (type == GL_TYPE_F32 ? pad * sizeof(float) : 0);
    g->wq = gl_amalloc(g->stride * (size_t)rows + 1);
    if (!g->a || !g->bias_v || !g->wf || !g->wq || !tr)
        return false;
    fill(g->a, (int64_t)((size_t)m * g->lda), -1.0, 1.0);
    fill(g->bias_v, n, -0.5, 0.5);
    float *row = malloc(((size_t)cols + 1) * sizeof *row);
    if (!row)
        return false;
    for (int64_t r = 0; r < rows; r++) {
        fill(row, cols, -1.0, 1.0);
        char *dst = (char *)g->wq + (size_t)r * g->stride;
        if (type == GL_TYPE_F32)
            memcpy(dst, row, (size_t)cols * sizeof(float));
        else
            tr->from_float(row, dst, cols);
        tr->to_float(dst, g->wf + r * cols, cols);
    }
    free(row);
    return true;
}

static struct gl_gemm_b case_b(const struct gcase *g)
{
    struct gl_gemm_b b = {.data = g->wq, .type = g->type, .k_major = g->k_major,
                          .stride = g->stride};
    return b;
}

static float *new_c(const struct gcase *g)
{
    size_t cnt = (size_t)g->m * g->ldc;
    float *c = gl_amalloc((cnt + 1) * sizeof(float));
    if (c)
        for (size_t i = 0; i < cnt; i++)
            c[i] = SENTINEL;
    return c;
}

/* Worst |c - ref| / bound over the elements (<= 1 passes), and whether the
 * padding stayed untouched. */
static double check_case(const struct gcase *g, const float *c, bool *pad_ok)
{
    const double u = ldexp(1.0, -24);
    double worst = 0.0;
    *pad_ok = true;
    for (int64_t i = 0; i < g->m; i++) {
        for (int64_t j = 0; j < g->n; j++) {
            double s = 0.0, sa = 0.0;
            for (int64_t t = 0; t < g->k; t++) {
                double bv = g->k_major ? g->wf[t * g->n + j] : g->wf[j * g->k + t];
                double p = (double)g->a[(size_t)i * g->lda + (size_t)t] * bv;
                s += p;
                sa += fabs(p);
            }
            double bound = (double)(g->k + 2) * u * sa + 1e-30;
            if (g->bias) {
                s += g->bias_v[j];
                bound += 2 * u * (fabs(s) + fabs(g->bias_v[j]));
            }
            double e = fabs((double)c[(size_t)i * g->ldc + (size_t)j] - s) / bound;
            if (!(e <= worst))
                worst = isnan(e) ? INFINITY : e > worst ? e : worst;
        }
        for (size_t j = (size_t)g->n; j < g->ldc; j++)
            if (c[(size_t)i * g->ldc + j] != SENTINEL)
                *pad_ok = false;
    }
    return worst;
}

static bool same_bits(const float *x, const float *y, size_t n)
{
    return memcmp(x, y, n * sizeof(float)) == 0;
}

/* ----------------------------------------------------------------- tests */

static gl_pool *pools[3];

static void run_case(int64_t m, int64_t k, int64_t n, int type, bool k_major, bool bias,
                     size_t pad)
{
    struct gcase g;
    const char *tn = gl_type_name(type);
    char name[128];
    snprintf(name, sizeof name, "%lldx%lldx%lld %s%s%s%s", (long long)m, (long long)k,
             (long long)n, tn, k_major ? " k-major" : "", bias ? " +bias" : "",
             pad ? " padded" : "");
    float *c[3] = {NULL, NULL, NULL}, *cp = NULL, *ap = NULL, *bp = NULL, *cs = NULL;
    struct gl_scratch scr = {0};
    if (!ok(case_make(&g, m, k, n, type, k_major, bias, pad), "%s: set up", name))
        goto done;
    struct gl_gemm_b b = case_b(&g);
    const float *bv = bias ? g.bias_v : NULL;

    bool all_ok = true;
    for (int t = 0; t < 3; t++) {
        c[t] = new_c(&g);
        all_ok = all_ok && c[t] &&
                 gl_gemm_f32(pools[t], &scr, c[t], g.ldc, g.a, g.lda, m, k, &b, n, bv) == 0;
    }
    if (!ok(all_ok, "%s: products ran", name))
        goto done;
    bool pad_ok;
    double worst = check_case(&g, c[0], &pad_ok);
    ok(worst <= 1.0, "%s: within (k+2) u sum|ab| of double (worst %.3g of the bound)", name,
       worst);
    ok(pad_ok, "%s: nothing written past n", name);
    size_t cnt = (size_t)m * g.ldc;
    ok(same_bits(c[0], c[1], cnt) && same_bits(c[0], c[2], cnt),
       "%s: 1, 2 and 3 threads agree bit for bit", name);

    /* Pre-packed, single-threaded: the same chains. */
    cp = new_c(&g);
    ap = gl_amalloc((gl_gemm_a_floats(m, k) + 1) * sizeof(float));
    bp = gl_amalloc((gl_gemm_b_floats(n, k) + 1) * sizeof(float));
    if (ok(cp && ap && bp, "%s: packed buffers", name)) {
        gl_gemm_pack_a(ap, g.a, g.lda, m, k);
        gl_gemm_pack_b(bp, &b, n, k);
        gl_gemm_packed(cp, g.ldc, ap, bp, m, n, k, bv);
        ok(same_bits(c[0], cp, cnt), "%s: pre-packed path agrees bit for bit", name);
    }

    /* The other kernel set. */
    if (gl_gemm_fast()) {
        cs = new_c(&g);
        gl_gemm_force_portable(true);
        bool ran = cs && gl_gemm_f32(pools[1], &scr, cs, g.ldc, g.a, g.lda, m, k, &b, n, bv) == 0;
        gl_gemm_force_portable(false);
        ok(ran && same_bits(c[0], cs, cnt), "%s: portable and AVX-512 kernels agree bit for bit",
           name);
    }
done:
    for (int t = 0; t < 3; t++)
        gl_afree(c[t]);
    gl_afree(cp);
    gl_afree(cs);
    gl_afree(ap);
    gl_afree(bp);
    gl_scratch_free(&scr);
    case_free(&g);
}

static void test_softmax(bool portable)
{
    const char *which = portable ? "portable" : "AVX-512";
    const int64_t m = 5, n = 77;
    const size_t ld = 80;
    float *x = gl_amalloc(m * ld * sizeof(float));
    double *ref = malloc((size_t)(m * n) * sizeof *ref);
    if (!ok(x && ref, "softmax %s: buffers", which))
        goto done;
    for (int64_t i = 0; i < m; i++) {
        fill(x + i * (int64_t)ld, (int64_t)ld, -30.0, 30.0);
        if (i == 1)
            for (int64_t j = 0; j < n; j++)
                x[i * (int64_t)ld + j] = (float)(j % 3) * -50.0f;    /* tiny exponents */
        if (i == 2)
            for (int64_t j = 0; j < n; j++)
                x[i * (int64_t)ld + j] = 88.0f + (float)j;       /* large ones: max taken out */
        float mx = -INFINITY;
        double sum = 0.0;
        for (int64_t j = 0; j < n; j++)
            mx = fmaxf(mx, x[i * (int64_t)ld + j]);
        /* x - max rounded to f32 as the kernel computes it: that rounding
         * alone moves exp by up to 2^-19 relative for arguments near -60. */
        for (int64_t j = 0; j < n; j++)
            sum += ref[i * n + j] = exp((double)(x[i * (int64_t)ld + j] - mx));
        for (int64_t j = 0; j < n; j++)
            ref[i * n + j] /= sum;
    }
    float keep = x[ld - 1];
    gl_gemm_force_portable(portable);
    gl_gemm_softmax(x, m, n, ld);
    gl_gemm_force_portable(false);
    double worst = 0.0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            /* exp to a few ulp, the sum's and the division's roundings:
             * relative 8 ulp, plus an absolute floor for values near the
             * bottom of the f32 range. */
            double r = ref[i * n + j];
            double e = fabs(x[i * (int64_t)ld + j] - r) / (8 * ldexp(1.0, -24) * r + 1e-44);
            worst = e > worst ? e : worst;
        }
    ok(worst <= 1.0, "softmax %s: within 8 ulp of double (worst %.3g of the bound)", which,
       worst);
    ok(x[ld - 1] == keep, "softmax %s: padding untouched", which);
done:
    gl_afree(x);
    free(ref);
}

static void test_quick_gelu(bool portable)
{
    const char *which = portable ? "portable" : "AVX-512";
    enum { N = 203 };
    float x[N + 1], y[N + 1];
    fill(x, N, -12.0, 12.0);
    x[0] = -60.0f, x[1] = 60.0f, x[2] = 0.0f, x[3] = -100.0f;
    x[N] = SENTINEL;
    memcpy(y, x, sizeof x);
    gl_gemm_force_portable(portable);
    gl_gemm_quick_gelu(y, N);
    gl_gemm_force_portable(false);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        /* The exponent's argument rounded to f32 as the kernel computes it. */
        double r = x[i] / (1.0 + exp((double)(-1.702f * x[i])));
        /* Results under the smallest normal may come out as 0 (e^x overflows
         * for x < -52 as it does with libm's expf). */
        double e = fabs(y[i] - r) / (8 * ldexp(1.0, -24) * fabs(r) + ldexp(1.0, -126));
        worst = e > worst ? e : worst;
    }
    ok(worst <= 1.0, "quick GELU %s: within 8 ulp of double (worst %.3g of the bound)", which,
       worst);
    ok(y[N] == SENTINEL, "quick GELU %s: stops at n", which);
}

int main(void)
{
    char *err = NULL;
    for (int t = 0; t < 3; t++)
        if (!(pools[t] = gl_pool_new(t + 1, &err)))
            tap_skip_all("no thread pool: %s", err);
    tap_diag("kernels: %s", gl_gemm_fast() ? "AVX-512" : "portable");

    /* m, k, n: single row and column, edge tiles (m % 14, n % 32), k across
     * a cache block (256), the ViT's 64-deep attention product. */
    run_case(1, 1, 1, GL_TYPE_F32, false, false, 0);
    run_case(1, 300, 577, GL_TYPE_F16, false, true, 0);
    run_case(15, 257, 33, GL_TYPE_F16, false, true, 3);
    run_case(29, 64, 97, GL_TYPE_F32, false, false, 5);
    run_case(14, 512, 64, GL_TYPE_F16, false, false, 0);
    run_case(45, 600, 70, GL_TYPE_F32, false, true, 1);
    run_case(31, 288, 40, GL_TYPE_Q8_0, false, true, 0);
    run_case(17, 577, 64, GL_TYPE_F32, true, false, 0);
    run_case(3, 19, 50, GL_TYPE_F32, true, true, 7);
    run_case(9, 0, 20, GL_TYPE_F16, false, true, 0);
    run_case(130, 1024, 160, GL_TYPE_F16, false, true, 0);

    test_softmax(true);
    test_quick_gelu(true);
    if (gl_gemm_fast()) {
        test_softmax(false);
        test_quick_gelu(false);
    }

    for (int t = 0; t < 3; t++)
        gl_pool_free(pools[t]);
    return tap_done();
}
