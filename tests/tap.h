/*
 * tap.h - a tiny Test Anything Protocol harness for glimpse's unit tests.
 *
 *   int main(void) {
 *       ok(1 + 1 == 2, "arithmetic");
 *       is_int(f(), 3, "f");
 *       return tap_done();
 *   }
 *
 * Tests that need ../shared/ref call tap_refdata(): it returns the directory
 * (GLIMPSE_REFDATA) or NULL when it is absent, so the test can tap_skip().
 */
#ifndef GLIMPSE_TAP_H
#define GLIMPSE_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Record one result; prints "ok N - msg" or "not ok N - msg". Returns cond. */
bool tap_ok(bool cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                         \
    do {                                                                               \
        long long g_ = (long long)(got), w_ = (long long)(want);                       \
        if (!tap_ok(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                        \
            tap_diag("  got %lld, want %lld", g_, w_);                                 \
    } while (0)
#define is_str(got, want, ...)                                                         \
    do {                                                                               \
        const char *g_ = (got), *w_ = (want);                                          \
        bool e_ = g_ && w_ && strcmp(g_, w_) == 0;                                     \
        if (!tap_ok(e_, __FILE__, __LINE__, __VA_ARGS__))                              \
            tap_diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

/* A "# ..." diagnostic line (stdout, so the log keeps it in order). */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record n skipped results with a reason. */
void tap_skip(int n, const char *reason, ...) __attribute__((format(printf, 2, 3)));
/* Skip the whole program (prints the plan "1..0 # SKIP reason") and exit 0. */
void tap_skip_all(const char *reason, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print the plan; returns the exit status (0 if all passed). */
int tap_done(void);
int tap_failed(void);

/* The reference data directory, or NULL if GLIMPSE_REFDATA is unset/missing. */
const char *tap_refdata(void);
/* malloc'd "refdata/rel" (aborts the test on OOM). */
char *tap_refpath(const char *rel);
/* A scratch directory for this test (GLIMPSE_TMP or /tmp), created. */
const char *tap_tmpdir(void);

/* Read a whole file (malloc'd, NUL-terminated past len). NULL on error. */
void *tap_slurp(const char *path, size_t *len);

#endif
