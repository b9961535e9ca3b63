/*
 * worker.c - the background inference thread between the front end and a
 * conversation: a request queue in, an event queue out, a cancel flag, and a
 * pipe that is readable while events wait, so a single-threaded UI can
 * poll() keys and answers together.
 *
 * Threads and locks: one mutex guards both queues and the small shared state
 * below; one condition variable wakes the worker when a request arrives or
 * when it must quit. The model and the conversation are touched only by the
 * worker thread, with one exception: gl_worker_cancel() calls
 * gl_chat_cancel() on the running conversation, under the mutex, so the
 * worker cannot free or replace it meanwhile (the worker swaps the pointers
 * under the mutex too).
 *
 * A cancel that lands between the worker taking a request and the chat
 * starting it could be forgotten if the chat resets its flag when it starts;
 * so the worker also remembers the cancel (cancel_running) and repeats it from
 * every progress and piece callback of the running request.
 */
#include "config.h"

#include "glimpse/worker.h"

#include "util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- requests */

enum req_type {
    REQ_LOAD,
    REQ_ADD_IMAGE,
    REQ_ASK,
    REQ_REGENERATE,
    REQ_UNDO,
    REQ_CLEAR,
    REQ_SET_SAMPLING,
    REQ_SET_N_PREDICT,
    REQ_SET_SEED_FIXED,
    REQ_SET_SYSTEM,
    REQ_WITH_CHAT
};

struct req {
    struct req *next;
    enum req_type type;
    uint64_t seq;
    bool dropped;                 /* by gl_worker_cancel: ends as CANCELLED unrun */
    char *str;                    /* load: LLM path; add_image: path; ask: text; set_system */
    char *mmproj;                 /* load (NULL: text only) */
    char *system;                 /* load: cp.system's copy (cp.system points here) */
    struct gl_model_params mp;    /* load */
    struct gl_chat_params cp;     /* load */
    struct gl_sampler_params sp;  /* set_sampling */
    int n;                        /* set_n_predict */
    bool flag;                    /* clear: keep_images; set_seed_fixed */
    gl_worker_fn fn;              /* with_chat (NULL once called) */
    void *user;
};

/* The requests that run the model: the ones a cancel drops from the queue. */
static bool req_is_compute(enum req_type t)
{
    return t == REQ_LOAD || t == REQ_ADD_IMAGE || t == REQ_ASK || t == REQ_REGENERATE;
}

static void req_free(struct req *r)
{
    if (!r)
        return;
    if (r->fn)    /* never run: fn is called exactly once, without a chat */
        r->fn(r->user, NULL, NULL, NULL, NULL);
    free(r->str);
    free(r->mmproj);
    free(r->system);
    free(r);
}

/* ---------------------------------------------------------------- events */

/* One allocation per event: gl_event_free() frees the node through its first member. */
struct ev_node {
    struct gl_event ev;
    struct ev_node *next;
    char text[];                  /* ev.text points here, NUL-terminated */
};

#define N_STAGES (GL_STAGE_GENERATE + 1)

struct gl_worker {
    pthread_t thread;
    int rfd, wfd;                 /* pipe: one byte in it while events are queued */

    pthread_mutex_t mu;
    pthread_cond_t cv;            /* the worker sleeps here between requests */
    /* Guarded by mu: */
    struct req *rq_head, *rq_tail;
    struct ev_node *ev_head, *ev_tail;
    struct ev_node *progress[N_STAGES];  /* queued PROGRESS per stage, to coalesce into */
    bool signalled;               /* the byte is in the pipe */
    bool quit;
    uint64_t last_seq;
    uint64_t running;             /* seq of the request being run, 0 when idle */
    bool cancel_running;          /* gl_worker_cancel() hit the running request */
    /* Written under mu by the worker thread only, so it may read them without: */
    gl_model *model;
    gl_chat *chat;
};

