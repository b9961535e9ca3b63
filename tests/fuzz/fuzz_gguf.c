/*
 * fuzz_gguf.c - libFuzzer target: arbitrary bytes as a GGUF file.
 *
 * The reader must refuse or accept every input cleanly; an accepted file then
 * goes through every loader that reads model files (the tokenizer, the LLaMA
 * decoder, the vision tower), which must in turn fail with a message or
 * succeed - never crash, read out of bounds or allocate without limit (the
 * fuzzer's -rss_limit_mb and -malloc_limit_mb catch the last).
 * Built by `make fuzz` (tests/fuzz/README) with clang -fsanitize=fuzzer,address,undefined.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/clip.h"
#include "glimpse/gguf.h"
#include "glimpse/llama.h"
#include "glimpse/tokenizer.h"

/* A failure must come with a message: a NULL without one is a bug too. */
static void need_message(const void *obj, char *err, const char *what)
{
    if (!obj && !err) {
        fprintf(stderr, "fuzz_gguf: %s failed without a message\n", what);
        abort();
    }
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the end of the "file". */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    char *err = NULL;
    gguf_file *f = gguf_open_mem(buf, size, "fuzz.gguf", &err);
    need_message(f, err, "gguf_open_mem");
    if (f) {
        /* Walk what the reader promises is valid. */
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            const struct gguf_kv *kv = gguf_kv_at(f, i);
            if (!kv || (kv->key.len && !kv->key.ptr))
                abort();
        }
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const struct gguf_tensor *t = gguf_tensor_at(f, i);
            if (!t || gguf_data_offset(f) + t->offset + t->nbytes > gguf_file_size(f))
                abort();
            if (t->nbytes) {
                volatile uint8_t sink = ((const uint8_t *)t->data)[t->nbytes - 1];
                (void)sink;
            }
        }
        err = NULL;
        tok_vocab *v = tok_load(f, &err);
        need_message(v, err, "tok_load");
        if (v) {
            /* A loaded vocabulary must be usable. */
            struct tok_ids ids = {0};
            err = NULL;
            if (tok_tokenize(v, "Hello world </s>", 16, true, true, &ids, &err) == 0) {
                char out[256];
                struct tok_stream st = {0};
                for (size_t i = 0; i < ids.n; i++)
                    tok_stream_feed(v, &st, ids.ids[i], out, sizeof out);
            }
            free(err);
            tok_ids_free(&ids);
            tok_free(v);
        }
        err = NULL;
        llama_model *lm = llama_load(f, &err);
        need_message(lm, err, "llama_load");
        if (lm) {
            struct llama_state_params sp = llama_state_default_params();
            sp.n_ctx = 4;
            /* A small model also runs: two positions of a forward pass over
             * whatever numbers the weights hold (NaN, huge scales...). */
            const struct llama_hparams *hp = llama_get_hparams(lm);
            if (llama_state_bytes(lm, &sp) < (16u << 20) && llama_weight_bytes(lm) < (4u << 20)) {
                err = NULL;
                llama_state *st = llama_state_new(lm, &sp, &err);
                need_message(st, err, "llama_state_new");
                float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
                if (st && logits) {
                    int32_t toks[2] = {0, hp->n_vocab - 1};
                    err = NULL;
                    if (llama_forward(st, NULL, toks, NULL, 2, logits, NULL, &err) != 0 && !err)
                        abort();
                    free(err);
                }
                free(logits);
                llama_state_free(st);
            }
            llama_free(lm);
        }
        err = NULL;
        clip_model *cm = clip_load(f, &err);
        need_message(cm, err, "clip_load");
        clip_free(cm);
        gguf_close(f);
    }
    free(buf);
    return 0;
}
