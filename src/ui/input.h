/*
 * input.h - the input line: GNU readline in callback mode inside curses.
 *
 * readline never touches the terminal here: it gets its bytes from us
 * (rl_getc_function, fed with what keys.c passed on), its redisplay only
 * marks the line for redrawing (the screen draws prompt, text and cursor
 * into the input window), terminal preparation is a no-op (curses owns the
 * modes), and it catches no signals and changes no environment variables
 * (LINES/COLUMNS would break curses' resizing). Users keep their readline
 * keys, ~/.inputrc (as application "glimpse"), vi mode, and a history of
 * typed lines in $XDG_STATE_HOME/glimpse/history.
 *
 * readline is a global library, so this module is a singleton.
 */
#ifndef GLIMPSE_UI_INPUT_H
#define GLIMPSE_UI_INPUT_H

#include <stdbool.h>
#include <stddef.h>

enum input_complete {
    INPUT_COMPLETE_NONE = 0,    /* nothing to complete here */
    INPUT_COMPLETE_FILES,       /* file names (readline's own completion) */
    INPUT_COMPLETE_WORDS        /* the words given */
};

struct input_hooks {
    /* A line was entered: `line` is malloc'd and now the hook's; NULL means
     * Ctrl-D on an empty line. */
    void (*on_line)(void *user, char *line);
    /* What Tab should complete: `line` is the whole buffer, the word being
     * completed spans [start, end). For WORDS, *words (n_words) stay valid
     * until the next call. */
    enum input_complete (*complete)(void *user, const char *line, int start, int end,
                                    const char *const **words, int *n_words);
    /* Several completions (a second Tab): show them. matches[0..n-1]. */
    void (*show_matches)(void *user, char **matches, int n);
    void *user;
};

/* Set readline up, load the history (path NULL: no history). 0, or -1
 * with *err. A missing or unreadable history file is not an error. */
int input_start(const struct input_hooks *h, const char *prompt, const char *history_path,
                char **err);
/* Remove the handler and trim the history file to its last 1000 lines. */
void input_stop(void);

/* Hand bytes (one key or a whole escape sequence) to readline. */
void input_feed(const char *bytes, size_t n);
/* Insert pasted text at the cursor as it is (newlines included). */
void input_insert(const char *text, size_t n);
/* Ctrl-C: drop the line being typed (and any search or argument). */
void input_clear(void);
bool input_is_empty(void);
/* Change the prompt (e.g. for the multi-line mode). */
void input_set_prompt(const char *prompt);
/* Record an entered line in the history (memory and file). */
void input_history_add(const char *line);
/* The terminal's size changed. */
void input_resize(int rows, int cols);
/* A lone Esc is an editing key now: vi mode, or ending a history search. */
bool input_wants_esc(void);

/* What to draw: the prompt, the buffer (len bytes) and the cursor (a byte
 * offset into it). Valid until the next input_* call. */
void input_view(const char **prompt, const char **line, size_t *len, size_t *point);
/* The line changed since the last call (and clears the mark). */
bool input_take_dirty(void);

/* The history file's path: $XDG_STATE_HOME/glimpse/history, else
 * ~/.local/state/glimpse/history (malloc'd; NULL without HOME). Its
 * directory is created (0700) when create is true. */
char *input_history_path(bool create);

#endif
