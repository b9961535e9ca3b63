/*
 * llama.h - the LLaMA / Vicuna decoder (general.architecture = "llama").
 *
 *   llama_model *lm = llama_load(gguf, &err);           // weights stay in the mapping
 *   llama_state *st = llama_state_new(lm, &sp, &err);   // KV cache of sp.n_ctx positions
 *   llama_forward(st, pool, tokens, NULL, n, logits, NULL, &err);  // prefill
 *   llama_forward(st, pool, &next, NULL, 1, logits, NULL, &err);   // decode
 *
 * The model is immutable and can be shared by several states. A state holds
 * the KV cache and run buffers of one conversation; positions continue from
 * llama_state_pos() and can be cut back with llama_state_truncate().
 */
#ifndef GLIMPSE_LLAMA_H
#define GLIMPSE_LLAMA_H

#include <stdbool.h>
#include <stdint.h>

#include "glimpse/gguf.h"
#include "glimpse/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct llama_hparams {
    int n_vocab;                /* rows of token_embd */
    int n_ctx_train;            /* llama.context_length */
    int n_embd;                 /* E */
    int n_layer;
    int n_head;
    int n_head_kv;              /* < n_head: grouped-query attention */
    int head_dim;               /* E / n_head */
    int n_ff;                   /* F */
    float rope_base;            /* llama.rope.freq_base, default 10000 */
    float rms_eps;              /* llama.attention.layer_norm_rms_epsilon, default 1e-5 */
    bool tied_output;           /* no output.weight: logits use token_embd */
};

typedef struct llama_model llama_model;
typedef struct llama_state llama_state;

/* Bind and validate the weights of a llama-architecture file. The gguf_file
 * must outlive the model. NULL + *err naming the file on failure. */
llama_model *llama_load(const gguf_file *f, char **err);
void llama_free(llama_model *m);
const struct llama_hparams *llama_get_hparams(const llama_model *m);
/* Bytes of weights read per decoded token (for roofline figures). */
uint64_t llama_weight_bytes(const llama_model *m);

struct llama_state_params {
    int n_ctx;                  /* positions in the KV cache (> 0) */
    int kv_type;                /* GL_TYPE_F16 (default, as the reference) or GL_TYPE_F32 */
    int n_batch;                /* rows per internal chunk of a long forward (default 512) */
};
struct llama_state_params llama_state_default_params(void);

/* Bytes a state with these parameters allocates (KV cache + buffers). */
uint64_t llama_state_bytes(const llama_model *m, const struct llama_state_params *p);
llama_state *llama_state_new(const llama_model *m, const struct llama_state_params *p, char **err);
void llama_state_free(llama_state *s);
int llama_state_pos(const llama_state *s);          /* positions in the cache */
int llama_state_n_ctx(const llama_state *s);
/* Forget positions >= pos (0 <= pos <= current). */
void llama_state_truncate(llama_state *s, int pos);

struct llama_abort {
    bool (*should_abort)(void *user);               /* polled between layers */
    void (*on_progress)(void *user, int done, int total);  /* rows done of this call */
    void *user;
};

/* Append n positions to the cache: token ids (tokens != NULL) or embedding
 * rows (embd != NULL: n x n_embd floats, e.g. an image's projected rows).
 * If logits is non-NULL it receives the n_vocab logits of the last position.
 * Returns 0; -1 on error (*err: context full, bad token id, OOM); -2 when
 * aborted, in which case the state is back where it was before the call. */
int llama_forward(llama_state *s, gl_pool *pool, const int32_t *tokens, const float *embd, int n,
                  float *logits, const struct llama_abort *ab, char **err);

#ifdef __cplusplus
}
#endif
#endif
