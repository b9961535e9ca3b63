/*
 * test_ops.c - every op of ops.h against a plain double-precision reference
 * written here: norms, RoPE (closed form for small positions, ggml's f32
 * angle recurrence for large ones), softmax, the activations and their f16
 * table versions, causal GQA attention with f32 and f16 caches, and matmul
 * for every weight type quant.c supports. Thread counts 1, 2 and 3.
 *
 * Matmul is checked two ways: a batch of m rows must equal m separate
 * single-row products bit for bit (the tiled kernel calls the format's dot
 * product per element, as the reference does), and it must be close to a
 * double product with the dequantized weights, within a bound derived from
 * how the activations are rounded for that type.
 */
#include "config.h"

#include "glimpse/ops.h"
#include "glimpse/pool.h"
#include "glimpse/quant.h"

#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

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

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        tap_diag("out of memory");
        exit(1);
    }
    return p;
}

static double max_abs_diff(const float *a, const double *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m))
            m = d;              /* also catches NaN */
    }
    return m;
}

static gl_pool *pools[4];                /* index = thread count; [1] is NULL-pool-like */

/* ---------------------------------------------------------------- scratch */

static void test_scratch(void)
{
    struct gl_scratch s = { 0 };
    void *a = gl_scratch_get(&s, 100);
    ok(a && ((uintptr_t)a & 63) == 0 && s.cap >= 100, "scratch: 100 bytes, 64-byte aligned");
    void *b = gl_scratch_get(&s, 50);
    ok(b == a, "scratch: a smaller request reuses the buffer");
    void *c = gl_scratch_get(&s, 1 << 20);
    ok(c && ((uintptr_t)c & 63) == 0 && s.cap >= (1u << 20), "scratch: grows to 1 MiB");
    memset(c, 0xab, 1 << 20);
    gl_scratch_free(&s);
    ok(s.buf == NULL && s.cap == 0, "scratch: freed");
    gl_scratch_free(&s);
    gl_scratch_free(NULL);
    ok(1, "scratch: double free and NULL are no-ops");
}

/* ---------------------------------------------------------------- norms */

static void test_norms(void)
{
    const int64_t m = 3, n = 257;
    float *x = xmalloc(sizeof(float) * m * n), *w = xmalloc(sizeof(float) * n);
    float *b = xmalloc(sizeof(float) * n), *out = xmalloc(sizeof(float) * m * n);
    double *ref = xmalloc(sizeof(double) * m * n);
    fill(x, m * n, -3, 5);
    fill(w, n, -2, 2);
    fill(b, n, -1, 1);
    const float eps = 1e-5f;

    for (int wi = 0; wi < 2; wi++) {
        const float *ww = wi ? w : NULL;
        for (int64_t r = 0; r < m; r++) {
            double ss = 0;
            for (int64_t i = 0; i < n; i++)
                ss += (double)x[r * n + i] * x[r * n + i];
            double sc = 1.0 / sqrt(ss / n + eps);
            for (int64_t i = 0; i < n; i++)
                ref[r * n + i] = x[r * n + i] * sc * (ww ? ww[i] : 1.0);
        }
        ops_rmsnorm(out, x, ww, m, n, eps);
        double e = max_abs_diff(out, ref, m * n);
        ok(e < 2e-5, "rmsnorm%s vs double reference (max err %.2e)", wi ? "" : " without weight",
           e);
    }

    /* In place gives the same bits. */
    float *y = xmalloc(sizeof(float) * m * n);
    memcpy(y, x, sizeof(float) * m * n);
    ops_rmsnorm(out, x, w, m, n, eps);
    ops_rmsnorm(y, y, w, m, n, eps);
    ok(memcmp(y, out, sizeof(float) * m * n) == 0, "rmsnorm in place equals out of place");

    for (int variant = 0; variant < 3; variant++) {
        const float *ww = variant >= 1 ? w : NULL, *bb = variant == 2 ? b : NULL;
        for (int64_t r = 0; r < m; r++) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < n; i++)
                mean += x[r * n + i];
            mean /= n;
            for (int64_t i = 0; i < n; i++)
                var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
            var /= n;
            double sc = 1.0 / sqrt(var + eps);
            for (int64_t i = 0; i < n; i++)
                ref[r * n + i] =
                    (x[r * n + i] - mean) * sc * (ww ? ww[i] : 1.0) + (bb ? bb[i] : 0.0);
        }
        ops_layernorm(out, x, ww, bb, m, n, eps);
        double e = max_abs_diff(out, ref, m * n);
        ok(e < 2e-5, "layernorm (%s) vs double reference (max err %.2e)",
           variant == 0 ? "no w, no b" : variant == 1 ? "w" : "w and b", e);
    }
    /* A row with a large offset: mean and variance must not cancel badly. */
    for (int64_t i = 0; i < n; i++)
        x[i] = 1000.0f + (float)(i % 7) - 3.0f;
    ops_layernorm(out, x, NULL, NULL, 1, n, eps);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int64_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    for (int64_t i = 0; i < n; i++)
        ref[i] = (x[i] - mean) / sqrt(var + eps);
    double e = max_abs_diff(out, ref, n);
    ok(e < 1e-4, "layernorm of a row with mean 1000 (max err %.2e)", e);

    free(x), free(w), free(b), free(out), free(ref), free(y);
}

/* ---------------------------------------------------------------- rope */