const char *gl_event_name(enum gl_event_type t)
{
    switch (t) {
    case GL_EVENT_PROGRESS: return "progress";
    case GL_EVENT_PIECE: return "piece";
    case GL_EVENT_NOTICE: return "notice";
    case GL_EVENT_LOADED: return "loaded";
    case GL_EVENT_IMAGE_ADDED: return "image_added";
    case GL_EVENT_TURN_DONE: return "turn_done";
    case GL_EVENT_DONE: return "done";
    case GL_EVENT_ERROR: return "error";
    case GL_EVENT_CANCELLED: return "cancelled";
    }
    return "?";
}

static struct ev_node *ev_new(enum gl_event_type type, uint64_t seq, const char *text, size_t len)
{
    struct ev_node *n = malloc(sizeof *n + len + 1);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    if (len)
        memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->ev.type = type;
    n->ev.seq = seq;
    n->ev.text = n->text;
    n->ev.len = len;
    return n;
}

void gl_event_free(struct gl_event *ev)
{
    free(ev);   /* the node starts with the event */
}

/* Append an event and make the fd readable. Called with mu held. If memory
 * ran out (n NULL) the event is lost: there is nothing better to do. */
static void push_locked(gl_worker *w, struct ev_node *n)
{
    if (!n)
        return;
    if (w->ev_tail)
        w->ev_tail->next = n;
    else
        w->ev_head = n;
    w->ev_tail = n;
    if (!w->signalled) {
        ssize_t k;
        do
            k = write(w->wfd, "e", 1);
        while (k < 0 && errno == EINTR);
        w->signalled = true;   /* even if the write failed: the pipe is then full, i.e. readable */
    }
}

struct gl_event *gl_worker_next_event(gl_worker *w)
{
    pthread_mutex_lock(&w->mu);
    struct ev_node *n = w->ev_head;
    if (n) {
        w->ev_head = n->next;
        if (!w->ev_head)
            w->ev_tail = NULL;
        for (int s = 0; s < N_STAGES; s++)
            if (w->progress[s] == n)
                w->progress[s] = NULL;
        n->next = NULL;
    }
    if (!w->ev_head && w->signalled) {
        char buf[16];
        for (;;) {
            ssize_t k = read(w->rfd, buf, sizeof buf);
            if (k > 0 || (k < 0 && errno == EINTR))
                continue;
            break;   /* EAGAIN: empty */
        }
        w->signalled = false;
    }
    pthread_mutex_unlock(&w->mu);
    return n ? &n->ev : NULL;
}

int gl_worker_fd(const gl_worker *w)
{
    return w->rfd;
}

/* ---------------------------------------------------------------- callbacks */

/* The chat's callbacks, turned into events of the running request. */
struct run_ctx {
    gl_worker *w;
    uint64_t seq;
};

/* Repeat a cancel the chat may have missed (see the top). Called with mu held. */
static void recancel_locked(gl_worker *w)
{
    if (w->cancel_running && w->chat)
        gl_chat_cancel(w->chat);
}

