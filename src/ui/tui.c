/*
 * tui.c - the interactive chat: start-up and shutdown, signals, the poll()
 * loop, and what keys and entered lines do (see tui.h).
 *
 * The loop waits on three descriptors: the terminal (keys.c splits its
 * bytes into our keys and readline's), the worker's event fd (its events go
 * to requests.c, which knows what each request was for), and a self-pipe
 * the signal handlers write to (SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGTSTP,
 * SIGCONT). After each batch the screen is drawn once (at most 60 times a
 * second while tokens stream; at once after a key).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "models.h"
#include "sigpipe.h"
#include "ui/app.h"
#include "ui/attach.h"
#include "ui/commands.h"
#include "ui/input.h"
#include "ui/keys.h"
#include "ui/screen.h"
#include "ui/tui.h"
#include "util.h"

#define FRAME_S (1.0 / 60)      /* redraw at most this often while tokens stream */
#define HINT_S 4.0

/* ------------------------------------------------------------ signals */

static void on_fatal(int sig)
{
    screen_emergency_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int loop_signals[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT};

static int signals_install(void)
{
    if (sigpipe_install(loop_signals, sizeof loop_signals / sizeof *loop_signals))
        return -1;
    /* A crash, or a SIGQUIT asking for a core dump (Ctrl-\ is a key in raw
     * mode, so it comes from kill), still gives the terminal back. Not
     * SIGBUS: a model file cut under us is src/sigbus.c's, which main.c
     * installs with screen_emergency_restore as its cleanup (the same
     * restore, then "model file changed on disk" and status 1). */
    struct sigaction fa = {0};
    fa.sa_handler = on_fatal;
    sigemptyset(&fa.sa_mask);
    fa.sa_flags = SA_RESETHAND;
    static const int fatal[] = {
#if !defined(__SANITIZE_ADDRESS__)
        SIGSEGV, SIGFPE, SIGILL, SIGABRT,   /* AddressSanitizer reports these itself */
#endif
        SIGQUIT,
    };
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        sigaction(fatal[i], &fa, NULL);
    return 0;
}

static void signals_restore(void)
{
    sigpipe_restore();
}

/* ------------------------------------------------------------ small helpers */

void app_dirty(struct tui *t)
{
    t->dirty = true;
}

void app_note(struct tui *t, enum tr_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s) {
        transcript_add(t->tr, kind, s);
        free(s);
    }
    t->dirty = true;
}

void app_hint(struct tui *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->hint, sizeof t->hint, fmt, ap);
    va_end(ap);
    t->hint_until = gl_now() + HINT_S;
    t->dirty = true;
}

const char *app_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

void app_quit(struct tui *t, int code)
{
    t->quit = true;
    t->exit_code = code;
}

void app_scroll(struct tui *t, int rows)
{
    t->scroll += rows;
    if (t->scroll < 0)
        t->scroll = 0;
    t->dirty = true;
}

void app_set_view(struct tui *t, bool model_view)
{
    if (!t->have_img) {
        app_hint(t, "no image yet: /image PATH attaches one");
        return;
    }
    t->view_model = model_view;
    t->pane_hidden = false;
    screen_image_changed(t);
}

void app_set_pane(struct tui *t, bool hidden)
{
    t->pane_hidden = hidden;
    screen_image_changed(t);
}

/* ------------------------------------------------------------ what a typed line means */



static char *trim(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return strndup(s, n);
}

static void submit_message(struct tui *t, const char *text)
{
    struct attach_result ar;
    if (attach_extract(text, attach_is_image, NULL, &ar)) {
        app_note(t, TR_ERROR, "out of memory");
        return;
    }
    if (ar.n_paths > 0 && !t->mmproj) {
        app_note(t, TR_ERROR, "this model has no vision projector (--mmproj): it cannot see images");
        attach_result_free(&ar);
        return;
    }
    for (int i = 0; i < ar.n_paths; i++)
        app_attach(t, ar.paths[i]);
    if (ar.text[0])
        app_ask(t, ar.text);
    attach_result_free(&ar);
}

