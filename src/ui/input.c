/*
 * input.c - readline in callback mode inside curses (see input.h).
 *
 * The loop reads the terminal, keys.c keeps what the chat handles itself and
 * passes the rest here; input_feed() queues the bytes and calls
 * rl_callback_read_char() until readline has taken them all. readline reads
 * them back through rl_getc_function, so it never reads the tty itself.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "ui/input.h"

#define HISTORY_LINES 1000

static struct {
    struct input_hooks h;
    bool started;
    char *history_path;
    bool history_exists;
    const char *next;           /* bytes readline has yet to read */
    size_t n_next;
    bool dirty;
    FILE *null_out;
    char *prompt;
    /* the completion words of the current Tab */
    const char *const *words;
    int n_words;
    int word_i;
} in;

/* ------------------------------------------------------------ readline hooks */

static int getc_cb(FILE *f)
{
    (void)f;
    if (in.n_next > 0) {
        in.n_next--;
        return (unsigned char)*in.next++;
    }
    /* readline wants more than one key's bytes (rare: a multi-byte read
     * inside one command). Returning EOF would end the line, so wait for
     * the terminal itself. */
    for (;;) {
        struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            return '\n';
        unsigned char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r == 1)
            return c;
        if (r == 0 || (errno != EINTR && errno != EAGAIN))
            return '\n';
    }
}

static int available_cb(void)
{
    return in.n_next > 0;
}

static void redisplay_cb(void)
{
    in.dirty = true;
}

static void prep_cb(int meta)
{
    (void)meta;                 /* curses owns the terminal's modes */
}

static void deprep_cb(void)
{
}

static void line_cb(char *line)
{
    in.dirty = true;
    if (in.h.on_line)
        in.h.on_line(in.h.user, line);
    else
        free(line);
}

static char *word_gen(const char *text, int state)
{
    if (state == 0)
        in.word_i = 0;
    size_t n = strlen(text);
    while (in.word_i < in.n_words) {
        const char *w = in.words[in.word_i++];
        if (strncmp(w, text, n) == 0)
            return strdup(w);
    }
    return NULL;
}

static char **complete_cb(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1;
    if (!in.h.complete)
        return NULL;
    in.words = NULL;
    in.n_words = 0;
    enum input_complete how = in.h.complete(in.h.user, rl_line_buffer, start, end, &in.words, &in.n_words);
    if (how == INPUT_COMPLETE_FILES) {
        rl_attempted_completion_over = 0;   /* readline's file name completion */
        return NULL;
    }
    if (how == INPUT_COMPLETE_WORDS)
        return rl_completion_matches(text, word_gen);
    return NULL;
}

static void show_matches_cb(char **matches, int num, int max_len)
{
    (void)max_len;
    if (in.h.show_matches && num > 0)
        in.h.show_matches(in.h.user, matches + 1, num);
    in.dirty = true;
}

/* Alt-Enter: a newline inside the question. */
static int newline_cmd(int count, int key)
{
    (void)key;
    for (int i = 0; i < (count > 0 ? count : 1); i++)
        rl_insert_text("\n");
    return 0;
}

/* ------------------------------------------------------------ history */

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int r = mkdir(path, 0700);
        *p = '/';
        if (r && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

char *input_history_path(bool create)
{
    const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *dir = NULL;
    if (st && st[0] == '/') {
        if (asprintf(&dir, "%s/glimpse", st) < 0)
            return NULL;
    } else if (home && *home) {
        if (asprintf(&dir, "%s/.local/state/glimpse", home) < 0)
            return NULL;
    } else {
        return NULL;
    }
    if (create && mkdirs(dir)) {
        free(dir);
        return NULL;
    }
    char *path = NULL;
    if (asprintf(&path, "%s/history", dir) < 0)
        path = NULL;
    free(dir);
    return path;
}

void input_history_add(const char *line)
{
    if (!line || !*line)
        return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && last->line && strcmp(last->line, line) == 0)
        return;                 /* no runs of the same line */
    add_history(line);
    if (!in.history_path)
        return;
    /* Append as we go, so a crash or a dropped SSH link loses nothing. */
    if (in.history_exists ? append_history(1, in.history_path) == 0
                          : write_history(in.history_path) == 0)
        in.history_exists = true;
}

/* ------------------------------------------------------------ the module */