static void on_progress(void *user, enum gl_stage stage, double fraction)
{
    struct run_ctx *rc = user;
    gl_worker *w = rc->w;
    pthread_mutex_lock(&w->mu);
    bool known = (unsigned)stage < N_STAGES;
    struct ev_node *q = known ? w->progress[stage] : NULL;
    if (q && q->ev.seq == rc->seq) {
        q->ev.fraction = fraction;   /* the consumer has not seen the older one yet */
    } else {
        struct ev_node *n = ev_new(GL_EVENT_PROGRESS, rc->seq, NULL, 0);
        if (n) {
            n->ev.stage = stage;
            n->ev.fraction = fraction;
            push_locked(w, n);
            if (known)
                w->progress[stage] = n;
        }
    }
    recancel_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static void on_piece(void *user, const char *utf8, size_t len, int32_t token)
{
    struct run_ctx *rc = user;
    gl_worker *w = rc->w;
    struct ev_node *n = ev_new(GL_EVENT_PIECE, rc->seq, utf8, len);
    if (n)
        n->ev.token = token;
    pthread_mutex_lock(&w->mu);
    push_locked(w, n);
    recancel_locked(w);
    pthread_mutex_unlock(&w->mu);
}

static void on_notice(void *user, const char *msg)
{
    struct run_ctx *rc = user;
    gl_worker *w = rc->w;
    struct ev_node *n = ev_new(GL_EVENT_NOTICE, rc->seq, msg, msg ? strlen(msg) : 0);
    pthread_mutex_lock(&w->mu);
    push_locked(w, n);
    pthread_mutex_unlock(&w->mu);
}

static void emit_progress(gl_worker *w, uint64_t seq, enum gl_stage stage, double fraction)
{
    struct run_ctx rc = {w, seq};
    on_progress(&rc, stage, fraction);
}

/* ---------------------------------------------------------------- running requests */

/* Load a pair and start a conversation; swap them in only when both are ready. */
static int run_load(gl_worker *w, struct req *r, char **err)
{
    emit_progress(w, r->seq, GL_STAGE_LOAD, 0.0);
    gl_model *m = gl_model_load(r->str, r->mmproj, &r->mp, err);
    if (!m)
        return -1;
    gl_chat *c = gl_chat_new(m, &r->cp, err);
    if (!c) {
        gl_model_free(m);
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    gl_chat *old_c = w->chat;
    gl_model *old_m = w->model;
    w->chat = c;
    w->model = m;
    pthread_mutex_unlock(&w->mu);
    gl_chat_free(old_c);
    gl_model_free(old_m);
    emit_progress(w, r->seq, GL_STAGE_LOAD, 1.0);
    return 0;
}

/* Run one request; fill the final event (type and its fields) or return -1 with *err. */
static int run_req(gl_worker *w, struct req *r, struct gl_event *fin, char **err)
{
    struct run_ctx rc = {w, r->seq};
    const struct gl_callbacks cb = {
        .on_progress = on_progress, .on_piece = on_piece, .on_notice = on_notice, .user = &rc,
    };
    gl_chat *c = w->chat;

    fin->type = GL_EVENT_DONE;
    if (r->type == REQ_WITH_CHAT) {
        gl_worker_fn fn = r->fn;
        r->fn = NULL;
        return fn(r->user, w->model, c, c ? &cb : NULL, err);
    }
    if (r->type == REQ_LOAD) {
        if (run_load(w, r, err) < 0)
            return -1;
        fin->type = GL_EVENT_LOADED;
        return 0;
    }
    if (!c)
        return gl_err(err, "no model loaded");

    switch (r->type) {
    case REQ_ADD_IMAGE: {
        int i = gl_chat_add_image(c, r->str, &cb, err);
        if (i < 0)
            return -1;
        const struct gl_image_info *info = gl_chat_image(c, i);
        fin->type = GL_EVENT_IMAGE_ADDED;
        fin->index = i;
        fin->width = info ? info->width : 0;
        fin->height = info ? info->height : 0;
        return 0;
    }
    case REQ_ASK:
    case REQ_REGENERATE: {
        int rv = r->type == REQ_ASK ? gl_chat_ask(c, r->str, &cb, err)
                                    : gl_chat_regenerate(c, &cb, err);
        if (rv < 0)
            return -1;
        int t = gl_chat_n_turns(c) - 1;
        const struct gl_turn *turn = t >= 0 ? gl_chat_turn(c, t) : NULL;
        if (!turn)
            return gl_err(err, "the answer's turn is missing");
        fin->type = GL_EVENT_TURN_DONE;
        fin->index = t;
        fin->stop = turn->stop;
        fin->stats = turn->stats;
        return 0;
    }
    case REQ_UNDO:
        return gl_chat_undo(c, err);
    case REQ_CLEAR:
        gl_chat_clear(c, r->flag);
        return 0;
    case REQ_SET_SAMPLING:
        return gl_chat_set_sampling(c, &r->sp, err);
    case REQ_SET_N_PREDICT:
        gl_chat_set_n_predict(c, r->n);
        return 0;
    case REQ_SET_SEED_FIXED:
        gl_chat_set_seed_fixed(c, r->flag);
        return 0;
    case REQ_SET_SYSTEM:
        return gl_chat_set_system(c, r->str, err);
    case REQ_LOAD:
    case REQ_WITH_CHAT:
        break;
    }
    return gl_err(err, "unknown request");
}

/* Run (or, when dropped, skip) a request and queue its one final event. */
static void finish_req(gl_worker *w, struct req *r)
{
    struct gl_event fin = {.seq = r->seq};
    char *err = NULL;
    int rv = 0;

    if (r->dropped)
        fin.type = GL_EVENT_CANCELLED;
    else
        rv = run_req(w, r, &fin, &err);

    pthread_mutex_lock(&w->mu);
    bool cancelled = w->cancel_running;
    w->running = 0;
    w->cancel_running = false;
    pthread_mutex_unlock(&w->mu);

    const char *msg = "";
    if (r->dropped)
        msg = "cancelled before it started";
    else if (rv < 0) {
        fin.type = cancelled ? GL_EVENT_CANCELLED : GL_EVENT_ERROR;
        msg = err ? err : cancelled ? "cancelled" : "failed (no message)";
    }
    struct ev_node *n = ev_new(fin.type, r->seq, msg, strlen(msg));
    if (n) {
        fin.text = n->text;
        fin.len = n->ev.len;
        fin.last = true;
        if (w->chat)
            gl_chat_context(w->chat, &fin.ctx);
        n->ev = fin;
    }
    free(err);
    pthread_mutex_lock(&w->mu);
    push_locked(w, n);
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
    gl_worker *w = arg;
    struct req *left = NULL;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->rq_head && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit)
            break;
        struct req *r = w->rq_head;
        w->rq_head = r->next;
        if (!w->rq_head)
            w->rq_tail = NULL;
        w->running = r->seq;
        w->cancel_running = false;
        pthread_mutex_unlock(&w->mu);

        finish_req(w, r);
        req_free(r);
        pthread_mutex_lock(&w->mu);
    }
    left = w->rq_head;
    w->rq_head = w->rq_tail = NULL;
    gl_chat *c = w->chat;
    gl_model *m = w->model;
    w->chat = NULL;
    w->model = NULL;
    pthread_mutex_unlock(&w->mu);

    while (left) {
        struct req *next = left->next;
        req_free(left);   /* calls a pending with_chat fn without a chat */
        left = next;
    }
    gl_chat_free(c);
    gl_model_free(m);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

gl_worker *gl_worker_new(char **err)
{
    gl_worker *w = calloc(1, sizeof *w);
    int fds[2];
    bool locks = false;
    if (!w) {
        gl_err(err, "out of memory");
        return NULL;
    }
    w->rfd = w->wfd = -1;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        gl_err(err, "worker: pipe: %s", strerror(errno));
        goto fail;
    }
    w->rfd = fds[0];
    w->wfd = fds[1];
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        gl_err(err, "worker: cannot create a mutex");
        goto fail;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        gl_err(err, "worker: cannot create a condition variable");
        goto fail;
    }
    locks = true;

    /* The worker (and the thread pool it creates) blocks every signal, so
     * SIGWINCH, SIGINT etc. interrupt the front end's poll() instead. */
    sigset_t all, old;
    sigfillset(&all);
    /* Not the faults it raises itself (a SIGBUS from a model file truncated
     * under us must reach src/sigbus.c's handler, not kill silently). */
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rv = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != 0) {
        gl_err(err, "worker: cannot start its thread: %s", strerror(rv));
        goto fail;
    }
    return w;

