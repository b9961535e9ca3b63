/*
 * calib.c - short calibration loops that measure the machine's floors for
 * glimpse-bench: streaming read bandwidth, f32 FMA peak, int8 dot-product
 * peak, and OpenBLAS sgemm on 2048^3.
 *
 * The SIMD loops are compiled with target attributes and chosen at run time
 * by cpuid (__builtin_cpu_supports), so the binary runs on any x86-64 and
 * reports what this CPU can do. Each loop keeps enough independent
 * accumulators to hide the instruction latency on current cores (Zen 4 and
 * Intel's server parts), so it runs at the issue rate of the units it uses.
 */
#include "config.h"

#include "calib.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CALIB_X86 1
#include <immintrin.h>
#endif

#include "util.h"

/* Seconds one timed sample of a compute loop should take. */
#define SAMPLE_S 0.08
/* Timed samples per figure (the best one counts). */
#define SAMPLES 5

/* ------------------------------------------------------------ cpu features */

static int has(const char *feature)
{
#ifdef CALIB_X86
    __builtin_cpu_init();
    if (strcmp(feature, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(feature, "avx512") == 0)
        return __builtin_cpu_supports("avx512f");
    if (strcmp(feature, "avx512-vnni") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
#else
    (void)feature;
#endif
    return 0;
}

/* ------------------------------------------------------------ read bandwidth */

/* Sum of n bytes (n a multiple of 256) as 64-bit words: loads, one add each. */
typedef uint64_t (*read_fn)(const void *p, size_t n);

static uint64_t read_scalar(const void *p, size_t n)
{
    const uint64_t *q = p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        a0 += q[i];
        a1 += q[i + 1];
        a2 += q[i + 2];
        a3 += q[i + 3];
    }
    return a0 + a1 + a2 + a3;
}

#ifdef CALIB_X86
__attribute__((target("avx2"))) static uint64_t read_avx2(const void *p, size_t n)
{
    const __m256i *q = p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n / 32; i += 4) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(q + i));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(q + i + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(q + i + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(q + i + 3));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] + out[1] + out[2] + out[3];
}

__attribute__((target("avx512f"))) static uint64_t read_avx512(const void *p, size_t n)
{
    const __m512i *q = p;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n / 64; i += 4) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(q + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(q + i + 1));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(q + i + 2));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(q + i + 3));
    }
    /* summed here, unsigned: the header's reduction wraps in signed arithmetic */
    uint64_t out[8], sum = 0;
    _mm512_storeu_si512(out, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
    for (int k = 0; k < 8; k++)
        sum += out[k];
    return sum;
}
#endif

struct read_job {
    uint8_t *buf;
    size_t n;                   /* bytes, a multiple of 256 * threads */
    read_fn fn;
    bool touch;                 /* first pass: write the pages (untimed) */
    uint64_t sink[256];         /* per-thread results, so no load is dead */
};

static void read_part(void *arg, int ith, int nth)
{
    struct read_job *j = arg;
    size_t part = j->n / (size_t)nth;
    uint8_t *p = j->buf + part * (size_t)ith;
    if (j->touch)
        memset(p, ith + 1, part);
    else
        j->sink[ith & 255] += j->fn(p, part);
}

static int measure_read(struct calib *c, gl_pool *pool, char **err)
{
    const int nth = gl_pool_size(pool);
    const size_t align = (size_t)2 << 20;
    /* 1 GiB is far beyond any cache this program will meet; halve it when
     * memory is short. */
    size_t n = (size_t)1 << 30;
    uint8_t *buf = NULL;
    while (n >= ((size_t)64 << 20) && !(buf = aligned_alloc(align, n)))
        n /= 2;
    if (!buf)
        return gl_err(err, "out of memory for the bandwidth buffer");
#ifdef MADV_HUGEPAGE
    madvise(buf, n, MADV_HUGEPAGE); /* fewer TLB misses: the figure is DRAM's, not the TLB's */
#endif
    n -= n % ((size_t)256 * (size_t)nth);
    struct read_job j = {.buf = buf, .n = n, .fn = read_scalar, .touch = true};
#ifdef CALIB_X86
    if (has("avx512"))
        j.fn = read_avx512;
    else if (has("avx2"))
        j.fn = read_avx2;
#endif
    gl_pool_run(pool, read_part, &j);
    j.touch = false;
    double best = 0;
    for (int pass = 0; pass < CALIB_READ_PASSES; pass++) {
        double t0 = gl_now();
        gl_pool_run(pool, read_part, &j);
        double dt = gl_now() - t0;
        if (dt > 0 && (double)n / dt > best)
            best = (double)n / dt;
    }
    free(buf);
    c->read_bw_gbs = best / 1e9;
    c->read_bytes = n;
    return 0;
}

