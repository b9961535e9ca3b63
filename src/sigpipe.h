/*
 * sigpipe.h - signals as bytes on a pipe, for a poll() loop (the self-pipe
 * trick). The handler only writes the signal number; the loop reads the
 * pipe and does the work outside signal context. Private to src/glimpse.
 */
#ifndef GLIMPSE_SIGPIPE_H
#define GLIMPSE_SIGPIPE_H

#include <stddef.h>

/* Route these signals to the pipe (SA_RESTART) and ignore SIGPIPE.
 * 0, or -1 when no pipe could be made. */
int sigpipe_install(const int *sigs, size_t n);
/* The read end (non-blocking), or -1 before sigpipe_install. */
int sigpipe_fd(void);
/* Read what is queued: up to cap signal numbers into out; returns how many. */
size_t sigpipe_read(int *out, size_t cap);
/* Put the signals back to their defaults and close the pipe. */
void sigpipe_restore(void);

#endif
