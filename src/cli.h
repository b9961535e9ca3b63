/*
 * cli.h - the command-line front end's modes (private to src/glimpse).
 * Each mode returns the process exit status.
 */
#ifndef GLIMPSE_CLI_H
#define GLIMPSE_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "glimpse/chat.h"
#include "glimpse/prompt.h"
#include "glimpse/sampler.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

#define CLI_MAX_PROMPTS 64
#define CLI_MAX_IMAGES 16

struct cli_opts {
    const char *model;          /* -m */
    const char *mmproj;         /* --mmproj */
    const char *prompts[CLI_MAX_PROMPTS]; /* -p, in order ("-" = stdin) */
    int n_prompts;
    const char *images[CLI_MAX_IMAGES];
    int n_images;
    const char *system;         /* --system, NULL = template default */
    enum gl_template tmpl;
    bool compat_llamacpp;       /* --compat llama.cpp */
    enum gl_context_policy context_policy;
    int n_predict;              /* -n */
    int n_threads;              /* -t, 0 = cores */
    int n_ctx;                  /* -c, 0 = model's (at most 4096) */
    int kv_type;                /* enum gl_type */
    struct gl_sampler_params sp;
    bool seed_set;
    bool json;
    bool quiet, verbose;
    bool no_exif;
    const char *dump_pre;       /* --dump-preprocessed */
    const char *dump_embd;      /* --dump-embd */
    const char *save;           /* --save FILE: the session, after the turns */
    bool no_embed_images;       /* --no-embed-images */
};

/* glimpse --inspect FILE [--json]: describe a GGUF file on stdout. */
int cli_inspect(const char *path, bool json);

/* One-shot: answer each -p in turn, streaming to stdout (or JSON lines). */
int cli_generate(const struct cli_opts *o);

#endif