static void test_rope(void)
{
    const int n_head = 3, hd = 64;
    const int64_t m = 6, row = (int64_t)n_head * hd;
    const float base = 10000.0f;
    int32_t pos[6] = { 0, 1, 2, 7, 19, 31 };
    float *x = xmalloc(sizeof(float) * m * row), *x0 = xmalloc(sizeof(float) * m * row);
    double *ref = xmalloc(sizeof(double) * m * row);
    fill(x0, m * row, -1, 1);
    memcpy(x, x0, sizeof(float) * m * row);
    ops_rope(x, m, n_head, hd, pos, base);

    ok(memcmp(x, x0, sizeof(float) * row) == 0, "rope at position 0 is the identity");

    /* Closed form theta_i = pos * base^(-2i/hd); f32 drift is tiny here. */
    for (int64_t r = 0; r < m; r++)
        for (int h = 0; h < n_head; h++)
            for (int i = 0; i < hd; i += 2) {
                double th = pos[r] * pow(base, -(double)i / hd);
                const float *p = x0 + r * row + h * hd + i;
                ref[r * row + h * hd + i] = p[0] * cos(th) - p[1] * sin(th);
                ref[r * row + h * hd + i + 1] = p[0] * sin(th) + p[1] * cos(th);
            }
    double e = max_abs_diff(x, ref, m * row);
    ok(e < 2e-5, "rope vs closed form for positions <= 31 (max err %.2e)", e);

    /* Large positions: the result must follow ggml's f32 recurrence
     * theta <- theta * base^(-2/hd), which differs measurably from the
     * closed form there. Recomputed here independently, in the same f32
     * steps. */
    int32_t big[2] = { 3001, 4095 };
    float *y = xmalloc(sizeof(float) * 2 * row);
    memcpy(y, x0, sizeof(float) * 2 * row);
    ops_rope(y, 2, n_head, hd, big, base);
    const float ts = powf(base, -2.0f / (float)hd);
    int exact = 1;
    double drift = 0, normerr = 0;
    for (int64_t r = 0; r < 2; r++) {
        float th = (float)big[r];
        for (int i = 0; i < hd; i += 2) {
            float c = cosf(th), s = sinf(th);
            double thc = big[r] * pow(base, -(double)i / hd);
            for (int h = 0; h < n_head; h++) {
                const float *p = x0 + r * row + h * hd + i;
                const float *q = y + r * row + h * hd + i;
                /* as ggml's contracted x0*c - x1*s: the x0 product fused */
                float a = fmaf(p[0], c, -(p[1] * s)), b = fmaf(p[0], s, p[1] * c);
                if (a != q[0] || b != q[1])
                    exact = 0;
                double d = fabs(q[0] - (p[0] * cos(thc) - p[1] * sin(thc)));
                if (d > drift)
                    drift = d;
                double n0 = hypot(p[0], p[1]), n1 = hypot(q[0], q[1]);
                if (fabs(n0 - n1) > normerr)
                    normerr = fabs(n0 - n1);
            }
            th *= ts;
        }
    }
    ok(exact, "rope at positions 3001, 4095 follows the f32 angle recurrence bit for bit");
    ok(normerr < 1e-5, "rope preserves the length of every pair (max err %.2e)", normerr);
    tap_diag("  f32 recurrence vs closed form at pos 4095: max diff %.2e", drift);
    free(x), free(x0), free(ref), free(y);
}

/* ---------------------------------------------------------------- softmax */

static void test_softmax(void)
{
    const int64_t m = 4, n = 301;
    float *x = xmalloc(sizeof(float) * m * n), *x0 = xmalloc(sizeof(float) * m * n);
    double *ref = xmalloc(sizeof(double) * m * n);
    fill(x0, m * n, -8, 8);
    x0[n + 5] = 1000.0f;            /* would overflow without the max */
    const float scale = 0.37f;
    memcpy(x, x0, sizeof(float) * m * n);
    ops_softmax(x, m, n, scale);
    for (int64_t r = 0; r < m; r++) {
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++)
            mx = fmax(mx, (double)x0[r * n + i] * scale);
        for (int64_t i = 0; i < n; i++)
            s += exp((double)x0[r * n + i] * scale - mx);
        for (int64_t i = 0; i < n; i++)
            ref[r * n + i] = exp((double)x0[r * n + i] * scale - mx) / s;
    }
    double e = max_abs_diff(x, ref, m * n);
    ok(e < 1e-6, "softmax with scale vs double reference (max err %.2e)", e);
    double worst = 0;
    for (int64_t r = 0; r < m; r++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            s += x[r * n + i];
        worst = fmax(worst, fabs(s - 1));
    }
    ok(worst < 1e-5, "softmax rows sum to 1 (max err %.2e)", worst);
    ok(fabs(x[n + 5] - 1.0f) < 1e-6, "softmax of a row with a huge entry does not overflow");
    free(x), free(x0), free(ref);
}

/* ---------------------------------------------------------------- activations */

static double d_gelu_tanh(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double d_gelu_erf(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double d_silu(double x) { return x / (1 + exp(-x)); }
static double d_quick_gelu(double x) { return x / (1 + exp(-1.702 * x)); }

typedef void (*act_fn)(float *, int64_t);

static void check_act(const char *name, act_fn f, double (*ref)(double))
{
    const int64_t n = 20001;
    float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(-20.0 + 40.0 * (double)i / (n - 1));
    memcpy(y, x, sizeof(float) * n);
    f(y, n);
    /* Relative 2e-6, plus the cancellation in 1 + tanh (or erf) of the f32
     * formula for very negative x: about one f32 step of 1, times |x|. */
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref(x[i]);
        double e = fabs(y[i] - r) / (2e-6 * fabs(r) + 1.2e-7 * fabs(x[i]) + 1e-30);
        if (!(e <= worst))
            worst = e;
    }
    ok(worst <= 1.0, "%s vs double reference on [-20, 20] (worst %.2f of bound)", name, worst);
    free(x), free(y);
}

static float f16_ulp(float v)          /* spacing of f16 values around v */
{
    float a = fabsf(v);
    if (a < 6.103515625e-05f)
        return 5.9604645e-08f;          /* subnormal spacing 2^-24 */
    int ex;
    frexpf(a, &ex);
    return ldexpf(1.0f, ex - 11);
}

/* Table versions: x is rounded to f16, the result is an f16 value within
 * one f16 step of the exact activation of that rounded x. */
static void check_table(const char *name, act_fn f, act_fn plain, double (*ref)(double), double lo,
                        double hi, int clamp10)
{
    const int64_t n = 40001;
    float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * urand());
    memcpy(y, x, sizeof(float) * n);
    f(y, n);
    int bad = 0, not_f16 = 0, not_same = 0;
    for (int64_t i = 0; i < n; i++) {
        if (clamp10 && (x[i] <= -10.0f || x[i] >= 10.0f))
            continue;
        float x16 = gl_round_fp16(x[i]);
        double r = ref(x16);
        if (!(fabs(y[i] - r) <= f16_ulp((float)r) * 1.0001 + 1.2e-7 * fabs(x16)))
            bad++;
        if (gl_round_fp16(y[i]) != y[i])
            not_f16++;
        /* The table holds f16(f32 formula(f16(x))), as the reference's does. */
        float p = x16;
        plain(&p, 1);
        if (gl_round_fp16(p) != y[i])
            not_same++;
    }
    ok(bad == 0, "%s: within one f16 step of the exact value at f16(x) (%d bad)", name, bad);
    ok(not_f16 == 0, "%s: every result is an f16 value", name);
    ok(not_same == 0, "%s: equals f16 of the f32 formula at f16(x) (%d differ)", name, not_same);
    free(x), free(y);
}

