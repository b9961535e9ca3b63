/*
 * app.h - the state the parts of the chat share (private to src/ui/):
 * tui.c runs the loop, requests.c keeps what was asked of the worker and
 * applies its events, jobs.c holds the UI's own worker-side requests,
 * screen.c draws this state, commands.c changes it. Everything here lives
 * on the UI thread, except `doc`, which only jobs on the worker thread touch.
 */
#ifndef GLIMPSE_UI_APP_H
#define GLIMPSE_UI_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "glimpse/chat.h"
#include "glimpse/session.h"
#include "glimpse/worker.h"
#include "ui/preview.h"
#include "ui/transcript.h"
#include "ui/tui.h"

struct screen;
struct tui;

/* What the UI asked the worker, waiting for its last event. */
enum req_kind {
    REQ_LOAD = 0,               /* a model (start, /set ctx, /load) */
    REQ_INFO,                   /* read the model's name and shape */
    REQ_IMAGE,                  /* attach an image */
    REQ_PIXELS,                 /* read an attached image's pixels for the pane */
    REQ_ASK,
    REQ_REGEN,
    REQ_UNDO,
    REQ_CLEAR,
    REQ_SETTING,                /* sampling, n_predict, seed mode */
    REQ_SYSTEM,
    REQ_SAVE,                   /* /save and the autosave */
    REQ_RESTORE,                /* /load: put a session back */
    REQ_EXPORT
};

struct req {
    uint64_t seq;
    enum req_kind kind;
    char *text;                 /* the question, the image path, what was set, ... */
    bool started;               /* its transcript entries exist */
    bool dropped;               /* a stop dropped it from the queue */
    bool quiet;                 /* no note when it finishes (autosave) */
    int user_id, answer_id;     /* ASK, REGEN: transcript entries */
    int clear_below;            /* a new conversation: the entries older than this go */
    char *old_answer;           /* REGEN: shown again if it fails */
    void *data;                 /* jobs (jobs.c): in and out */
    void (*free_data)(void *data);
    void (*on_done)(struct tui *t, struct req *r);  /* a job's DONE */
};

/* The image in the pane. */
struct tui_image {
    char *name;                 /* base name, for the title */
    int width, height;          /* as decoded */
    uint8_t *rgb;               /* original pixels, width x height RGB (NULL: unreadable) */
    uint8_t *view;              /* what the model sees, view_size^2 RGB (NULL: none) */
    int view_size;
};

struct turn_ids {
    int user, answer;           /* transcript entry ids of one turn */
};

struct tui {
    const struct cli_opts *o;
    struct tui_opts opts;

    /* the model and the conversation's settings */
    gl_worker *w;
    char *llm, *mmproj;
    char *model_name, *model_type;
    int image_rows;
    struct gl_model_params mp;
    struct gl_chat_params cp;   /* for the next turns; cp.system points at `system` */
    char *system;               /* NULL: the template's */
    bool seed_fixed;
    bool loaded;

    /* requests in flight, oldest (running) first */
    struct req **reqs;
    int n_reqs, cap_reqs;

    /* what runs now */
    bool progress;              /* a PROGRESS event came for the running request */
    enum gl_stage stage;
    double fraction, stage_t0;
    double gen_t0;              /* first piece of the running answer */
    int gen_tokens;
    bool stopping;

    /* the conversation as shown */
    struct gl_context_use ctx;
    struct gl_turn_stats last;  /* of the last answer */
    enum gl_stop last_stop;
    bool have_last;
    int pending_images;         /* attached, waiting for a question */
    struct turn_ids *turns;     /* for /undo: the entries of each turn */
    int n_turns, cap_turns;
    char *autosave_path;        /* where the conversation is saved after each turn */
    session *doc;               /* the session document: worker thread only */

    /* panes */
    struct transcript *tr;
    int scroll;                 /* rows above the bottom (0: follow new text) */
    struct tui_image img;
    bool have_img;
    bool view_model;            /* the pane shows the model's view */
    bool pane_hidden;
    struct preview_caps caps;
    enum preview_mode mode;
    struct screen *scr;

    /* the input line */
    bool multiline;             /* inside """ ... """ */
    char *ml_text;
    bool intr_armed;            /* Ctrl-C at an empty prompt once: again quits */
    char hint[160];             /* a passing word in the status line */
    double hint_until;

    const char *banner;         /* --demo: the transcript's first entry */

    bool dirty;                 /* the screen needs drawing */
    bool doc_reset;             /* the conversation was cleared: the next save starts a new document */
    char *fatal;                /* why the chat could not go on (printed after curses) */
    bool quit;
    int exit_code;
};

/* ------------------------------------------------------------ tui.c */

/* Add a line to the transcript (printf-style). */
void app_note(struct tui *t, enum tr_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An entered line: a slash command or a question (with image paths in it). */
void app_submit(struct tui *t, const char *line);
/* The last part of a path (not a copy). */
const char *app_base_name(const char *path);
/* Leave the loop with this exit status. */
void app_quit(struct tui *t, int code);
/* Scroll the transcript by rows (> 0: back in time). */
void app_scroll(struct tui *t, int rows);
/* The pane: show the model's view or the original; hide or show it. */
void app_set_view(struct tui *t, bool model_view);
void app_set_pane(struct tui *t, bool hidden);
/* Something on screen changed. */
void app_dirty(struct tui *t);
/* A passing message in the status line (a few seconds). */
void app_hint(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ requests.c */

/* Register a request the worker accepted (seq 0: out of memory, noted).
 * The returned record lives until the request's last event. */
struct req *app_post(struct tui *t, enum req_kind kind, uint64_t seq, const char *text);
/* Free the records of requests still in flight (at the end). */
void app_requests_free(struct tui *t);
/* Apply one of the worker's events (in order) to the screen. */
void app_handle_event(struct tui *t, const struct gl_event *ev);
/* Attach an image to the next question (and show it in the pane). */
void app_attach(struct tui *t, const char *path);
/* Ask the model (the answer streams into the transcript). */
void app_ask(struct tui *t, const char *text);
/* The model runs (or will run) something the user may stop. */
bool app_busy(const struct tui *t);
/* Stop the model (Ctrl-C, Esc): the running request and the queued ones. */
void app_stop(struct tui *t);
/* The turns /undo knows: one more, or none (a new conversation). */
void app_push_turn(struct tui *t, int user, int answer);
void app_forget_turns(struct tui *t);

/* ------------------------------------------------------------ jobs.c */

/* Read the model's name and the images waiting for a question. */
void app_refresh_info(struct tui *t);
/* Read the pixels of the newest image attached from path, for the pane. */
void app_request_pixels(struct tui *t, const char *path);
void app_image_free(struct tui_image *im);
/* Save the conversation (path NULL: its current file, else a new
 * autosave file). quiet: no note on success. */
void app_save(struct tui *t, const char *path, bool quiet);
/* Load a session file into a new conversation. */
void app_load(struct tui *t, const char *path);
/* Export the conversation for people (.md or .json). */
void app_export(struct tui *t, const char *path);

#endif
