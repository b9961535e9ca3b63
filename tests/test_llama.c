/*
 * test_llama.c - the decoder against references:
 *   - stories260K (a real trained tiny LLaMA with grouped-query attention):
 *     logits at positions 0 and 1 vs a float64 reference, and 256 greedy ids
 *     from BOS equal to the published generation;
 *   - the tiny LLaVA LLM in every quantization vs llama.cpp's greedy ids for
 *     "Once upon a time" under the margin rule, and its top-5 logits at step 0;
 *   - batched prefill == token-by-token decoding; truncate; abort; context full.
 */
#include "config.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/gguf.h"
#include "glimpse/llama.h"
#include "glimpse/prompt.h"
#include "glimpse/quant.h"
#include "glimpse/tokenizer.h"
#include "tap.h"

struct lm {
    gguf_file *f;
    llama_model *m;
    tok_vocab *v;
};

static bool lm_open(struct lm *l, const char *path)
{
    char *err = NULL;
    memset(l, 0, sizeof *l);
    l->f = gguf_open(path, &err);
    if (l->f)
        l->m = llama_load(l->f, &err);
    if (l->m)
        l->v = tok_load(l->f, &err);
    if (!l->v) {
        tap_diag("%s: %s", path, err ? err : "?");
        free(err);
        return false;
    }
    return true;
}

static void lm_close(struct lm *l)
{
    tok_free(l->v);
    llama_free(l->m);
    gguf_close(l->f);
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static llama_state *new_state(const llama_model *m, int n_ctx, int kv_type)
{
    char *err = NULL;
    struct llama_state_params p = llama_state_default_params();
    p.n_ctx = n_ctx;
    p.kv_type = kv_type;
    llama_state *s = llama_state_new(m, &p, &err);
    if (!s) {
        tap_diag("state: %s", err);
        free(err);
    }
    return s;
}

/* ---------------------------------------------------------------- stories260K */

static void test_stories(gl_pool *pool, int kv_type)
{
    const char *kvn = kv_type == GL_TYPE_F16 ? "f16" : "f32";
    char *path = tap_refpath("stories260K/stories260K.gguf");
    char *jpath = tap_refpath("stories260K/expected_greedy.json");
    json_error_t je;
    json_t *ref = json_load_file(jpath, 0, &je);
    struct lm l;
    if (!ref || !lm_open(&l, path)) {
        ok(0, "stories260K and its reference load");
        free(path);
        free(jpath);
        json_decref(ref);
        return;
    }
    const struct llama_hparams *hp = llama_get_hparams(l.m);
    ok(hp->n_vocab == 512 && hp->n_layer == 5 && hp->n_head == 8 && hp->n_head_kv == 4,
       "stories260K hyper-parameters (vocab 512, 5 layers, 8 heads, 4 kv heads)");

    llama_state *st = new_state(l.m, 512, kv_type);
    float *logits = malloc(sizeof(float) * (size_t)hp->n_vocab);
    char *err = NULL;
    int32_t tok = 1;
    int r = llama_forward(st, pool, &tok, NULL, 1, logits, NULL, &err);
    ok(r == 0, "forward BOS (kv %s)", kvn);

    json_t *l0 = json_object_get(ref, "logits_pos0_after_bos");
    double maxd = 0, maxa = 0;
    for (size_t i = 0; i < json_array_size(l0); i++) {
        double want = json_real_value(json_array_get(l0, i));
        maxd = fmax(maxd, fabs(want - logits[i]));
        maxa = fmax(maxa, fabs(want));
    }
    tap_diag("stories260K pos 0 logits: max |diff| %.2e (max |logit| %.2f)", maxd, maxa);
    ok(maxd < 1e-3 * fmax(1.0, maxa), "logits at position 0 match the float64 reference (kv %s)", kvn);

    json_t *gen = json_object_get(ref, "generated_ids");
    size_t n = json_array_size(gen);
    size_t same = 0;
    bool first_checked = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = argmax(logits, hp->n_vocab);
        if (id != json_integer_value(json_array_get(gen, i)))
            break;
        same++;
        if (i + 1 == n)
            break;
        if (llama_forward(st, pool, &id, NULL, 1, logits, NULL, &err))
            break;
        if (!first_checked) {
            json_t *l1 = json_object_get(ref, "logits_pos1_after_token403");
            double d1 = 0;
            for (size_t j = 0; j < json_array_size(l1); j++)
                d1 = fmax(d1, fabs(json_real_value(json_array_get(l1, j)) - logits[j]));
            tap_diag("stories260K pos 1 logits: max |diff| %.2e", d1);
            ok(d1 < 1e-3 * fmax(1.0, maxa), "logits at position 1 match (kv %s)", kvn);
            first_checked = true;
        }
    }
    ok(same == n && n == 256, "greedy generation from BOS: %zu of %zu ids as published (kv %s)", same,
       n, kvn);
    free(logits);
    free(err);
    llama_state_free(st);
    lm_close(&l);
    json_decref(ref);
    free(path);
    free(jpath);
}