static void test_activations(void)
{
    check_act("silu", ops_silu, d_silu);
    check_act("gelu (tanh)", ops_gelu_tanh, d_gelu_tanh);
    check_act("gelu (erf)", ops_gelu_erf, d_gelu_erf);
    check_act("quick gelu", ops_quick_gelu, d_quick_gelu);

    if (!gl_type_traits(GL_TYPE_F16)) {
        tap_skip(10, "f16 conversions not available yet");
        return;
    }
    check_table("gelu table", ops_gelu_tanh_f16tab, ops_gelu_tanh, d_gelu_tanh, -12, 12, 1);
    check_table("quick gelu table", ops_quick_gelu_f16tab, ops_quick_gelu, d_quick_gelu, -30, 30,
                0);

    /* ggml's GELU bypasses the table outside (-10, 10). */
    float v[8] = { -10.0f, -10.5f, -1e6f, 10.0f, 10.5f, 123.25f, 9.99f, -9.99f };
    ops_gelu_tanh_f16tab(v, 8);
    ok(v[0] == 0.0f && v[1] == 0.0f && v[2] == 0.0f, "gelu table: x <= -10 gives exactly 0");
    ok(v[3] == 10.0f && v[4] == 10.5f && v[5] == 123.25f, "gelu table: x >= 10 passes x through");
    ok(v[6] == gl_round_fp16((float)d_gelu_tanh(gl_round_fp16(9.99f))) && fabsf(v[7]) < 1e-6f,
       "gelu table just inside the bounds: %g, %g", (double)v[6], (double)v[7]);

    /* Quick GELU has no bypass: large |x| goes through f16. */
    float w[4] = { 100.3f, -100.3f, 0.0f, 1.0f };
    ops_quick_gelu_f16tab(w, 4);
    ok(w[0] == gl_round_fp16(100.3f) && fabsf(w[1]) < 1e-6f && w[2] == 0.0f &&
       w[3] == gl_round_fp16((float)d_quick_gelu(1.0)),
       "quick gelu table at 100.3, -100.3, 0, 1: %g %g %g %g", (double)w[0], (double)w[1],
       (double)w[2], (double)w[3]);
}

static void test_elementwise(void)
{
    float a[5] = { 1, -2, 3.5f, 0, 7 }, b[5] = { 2, 4, -1, 9, 0.5f }, o[5];
    ops_mul(o, a, b, 5);
    ok(o[0] == 2 && o[1] == -8 && o[2] == -3.5f && o[3] == 0 && o[4] == 3.5f, "ops_mul");
    ops_add(o, a, b, 5);
    ok(o[0] == 3 && o[1] == 2 && o[2] == 2.5f && o[3] == 9 && o[4] == 7.5f, "ops_add");
    ops_add(a, a, a, 5);
    ok(a[0] == 2 && a[1] == -4 && a[4] == 14, "ops_add in place");
}

/* ---------------------------------------------------------------- attention */

struct kv {
    int type, n_kv_head, hd;
    int64_t n_pos;
    size_t row_bytes;
    void *k, *v;
};

static float kv_get(const struct kv *c, const void *base, int64_t pos, int g, int d)
{
    const char *p = (const char *)base + pos * c->row_bytes;
    int64_t idx = (int64_t)g * c->hd + d;
    if (c->type == GL_TYPE_F16)
        return gl_fp16_to_fp32(((const gl_fp16 *)p)[idx]);
    return ((const float *)p)[idx];
}

static void kv_fill(struct kv *c, int type, int64_t n_pos, int n_kv_head, int hd)
{
    c->type = type, c->n_pos = n_pos, c->n_kv_head = n_kv_head, c->hd = hd;
    size_t es = type == GL_TYPE_F16 ? 2 : 4;
    c->row_bytes = (size_t)n_kv_head * hd * es + 32;        /* padded stride */
    c->k = xmalloc(c->row_bytes * n_pos);
    c->v = xmalloc(c->row_bytes * n_pos);
    for (int which = 0; which < 2; which++) {
        char *base = which ? c->v : c->k;
        for (int64_t p = 0; p < n_pos; p++)
            for (int64_t i = 0; i < (int64_t)n_kv_head * hd; i++) {
                float f = (float)(urand() * 2 - 1) * (which ? 2.0f : 1.0f);
                if (type == GL_TYPE_F16)
                    ((gl_fp16 *)(base + p * c->row_bytes))[i] = gl_fp32_to_fp16(f);
                else
                    ((float *)(base + p * c->row_bytes))[i] = f;
            }
    }
}

/* Naive reference in double, mirroring the f16 path's roundings (q and the
 * probabilities rounded to f16) so only f32 arithmetic error remains. */
static void att_ref(double *out, const float *q, int64_t m, int64_t pos0, const struct kv *c,
                    int n_head)
{
    const int hd = c->hd, group = n_head / c->n_kv_head;
    const int64_t row = (int64_t)n_head * hd;
    const bool f16 = c->type == GL_TYPE_F16;
    double *s = xmalloc(sizeof(double) * (pos0 + m));
    for (int64_t i = 0; i < m; i++)
        for (int h = 0; h < n_head; h++) {
            int g = h / group;
            int64_t nk = pos0 + i + 1;
            double mx = -INFINITY, sum = 0;
            for (int64_t t = 0; t < nk; t++) {
                double d = 0;
                for (int e = 0; e < hd; e++) {
                    float qe = q[i * row + h * hd + e];
                    d += (double)(f16 ? gl_round_fp16(qe) : qe) * kv_get(c, c->k, t, g, e);
                }
                s[t] = d / sqrt((double)hd);
                mx = fmax(mx, s[t]);
            }
            for (int64_t t = 0; t < nk; t++)
                sum += (s[t] = exp(s[t] - mx));
            for (int64_t t = 0; t < nk; t++) {
                s[t] /= sum;
                if (f16)
                    s[t] = gl_round_fp16((float)s[t]);
            }
            for (int e = 0; e < hd; e++) {
                double a = 0;
                for (int64_t t = 0; t < nk; t++)
                    a += s[t] * kv_get(c, c->v, t, g, e);
                out[i * row + h * hd + e] = a;
            }
        }
    free(s);
}

