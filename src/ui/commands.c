/*
 * commands.c - slash commands and keys as tables (see commands.h). Each
 * handler checks its arguments, then asks tui.c (app_*) or the worker to do
 * the work; nothing here draws.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/worker.h"
#include "ui/app.h"
#include "ui/attach.h"
#include "ui/commands.h"
#include "ui/status.h"
#include "util.h"

/* ------------------------------------------------------------ /set */

enum set_type { SET_FLOAT, SET_INT, SET_SEED };

struct setting {
    const char *name;
    enum set_type type;
    double lo, hi;
    const char *help;
};

static const struct setting settings[] = {
    {"temp", SET_FLOAT, 0, 100, "temperature; 0 = greedy"},
    {"top_k", SET_INT, 0, 1 << 24, "keep the K most likely tokens; 0 = off"},
    {"top_p", SET_FLOAT, 0, 1, "nucleus threshold; 1 = off"},
    {"min_p", SET_FLOAT, 0, 1, "drop tokens below P x the top probability"},
    {"repeat_penalty", SET_FLOAT, 0.01, 100, "penalise recent tokens; 1 = off"},
    {"repeat_last_n", SET_INT, 0, 1 << 20, "window of the repetition penalty"},
    {"seed", SET_SEED, 0, (double)LONG_MAX, "a fixed seed (answers repeat), or 'random'"},
    {"n_predict", SET_INT, -1, 1 << 20, "tokens per answer at most; -1 = no limit"},
    {"ctx", SET_INT, 16, 1 << 20, "context length (reloads: a new conversation)"},
};
#define N_SETTINGS ((int)(sizeof settings / sizeof *settings))

static const char *const setting_names[] = {
    "temp", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed", "n_predict",
    "ctx", NULL,
};

const char *const *cmd_setting_names(void)
{
    return setting_names;
}

static void show_settings(struct tui *t)
{
    const struct gl_sampler_params *sp = &t->cp.sampling;
    char seed[48];
    if (t->seed_fixed)
        snprintf(seed, sizeof seed, "%llu (fixed)", (unsigned long long)sp->seed);
    else
        snprintf(seed, sizeof seed, "random per answer");
    char ctx[32];
    if (t->ctx.n_ctx > 0)
        snprintf(ctx, sizeof ctx, "%d", t->ctx.n_ctx);
    else if (t->cp.n_ctx > 0)
        snprintf(ctx, sizeof ctx, "%d", t->cp.n_ctx);
    else
        snprintf(ctx, sizeof ctx, "the model's");
    app_note(t, TR_INFO,
             "temp %g · top_k %d · top_p %g · min_p %g · repeat_penalty %g · repeat_last_n %d\n"
             "seed %s · n_predict %d · ctx %s\n"
             "change one with /set NAME VALUE (names: temp top_k top_p min_p repeat_penalty "
             "repeat_last_n seed n_predict ctx)",
             sp->temp, sp->top_k, sp->top_p, sp->min_p, sp->repeat_penalty, sp->repeat_last_n, seed,
             t->cp.n_predict, ctx);
}

static int parse_value(const struct setting *s, const char *v, double *out, char **err)
{
    char *end;
    errno = 0;
    double d = s->type == SET_FLOAT ? strtod(v, &end) : (double)strtoll(v, &end, 10);
    if (errno || end == v || *end || !(d >= s->lo && d <= s->hi))
        return gl_err(err, s->type == SET_FLOAT ? "%s needs a number from %g to %g, not '%s'"
                                                : "%s needs a whole number from %.0f to %.0f, not '%s'",
                      s->name, s->lo, s->hi, v);
    *out = d;
    return 0;
}

