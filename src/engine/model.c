/*
 * model.c - load a language model and its vision projector (mmproj) and
 * check that they belong together.
 */
#include "config.h"

#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "glimpse/quant.h"
#include "util.h"

struct gl_model_params gl_model_default_params(void)
{
    struct gl_model_params p = {.n_threads = 0};
    return p;
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The weight type that holds the most bytes: what users call the model's
 * quantization ("q4_K" for a Q4_K_M file). */
static const char *main_type(const gguf_file *f)
{
    uint64_t bytes[GL_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->type >= 0 && t->type < GL_TYPE_COUNT && t->n_dims >= 2)
            bytes[t->type] += t->nbytes;
    }
    int best = GL_TYPE_F32;
    for (int t = 0; t < GL_TYPE_COUNT; t++)
        if (bytes[t] > bytes[best])
            best = t;
    const char *n = gl_type_name(best);
    return n ? n : "?";
}

gl_model *gl_model_load(const char *llm_path, const char *mmproj_path,
                        const struct gl_model_params *p, char **err)
{
    struct gl_model_params defaults = gl_model_default_params();
    if (!p)
        p = &defaults;
    if (!llm_path)
        return gl_err(err, "no language model given"), NULL;
    gl_model *m = calloc(1, sizeof *m);
    if (!m)
        return gl_err(err, "out of memory"), NULL;
    m->llm_path = dup_str(llm_path);
    m->mmproj_path = dup_str(mmproj_path);
    if (!m->llm_path || (mmproj_path && !m->mmproj_path)) {
        gl_err(err, "out of memory");
        goto fail;
    }
    if (!(m->llm_file = gguf_open(llm_path, err)) || !(m->lm = llama_load(m->llm_file, err)) ||
        !(m->vocab = tok_load(m->llm_file, err)))
        goto fail;
    const struct llama_hparams *hp = llama_get_hparams(m->lm);
    if (tok_n_vocab(m->vocab) != hp->n_vocab) {
        gl_err(err, "%s: the vocabulary has %d tokens but the embedding table %d rows", llm_path,
               tok_n_vocab(m->vocab), hp->n_vocab);
        goto fail;
    }
    if (mmproj_path) {
        if (!(m->mmproj_file = gguf_open(mmproj_path, err)))
            goto fail;
        if (!(m->clip = clip_load(m->mmproj_file, err))) {
            /* a language model given as the mmproj deserves a plain word */
            goto fail;
        }
        if (clip_n_out(m->clip) != hp->n_embd) {
            gl_err(err, "%s and %s do not belong together: the projector makes rows of %d but "
                        "the language model reads rows of %d",
                   mmproj_path, llm_path, clip_n_out(m->clip), hp->n_embd);
            goto fail;
        }
    }
    struct gguf_str name;
    if (gguf_get_str(m->llm_file, "general.name", &name, NULL) == 0 && name.len > 0)
        m->name = gguf_str_dup(name);
    else {
        const char *base = strrchr(llm_path, '/');
        m->name = strdup(base ? base + 1 : llm_path);
    }
    m->llm_type = main_type(m->llm_file);
    if (!m->name || !(m->pool = gl_pool_new(p->n_threads, err))) {
        gl_err(err, "out of memory");
        goto fail;
    }
    return m;
fail:
    gl_model_free(m);
    return NULL;
}

void gl_model_free(gl_model *m)
{
    if (!m)
        return;
    gl_pool_free(m->pool);
    clip_free(m->clip);
    tok_free(m->vocab);
    llama_free(m->lm);
    gguf_close(m->mmproj_file);
    gguf_close(m->llm_file);
    free(m->name);
    free(m->llm_path);
    free(m->mmproj_path);
    free(m);
}

void gl_model_get_info(const gl_model *m, struct gl_model_info *info)
{
    const struct llama_hparams *hp = llama_get_hparams(m->lm);
    memset(info, 0, sizeof *info);
    info->llm_path = m->llm_path;
    info->mmproj_path = m->mmproj_path;
    info->name = m->name;
    info->n_vocab = hp->n_vocab;
    info->n_embd = hp->n_embd;
    info->n_layer = hp->n_layer;
    info->n_ctx_train = hp->n_ctx_train;
    info->image_rows = m->clip ? clip_n_rows(m->clip) : 0;
    info->llm_bytes = gguf_file_size(m->llm_file);
    info->mmproj_bytes = m->mmproj_file ? gguf_file_size(m->mmproj_file) : 0;
    info->weight_bytes = llama_weight_bytes(m->lm);
    info->llm_type = m->llm_type;
}
