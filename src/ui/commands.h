/*
 * commands.h - the chat's slash commands and keys, as tables: each command
 * is an entry (name, arguments, help, handler, what Tab completes), and
 * /help, completion and the parser all read the same tables.
 *
 *   char *err = NULL;
 *   if (cmd_run(t, "/set temp 0", &err)) app_note(t, TR_ERROR, "%s", err);
 */
#ifndef GLIMPSE_UI_COMMANDS_H
#define GLIMPSE_UI_COMMANDS_H

#include <stdbool.h>

#include "ui/input.h"

struct tui;

#define CMD_MAX_ARGS 16

struct cmd_args {
    int argc;
    char *argv[CMD_MAX_ARGS];   /* words after the name, quotes and backslashes removed */
    const char *rest;           /* the raw text after the name, trimmed */
};

typedef int (*cmd_fn)(struct tui *t, const struct cmd_args *a, char **err);

struct cmd_entry {
    const char *name;           /* without the slash */
    const char *args;           /* for /help: "PATH", "[all]", "" */
    const char *help;           /* one line */
    int min_args, max_args;     /* max_args -1: free text (see rest) */
    cmd_fn fn;
    enum input_complete complete;   /* what Tab offers for the first argument */
    const char *const *words;       /* INPUT_COMPLETE_WORDS: NULL-terminated */
};

/* The table, in /help order; *n entries. */
const struct cmd_entry *cmd_table(int *n);

/* The entry for a name (without '/'): an exact name, else a unique prefix.
 * NULL with *err ("unknown command /x (see /help)" or "/s is ambiguous:
 * /save, /set, ..."). */
const struct cmd_entry *cmd_lookup(const char *name, char **err);

/* A line "/name args..." split: its entry and arguments (argv malloc'd: free
 * with cmd_args_free). 0, or -1 with *err (unknown command, wrong number
 * of arguments: the message shows the usage). */
int cmd_parse(const char *line, const struct cmd_entry **entry, struct cmd_args *a, char **err);
void cmd_args_free(struct cmd_args *a);

/* Split text into shell-like words ('...', "...", backslash escapes).
 * 0, or -1 when there are more than max words or memory runs out. */
int cmd_split(const char *s, char **argv, int max, int *argc);

/* Parse and run a command line; 0, or -1 with *err. */
int cmd_run(struct tui *t, const char *line, char **err);

/* Tab completion for the input line (see struct input_hooks). */
enum input_complete cmd_complete(const char *line, int start, int end,
                                 const char *const **words, int *n_words);

/* The keys, for /help (and the tests that check the man page and README). */
struct key_entry {
    const char *key;            /* "Ctrl-C", "PgUp/PgDn", ... */
    const char *help;
};
const struct key_entry *cmd_keys(int *n);

/* /help as lines of text (malloc'd, '\n'-separated). */
char *cmd_help_text(void);

/* The /set names, NULL-terminated. */
const char *const *cmd_setting_names(void);

#endif
