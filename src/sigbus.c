/*
 * sigbus.c - report a model file that changed on disk while mapped, instead
 * of dying with "Bus error" (sigbus.h).
 */
#include "config.h"

#include "sigbus.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static _Atomic(void (*)(void)) cleanup_fn;
static atomic_int entered;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    /* The compute threads read the same weights at the same moment, so
     * several may fault together: the first one reports and exits, the
     * others wait here for that exit (returning would fault again). */
    if (atomic_exchange(&entered, 1))
        for (;;)
            pause();
    void (*fn)(void) = atomic_load(&cleanup_fn);
    if (fn)
        fn();
    static const char msg[] =
        "\nglimpse: model file changed on disk (truncated or overwritten while in use): stopping\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    _exit(1);
}

int sigbus_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    /* No SA_RESETHAND: another thread's fault must not get the default
     * action (death by "Bus error") while the first one reports. A fault
     * in the handler itself still does: SIGBUS is blocked while it runs,
     * and the kernel kills for a blocked synchronous fault. */
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL);
}

void sigbus_set_cleanup(void (*fn)(void))
{
    atomic_store(&cleanup_fn, fn);
}
