/*
 * generate.c - one-shot mode: load the model, answer each -p in turn, stream
 * the text to stdout (or print one JSON object per turn), exit.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "glimpse/gguf.h"
#include "glimpse/llama.h"
#include "glimpse/pool.h"
#include "glimpse/prompt.h"
#include "glimpse/quant.h"
#include "glimpse/sampler.h"
#include "glimpse/tokenizer.h"
#include "util.h"

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static bool should_abort(void *user)
{
    (void)user;
    return g_interrupted != 0;
}

/* Read all of stdin into a malloc'd string. */
static char *read_stdin(void)
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
        size_t r = fread(s + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0)
            break;
    }
    s[n] = 0;
    /* a trailing newline from `echo` is not part of the question */
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static void fail(const char *msg)
{
    fprintf(stderr, "glimpse: %s\n", msg);
}

struct turn_result {
    struct tok_ids out;
    char *text;
    size_t text_len, text_cap;
    const char *stop_reason;
    double prefill_ms, decode_ms;
    int prefill_tokens, decode_tokens;
};

static void text_add(struct turn_result *r, const char *s, size_t n)
{
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap * 2 : 256;
        while (cap < r->text_len + n + 1)
            cap *= 2;
        char *p = realloc(r->text, cap);
        if (!p)
            return;
        r->text = p;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
}

static json_t *ids_json(const int32_t *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    return a;
}