void app_submit(struct tui *t, const char *line)
{
    char *text = trim(line);
    if (!text)
        return;
    if (!*text) {
        free(text);
        return;
    }
    input_history_add(text);
    t->scroll = 0;
    if (text[0] == '/' && text[1] == '/') {
        submit_message(t, text + 1);
    } else if (text[0] == '/') {
        /* A command, unless the first word is an image path (dropped). */
        size_t n = strcspn(text, " \t\n");
        char *word = strndup(text, n);
        char *err = NULL;
        const struct cmd_entry *e = word ? cmd_lookup(word + 1, &err) : NULL;
        struct attach_result probe = {0};
        bool is_path = !e && word && attach_extract(word, attach_is_image, NULL, &probe) == 0 &&
                       probe.n_paths == 1;
        attach_result_free(&probe);
        if (is_path) {
            submit_message(t, text);
        } else if (e) {
            free(err);
            err = NULL;
            if (cmd_run(t, text, &err))
                app_note(t, TR_ERROR, "%s", err ? err : "command failed");
        } else {
            app_note(t, TR_ERROR, "%s", err ? err : "unknown command (see /help)");
        }
        free(err);
        free(word);
    } else {
        submit_message(t, text);
    }
    free(text);
    t->dirty = true;
}

/* ------------------------------------------------------------ input hooks */

static void on_line(void *user, char *line)
{
    struct tui *t = user;
    t->intr_armed = false;
    if (!line) {
        app_quit(t, EXIT_OK);   /* Ctrl-D on an empty line */
        return;
    }
    /* The multi-line mode: a line """ starts it, a line ending in """ ends it. */
    size_t n = strlen(line);
    if (t->multiline) {
        bool end = n >= 3 && strcmp(line + n - 3, "\"\"\"") == 0;
        if (end)
            line[n - 3] = 0;
        size_t have = t->ml_text ? strlen(t->ml_text) : 0;
        char *s = realloc(t->ml_text, have + strlen(line) + 2);
        if (s) {
            t->ml_text = s;
            strcpy(s + have, line);
            if (!end)
                strcat(s, "\n");
        }
        if (end) {
            t->multiline = false;
            input_set_prompt("> ");
            char *text = t->ml_text;
            t->ml_text = NULL;
            if (text)
                app_submit(t, text);
            free(text);
        }
        free(line);
        return;
    }
    const char *p = line;
    while (*p == ' ')
        p++;
    if (strncmp(p, "\"\"\"", 3) == 0) {
        const char *rest = p + 3;
        size_t rn = strlen(rest);
        if (rn >= 3 && strcmp(rest + rn - 3, "\"\"\"") == 0) {
            char *one = strndup(rest, rn - 3);
            if (one)
                app_submit(t, one);
            free(one);
        } else {
            t->multiline = true;
            free(t->ml_text);
            t->ml_text = NULL;
            if (*rest && asprintf(&t->ml_text, "%s\n", rest) < 0)
                t->ml_text = NULL;
            input_set_prompt("... ");
            app_hint(t, "multi-line question: end it with \"\"\" (Ctrl-C drops it)");
        }
        free(line);
        return;
    }
    app_submit(t, line);
    free(line);
}

static enum input_complete on_complete(void *user, const char *line, int start, int end,
                                       const char *const **words, int *n_words)
{
    (void)user;
    return cmd_complete(line, start, end, words, n_words);
}

static void on_matches(void *user, char **matches, int n)
{
    struct tui *t = user;
    size_t cap = 256, o = 0;
    char *s = malloc(cap);
    if (!s)
        return;
    s[0] = 0;
    for (int i = 0; i < n && i < 200; i++) {
        size_t l = strlen(matches[i]);
        if (o + l + 3 > cap) {
            cap = (o + l + 3) * 2;
            char *p = realloc(s, cap);
            if (!p)
                break;
            s = p;
        }
        o += (size_t)sprintf(s + o, "%s%s", o ? "  " : "", matches[i]);
    }
    app_note(t, TR_INFO, "%s", s);
    free(s);
}