fail:
    if (locks) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    if (w->rfd >= 0)
        close(w->rfd);
    if (w->wfd >= 0)
        close(w->wfd);
    free(w);
    return NULL;
}

void gl_worker_free(gl_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    if (w->running) {
        w->cancel_running = true;
        if (w->chat)
            gl_chat_cancel(w->chat);
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);

    struct ev_node *n = w->ev_head;
    while (n) {
        struct ev_node *next = n->next;
        free(n);
        n = next;
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    close(w->rfd);
    close(w->wfd);
    free(w);
}

void gl_worker_cancel(gl_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    for (struct req *r = w->rq_head; r; r = r->next)
        if (req_is_compute(r->type))
            r->dropped = true;
    if (w->running) {
        w->cancel_running = true;
        if (w->chat)
            gl_chat_cancel(w->chat);
    }
    pthread_mutex_unlock(&w->mu);
}

/* ---------------------------------------------------------------- posting */

static struct req *req_new(enum req_type type)
{
    struct req *r = calloc(1, sizeof *r);
    if (r)
        r->type = type;
    return r;
}

/* Queue r (NULL: allocation failed) and wake the worker; its seq, or 0. */
static uint64_t post(gl_worker *w, struct req *r)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&w->mu);
    r->seq = ++w->last_seq;
    if (w->rq_tail)
        w->rq_tail->next = r;
    else
        w->rq_head = r;
    w->rq_tail = r;
    uint64_t seq = r->seq;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return seq;
}

