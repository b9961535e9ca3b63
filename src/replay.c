/*
 * replay.c - the command line's session modes: replay a saved conversation
 * as it happened (no model needed), verify it by re-running every turn on
 * the model, export it as Markdown or JSON, list the autosaved sessions.
 *
 * Everything printed from a session is untrusted text: control characters
 * (other than newline and tab) are shown as U+FFFD so that a session file
 * cannot drive the terminal.
 */
#include "config.h"

#include "replay.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "glimpse/chat.h"
#include "glimpse/image.h"
#include "glimpse/session.h"
#include "glimpse/sha256.h"
#include "glimpse/worker.h"
#include "models.h"
#include "ui/preview.h"
#include "util.h"

int replay_parse_speed(const char *s, double *out)
{
    if (strcmp(s, "max") == 0) {
        *out = 0;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6)
        return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------ output */

/* Write n bytes of untrusted UTF-8 with control characters neutralised. */
static void put_text(FILE *f, const char *s, size_t n)
{
    static const char repl[] = "\xEF\xBF\xBD";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            fputs(repl, f);
        } else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F) {
            fputs(repl, f);     /* a C1 control (U+0080..U+009F) */
            i++;
        } else {
            fputc(c, f);
        }
    }
}

static void put_str(FILE *f, const char *s)
{
    put_text(f, s, strlen(s));
}

/* A quoted, escaped one-line form for the verify report. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void sleep_until(double t)
{
    double d = t - gl_now();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Ctrl-C during a replay on a terminal: leave the colours as they were. */
static void on_interrupt(int sig)
{
    (void)sig;
    static const char reset[] = "\033[0m\n";
    ssize_t r = write(STDOUT_FILENO, reset, sizeof reset - 1);
    (void)r;
    _exit(EXIT_INTERRUPTED);
}

/* ------------------------------------------------------------ replay */

struct player {
    const session *s;
    bool tty;
    double speed;               /* 0: no delays */
    bool have_preview;
    struct preview_caps caps;
    int cols;
};

static void show_image(struct player *p, int id)
{
    const struct session_image *im = session_image(p->s, id);
    if (p->tty && p->have_preview && im->data) {
        struct gl_image img = {0};
        struct gl_image_opts io = {.no_exif = false};
        struct preview_frame fr = {0};
        char *err = NULL;
        int cols = p->cols > 64 ? 64 : p->cols, rows = 20;
        if (gl_image_load_mem(im->data, im->len, im->path ? im->path : "image", &io, &img, &err) == 0 &&
            preview_render(&p->caps, PREVIEW_BLOCKS, img.rgb, img.w, img.h, cols, rows, &fr, &err) == 0 &&
            fr.rows > 0) {
            /* make room first (the frame never scrolls), draw, step below it */
            for (int i = 0; i < fr.rows; i++)
                fputc('\n', stdout);
            fprintf(stdout, "\033[%dA", fr.rows);
            fwrite(fr.data, 1, fr.len, stdout);
            fprintf(stdout, "\033[%dB\r", fr.rows);
        }
        preview_frame_free(&fr);
        gl_image_free(&img);
        free(err);
    }
    fputs(p->tty ? "\033[2m[image: " : "[image: ", stdout);
    put_str(stdout, im->path && *im->path ? im->path : "(no name)");
    fprintf(stdout, " %dx%d%s]%s\n", im->width, im->height, im->data ? "" : ", not embedded",
            p->tty ? "\033[0m" : "");
}

/* The answer of turn t, token by token at the recorded pace. Each token's
 * text is answer[end(i-1), end(i)); without recorded ends the text is
 * spread evenly over the tokens. Ends are moved to character boundaries so
 * that no chunk splits a UTF-8 sequence. */
static void play_answer(struct player *p, const struct session_turn *t, double t0)
{
    const char *a = t->answer;
    size_t len = strlen(a), prev = 0;
    int n = t->n_answer_ids;
    for (int i = 0; i < n; i++) {
        size_t end = t->piece_ends ? (size_t)t->piece_ends[i] : (size_t)((double)len * (i + 1) / n);
        if (end > len)
            end = len;
        while (end < len && ((unsigned char)a[end] & 0xC0) == 0x80)
            end++;
        if (p->speed > 0 && t->token_ms)
            sleep_until(t0 + t->token_ms[i] / 1e3 / p->speed);
        if (end > prev) {
            put_text(stdout, a + prev, end - prev);
            prev = end;
            if (p->speed > 0)
                fflush(stdout);
        }
    }
    if (prev < len)
        put_text(stdout, a + prev, len - prev);
}