/* ---------------------------------------------------------------- tiny llava, text */

static void test_variant(gl_pool *pool, const char *variant)
{
    char rel[256];
    snprintf(rel, sizeof rel, "expected/text/%s/p0__t1.json", variant);
    char *jpath = tap_refpath(rel);
    snprintf(rel, sizeof rel, "models/tiny-llava-llm-%s.gguf", variant);
    char *path = tap_refpath(rel);
    json_error_t je;
    json_t *ref = json_load_file(jpath, 0, &je);
    struct lm l;
    if (!ref || !lm_open(&l, path)) {
        ok(0, "%s: model and reference load", variant);
        goto out_free;
    }
    const bool is_f16 = strcmp(variant, "f16") == 0;
    const double tol = is_f16 ? 0.05 : 0.2;
    const struct llama_hparams *hp = llama_get_hparams(l.m);
    char *err = NULL;

    /* prompt tokens: raw template, BOS + text */
    struct tok_ids ids = {0};
    const char *prompt = json_string_value(json_object_get(ref, "prompt"));
    int r = gl_prompt_turn(l.v, GL_TMPL_RAW, NULL, true, prompt ? prompt : "", 0, &ids, &err);
    json_t *pt = json_object_get(ref, "prompt_tokens");
    bool same_prompt = r == 0 && ids.n == json_array_size(pt);
    for (size_t i = 0; same_prompt && i < ids.n; i++)
        same_prompt = ids.ids[i] == json_integer_value(json_array_get(pt, i));
    ok(same_prompt, "%s: prompt tokens equal llama.cpp's", variant);

    llama_state *st = new_state(l.m, 256, GL_TYPE_F16);
    float *logits = malloc(sizeof(float) * (size_t)hp->n_vocab);
    r = llama_forward(st, pool, ids.ids, NULL, (int)ids.n, logits, NULL, &err);
    ok(r == 0, "%s: prefill", variant);

    json_t *steps = json_object_get(ref, "steps");
    /* top-5 logits at step 0 */
    json_t *top = json_object_get(json_array_get(steps, 0), "top");
    double worst = 0;
    for (size_t i = 0; i < json_array_size(top); i++) {
        json_t *e = json_array_get(top, i);
        int id = (int)json_integer_value(json_array_get(e, 0));
        double want = json_number_value(json_array_get(e, 1));
        worst = fmax(worst, fabs(logits[id] - want) / fmax(fabs(want), 1e-3));
    }
    tap_diag("%s: step-0 top-5 logits, worst relative error %.2e", variant, worst);
    ok(worst <= (is_f16 ? 1e-2 : 5e-2), "%s: step-0 top-5 logits within %s of llama.cpp's", variant,
       is_f16 ? "1e-2" : "5e-2");

    /* greedy ids under the margin rule */
    json_t *out = json_object_get(ref, "output_ids");
    size_t n = json_array_size(out), matched = 0;
    bool okay = true, excused = false;
    double min_margin_so_far = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double m_i = json_number_value(json_object_get(json_array_get(steps, i), "margin"));
        min_margin_so_far = fmin(min_margin_so_far, m_i);
        int32_t want = (int32_t)json_integer_value(json_array_get(out, i));
        int32_t got = argmax(logits, hp->n_vocab);
        if (got != want) {
            if (min_margin_so_far < tol) {
                excused = true;
                tap_diag("%s: step %zu differs (got %d, want %d) after a recorded margin %.3f < %.2f: "
                         "stop comparing",
                         variant, i, got, want, min_margin_so_far, tol);
            } else {
                okay = false;
                tap_diag("%s: step %zu differs (got %d, want %d), margins so far >= %.3f", variant, i,
                         got, want, min_margin_so_far);
            }
            break;
        }
        matched++;
        if (i + 1 < n && llama_forward(st, pool, &got, NULL, 1, logits, NULL, &err)) {
            okay = false;
            break;
        }
    }
    ok(okay, "%s: greedy ids equal llama.cpp's (%zu of %zu compared%s)", variant, matched, n,
       excused ? ", stopped at a near-tie" : "");

    free(logits);
    free(err);
    tok_ids_free(&ids);
    llama_state_free(st);
    lm_close(&l);
