/*
 * test_prompt.c - chat templates against the original code's token ids:
 *   - vicuna_v1 and llava_v1 vs LLaVA-1.5's own tokenization (faithful/prompts.json),
 *     for a first turn with an image, without one, and a follow-up turn's boundary;
 *   - the llama.cpp layout vs llama-llava-cli's prompt tokens (expected/llava).
 */
#include "config.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/gguf.h"
#include "glimpse/prompt.h"
#include "glimpse/tokenizer.h"
#include "tap.h"

static bool ids_equal(const struct tok_ids *got, json_t *want, size_t from)
{
    if (got->n != json_array_size(want) - from)
        return false;
    for (size_t i = 0; i < got->n; i++)
        if (got->ids[i] != json_integer_value(json_array_get(want, from + i)))
            return false;
    return true;
}

static void show(const char *what, const struct tok_ids *got)
{
    char buf[2048];
    size_t o = 0;
    for (size_t i = 0; i < got->n && o < sizeof buf - 16; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%d ", got->ids[i]);
    tap_diag("%s: %s", what, buf);
}

static void test_faithful(const tok_vocab *v)
{
    char *path = tap_refpath("faithful/prompts.json");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    free(path);
    json_t *cases = json_object_get(root, "cases");
    ok(json_array_size(cases) > 0, "faithful/prompts.json has cases");
    static const struct {
        const char *key;
        enum gl_template t;
    } tm[] = {{"vicuna_v1", GL_TMPL_VICUNA_V1}, {"llava_v1", GL_TMPL_LLAVA_V1}};
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *turns = json_object_get(c, "turns");
        bool img = json_is_true(json_object_get(c, "image_in_first_turn"));
        for (size_t k = 0; k < 2; k++) {
            json_t *want = json_object_get(json_object_get(c, tm[k].key), "input_ids");
            /* Build the whole conversation: each turn's prompt, then the
             * recorded answer tokenized as the original does (it is part of
             * the prompt string there). */
            struct tok_ids got = {0};
            char *err = NULL;
            int r = 0;
            for (size_t ti = 0; ti < json_array_size(turns) && r == 0; ti++) {
                json_t *turn = json_array_get(turns, ti);
                const char *q = json_string_value(json_array_get(turn, 0));
                r = gl_prompt_turn(v, tm[k].t, NULL, ti == 0, q, ti == 0 && img ? 1 : 0, &got, &err);
                const char *a = json_string_value(json_array_get(turn, 1));
                if (r == 0 && a) /* " ASSISTANT:" is followed by " " + answer: the space prefix */
                    r = tok_encode_plain(v, a, strlen(a), true, &got, &err);
            }
            bool same = r == 0 && ids_equal(&got, want, 0);
            ok(same, "%s, %s: token ids equal LLaVA's own", name, tm[k].key);
            if (!same)
                show("got", &got);
            free(err);
            tok_ids_free(&got);
        }
    }

    /* The follow-up boundary on its own: what a KV-cached second turn feeds
     * is exactly the tail of the whole prompt after the first answer. */
    json_t *c = NULL;
    for (size_t ci = 0; ci < json_array_size(cases); ci++)
        if (json_array_size(json_object_get(json_array_get(cases, ci), "turns")) > 1)
            c = json_array_get(cases, ci);
    if (c) {
        json_t *want = json_object_get(json_object_get(c, "vicuna_v1"), "input_ids");
        json_t *t1 = json_array_get(json_object_get(c, "turns"), 1);
        struct tok_ids got = {0};
        char *err = NULL;
        gl_prompt_turn(v, GL_TMPL_VICUNA_V1, NULL, false, json_string_value(json_array_get(t1, 0)), 0,
                       &got, &err);
        size_t n = json_array_size(want);
        ok(got.n > 0 && got.ids[0] == 2 && n >= got.n && ids_equal(&got, want, n - got.n),
           "a follow-up turn feeds </s> then 'USER: ... ASSISTANT:' as the original tokenizes it");
        ok(got.n > 2 && got.ids[1] == 3308 && got.ids[2] == 1001,
           "'USER' after </s> is 'US' 'ER' (3308 1001), not '▁US'");
        free(err);
        tok_ids_free(&got);
    }

    /* Without an image: the same prompt minus "<image>\n" (no -200 anywhere). */
    struct tok_ids got = {0};
    char *err = NULL;
    gl_prompt_turn(v, GL_TMPL_VICUNA_V1, NULL, true, "What is in this picture?", 0, &got, &err);
    bool no_img = got.n > 0 && got.ids[0] == 1;
    for (size_t i = 0; i < got.n; i++)
        no_img &= got.ids[i] != GL_PROMPT_IMAGE;
    /* "... USER: What is in this picture? ASSISTANT:" — USER: is followed by
     * "▁What" (1724) since no image cut intervenes */
    ok(no_img && got.n > 36 && got.ids[33] == 29901 && got.ids[34] == 1724,
       "a first turn without an image: BOS, system, 'USER: What ...' in one chunk");
    free(err);
    tok_ids_free(&got);
    json_decref(root);
}