/* ------------------------------------------------------------ keys */

static void on_key(void *user, const struct keys_event *k)
{
    struct tui *t = user;
    if (k->kind != KEYS_INTR)
        t->intr_armed = false;
    switch (k->kind) {
    case KEYS_TEXT:
        input_feed(k->bytes, k->len);
        break;
    case KEYS_PASTE:
        input_insert(k->bytes, k->len);
        break;
    case KEYS_PGUP:
        app_scroll(t, screen_transcript_rows(t) - 2);
        break;
    case KEYS_PGDN:
        app_scroll(t, -(screen_transcript_rows(t) - 2));
        break;
    case KEYS_WHEEL_UP:
        app_scroll(t, 3);
        break;
    case KEYS_WHEEL_DOWN:
        app_scroll(t, -3);
        break;
    case KEYS_ESC:
        if (app_busy(t)) {
            app_stop(t);
            app_hint(t, "stopping");
        } else if (input_wants_esc()) {
            input_feed("\033", 1);
        }
        break;
    case KEYS_INTR:
        if (app_busy(t)) {
            app_stop(t);
            app_hint(t, "stopping");
        } else if (!input_is_empty() || t->multiline) {
            input_clear();
            if (t->multiline) {
                t->multiline = false;
                free(t->ml_text);
                t->ml_text = NULL;
                input_set_prompt("> ");
            }
        } else if (t->intr_armed) {
            app_quit(t, EXIT_OK);
        } else {
            t->intr_armed = true;
            app_hint(t, "Ctrl-C again leaves glimpse (so do Ctrl-D and /quit)");
        }
        break;
    case KEYS_SUSPEND:
        screen_suspend(t);
        break;
    case KEYS_REDRAW:
        screen_repaint(t);
        break;
    case KEYS_F2:
        app_set_pane(t, !t->pane_hidden);
        break;
    case KEYS_F3:
        app_set_view(t, !t->view_model);
        break;
    }
    t->dirty = true;
}

/* ------------------------------------------------------------ the loop */

static void handle_signal(struct tui *t, int sig)
{
    switch (sig) {
    case SIGWINCH:
        screen_resize(t);
        break;
    case SIGTSTP:
        screen_suspend(t);
        break;
    case SIGCONT:
        screen_resize(t);       /* the size may have changed while stopped */
        break;
    case SIGINT:
    case SIGTERM:
    case SIGHUP:
        app_quit(t, 128 + sig);
        break;
    default:
        break;
    }
}

