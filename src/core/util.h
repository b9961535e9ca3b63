/*
 * util.h - small helpers shared by every layer: error messages, checked
 * arithmetic, aligned allocation. Private to the library.
 */
#ifndef GLIMPSE_UTIL_H
#define GLIMPSE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Set *err (if err is non-NULL and *err is NULL) to a malloc'd message.
 * Always returns -1 so callers can `return gl_err(err, ...)`. */
int gl_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* malloc'd printf; NULL on OOM. */
char *gl_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Overflow-checked arithmetic: false on overflow. */
static inline bool gl_mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool gl_add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* 64-byte aligned allocation (free with gl_afree); NULL on OOM or n == 0 overflow. */
void *gl_amalloc(size_t n);
void gl_afree(void *p);

/* Monotonic time in seconds. */
double gl_now(void);

#endif
