/*
 * calib.h - the machine's floors, measured in the same run as the benchmark:
 * memory read bandwidth (what bounds decoding), f32 and int8 multiply-add
 * peaks (what bound image encoding and prefill) and what OpenBLAS's sgemm
 * reaches on a large square product.
 *
 *   gl_pool *pool = gl_pool_new(threads, &err);
 *   struct calib c;
 *   calib_run(&c, pool, &err);        // a few seconds, ~1 GiB of memory
 *
 * Every figure is the best of several passes over all threads of the pool:
 * a peak is what the machine can do, so noise only ever lowers it.
 */
#ifndef GLIMPSE_BENCH_CALIB_H
#define GLIMPSE_BENCH_CALIB_H

#include <stdbool.h>
#include <stddef.h>

#include "glimpse/pool.h"

/* Timed passes over the bandwidth buffer. */
#define CALIB_READ_PASSES 6

struct calib {
    double read_bw_gbs;         /* streaming read, GB/s (1e9 bytes) */
    size_t read_bytes;          /* size of the buffer that was read */
    double f32_peak_gflops;     /* fused multiply-adds, 2 flops each */
    const char *f32_isa;        /* "avx512", "avx2" or "scalar" */
    double int8_peak_gops;      /* u8 x s8 products summed into i32, 2 ops each */
    const char *int8_isa;       /* "avx512-vnni", "avx-vnni", "avx2" or "scalar" */
    double sgemm_gflops;        /* 2048^3 sgemm split over the pool, single-threaded OpenBLAS */
};

/* Measure everything with the pool's threads. 0, or -1 with *err (out of
 * memory: the bandwidth buffer is shrunk before giving up). */
int calib_run(struct calib *c, gl_pool *pool, char **err);

#endif