static int cmd_set(struct tui *t, const struct cmd_args *a, char **err)
{
    if (a->argc == 0) {
        show_settings(t);
        return 0;
    }
    if (a->argc != 2)
        return gl_err(err, "usage: /set NAME VALUE (or /set alone to see them)");
    const struct setting *s = NULL;
    for (int i = 0; i < N_SETTINGS; i++)
        if (strcmp(a->argv[0], settings[i].name) == 0)
            s = &settings[i];
    if (!s)
        return gl_err(err, "no setting '%s' (names: temp top_k top_p min_p repeat_penalty "
                           "repeat_last_n seed n_predict ctx)", a->argv[0]);
    const char *v = a->argv[1];
    double d = 0;
    struct gl_sampler_params sp = t->cp.sampling;
    if (s->type == SET_SEED && strcmp(v, "random") == 0) {
        t->seed_fixed = false;
        app_post(t, REQ_SETTING, gl_worker_set_seed_fixed(t->w, false), "seed random");
        return 0;
    }
    if (parse_value(s, v, &d, err))
        return -1;
    char what[96];
    snprintf(what, sizeof what, "%s %s", s->name, v);
    if (strcmp(s->name, "n_predict") == 0) {
        t->cp.n_predict = (int)d;
        app_post(t, REQ_SETTING, gl_worker_set_n_predict(t->w, (int)d), what);
        return 0;
    }
    if (strcmp(s->name, "ctx") == 0) {
        t->cp.n_ctx = (int)d;
        app_post(t, REQ_LOAD, gl_worker_load(t->w, t->llm, t->mmproj, &t->mp, &t->cp), what);
        return 0;
    }
    if (strcmp(s->name, "temp") == 0)
        sp.temp = (float)d;
    else if (strcmp(s->name, "top_k") == 0)
        sp.top_k = (int)d;
    else if (strcmp(s->name, "top_p") == 0)
        sp.top_p = (float)d;
    else if (strcmp(s->name, "min_p") == 0)
        sp.min_p = (float)d;
    else if (strcmp(s->name, "repeat_penalty") == 0)
        sp.repeat_penalty = (float)d;
    else if (strcmp(s->name, "repeat_last_n") == 0)
        sp.repeat_last_n = (int)d;
    else if (strcmp(s->name, "seed") == 0)
        sp.seed = (uint64_t)d;
    t->cp.sampling = sp;
    app_post(t, REQ_SETTING, gl_worker_set_sampling(t->w, &sp), what);
    if (s->type == SET_SEED) {
        /* A seed set by hand is meant to repeat: /regen keeps it too. */
        t->seed_fixed = true;
        app_post(t, REQ_SETTING, gl_worker_set_seed_fixed(t->w, true), NULL);
    }
    return 0;
}

/* ------------------------------------------------------------ the other commands */

static int cmd_image(struct tui *t, const struct cmd_args *a, char **err)
{
    char *path = attach_expand_home(a->argv[0]);
    if (!path)
        return gl_err(err, "out of memory");
    if (!t->mmproj) {
        free(path);
        return gl_err(err, "this model has no vision projector (--mmproj): it cannot see images");
    }
    app_attach(t, path);
    free(path);
    return 0;
}

static int cmd_clear(struct tui *t, const struct cmd_args *a, char **err)
{
    bool all = false;
    if (a->argc == 1) {
        if (strcmp(a->argv[0], "all") != 0)
            return gl_err(err, "usage: /clear [all]");
        all = true;
    }
    struct req *r = app_post(t, REQ_CLEAR, gl_worker_clear(t->w, !all), all ? "all" : NULL);
    (void)r;
    return 0;
}

static int cmd_system(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)err;
    if (!a->rest || !*a->rest) {
        if (t->system)
            app_note(t, TR_INFO, "system prompt: %s\n(/system default goes back to the template's)",
                     t->system);
        else
            app_note(t, TR_INFO, "system prompt: the template's default (/system TEXT replaces it)");
        return 0;
    }
    const char *text = strcmp(a->rest, "default") == 0 ? NULL : a->rest;
    app_post(t, REQ_SYSTEM, gl_worker_set_system(t->w, text), text);
    return 0;
}

static int cmd_regen(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)a;
    if (t->n_turns == 0 && t->n_reqs == 0)
        return gl_err(err, "no answer to regenerate yet");
    app_post(t, REQ_REGEN, gl_worker_regenerate(t->w), NULL);
    return 0;
}

static int cmd_undo(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)a;
    if (t->n_turns == 0 && t->n_reqs == 0)
        return gl_err(err, "no turn to undo");
    app_post(t, REQ_UNDO, gl_worker_undo(t->w), NULL);
    return 0;
}

