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

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
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
    /* A second SIGBUS (say, in the cleanup hook) gets the default action. */
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL);
}

void sigbus_set_cleanup(void (*fn)(void))
{
    atomic_store(&cleanup_fn, fn);
}
