/*
 * test_worker.c - the background worker, driven headless by a poll() loop
 * (wait on the worker's fd with a timeout; no sleeps):
 *   - the fd: non-blocking, close-on-exec, readable exactly while events wait;
 *   - errors (ask/undo before a load, a missing model file, a missing image)
 *     come back as ERROR events with a message; with_chat runs without a chat;
 *   - load -> LOADED, add_image -> IMAGE_ADDED, ask (greedy) -> pieces and
 *     TURN_DONE; the pieces are the turn's answer, and the same answer (text
 *     and ids) as a direct gl_chat with the same settings;
 *   - many requests posted at once run in order, one final event each;
 *   - a consumer that lags gets at most one PROGRESS per request and stage,
 *     with the newest fraction, and every piece;
 *   - cancel during a long answer: TURN_DONE with stop "cancel" within 0.5 s,
 *     the partial answer kept, queued asks dropped, queued settings kept;
 *     a cancel while idle does not touch the next answer;
 *   - freeing the worker mid-answer returns within 1 s (ASan checks leaks).
 * Needs the tiny LLaVA pair from the reference data; SKIP without it.
 */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "glimpse/chat.h"
#include "glimpse/worker.h"
#include "tap.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The next event, waiting on the worker's fd for up to `timeout` s. */
static struct gl_event *wait_event(gl_worker *w, double timeout)
{
    double end = now() + timeout;
    for (;;) {
        struct gl_event *ev = gl_worker_next_event(w);
        if (ev)
            return ev;
        int ms = (int)((end - now()) * 1000.0) + 1;
        if (ms <= 0)
            return NULL;
        struct pollfd pf = {.fd = gl_worker_fd(w), .events = POLLIN};
        poll(&pf, 1, ms);
        if (now() >= end && !(pf.revents & POLLIN))
            return NULL;
    }
}

static bool fd_readable(gl_worker *w)
{
    struct pollfd pf = {.fd = gl_worker_fd(w), .events = POLLIN};
    return poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN);
}

/* What one request produced. */
struct result {
    uint64_t seq;
    bool got_final;
    bool foreign;                 /* an event of another request came in between */
    struct gl_event fin;          /* its text copied into msg */
    char msg[512];
    char pieces[65536];
    size_t len;
    int n_pieces;
    int n_progress[GL_STAGE_GENERATE + 1];
    double last_fraction[GL_STAGE_GENERATE + 1];
    double t_first_piece, t_final;
};

static void take(struct result *r, const struct gl_event *ev)
{
    if (ev->seq != r->seq)
        r->foreign = true;
    switch (ev->type) {
    case GL_EVENT_PROGRESS:
        if ((unsigned)ev->stage <= GL_STAGE_GENERATE) {
            r->n_progress[ev->stage]++;
            r->last_fraction[ev->stage] = ev->fraction;
        }
        break;
    case GL_EVENT_PIECE:
        if (!r->n_pieces++)
            r->t_first_piece = now();
        if (r->len + ev->len < sizeof r->pieces) {
            memcpy(r->pieces + r->len, ev->text, ev->len);
            r->len += ev->len;
            r->pieces[r->len] = '\0';
        }
        break;
    case GL_EVENT_NOTICE:
        tap_diag("notice: %s", ev->text);
        break;
    default:
        break;
    }
    if (ev->last) {
        r->got_final = true;
        r->t_final = now();
        r->fin = *ev;
        snprintf(r->msg, sizeof r->msg, "%s", ev->text);
        r->fin.text = r->msg;
    }
}

/* Collect request seq's events up to its final one (or the timeout). */
static struct result *collect(gl_worker *w, uint64_t seq, double timeout)
{
    struct result *r = calloc(1, sizeof *r);
    r->seq = seq;
    double end = now() + timeout;
    while (!r->got_final) {
        struct gl_event *ev = wait_event(w, end - now());
        if (!ev)
            break;
        take(r, ev);
        gl_event_free(ev);
    }
    if (!r->got_final)
        tap_diag("request %llu: no final event within %.1f s", (unsigned long long)seq, timeout);
    return r;
}