static void test_attention_case(int kv_type, int n_head, int n_kv_head, int hd, int64_t m,
                                int64_t pos0, struct gl_scratch *scr)
{
    const int64_t row = (int64_t)n_head * hd, n_pos = pos0 + m;
    const char *tn = kv_type == GL_TYPE_F16 ? "f16" : "f32";
    struct kv c;
    kv_fill(&c, kv_type, n_pos, n_kv_head, hd);
    float *q = xmalloc(sizeof(float) * m * row);
    fill(q, m * row, -2, 2);
    double *ref = xmalloc(sizeof(double) * m * row);
    att_ref(ref, q, m, pos0, &c, n_head);

    float *out[4] = { 0 };
    bool same = true;
    for (int t = 1; t <= 3; t++) {
        out[t] = xmalloc(sizeof(float) * m * row);
        int rc = ops_attention(pools[t], scr, out[t], q, m, pos0, c.k, c.v, kv_type, c.row_bytes,
                               (size_t)hd * (kv_type == GL_TYPE_F16 ? 2 : 4), n_head, n_kv_head, hd);
        if (rc != 0)
            same = false;
        if (t > 1 && memcmp(out[t], out[1], sizeof(float) * m * row) != 0)
            same = false;
    }
    double e = max_abs_diff(out[1], ref, m * row);
    double tol = kv_type == GL_TYPE_F16 ? 2e-3 : 2e-5;
    ok(e < tol, "attention %s cache, %d heads / %d kv heads, hd %d, m %lld at pos %lld (err %.2e)",
       tn, n_head, n_kv_head, hd, (long long)m, (long long)pos0, e);
    ok(same, "  ... identical on 1, 2 and 3 threads");

    /* A batch equals one call per query row, each at its own position. */
    bool rows_same = true;
    double rows_diff = 0;
    float *one = xmalloc(sizeof(float) * row);
    for (int64_t i = 0; i < m; i++) {
        ops_attention(pools[2], scr, one, q + i * row, 1, pos0 + i, c.k, c.v, kv_type,
                      c.row_bytes, (size_t)hd * (kv_type == GL_TYPE_F16 ? 2 : 4), n_head, n_kv_head, hd);
        if (memcmp(one, out[1] + i * row, sizeof(float) * row) != 0)
            rows_same = false;
        for (int64_t e2 = 0; e2 < row; e2++)
            rows_diff = fmax(rows_diff, fabs(one[e2] - out[1][i * row + e2]));
    }
    /* With an f16 cache the reference's batches (tinyBLAS) and single
     * queries (ggml_vec_dot_f16) sum in different orders, and so do we. */
    if (kv_type == GL_TYPE_F16 && m > 1)
        ok(rows_diff < 2e-3, "  ... batch within 2e-3 of %lld single-query calls (%.2e)",
           (long long)m, rows_diff);
    else
        ok(rows_same, "  ... batch equals %lld single-query calls bit for bit", (long long)m);

    /* The same cache stored head-major (each head's positions contiguous,
     * as llama.c keeps it) gives the same bits. */
    {
        const size_t es = kv_type == GL_TYPE_F16 ? 2 : 4, hrow = (size_t)hd * es;
        char *kh = xmalloc(hrow * (size_t)n_pos * (size_t)n_kv_head);
        char *vh = xmalloc(hrow * (size_t)n_pos * (size_t)n_kv_head);
        for (int g = 0; g < n_kv_head; g++)
            for (int64_t t = 0; t < n_pos; t++) {
                size_t dst = ((size_t)g * (size_t)n_pos + (size_t)t) * hrow;
                size_t src = (size_t)t * c.row_bytes + (size_t)g * hrow;
                memcpy(kh + dst, (const char *)c.k + src, hrow);
                memcpy(vh + dst, (const char *)c.v + src, hrow);
            }
        float *hm = xmalloc(sizeof(float) * m * row);
        ops_attention(pools[2], scr, hm, q, m, pos0, kh, vh, kv_type, hrow, hrow * (size_t)n_pos, n_head,
                      n_kv_head, hd);
        ok(memcmp(hm, out[1], sizeof(float) * m * row) == 0, "  ... the same bits from a head-major cache");
        free(hm), free(kh), free(vh);
    }

    /* Causality: scribbling over the cache after position p leaves the
     * output of the query at p unchanged. */
    int64_t p = pos0 + m / 2;
    for (int64_t t = p + 1; t < n_pos; t++) {
        memset((char *)c.k + t * c.row_bytes, 0x3c, c.row_bytes);  /* f16 1.0 / f32 ~0.01 */
        memset((char *)c.v + t * c.row_bytes, 0x45, c.row_bytes);
    }
    float *after = xmalloc(sizeof(float) * m * row);
    ops_attention(pools[3], scr, after, q, m, pos0, c.k, c.v, kv_type, c.row_bytes,
                  (size_t)hd * (kv_type == GL_TYPE_F16 ? 2 : 4), n_head, n_kv_head, hd);
    int64_t i_p = p - pos0;
    bool causal = memcmp(after, out[1], sizeof(float) * (i_p + 1) * row) == 0;
    bool later_changed = i_p + 1 >= m ||
        memcmp(after + (i_p + 1) * row, out[1] + (i_p + 1) * row,
               sizeof(float) * (m - i_p - 1) * row) != 0;
    ok(causal && later_changed, "  ... rows up to position %lld ignore later cache rows",
       (long long)p);

    for (int t = 1; t <= 3; t++)
        free(out[t]);
    free(one), free(after), free(q), free(ref), free(c.k), free(c.v);
}

/* The vector attention paths (AVX-512: keys widened in registers, P V
 * with register accumulators, tinyBLAS order) against the portable code,
 * bit for bit, on the shapes decoding and prefill meet: head size 128,
 * contexts around the 32/64-key boundaries of the reference's sums. */
