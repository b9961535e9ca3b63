/*
 * synth.h - synthetic model files with real shapes, for benchmarking where
 * the real weights cannot be downloaded.
 *
 *   const struct synth_spec *s = synth_find("llava-7b");
 *   synth_write_llm(s, "/tmp/x-llm.gguf", &err);      // ~4.1 GB, Q4_K_M mix
 *   synth_write_mmproj(s, "/tmp/x-mmproj.gguf", &err); // ~0.6 GB, f16
 *
 * The LLM has llama.cpp's Q4_K_M type mix (Q4_K everywhere; Q6_K for
 * output.weight and for attn_v / ffn_down on the "more bits" layers) and a
 * made-up 32000-token SentencePiece vocabulary (control tokens, the 256 byte
 * tokens, whole words of the chat template so a prompt tokenizes to about as
 * many ids as with LLaMA's vocabulary, generated pieces for the rest). Block
 * bytes are random with scales chosen so weights have a standard deviation
 * near 0.02 and no block mean: activations stay finite through any depth.
 * The mmproj is a CLIP ViT in llama.cpp's converter layout with f16 weights.
 * Everything is produced while writing (a fast PRNG, large writes), so memory
 * stays low whatever the size.
 */
#ifndef GLIMPSE_BENCH_SYNTH_H
#define GLIMPSE_BENCH_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

struct synth_spec {
    const char *name;           /* "llava-7b" */
    const char *what;           /* one line for --help */
    /* language model */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    /* vision tower (n_vit_embd == 0: text only, no mmproj) */
    int n_vit_embd, n_vit_head, n_vit_ff, n_vit_layer;
};

/* The spec called `name`, or NULL. */
const struct synth_spec *synth_find(const char *name);
/* The i-th spec (i from 0), NULL past the end. */
const struct synth_spec *synth_at(int i);

/* Bytes the files will have (before writing: to say what is coming). */
uint64_t synth_llm_bytes(const struct synth_spec *s);
uint64_t synth_mmproj_bytes(const struct synth_spec *s);

/* Write the files (atomically). 0, or -1 with *err. */
int synth_write_llm(const struct synth_spec *s, const char *path, char **err);
int synth_write_mmproj(const struct synth_spec *s, const char *path, char **err);

/* The general.name written into the LLM file, to recognise a kept file. */
char *synth_llm_name(const struct synth_spec *s);

#endif
