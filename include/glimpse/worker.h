/*
 * worker.h - a conversation on a background thread, for single-threaded front ends.
 *
 *   gl_worker *w = gl_worker_new(&err);
 *   gl_worker_load(w, "llava.gguf", "mmproj.gguf", NULL, NULL);
 *   gl_worker_add_image(w, "photo.jpg");
 *   uint64_t q = gl_worker_ask(w, "What is in this picture?");
 *   struct pollfd pf = {.fd = gl_worker_fd(w), .events = POLLIN};
 *   for (bool done = false; !done; ) {
 *       poll(&pf, 1, -1);                  // together with stdin, SIGWINCH, ...
 *       struct gl_event *ev;
 *       while ((ev = gl_worker_next_event(w))) {
 *           if (ev->type == GL_EVENT_PIECE) fputs(ev->text, stdout);
 *           if (ev->seq == q && ev->last) done = true;
 *           gl_event_free(ev);
 *       }
 *   }
 *   gl_worker_free(w);
 *
 * One thread owns the model and the conversation and runs requests one at a
 * time, in the order they were posted; it sleeps on a condition variable
 * when there is nothing to do. Posting copies the arguments and returns at
 * once with the request's sequence number (> 0; 0 only when out of memory).
 * Every request ends with exactly one event whose `last` is true: LOADED,
 * IMAGE_ADDED, TURN_DONE, DONE, ERROR or CANCELLED. Before it may come
 * PROGRESS, PIECE and NOTICE events carrying the same seq. Events arrive in
 * request order (all of request n's before any of n+1's). Nothing is ever
 * printed; errors come back as ERROR events with a message.
 *
 * All functions are for one front-end thread, except gl_worker_cancel()
 * (any thread). The worker's threads block all signals, so signals such as
 * SIGWINCH and SIGINT reach the front end's thread.
 */
#ifndef GLIMPSE_WORKER_H
#define GLIMPSE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glimpse/chat.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gl_worker gl_worker;

enum gl_event_type {
    GL_EVENT_PROGRESS = 0,      /* stage, fraction (0..1) */
    GL_EVENT_PIECE,             /* text (a piece of the answer, may be ""), token */
    GL_EVENT_NOTICE,            /* text: something the user should know */
    /* The last event of a request (`last` is true): */
    GL_EVENT_LOADED,            /* gl_worker_load() finished: a new, empty conversation */
    GL_EVENT_IMAGE_ADDED,       /* index (of the image), width, height */
    GL_EVENT_TURN_DONE,         /* index (of the turn), stop, stats; ask and regenerate */
    GL_EVENT_DONE,              /* any other request finished */
    GL_EVENT_ERROR,             /* text: what went wrong; the conversation is as before */
    GL_EVENT_CANCELLED          /* gl_worker_cancel() stopped it before it could finish
                                   (dropped from the queue, or an image encode cut short) */
};
const char *gl_event_name(enum gl_event_type t);   /* "progress", "piece", ... */

struct gl_event {
    enum gl_event_type type;
    uint64_t seq;               /* the request it belongs to */
    bool last;                  /* the request's final event */
    const char *text;           /* PIECE, NOTICE, ERROR, CANCELLED; "" otherwise. Owned by the event */
    size_t len;                 /* strlen(text) */
    enum gl_stage stage;        /* PROGRESS */
    double fraction;            /* PROGRESS */
    int32_t token;              /* PIECE */
    int index;                  /* IMAGE_ADDED: the image; TURN_DONE: the turn */
    int width, height;          /* IMAGE_ADDED: as decoded */
    enum gl_stop stop;          /* TURN_DONE: why the answer ended (GL_STOP_CANCEL: partial, kept) */
    struct gl_turn_stats stats; /* TURN_DONE */
    struct gl_context_use ctx;  /* last events: the conversation's context use afterwards
                                   (all zero while no model is loaded) */
};

/* A worker with no model yet; its thread is started. NULL + *err on failure. */
gl_worker *gl_worker_new(char **err);
/* Stop what runs (as gl_worker_cancel), drop the queue, join the thread and
 * free the conversation, the model and undelivered events. Returns within a
 * fraction of a second, except during gl_worker_load's model loading (which
 * cannot be interrupted). NULL is a no-op. Not from inside a gl_worker_fn. */
