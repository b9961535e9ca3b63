/* sigpipe.c - see sigpipe.h. */
#include "config.h"

#include "sigpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static int fds[2] = {-1, -1};
static int routed[32];
static size_t n_routed;

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (fds[1] >= 0 && write(fds[1], &c, 1) < 0) {
        /* a full pipe: the loop is awake already */
    }
    errno = saved;
}

int sigpipe_install(const int *sigs, size_t n)
{
    if (fds[0] < 0) {
        if (pipe(fds) != 0)
            return -1;
        for (int i = 0; i < 2; i++) {
            fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
            fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < n && n_routed < sizeof routed / sizeof *routed; i++) {
        sigaction(sigs[i], &sa, NULL);
        routed[n_routed++] = sigs[i];
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int sigpipe_fd(void)
{
    return fds[0];
}

size_t sigpipe_read(int *out, size_t cap)
{
    size_t got = 0;
    unsigned char buf[64];
    ssize_t k;
    while (fds[0] >= 0 && (k = read(fds[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < k; i++)
            if (got < cap)
                out[got++] = buf[i];
    return got;
}

void sigpipe_restore(void)
{
    for (size_t i = 0; i < n_routed; i++)
        signal(routed[i], SIG_DFL);
    n_routed = 0;
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}
