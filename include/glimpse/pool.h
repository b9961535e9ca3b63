/*
 * pool.h - a persistent thread pool shared by every op.
 *
 * gl_pool_run() runs one function on every thread of the pool (the caller
 * takes part as thread 0) and returns when all have finished: no threads are
 * created per op. Work inside an op is usually handed out in chunks through
 * gl_pool_next(), an atomic counter, so faster threads take more.
 */
#ifndef GLIMPSE_POOL_H
#define GLIMPSE_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gl_pool gl_pool;

/* ith in [0, nth). */
typedef void (*gl_pool_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0 means the number of online CPUs. NULL + *err on failure. */
gl_pool *gl_pool_new(int n_threads, char **err);
void gl_pool_free(gl_pool *p);                  /* joins the workers; NULL is a no-op */
int gl_pool_size(const gl_pool *p);             /* 1 for a NULL pool */

/* Run fn(ctx, ith, nth) on all threads and wait. A NULL pool runs fn(ctx, 0, 1).
 * Not reentrant: fn must not call gl_pool_run on the same pool. */
void gl_pool_run(gl_pool *p, gl_pool_fn fn, void *ctx);

/* Parallel for: calls body(ctx, begin, end) over [0, n) in chunks of `chunk`
 * items handed out by an atomic counter. */
typedef void (*gl_pool_range_fn)(void *ctx, int64_t begin, int64_t end);
void gl_pool_for(gl_pool *p, int64_t n, int64_t chunk, gl_pool_range_fn body, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