int input_start(const struct input_hooks *h, const char *prompt, const char *history_path, char **err)
{
    memset(&in, 0, sizeof in);
    in.h = *h;
    in.prompt = strdup(prompt ? prompt : "> ");
    if (history_path)
        in.history_path = strdup(history_path);
    in.null_out = fopen("/dev/null", "w");
    if (!in.prompt || (history_path && !in.history_path) || !in.null_out) {
        if (err)
            *err = strdup("cannot set up the input line");
        free(in.prompt);
        free(in.history_path);
        if (in.null_out)
            fclose(in.null_out);
        memset(&in, 0, sizeof in);
        return -1;
    }

    rl_readline_name = "glimpse";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = prep_cb;
    rl_deprep_term_function = deprep_cb;
    rl_getc_function = getc_cb;
    rl_input_available_hook = available_cb;
    rl_redisplay_function = redisplay_cb;
    rl_instream = stdin;
    rl_outstream = in.null_out;  /* nothing readline might print reaches the screen */
    rl_attempted_completion_function = complete_cb;
    /* File names with spaces complete quoted, as /image and dropped paths
     * expect them. */
    rl_completer_quote_characters = "'\"";
    rl_filename_quote_characters = " \t\n\"\\'`@$><=;|&{(";
    rl_completion_display_matches_hook = show_matches_cb;

    using_history();
    /* Timestamp lines ("#1700000000") delimit entries, so a multi-line
     * question comes back as one. */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    if (in.history_path) {
        struct stat st;
        in.history_exists = stat(in.history_path, &st) == 0;
        if (in.history_exists)
            read_history(in.history_path);
    }

    rl_callback_handler_install(in.prompt, line_cb);
    /* After rl_initialize (done by the install): our bindings win over the
     * defaults; paste brackets are ours, not readline's. */
    rl_variable_bind("enable-bracketed-paste", "off");
    rl_bind_keyseq("\\e\\C-m", newline_cmd);
    rl_bind_keyseq("\\e\\C-j", newline_cmd);
    in.started = true;
    in.dirty = true;
    return 0;
}

void input_stop(void)
{
    if (!in.started)
        return;
    rl_callback_handler_remove();
    if (in.history_path && in.history_exists)
        history_truncate_file(in.history_path, HISTORY_LINES);
    clear_history();
    free(in.history_path);
    free(in.prompt);
    if (in.null_out)
        fclose(in.null_out);
    rl_outstream = stdout;
    memset(&in, 0, sizeof in);
}

void input_feed(const char *bytes, size_t n)
{
    if (!in.started)
        return;
    in.next = bytes;
    in.n_next = n;
    while (in.n_next > 0 && in.started)
        rl_callback_read_char();
    in.next = NULL;
    in.n_next = 0;
}

void input_insert(const char *text, size_t n)
{
    if (!in.started || n == 0)
        return;
    char *s = malloc(n + 1);
    if (!s)
        return;
    /* "\r\n" and lone '\r' (what terminals paste) become '\n'. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\r') {
            if (i + 1 < n && text[i + 1] == '\n')
                continue;
            s[o++] = '\n';
        } else if (text[i] != 0) {
            s[o++] = text[i];
        }
    }
    s[o] = 0;
    rl_insert_text(s);
    free(s);
    in.dirty = true;
}

void input_clear(void)
{
    if (!in.started)
        return;
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_replace_line("", 1);
    rl_point = rl_end = rl_mark = 0;
    rl_set_prompt(in.prompt);
    in.dirty = true;
}

bool input_is_empty(void)
{
    return !in.started || rl_end == 0;
}

void input_set_prompt(const char *prompt)
{
    char *p = strdup(prompt);
    if (!p)
        return;
    free(in.prompt);
    in.prompt = p;
    if (in.started)
        rl_set_prompt(in.prompt);
    in.dirty = true;
}

void input_resize(int rows, int cols)
{
    if (in.started)
        rl_set_screen_size(rows, cols);
    in.dirty = true;
}

bool input_wants_esc(void)
{
    return in.started && (rl_editing_mode == 0 || RL_ISSTATE(RL_STATE_ISEARCH | RL_STATE_NSEARCH));
}

void input_view(const char **prompt, const char **line, size_t *len, size_t *point)
{
    const char *p = rl_display_prompt ? rl_display_prompt : in.prompt;
    *prompt = p ? p : "";
    *line = rl_line_buffer ? rl_line_buffer : "";
    *len = rl_line_buffer ? (size_t)rl_end : 0;
    *point = rl_line_buffer && rl_point >= 0 && rl_point <= rl_end ? (size_t)rl_point : *len;
}

bool input_take_dirty(void)
{
    bool d = in.dirty;
    in.dirty = false;
    return d;
}