static int cmd_stats(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)a;
    if (!t->have_last)
        return gl_err(err, "no answer yet");
    const struct gl_turn_stats *s = &t->last;
    char pre[32], dec[32], ttft[32], enc[32];
    status_duration(pre, sizeof pre, s->prefill_ms);
    status_duration(dec, sizeof dec, s->decode_ms);
    status_duration(ttft, sizeof ttft, s->ttft_ms);
    status_duration(enc, sizeof enc, s->encode_ms);
    double tps = s->decode_ms > 0 && s->answer_tokens > 1 ? (s->answer_tokens - 1) / (s->decode_ms / 1e3) : 0;
    double pps = s->prefill_ms > 0 ? s->prompt_tokens / (s->prefill_ms / 1e3) : 0;
    app_note(t, TR_INFO,
             "last answer: %d tokens in %s (%.1f tokens/s), stopped by %s\n"
             "prompt: %d positions in %s (%.1f positions/s)%s%s\n"
             "time to first token: %s",
             s->answer_tokens, dec, tps, gl_stop_name(t->last_stop), s->prompt_tokens, pre, pps,
             s->encode_ms > 0 ? " · image encode " : "", s->encode_ms > 0 ? enc : "", ttft);
    return 0;
}

static int cmd_context(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)a;
    const struct gl_context_use *u = &t->ctx;
    if (u->n_ctx <= 0)
        return gl_err(err, "no model loaded yet");
    int images = u->image_cost > 0 ? u->images / u->image_cost : 0;
    app_note(t, TR_INFO,
             "context: %d of %d positions used, %d free\n"
             "  system prompt %d · images %d (%d × %d) · questions and answers %d",
             u->used, u->n_ctx, u->n_ctx - u->used, u->system, u->images, images, u->image_cost,
             u->turns);
    return 0;
}

static int cmd_save(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)err;
    char *path = a->argc ? attach_expand_home(a->argv[0]) : NULL;
    app_save(t, path, false);
    free(path);
    return 0;
}

static int cmd_load(struct tui *t, const struct cmd_args *a, char **err)
{
    char *path = attach_expand_home(a->argv[0]);
    if (!path)
        return gl_err(err, "out of memory");
    app_load(t, path);
    free(path);
    return 0;
}

static int cmd_export(struct tui *t, const struct cmd_args *a, char **err)
{
    size_t n = strlen(a->argv[0]);
    if (!(n > 3 && strcmp(a->argv[0] + n - 3, ".md") == 0) &&
        !(n > 5 && strcmp(a->argv[0] + n - 5, ".json") == 0))
        return gl_err(err, "/export writes FILE.md (Markdown) or FILE.json");
    char *path = attach_expand_home(a->argv[0]);
    if (!path)
        return gl_err(err, "out of memory");
    app_export(t, path);
    free(path);
    return 0;
}

static int cmd_view(struct tui *t, const struct cmd_args *a, char **err)
{
    const char *v = a->argc ? a->argv[0] : NULL;
    if (!v)
        app_set_view(t, !t->view_model);
    else if (strcmp(v, "model") == 0)
        app_set_view(t, true);
    else if (strcmp(v, "original") == 0)
        app_set_view(t, false);
    else if (strcmp(v, "hide") == 0)
        app_set_pane(t, true);
    else if (strcmp(v, "show") == 0)
        app_set_pane(t, false);
    else
        return gl_err(err, "usage: /view [model|original|hide|show]");
    return 0;
}

static int cmd_help(struct tui *t, const struct cmd_args *a, char **err)
{
    if (a->argc == 1) {
        const char *name = a->argv[0][0] == '/' ? a->argv[0] + 1 : a->argv[0];
        const struct cmd_entry *e = cmd_lookup(name, err);
        if (!e)
            return -1;
        app_note(t, TR_INFO, "/%s%s%s\n  %s", e->name, *e->args ? " " : "", e->args, e->help);
        return 0;
    }
    char *h = cmd_help_text();
    if (!h)
        return gl_err(err, "out of memory");
    app_note(t, TR_INFO, "%s", h);
    free(h);
    return 0;
}