static bool is_final(const struct result *r, enum gl_event_type t)
{
    if (r->got_final && r->fin.type == t && !r->foreign)
        return true;
    tap_diag("  request %llu: got %s \"%s\"%s, want %s", (unsigned long long)r->seq,
             r->got_final ? gl_event_name(r->fin.type) : "nothing", r->msg,
             r->foreign ? " (after another request's events)" : "", gl_event_name(t));
    return false;
}

/* ---------------------------------------------------------------- a with_chat snapshot */

struct snap {
    int calls;
    bool had_chat;
    int n_turns;
    int n_predict;
    char user[256];
    char *answer;
    int32_t ids[4096];
    int n_ids;
    enum gl_stop stop;
};

static int snap_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct snap *s = user;
    (void)cb;
    (void)err;
    s->calls++;
    s->had_chat = c != NULL && m != NULL;
    if (!c)
        return 0;
    s->n_turns = gl_chat_n_turns(c);
    s->n_predict = gl_chat_get_params(c)->n_predict;
    free(s->answer);
    s->answer = NULL;
    if (s->n_turns > 0) {
        const struct gl_turn *t = gl_chat_turn(c, s->n_turns - 1);
        snprintf(s->user, sizeof s->user, "%s", t->user);
        s->answer = strdup(t->answer ? t->answer : "");
        s->n_ids = t->n_answer_ids < 4096 ? t->n_answer_ids : 4096;
        memcpy(s->ids, t->answer_ids, (size_t)s->n_ids * sizeof *s->ids);
        s->stop = t->stop;
    }
    return 0;
}

/* A with_chat that says so through a pipe: lets the test wait for the
 * worker without reading its events. */
static int ping_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    (void)m, (void)c, (void)cb, (void)err;
    return write(*(int *)user, "p", 1) == 1 ? 0 : -1;
}

static int fail_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    (void)user, (void)m, (void)c, (void)cb;
    if (err)
        *err = strdup("custom failure");
    return -1;
}

/* A cancel that lands after the worker took the request but before the
 * chat started (which clears the chat's flag): the worker must repeat it. */
struct early {
    gl_worker *w;
    int rv;
    enum gl_stop stop;
};

static int early_cancel_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb,
                           char **err)
{
    struct early *e = user;
    (void)m;
    gl_worker_cancel(e->w);      /* from the worker thread itself: any thread may */
    e->rv = gl_chat_ask(c, "Is this stopped?", cb, err);
    int n = gl_chat_n_turns(c);
    e->stop = e->rv == 0 && n > 0 ? gl_chat_turn(c, n - 1)->stop : GL_STOP_NONE;
    return e->rv < 0 ? -1 : 0;
}

/* The answer's text as streamed: the turn keeps it without the leading space
 * (chat.h), the pieces may carry it. */
static const char *streamed(const struct result *r, const char *answer)
{
    const char *p = r->pieces;
    if (*p == ' ' && answer && *answer != ' ')
        p++;
    return p;
}

/* ---------------------------------------------------------------- the direct reference */

struct direct {
    char text[65536];
    size_t len;
    int n_progress[GL_STAGE_GENERATE + 1];
    double last_fraction[GL_STAGE_GENERATE + 1];
};

static void d_progress(void *user, enum gl_stage stage, double fraction)
{
    struct direct *d = user;
    if ((unsigned)stage <= GL_STAGE_GENERATE) {
        d->n_progress[stage]++;
        d->last_fraction[stage] = fraction;
    }
}

static void d_piece(void *user, const char *utf8, size_t len, int32_t token)
{
    struct direct *d = user;
    (void)token;
    if (d->len + len < sizeof d->text) {
        memcpy(d->text + d->len, utf8, len);
        d->len += len;
        d->text[d->len] = '\0';
    }
}

/* ---------------------------------------------------------------- tests */

