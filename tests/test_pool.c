/*
 * test_pool.c - the thread pool: every thread index runs once per job,
 * gl_pool_for visits every item exactly once for many sizes, chunkings and
 * thread counts, NULL pools run inline, pools come and go without leaks (run
 * under ASan), concurrent callers are serialised, and an idle pool sleeps.
 */
#include "config.h"

#include "glimpse/pool.h"

#include "tap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TH 16

/* ---------------------------------------------------------------- gl_pool_run */

struct run_ctx {
    atomic_int hits[MAX_TH];
    atomic_int bad_nth;
    atomic_int bad_ith;
    int want_nth;
};

static void run_fn(void *arg, int ith, int nth)
{
    struct run_ctx *c = arg;
    if (nth != c->want_nth)
        atomic_fetch_add(&c->bad_nth, 1);
    if (ith < 0 || ith >= nth || ith >= MAX_TH)
        atomic_fetch_add(&c->bad_ith, 1);
    else
        atomic_fetch_add(&c->hits[ith], 1);
}

static void run_ctx_init(struct run_ctx *c, int nth)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < MAX_TH; i++)
        atomic_init(&c->hits[i], 0);
    atomic_init(&c->bad_nth, 0);
    atomic_init(&c->bad_ith, 0);
    c->want_nth = nth;
}

/* Each of `nth` threads ran exactly `times` times, nobody else ran. */
static bool run_ctx_ok(struct run_ctx *c, int nth, int times)
{
    if (atomic_load(&c->bad_nth) || atomic_load(&c->bad_ith))
        return false;
    for (int i = 0; i < MAX_TH; i++)
        if (atomic_load(&c->hits[i]) != (i < nth ? times : 0))
            return false;
    return true;
}

static void test_run(void)
{
    static const int counts[] = { 1, 2, 3, 4, 7, 16 };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        int n = counts[k];
        char *err = NULL;
        gl_pool *p = gl_pool_new(n, &err);
        ok(p != NULL, "pool of %d threads created", n);
        if (!p) {
            tap_diag("%s", err ? err : "(no message)");
            free(err);
            continue;
        }
        is_int(gl_pool_size(p), n, "size of a %d-thread pool", n);

        struct run_ctx c;
        run_ctx_init(&c, n);
        gl_pool_run(p, run_fn, &c);
        ok(run_ctx_ok(&c, n, 1), "one run: ith 0..%d each exactly once, nth %d", n - 1, n);

        /* Many jobs back to back: the fast hand-off path. */
        run_ctx_init(&c, n);
        for (int r = 0; r < 2000; r++)
            gl_pool_run(p, run_fn, &c);
        ok(run_ctx_ok(&c, n, 2000), "2000 runs on %d threads: every index 2000 times", n);

        /* After a pause the workers have gone to sleep; they must wake. */
        usleep(30000);
        run_ctx_init(&c, n);
        gl_pool_run(p, run_fn, &c);
        usleep(2000);
        gl_pool_run(p, run_fn, &c);
        ok(run_ctx_ok(&c, n, 2), "runs after idle periods on %d threads", n);
        gl_pool_free(p);
    }

    /* NULL pool: inline, ith 0 of 1. */
    struct run_ctx c;
    run_ctx_init(&c, 1);
    gl_pool_run(NULL, run_fn, &c);
    ok(run_ctx_ok(&c, 1, 1), "NULL pool runs fn(ctx, 0, 1) inline");
    is_int(gl_pool_size(NULL), 1, "NULL pool has size 1");
    gl_pool_free(NULL);
    ok(1, "gl_pool_free(NULL) is a no-op");
}

/* ---------------------------------------------------------------- gl_pool_for */

struct for_ctx {
    atomic_int *seen;           /* [n] visit counts */
    int64_t n, chunk;
    atomic_int bad;             /* ranges out of bounds, empty or too long */
    atomic_llong sum;
};

static void for_body(void *arg, int64_t b, int64_t e)
{
    struct for_ctx *c = arg;
    if (b < 0 || e > c->n || b >= e || e - b > c->chunk) {
        atomic_fetch_add(&c->bad, 1);
        return;
    }
    long long s = 0;
    for (int64_t i = b; i < e; i++) {
        atomic_fetch_add(&c->seen[i], 1);
        s += i;
    }
    atomic_fetch_add(&c->sum, s);
}

/* Runs one gl_pool_for and checks it; returns true if every item was
 * visited exactly once through well-formed ranges. */
static bool check_for(gl_pool *p, int64_t n, int64_t chunk)
{
    struct for_ctx c = { .n = n };
    c.seen = calloc((size_t)(n > 0 ? n : 1), sizeof *c.seen);
    if (!c.seen)
        return false;
    for (int64_t i = 0; i < n; i++)
        atomic_init(&c.seen[i], 0);
    atomic_init(&c.bad, 0);
    atomic_init(&c.sum, 0);
    /* chunk <= 0 lets the pool choose; any range up to n is then legal. */
    c.chunk = chunk > 0 ? chunk : (n > 0 ? n : 1);
    gl_pool_for(p, n, chunk, for_body, &c);
    bool good = atomic_load(&c.bad) == 0;
    for (int64_t i = 0; i < n && good; i++)
        good = atomic_load(&c.seen[i]) == 1;
    long long want = n > 0 ? (long long)n * (n - 1) / 2 : 0;
    good = good && atomic_load(&c.sum) == want;
    free(c.seen);
    return good;
}