static int cmd_quit(struct tui *t, const struct cmd_args *a, char **err)
{
    (void)a;
    (void)err;
    app_quit(t, EXIT_OK);
    return 0;
}

/* ------------------------------------------------------------ the tables */

static const char *const clear_words[] = {"all", NULL};
static const char *const view_words[] = {"model", "original", "hide", "show", NULL};
static const char *const system_words[] = {"default", NULL};
static const char *const help_words[] = {
    "image", "clear", "system", "set", "regen", "undo", "stats", "context", "save", "load",
    "export", "view", "help", "quit", NULL,
};

static const struct cmd_entry commands[] = {
    {.name = "image", .args = "PATH", .help = "attach an image to the next question",
     .min_args = 1, .max_args = 1, .fn = cmd_image, .complete = INPUT_COMPLETE_FILES},
    {.name = "clear", .args = "[all]", .help = "start a new conversation (all: drop the attached images too)",
     .min_args = 0, .max_args = 1, .fn = cmd_clear, .complete = INPUT_COMPLETE_WORDS, .words = clear_words},
    {.name = "system", .args = "[TEXT|default]", .help = "show or replace the system prompt (starts a new conversation)",
     .min_args = 0, .max_args = -1, .fn = cmd_system, .complete = INPUT_COMPLETE_WORDS, .words = system_words},
    {.name = "set", .args = "[NAME VALUE]",
     .help = "show the settings, or set temp|top_k|top_p|min_p|repeat_penalty|repeat_last_n|seed|n_predict|ctx",
     .min_args = 0, .max_args = 2, .fn = cmd_set, .complete = INPUT_COMPLETE_WORDS, .words = setting_names},
    {.name = "regen", .args = "", .help = "answer the last question again",
     .min_args = 0, .max_args = 0, .fn = cmd_regen},
    {.name = "undo", .args = "", .help = "remove the last question and its answer",
     .min_args = 0, .max_args = 0, .fn = cmd_undo},
    {.name = "stats", .args = "", .help = "timings of the last answer",
     .min_args = 0, .max_args = 0, .fn = cmd_stats},
    {.name = "context", .args = "", .help = "how the context is used: system prompt, images, turns",
     .min_args = 0, .max_args = 0, .fn = cmd_context},
    {.name = "save", .args = "[FILE]", .help = "save the conversation (default: its autosave file)",
     .min_args = 0, .max_args = 1, .fn = cmd_save, .complete = INPUT_COMPLETE_FILES},
    {.name = "load", .args = "FILE", .help = "continue a saved conversation",
     .min_args = 1, .max_args = 1, .fn = cmd_load, .complete = INPUT_COMPLETE_FILES},
    {.name = "export", .args = "FILE.md", .help = "write the conversation as Markdown (or FILE.json)",
     .min_args = 1, .max_args = 1, .fn = cmd_export, .complete = INPUT_COMPLETE_FILES},
    {.name = "view", .args = "[model|original|hide|show]",
     .help = "the image pane: what the model sees (336x336) or the original; hide or show it",
     .min_args = 0, .max_args = 1, .fn = cmd_view, .complete = INPUT_COMPLETE_WORDS, .words = view_words},
    {.name = "help", .args = "[COMMAND]", .help = "this list, or one command",
     .min_args = 0, .max_args = 1, .fn = cmd_help, .complete = INPUT_COMPLETE_WORDS, .words = help_words},
    {.name = "quit", .args = "", .help = "leave glimpse",
     .min_args = 0, .max_args = 0, .fn = cmd_quit},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof *commands))

static const struct key_entry keys[] = {
    {"Enter", "send the question (while the model works it waits its turn)"},
    {"Alt-Enter", "a new line inside the question (or paste several lines)"},
    {"\"\"\"", "on a line of its own: start or end a multi-line question"},
    {"Ctrl-C", "stop the model; clear the line; at an empty prompt twice: quit"},
    {"Esc", "stop the model (image encoding, reading the prompt or answering)"},
    {"Ctrl-D", "at an empty prompt: quit"},
    {"PgUp/PgDn", "scroll the conversation (the mouse wheel too)"},
    {"Tab", "complete a command, a setting or a file name"},
    {"Up/Down", "earlier lines (history); Ctrl-R searches them"},
    {"F2", "hide or show the image pane"},
    {"F3", "the image as the model sees it, or the original"},
    {"Ctrl-L", "redraw the screen"},
    {"Ctrl-Z", "suspend (fg resumes)"},
};
#define N_KEYS ((int)(sizeof keys / sizeof *keys))

