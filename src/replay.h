/*
 * replay.h - the command line's session modes (private to src/glimpse):
 * --replay FILE [--speed N|max] [--verify], --export FILE OUT.md|OUT.json,
 * --list-sessions. Each returns the process exit status.
 */
#ifndef GLIMPSE_REPLAY_H
#define GLIMPSE_REPLAY_H

#include <stdbool.h>

#include "glimpse/worker.h"

/* --verify found an answer that differs from the recorded one. */
#define REPLAY_EXIT_DIFFERS 3

struct replay_opts {
    const char *file;           /* the session */
    double speed;               /* pace multiplier; 0 = no delays; < 0 = the default:
                                   1 on a terminal, no delays otherwise */
    bool verify;                /* re-run every turn and compare (needs the model) */
    const char *model, *mmproj; /* --verify: -m / --mmproj (NULL: found as usual) */
    int n_threads;              /* -t, 0 = cores */
    bool quiet;                 /* no progress or notes on stderr */
};

/* glimpse --replay FILE: print the conversation as it happened (no model
 * needed); with verify, re-run it: 0 all identical, 3 some answer differs,
 * 1 on errors. */
int cli_replay(const struct replay_opts *o);

/* glimpse --export FILE OUT.md|OUT.json. */
int cli_export(const char *file, const char *out, bool quiet);

/* glimpse --list-sessions: the autosaved sessions, newest first. */
int cli_list_sessions(void);

/* One-shot --save FILE: save the worker's conversation (a request of its
 * own, waited for). 0, or -1 after printing why. */
int cli_save_session(gl_worker *w, const char *path, bool embed_images, bool quiet);

/* --speed: "max" (0) or a number > 0. 0, or -1 for anything else. */
int replay_parse_speed(const char *s, double *out);

#endif