/* A request carrying a copy of s (which may be NULL); NULL when out of memory. */
static struct req *req_with_str(enum req_type type, const char *s)
{
    struct req *r = req_new(type);
    if (r && s && !(r->str = strdup(s))) {
        req_free(r);
        return NULL;
    }
    return r;
}

uint64_t gl_worker_load(gl_worker *w, const char *llm_path, const char *mmproj_path,
                        const struct gl_model_params *mp, const struct gl_chat_params *cp)
{
    assert(llm_path);
    struct req *r = req_with_str(REQ_LOAD, llm_path);
    if (!r)
        return 0;
    r->mp = mp ? *mp : gl_model_default_params();
    r->cp = cp ? *cp : gl_chat_default_params();
    if ((mmproj_path && !(r->mmproj = strdup(mmproj_path))) ||
        (r->cp.system && !(r->system = strdup(r->cp.system)))) {
        req_free(r);
        return 0;
    }
    r->cp.system = r->system;
    return post(w, r);
}

uint64_t gl_worker_add_image(gl_worker *w, const char *path)
{
    assert(path);
    return post(w, req_with_str(REQ_ADD_IMAGE, path));
}

uint64_t gl_worker_ask(gl_worker *w, const char *text)
{
    assert(text);
    return post(w, req_with_str(REQ_ASK, text));
}

uint64_t gl_worker_regenerate(gl_worker *w)
{
    return post(w, req_new(REQ_REGENERATE));
}

uint64_t gl_worker_undo(gl_worker *w)
{
    return post(w, req_new(REQ_UNDO));
}

uint64_t gl_worker_clear(gl_worker *w, bool keep_images)
{
    struct req *r = req_new(REQ_CLEAR);
    if (r)
        r->flag = keep_images;
    return post(w, r);
}

uint64_t gl_worker_set_sampling(gl_worker *w, const struct gl_sampler_params *sp)
{
    assert(sp);
    struct req *r = req_new(REQ_SET_SAMPLING);
    if (r)
        r->sp = *sp;
    return post(w, r);
}

uint64_t gl_worker_set_n_predict(gl_worker *w, int n)
{
    struct req *r = req_new(REQ_SET_N_PREDICT);
    if (r)
        r->n = n;
    return post(w, r);
}

uint64_t gl_worker_set_seed_fixed(gl_worker *w, bool fixed)
{
    struct req *r = req_new(REQ_SET_SEED_FIXED);
    if (r)
        r->flag = fixed;
    return post(w, r);
}

uint64_t gl_worker_set_system(gl_worker *w, const char *system)
{
    return post(w, req_with_str(REQ_SET_SYSTEM, system));
}

uint64_t gl_worker_with_chat(gl_worker *w, gl_worker_fn fn, void *user)
{
    assert(fn);
    struct req *r = req_new(REQ_WITH_CHAT);
    if (!r)
        return 0;
    r->fn = fn;
    r->user = user;
    return post(w, r);
}
