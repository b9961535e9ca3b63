/*
 * requests.c - what the UI asked the worker, in order, and what each
 * request's events do to the transcript and the status line. The worker
 * answers requests in the order they were posted, so the head of the FIFO
 * is the one running; a question queued behind it gets its entries when its
 * turn comes, and a stop drops the queued ones with the running one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/app.h"
#include "ui/screen.h"
#include "util.h"

static void req_free(struct req *r)
{
    if (!r)
        return;
    if (r->free_data)
        r->free_data(r->data);
    free(r->text);
    free(r->old_answer);
    free(r);
}

static void req_start(struct tui *t, struct req *r);

void app_requests_free(struct tui *t)
{
    for (int i = 0; i < t->n_reqs; i++)
        req_free(t->reqs[i]);
    free(t->reqs);
    t->reqs = NULL;
    t->n_reqs = t->cap_reqs = 0;
}

struct req *app_post(struct tui *t, enum req_kind kind, uint64_t seq, const char *text)
{
    if (seq == 0) {
        app_note(t, TR_ERROR, "out of memory: the request was not sent");
        return NULL;
    }
    struct req *r = calloc(1, sizeof *r);
    if (!r || (text && !(r->text = strdup(text)))) {
        free(r);
        app_note(t, TR_ERROR, "out of memory");
        return NULL;
    }
    r->seq = seq;
    r->kind = kind;
    /* What was on screen when a new conversation was asked for goes when
     * it begins; what came after (notes, errors) stays. */
    r->clear_below = t->tr->next_id;
    if (t->n_reqs == t->cap_reqs) {
        int nc = t->cap_reqs ? t->cap_reqs * 2 : 16;
        struct req **p = realloc(t->reqs, sizeof *p * (size_t)nc);
        if (!p) {
            req_free(r);
            app_note(t, TR_ERROR, "out of memory");
            return NULL;
        }
        t->reqs = p;
        t->cap_reqs = nc;
    }
    t->reqs[t->n_reqs++] = r;
    if (t->n_reqs == 1)
        req_start(t, r);
    t->dirty = true;
    return r;
}

/* The request became the running one: show what it is about. */
static void req_start(struct tui *t, struct req *r)
{
    r->started = true;
    t->progress = false;
    t->gen_tokens = 0;
    if (r->kind == REQ_ASK) {
        r->user_id = transcript_add(t->tr, TR_USER, r->text ? r->text : "");
        r->answer_id = transcript_add(t->tr, TR_ASSISTANT, "");
        transcript_set_flags(t->tr, r->answer_id, TR_STREAMING, 0);
        t->scroll = 0;
    } else if (r->kind == REQ_REGEN && t->n_turns > 0) {
        r->answer_id = t->turns[t->n_turns - 1].answer;
        struct tr_entry *e = transcript_get(t->tr, r->answer_id);
        if (e) {
            r->old_answer = strdup(e->text ? e->text : "");
            transcript_set_flags(t->tr, r->answer_id, TR_STREAMING, TR_STOPPED | TR_LENGTH);
        }
        t->scroll = 0;
    }
    t->dirty = true;
}

void app_push_turn(struct tui *t, int user, int answer)
{
    if (t->n_turns == t->cap_turns) {
        int nc = t->cap_turns ? t->cap_turns * 2 : 16;
        struct turn_ids *p = realloc(t->turns, sizeof *p * (size_t)nc);
        if (!p)
            return;
        t->turns = p;
        t->cap_turns = nc;
    }
    t->turns[t->n_turns++] = (struct turn_ids){user, answer};
}

void app_forget_turns(struct tui *t)
{
    t->n_turns = 0;
}

static bool stoppable(enum req_kind k)
{
    return k == REQ_ASK || k == REQ_REGEN || k == REQ_IMAGE || k == REQ_LOAD || k == REQ_RESTORE;
}

bool app_busy(const struct tui *t)
{
    for (int i = 0; i < t->n_reqs; i++)
        if (stoppable(t->reqs[i]->kind) && !t->reqs[i]->dropped)
            return true;
    return false;
}