const struct cmd_entry *cmd_table(int *n)
{
    *n = N_COMMANDS;
    return commands;
}

const struct key_entry *cmd_keys(int *n)
{
    *n = N_KEYS;
    return keys;
}

const struct cmd_entry *cmd_lookup(const char *name, char **err)
{
    size_t n = strlen(name);
    const struct cmd_entry *found = NULL;
    int matches = 0;
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
        if (n > 0 && strncmp(commands[i].name, name, n) == 0) {
            found = &commands[i];
            matches++;
        }
    }
    if (matches == 1)
        return found;
    if (matches == 0) {
        gl_err(err, "unknown command /%s (see /help)", name);
        return NULL;
    }
    char list[256] = "";
    size_t o = 0;
    for (int i = 0; i < N_COMMANDS; i++)
        if (strncmp(commands[i].name, name, n) == 0)
            o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s/%s",
                                  o ? ", " : "", commands[i].name);
    gl_err(err, "/%s is ambiguous: %s", name, list);
    return NULL;
}

int cmd_split(const char *s, char **argv, int max, int *argc)
{
    int n = 0;
    size_t len = strlen(s);
    size_t i = 0;
    for (;;) {
        while (i < len && isspace((unsigned char)s[i]))
            i++;
        if (i == len)
            break;
        if (n == max)
            goto fail;
        char *w = malloc(len - i + 1);
        if (!w)
            goto fail;
        size_t o = 0;
        char quote = 0;
        while (i < len) {
            char c = s[i];
            if (quote) {
                if (c == quote) {
                    quote = 0;
                } else if (quote == '"' && c == '\\' && i + 1 < len && strchr("\"\\", s[i + 1])) {
                    w[o++] = s[++i];
                } else {
                    w[o++] = c;
                }
                i++;
                continue;
            }
            if (isspace((unsigned char)c))
                break;
            if (c == '\'' || c == '"')
                quote = c;
            else if (c == '\\' && i + 1 < len)
                w[o++] = s[++i];
            else
                w[o++] = c;
            i++;
        }
        w[o] = 0;
        argv[n++] = w;
    }
    *argc = n;
    return 0;
fail:
    for (int k = 0; k < n; k++)
        free(argv[k]);
    *argc = 0;
    return -1;
}

void cmd_args_free(struct cmd_args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    a->argc = 0;
}

int cmd_parse(const char *line, const struct cmd_entry **entry, struct cmd_args *a, char **err)
{
    memset(a, 0, sizeof *a);
    while (isspace((unsigned char)*line))
        line++;
    if (*line != '/')
        return gl_err(err, "not a command: %s", line);
    line++;
    size_t n = 0;
    while (line[n] && !isspace((unsigned char)line[n]))
        n++;
    char name[64];
    if (n >= sizeof name)
        return gl_err(err, "unknown command /%.*s (see /help)", 20, line);
    memcpy(name, line, n);
    name[n] = 0;
    const struct cmd_entry *e = cmd_lookup(name, err);
    if (!e)
        return -1;
    const char *rest = line + n;
    while (isspace((unsigned char)*rest))
        rest++;
    a->rest = rest;
    if (e->max_args >= 0) {
        if (cmd_split(rest, a->argv, CMD_MAX_ARGS, &a->argc))
            return gl_err(err, "usage: /%s %s", e->name, e->args);
        if (a->argc < e->min_args || a->argc > e->max_args) {
            cmd_args_free(a);
            return gl_err(err, "usage: /%s%s%s", e->name, *e->args ? " " : "", e->args);
        }
    } else if (cmd_split(rest, a->argv, CMD_MAX_ARGS, &a->argc)) {
        a->argc = 0;            /* free text: the words are a convenience only */
    }
    *entry = e;
    return 0;
}

