/*
 * memcheck.h - will it fit? Compare what a conversation is about to
 * allocate with the memory the machine (or its cgroup) has available, so
 * that a large context is refused with the numbers instead of the system
 * swapping or the OOM killer striking later. Private to the library.
 */
#ifndef GLIMPSE_MEMCHECK_H
#define GLIMPSE_MEMCHECK_H

#include <stdint.h>

/* Bytes of memory available for new allocations: GLIMPSE_MEMORY_LIMIT_MB
 * when set (tests, or a user who wants a cap; 0 turns the check off), else
 * the smaller of MemAvailable (/proc/meminfo; sysconf(_SC_AVPHYS_PAGES)
 * without it) and the room left under a cgroup v2 memory.max. 0 when
 * nothing says. */
uint64_t gl_mem_available(void);

/* 0 when `need` bytes for a context of n_ctx positions fit in what is
 * available (or nothing is known), else -1 and *err: "a context of N
 * positions needs X GiB of KV cache and buffers but only Y GiB of memory is
 * available: use a smaller -c". */
int gl_mem_check_context(uint64_t need, int n_ctx, char **err);

#endif
