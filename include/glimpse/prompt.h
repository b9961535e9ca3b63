/*
 * prompt.h - chat templates: how a conversation turn becomes token ids.
 *
 * A turn's ids may contain GL_PROMPT_IMAGE (-200, LLaVA's own marker) where
 * an image's rows go; the caller substitutes the image embedding there.
 *
 *   vicuna_v1  LLaVA-1.5 as trained and evaluated (the default):
 *              "<system> USER: <image>\n<text> ASSISTANT:" ... "<answer></s>USER: ..."
 *              tokenized as LLaVA's tokenizer_image_token does: the text is
 *              cut at each <image> and each chunk gets the SentencePiece
 *              space prefix; "</s>" is EOS and the text after it gets none.
 *   llava_v1   the original CLI's variant ("human" for "user").
 *   llama.cpp  what llama.cpp's llava-cli feeds (FORMAT.md §7):
 *              "<s><system>\nUSER:" <image> " <text>\nASSISTANT:".
 *   raw        BOS + the text as is (plain language models).
 */
#ifndef GLIMPSE_PROMPT_H
#define GLIMPSE_PROMPT_H

#include <stdbool.h>

#include "glimpse/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GL_PROMPT_IMAGE (-200)

enum gl_template {
    GL_TMPL_VICUNA_V1 = 0,
    GL_TMPL_LLAVA_V1,
    GL_TMPL_LLAMACPP,
    GL_TMPL_RAW,
    GL_TMPL_COUNT
};

const char *gl_template_name(enum gl_template t);          /* "vicuna_v1", ... */
/* 0 and *out set, or -1 (*err lists the names) for an unknown name. */
int gl_template_parse(const char *name, enum gl_template *out, char **err);
/* The template's default system prompt ("" for raw). */
const char *gl_template_system(enum gl_template t);

/* Append the ids of one user turn to out.
 *   first   the conversation's first turn: BOS and the system prompt come first
 *           (system == NULL means the template's default);
 *           otherwise the turn opens by closing the previous answer ("</s>").
 *   text    the user's message (UTF-8), n_images image slots go before it.
 * The ids end where the model's answer begins ("ASSISTANT:").
 * Returns 0, or -1 with *err. */
int gl_prompt_turn(const tok_vocab *v, enum gl_template t, const char *system, bool first,
                   const char *text, int n_images, struct tok_ids *out, char **err);

#ifdef __cplusplus
}
#endif
#endif