static void test_fd_and_errors(gl_worker *w, const char *image)
{
    int fd = gl_worker_fd(w);
    ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK), "fd is non-blocking");
    ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "fd is close-on-exec");
    ok(!fd_readable(w), "fd not readable while no event waits");

    uint64_t a = gl_worker_ask(w, "hello?");
    uint64_t u = gl_worker_undo(w);
    uint64_t im = gl_worker_add_image(w, image);
    struct snap s = {0};
    uint64_t q = gl_worker_with_chat(w, snap_fn, &s);
    uint64_t f = gl_worker_with_chat(w, fail_fn, NULL);
    ok(a > 0 && u == a + 1 && im == u + 1 && q == im + 1 && f == q + 1,
       "sequence numbers count up from the post functions");

    struct result *r = collect(w, a, 5);
    ok(is_final(r, GL_EVENT_ERROR) && r->fin.seq == a && r->fin.len > 0,
       "ask before load: ERROR with a message (\"%s\")", r->msg);
    free(r);
    r = collect(w, u, 5);
    ok(is_final(r, GL_EVENT_ERROR) && r->fin.len > 0, "undo before load: ERROR");
    free(r);
    r = collect(w, im, 5);
    ok(is_final(r, GL_EVENT_ERROR) && r->fin.len > 0, "add_image before load: ERROR");
    free(r);
    r = collect(w, q, 5);
    ok(is_final(r, GL_EVENT_DONE) && s.calls == 1 && !s.had_chat,
       "with_chat before load: runs once, without a chat, then DONE");
    free(r);
    r = collect(w, f, 5);
    ok(is_final(r, GL_EVENT_ERROR) && strcmp(r->msg, "custom failure") == 0,
       "with_chat's own error comes back as ERROR");
    free(r);
    ok(!fd_readable(w), "fd not readable once all events are taken");

    uint64_t l = gl_worker_load(w, "/nonexistent/missing-llm.gguf", NULL, NULL, NULL);
    r = collect(w, l, 5);
    ok(is_final(r, GL_EVENT_ERROR) && strstr(r->msg, "missing-llm.gguf"),
       "load of a missing file: ERROR naming it (\"%s\")", r->msg);
    free(r);
}

