/*
 * config_file.h - the user's defaults file, $XDG_CONFIG_HOME/glimpse/config
 * (default ~/.config/glimpse/config), private to src/glimpse. (Not named
 * config.h: that is autoconf's header, which every file includes first.)
 *
 *   # lines like this are comments; blank lines are fine
 *   model   = llava:7b           # a file, ~/a/file or an ollama/llama.cpp name
 *   mmproj  = ~/models/mmproj-model-f16.gguf
 *   threads = 4
 *   temp    = 0
 *   system  = "You are terse. # not a comment inside quotes"
 *
 * Syntax: KEY = VALUE, one per line. Keys are the names below ('-' may be
 * written for '_'). A value may be double-quoted (escapes \" \\ \n \t; the
 * only way to write an empty value or keep leading/trailing spaces) or
 * single-quoted (taken literally). In an unquoted value, '#' after a space
 * starts a comment. Unknown keys, repeated keys, bad values and malformed
 * lines are errors that name the file and line ("FILE:LINE: ..."). The
 * command line overrides every key.
 *
 * Keys: model, mmproj, system, template (vicuna_v1, llava_v1, llama.cpp,
 * raw), threads, ctx, n_predict, kv_type (f16, f32), temp, top_k, top_p,
 * min_p, repeat_penalty, repeat_last_n, seed - with the same meanings and
 * ranges as the options -m, --mmproj, --system, --template, -t, -c, -n,
 * --kv-type, --temp, --top-k, --top-p, --min-p, --repeat-penalty,
 * --repeat-last-n and -s.
 */
#ifndef GLIMPSE_CONFIG_FILE_H
#define GLIMPSE_CONFIG_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "glimpse/prompt.h"

struct cli_opts;

/* Which keys a file set (bits of gl_config.set). */
enum {
    CONFIG_MODEL = 1u << 0,
    CONFIG_MMPROJ = 1u << 1,
    CONFIG_SYSTEM = 1u << 2,
    CONFIG_TEMPLATE = 1u << 3,
    CONFIG_THREADS = 1u << 4,
    CONFIG_CTX = 1u << 5,
    CONFIG_N_PREDICT = 1u << 6,
    CONFIG_KV_TYPE = 1u << 7,
    CONFIG_TEMP = 1u << 8,
    CONFIG_TOP_K = 1u << 9,
    CONFIG_TOP_P = 1u << 10,
    CONFIG_MIN_P = 1u << 11,
    CONFIG_REPEAT_PENALTY = 1u << 12,
    CONFIG_REPEAT_LAST_N = 1u << 13,
    CONFIG_SEED = 1u << 14,
};

struct gl_config {
    char *path;                 /* the file read; NULL when there was none */
    uint32_t set;               /* CONFIG_* bits: which fields below are meaningful */
    char *model, *mmproj;       /* "~/" expanded to $HOME */
    char *system;               /* may be "" */
    enum gl_template tmpl;
    int threads, ctx, n_predict;
    int kv_type;                /* enum gl_type: GL_TYPE_F16 or GL_TYPE_F32 */
    float temp, top_p, min_p, repeat_penalty;
    int top_k, repeat_last_n;
    uint64_t seed;
};

/* $XDG_CONFIG_HOME/glimpse/config (absolute XDG_CONFIG_HOME only), else
 * $HOME/.config/glimpse/config. malloc'd; NULL without a home directory. */
char *config_default_path(void);

/* Read a config file into *cfg (zeroed first). path NULL = the default
 * path, where a missing file is not an error (cfg->path stays NULL); a
 * given path must exist. Returns 0, or -1 with a one-line *err
 * ("FILE:LINE: what is wrong" for the file's own mistakes). */
int config_load(const char *path, struct gl_config *cfg, char **err);

/* Parse text[0..len) as if read from a file called `name` (for tests). */
int config_parse(const char *text, size_t len, const char *name, struct gl_config *cfg, char **err);

/* Free the strings; NULL-safe; the struct is zeroed. */
void config_free(struct gl_config *cfg);

/* Copy the keys that were set into the options, before the command line is
 * parsed so that options override them. Strings are borrowed from cfg,
 * which must outlive o. */
void config_apply(const struct gl_config *cfg, struct cli_opts *o);

#endif