void gl_worker_free(gl_worker *w);

/* Readable (level-triggered) while events are queued; O_NONBLOCK, O_CLOEXEC.
 * Owned by the worker: poll it, never read or close it. */
int gl_worker_fd(const gl_worker *w);
/* The next event, or NULL when none is queued (never blocks). The caller
 * frees it with gl_event_free(). PROGRESS events are coalesced while they
 * wait (the newest fraction per request and stage is kept), so a slow
 * consumer never makes the queue grow; no other event is dropped. */
struct gl_event *gl_worker_next_event(gl_worker *w);
void gl_event_free(struct gl_event *ev);

/* ------------------------------------------------------------ requests
 * Each copies its arguments and returns the request's seq (0: out of memory).
 * Requests that need a conversation end with ERROR while no model is loaded. */

/* Load a model pair (mmproj may be NULL) and start a new conversation with it
 * (params NULL: the defaults; cp->system is copied). The previous model and
 * conversation are kept until the new ones are ready, so a failed load leaves
 * them in place. PROGRESS (GL_STAGE_LOAD), then LOADED or ERROR. */
uint64_t gl_worker_load(gl_worker *w, const char *llm_path, const char *mmproj_path,
                        const struct gl_model_params *mp, const struct gl_chat_params *cp);
/* PROGRESS (GL_STAGE_ENCODE), then IMAGE_ADDED, ERROR or CANCELLED. */
uint64_t gl_worker_add_image(gl_worker *w, const char *path);
/* PROGRESS (prefill), PIECEs, NOTICEs, then TURN_DONE, ERROR or CANCELLED. */
uint64_t gl_worker_ask(gl_worker *w, const char *text);
uint64_t gl_worker_regenerate(gl_worker *w);
/* DONE or ERROR (no turn to undo). */
uint64_t gl_worker_undo(gl_worker *w);
/* DONE. */
uint64_t gl_worker_clear(gl_worker *w, bool keep_images);
/* Settings for the next turns: DONE or ERROR. set_system (NULL: the
 * template's) clears the conversation. */
uint64_t gl_worker_set_sampling(gl_worker *w, const struct gl_sampler_params *sp);
uint64_t gl_worker_set_n_predict(gl_worker *w, int n);
uint64_t gl_worker_set_seed_fixed(gl_worker *w, bool fixed);
uint64_t gl_worker_set_system(gl_worker *w, const char *system);

/* A request of the caller's own, run on the worker thread in queue order:
 * fn(user, m, c, cb, &err) has the model and the conversation to itself.
 * For reading the transcript, turns and context use, and for work that is
 * not a request above (loading or replaying a session): cb streams PROGRESS,
 * PIECE and NOTICE events under this request's seq, and gl_worker_cancel()
 * reaches the chat. fn returns 0 (DONE) or -1 with *err (ERROR, or
 * CANCELLED after a cancel). Once
 * posted (seq > 0), fn is called exactly once: with m, c and cb NULL while
 * no model is loaded, and with err NULL too when the worker is freed before
 * its turn came. Pointers into the conversation are valid only inside fn. */
typedef int (*gl_worker_fn)(void *user, gl_model *m, gl_chat *c,
                            const struct gl_callbacks *cb, char **err);
uint64_t gl_worker_with_chat(gl_worker *w, gl_worker_fn fn, void *user);

/* "Stop what the model is doing now" (Ctrl-C), from any thread. The running
 * request stops within ~0.2 s: an answer ends as TURN_DONE with
 * GL_STOP_CANCEL (the partial answer stays in the conversation), or as
 * CANCELLED when it had not begun (still in prefill: nothing is kept); an
 * image encode ends as CANCELLED; loading a model is not interrupted. Queued
 * requests that would run the model (load, add_image, ask, regenerate) are
 * dropped, each ending with CANCELLED in its place in the order; queued
 * settings, undo, clear and with_chat still run (so a queued undo meant for a
 * dropped ask would undo the turn before it: watch for CANCELLED). Requests
 * posted afterwards are unaffected. Not from a signal handler. */
void gl_worker_cancel(gl_worker *w);

#ifdef __cplusplus
}
#endif
#endif