static void test_attention_simd_same(struct gl_scratch *scr)
{
    static const int64_t cases[][2] = { { 1, 0 }, { 1, 63 }, { 1, 64 }, { 1, 100 }, { 1, 300 },
                                        { 1, 600 }, { 1, 621 }, { 5, 60 }, { 17, 130 } };
    const int n_head = 4, n_kv_head = 2, hd = 128;
    const int64_t row = (int64_t)n_head * hd;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t m = cases[ci][0], pos0 = cases[ci][1];
        struct kv c;
        kv_fill(&c, GL_TYPE_F16, pos0 + m, n_kv_head, hd);
        float *q = xmalloc(sizeof(float) * m * row);
        fill(q, m * row, -2, 2);
        float *a = xmalloc(sizeof(float) * m * row), *b = xmalloc(sizeof(float) * m * row);
        const char *old = getenv("GLIMPSE_KERNELS");
        char *keep = old ? strdup(old) : NULL;
        ops_reset_simd();
        int ra = ops_attention(pools[2], scr, a, q, m, pos0, c.k, c.v, GL_TYPE_F16, c.row_bytes, hd * 2,
                               n_head, n_kv_head, hd);
        setenv("GLIMPSE_KERNELS", "scalar", 1);
        ops_reset_simd();
        int rb = ops_attention(pools[2], scr, b, q, m, pos0, c.k, c.v, GL_TYPE_F16, c.row_bytes, hd * 2,
                               n_head, n_kv_head, hd);
        if (keep)
            setenv("GLIMPSE_KERNELS", keep, 1);
        else
            unsetenv("GLIMPSE_KERNELS");
        ops_reset_simd();
        free(keep);
        ok(ra == 0 && rb == 0 && memcmp(a, b, sizeof(float) * m * row) == 0,
           "attention f16, hd 128, m %lld at pos %lld: vector and portable code give the same bits",
           (long long)m, (long long)pos0);
        free(a), free(b), free(q), free(c.k), free(c.v);
    }
}

static void test_attention(void)
{
    struct gl_scratch scr = { 0 };
    for (int f16 = 0; f16 < 2; f16++) {
        int type = f16 ? GL_TYPE_F16 : GL_TYPE_F32;
        if (!gl_type_traits(type)) {
            tap_skip(28, "traits of %s not available yet", f16 ? "f16" : "f32");
            continue;
        }
        test_attention_case(type, 8, 4, 16, 5, 3, &scr);
        test_attention_case(type, 8, 2, 32, 37, 0, &scr);   /* several query blocks */
        test_attention_case(type, 8, 8, 64, 1, 0, &scr);    /* first token */
        test_attention_case(type, 8, 2, 64, 3, 40, &scr);   /* decode after a prefill */
        test_attention_case(type, 8, 1, 8, 20, 11, &scr);   /* one kv head */
        test_attention_case(type, 4, 4, 128, 18, 2, &scr);
        test_attention_case(type, 8, 4, 16, 1, 70, &scr);
    }
    test_attention_simd_same(&scr);
    /* NULL scratch is allowed too. */
    struct kv c;
    kv_fill(&c, GL_TYPE_F32, 4, 2, 16);
    float q[4 * 64], o1[4 * 64], o2[4 * 64];
    fill(q, 4 * 64, -1, 1);
    int r1 = ops_attention(NULL, NULL, o1, q, 4, 0, c.k, c.v, GL_TYPE_F32, c.row_bytes, 16 * 4, 4, 2, 16);
    int r2 = ops_attention(pools[2], &scr, o2, q, 4, 0, c.k, c.v, GL_TYPE_F32, c.row_bytes, 16 * 4, 4, 2,
                           16);
    ok(r1 == 0 && r2 == 0 && memcmp(o1, o2, sizeof o1) == 0,
       "attention with NULL pool and NULL scratch");
    free(c.k), free(c.v);
    gl_scratch_free(&scr);
}

/* ---------------------------------------------------------------- matmul */

/* Bounds on |x[k] - x[k] as converted for the dot product| for one row of
 * n activations, into err[n]. */
static void act_err(double *err, int vdt, const float *x, int64_t n)
{
    const int64_t bs = vdt == GL_TYPE_Q8_K ? 256 : 32;
    for (int64_t b0 = 0; b0 < n; b0 += bs) {
        double amax = 0;
        for (int64_t k = b0; k < b0 + bs && k < n; k++)
            amax = fmax(amax, fabs(x[k]));
        for (int64_t k = b0; k < b0 + bs && k < n; k++) {
            double a = fabs(x[k]);
            switch (vdt) {
            case GL_TYPE_F32:
                err[k] = 0;
                break;
            case GL_TYPE_F16:
                err[k] = a * (1.0 / 2048) + 6e-8;
                break;
            case GL_TYPE_BF16:
                err[k] = a * (1.0 / 256);
                break;
            default:
                /* q8 formats: step d = amax/127 (d stored as f16 or f32); one
                 * whole step covers rounding plus the stored scale's error. */
                err[k] = amax / 127.0;
                break;
            }
        }
    }
}

struct mm_case {
    int type;
    const struct gl_type_traits *t;
    int64_t n_in, n_out;
    void *w;            /* [n_out] rows of row_bytes */
    size_t row_bytes;
    float *wf;          /* [n_out][n_in] dequantized */
};

static bool mm_case_make(struct mm_case *c, int type, int64_t n_in, int64_t n_out)
{
    c->type = type;
    c->t = gl_type_traits(type);
    if (!c->t || !c->t->vec_dot || !c->t->from_float || !c->t->to_float)
        return false;
    c->n_in = n_in, c->n_out = n_out;
    c->row_bytes = gl_row_size(type, n_in);
    c->w = xmalloc(c->row_bytes * n_out);
    c->wf = xmalloc(sizeof(float) * n_in * n_out);
    float *tmp = xmalloc(sizeof(float) * n_in);
    for (int64_t r = 0; r < n_out; r++) {
        fill(tmp, n_in, -1, 1);
        c->t->from_float(tmp, (char *)c->w + r * c->row_bytes, n_in);
        c->t->to_float((char *)c->w + r * c->row_bytes, c->wf + r * n_in, n_in);
    }
    free(tmp);
    return true;
}

static void mm_case_free(struct mm_case *c)
{
    free(c->w), free(c->wf);
}

/* Checks ops_matmul for one weight matrix and batch size m:
 *  - exact: batch rows equal single-row products bit for bit (tiled path),
 *    or agree to f32 rounding (sgemm paths);
 *  - near: within the activation-conversion bound of a double product with
 *    the dequantized weights;
 *  - the same bits on 1, 2 and 3 threads for the tiled path. */
