/*
 * test_demo.c - `glimpse --demo`'s pieces (src/demo.c): the generated model
 * pair and the sample picture.
 *
 * Checks that demo_make writes, quickly and always the same bytes, an LLM
 * and an mmproj laid out as FORMAT.md §2-§4 says (the mmproj's keys and
 * tensors, in order, against the spec and, when the reference data is
 * there, against the reference tiny LLaVA mmproj; the LLM's keys and tensor
 * names against the reference tiny LLM), with a synthetic vocabulary
 * (specials, 256 byte tokens, a few hundred U+2581 words); that the pair
 * loads and, with the sample picture (found through GLIMPSE_DATADIR, which
 * the test environment points at the build tree), answers with readable
 * words: only word and punctuation tokens, finite image rows, answers that
 * end by themselves and differ between seeds. Also the picture's size and
 * that it is a scene (blue sky above, green ground below), the banner,
 * clean-up and the error path.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo.h"
#include "glimpse/chat.h"
#include "glimpse/gguf.h"
#include "glimpse/image.h"
#include "glimpse/quant.h"
#include "glimpse/tokenizer.h"
#include "tap.h"
#include "util.h"

#define WP "\xe2\x96\x81"       /* U+2581 */

#if defined(__SANITIZE_ADDRESS__)
#define MAKE_LIMIT_S 4.0        /* sanitizers slow everything down several times */
#else
#define MAKE_LIMIT_S 1.0
#endif

static char *scratch_dir(void)
{
    char *d = gl_strfmt("%s/demo-XXXXXX", tap_tmpdir());
    if (!d || !mkdtemp(d)) {
        fprintf(stderr, "cannot make a scratch directory\n");
        exit(1);
    }
    return d;
}

