/*
 * test_memcheck.c - the memory check made before a KV cache is allocated
 * (src/core/memcheck.c, called by gl_chat_new).
 *
 * Covers: GLIMPSE_MEMORY_LIMIT_MB overrides what is available (and a
 * malformed value is ignored); without it the figure comes from the system
 * and is at most MemTotal; the check passes what fits and refuses what does
 * not with the numbers in MiB or GiB and the advice; gl_chat_new refuses a
 * context that does not fit under the limit (before allocating it), accepts
 * it under a larger one, and its message scales with the context asked for.
 * The model is the fuzz corpus's small LLaMA (tests/fuzz/corpus/gguf/).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/chat.h"
#include "memcheck.h"
#include "tap.h"

static uint64_t mem_total(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}

static void test_available(void)
{
    setenv("GLIMPSE_MEMORY_LIMIT_MB", "100", 1);
    is_int(gl_mem_available(), 100ull << 20, "GLIMPSE_MEMORY_LIMIT_MB=100 gives 100 MiB");
    setenv("GLIMPSE_MEMORY_LIMIT_MB", "0", 1);
    is_int(gl_mem_available(), 0, "a limit of 0 means nothing is known (no check)");
    unsetenv("GLIMPSE_MEMORY_LIMIT_MB");
    uint64_t sys = gl_mem_available(), total = mem_total();
    ok(sys > 0 && (total == 0 || sys <= total), "from the system: %.0f MiB available of %.0f MiB",
       (double)sys / (1 << 20), (double)total / (1 << 20));
    setenv("GLIMPSE_MEMORY_LIMIT_MB", "12x", 1);
    uint64_t bad = gl_mem_available();
    ok(bad != (12ull << 20) && bad > 0, "a malformed limit (\"12x\") is ignored");
    unsetenv("GLIMPSE_MEMORY_LIMIT_MB");
}

static void test_check(void)
{
    char *err = NULL;
    setenv("GLIMPSE_MEMORY_LIMIT_MB", "100", 1);
    ok(gl_mem_check_context(50ull << 20, 1000, &err) == 0 && !err, "50 MiB fits in 100");
    ok(gl_mem_check_context(100ull << 20, 1000, &err) == 0 && !err, "exactly 100 MiB fits");
    ok(gl_mem_check_context((100ull << 20) + 1, 1000, &err) == -1 && err, "one byte more does not");
    free(err);
    err = NULL;
    ok(gl_mem_check_context(200ull << 20, 1000, &err) == -1, "200 MiB is refused");
    is_str(err, "a context of 1000 positions needs 200 MiB of KV cache and buffers but only 100 MiB "
                "of memory is available: use a smaller -c", "the message gives both numbers");
    free(err);
    err = NULL;
    setenv("GLIMPSE_MEMORY_LIMIT_MB", "3174", 1);   /* 3.1 GiB */
    ok(gl_mem_check_context((uint64_t)(12.2 * (double)(1ull << 30)), 100000, &err) == -1,
       "12.2 GiB in 3.1 GiB is refused");
    is_str(err, "a context of 100000 positions needs 12.2 GiB of KV cache and buffers but only 3.1 GiB "
                "of memory is available: use a smaller -c", "large sizes in GiB");
    free(err);
    unsetenv("GLIMPSE_MEMORY_LIMIT_MB");
}

static void test_chat(void)
{
    const char *src = getenv("srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/gguf/llama-1l-f16.gguf", src ? src : ".");
    char *err = NULL;
    struct gl_model_params mp = gl_model_default_params();
    mp.n_threads = 1;
    gl_model *m = gl_model_load(path, NULL, &mp, &err);
    if (!ok(m != NULL, "the small model loads")) {
        tap_diag("  %s", err ? err : "?");
        free(err);
        tap_skip(6, "no model");
        return;
    }
    struct gl_chat_params cp = gl_chat_default_params();
    cp.n_ctx = 512;
    unsetenv("GLIMPSE_MEMORY_LIMIT_MB");
    gl_chat *c = gl_chat_new(m, &cp, &err);
    ok(c && !err, "without a limit a 512-position chat is made");
    gl_chat_free(c);
    free(err);
    err = NULL;

    /* This model's cache costs 64 bytes a position (1 layer, 2 x 8 f16
     * keys and values) plus ~0.6 MiB of buffers. */
    setenv("GLIMPSE_MEMORY_LIMIT_MB", "1", 1);
    cp.n_ctx = 100000;
    c = gl_chat_new(m, &cp, &err);
    ok(!c && err, "100000 positions under a 1 MiB limit are refused: %s", err ? err : "(no message)");
    ok(err && strstr(err, "a context of 100000 positions needs ") && strstr(err, "but only 1 MiB") &&
       strstr(err, "use a smaller -c"), "the message names the context, the limit and the advice");
    double small = 0, large = 0;
    if (err && strstr(err, "needs "))
        sscanf(strstr(err, "needs "), "needs %lf MiB", &small);
    free(err);
    err = NULL;
    cp.n_ctx = 800000;
    c = gl_chat_new(m, &cp, &err);
    if (err && strstr(err, "needs "))
        sscanf(strstr(err, "needs "), "needs %lf MiB", &large);
    ok(!c && small >= 6 && small <= 8 && large >= 45 && large <= 55,
       "the need follows the context: %.0f MiB for 100000, %.0f MiB for 800000", small, large);
    free(err);
    err = NULL;

    setenv("GLIMPSE_MEMORY_LIMIT_MB", "64", 1);
    cp.n_ctx = 100000;
    c = gl_chat_new(m, &cp, &err);
    ok(c && !err, "under a 64 MiB limit 100000 positions fit");
    if (c) {
        struct gl_context_use u;
        gl_chat_context(c, &u);
        is_int(u.n_ctx, 100000, "and the cache has them");
    } else
        tap_skip(1, "no chat");
    gl_chat_free(c);
    free(err);
    unsetenv("GLIMPSE_MEMORY_LIMIT_MB");
    gl_model_free(m);
}

int main(void)
{
    test_available();
    test_check();
    test_chat();
    return tap_done();
}
