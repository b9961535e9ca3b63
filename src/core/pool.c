/*
 * pool.c - the persistent thread pool every op runs on.
 *
 * A pool of n threads is n-1 workers plus the caller of gl_pool_run(), which
 * takes part as thread 0, so a 1-thread pool never context-switches at all.
 *
 * Hand-off: gl_pool_run() publishes (fn, ctx), bumps a generation counter and
 * wakes the workers; each worker runs its share and decrements `pending`; the
 * caller runs its own share and waits for `pending` to reach 0. A decoder
 * step is a few hundred small ops in a row, so the sleep/wake latency of a
 * condition variable (tens of µs) would show: after a job, workers first spin
 * for a few µs, then yield a few times, and only then sleep on the condition
 * variable (about 20 µs in all, bounded). An idle pool therefore costs no
 * CPU; a busy one hands jobs over in well under a microsecond.
 *
 * OpenBLAS: the pthread build of OpenBLAS has its own thread pool. glimpse
 * calls sgemm from *inside* pool jobs, each thread on its own slice of the
 * output (see ops_matmul), so OpenBLAS must run single-threaded: creating a
 * pool sets openblas_set_num_threads(1) once for the process. We never run
 * OpenBLAS at full width next to a busy pool (that would oversubscribe the
 * cores twice over).
 */
#include "config.h"

#include "glimpse/pool.h"

#include "util.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_MAX_THREADS 256
/* Spin this many pause instructions (25-40 ns each: 6-10 µs) before
 * yielding, then yield this many times (about a µs each when nothing else
 * wants the core) before sleeping on the condition variable. */
#define POOL_SPIN_ITERS 256
#define POOL_YIELDS 16

struct gl_pool;

struct pool_worker {
    struct gl_pool *pool;
    int ith;
};

struct gl_pool {
    int n;                                 /* threads, caller included */
    pthread_t *threads;                    /* [n-1] */
    struct pool_worker *workers;           /* [n-1] */
    int n_started;                         /* workers actually created */

    pthread_mutex_t run_mu;                /* serialises gl_pool_run callers */
    pthread_mutex_t mu;                    /* guards the sleeping paths */
    pthread_cond_t cv_start;               /* workers sleep here between jobs */
    pthread_cond_t cv_done;                /* the caller sleeps here for stragglers */

    /* The current job; written before `gen` is bumped (release), read after
     * a worker sees the new `gen` (acquire). */
    gl_pool_fn fn;
    void *ctx;
    atomic_uint_fast64_t gen;              /* job generation; +1 per job and on quit */
    atomic_int pending;                    /* workers still running the current job */
    atomic_bool quit;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    /* Our pool threads call sgemm on slices; OpenBLAS must not fan out too. */
    openblas_set_num_threads(1);
}

/* Wait until p->gen differs from `seen`; returns the new generation. */
static uint64_t wait_new_job(struct gl_pool *p, uint64_t seen)
{
    uint64_t g;
    for (int i = 0; i < POOL_SPIN_ITERS; i++) {
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen)
            return g;
        cpu_relax();
    }
    for (int i = 0; i < POOL_YIELDS; i++) {
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen)
            return g;
        sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->cv_start, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* Caller side: wait until every worker has finished the current job. */
static void wait_job_done(struct gl_pool *p)
{
    for (int i = 0; i < POOL_SPIN_ITERS; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
        cpu_relax();
    }
    for (int i = 0; i < POOL_YIELDS; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
        sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    struct pool_worker *w = arg;
    struct gl_pool *p = w->pool;
    uint64_t seen = 0;

    for (;;) {
        seen = wait_new_job(p, seen);
        if (atomic_load_explicit(&p->quit, memory_order_acquire))
            break;
        p->fn(p->ctx, w->ith, p->n);
        /* The last one out wakes the caller. Taking the mutex before the
         * signal closes the window between the caller's check and its wait. */
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static void stop_workers(struct gl_pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->quit, true, memory_order_release);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    p->n_started = 0;
}

gl_pool *gl_pool_new(int n_threads, char **err)
{
    pthread_once(&blas_once, blas_single_thread);

    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)(c < POOL_MAX_THREADS ? c : POOL_MAX_THREADS) : 1;
    }
    if (n_threads > POOL_MAX_THREADS) {
        gl_err(err, "thread pool: %d threads requested, at most %d supported", n_threads,
               POOL_MAX_THREADS);
        return NULL;
    }

    gl_pool *p = calloc(1, sizeof *p);
    if (!p) {
        gl_err(err, "thread pool: out of memory");
        return NULL;
    }
    p->n = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);

    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->threads || !p->workers) {
            gl_err(err, "thread pool: out of memory");
            goto fail;
        }
        /* Workers block every signal: SIGINT, SIGWINCH etc. belong to the
         * program's own threads, never to a compute thread. */
        sigset_t all, old;
        sigfillset(&all);
        /* ...except the faults a thread raises itself: blocked, a SIGBUS
         * from a model file truncated under us would kill the process
         * without running glimpse's handler (src/sigbus.c). */
        sigdelset(&all, SIGBUS);
        sigdelset(&all, SIGSEGV);
        sigdelset(&all, SIGFPE);
        sigdelset(&all, SIGILL);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = 0;
        for (int i = 0; i < n_threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].ith = i + 1;
            rc = pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
            if (rc != 0)
                break;
            p->n_started++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            gl_err(err, "thread pool: cannot start thread %d of %d: %s", p->n_started + 1,
                   n_threads, strerror(rc));
            goto fail;
        }
    }
    return p;

fail:
    gl_pool_free(p);
    return NULL;
}

void gl_pool_free(gl_pool *p)
{
    if (!p)
        return;
    stop_workers(p);
    pthread_cond_destroy(&p->cv_done);
    pthread_cond_destroy(&p->cv_start);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    free(p->workers);
    free(p->threads);
    free(p);
}

int gl_pool_size(const gl_pool *p)
{
    return p ? p->n : 1;
}

void gl_pool_run(gl_pool *p, gl_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->run_mu);

    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);

    fn(ctx, 0, p->n);
    wait_job_done(p);

    pthread_mutex_unlock(&p->run_mu);
}

/* ---------------------------------------------------------------- parallel for */

struct pool_for_job {
    atomic_int_fast64_t next;              /* first item not handed out yet */
    int64_t n, chunk;
    gl_pool_range_fn body;
    void *ctx;
};

static void pool_for_worker(void *arg, int ith, int nth)
{
    struct pool_for_job *j = arg;
    (void)ith;
    (void)nth;
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&j->next, j->chunk, memory_order_relaxed);
        if (b >= j->n)
            break;
        int64_t e = j->n - b < j->chunk ? j->n : b + j->chunk;
        j->body(j->ctx, b, e);
    }
}

void gl_pool_for(gl_pool *p, int64_t n, int64_t chunk, gl_pool_range_fn body, void *ctx)
{
    if (n <= 0)
        return;
    if (chunk <= 0) {
        /* No preference: about four chunks per thread balances load. */
        int64_t nth = gl_pool_size(p);
        chunk = (n + 4 * nth - 1) / (4 * nth);
    }
    if (gl_pool_size(p) == 1 || chunk >= n) {
        for (int64_t b = 0; b < n; b += chunk)
            body(ctx, b, n - b < chunk ? n : b + chunk);
        return;
    }
    struct pool_for_job j = { .n = n, .chunk = chunk, .body = body, .ctx = ctx };
    atomic_init(&j.next, 0);
    gl_pool_run(p, pool_for_worker, &j);
}