static int replay_plain(const struct replay_opts *o, const session *s)
{
    struct player p = {.s = s, .tty = isatty(STDOUT_FILENO) == 1};
    p.speed = o->speed >= 0 ? o->speed : (p.tty ? 1.0 : 0.0);
    struct session_info in;
    session_get_info(s, &in);
    if (p.tty) {
        struct sigaction sa = {0};
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        struct winsize ws;
        p.cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
        /* no terminal queries: the environment says enough for blocks */
        preview_probe(STDIN_FILENO, STDOUT_FILENO, 0, &p.caps);
        p.have_preview = p.caps.utf8;
        char when[32] = "?";
        if (in.created > 0)
            session_time_format(in.created, false, when);
        fputs("\033[2m", stdout);
        fputs("session ", stdout);
        put_str(stdout, o->file);
        fputs(" · ", stdout);
        put_str(stdout, in.model_name ? in.model_name : in.llm.file ? in.llm.file : "unknown model");
        fprintf(stdout, " · %d turn%s · %s\033[0m\n\n", in.n_turns, in.n_turns == 1 ? "" : "s", when);
    }
    double prev_end = 0;        /* wall clock end of the previous answer */
    for (int k = 0; k < in.n_turns; k++) {
        const struct session_turn *t = session_turn(s, k);
        if (p.speed > 0 && k > 0) {
            /* the pause the user took, at most 2 s */
            double gap = t->started > 0 && prev_end > 0 ? t->started - prev_end : 0.5;
            sleep_until(gl_now() + (gap < 0 ? 0 : gap > 2 ? 2 : gap) / p.speed);
        }
        for (int j = 0; j < t->n_images; j++)
            show_image(&p, t->images[j]);
        fputs(p.tty ? "\033[1myou:\033[0m " : "you: ", stdout);
        put_str(stdout, t->user);
        fputs(p.tty ? "\n\033[1mglimpse:\033[0m " : "\nglimpse: ", stdout);
        fflush(stdout);
        play_answer(&p, t, gl_now());
        fputs("\n\n", stdout);
        fflush(stdout);
        double last = t->n_answer_ids && t->token_ms ? t->token_ms[t->n_answer_ids - 1] / 1e3 : 0;
        prev_end = t->started > 0 ? t->started + last : 0;
    }
    for (int j = 0; j < in.n_pending; j++)
        show_image(&p, in.pending[j]);
    fflush(stdout);
    return ferror(stdout) ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------ verify */

struct waiter {
    gl_worker *w;
    bool bar, quiet;
    int turn, n_turns;
};

static struct gl_event *await(struct waiter *wt, uint64_t seq)
{
    if (!seq)
        return NULL;
    struct pollfd pf = {.fd = gl_worker_fd(wt->w), .events = POLLIN};
    for (;;) {
        struct gl_event *ev;
        while ((ev = gl_worker_next_event(wt->w))) {
            if (ev->type == GL_EVENT_PROGRESS && wt->bar) {
                if (wt->turn > 0)
                    fprintf(stderr, "\r\033[Kturn %d/%d: %s %3.0f%%", wt->turn, wt->n_turns,
                            gl_stage_name(ev->stage), ev->fraction * 100);
                else
                    fprintf(stderr, "\r\033[K%s %3.0f%%", gl_stage_name(ev->stage), ev->fraction * 100);
                fflush(stderr);
            } else if (ev->type == GL_EVENT_NOTICE && !wt->quiet) {
                fprintf(stderr, "%sglimpse: %s\n", wt->bar ? "\r\033[K" : "", ev->text);
            }
            if (ev->seq == seq && ev->last) {
                if (wt->bar) {
                    fputs("\r\033[K", stderr);
                    fflush(stderr);
                }
                return ev;
            }
            gl_event_free(ev);
        }
        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            return NULL;
    }
}

struct verify_req {
    const session *s;
    int k;
    struct session_diff diff;
};

static int verify_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct verify_req *r = user;
    if (!c)
        return err ? gl_err(err, "no model is loaded") : -1;
    return session_verify_turn(r->s, r->k, m, c, cb, &r->diff, err) ? -1 : 0;
}

static void fp_short(const uint8_t fp[32], char out[13])
{
    char hex[65];
    gl_sha256_hex(fp, hex);
    memcpy(out, hex, 12);
    out[12] = 0;
}

/* Compare a model file with the session's record of it; prints the result.
 * Returns true when they match (or nothing was recorded). */