static void test_llamacpp(const tok_vocab *v)
{
    char *dir = tap_refpath("expected/llava/f16");
    DIR *d = opendir(dir);
    int n = 0, good = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strstr(e->d_name, "__t1.json"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t je;
        json_t *j = json_load_file(path, 0, &je);
        const char *prompt = json_string_value(json_object_get(j, "prompt"));
        json_t *want = json_object_get(j, "prompt_tokens");
        struct tok_ids got = {0};
        char *err = NULL;
        gl_prompt_turn(v, GL_TMPL_LLAMACPP, NULL, true, prompt, 1, &got, &err);
        /* the reference shows the image rows as one entry (an object) */
        bool same = got.n == json_array_size(want);
        for (size_t i = 0; same && i < got.n; i++) {
            json_t *w = json_array_get(want, i);
            same = json_is_integer(w) ? got.ids[i] == json_integer_value(w)
                                      : got.ids[i] == GL_PROMPT_IMAGE;
        }
        n++;
        good += same;
        if (!same) {
            tap_diag("%s differs", e->d_name);
            show("got", &got);
        }
        free(err);
        tok_ids_free(&got);
        json_decref(j);
    }
    if (d)
        closedir(d);
    free(dir);
    ok(n > 0 && good == n, "llama.cpp layout: %d of %d prompts equal llava-cli's tokens", good, n);
}

int main(void)
{
    enum gl_template t;
    char *err = NULL;
    ok(gl_template_parse("vicuna_v1", &t, &err) == 0 && t == GL_TMPL_VICUNA_V1, "parse vicuna_v1");
    ok(gl_template_parse("llama.cpp", &t, &err) == 0 && t == GL_TMPL_LLAMACPP, "parse llama.cpp");
    ok(gl_template_parse("chatml", &t, &err) == -1 && err && strstr(err, "vicuna_v1"),
       "an unknown template is refused with the list");
    free(err);
    ok(strstr(gl_template_system(GL_TMPL_VICUNA_V1), "curious user") != NULL, "vicuna_v1 system text");
    ok(strstr(gl_template_system(GL_TMPL_LLAVA_V1), "curious human") != NULL, "llava_v1 system text");

    if (!tap_refdata()) {
        tap_skip(1, "GLIMPSE_REFDATA not found");
        return tap_done();
    }
    char *path = tap_refpath("models/tiny-llava-llm-q4_0.gguf");
    err = NULL;
    gguf_file *f = gguf_open(path, &err);
    tok_vocab *v = f ? tok_load(f, &err) : NULL;
    free(path);
    if (!v) {
        ok(0, "vocabulary loads: %s", err ? err : "?");
        free(err);
        return tap_done();
    }
    test_faithful(v);
    test_llamacpp(v);
    tok_free(v);
    gguf_close(f);
    return tap_done();
}
