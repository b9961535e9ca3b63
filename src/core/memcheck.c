/*
 * memcheck.c - will it fit? The memory available to this process, and the
 * check gl_chat_new makes before allocating a KV cache (memcheck.h).
 */
#include "config.h"

#include "memcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The first number after `key` in a /proc-style file, or -1. */
static int64_t file_number(const char *path, const char *key)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    int64_t v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0)
            continue;
        char *end;
        errno = 0;
        long long x = strtoll(line + kl, &end, 10);
        if (errno == 0 && end != line + kl && x >= 0)
            v = x;
        break;
    }
    fclose(f);
    return v;
}

/* Room left under a cgroup v2 limit ("max" = none), or UINT64_MAX. The
 * process's own cgroup is the one in /proc/self/cgroup ("0::/path"). */
static uint64_t cgroup_room(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return UINT64_MAX;
    char line[512], rel[512] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(rel, sizeof rel, "%s", line + 3);
            rel[strcspn(rel, "\n")] = 0;
            break;
        }
    fclose(f);
    if (!rel[0] || strstr(rel, ".."))
        return UINT64_MAX;
    char path[1100];
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", strcmp(rel, "/") ? rel : "");
    int64_t max = file_number(path, "");
    snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", strcmp(rel, "/") ? rel : "");
    int64_t cur = file_number(path, "");
    if (max < 0 || cur < 0)     /* no limit ("max" does not parse), or no cgroup v2 */
        return UINT64_MAX;
    return max > cur ? (uint64_t)(max - cur) : 0;
}

uint64_t gl_mem_available(void)
{
    const char *lim = getenv("GLIMPSE_MEMORY_LIMIT_MB");
    if (lim && *lim) {
        char *end;
        errno = 0;
        unsigned long long mb = strtoull(lim, &end, 10);
        if (errno == 0 && *end == 0 && mb <= UINT64_MAX >> 20)
            return (uint64_t)mb << 20;
    }
    uint64_t avail = 0;
    int64_t kb = file_number("/proc/meminfo", "MemAvailable:");
    if (kb >= 0)
        avail = (uint64_t)kb * 1024;
    else {
        long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0)
            avail = (uint64_t)pages * (uint64_t)psz;
    }
    uint64_t room = cgroup_room();
    if (avail == 0 || room < avail)
        avail = room == UINT64_MAX ? avail : room;
    return avail;
}

/* "12.2 GiB", "340 MiB" */
static void human(char *out, size_t cap, uint64_t b)
{
    if (b >= (1ull << 30))
        snprintf(out, cap, "%.1f GiB", (double)b / (double)(1ull << 30));
    else
        snprintf(out, cap, "%.0f MiB", (double)b / (double)(1ull << 20));
}

int gl_mem_check_context(uint64_t need, int n_ctx, char **err)
{
    uint64_t avail = gl_mem_available();
    if (avail == 0 || need <= avail)
        return 0;
    char a[32], b[32];
    human(a, sizeof a, need);
    human(b, sizeof b, avail);
    return gl_err(err, "a context of %d positions needs %s of KV cache and buffers but only %s of "
                       "memory is available: use a smaller -c", n_ctx, a, b);
}