int main(void)
{
    if (!tap_refdata())
        tap_skip_all("no reference data (GLIMPSE_REFDATA)");
    char *llm = tap_refpath("models/tiny-llava-llm-q4_0.gguf");
    char *mmproj = tap_refpath("models/tiny-llava-mmproj-f16.gguf");
    char *checker = tap_refpath("images/checker_336x336.png");
    char *shapes = tap_refpath("images/gradient_shapes_640x480.png");
    if (access(llm, R_OK) != 0 || access(mmproj, R_OK) != 0 || access(checker, R_OK) != 0)
        tap_skip_all("tiny LLaVA pair or test image missing");
    double t_start = now();
    char *err = NULL;

    gl_worker *w = gl_worker_new(&err);
    ok(w != NULL, "gl_worker_new%s%s", err ? ": " : "", err ? err : "");
    if (!w)
        return tap_done();
    test_fd_and_errors(w, checker);

    /* ---- load, image, one greedy answer */
    struct gl_model_params mp = gl_model_default_params();
    mp.n_threads = 2;
    struct gl_chat_params cp = gl_chat_default_params();
    cp.sampling.temp = 0;
    cp.n_predict = 24;
    const char *question = "What is in this picture?";

    uint64_t s_load = gl_worker_load(w, llm, mmproj, &mp, &cp);
    uint64_t s_img = gl_worker_add_image(w, checker);
    uint64_t s_ask = gl_worker_ask(w, question);
    struct snap s1 = {0};
    uint64_t s_snap = gl_worker_with_chat(w, snap_fn, &s1);

    struct result *r = collect(w, s_load, 10);
    ok(is_final(r, GL_EVENT_LOADED), "load: LOADED");
    ok(r->n_progress[GL_STAGE_LOAD] >= 1 && r->last_fraction[GL_STAGE_LOAD] == 1.0,
       "load: PROGRESS for the load stage, ending at 1");
    free(r);
    r = collect(w, s_img, 10);
    ok(is_final(r, GL_EVENT_IMAGE_ADDED) && r->fin.index == 0 && r->fin.width == 336 &&
           r->fin.height == 336, "add_image: IMAGE_ADDED, image 0, 336x336");
    ok(r->n_progress[GL_STAGE_ENCODE] >= 1, "add_image: PROGRESS for the encode stage");
    free(r);
    struct result *ra = collect(w, s_ask, 10);
    ok(is_final(ra, GL_EVENT_TURN_DONE) && ra->fin.index == 0, "ask: TURN_DONE for turn 0");
    ok(ra->n_pieces > 0, "ask: %d pieces before it", ra->n_pieces);
    ok(ra->n_progress[GL_STAGE_PREFILL] >= 1, "ask: PROGRESS for the prefill stage");
    ok(ra->fin.stop == GL_STOP_EOS || ra->fin.stop == GL_STOP_LENGTH,
       "ask: stopped by %s", gl_stop_name(ra->fin.stop));
    ok(ra->fin.stats.answer_tokens > 0 && ra->fin.stats.answer_tokens <= 24 &&
           ra->fin.stats.prompt_tokens > 576, "ask: stats (%d prompt, %d answer tokens)",
       ra->fin.stats.prompt_tokens, ra->fin.stats.answer_tokens);
    ok(ra->fin.ctx.used >= ra->fin.stats.prompt_tokens + ra->fin.stats.answer_tokens - 1 &&
           ra->fin.ctx.n_ctx > 0, "TURN_DONE carries the context use (%d/%d)", ra->fin.ctx.used,
       ra->fin.ctx.n_ctx);
    r = collect(w, s_snap, 10);
    ok(is_final(r, GL_EVENT_DONE) && s1.calls == 1 && s1.had_chat && s1.n_turns == 1,
       "with_chat after the answer: one turn");
    free(r);
    is_str(streamed(ra, s1.answer), s1.answer, "the pieces are the turn's answer");
    is_str(s1.user, question, "the turn's question");
    tap_diag("answer: \"%s\"", s1.answer ? s1.answer : "(null)");

    /* ---- the same with gl_chat directly, no worker */
    struct direct d = {0};
    {
        gl_model *m = gl_model_load(llm, mmproj, &mp, &err);
        gl_chat *c = m ? gl_chat_new(m, &cp, &err) : NULL;
        struct gl_callbacks cb = {.on_progress = d_progress, .on_piece = d_piece, .user = &d};
        int rv = -1;
        if (c && gl_chat_add_image(c, checker, &cb, &err) == 0)
            rv = gl_chat_ask(c, question, &cb, &err);
        ok(rv == 0, "direct gl_chat answers%s%s", err ? ": " : "", err ? err : "");
        const struct gl_turn *t = rv == 0 ? gl_chat_turn(c, 0) : NULL;
        is_str(t ? t->answer : NULL, s1.answer, "direct gl_chat: the same answer");
        ok(t && t->n_answer_ids == s1.n_ids &&
               memcmp(t->answer_ids, s1.ids, (size_t)s1.n_ids * sizeof *s1.ids) == 0,
           "direct gl_chat: the same answer ids");
        is_str(d.text, ra->pieces, "direct gl_chat: the same pieces");
        free(err);
        err = NULL;
        gl_chat_free(c);
        gl_model_free(m);
    }
    free(ra);

    /* ---- many requests at once run in order */
    {
        struct snap sa = {0}, sb = {0};
        uint64_t q[10];
        q[0] = gl_worker_set_n_predict(w, 4);
        q[1] = gl_worker_ask(w, "one");
        q[2] = gl_worker_ask(w, "two");
        q[3] = gl_worker_regenerate(w);
        q[4] = gl_worker_undo(w);
        q[5] = gl_worker_with_chat(w, snap_fn, &sa);
        q[6] = gl_worker_add_image(w, "/nonexistent/picture.png");
        q[7] = gl_worker_clear(w, false);
        q[8] = gl_worker_with_chat(w, snap_fn, &sb);
        q[9] = gl_worker_set_n_predict(w, 24);
        static const enum gl_event_type want[10] = {
            GL_EVENT_DONE, GL_EVENT_TURN_DONE, GL_EVENT_TURN_DONE, GL_EVENT_TURN_DONE,
            GL_EVENT_DONE, GL_EVENT_DONE, GL_EVENT_ERROR, GL_EVENT_DONE, GL_EVENT_DONE,
            GL_EVENT_DONE};
        static const int want_turn[10] = {0, 1, 2, 2, 0, 0, 0, 0, 0, 0};
        bool in_order = true;
        int max_answer = 0;
        for (int i = 0; i < 10; i++) {
            r = collect(w, q[i], 10);
            if (!is_final(r, want[i]) ||
                (want[i] == GL_EVENT_TURN_DONE && r->fin.index != want_turn[i]))
                in_order = false;
            if (want[i] == GL_EVENT_TURN_DONE && r->fin.stats.answer_tokens > max_answer)
                max_answer = r->fin.stats.answer_tokens;
            if (i == 6)
                ok(strstr(r->msg, "picture.png") != NULL, "missing image: ERROR naming it (\"%s\")",
                   r->msg);
            free(r);
        }
        ok(in_order, "10 queued requests: one final event each, in order, as expected");
        ok(max_answer > 0 && max_answer <= 4, "set_n_predict applied before the queued asks");
        ok(sa.n_turns == 2 && strcmp(sa.user, "one") == 0, "undo after regenerate left 2 turns");
        ok(sb.n_turns == 0 && sb.n_predict == 4, "clear left none; n_predict still 4 then");
        free(sa.answer);
        free(sb.answer);
    }

    /* ---- a consumer that lags: PROGRESS coalesced, every piece kept */
    {
        int pp[2];
        if (pipe(pp) != 0)
            return tap_done();
        uint64_t i1 = gl_worker_add_image(w, shapes);
        uint64_t a1 = gl_worker_ask(w, "Describe the image.");
        struct snap s2 = {0};
        uint64_t sn = gl_worker_with_chat(w, snap_fn, &s2);
        uint64_t pg = gl_worker_with_chat(w, ping_fn, &pp[1]);
        struct pollfd pf = {.fd = pp[0], .events = POLLIN};
        ok(poll(&pf, 1, 10000) == 1, "the worker got through without the consumer");
        ok(fd_readable(w), "fd readable while events wait");
        struct result *ri = collect(w, i1, 1), *rq = collect(w, a1, 1), *rs = collect(w, sn, 1);
        bool at_most_one = true;
        for (int s = 0; s <= GL_STAGE_GENERATE; s++)
            if (ri->n_progress[s] > 1 || rq->n_progress[s] > 1)
                at_most_one = false;
        ok(is_final(ri, GL_EVENT_IMAGE_ADDED) && ri->fin.index >= 0 && ri->fin.width == 640 &&
               ri->fin.height == 480, "lagging: IMAGE_ADDED 640x480");
        ok(is_final(rq, GL_EVENT_TURN_DONE) && is_final(rs, GL_EVENT_DONE), "lagging: TURN_DONE");
        ok(at_most_one, "lagging: at most one PROGRESS per request and stage");
        tap_diag("direct run reported %d encode and %d prefill progress calls",
                 d.n_progress[GL_STAGE_ENCODE], d.n_progress[GL_STAGE_PREFILL]);
        ok(ri->last_fraction[GL_STAGE_ENCODE] == d.last_fraction[GL_STAGE_ENCODE] &&
               rq->last_fraction[GL_STAGE_PREFILL] == d.last_fraction[GL_STAGE_PREFILL],
           "lagging: the newest fraction is kept (encode %.3f, prefill %.3f)",
           ri->last_fraction[GL_STAGE_ENCODE], rq->last_fraction[GL_STAGE_PREFILL]);
        ok(rq->n_pieces > 0, "lagging: %d pieces", rq->n_pieces);
        is_str(streamed(rq, s2.answer), s2.answer, "lagging: every piece arrived");
        char b;
        ok(read(pp[0], &b, 1) == 1, "ping");
        r = collect(w, pg, 5);   /* the ping's own DONE, queued after its write */
        ok(is_final(r, GL_EVENT_DONE), "ping: DONE");
        free(r);
        ok(!fd_readable(w), "fd not readable after draining");
        close(pp[0]);
        close(pp[1]);
        free(ri), free(rq), free(rs);
        free(s2.answer);
    }

    /* ---- cancel while idle does not stop the next answer */
    {
        gl_worker_cancel(w);
        uint64_t a = gl_worker_ask(w, "Anything else?");
        r = collect(w, a, 10);
        ok(is_final(r, GL_EVENT_TURN_DONE) && r->fin.stop != GL_STOP_CANCEL && r->n_pieces > 0,
           "a cancel while idle leaves the next answer alone (%s)", gl_stop_name(r->fin.stop));
        free(r);
    }

    /* ---- a cancel just before the chat starts is not lost */
    {
        struct early e = {w, 0, GL_STOP_NONE};
        uint64_t q = gl_worker_with_chat(w, early_cancel_fn, &e);
        r = collect(w, q, 10);
        ok(r->got_final && (e.rv < 0 ? r->fin.type == GL_EVENT_CANCELLED : e.stop == GL_STOP_CANCEL),
           "a cancel before the chat began still stops it (%s, \"%s\")",
           e.rv < 0 ? "not begun" : gl_stop_name(e.stop), r->msg);
        free(r);
    }

    /* ---- cancel during a long answer */
    {
        uint64_t c0 = gl_worker_clear(w, false);
        uint64_t c1 = gl_worker_set_n_predict(w, -1);
        uint64_t a = gl_worker_ask(w, "Tell me a very long story.");
        uint64_t b = gl_worker_ask(w, "And another one.");
        uint64_t n = gl_worker_set_n_predict(w, 24);
        struct snap s3 = {0};
        uint64_t sn = gl_worker_with_chat(w, snap_fn, &s3);
        free(collect(w, c0, 5));
        free(collect(w, c1, 5));
        struct result *rl = calloc(1, sizeof *rl);
        rl->seq = a;
        double t_cancel = 0;
        while (!rl->got_final) {
            struct gl_event *ev = wait_event(w, 10);
            if (!ev)
                break;
            take(rl, ev);
            gl_event_free(ev);
            if (rl->n_pieces == 3 && !t_cancel) {
                t_cancel = now();
                gl_worker_cancel(w);
            }
        }
        double dt = rl->t_final - t_cancel;
        tap_diag("cancel -> TURN_DONE: %.1f ms (after %d pieces)", dt * 1000, rl->n_pieces);
        ok(t_cancel > 0 && is_final(rl, GL_EVENT_TURN_DONE) && rl->fin.stop == GL_STOP_CANCEL,
           "cancel: TURN_DONE with stop reason cancel (%s)", gl_stop_name(rl->fin.stop));
        ok(t_cancel > 0 && dt < 0.5, "cancel: within 0.5 s (%.1f ms)", dt * 1000);
        r = collect(w, b, 5);
        ok(is_final(r, GL_EVENT_CANCELLED) && r->n_pieces == 0, "cancel: the queued ask dropped");
        free(r);
        r = collect(w, n, 5);
        ok(is_final(r, GL_EVENT_DONE), "cancel: the queued setting still applied");
        free(r);
        r = collect(w, sn, 5);
        ok(is_final(r, GL_EVENT_DONE) && s3.n_turns == 1 && s3.stop == GL_STOP_CANCEL &&
               s3.n_predict == 24, "cancel: one turn, marked as stopped; n_predict 24");
        ok(s3.answer && s3.n_ids >= 3 && strcmp(streamed(rl, s3.answer), s3.answer) == 0,
           "cancel: the partial answer (%d tokens) is kept and is what was streamed", s3.n_ids);
        free(r);
        free(rl);
        free(s3.answer);
    }

    /* ---- free mid-answer */
    {
        gl_worker_set_n_predict(w, -1);
        uint64_t a = gl_worker_ask(w, "Once more, a long story.");
        struct snap s4 = {0};
        gl_worker_with_chat(w, snap_fn, &s4);
        struct gl_event *ev;
        bool piece = false;
        while (!piece && (ev = wait_event(w, 10))) {
            piece = ev->seq == a && ev->type == GL_EVENT_PIECE;
            gl_event_free(ev);
        }
        ok(piece, "long answer under way");
        double t0 = now();
        gl_worker_free(w);
        double dt = now() - t0;
        tap_diag("gl_worker_free mid-answer: %.1f ms", dt * 1000);
        ok(dt < 1.0, "free mid-answer returns within 1 s (%.1f ms)", dt * 1000);
        ok(s4.calls == 1 && !s4.had_chat, "a queued with_chat is still called once, without a chat");
        free(s4.answer);
    }
    gl_worker_free(NULL);

    tap_diag("whole test: %.2f s", now() - t_start);
    free(llm), free(mmproj), free(checker), free(shapes), free(s1.answer);
    return tap_done();
}