out_free:
    json_decref(ref);
    free(path);
    free(jpath);
}

/* ---------------------------------------------------------------- cache behaviour */

static void test_cache(gl_pool *pool)
{
    char *path = tap_refpath("models/tiny-llava-llm-q4_K_M.gguf");
    struct lm l;
    if (!lm_open(&l, path)) {
        ok(0, "q4_K_M loads");
        free(path);
        return;
    }
    const struct llama_hparams *hp = llama_get_hparams(l.m);
    const int V = hp->n_vocab;
    char *err = NULL;
    int r;
    struct tok_ids ids = {0};
    gl_prompt_turn(l.v, GL_TMPL_VICUNA_V1, NULL, true, "What is in this picture?", 0, &ids, &err);
    const int n = (int)ids.n;
    float *a = malloc(sizeof(float) * (size_t)V), *b = malloc(sizeof(float) * (size_t)V);

    /* batched prefill vs one position at a time */
    llama_state *s1 = new_state(l.m, 128, GL_TYPE_F16), *s2 = new_state(l.m, 128, GL_TYPE_F16);
    llama_forward(s1, pool, ids.ids, NULL, n, a, NULL, &err);
    for (int i = 0; i < n; i++)
        llama_forward(s2, pool, &ids.ids[i], NULL, 1, b, NULL, &err);
    double d = 0;
    for (int i = 0; i < V; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    tap_diag("batched vs sequential prefill: max |diff| %.3g", d);
    ok(d == 0.0, "batched prefill of %d positions gives the same logits as decoding one by one", n);
    is_int(llama_state_pos(s1), n, "position after prefill");

    /* small internal chunks give the same result */
    struct llama_state_params p = llama_state_default_params();
    p.n_ctx = 128;
    p.n_batch = 7;
    llama_state *s3 = llama_state_new(l.m, &p, &err);
    llama_forward(s3, pool, ids.ids, NULL, n, b, NULL, &err);
    d = 0;
    for (int i = 0; i < V; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    ok(d == 0.0, "prefill in chunks of 7 rows gives the same logits");

    /* truncate and redo the last 5 positions */
    llama_state_truncate(s1, n - 5);
    is_int(llama_state_pos(s1), n - 5, "truncate moves the position back");
    llama_forward(s1, pool, ids.ids + n - 5, NULL, 5, b, NULL, &err);
    d = 0;
    for (int i = 0; i < V; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    ok(d == 0.0, "after truncation, re-feeding the same tokens gives the same logits");

    /* embeddings in place of tokens: feeding token_embd rows equals feeding ids */
    const struct gguf_tensor *te = gguf_find_tensor(l.f, "token_embd.weight");
    float *rows = malloc(sizeof(float) * (size_t)n * (size_t)hp->n_embd);
    const struct gl_type_traits *tr = gl_type_traits(te->type);
    for (int i = 0; i < n; i++)
        tr->to_float((const char *)te->data + (size_t)ids.ids[i] * gl_row_size(te->type, hp->n_embd),
                     rows + (size_t)i * hp->n_embd, hp->n_embd);
    llama_state_truncate(s2, 0);
    llama_forward(s2, pool, NULL, rows, n, b, NULL, &err);
    d = 0;
    for (int i = 0; i < V; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    ok(d == 0.0, "embedding rows in place of token ids give the same logits");

    /* errors */
    llama_state_truncate(s2, 0);
    int32_t bad = V + 5;
    free(err);
    err = NULL;
    r = llama_forward(s2, pool, &bad, NULL, 1, b, NULL, &err);
    ok(r == -1 && err && strstr(err, "vocabulary"), "an out-of-range token id is refused: %s",
       err ? err : "");
    free(err);
    err = NULL;
    llama_state_truncate(s3, 0);
    int32_t *many = calloc(200, sizeof *many);
    for (int i = 0; i < 200; i++)
        many[i] = 1;
    r = llama_forward(s3, pool, many, NULL, 200, b, NULL, &err);
    ok(r == -1 && err && strstr(err, "context"), "a prompt longer than the context is refused: %s",
       err ? err : "");
    is_int(llama_state_pos(s3), 0, "and the state is unchanged");
    free(many);
    free(err);
    free(rows);
    free(a);
    free(b);
    tok_ids_free(&ids);
    llama_state_free(s1);
    llama_state_free(s2);
    llama_state_free(s3);
    lm_close(&l);
    free(path);
}

static bool abort_now(void *u)
{
    int *calls = u;
    return ++*calls > 1;
}

static void test_abort(gl_pool *pool)
{
    char *path = tap_refpath("models/tiny-llava-llm-q8_0.gguf");
    struct lm l;
    if (!lm_open(&l, path)) {
        ok(0, "q8_0 loads");
        free(path);
        return;
    }
    char *err = NULL;
    llama_state *s = new_state(l.m, 64, GL_TYPE_F16);
    int32_t toks[8] = {1, 9038, 2501, 263, 931, 1, 1, 1};
    int calls = 0;
    struct llama_abort ab = {.should_abort = abort_now, .user = &calls};
    ok(llama_forward(s, pool, toks, NULL, 8, NULL, &ab, &err) == -2, "abort between layers returns -2");
    is_int(llama_state_pos(s), 0, "an aborted forward leaves the position where it was");
    llama_state_free(s);
    lm_close(&l);
    free(path);
    free(err);
}

static void test_bad_files(void)
{
    char *err = NULL;
    char *path = tap_refpath("models/tiny-llava-mmproj-f16.gguf");
    gguf_file *f = gguf_open(path, &err);
    llama_model *m = f ? llama_load(f, &err) : NULL;
    ok(!m && err && strstr(err, "mmproj"), "an mmproj file given as the LLM is refused: %s",
       err ? err : "");
    llama_free(m);
    gguf_close(f);
    free(err);
    free(path);
}

int main(void)
{
    if (!tap_refdata())
        tap_skip_all("GLIMPSE_REFDATA not found: reference models absent");
    char *err = NULL;
    gl_pool *pool = gl_pool_new(2, &err);
    if (!pool)
        tap_skip_all("no pool: %s", err);

    test_stories(pool, GL_TYPE_F32);
    test_stories(pool, GL_TYPE_F16);
    static const char *variants[] = {"f16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                     "q2_K", "q3_K_M", "q4_K_M", "q5_K_M"};
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        test_variant(pool, variants[i]);
    test_cache(pool);
    test_abort(pool);
    test_bad_files();
    gl_pool_free(pool);
    return tap_done();
}