/* ------------------------------------------------------------ compute peaks */

/* A compute loop: `iters` steps; returns something derived from every
 * accumulator so nothing is dead; *ops receives the operations per step. */
typedef double (*peak_fn)(long iters, double *ops);

static double fma_scalar(long iters, double *ops)
{
    float a[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const float x = 0.9999999f, y = 1e-7f;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            a[k] = a[k] * x + y;
    *ops = 8 * 2;
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

static double dot_scalar(long iters, double *ops)
{
    int32_t a[8] = {0};
    volatile uint8_t vx = 3;
    volatile int8_t vy = -2;
    const uint8_t x = vx;
    const int8_t y = vy;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            a[k] += (int32_t)x * y + k;
    *ops = 8 * 2;
    return (double)(a[0] + a[7]);
}

#ifdef CALIB_X86
/* 12 chains of 8-lane FMAs: 16 ymm registers hold them and the operands. */
__attribute__((target("avx2,fma"))) static double fma_avx2(long iters, double *ops)
{
    const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(1e-7f);
    __m256 a[12];
    for (int k = 0; k < 12; k++)
        a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
        a[0] = _mm256_fmadd_ps(a[0], x, y);
        a[1] = _mm256_fmadd_ps(a[1], x, y);
        a[2] = _mm256_fmadd_ps(a[2], x, y);
        a[3] = _mm256_fmadd_ps(a[3], x, y);
        a[4] = _mm256_fmadd_ps(a[4], x, y);
        a[5] = _mm256_fmadd_ps(a[5], x, y);
        a[6] = _mm256_fmadd_ps(a[6], x, y);
        a[7] = _mm256_fmadd_ps(a[7], x, y);
        a[8] = _mm256_fmadd_ps(a[8], x, y);
        a[9] = _mm256_fmadd_ps(a[9], x, y);
        a[10] = _mm256_fmadd_ps(a[10], x, y);
        a[11] = _mm256_fmadd_ps(a[11], x, y);
    }
    __m256 s = a[0];
    for (int k = 1; k < 12; k++)
        s = _mm256_add_ps(s, a[k]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *ops = 12.0 * 8 * 2;
    return out[0] + out[7];
}

/* 16 chains of 16-lane FMAs. */
__attribute__((target("avx512f"))) static double fma_avx512(long iters, double *ops)
{
    const __m512 x = _mm512_set1_ps(0.9999999f), y = _mm512_set1_ps(1e-7f);
    __m512 a[16];
    for (int k = 0; k < 16; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
        a[0] = _mm512_fmadd_ps(a[0], x, y);
        a[1] = _mm512_fmadd_ps(a[1], x, y);
        a[2] = _mm512_fmadd_ps(a[2], x, y);
        a[3] = _mm512_fmadd_ps(a[3], x, y);
        a[4] = _mm512_fmadd_ps(a[4], x, y);
        a[5] = _mm512_fmadd_ps(a[5], x, y);
        a[6] = _mm512_fmadd_ps(a[6], x, y);
        a[7] = _mm512_fmadd_ps(a[7], x, y);
        a[8] = _mm512_fmadd_ps(a[8], x, y);
        a[9] = _mm512_fmadd_ps(a[9], x, y);
        a[10] = _mm512_fmadd_ps(a[10], x, y);
        a[11] = _mm512_fmadd_ps(a[11], x, y);
        a[12] = _mm512_fmadd_ps(a[12], x, y);
        a[13] = _mm512_fmadd_ps(a[13], x, y);
        a[14] = _mm512_fmadd_ps(a[14], x, y);
        a[15] = _mm512_fmadd_ps(a[15], x, y);
    }
    __m512 s = a[0];
    for (int k = 1; k < 16; k++)
        s = _mm512_add_ps(s, a[k]);
    *ops = 16.0 * 16 * 2;
    return _mm512_reduce_add_ps(s);
}

/* vpmaddubsw (u8 x s8 pairs -> i16) + vpmaddwd by ones (-> i32) + add: 32
 * multiply-adds per step and chain, the AVX2 way to an int8 dot product. */
__attribute__((target("avx2"))) static double dot_avx2(long iters, double *ops)
{
    volatile int8_t vx = 3, vy = -2;
    const __m256i x = _mm256_set1_epi8(vx), y = _mm256_set1_epi8(vy);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm256_set1_epi32(k);
    for (long i = 0; i < iters; i++) {
        for (int k = 0; k < 8; k++)
            a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    }
    __m256i s = a[0];
    for (int k = 1; k < 8; k++)
        s = _mm256_add_epi32(s, a[k]);
    int32_t out[8];
    _mm256_storeu_si256((__m256i *)out, s);
    *ops = 8.0 * 32 * 2;
    return (double)out[0] + out[7];
}

/* vpdpbusd: 64 u8 x s8 products summed into 16 i32 lanes per instruction. */
__attribute__((target("avx512f,avx512vnni"))) static double dot_vnni(long iters, double *ops)
{
    volatile int8_t vx = 3, vy = -2;
    const __m512i x = _mm512_set1_epi8(vx), y = _mm512_set1_epi8(vy);
    __m512i a[16];
    for (int k = 0; k < 16; k++)
        a[k] = _mm512_set1_epi32(k);
    for (long i = 0; i < iters; i++) {
        a[0] = _mm512_dpbusd_epi32(a[0], x, y);
        a[1] = _mm512_dpbusd_epi32(a[1], x, y);
        a[2] = _mm512_dpbusd_epi32(a[2], x, y);
        a[3] = _mm512_dpbusd_epi32(a[3], x, y);
        a[4] = _mm512_dpbusd_epi32(a[4], x, y);
        a[5] = _mm512_dpbusd_epi32(a[5], x, y);
        a[6] = _mm512_dpbusd_epi32(a[6], x, y);
        a[7] = _mm512_dpbusd_epi32(a[7], x, y);
        a[8] = _mm512_dpbusd_epi32(a[8], x, y);
        a[9] = _mm512_dpbusd_epi32(a[9], x, y);
        a[10] = _mm512_dpbusd_epi32(a[10], x, y);
        a[11] = _mm512_dpbusd_epi32(a[11], x, y);
        a[12] = _mm512_dpbusd_epi32(a[12], x, y);
        a[13] = _mm512_dpbusd_epi32(a[13], x, y);
        a[14] = _mm512_dpbusd_epi32(a[14], x, y);
        a[15] = _mm512_dpbusd_epi32(a[15], x, y);
    }
    __m512i s = a[0];
    for (int k = 1; k < 16; k++)
        s = _mm512_add_epi32(s, a[k]);
    int32_t out[16];
    _mm512_storeu_si512(out, s);
    *ops = 16.0 * 64 * 2;
    return (double)out[0] + out[15];
}
#endif

struct peak_job {
    peak_fn fn;
    long iters;
    double ops;                 /* per step, per thread */
    double sink[256];
};

static void peak_part(void *arg, int ith, int nth)
{
    struct peak_job *j = arg;
    double ops;
    (void)nth;
    j->sink[ith & 255] += j->fn(j->iters, &ops);
    if (ith == 0)
        j->ops = ops;
}

/* Operations per second of fn on all threads: a short run sizes the loop,
 * then the best of SAMPLES timed runs of about SAMPLE_S each. */
static double measure_peak(gl_pool *pool, peak_fn fn)
{
    struct peak_job j = {.fn = fn, .iters = 1 << 14};
    for (;;) {
        double t0 = gl_now();
        gl_pool_run(pool, peak_part, &j);
        double dt = gl_now() - t0;
        if (dt >= SAMPLE_S / 8 || j.iters > (1L << 40))
            break;
        j.iters *= 4;
    }
    double t0 = gl_now();
    gl_pool_run(pool, peak_part, &j);
    double dt = gl_now() - t0;
    if (dt > 0)
        j.iters = (long)((double)j.iters * SAMPLE_S / dt) + 1;
    double best = 0;
    for (int s = 0; s < SAMPLES; s++) {
        t0 = gl_now();
        gl_pool_run(pool, peak_part, &j);
        dt = gl_now() - t0;
        double rate = (double)j.ops * (double)j.iters * gl_pool_size(pool) / dt;
        if (dt > 0 && rate > best)
            best = rate;
    }
    return best;
}

/* ------------------------------------------------------------ sgemm */

#define SG_N 2048

struct sgemm_job {
    const float *a, *b;         /* [SG_N][SG_N] each */
    float *c;                   /* [SG_N][SG_N] */
};

/* C[:, j0:j1] = A @ B[j0:j1]^T: a slab of output columns per thread, each
 * call single-threaded, the way ops.c runs sgemm inside the pool. */
static void sgemm_part(void *arg, int ith, int nth)
{
    struct sgemm_job *j = arg;
    int j0 = (int)((int64_t)SG_N * ith / nth), j1 = (int)((int64_t)SG_N * (ith + 1) / nth);
    if (j1 > j0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, SG_N, j1 - j0, SG_N, 1.0f, j->a, SG_N,
                    j->b + (size_t)j0 * SG_N, SG_N, 0.0f, j->c + j0, SG_N);
}

static int measure_sgemm(struct calib *c, gl_pool *pool, char **err)
{
    const size_t n = (size_t)SG_N * SG_N;
    float *a = gl_amalloc(n * sizeof *a), *b = gl_amalloc(n * sizeof *b);
    float *cc = gl_amalloc(n * sizeof *cc);
    if (!a || !b || !cc) {
        gl_afree(a);
        gl_afree(b);
        gl_afree(cc);
        return gl_err(err, "out of memory for the sgemm calibration");
    }
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        b[i] = (float)(s >> 9) / 8388608.0f - 0.5f;
    }
    openblas_set_num_threads(1);
    struct sgemm_job j = {a, b, cc};
    gl_pool_run(pool, sgemm_part, &j); /* warm-up: OpenBLAS buffers, page faults */
    double best = 0;
    for (int k = 0; k < SAMPLES; k++) {
        double t0 = gl_now();
        gl_pool_run(pool, sgemm_part, &j);
        double dt = gl_now() - t0;
        double rate = 2.0 * SG_N * SG_N * (double)SG_N / dt;
        if (dt > 0 && rate > best)
            best = rate;
    }
    c->sgemm_gflops = best / 1e9;
    gl_afree(a);
    gl_afree(b);
    gl_afree(cc);
    return 0;
}

/* ------------------------------------------------------------ all of it */

int calib_run(struct calib *c, gl_pool *pool, char **err)
{
    memset(c, 0, sizeof *c);
    if (measure_read(c, pool, err))
        return -1;

    /* The widest loop this CPU runs: an AVX-512 FMA (VNNI) issues at least
     * as many operations per cycle as AVX2 on every core that has both. */
    peak_fn f32 = fma_scalar, i8 = dot_scalar;
    c->f32_isa = c->int8_isa = "scalar";
#ifdef CALIB_X86
    if (has("avx512")) {
        f32 = fma_avx512;
        c->f32_isa = "avx512";
    } else if (has("avx2")) {
        f32 = fma_avx2;
        c->f32_isa = "avx2";
    }
    if (has("avx512-vnni")) {
        i8 = dot_vnni;
        c->int8_isa = "avx512-vnni";
    } else if (has("avx2")) {
        i8 = dot_avx2;
        c->int8_isa = "avx2";
    }
#endif
    c->f32_peak_gflops = measure_peak(pool, f32) / 1e9;
    c->int8_peak_gops = measure_peak(pool, i8) / 1e9;
    return measure_sgemm(c, pool, err);
}