static void test_for(void)
{
    static const int counts[] = { 1, 2, 3, 5 };
    static const int64_t sizes[] = { 0, 1, 2, 3, 7, 16, 64, 100, 1000, 4097 };
    static const int64_t chunks[] = { -1, 0, 1, 2, 3, 16, 33, 1000, 100000 };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        gl_pool *p = gl_pool_new(counts[k], NULL);
        if (!ok(p != NULL, "pool of %d for gl_pool_for", counts[k]))
            continue;
        int fails = 0, cases = 0;
        for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
            for (size_t b = 0; b < sizeof chunks / sizeof chunks[0]; b++) {
                cases++;
                if (!check_for(p, sizes[a], chunks[b])) {
                    fails++;
                    tap_diag("  n=%lld chunk=%lld failed", (long long)sizes[a],
                             (long long)chunks[b]);
                }
            }
        ok(fails == 0, "gl_pool_for on %d threads: %d size/chunk cases, each item once",
           counts[k], cases);

        /* Many small loops back to back. */
        int bad = 0;
        for (int r = 0; r < 300; r++)
            bad += !check_for(p, 1 + r % 97, 1 + r % 5);
        ok(bad == 0, "300 consecutive small loops on %d threads", counts[k]);
        gl_pool_free(p);
    }

    int fails = 0;
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof chunks / sizeof chunks[0]; b++)
            fails += !check_for(NULL, sizes[a], chunks[b]);
    ok(fails == 0, "gl_pool_for with a NULL pool visits every item once");
}

/* ---------------------------------------------------------------- lifecycle */

static void test_lifecycle(void)
{
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        int n = 1 + i % 4;
        gl_pool *p = gl_pool_new(n, NULL);
        if (!p) {
            bad++;
            continue;
        }
        if (i % 2) {            /* half of them never run a job */
            struct run_ctx c;
            run_ctx_init(&c, n);
            gl_pool_run(p, run_fn, &c);
            bad += !run_ctx_ok(&c, n, 1);
        }
        gl_pool_free(p);
    }
    ok(bad == 0, "200 pools created, some used, all freed");

    gl_pool *p = gl_pool_new(0, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ok(p && gl_pool_size(p) == (cpus > 0 ? (int)cpus : 1),
       "n_threads 0 means the online CPUs (%ld)", cpus);
    gl_pool_free(p);
    p = gl_pool_new(-3, NULL);
    ok(p && gl_pool_size(p) >= 1, "negative n_threads means the online CPUs");
    gl_pool_free(p);

    char *err = NULL;
    p = gl_pool_new(1 << 20, &err);
    ok(p == NULL && err != NULL, "an absurd thread count is refused with a message");
    if (err)
        tap_diag("  %s", err);
    free(err);
}

/* ---------------------------------------------------------------- concurrency */

struct caller_arg {
    gl_pool *pool;
    int nth;
    bool good;
};

static void *caller_main(void *arg)
{
    struct caller_arg *a = arg;
    a->good = true;
    for (int r = 0; r < 200; r++) {
        struct run_ctx c;
        run_ctx_init(&c, a->nth);
        gl_pool_run(a->pool, run_fn, &c);
        if (!run_ctx_ok(&c, a->nth, 1))
            a->good = false;
        if (!check_for(a->pool, 50 + r, 7))
            a->good = false;
    }
    return NULL;
}

static void test_concurrent_callers(void)
{
    gl_pool *p = gl_pool_new(3, NULL);
    if (!ok(p != NULL, "pool for concurrent callers"))
        return;
    struct caller_arg a[2] = { { p, 3, false }, { p, 3, false } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, caller_main, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ok(a[0].good && a[1].good, "two threads calling gl_pool_run on one pool are serialised");
    gl_pool_free(p);
}

/* ---------------------------------------------------------------- idle cost */

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void noop(void *arg, int ith, int nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

static void test_idle(void)
{
    gl_pool *p = gl_pool_new(3, NULL);
    if (!ok(p != NULL, "pool for the idle test"))
        return;
    double t0 = wall_seconds();
    for (int i = 0; i < 5000; i++)
        gl_pool_run(p, noop, NULL);
    double t1 = wall_seconds();
    tap_diag("  empty job on 3 threads: %.2f us per gl_pool_run", (t1 - t0) / 5000 * 1e6);

    /* Workers may spin a few µs after a job, then must sleep. */
    double c0 = cpu_seconds();
    usleep(200000);
    double used = cpu_seconds() - c0;
    tap_diag("  CPU used by an idle 3-thread pool in 200 ms: %.2f ms", used * 1e3);
    ok(used < 0.040, "an idle pool sleeps (%.1f ms CPU in 200 ms)", used * 1e3);
    gl_pool_free(p);
}

int main(void)
{
    test_run();
    test_for();
    test_lifecycle();
    test_concurrent_callers();
    test_idle();
    return tap_done();
}