static void check_matmul(struct mm_case *c, int64_t m, bool expect_exact, struct gl_scratch *scr)
{
    const int64_t n_in = c->n_in, n_out = c->n_out;
    struct gl_weight w = { c->w, c->type, n_in, n_out, c->row_bytes };
    float *x = xmalloc(sizeof(float) * m * n_in);
    fill(x, m * n_in, -2, 2);
    x[0] = 7.5f;                        /* one outlier to stress the block scales */

    float *y[4] = { 0 };
    int rc_bad = 0;
    for (int t = 1; t <= 3; t++) {
        y[t] = xmalloc(sizeof(float) * m * n_out);
        rc_bad += ops_matmul(pools[t], scr, y[t], x, m, &w) != 0;
    }
    /* Independent single-row products: the activations converted with the
     * vec_dot_type's own quantizer, then the format's dot product. */
    const struct gl_type_traits *vt = gl_type_traits(c->t->vec_dot_type);
    char *xq = xmalloc(gl_row_size(c->t->vec_dot_type, n_in));
    double *err = xmalloc(sizeof(double) * n_in);
    float *y1 = xmalloc(sizeof(float) * n_out);
    bool exact = rc_bad == 0, exact_direct = true, close_rows = true, threads_same = true;
    double worst_ratio = 0;
    for (int64_t i = 0; i < m; i++) {
        const float *xi = x + i * n_in;
        rc_bad += ops_matmul(pools[2], scr, y1, xi, 1, &w) != 0;
        vt->from_float(xi, xq, n_in);
        act_err(err, c->t->vec_dot_type, xi, n_in);
        for (int64_t r = 0; r < n_out; r++) {
            double mag = 0, bound = 0, ref = 0;
            for (int64_t k = 0; k < n_in; k++) {
                double wk = c->wf[r * n_in + k];
                ref += wk * xi[k];
                mag += fabs(wk * xi[k]);
                bound += fabs(wk) * err[k];
            }
            bound += 2e-6 * mag + 1e-6;
            double got = y[1][i * n_out + r];
            double ratio = fabs(got - ref) / bound;
            if (!(ratio <= worst_ratio))
                worst_ratio = ratio;
            float direct;
            c->t->vec_dot((int)n_in, &direct, (const char *)c->w + r * c->row_bytes, xq);
            if (y1[r] != y[1][i * n_out + r])
                exact = false;
            if (direct != y[1][i * n_out + r])
                exact_direct = false;
            if (!(fabs(direct - got) <= 2e-6 * mag + 1e-7))
                close_rows = false;
        }
    }
    if (expect_exact)
        for (int t = 2; t <= 3; t++)
            if (memcmp(y[t], y[1], sizeof(float) * m * n_out) != 0)
                threads_same = false;
    const char *name = c->t->name;
    if (expect_exact) {
        ok(exact, "matmul %s %lldx%lld, m=%lld: equals %lld single-row products exactly", name,
           (long long)n_out, (long long)n_in, (long long)m, (long long)m);
        ok(exact_direct, "matmul %s m=%lld: equals vec_dot on activations converted to %s", name,
           (long long)m, gl_type_name(c->t->vec_dot_type));
        ok(threads_same, "matmul %s m=%lld: same bits on 1, 2, 3 threads", name, (long long)m);
    } else {
        ok(close_rows && rc_bad == 0,
           "matmul %s %lldx%lld, m=%lld (sgemm): agrees with single-row products", name,
           (long long)n_out, (long long)n_in, (long long)m);
    }
    ok(worst_ratio <= 1.0, "matmul %s m=%lld: within the %s conversion bound of a double product "
       "(worst %.2f of bound)", name, (long long)m, gl_type_name(c->t->vec_dot_type), worst_ratio);
    for (int t = 1; t <= 3; t++)
        free(y[t]);
    free(y1), free(x), free(xq), free(err);
}

/* ops_matmul_n: products of one input (as q/k/v and gate/up) give the bits
 * of separate ops_matmul calls, for decode-sized and prefill-sized batches,
 * on 1 and 3 threads; mixed q4_K/q6_K/q8_0 sets too. */
static void test_matmul_n(void)
{
    struct gl_scratch scr = { 0 };
    struct mm_case c[3];
    const int64_t n_in = 512;
    if (!mm_case_make(&c[0], GL_TYPE_Q4_K, n_in, 40) || !mm_case_make(&c[1], GL_TYPE_Q6_K, n_in, 23) ||
        !mm_case_make(&c[2], GL_TYPE_Q8_0, n_in, 17)) {
        tap_skip(1, "no quantized weights");
        return;
    }
    bool same = true, rc = true;
    static const int64_t ms[] = { 1, 3, 4, 37 };
    for (size_t im = 0; im < sizeof ms / sizeof ms[0]; im++) {
        const int64_t m = ms[im];
        float *x = xmalloc(sizeof(float) * m * n_in);
        fill(x, m * n_in, -2, 2);
        for (int set = 0; set < 2; set++) {
            /* set 0: the K-quants (one activation format); set 1: with q8_0 */
            const int nw = set ? 3 : 2;
            struct gl_weight w[3];
            const struct gl_weight *wp[3];
            float *y[3], *ref[3];
            for (int k = 0; k < nw; k++) {
                w[k] = (struct gl_weight){ c[k].w, c[k].type, n_in, c[k].n_out, c[k].row_bytes };
                wp[k] = &w[k];
                y[k] = xmalloc(sizeof(float) * m * c[k].n_out);
                ref[k] = xmalloc(sizeof(float) * m * c[k].n_out);
                rc &= ops_matmul(pools[2], &scr, ref[k], x, m, &w[k]) == 0;
            }
            for (int th = 1; th <= 3; th += 2) {
                rc &= ops_matmul_n(pools[th], &scr, nw, y, x, m, wp) == 0;
                for (int k = 0; k < nw; k++)
                    same &= memcmp(y[k], ref[k], sizeof(float) * m * c[k].n_out) == 0;
            }
            for (int k = 0; k < nw; k++)
                free(y[k]), free(ref[k]);
        }
        free(x);
    }
    ok(same && rc, "matmul_n: q4_K+q6_K(+q8_0) products of one input equal separate matmuls bit for bit");
    for (int k = 0; k < 3; k++)
        mm_case_free(&c[k]);
    gl_scratch_free(&scr);
}