void app_stop(struct tui *t)
{
    if (!app_busy(t))
        return;
    gl_worker_cancel(t->w);
    t->stopping = true;
    /* The worker drops the queued requests that would run the model. */
    for (int i = 1; i < t->n_reqs; i++) {
        enum req_kind k = t->reqs[i]->kind;
        if (stoppable(k) && k != REQ_RESTORE)    /* with_chat requests still run */
            t->reqs[i]->dropped = true;
    }
    t->dirty = true;
}

/* ------------------------------------------------------------ asking */

void app_attach(struct tui *t, const char *path)
{
    if (!t->mmproj) {
        app_note(t, TR_ERROR, "this model has no vision projector (--mmproj): it cannot see %s", path);
        return;
    }
    app_post(t, REQ_IMAGE, gl_worker_add_image(t->w, path), path);
    app_request_pixels(t, path);
}

void app_ask(struct tui *t, const char *text)
{
    app_post(t, REQ_ASK, gl_worker_ask(t->w, text), text);
}

/* ------------------------------------------------------------ events */

static void finish_answer(struct tui *t, struct req *r, const struct gl_event *ev)
{
    unsigned set = 0;
    if (ev->stop == GL_STOP_CANCEL)
        set |= TR_STOPPED;
    else if (ev->stop == GL_STOP_LENGTH)
        set |= TR_LENGTH;
    transcript_set_flags(t->tr, r->answer_id, set, TR_STREAMING);
    t->last = ev->stats;
    t->last_stop = ev->stop;
    t->have_last = true;
    t->pending_images = 0;
    if (r->kind == REQ_ASK)
        app_push_turn(t, r->user_id, r->answer_id);
    app_save(t, NULL, true);    /* autosave after each turn */
}

static void not_kept(struct tui *t, struct req *r, const char *why)
{
    if (r->kind == REQ_ASK && r->started) {
        transcript_remove(t->tr, r->answer_id);
        transcript_set_flags(t->tr, r->user_id, TR_NOT_KEPT, 0);
    } else if (r->kind == REQ_REGEN && r->old_answer) {
        transcript_set_text(t->tr, r->answer_id, r->old_answer);
        transcript_set_flags(t->tr, r->answer_id, 0, TR_STREAMING);
    }
    if (why)
        app_note(t, TR_NOTE, "%s", why);
}

static void on_done(struct tui *t, struct req *r)
{
    switch (r->kind) {
    case REQ_UNDO:
        if (t->n_turns > 0) {
            struct turn_ids ti = t->turns[--t->n_turns];
            transcript_remove(t->tr, ti.answer);
            transcript_remove(t->tr, ti.user);
        }
        app_note(t, TR_NOTE, "removed the last question and its answer");
        app_refresh_info(t);
        break;
    case REQ_CLEAR:
        transcript_clear_before(t->tr, r->clear_below);
        app_forget_turns(t);
        t->have_last = false;
        t->doc_reset = true;
        if (r->text) {
            app_image_free(&t->img);
            t->have_img = false;
            screen_image_changed(t);
            app_note(t, TR_NOTE, "new conversation; images dropped");
        } else {
            app_note(t, TR_NOTE, "new conversation%s", t->have_img ? "; the images stay attached" : "");
        }
        app_refresh_info(t);
        break;
    case REQ_SYSTEM:
        free(t->system);
        t->system = r->text ? strdup(r->text) : NULL;
        t->cp.system = t->system;
        transcript_clear_before(t->tr, r->clear_below);
        app_forget_turns(t);
        t->doc_reset = true;
        app_note(t, TR_NOTE, "system prompt %s: new conversation", r->text ? "set" : "back to the template's");
        app_refresh_info(t);
        break;
    case REQ_SETTING:
        if (r->text)
            app_note(t, TR_NOTE, "%s (from the next answer)", r->text);
        break;
    default:
        if (r->on_done)
            r->on_done(t, r);   /* a job of jobs.c */
        break;
    }
}

static void on_error(struct tui *t, struct req *r, const struct gl_event *ev)
{
    const char *msg = ev->len ? ev->text : "the request failed";
    switch (r->kind) {
    case REQ_LOAD:
        if (!t->loaded) {
            /* Nothing to chat with: leave and say why. */
            free(t->fatal);
            t->fatal = strdup(msg);
            app_quit(t, EXIT_RUNTIME);
            return;
        }
        app_note(t, TR_ERROR, "%s", msg);
        return;
    case REQ_ASK:
    case REQ_REGEN:
        not_kept(t, r, NULL);
        app_note(t, TR_ERROR, "%s", msg);
        return;
    case REQ_PIXELS:
    case REQ_INFO:
        return;                 /* the pane or the status line just stay as they are */
    case REQ_SAVE:
        if (r->quiet) {
            app_hint(t, "autosave failed: %s", msg);
            return;
        }
        break;
    default:
        break;
    }
    app_note(t, TR_ERROR, "%s", msg);
}