static bool same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    void *x = tap_slurp(a, &na), *y = tap_slurp(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static bool key_is(const gguf_file *f, int64_t i, const char *key)
{
    const struct gguf_kv *kv = gguf_kv_at(f, i);
    return kv && gguf_str_eq(kv->key, key);
}

static uint32_t u32_of(const gguf_file *f, const char *key)
{
    uint32_t v = 0;
    char *err = NULL;
    if (gguf_get_u32(f, key, &v, &err) != 0)
        v = UINT32_MAX;
    free(err);
    return v;
}

/* ---------------------------------------------------------------- the LLM */

static void check_llm(const char *path)
{
    char *err = NULL;
    gguf_file *f = gguf_open(path, &err);
    ok(f != NULL, "the LLM opens as GGUF %s", err ? err : "");
    if (!f) {
        free(err);
        return;
    }
    struct gguf_str s;
    ok(gguf_get_str(f, "general.architecture", &s, NULL) == 0 && gguf_str_eq(s, "llama"),
       "LLM: architecture llama");
    ok(gguf_get_str(f, "general.name", &s, NULL) == 0 &&
           gguf_str_eq(s, "glimpse demo (random weights)"),
       "LLM: general.name says the weights are random");
    ok(u32_of(f, "llama.embedding_length") == 256 && u32_of(f, "llama.block_count") == 2 &&
           u32_of(f, "llama.attention.head_count") == 4 &&
           u32_of(f, "llama.feed_forward_length") == 512 &&
           u32_of(f, "llama.context_length") == 2048,
       "LLM: 256 wide, 2 layers, 4 heads, ff 512, ctx 2048");

    const struct gguf_value *toks = NULL, *types = NULL;
    gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STR, &toks, NULL);
    gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, &types, NULL);
    uint64_t n = toks ? toks->v.arr.n : 0;
    ok(toks && types && types->v.arr.n == n && u32_of(f, "llama.vocab_size") == n,
       "LLM: %llu tokens, types and llama.vocab_size agree", (unsigned long long)n);
    if (toks && types && n > 259) {
        const struct gguf_value *it = toks->v.arr.items;
        bool specials = gguf_str_eq(it[0].v.str, "<unk>") && gguf_str_eq(it[1].v.str, "<s>") &&
                        gguf_str_eq(it[2].v.str, "</s>") && gguf_arr_i64(types, 0) == 2 &&
                        gguf_arr_i64(types, 1) == 3 && gguf_arr_i64(types, 2) == 3;
        ok(specials, "LLM: <unk> <s> </s> are ids 0-2 (unknown, control, control)");
        bool bytes = true;
        for (int b = 0; b < 256; b++) {
            char want[8];
            snprintf(want, sizeof want, "<0x%02X>", b);
            bytes = bytes && gguf_str_eq(it[3 + b].v.str, want) && gguf_arr_i64(types, 3 + b) == 6;
        }
        ok(bytes, "LLM: ids 3-258 are the byte tokens <0x00>..<0xFF>, type 6");
        /* words: U+2581 + lower-case letters (capitals start sentences) */
        int words = 0, other = 0;
        for (uint64_t i = 259; i < n; i++) {
            struct gguf_str t = it[i].v.str;
            if (gguf_arr_i64(types, (uint64_t)i) != 1)
                other++;
            if (t.len > 4 && memcmp(t.ptr, WP, 3) == 0)
                words++;
        }
        ok(words >= 300 && other == 0, "LLM: %d U+2581 words and prefixes, all normal tokens", words);
    }

    /* The same keys and tensors as a converted LLaMA (the reference tiny LLM) */
    char *rp = tap_refdata() ? tap_refpath("models/tiny-llava-llm-f16.gguf") : NULL;
    gguf_file *ref = rp ? gguf_open(rp, NULL) : NULL;
    if (!ref) {
        tap_skip(2, "reference tiny LLM not available");
    } else {
        int missing = 0;
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            char *k = gguf_str_dup(gguf_kv_at(f, i)->key);
            const struct gguf_value *rv = gguf_get(ref, k);
            if (!rv || rv->type != gguf_kv_at(f, i)->val.type) {
                tap_diag("key %s is not in the reference LLM (or has another type)", k);
                missing++;
            }
            free(k);
        }
        ok(missing == 0, "LLM: every key is one a converted LLaMA has, with its type");
        int bad = 0;
        bool count = gguf_n_tensors(f) == gguf_n_tensors(ref);
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const struct gguf_tensor *t = gguf_tensor_at(f, i), *r = gguf_find_tensor(ref, t->name);
            /* the reference is 768 wide in its feed-forward layers, the demo 512 */
            int64_t want0 = r && r->ne[0] == 768 ? 512 : r ? r->ne[0] : -1;
            if (!r || r->type != t->type || r->n_dims != t->n_dims || t->ne[0] != want0) {
                tap_diag("tensor %s differs from the reference LLM", t->name);
                bad++;
            }
        }
        ok(count && bad == 0, "LLM: the reference's tensors, names, types and row widths");
    }
    gguf_close(ref);
    free(rp);
    gguf_close(f);
}

/* ---------------------------------------------------------------- the mmproj */

/* FORMAT.md §2, in order */
static const char *const mmproj_keys[] = {
    "general.architecture", "clip.has_text_encoder", "clip.has_vision_encoder",
    "clip.has_llava_projector", "general.file_type", "general.name", "general.description",
    "clip.projector_type", "clip.vision.image_size", "clip.vision.patch_size",
    "clip.vision.embedding_length", "clip.vision.feed_forward_length",
    "clip.vision.projection_dim", "clip.vision.attention.head_count",
    "clip.vision.attention.layer_norm_epsilon", "clip.vision.block_count",
    "clip.vision.image_mean", "clip.vision.image_std", "clip.use_gelu",
};

struct want_tensor {
    char name[48];
    int type, n_dims;
    int64_t ne[4];
};