int cmd_run(struct tui *t, const char *line, char **err)
{
    const struct cmd_entry *e;
    struct cmd_args a;
    if (cmd_parse(line, &e, &a, err))
        return -1;
    int rc = e->fn(t, &a, err);
    cmd_args_free(&a);
    return rc;
}

static const char *cmd_names[N_COMMANDS + 1];

enum input_complete cmd_complete(const char *line, int start, int end, const char *const **words,
                                 int *n_words)
{
    (void)end;
    /* Skip leading spaces: the command word is the first word. */
    int lead = 0;
    while (line[lead] == ' ')
        lead++;
    if (line[lead] != '/') {
        /* In a question, Tab completes file names that look like paths. */
        const char *w = line + start;
        if (start < end && (*w == '/' || *w == '~' || *w == '.'))
            return INPUT_COMPLETE_FILES;
        for (int i = start; i < end; i++)
            if (line[i] == '/')
                return INPUT_COMPLETE_FILES;
        return INPUT_COMPLETE_NONE;
    }
    if (start <= lead) {
        if (!cmd_names[0]) {
            static char storage[N_COMMANDS][24];
            for (int i = 0; i < N_COMMANDS; i++) {
                snprintf(storage[i], sizeof storage[i], "/%s", commands[i].name);
                cmd_names[i] = storage[i];
            }
        }
        *words = cmd_names;
        *n_words = N_COMMANDS;
        return INPUT_COMPLETE_WORDS;
    }
    /* An argument: which command, and is this its first argument? */
    int ne = lead + 1;
    while (line[ne] && line[ne] != ' ')
        ne++;
    char name[32];
    int nl = ne - lead - 1;
    if (nl <= 0 || nl >= (int)sizeof name)
        return INPUT_COMPLETE_NONE;
    memcpy(name, line + lead + 1, (size_t)nl);
    name[nl] = 0;
    const struct cmd_entry *e = cmd_lookup(name, NULL);
    if (!e)
        return INPUT_COMPLETE_NONE;
    int words_before = 0;
    bool in_word = false;
    for (int i = ne; i < start; i++) {
        if (line[i] != ' ' && !in_word) {
            words_before++;
            in_word = true;
        } else if (line[i] == ' ') {
            in_word = false;
        }
    }
    if (words_before > 0)
        return INPUT_COMPLETE_NONE;     /* only first arguments complete */
    if (e->complete == INPUT_COMPLETE_WORDS && e->words) {
        int n = 0;
        while (e->words[n])
            n++;
        *words = e->words;
        *n_words = n;
    }
    return e->complete;
}

char *cmd_help_text(void)
{
    size_t cap = 4096, o = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
#define ADD(...)                                                                   \
    do {                                                                           \
        int k_ = snprintf(s + o, cap - o, __VA_ARGS__);                            \
        if (k_ < 0)                                                                \
            break;                                                                 \
        if ((size_t)k_ >= cap - o) {                                               \
            cap = (cap + (size_t)k_) * 2;                                          \
            char *p_ = realloc(s, cap);                                            \
            if (!p_) {                                                             \
                free(s);                                                           \
                return NULL;                                                       \
            }                                                                      \
            s = p_;                                                                \
            snprintf(s + o, cap - o, __VA_ARGS__);                                 \
        }                                                                          \
        o += (size_t)k_;                                                           \
    } while (0)
    ADD("Commands (a unique prefix is enough: /q quits):\n");
    for (int i = 0; i < N_COMMANDS; i++) {
        char head[64];
        snprintf(head, sizeof head, "/%s%s%s", commands[i].name, *commands[i].args ? " " : "",
                 commands[i].args);
        ADD("  %-26s %s\n", head, commands[i].help);
    }
    ADD("Keys:\n");
    for (int i = 0; i < N_KEYS; i++)
        ADD("  %-26s %s\n", keys[i].key, keys[i].help);
    ADD("An image path typed or dropped into a question is attached to it.\n"
        "Start a question with // to send a literal '/'.");
#undef ADD
    return s;
}