static void test_matmul(void)
{
    struct gl_scratch scr = { 0 };
    struct mm_case c;

    /* F32: tiled below 32 rows, sgemm from 32 on. Odd sizes on purpose. */
    if (mm_case_make(&c, GL_TYPE_F32, 96, 37)) {
        check_matmul(&c, 1, true, &scr);
        check_matmul(&c, 5, true, &scr);
        check_matmul(&c, 31, true, &scr);
        check_matmul(&c, 32, false, &scr);
        check_matmul(&c, 70, false, &scr);
        mm_case_free(&c);
    } else {
        tap_skip(16, "f32 traits not available yet");
    }
    if (mm_case_make(&c, GL_TYPE_F32, 300, 130)) {
        check_matmul(&c, 9, true, &scr);
        check_matmul(&c, 45, false, &scr);
        mm_case_free(&c);
    } else {
        tap_skip(6, "f32 traits not available yet");
    }

    /* m = 0 does nothing and succeeds. */
    float canary = 42.0f, xx[96] = { 0 };
    if (mm_case_make(&c, GL_TYPE_F32, 96, 4)) {
        struct gl_weight w = { c.w, c.type, c.n_in, c.n_out, c.row_bytes };
        ok(ops_matmul(pools[2], &scr, &canary, xx, 0, &w) == 0 && canary == 42.0f,
           "matmul with m = 0 is a no-op");
        float ya[4], yb[4];
        fill(xx, 96, -1, 1);
        ok(ops_matmul(NULL, NULL, ya, xx, 1, &w) == 0 &&
           ops_matmul(pools[3], &scr, yb, xx, 1, &w) == 0 && memcmp(ya, yb, sizeof ya) == 0,
           "matmul with NULL pool and NULL scratch");
        mm_case_free(&c);
    }

    if (!gl_type_traits(GL_TYPE_Q4_0))
        tap_diag("quantized traits not available yet: only the types quant.c has are tested");
    static const int types[] = {
        GL_TYPE_F16, GL_TYPE_BF16, GL_TYPE_Q4_0, GL_TYPE_Q4_1, GL_TYPE_Q5_0, GL_TYPE_Q5_1,
        GL_TYPE_Q8_0, GL_TYPE_Q2_K, GL_TYPE_Q3_K, GL_TYPE_Q4_K, GL_TYPE_Q5_K, GL_TYPE_Q6_K,
    };
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        if (!mm_case_make(&c, types[k], 512, 40)) {
            const char *tn = gl_type_name(types[k]);
            tap_skip(1, "%s not supported by quant.c", tn ? tn : "type");
            continue;
        }
        /* F16 follows the reference's own sum order, which differs
         * between one row and a batch (checked bit for bit in
         * test_matmul_f16); here only the bounds. */
        const bool f16 = types[k] == GL_TYPE_F16;
        check_matmul(&c, 1, !f16, &scr);
        check_matmul(&c, 7, !f16, &scr);
        /* BF16 goes to sgemm on widened values from 32 rows on; the
         * quantized formats stay on the tiled kernel (2 row blocks here). */
        check_matmul(&c, 40, c.t->is_quantized, &scr);
        mm_case_free(&c);
    }
    gl_scratch_free(&scr);
}

/* ---------------------------------------------- the reference's sum order */

/* Written independently of ops.c from the reference's description: ggml's
 * AVX-512 build folds a 16-lane register as halves, quarters, then pairs. */
static float fold16(const float *v)
{
    float h[8], q[4];
    for (int i = 0; i < 8; i++)
        h[i] = v[i] + v[8 + i];
    for (int i = 0; i < 4; i++)
        q[i] = h[i] + h[4 + i];
    float a = q[0] + q[2], b = q[1] + q[3];
    return a + b;
}

/* ggml_vec_dot_f16: lanes e%64 -> register (e%64)/16, lane e%16, over the
 * first n&~63 values; registers 0+2, 1+3, then 0+1, folded; tail in double. */
static float ref_vec_dot_f16(const float *w, const float *x, int64_t n)
{
    float reg[4][16] = { { 0 } };
    int64_t np = n / 64 * 64;
    for (int64_t e = 0; e < np; e++)
        reg[(e % 64) / 16][e % 16] += w[e] * x[e];
    float r02[16], r13[16], all[16];
    for (int t = 0; t < 16; t++) {
        r02[t] = reg[0][t] + reg[2][t];
        r13[t] = reg[1][t] + reg[3][t];
        all[t] = r02[t] + r13[t];
    }
    double s = np > 0 ? fold16(all) : 0.0;
    for (int64_t e = np; e < n; e++)
        s += (double)(w[e] * x[e]);
    return (float)s;
}

/* tinyBLAS (batches): one 16-lane register, lane e%16, folded. */
static float ref_tinyblas_f16(const float *w, const float *x, int64_t n)
{
    float reg[16] = { 0 };
    for (int64_t e = 0; e < n; e++)
        reg[e % 16] += w[e] * x[e];
    return fold16(reg);
}

static void test_matmul_f16(void)
{
    const struct gl_type_traits *t = gl_type_traits(GL_TYPE_F16);
    struct gl_scratch scr = { 0 };
    /* 512 x 40: tinyBLAS for batches; 588 x 20 (the CLIP patch kernel's
     * width): not a multiple of 16, so every row goes through vec_dot. */
    static const struct { int64_t n_in, n_out; } shapes[] = { { 512, 40 }, { 588, 20 }, { 64, 6 } };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int64_t n_in = shapes[k].n_in, n_out = shapes[k].n_out, m = 37;
        size_t rb = gl_row_size(GL_TYPE_F16, n_in);
        char *w = xmalloc(rb * n_out);
        float *wf = xmalloc(sizeof(float) * n_in * n_out), *x = xmalloc(sizeof(float) * m * n_in);
        float *xr = xmalloc(sizeof(float) * n_in), *y[4] = { 0 }, *y1 = xmalloc(sizeof(float) * n_out);
        fill(wf, n_in * n_out, -1, 1);
        for (int64_t r = 0; r < n_out; r++) {
            t->from_float(wf + r * n_in, w + r * rb, n_in);
            t->to_float(w + r * rb, wf + r * n_in, n_in);
        }
        fill(x, m * n_in, -3, 3);
        struct gl_weight gw = { w, GL_TYPE_F16, n_in, n_out, rb };
        bool batch_ok = true, single_ok = true, threads_same = true, rc = true;
        for (int th = 1; th <= 3; th++) {
            y[th] = xmalloc(sizeof(float) * m * n_out);
            rc &= ops_matmul(pools[th], &scr, y[th], x, m, &gw) == 0;
            if (th > 1 && memcmp(y[th], y[1], sizeof(float) * m * n_out) != 0)
                threads_same = false;
        }
        const bool tiny = n_in % 16 == 0 && n_out % 4 == 0;
        for (int64_t i = 0; i < m; i++) {
            for (int64_t e = 0; e < n_in; e++)
                xr[e] = gl_round_fp16(x[i * n_in + e]);
            rc &= ops_matmul(pools[2], &scr, y1, x + i * n_in, 1, &gw) == 0;
            for (int64_t r = 0; r < n_out; r++) {
                float want_b = tiny ? ref_tinyblas_f16(wf + r * n_in, xr, n_in)
                                    : ref_vec_dot_f16(wf + r * n_in, xr, n_in);
                if (y[1][i * n_out + r] != want_b)
                    batch_ok = false;
                if (y1[r] != ref_vec_dot_f16(wf + r * n_in, xr, n_in))
                    single_ok = false;
            }
        }
        ok(rc && batch_ok, "f16 matmul %lldx%lld, m=%lld: bit for bit the reference's %s order",
           (long long)n_out, (long long)n_in, (long long)m, tiny ? "tinyBLAS" : "vec_dot_f16");
        ok(rc && single_ok, "f16 matmul %lldx%lld, m=1: bit for bit ggml_vec_dot_f16's order",
           (long long)n_out, (long long)n_in);
        ok(threads_same, "f16 matmul %lldx%lld: same bits on 1, 2, 3 threads", (long long)n_out,
           (long long)n_in);
        for (int th = 1; th <= 3; th++)
            free(y[th]);
        free(w), free(wf), free(x), free(xr), free(y1);
    }
    gl_scratch_free(&scr);
}