static bool check_fingerprint(const char *what, const struct session_model_id *rec, const char *path)
{
    if (!rec->present || !rec->has_fingerprint)
        return true;
    if (!path) {
        printf("%s: the session was recorded with %s; none is loaded now\n", what, rec->file ? rec->file : "one");
        return false;
    }
    uint8_t fp[32];
    char *err = NULL;
    if (session_fingerprint(path, fp, &err)) {
        printf("%s: %s\n", what, err);
        free(err);
        return false;
    }
    char a[13], b[13];
    fp_short(rec->fingerprint, a);
    fp_short(fp, b);
    if (memcmp(fp, rec->fingerprint, 32) == 0)
        return true;
    printf("%s: fingerprint mismatch: the session was recorded with ", what);
    put_str(stdout, rec->file ? rec->file : "?");
    printf(" (%llu bytes, %s), this is ", (unsigned long long)rec->size, a);
    put_str(stdout, path);
    printf(" (%s): answers may differ\n", b);
    return false;
}

/* Which files to load: -m/--mmproj as usual; without -m, the known model
 * whose file name and size match the session's record, else the usual
 * single model. */
static int pick_models(const struct replay_opts *o, const struct session_info *in, struct gl_model_pair *pair)
{
    char *note = NULL, *err = NULL;
    const char *m = o->model, *mm = o->mmproj;
    struct gl_model_pair *all = NULL;
    size_t n = 0;
    if (!m && in->llm.present && in->llm.file && models_list(&all, &n, &err) == 0) {
        for (size_t i = 0; i < n && !m; i++) {
            const char *b = strrchr(all[i].llm, '/');
            b = b ? b + 1 : all[i].llm;
            if (strcmp(b, in->llm.file) == 0 && (!in->llm.size || all[i].llm_bytes == in->llm.size)) {
                m = all[i].llm;
                if (!mm)
                    mm = all[i].mmproj;
            }
        }
    }
    free(err);
    err = NULL;
    int rc = models_resolve(m, mm, pair, &note, &err);
    models_list_free(all, n);
    if (note && !o->quiet)
        fprintf(stderr, "glimpse: %s\n", note);
    free(note);
    if (rc) {
        fprintf(stderr, "glimpse: --verify needs the model: %s\n", err ? err : "none found (use -m and --mmproj)");
        free(err);
        return -1;
    }
    return 0;
}

static int replay_verify(const struct replay_opts *o, const session *s)
{
    struct session_info in;
    session_get_info(s, &in);
    struct gl_model_pair pair = {0};
    if (pick_models(o, &in, &pair))
        return EXIT_USAGE;
    /* a model that is not the recorded one is reported first, then tried */
    check_fingerprint("model", &in.llm, pair.llm);
    if (in.mmproj.present || pair.mmproj)
        check_fingerprint("mmproj", &in.mmproj, pair.mmproj);
    fflush(stdout);

    char *err = NULL;
    int rc = EXIT_RUNTIME;
    struct waiter wt = {.quiet = o->quiet, .bar = !o->quiet && isatty(STDERR_FILENO), .n_turns = in.n_turns};
    if (!(wt.w = gl_worker_new(&err))) {
        fprintf(stderr, "glimpse: %s\n", err);
        free(err);
        models_pair_free(&pair);
        return EXIT_RUNTIME;
    }
    struct gl_model_params mp = gl_model_default_params();
    mp.n_threads = o->n_threads;
    struct gl_chat_params cp = gl_chat_default_params();
    session_chat_params(s, &cp);
    struct gl_event *ev = await(&wt, gl_worker_load(wt.w, pair.llm, pair.mmproj, &mp, &cp));
    if (!ev || ev->type != GL_EVENT_LOADED) {
        fprintf(stderr, "glimpse: %s\n", ev && ev->len ? ev->text : "the model could not be loaded");
        gl_event_free(ev);
        goto out;
    }
    gl_event_free(ev);

    int same = 0, differ = 0;
    for (int k = 0; k < in.n_turns; k++) {
        struct verify_req vr = {.s = s, .k = k};
        wt.turn = k + 1;
        ev = await(&wt, gl_worker_with_chat(wt.w, verify_fn, &vr));
        if (!ev || ev->type != GL_EVENT_DONE) {
            printf("turn %d: not verified: %s\n", k + 1, ev && ev->len ? ev->text : "the worker stopped");
            gl_event_free(ev);
            session_diff_free(&vr.diff);
            goto out;
        }
        gl_event_free(ev);
        const struct session_diff *d = &vr.diff;
        if (d->identical) {
            same++;
            printf("turn %d: identical (%d token%s, %s)\n", k + 1, d->n_expected, d->n_expected == 1 ? "" : "s",
                   gl_stop_name(d->expected_stop));
        } else {
            differ++;
            printf("turn %d: differs at token %d: expected ", k + 1, d->index);
            if (d->expected >= 0) {
                printf("%d ", d->expected);
                put_quoted(stdout, d->expected_piece);
            } else {
                printf("the end (%s)", gl_stop_name(d->expected_stop));
            }
            printf(", got ");
            if (d->got >= 0) {
                printf("%d ", d->got);
                put_quoted(stdout, d->got_piece);
            } else {
                printf("the end (%s)", gl_stop_name(d->got_stop));
            }
            printf("\n  before:   ");
            put_quoted(stdout, d->before ? d->before : "");
            printf("\n  expected: ");
            put_quoted(stdout, d->expected_after ? d->expected_after : "");
            printf("\n  got:      ");
            put_quoted(stdout, d->got_after ? d->got_after : "");
            printf("\n");
        }
        fflush(stdout);
        session_diff_free(&vr.diff);
    }
    printf("verify: %d of %d turn%s identical\n", same, in.n_turns, in.n_turns == 1 ? "" : "s");
    rc = differ ? REPLAY_EXIT_DIFFERS : EXIT_OK;
out:
    gl_worker_free(wt.w);
    models_pair_free(&pair);
    return rc;
}