/* FORMAT.md §3 for D = 64, F = 256, E_llm = 256, 3 blocks, in file order. */
static int mmproj_tensors(struct want_tensor *w)
{
    int n = 0;
#define ADD(nm, ty, nd, a, b, c, d) (w[n] = (struct want_tensor){ "", ty, nd, { a, b, c, d } }, \
                                     snprintf(w[n].name, sizeof w[n].name, "%s", nm), n++)
    ADD("mm.0.weight", GL_TYPE_F16, 2, 64, 256, 1, 1);
    ADD("mm.0.bias", GL_TYPE_F32, 1, 256, 1, 1, 1);
    ADD("mm.2.weight", GL_TYPE_F16, 2, 256, 256, 1, 1);
    ADD("mm.2.bias", GL_TYPE_F32, 1, 256, 1, 1, 1);
    ADD("v.class_embd", GL_TYPE_F32, 1, 64, 1, 1, 1);
    ADD("v.patch_embd.weight", GL_TYPE_F16, 4, 14, 14, 3, 64);
    ADD("v.position_embd.weight", GL_TYPE_F16, 2, 64, 577, 1, 1);
    ADD("v.pre_ln.weight", GL_TYPE_F32, 1, 64, 1, 1, 1);
    ADD("v.pre_ln.bias", GL_TYPE_F32, 1, 64, 1, 1, 1);
    for (int b = 0; b < 3; b++) {
        char nm[48];
        static const char *const a[] = { "attn_k", "attn_v", "attn_q", "attn_out" };
        for (int k = 0; k < 4; k++) {
            snprintf(nm, sizeof nm, "v.blk.%d.%s.weight", b, a[k]);
            ADD(nm, GL_TYPE_F16, 2, 64, 64, 1, 1);
            snprintf(nm, sizeof nm, "v.blk.%d.%s.bias", b, a[k]);
            ADD(nm, GL_TYPE_F32, 1, 64, 1, 1, 1);
        }
        snprintf(nm, sizeof nm, "v.blk.%d.ln1.weight", b);
        ADD(nm, GL_TYPE_F32, 1, 64, 1, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ln1.bias", b);
        ADD(nm, GL_TYPE_F32, 1, 64, 1, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ffn_down.weight", b);
        ADD(nm, GL_TYPE_F16, 2, 64, 256, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ffn_down.bias", b);
        ADD(nm, GL_TYPE_F32, 1, 256, 1, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ffn_up.weight", b);
        ADD(nm, GL_TYPE_F16, 2, 256, 64, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ffn_up.bias", b);
        ADD(nm, GL_TYPE_F32, 1, 64, 1, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ln2.weight", b);
        ADD(nm, GL_TYPE_F32, 1, 64, 1, 1, 1);
        snprintf(nm, sizeof nm, "v.blk.%d.ln2.bias", b);
        ADD(nm, GL_TYPE_F32, 1, 64, 1, 1, 1);
    }
#undef ADD
    return n;
}

/* Same sequence of (name, type, dims, extents) in two files. */
static bool same_tensors(const gguf_file *a, const struct want_tensor *w, int nw)
{
    if (gguf_n_tensors(a) != nw) {
        tap_diag("%lld tensors, want %d", (long long)gguf_n_tensors(a), nw);
        return false;
    }
    for (int i = 0; i < nw; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(a, i);
        bool same = strcmp(t->name, w[i].name) == 0 && t->type == w[i].type &&
                    t->n_dims == w[i].n_dims;
        for (int d = 0; d < 4; d++)
            same = same && t->ne[d] == w[i].ne[d];
        if (!same) {
            tap_diag("tensor %d is %s (type %d, %d dims, %lld x %lld), want %s", i, t->name, t->type,
                     t->n_dims, (long long)t->ne[0], (long long)t->ne[1], w[i].name);
            return false;
        }
    }
    return true;
}

static void check_mmproj(const char *path)
{
    char *err = NULL;
    gguf_file *f = gguf_open(path, &err);
    ok(f != NULL, "the mmproj opens as GGUF %s", err ? err : "");
    if (!f) {
        free(err);
        return;
    }
    int nk = (int)(sizeof mmproj_keys / sizeof mmproj_keys[0]);
    bool keys = gguf_n_kv(f) == nk;
    for (int i = 0; keys && i < nk; i++)
        keys = key_is(f, i, mmproj_keys[i]);
    ok(keys, "mmproj: LLaVA-1.5's %d keys in the converter's order", nk);
    ok(u32_of(f, "clip.vision.image_size") == 336 && u32_of(f, "clip.vision.patch_size") == 14 &&
           u32_of(f, "clip.vision.embedding_length") == 64 &&
           u32_of(f, "clip.vision.attention.head_count") == 4 &&
           u32_of(f, "clip.vision.block_count") == 3,
       "mmproj: 336 px / patch 14, 64 wide, 4 heads, 3 blocks");

    struct want_tensor w[80];
    int nw = mmproj_tensors(w);
    ok(same_tensors(f, w, nw), "mmproj: FORMAT.md's %d tensors in order, f16 matrices, f32 vectors",
       nw);

    char *rp = tap_refdata() ? tap_refpath("models/tiny-llava-mmproj-f16.gguf") : NULL;
    gguf_file *ref = rp ? gguf_open(rp, NULL) : NULL;
    if (!ref) {
        tap_skip(1, "reference tiny mmproj not available");
    } else {
        bool same = gguf_n_kv(ref) == gguf_n_kv(f);
        for (int64_t i = 0; same && i < gguf_n_kv(f); i++) {
            const struct gguf_kv *a = gguf_kv_at(f, i), *b = gguf_kv_at(ref, i);
            same = a->key.len == b->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0 &&
                   a->val.type == b->val.type;
        }
        ok(same && same_tensors(ref, w, nw),
           "mmproj: the same keys, types and tensors as the reference tiny LLaVA mmproj");
    }
    gguf_close(ref);
    free(rp);
    gguf_close(f);
}

/* ---------------------------------------------------------------- chatting */

/* A token the demo may say: a word (U+2581 + letters) or "." / ",". */
static bool word_token(const char *t)
{
    if (!t)
        return false;
    if (strcmp(t, ".") == 0 || strcmp(t, ",") == 0)
        return true;
    if (strncmp(t, WP, 3) != 0 || !t[3])
        return false;
    for (const char *p = t + 3; *p; p++)
        if (!isalpha((unsigned char)*p))
            return false;
    return true;
}

static void check_chat(const struct demo_files *df, const char *image)
{
    char *err = NULL;
    struct gl_model_params mp = gl_model_default_params();
    gl_model *m = gl_model_load(df->llm, df->mmproj, &mp, &err);
    ok(m != NULL, "the pair loads together %s", err ? err : "");
    if (!m) {
        free(err);
        return;
    }
    struct gl_model_info info;
    gl_model_get_info(m, &info);
    ok(info.n_embd == 256 && info.n_layer == 2 && info.image_rows == 576 &&
           strcmp(info.name, "glimpse demo (random weights)") == 0,
       "model info: 256 wide, 2 layers, an image costs 576 rows, named as random");

    /* The vocabulary, to read the answers' tokens */
    gguf_file *f = gguf_open(df->llm, NULL);
    tok_vocab *voc = f ? tok_load(f, NULL) : NULL;
    ok(voc != NULL, "the vocabulary loads");
    if (voc) {
        struct tok_ids ids = { 0 };
        const char *q = "the cat sees a red house";
        tok_tokenize(voc, q, strlen(q), false, false, &ids, NULL);
        ok(ids.n == 6, "BPE merges typed words into whole-word tokens (%zu for 6 words)", ids.n);
        tok_ids_free(&ids);
    }

    int n_eos = 0, n_runs = 0;
    char first[2048] = "";
    bool differ = false;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct gl_chat_params cp = gl_chat_default_params();
        cp.sampling.seed = seed;
        cp.n_predict = 64;
        gl_chat *c = gl_chat_new(m, &cp, &err);
        if (c)
            gl_chat_set_seed_fixed(c, true);
        bool r = c && gl_chat_add_image(c, image, NULL, &err) >= 0 &&
                 gl_chat_ask(c, "What is in this picture?", NULL, &err) == 0;
        if (!r) {
            ok(0, "seed %llu: an answer about the sample picture: %s", (unsigned long long)seed,
               err ? err : "?");
            free(err);
            err = NULL;
            gl_chat_free(c);
            continue;
        }
        n_runs++;
        const struct gl_turn *t = gl_chat_turn(c, 0);
        if (seed == 1) {
            int rows = 0, ne = 0;
            const float *e = gl_chat_image_embd(c, 0, &rows, &ne);
            bool finite = e && rows == 576 && ne == 256;
            double ss = 0;
            for (int i = 0; finite && i < rows * ne; i++) {
                finite = isfinite(e[i]);
                ss += (double)e[i] * e[i];
            }
            ok(finite && ss > 0, "the picture's 576 x 256 projected rows are finite and not zero");
            const struct gl_image_info *ii = gl_chat_image(c, 0);
            ok(ii && ii->width == 480 && ii->height == 320, "the chat sees a 480x320 picture");
        }
        int bad = 0, letters = 0, spaces = 0;
        for (int i = 0; i < t->n_answer_ids; i++) {
            const char *txt = voc ? tok_text(voc, t->answer_ids[i]) : NULL;
            if (!word_token(txt)) {
                tap_diag("seed %llu: token %d (%s) is not a word", (unsigned long long)seed,
                         t->answer_ids[i], txt ? txt : "?");
                bad++;
            }
        }
        for (const char *p = t->answer; *p; p++) {
            letters += isalpha((unsigned char)*p) != 0;
            spaces += *p == ' ';
        }
        ok(t->n_answer_ids >= 2 && bad == 0 && spaces >= 1 && letters >= t->n_answer_ids / 2,
           "seed %llu: %d tokens, all words or punctuation: \"%s\" (%s)", (unsigned long long)seed,
           t->n_answer_ids, t->answer, gl_stop_name(t->stop));
        n_eos += t->stop == GL_STOP_EOS;
        if (seed == 1)
            snprintf(first, sizeof first, "%s", t->answer);
        else if (strcmp(first, t->answer) != 0)
            differ = true;
        gl_chat_free(c);
    }
    ok(n_runs == 4 && n_eos >= 2, "answers end by themselves (%d of %d)", n_eos, n_runs);
    ok(differ, "different seeds give different answers");

    /* A follow-up in the same conversation: the cache is reused, still words */
    struct gl_chat_params cp = gl_chat_default_params();
    cp.sampling.temp = 0;
    cp.n_predict = 20;
    gl_chat *c = gl_chat_new(m, &cp, &err);
    bool r = c && gl_chat_add_image(c, image, NULL, &err) >= 0 &&
             gl_chat_ask(c, "Describe the house.", NULL, &err) == 0 &&
             gl_chat_ask(c, "And the tree?", NULL, &err) == 0;
    const struct gl_turn *t = r ? gl_chat_turn(c, 1) : NULL;
    int bad = 0;
    for (int i = 0; t && i < t->n_answer_ids; i++)
        bad += !word_token(voc ? tok_text(voc, t->answer_ids[i]) : NULL);
    ok(t && t->n_answer_ids > 0 && bad == 0, "greedy, second turn: \"%s\"",
       t ? t->answer : (err ? err : "?"));
    free(err);
    gl_chat_free(c);

    tok_free(voc);
    gguf_close(f);
    gl_model_free(m);
}

/* ---------------------------------------------------------------- the picture */

static void check_picture(const char *path)
{
    struct gl_image img = { 0 };
    char *err = NULL;
    bool loaded = path && gl_image_load(path, NULL, &img, &err) == 0;
    ok(loaded && img.w == 480 && img.h == 320, "the sample picture is a 480x320 image %s",
       err ? err : "");
    if (loaded) {
        /* mean colour of the top band (sky) and the bottom band (meadow) */
        double top[3] = { 0 }, bot[3] = { 0 };
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < img.w; x++)
                for (int k = 0; k < 3; k++) {
                    top[k] += img.rgb[((size_t)y * img.w + x) * 3 + k];
                    bot[k] += img.rgb[((size_t)(img.h - 1 - y) * img.w + x) * 3 + k];
                }
        ok(top[2] > top[0] * 1.3 && bot[1] > bot[0] * 1.2 && bot[1] > bot[2] * 1.2,
           "it is a scene: blue sky at the top, green ground at the bottom");
        int distinct = 0;
        static unsigned char seen[1 << 15];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < (size_t)img.w * img.h; i++) {
            const uint8_t *p = img.rgb + i * 3;
            unsigned key = (unsigned)(p[0] >> 3) << 10 | (unsigned)(p[1] >> 3) << 5 | (p[2] >> 3);
            distinct += !seen[key];
            seen[key] = 1;
        }
        ok(distinct > 200, "with many colours (%d at 5 bits per channel)", distinct);
    }
    gl_image_free(&img);
    free(err);
}

int main(void)
{
    char *d1 = scratch_dir(), *d2 = scratch_dir();
    struct demo_files a = { 0 }, b = { 0 };
    char *err = NULL;

    double t0 = gl_now();
    int rc = demo_make(d1, &a, &err);
    double dt = gl_now() - t0;
    ok(rc == 0 && a.llm && a.mmproj, "demo_make writes the pair %s", err ? err : "");
    ok(dt < MAKE_LIMIT_S, "in %.3f s (limit %.1f s)", dt, MAKE_LIMIT_S);
    if (rc != 0)
        return tap_done();
    ok(strstr(a.mmproj, "mmproj") != NULL, "the mmproj's file name says mmproj (%s)", a.mmproj);
    ok(demo_make(d2, &b, &err) == 0 && same_bytes(a.llm, b.llm) && same_bytes(a.mmproj, b.mmproj),
       "a second demo_make writes the same bytes");

    check_llm(a.llm);
    check_mmproj(a.mmproj);

    const char *img = demo_sample_image();
    ok(img && strstr(img, "glimpse-sample.png"), "demo_sample_image finds the picture: %s",
       img ? img : "(none)");
    char *img_copy = img ? strdup(img) : NULL;
    check_picture(img_copy);
    if (img_copy)
        check_chat(&a, img_copy);
    else
        tap_skip(1, "no sample picture to chat about");
    free(img_copy);

    /* GLIMPSE_DATADIR pointing elsewhere falls through to the other places */
    setenv("GLIMPSE_DATADIR", d1, 1);
    const char *other = demo_sample_image();
    ok(!other || strncmp(other, d1, strlen(d1)) != 0,
       "a GLIMPSE_DATADIR without the picture is skipped (%s)", other ? other : "none");

    const char *ban = demo_banner();
    ok(ban && strstr(ban, "random weights") && strstr(ban, "noise") && strstr(ban, "--mmproj") &&
           !strchr(ban, '\n'),
       "the banner says the answers are noise and how to run a real model");

    demo_unlink(&a);
    demo_unlink(&b);
    ok(access(a.llm, F_OK) != 0 && access(a.mmproj, F_OK) != 0 && rmdir(d1) == 0 && rmdir(d2) == 0,
       "demo_unlink removes both files, leaving the directories empty");
    demo_files_free(&a);
    demo_files_free(&b);
    demo_files_free(NULL);

    struct demo_files c = { (char *)"x", (char *)"y" };
    free(err);
    err = NULL;
    char *gone = gl_strfmt("%s/no/such/dir", tap_tmpdir());
    rc = demo_make(gone, &c, &err);
    ok(rc == -1 && err && strstr(err, "no/such/dir") && !c.llm && !c.mmproj,
       "an unwritable directory: -1, a message naming it (%s), nothing returned",
       err ? err : "(none)");
    free(gone);
    free(err);
    err = NULL;
    char *file = gl_strfmt("%s/demo-not-a-dir", tap_tmpdir());
    FILE *fp = fopen(file, "w");
    if (fp)
        fclose(fp);
    rc = demo_make(file, &c, &err);
    ok(rc == -1 && err && strstr(err, "not a directory"), "a file instead of a directory: %s",
       err ? err : "(none)");
    unlink(file);
    free(file);
    free(err);

    char *td = demo_tmpdir(&err);
    struct stat st;
    ok(td && stat(td, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0 && rmdir(td) == 0,
       "demo_tmpdir makes a private directory (%s)", td ? td : "none");
    free(td);
    free(d1);
    free(d2);
    return tap_done();
}
