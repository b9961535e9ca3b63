/*
 * generate.c - one-shot mode: load the pair, attach the images, answer each
 * -p in turn through the worker, streaming to stdout (or one JSON object per
 * turn), with progress on stderr; also the debug dumps of an image.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sigpipe.h"
#include "replay.h"
#include "sigbus.h"
#include "glimpse/chat.h"
#include "glimpse/clip.h"
#include "glimpse/gguf.h"
#include "glimpse/image.h"
#include "glimpse/pool.h"
#include "glimpse/session.h"
#include "glimpse/quant.h"
#include "glimpse/worker.h"
#include "util.h"

/* ------------------------------------------------------------ signals */

/* The poll loop reads them from the self-pipe (sigpipe.h). */
static int signals_install(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    return sigpipe_install(sigs, sizeof sigs / sizeof *sigs);
}

/* ------------------------------------------------------------ output helpers */

/* Dumps are written like sessions: temp file, fsync, rename. */
static bool write_file_atomic(const char *path, const void *data, size_t n, char **err)
{
    return session_write_file(path, data, n, 0644, err) == 0;
}

/* A progress bar on stderr: "encoding image  [#####.....]  48%  ETA 3s". */
struct bar {
    bool on;
    enum gl_stage stage;
    double t0;
    bool drawn;
};