static void test_ggml_f32(void)
{
    /* Below 64 values ggml_vec_dot_f32 is the plain f32 loop; from 64 on the
     * lanes; both within f32 rounding of a double product. */
    float x[200], y[200];
    fill(x, 200, -1, 1);
    fill(y, 200, -1, 1);
    bool small_ok = true, lanes_ok = true, close = true;
    for (int n = 1; n <= 200; n += 7) {
        float got = ops_dot_f32_ggml(x, y, n), seq = 0;
        double ref = 0, mag = 0;
        /* the loop after the vector part, as GCC compiles it: groups of 4
         * with rounded products added in order, the last n % 4 fused */
        int fused_from = n - n % 4;
        for (int i = 0; i < n; i++) {
            float p = x[i] * y[i];
            seq = i >= fused_from ? fmaf(x[i], y[i], seq) : seq + p;
            ref += (double)x[i] * y[i];
            mag += fabs((double)x[i] * y[i]);
        }
        if (n < 64 && got != seq)
            small_ok = false;
        if (n >= 64) {
            float reg[4][16] = { { 0 } }, all[16];
            int np = n / 64 * 64;
            for (int e = 0; e < np; e++)
                reg[(e % 64) / 16][e % 16] = fmaf(x[e], y[e], reg[(e % 64) / 16][e % 16]);
            for (int k = 0; k < 16; k++)
                all[k] = (reg[0][k] + reg[2][k]) + (reg[1][k] + reg[3][k]);
            float s = fold16(all);
            int tail_fused = n - (n - np) % 4;
            for (int e = np; e < n; e++) {
                float p = x[e] * y[e];
                s = e >= tail_fused ? fmaf(x[e], y[e], s) : s + p;
            }
            if (got != s)
                lanes_ok = false;
        }
        if (!(fabs(got - ref) <= 1e-6 * mag + 1e-7))
            close = false;
    }
    ok(small_ok, "dot_f32_ggml below 64 values: the compiled f32 loop (last n %% 4 fused)");
    ok(lanes_ok, "dot_f32_ggml from 64 values: 4 x 16 fused lanes, folded, then the compiled tail");
    ok(close, "dot_f32_ggml within f32 rounding of a double product");

    /* ggml's softmax: its vector exp is within 2 ulp; rows sum to 1; -inf
     * entries give exact zeros; a tail shorter than 16 works. */
    const int64_t n = 301;
    float v[301], v0[301];
    fill(v0, n, -8, 8);
    v0[7] = -INFINITY;
    memcpy(v, v0, sizeof v);
    ops_softmax_ggml(v, 1, n, 0.37f);
    double mx = -INFINITY, s = 0, worst = 0, sum = 0;
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, (double)(v0[i] * 0.37f));
    for (int64_t i = 0; i < n; i++)
        s += exp((double)(v0[i] * 0.37f) - mx);
    for (int64_t i = 0; i < n; i++) {
        double r = exp((double)(v0[i] * 0.37f) - mx) / s;
        worst = fmax(worst, fabs(v[i] - r) / r);
        sum += v[i];
    }
    ok(v[7] == 0.0f && worst < 1e-6 && fabs(sum - 1) < 1e-5,
       "softmax_ggml: -inf gives 0, within %.2e relative of double, sums to 1", worst);

    /* Its vector and portable code give the same bits, for lengths around
     * the 16-lane blocks, with and without a scale, masked keys and a NaN. */
    bool same = true;
    for (int64_t len = 1; len <= 70; len += 3)
        for (int sc = 0; sc < 2; sc++)
            for (int nan = 0; nan < 2; nan++) {
                float a[70], b[70];
                fill(a, len, -30, 30);
                if (len > 5)
                    a[len - 2] = -INFINITY;
                if (nan)
                    a[len / 2] = NAN;
                memcpy(b, a, sizeof a);
                const float scale = sc ? 0.088f : 1.0f;
                ops_reset_simd();
                ops_softmax_ggml(a, 1, len, scale);
                const char *old = getenv("GLIMPSE_KERNELS");
                char *keep = old ? strdup(old) : NULL;
                setenv("GLIMPSE_KERNELS", "scalar", 1);
                ops_reset_simd();
                ops_softmax_ggml(b, 1, len, scale);
                if (keep)
                    setenv("GLIMPSE_KERNELS", keep, 1);
                else
                    unsetenv("GLIMPSE_KERNELS");
                free(keep);
                ops_reset_simd();
                if (memcmp(a, b, sizeof(float) * (size_t)len) != 0)
                    same = false;
            }
    ok(same, "softmax_ggml: vector and portable code give the same bits");
}

int main(void)
{
    pools[1] = gl_pool_new(1, NULL);
    pools[2] = gl_pool_new(2, NULL);
    pools[3] = gl_pool_new(3, NULL);
    if (!pools[1] || !pools[2] || !pools[3]) {
        tap_diag("cannot create thread pools");
        return 1;
    }
    tap_diag("quant kernels: %s", gl_quant_kernels());

    test_scratch();
    test_norms();
    test_rope();
    test_softmax();
    test_activations();
    test_elementwise();
    test_attention();
    test_matmul();
    test_matmul_n();
    test_matmul_f16();
    test_ggml_f32();

    for (int t = 1; t <= 3; t++)
        gl_pool_free(pools[t]);
    return tap_done();
}