int cli_save_session(gl_worker *w, const char *path, bool embed_images, bool quiet)
{
    struct session_save_req req = {.path = path, .opts = session_default_opts()};
    req.opts.embed_images = embed_images;
    struct waiter wt = {.w = w, .quiet = quiet};
    struct gl_event *ev = await(&wt, gl_worker_with_chat(w, session_save_fn, &req));
    bool saved = ev && ev->type == GL_EVENT_DONE;
    if (!saved)
        fprintf(stderr, "glimpse: %s\n", ev && ev->len ? ev->text : "the session could not be saved");
    gl_event_free(ev);
    return saved ? 0 : -1;
}

int cli_replay(const struct replay_opts *o)
{
    char *err = NULL;
    session *s = session_load(o->file, &err);
    if (!s) {
        fprintf(stderr, "glimpse: %s\n", err);
        free(err);
        return EXIT_RUNTIME;
    }
    int rc = o->verify ? replay_verify(o, s) : replay_plain(o, s);
    session_free(s);
    return rc;
}

/* ------------------------------------------------------------ export and list */

int cli_export(const char *file, const char *out, bool quiet)
{
    char *err = NULL;
    session *s = session_load(file, &err);
    int missing = 0;
    if (!s || session_export(s, out, &missing, &err)) {
        fprintf(stderr, "glimpse: %s\n", err ? err : "out of memory");
        free(err);
        session_free(s);
        return EXIT_RUNTIME;
    }
    if (missing && !quiet)
        fprintf(stderr, "glimpse: %d image%s not embedded in the session: linked by name only\n", missing,
                missing == 1 ? " is" : "s are");
    session_free(s);
    return EXIT_OK;
}

/* At most `max` bytes of s on one line, cut at a character boundary. */
static void put_line_cut(const char *s, size_t max)
{
    size_t n = 0, len = strlen(s);
    while (n < len && n < max && s[n] != '\n' && s[n] != '\r')
        n++;
    if (n < len && n == max)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    put_text(stdout, s, n);
    if (n < len)
        fputs("…", stdout);
}

int cli_list_sessions(void)
{
    char *err = NULL;
    char *dir = session_dir(&err);
    struct session_entry *e = NULL;
    size_t n = 0;
    if (!dir || session_list(dir, &e, &n, &err)) {
        fprintf(stderr, "glimpse: %s\n", err ? err : "out of memory");
        free(err);
        free(dir);
        return EXIT_RUNTIME;
    }
    if (n == 0) {
        fprintf(stderr, "glimpse: no sessions in %s\n", dir);
        free(dir);
        return EXIT_OK;
    }
    printf("%-16s  %5s  %6s  %-40s  %s\n", "DATE", "TURNS", "IMAGES", "FIRST QUESTION", "FILE");
    for (size_t i = 0; i < n; i++) {
        char when[32] = "?";
        time_t t = (time_t)e[i].when;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        printf("%-16s  %5d  %6d  ", when, e[i].n_turns, e[i].n_images);
        /* pad by characters, not bytes */
        size_t shown = 0;
        const char *q = e[i].first_question;
        put_line_cut(q, 40);
        for (const char *c = q; *c && *c != '\n' && c - q < 40; c++)
            shown += ((unsigned char)*c & 0xC0) != 0x80;
        if (strlen(q) > 40 || strchr(q, '\n'))
            shown++;
        for (; shown < 40; shown++)
            fputc(' ', stdout);
        printf("  ");
        put_str(stdout, e[i].path);
        fputc('\n', stdout);
    }
    session_list_free(e, n);
    free(dir);
    return EXIT_OK;
}