static void loop(struct tui *t)
{
    struct keys keys;
    keys_init(&keys);
    double last_input = 0, last_frame = 0;
    char buf[4096];
    while (!t->quit) {
        double now = gl_now();
        if (input_take_dirty())
            t->dirty = true;
        int timeout = -1;
        if (t->dirty) {
            if (now - last_frame >= FRAME_S) {
                screen_render(t);
                t->dirty = false;
                last_frame = now;
            } else {
                timeout = (int)((FRAME_S - (now - last_frame)) * 1000) + 1;
            }
        }
        if (keys_pending(&keys) || keys_in_paste(&keys)) {
            int wait = keys_in_paste(&keys) ? 500 : KEYS_ESC_MS;
            int left = (int)((last_input + wait / 1000.0 - now) * 1000) + 1;
            if (left < 1)
                left = 1;
            if (timeout < 0 || left < timeout)
                timeout = left;
        }
        if (t->n_reqs > 0 && (timeout < 0 || timeout > 250))
            timeout = 250;      /* the ETA and the speed move */
        if (t->hint[0] && t->hint_until > now) {
            int left = (int)((t->hint_until - now) * 1000) + 1;
            if (timeout < 0 || left < timeout)
                timeout = left;
        } else if (t->hint[0]) {
            t->hint[0] = 0;
            t->dirty = true;
            continue;
        }
        struct pollfd pf[3] = {
            {.fd = STDIN_FILENO, .events = POLLIN},
            {.fd = gl_worker_fd(t->w), .events = POLLIN},
            {.fd = sigpipe_fd(), .events = POLLIN},
        };
        int n = poll(pf, 3, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pf[2].revents & POLLIN)) {
            int sigs[32];
            size_t k = sigpipe_read(sigs, 32);
            for (size_t i = 0; i < k; i++)
                handle_signal(t, sigs[i]);
        }
        if (n > 0 && (pf[1].revents & POLLIN)) {
            struct gl_event *ev;
            while ((ev = gl_worker_next_event(t->w))) {
                app_handle_event(t, ev);
                gl_event_free(ev);
            }
        }
        bool got_input = false;
        if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
            if (k > 0) {
                got_input = true;
                last_input = gl_now();
                keys_feed(&keys, buf, (size_t)k, on_key, t);
                /* Keys first: the frame after a key press is drawn at once. */
                last_frame = 0;
            } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                app_quit(t, EXIT_RUNTIME);  /* the terminal went away */
            }
        }
        if (!got_input && (keys_pending(&keys) || keys_in_paste(&keys))) {
            double wait = keys_in_paste(&keys) ? 0.5 : KEYS_ESC_MS / 1000.0;
            if (gl_now() - last_input >= wait)
                keys_flush(&keys, on_key, t);
        }
    }
    keys_free(&keys);
}

/* ------------------------------------------------------------ start and end */

static bool locale_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

static void free_all(struct tui *t)
{
    app_requests_free(t);
    free(t->turns);
    transcript_free(t->tr);
    app_image_free(&t->img);
    session_free(t->doc);
    free(t->llm);
    free(t->mmproj);
    free(t->model_name);
    free(t->model_type);
    free(t->system);
    free(t->ml_text);
    free(t->autosave_path);
    free(t->fatal);
}