int cli_generate(const struct cli_opts *o)
{
    int rc = EXIT_RUNTIME;
    char *err = NULL;
    gguf_file *gf = NULL;
    llama_model *lm = NULL;
    tok_vocab *vocab = NULL;
    llama_state *st = NULL;
    gl_pool *pool = NULL;
    gl_sampler *smp = NULL;
    float *logits = NULL;
    char *stdin_text = NULL;
    struct tok_ids prompt = {0};
    struct turn_result res = {0};

    if (!o->model) {
        fail("no model given: use -m MODEL.gguf");
        return EXIT_USAGE;
    }
    if (o->n_images > 0) {
        fail("images need the vision engine, which is not built yet");
        return EXIT_USAGE;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    double t0 = gl_now();
    if (!(gf = gguf_open(o->model, &err)) || !(lm = llama_load(gf, &err)) ||
        !(vocab = tok_load(gf, &err)))
        goto out;
    const struct llama_hparams *hp = llama_get_hparams(lm);
    if (tok_n_vocab(vocab) != hp->n_vocab) {
        err = gl_strfmt("%s: the vocabulary has %d tokens but the embedding table %d rows", o->model,
                        tok_n_vocab(vocab), hp->n_vocab);
        goto out;
    }
    struct llama_state_params spar = llama_state_default_params();
    spar.n_ctx = o->n_ctx > 0 ? o->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    spar.kv_type = o->kv_type;
    if (!(st = llama_state_new(lm, &spar, &err)) || !(pool = gl_pool_new(o->n_threads, &err)) ||
        !(smp = gl_sampler_new(&o->sp, hp->n_vocab, &err)))
        goto out;
    if (!(logits = malloc((size_t)hp->n_vocab * sizeof *logits))) {
        err = gl_strfmt("out of memory");
        goto out;
    }
    double load_ms = (gl_now() - t0) * 1e3;
    struct llama_abort ab = {.should_abort = should_abort};
    /* The last answer's final token when it was sampled but not yet fed
     * (the answer stopped at -n): it goes in before the next turn. */
    int32_t pending = -1;

    for (int ti = 0; ti < o->n_prompts; ti++) {
        const char *text = o->prompts[ti];
        if (strcmp(text, "-") == 0) {
            free(stdin_text);
            if (!(stdin_text = read_stdin())) {
                err = gl_strfmt("could not read the prompt from standard input");
                goto out;
            }
            text = stdin_text;
        }
        prompt.n = 0;
        if (pending >= 0 && tok_ids_push(&prompt, pending)) {
            err = gl_strfmt("out of memory");
            goto out;
        }
        size_t skip = prompt.n; /* fed, but not part of this turn's prompt */
        if (gl_prompt_turn(vocab, o->tmpl, o->system, ti == 0, text, 0, &prompt, &err))
            goto out;
        pending = -1;
        if ((int)prompt.n + llama_state_pos(st) > llama_state_n_ctx(st)) {
            err = gl_strfmt("the prompt needs %d positions but only %d of the context's %d are free "
                            "(use -c to enlarge it)",
                            (int)prompt.n, llama_state_n_ctx(st) - llama_state_pos(st),
                            llama_state_n_ctx(st));
            rc = EXIT_RUNTIME;
            goto out;
        }

        free(res.text);
        tok_ids_free(&res.out);
        memset(&res, 0, sizeof res);
        res.stop_reason = "length";
        double tp = gl_now();
        int r = llama_forward(st, pool, prompt.ids, NULL, (int)prompt.n, logits, &ab, &err);
        if (r == -1)
            goto out;
        res.prefill_ms = (gl_now() - tp) * 1e3;
        res.prefill_tokens = (int)(prompt.n - skip);
        for (size_t i = skip; i < prompt.n; i++)
            gl_sampler_accept(smp, prompt.ids[i]);

        struct tok_stream ts = {0};
        const bool strip_lead = o->tmpl != GL_TMPL_RAW || text[0] == 0;
        char piece[256];
        double td = gl_now();
        if (r == -2) {
            res.stop_reason = "cancel";
        } else {
            for (int i = 0; o->n_predict < 0 || i < o->n_predict; i++) {
                if (g_interrupted) {
                    res.stop_reason = "cancel";
                    break;
                }
                int32_t id = gl_sampler_sample(smp, logits, NULL, NULL);
                if (id == tok_eos(vocab)) {
                    res.stop_reason = "eos";
                    break;
                }
                tok_ids_push(&res.out, id);
                gl_sampler_accept(smp, id);
                size_t n = tok_stream_feed(vocab, &ts, id, piece, sizeof piece);
                const char *p = piece;
                /* SentencePiece's word marker makes an answer start with a
                 * space; like its decoder, drop it (a raw continuation of
                 * the user's text keeps it: it separates the words). */
                if (res.text_len == 0 && n > 0 && piece[0] == ' ' && strip_lead) {
                    p++;
                    n--;
                }
                text_add(&res, p, n);
                if (!o->json && n) {
                    fwrite(p, 1, n, stdout);
                    fflush(stdout);
                }
                res.decode_tokens++;
                bool last = o->n_predict >= 0 && i + 1 >= o->n_predict;
                if (last) {
                    pending = id;
                    break;
                }
                if (llama_state_pos(st) >= llama_state_n_ctx(st)) {
                    pending = id;
                    res.stop_reason = "length";
                    break;
                }
                r = llama_forward(st, pool, &id, NULL, 1, logits, &ab, &err);
                if (r == -2) {
                    res.stop_reason = "cancel";
                    break;
                }
                if (r)
                    goto out;
            }
        }
        size_t n = tok_stream_flush(&ts, piece, sizeof piece);
        text_add(&res, piece, n);
        res.decode_ms = (gl_now() - td) * 1e3;
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "prompt_tokens", ids_json(prompt.ids + skip, prompt.n - skip));
            json_object_set_new(j, "output_ids", ids_json(res.out.ids, res.out.n));
            json_object_set_new(j, "output_text", json_stringn(res.text ? res.text : "", res.text_len));
            json_object_set_new(j, "stop_reason", json_string(res.stop_reason));
            json_t *t = json_object();
            json_object_set_new(t, "load_ms", json_real(ti == 0 ? load_ms : 0.0));
            json_object_set_new(t, "prefill_ms", json_real(res.prefill_ms));
            json_object_set_new(t, "prefill_tokens", json_integer(res.prefill_tokens));
            json_object_set_new(t, "decode_ms", json_real(res.decode_ms));
            json_object_set_new(t, "decode_tokens", json_integer(res.decode_tokens));
            json_object_set_new(j, "timings", t);
            json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
            fputc('\n', stdout);
            json_decref(j);
        } else {
            if (n)
                fwrite(piece, 1, n, stdout);
            fputc('\n', stdout);
        }
        fflush(stdout);
        if (o->verbose)
            fprintf(stderr,
                    "load %.0f ms | prompt %d tokens, %.0f ms (%.1f tok/s) | answer %d tokens, "
                    "%.0f ms (%.1f tok/s)\n",
                    load_ms, res.prefill_tokens, res.prefill_ms,
                    res.prefill_tokens / (res.prefill_ms / 1e3 + 1e-9), res.decode_tokens,
                    res.decode_ms, res.decode_tokens / (res.decode_ms / 1e3 + 1e-9));
        if (g_interrupted) {
            rc = EXIT_INTERRUPTED;
            goto out;
        }
    }
    rc = EXIT_OK;
out:
    if (err) {
        fail(err);
        free(err);
    }
    free(res.text);
    tok_ids_free(&res.out);
    tok_ids_free(&prompt);
    free(stdin_text);
    free(logits);
    gl_sampler_free(smp);
    gl_pool_free(pool);
    llama_state_free(st);
    tok_free(vocab);
    llama_free(lm);
    gguf_close(gf);
    return rc;
}
