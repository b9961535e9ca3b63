/*
 * clip.h - the LLaVA vision tower: a CLIP ViT over a preprocessed square
 * image, then the two-layer MLP projector into the language model's width.
 *
 *   clip_model *cm = clip_load(gguf, &err);          // weights bound to the mapping
 *   float *rows = malloc(clip_n_rows(cm) * clip_n_out(cm) * sizeof *rows);
 *   clip_encode(cm, pool, chw, &opts, rows, &err);   // 576 x n_embd for LLaVA-1.5
 *
 * Two ways to compute (enum clip_mode):
 *   CLIP_MODE_LLAVA     LLaVA-1.5 as trained: every stored ViT block runs,
 *                       exact erf GELU in the projector, f32 activations.
 *   CLIP_MODE_LLAMACPP  llama.cpp's clip.cpp: block_count-1 blocks run, tanh
 *                       GELU, activations rounded to f16 before f16 matmuls,
 *                       GELU / quick-GELU through f16 tables.
 */
#ifndef GLIMPSE_CLIP_H
#define GLIMPSE_CLIP_H

#include <stdbool.h>
#include <stdint.h>

#include "glimpse/gguf.h"
#include "glimpse/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clip_model clip_model;

enum clip_mode { CLIP_MODE_LLAVA = 0, CLIP_MODE_LLAMACPP = 1 };

struct clip_hparams {
    int image_size;             /* 336 */
    int patch_size;             /* 14 */
    int n_embd;                 /* D: 1024 for ViT-L */
    int n_ff;                   /* F: 4096 */
    int n_head;                 /* 16 */
    int n_layer;                /* stored blocks (23 for LLaVA-1.5's file) */
    int n_out;                  /* projector output width = LLM n_embd */
    float eps;
    bool use_gelu;              /* tower activation: tanh GELU instead of quick-GELU */
    float mean[3], std[3];
    uint8_t pad_rgb[3];         /* int(mean * 255): (122, 116, 104) */
};

/* Bind the weights of an mmproj file (general.architecture = clip) and check
 * them: projector type mlp (absent = mlp), shapes, types. The gguf_file must
 * outlive the model. NULL + *err naming the file on failure. */
clip_model *clip_load(const gguf_file *f, char **err);
void clip_free(clip_model *m);
const struct clip_hparams *clip_hparams(const clip_model *m);
int clip_n_rows(const clip_model *m);           /* (image_size/patch_size)^2 = 576 */
int clip_n_out(const clip_model *m);            /* projector output width */

struct clip_opts {
    enum clip_mode mode;
    /* Polled between blocks; when it returns true, encoding stops with -2. */
    bool (*should_abort)(void *user);
    /* Called after each block with the fraction done. */
    void (*on_progress)(void *user, double fraction);
    void *user;
};

/* Encode a normalised planar image chw[3][size][size] into
 * out[clip_n_rows][clip_n_out] (row-major by patch, py*24+px).
 * Returns 0, -1 on error (*err set), -2 when aborted. */
int clip_encode(clip_model *m, gl_pool *pool, const float *chw, const struct clip_opts *opts,
                float *out, char **err);

#ifdef __cplusplus
}
#endif
#endif