int tui_run(const struct cli_opts *o, const struct tui_opts *to)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "glimpse: not a terminal: use -p TEXT for one-shot use (see glimpse --help)\n");
        return EXIT_USAGE;
    }
    /* ncursesw and readline need a UTF-8 LC_CTYPE; numbers stay in "C". */
    setlocale(LC_CTYPE, "");
    if (!locale_utf8())
        setlocale(LC_CTYPE, "C.UTF-8");

    struct tui t = {.o = o, .opts = *to, .exit_code = EXIT_OK};
    char *err = NULL, *note = NULL, *demo_dir = NULL;
    struct demo_files demo = {0};
    int rc = EXIT_RUNTIME;
    const char *demo_image = NULL;
    bool input_on = false, signals_on = false;

    if (to->demo) {
        if (!(demo_dir = demo_tmpdir(&err)) || demo_make(demo_dir, &demo, &err) < 0) {
            fprintf(stderr, "glimpse: --demo: %s\n", err ? err : "cannot write the demo model");
            goto out;
        }
        t.llm = strdup(demo.llm);
        t.mmproj = strdup(demo.mmproj);
        t.banner = demo_banner();
        demo_image = demo_sample_image();
    } else {
        struct gl_model_pair pair = {0};
        int r = models_resolve(o->model, o->mmproj, &pair, &note, &err);
        if (r == -2) {
            fprintf(stderr, "glimpse: %s\nglimpse: choose one with -m NAME\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
        if (r < 0) {
            fprintf(stderr, "glimpse: %s\n", err ? err : "no model");
            if (!o->model)
                fprintf(stderr, "glimpse: give one with -m MODEL.gguf, or try glimpse --demo (no download needed)\n");
            rc = EXIT_USAGE;
            goto out;
        }
        t.llm = pair.llm;
        t.mmproj = pair.mmproj;
        pair.llm = pair.mmproj = NULL;
        models_pair_free(&pair);
    }
    if (!t.llm || (!t.mmproj && (to->demo || o->mmproj))) {
        fprintf(stderr, "glimpse: out of memory\n");
        goto out;
    }
    if (o->n_images > 0 && !t.mmproj) {
        fprintf(stderr, "glimpse: images need the vision projector: give its mmproj file with --mmproj\n");
        rc = EXIT_USAGE;
        goto out;
    }

    /* The terminal's graphics, asked before curses owns it. */
    if (to->preview != PREVIEW_NONE) {
        preview_probe(STDIN_FILENO, STDOUT_FILENO, -1, &t.caps);
        t.mode = preview_choose(&t.caps, to->preview);
    } else {
        t.mode = PREVIEW_NONE;
        t.pane_hidden = true;   /* F2 still shows the pane, with the image's name */
    }
    t.caps.utf8 = locale_utf8();

    if (!(t.tr = transcript_new()) || !(t.w = gl_worker_new(&err))) {
        fprintf(stderr, "glimpse: %s\n", err ? err : "out of memory");
        goto out;
    }
    t.mp = gl_model_default_params();
    t.mp.n_threads = o->n_threads;
    t.cp = gl_chat_default_params();
    t.cp.n_ctx = o->n_ctx;
    t.cp.kv_type = o->kv_type;
    t.cp.tmpl = o->tmpl;
    if (o->system && !(t.system = strdup(o->system)))
        goto out;
    t.cp.system = t.system;
    t.cp.vision = o->compat_llamacpp ? GL_VISION_LLAMACPP : GL_VISION_LLAVA;
    t.cp.no_exif = o->no_exif;
    t.cp.sampling = o->sp;
    t.cp.n_predict = o->n_predict;
    t.cp.context_policy = o->context_policy;

    if (t.banner)
        app_note(&t, TR_BANNER, "%s", t.banner);
    if (note)
        app_note(&t, TR_NOTE, "%s", note);
    app_post(&t, REQ_LOAD, gl_worker_load(t.w, t.llm, t.mmproj, &t.mp, &t.cp), NULL);
    app_refresh_info(&t);
    for (int i = 0; i < o->n_images; i++) {
        char *p = attach_expand_home(o->images[i]);
        if (p)
            app_attach(&t, p);
        free(p);
    }
    if (to->demo && o->n_images == 0) {
        if (demo_image)
            app_attach(&t, demo_image);
        else
            app_note(&t, TR_NOTE, "the sample picture is not installed: attach one with /image PATH");
    }
    if (!t.banner)
        app_note(&t, TR_NOTE, "ask about the image, or type /help for commands and keys");

    char *hist = input_history_path(true);
    struct input_hooks hooks = {.on_line = on_line, .complete = on_complete, .show_matches = on_matches, .user = &t};
    int ir = input_start(&hooks, "> ", hist, &err);
    free(hist);
    if (ir) {
        fprintf(stderr, "glimpse: %s\n", err);
        goto out;
    }
    input_on = true;
    if (signals_install()) {
        fprintf(stderr, "glimpse: cannot set up signal handling\n");
        goto out;
    }
    signals_on = true;
    if (screen_start(&t, &err)) {
        fprintf(stderr, "glimpse: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    t.dirty = true;
    loop(&t);
    rc = t.exit_code;

out:
    screen_stop(&t);
    if (input_on)
        input_stop();
    if (signals_on)
        signals_restore();
    gl_worker_free(t.w);
    if (t.fatal)
        fprintf(stderr, "glimpse: %s\n", t.fatal);
    else if (t.autosave_path && rc == EXIT_OK)
        fprintf(stderr, "glimpse: the conversation is saved in %s (glimpse --replay shows it)\n", t.autosave_path);
    if (to->demo) {
        demo_unlink(&demo);
        if (demo_dir)
            rmdir(demo_dir);
        demo_files_free(&demo);
        free(demo_dir);
    }
    free(err);
    free(note);
    free_all(&t);
    return rc;
}