static void on_cancelled(struct tui *t, struct req *r)
{
    switch (r->kind) {
    case REQ_ASK:
        if (r->started)
            not_kept(t, r, "stopped before the answer began");
        else
            app_note(t, TR_NOTE, "not asked (stopped): %s", r->text ? r->text : "");
        break;
    case REQ_REGEN:
        not_kept(t, r, "stopped before the new answer began");
        break;
    case REQ_IMAGE:
        app_note(t, TR_NOTE, "not attached (stopped): %s", r->text ? app_base_name(r->text) : "image");
        break;
    case REQ_LOAD:
        app_note(t, TR_NOTE, "loading stopped");
        break;
    case REQ_RESTORE:
        app_note(t, TR_NOTE, "loading the session stopped");
        break;
    default:
        break;
    }
}

void app_handle_event(struct tui *t, const struct gl_event *ev)
{
    struct req *r = t->n_reqs > 0 ? t->reqs[0] : NULL;
    if (!r || r->seq != ev->seq)
        return;                 /* not ours (cannot happen: events come in request order) */
    if (!r->started && !(r->dropped && ev->type == GL_EVENT_CANCELLED))
        req_start(t, r);
    t->dirty = true;
    switch (ev->type) {
    case GL_EVENT_PROGRESS:
        if (!t->progress || t->stage != ev->stage)
            t->stage_t0 = gl_now();
        t->progress = true;
        t->stage = ev->stage;
        t->fraction = ev->fraction;
        break;
    case GL_EVENT_PIECE:
        if ((r->kind == REQ_ASK || r->kind == REQ_REGEN) && r->answer_id > 0) {
            if (t->gen_tokens == 0) {
                t->gen_t0 = gl_now();
                if (r->kind == REQ_REGEN)
                    transcript_set_text(t->tr, r->answer_id, "");
            }
            transcript_append(t->tr, r->answer_id, ev->text, ev->len);
            t->gen_tokens++;
            t->progress = false;
        }
        break;
    case GL_EVENT_NOTICE:
        app_note(t, TR_NOTE, "%s", ev->text);
        break;
    case GL_EVENT_LOADED:
        if (t->loaded && r->text && strcmp(r->text, "session") != 0) {
            transcript_clear_before(t->tr, r->clear_below);
            app_note(t, TR_NOTE, "%s: the model was loaded again; new conversation", r->text);
        }
        if (t->loaded) {
            app_forget_turns(t);
            t->doc_reset = true;
            t->pending_images = 0;
        }
        t->loaded = true;
        break;
    case GL_EVENT_IMAGE_ADDED:
        t->pending_images++;
        app_note(t, TR_NOTE, "attached %s (%d\u00d7%d) to the next question",
                 r->text ? app_base_name(r->text) : "image", ev->width, ev->height);
        break;
    case GL_EVENT_TURN_DONE:
        if (r->answer_id > 0)
            finish_answer(t, r, ev);
        break;
    case GL_EVENT_DONE:
        on_done(t, r);
        break;
    case GL_EVENT_ERROR:
        on_error(t, r, ev);
        break;
    case GL_EVENT_CANCELLED:
        on_cancelled(t, r);
        break;
    }
    if (ev->last) {
        if (ev->ctx.n_ctx > 0)
            t->ctx = ev->ctx;
        memmove(t->reqs, t->reqs + 1, sizeof *t->reqs * (size_t)(t->n_reqs - 1));
        t->n_reqs--;
        req_free(r);
        t->progress = false;
        t->gen_tokens = 0;
        if (t->n_reqs == 0) {
            if (t->stopping)
                t->hint[0] = 0;     /* "stopping" is over */
            t->stopping = false;
        } else if (!t->reqs[0]->dropped) {
            req_start(t, t->reqs[0]);
        }
    }
}