static void bar_draw(struct bar *b, enum gl_stage s, double f)
{
    if (!b->on)
        return;
    if (!b->drawn || s != b->stage) {
        b->stage = s;
        b->t0 = gl_now();
    }
    static const char *const what[] = {"loading model", "encoding image", "reading prompt", "answering"};
    int w = 24, fill = (int)(f * w + 0.5);
    char bar[32];
    for (int i = 0; i < w; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    double el = gl_now() - b->t0;
    char eta[32] = "";
    if (f > 0.02 && f < 1.0)
        snprintf(eta, sizeof eta, "  ETA %.0fs", el / f * (1.0 - f));
    fprintf(stderr, "\r\033[K%-15s [%s] %3.0f%%%s", what[s < 4 ? s : 0], bar, f * 100.0, eta);
    fflush(stderr);
    b->drawn = true;
}

static void bar_clear(struct bar *b)
{
    if (b->on && b->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    b->drawn = false;
}

/* ------------------------------------------------------------ the turn's record */

struct turn_copy {
    int index;
    json_t *prompt;             /* prompt_tokens, images as {"image": ROWS} */
    json_t *output;             /* output_ids */
    char *text;
    int image_rows;
};

static int copy_turn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct turn_copy *tc = user;
    (void)m;
    (void)cb;
    if (!c)
        return err ? gl_err(err, "no conversation") : -1;
    const struct gl_turn *t = gl_chat_turn(c, tc->index);
    if (!t)
        return gl_err(err, "no turn %d", tc->index);
    struct gl_context_use u;
    gl_chat_context(c, &u);
    tc->prompt = json_array();
    for (int i = 0; i < t->n_prompt_ids; i++) {
        if (t->prompt_ids[i] == GL_PROMPT_IMAGE) {
            json_t *o = json_object();
            json_object_set_new(o, "image", json_integer(u.image_cost));
            json_array_append_new(tc->prompt, o);
        } else {
            json_array_append_new(tc->prompt, json_integer(t->prompt_ids[i]));
        }
    }
    tc->output = json_array();
    for (int i = 0; i < t->n_answer_ids; i++)
        json_array_append_new(tc->output, json_integer(t->answer_ids[i]));
    tc->text = strdup(t->answer);
    return tc->text ? 0 : gl_err(err, "out of memory");
}

/* ------------------------------------------------------------ the event loop */

struct run {
    gl_worker *w;
    const struct cli_opts *o;
    struct bar bar;
    bool interrupted;
    int signal;                 /* the first of SIGINT, SIGTERM, SIGHUP that came */
    bool out_closed;            /* stdout went away (EPIPE): the answer is stopped */
    bool at_line_start;         /* stdout */
    struct gl_event *done;      /* the last event of the awaited request */
};

/* Standard output cannot be written (EPIPE: the reader of a pipe is gone;
 * SIGPIPE is ignored so that --save still runs): stop generating for
 * nobody, and end as after an error. */
static void stdout_failed(struct run *r)
{
    if (r->out_closed)
        return;
    r->out_closed = true;
    bar_clear(&r->bar);
    fprintf(stderr, "glimpse: cannot write the answer: %s\n", strerror(errno));
    gl_worker_cancel(r->w);
}

/* 0 while nothing stopped the run; else its exit status: 128 + the signal
 * (130 for Ctrl-C), or 1 when standard output went away. */
static int stopped_status(const struct run *r)
{
    if (r->interrupted)
        return 128 + r->signal;
    return r->out_closed ? EXIT_RUNTIME : 0;
}

/* Wait for request seq's last event, printing pieces on the way. Returns the
 * last event (caller frees) or NULL if the worker went away. */
static struct gl_event *await(struct run *r, uint64_t seq)
{
    struct pollfd pf[2] = {
        {.fd = gl_worker_fd(r->w), .events = POLLIN},
        {.fd = sigpipe_fd(), .events = POLLIN},
    };
    for (;;) {
        struct gl_event *ev;
        while ((ev = gl_worker_next_event(r->w))) {
            if (ev->type == GL_EVENT_PROGRESS) {
                bar_draw(&r->bar, ev->stage, ev->fraction);
            } else if (ev->type == GL_EVENT_PIECE) {
                bar_clear(&r->bar);
                if (!r->o->json && ev->len && !r->out_closed) {
                    fwrite(ev->text, 1, ev->len, stdout);
                    if (fflush(stdout) != 0)
                        stdout_failed(r);
                    r->at_line_start = ev->text[ev->len - 1] == '\n';
                }
            } else if (ev->type == GL_EVENT_NOTICE) {
                bar_clear(&r->bar);
                if (!r->o->quiet)
                    fprintf(stderr, "glimpse: %s\n", ev->text);
            }
            if (ev->seq == seq && ev->last) {
                bar_clear(&r->bar);
                return ev;
            }
            gl_event_free(ev);
        }
        int n = poll(pf, 2, -1);
        if (n < 0 && errno != EINTR)
            return NULL;
        if (pf[1].revents & POLLIN) {
            int sigs[16];
            size_t k = sigpipe_read(sigs, 16);
            if (k == 0)
                continue;
            if (!r->interrupted) {
                /* Stop what runs; the caller ends after it (with --save,
                 * what was answered is saved). */
                r->interrupted = true;
                r->signal = sigs[0];
                gl_worker_cancel(r->w);
            } else {
                /* a second signal: leave now */
                bar_clear(&r->bar);
                fputc('\n', stdout);
                fflush(stdout);
                _exit(128 + r->signal);
            }
        }
    }
}

static void verbose_report(const struct gl_event *ev, double load_ms, double encode_ms)
{
    const struct gl_turn_stats *s = &ev->stats;
    fprintf(stderr, "load duration:        %.0f ms\n", load_ms);
    if (encode_ms > 0)
        fprintf(stderr, "image encode:         %.0f ms\n", encode_ms);
    fprintf(stderr, "prompt eval count:    %d positions\n", s->prompt_tokens);
    fprintf(stderr, "prompt eval duration: %.0f ms\n", s->prefill_ms);
    fprintf(stderr, "prompt eval rate:     %.2f tokens/s\n",
            s->prefill_ms > 0 ? s->prompt_tokens / (s->prefill_ms / 1e3) : 0.0);
    fprintf(stderr, "time to first token:  %.0f ms\n", s->ttft_ms);
    fprintf(stderr, "eval count:           %d tokens\n", s->answer_tokens);
    fprintf(stderr, "eval duration:        %.0f ms\n", s->decode_ms);
    fprintf(stderr, "eval rate:            %.2f tokens/s\n",
            s->decode_ms > 0 && s->answer_tokens > 1 ? (s->answer_tokens - 1) / (s->decode_ms / 1e3) : 0.0);
    fprintf(stderr, "context:              %d of %d positions\n", ev->ctx.used, ev->ctx.n_ctx);
}

/* Read all of stdin into a malloc'd string (a trailing newline is dropped).
 * Waits in poll() beside the signal pipe: the handlers restart reads
 * (SA_RESTART), so a blocking read would swallow a Ctrl-C or a SIGTERM
 * while a prompt is awaited. NULL on a read error, out of memory or a
 * signal (r->interrupted is then set). */
static char *read_stdin(struct run *r)
{
    size_t n = 0, cap = 4096;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *p = realloc(s, cap * 2);
            if (!p) {
                free(s);
                return NULL;
            }
            s = p;
            cap *= 2;
        }
        struct pollfd pf[2] = {
            {.fd = STDIN_FILENO, .events = POLLIN},
            {.fd = sigpipe_fd(), .events = POLLIN},
        };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            free(s);
            return NULL;
        }
        if (pf[1].revents & POLLIN) {
            int sigs[16];
            if (sigpipe_read(sigs, 16) > 0) {
                r->interrupted = true;
                r->signal = sigs[0];
                free(s);
                return NULL;
            }
        }
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
            continue;           /* (POLLNVAL: stdin closed; read says EBADF) */
        ssize_t k = read(STDIN_FILENO, s + n, cap - n - 1);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0) {
            free(s);
            return NULL;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    s[n] = 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

/* ------------------------------------------------------------ dumps without the LLM */

/* --dump-preprocessed / --dump-embd with only the mmproj: encode the first
 * image directly (no language model needed). */
static int dump_mmproj_only(const struct cli_opts *o)
{
    char *err = NULL;
    int rc = EXIT_RUNTIME;
    gguf_file *f = NULL;
    clip_model *cm = NULL;
    gl_pool *pool = NULL;
    struct gl_image img = {0};
    uint8_t *sq = NULL;
    float *chw = NULL, *rows = NULL;
    if (!(f = gguf_open(o->mmproj, &err)) || !(cm = clip_load(f, &err)))
        goto out;
    struct gl_image_opts io = {.no_exif = o->no_exif};
    if (gl_image_load(o->images[0], &io, &img, &err))
        goto out;
    const struct clip_hparams *hp = clip_hparams(cm);
    int s = hp->image_size;
    sq = malloc((size_t)s * (size_t)s * 3);
    if (!sq) {
        err = gl_strfmt("out of memory");
        goto out;
    }
    if (gl_image_square(&img, o->compat_llamacpp ? GL_PRE_LLAMACPP : GL_PRE_LLAVA, s, hp->pad_rgb, sq, &err))
        goto out;
    if (o->dump_pre && !write_file_atomic(o->dump_pre, sq, (size_t)s * (size_t)s * 3, &err))
        goto out;
    if (o->dump_embd) {
        chw = malloc(sizeof(float) * 3 * (size_t)s * (size_t)s);
        rows = malloc(sizeof(float) * (size_t)clip_n_rows(cm) * (size_t)clip_n_out(cm));
        if (!chw || !rows || !(pool = gl_pool_new(o->n_threads, &err))) {
            if (!err)
                err = gl_strfmt("out of memory");
            goto out;
        }
        gl_image_normalize(chw, sq, s, hp->mean, hp->std);
        struct clip_opts co = {.mode = o->compat_llamacpp ? CLIP_MODE_LLAMACPP : CLIP_MODE_LLAVA};
        if (clip_encode(cm, pool, chw, &co, rows, &err))
            goto out;
        if (!write_file_atomic(o->dump_embd, rows,
                               sizeof(float) * (size_t)clip_n_rows(cm) * (size_t)clip_n_out(cm), &err))
            goto out;
    }
    rc = EXIT_OK;
out:
    if (err) {
        fprintf(stderr, "glimpse: %s\n", err);
        free(err);
    }
    free(sq);
    free(chw);
    free(rows);
    gl_image_free(&img);
    gl_pool_free(pool);
    clip_free(cm);
    gguf_close(f);
    return rc;
}

struct dump_req {
    const struct cli_opts *o;
};

static int dump_with_chat(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    const struct cli_opts *o = ((struct dump_req *)user)->o;
    (void)m;
    (void)cb;
    if (!c)
        return err ? gl_err(err, "no conversation") : -1;
    if (o->dump_pre) {
        uint8_t *sq;
        int s;
        if (gl_chat_model_view(c, 0, &sq, &s, err))
            return -1;
        bool ok = write_file_atomic(o->dump_pre, sq, (size_t)s * (size_t)s * 3, err);
        free(sq);
        if (!ok)
            return -1;
    }
    if (o->dump_embd) {
        int rows, n_embd;
        const float *e = gl_chat_image_embd(c, 0, &rows, &n_embd);
        if (!e)
            return gl_err(err, "no image to dump");
        if (!write_file_atomic(o->dump_embd, e, sizeof(float) * (size_t)rows * (size_t)n_embd, err))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ one-shot */

int cli_generate(const struct cli_opts *o)
{
    bool dumping = o->dump_pre || o->dump_embd;
    if (dumping && o->n_images == 0) {
        fprintf(stderr, "glimpse: --dump-preprocessed and --dump-embd need an image\n");
        return EXIT_USAGE;
    }
    if (dumping && !o->model && o->n_prompts == 0) {
        if (!o->mmproj) {
            fprintf(stderr, "glimpse: the dumps need the vision projector: give --mmproj FILE\n");
            return EXIT_USAGE;
        }
        return dump_mmproj_only(o);
    }
    if (!o->model) {
        fprintf(stderr, "glimpse: no model given: use -m MODEL.gguf (see glimpse --help)\n");
        return EXIT_USAGE;
    }
    if (o->n_images > 0 && !o->mmproj) {
        fprintf(stderr, "glimpse: images need the vision projector: give its mmproj file with --mmproj\n");
        return EXIT_USAGE;
    }
    if (signals_install() || sigbus_install()) {
        fprintf(stderr, "glimpse: cannot set up signal handling\n");
        return EXIT_RUNTIME;
    }

    char *err = NULL;
    int rc = EXIT_RUNTIME;
    char *stdin_text = NULL;
    struct run r = {.o = o, .at_line_start = true};
    r.bar.on = !o->quiet && !o->json && isatty(STDERR_FILENO);
    if (!o->quiet && o->json && isatty(STDERR_FILENO))
        r.bar.on = true;
    if (!(r.w = gl_worker_new(&err))) {
        fprintf(stderr, "glimpse: %s\n", err);
        free(err);
        return EXIT_RUNTIME;
    }

    struct gl_model_params mp = gl_model_default_params();
    mp.n_threads = o->n_threads;
    struct gl_chat_params cp = gl_chat_default_params();
    cp.n_ctx = o->n_ctx;
    cp.kv_type = o->kv_type;
    cp.tmpl = o->tmpl;
    cp.system = o->system;
    cp.vision = o->compat_llamacpp ? GL_VISION_LLAMACPP : GL_VISION_LLAVA;
    cp.no_exif = o->no_exif;
    cp.sampling = o->sp;
    cp.n_predict = o->n_predict;
    cp.context_policy = o->context_policy;

    double t0 = gl_now();
    bool loaded = false;        /* a conversation exists: --save can save it */
    struct gl_event *ev = await(&r, gl_worker_load(r.w, o->model, o->mmproj, &mp, &cp));
    double load_ms = (gl_now() - t0) * 1e3, encode_ms = 0;
    if (!ev || ev->type != GL_EVENT_LOADED)
        goto fail_event;
    gl_event_free(ev);
    loaded = true;
    /* A signal while the model loaded (which cannot be interrupted):
     * nothing more is asked. */
    if (stopped_status(&r)) {
        rc = stopped_status(&r);
        goto out;
    }

    for (int i = 0; i < o->n_images; i++) {
        double te = gl_now();
        ev = await(&r, gl_worker_add_image(r.w, o->images[i]));
        if (!ev || ev->type != GL_EVENT_IMAGE_ADDED)
            goto fail_event;
        encode_ms += (gl_now() - te) * 1e3;
        gl_event_free(ev);
        if (stopped_status(&r)) {
            rc = stopped_status(&r);
            goto out;
        }
    }
    if (dumping) {
        struct dump_req dr = {o};
        ev = await(&r, gl_worker_with_chat(r.w, dump_with_chat, &dr));
        if (!ev || ev->type != GL_EVENT_DONE)
            goto fail_event;
        gl_event_free(ev);
    }

    for (int ti = 0; ti < o->n_prompts; ti++) {
        const char *text = o->prompts[ti];
        if (strcmp(text, "-") == 0) {
            free(stdin_text);
            if (!(stdin_text = read_stdin(&r))) {
                if (stopped_status(&r))
                    rc = stopped_status(&r);
                else
                    fprintf(stderr, "glimpse: could not read the prompt from standard input\n");
                goto out;
            }
            text = stdin_text;
        }
        ev = await(&r, gl_worker_ask(r.w, text));
        if (!ev)
            goto out;
        if (ev->type == GL_EVENT_CANCELLED) {
            gl_event_free(ev);
            if (!o->json && !r.out_closed)
                fputc('\n', stdout);
            rc = stopped_status(&r) ? stopped_status(&r) : EXIT_INTERRUPTED;
            goto out;
        }
        if (ev->type != GL_EVENT_TURN_DONE)
            goto fail_event;
        struct gl_event *done = ev;
        if (o->json) {
            struct turn_copy tc = {.index = done->index};
            ev = await(&r, gl_worker_with_chat(r.w, copy_turn, &tc));
            bool copied = ev && ev->type == GL_EVENT_DONE;
            gl_event_free(ev);
            if (copied) {
                json_t *j = json_object();
                json_object_set_new(j, "prompt_tokens", tc.prompt);
                json_object_set_new(j, "output_ids", tc.output);
                json_object_set_new(j, "output_text", json_string(tc.text ? tc.text : ""));
                json_object_set_new(j, "stop_reason", json_string(gl_stop_name(done->stop)));
                json_t *t = json_object();
                json_object_set_new(t, "load_ms", json_real(ti == 0 ? load_ms : 0.0));
                json_object_set_new(t, "prefill_ms", json_real(done->stats.prefill_ms));
                json_object_set_new(t, "prefill_tokens", json_integer(done->stats.prompt_tokens));
                json_object_set_new(t, "decode_ms", json_real(done->stats.decode_ms));
                json_object_set_new(t, "decode_tokens", json_integer(done->stats.answer_tokens));
                json_object_set_new(j, "timings", t);
                json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
                fputc('\n', stdout);
                json_decref(j);
            } else {
                json_decref(tc.prompt);
                json_decref(tc.output);
            }
            free(tc.text);
        } else {
            fputc('\n', stdout);
        }
        fflush(stdout);
        if (o->verbose)
            verbose_report(done, ti == 0 ? load_ms : 0, ti == 0 ? encode_ms : 0);
        bool stopped = done->stop == GL_STOP_CANCEL;
        gl_event_free(done);
        if (fflush(stdout) != 0 || ferror(stdout))
            stdout_failed(&r);
        if (stopped_status(&r) || stopped) {
            rc = stopped_status(&r) ? stopped_status(&r) : EXIT_INTERRUPTED;
            goto out;
        }
    }
    rc = EXIT_OK;
    goto out;

fail_event:
    if (ev && ev->type == GL_EVENT_CANCELLED) {
        rc = stopped_status(&r) ? stopped_status(&r) : EXIT_INTERRUPTED;
    } else {
        /* after a partial answer (an error mid-answer), end its line */
        if (!o->json && !r.at_line_start && !r.out_closed)
            fputc('\n', stdout);
        fflush(stdout);
        fprintf(stderr, "glimpse: %s\n", ev && ev->len ? ev->text : "the worker stopped unexpectedly");
        rc = EXIT_RUNTIME;
    }
    gl_event_free(ev);
out:
    /* saved even after an error or Ctrl-C: what was answered is kept */
    if (o->save && loaded && cli_save_session(r.w, o->save, !o->no_embed_images, o->quiet) && rc == EXIT_OK)
        rc = EXIT_RUNTIME;
    free(stdin_text);
    gl_worker_free(r.w);
    return rc;
}
