/*
 * model.h - the inside of a gl_model (private to the library): the two GGUF
 * files, the decoder, the vocabulary, the vision tower and the thread pool.
 */
#ifndef GLIMPSE_MODEL_PRIV_H
#define GLIMPSE_MODEL_PRIV_H

#include "glimpse/chat.h"
#include "glimpse/clip.h"
#include "glimpse/gguf.h"
#include "glimpse/llama.h"
#include "glimpse/pool.h"
#include "glimpse/tokenizer.h"

struct gl_model {
    char *llm_path, *mmproj_path;
    char *name;                 /* general.name or the file's base name */
    gguf_file *llm_file, *mmproj_file;
    llama_model *lm;
    tok_vocab *vocab;
    clip_model *clip;           /* NULL: text only */
    gl_pool *pool;
    const char *llm_type;       /* the most common weight type's name */
};

#endif
