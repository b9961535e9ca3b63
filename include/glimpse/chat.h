/*
 * chat.h - glimpse's engine face: a model pair and conversations about images.
 *
 *   struct gl_model_params mp = gl_model_default_params();
 *   gl_model *m = gl_model_load("llava-7b.Q4_K_M.gguf", "mmproj-f16.gguf", &mp, &err);
 *   struct gl_chat_params cp = gl_chat_default_params();
 *   gl_chat *c = gl_chat_new(m, &cp, &err);
 *   gl_chat_add_image(c, "photo.jpg", &err);          // goes with the next question
 *   struct gl_callbacks cb = {.on_piece = print_piece, .user = NULL};
 *   gl_chat_ask(c, "What is in this picture?", &cb, &err);
 *   gl_chat_ask(c, "And what colour is it?", &cb, &err); // reuses the KV cache
 *   gl_chat_free(c);
 *   gl_model_free(m);
 *
 * The model is immutable once loaded and may serve several conversations (one
 * at a time: they share its thread pool). A conversation owns its KV cache,
 * turns and images. Nothing here prints or exits; every failure comes back as
 * a return value and a message in *err (malloc'd, the caller frees).
 */
#ifndef GLIMPSE_CHAT_H
#define GLIMPSE_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glimpse/prompt.h"
#include "glimpse/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ the model pair */

typedef struct gl_model gl_model;

struct gl_model_params {
    int n_threads;              /* <= 0: the online CPUs */
};
struct gl_model_params gl_model_default_params(void);

/* Load an LLM (arch llama) and, optionally, its mmproj (arch clip, NULL for
 * text only), validated against each other (the projector's output width must
 * be the LLM's embedding width). NULL + *err naming the file on failure. */
gl_model *gl_model_load(const char *llm_path, const char *mmproj_path,
                        const struct gl_model_params *p, char **err);
void gl_model_free(gl_model *m);

struct gl_model_info {
    const char *llm_path, *mmproj_path;   /* mmproj_path NULL without vision */
    const char *name;                     /* general.name of the LLM, or its file name */
    int n_vocab, n_embd, n_layer, n_ctx_train;
    int image_rows;                       /* rows an image costs (576), 0 without vision */
    uint64_t llm_bytes, mmproj_bytes;     /* file sizes */
    uint64_t weight_bytes;                /* LLM weights read per token */
    const char *llm_type;                 /* main weight type name, e.g. "q4_K" */
};
void gl_model_get_info(const gl_model *m, struct gl_model_info *info);

/* ------------------------------------------------------------ conversations */

typedef struct gl_chat gl_chat;

enum gl_vision_mode {
    GL_VISION_LLAVA = 0,        /* LLaVA-1.5 as trained (default) */
    GL_VISION_LLAMACPP = 1      /* llama.cpp's clip.cpp, to reproduce it exactly */
};

enum gl_context_policy {
    GL_CONTEXT_REFUSE = 0,      /* a turn that does not fit is refused with advice */
    GL_CONTEXT_DROP_OLDEST = 1  /* drop the oldest whole turns and re-prefill */
};

struct gl_chat_params {
    int n_ctx;                  /* <= 0: the model's, at most 4096 */
    int kv_type;                /* GL_TYPE_F16 (default) or GL_TYPE_F32 */
    enum gl_template tmpl;      /* vicuna_v1 by default */
    const char *system;         /* NULL: the template's; copied */
    enum gl_vision_mode vision;
    bool no_exif;               /* do not apply the JPEG orientation tag */
    struct gl_sampler_params sampling;
    int n_predict;              /* tokens per answer at most, < 0: no limit */
    enum gl_context_policy context_policy;
};
struct gl_chat_params gl_chat_default_params(void);

enum gl_stage { GL_STAGE_LOAD = 0, GL_STAGE_ENCODE, GL_STAGE_PREFILL, GL_STAGE_GENERATE };
const char *gl_stage_name(enum gl_stage s);

enum gl_stop {
    GL_STOP_NONE = 0,           /* still running (or never started) */
    GL_STOP_EOS,                /* the model ended its answer */
    GL_STOP_LENGTH,             /* n_predict or the context ran out */
    GL_STOP_CANCEL,             /* gl_chat_cancel() */
    GL_STOP_ERROR
};
const char *gl_stop_name(enum gl_stop s);   /* "eos", "length", "cancel", "error" */

struct gl_callbacks {          /* all optional; called on the thread that runs the chat */
    void (*on_progress)(void *user, enum gl_stage stage, double fraction);
    /* A piece of the answer: complete UTF-8 (may be empty when a token only
     * completes later), and the token id. Stop strings are never passed on. */
    void (*on_piece)(void *user, const char *utf8, size_t len, int32_t token);
    /* Something the user should know that is not an error (e.g. which turns
     * the drop-oldest policy removed). */
    void (*on_notice)(void *user, const char *msg);
    void *user;
};

/* A new conversation (no turns, empty cache). NULL + *err on failure. */
gl_chat *gl_chat_new(gl_model *m, const struct gl_chat_params *p, char **err);
void gl_chat_free(gl_chat *c);

/* Attach an image to the next question (loaded, checked, encoded once and
 * cached by the SHA-256 of its pixels and the vision mode). Encoding happens
 * here; callbacks may be NULL. Returns the image's index (>= 0) or -1. */
int gl_chat_add_image(gl_chat *c, const char *path, const struct gl_callbacks *cb, char **err);
/* The same from bytes in memory (e.g. a session's embedded copy). */
int gl_chat_add_image_mem(gl_chat *c, const void *data, size_t len, const char *name,
                          const struct gl_callbacks *cb, char **err);

/* Ask a question and generate the answer, streaming pieces through cb.
 * Returns 0 when an answer was produced (whatever its stop reason, including
 * a cancel: the partial answer is kept, marked as stopped), -1 on error (the
 * conversation is as before the call; *err says what to do), -2 when it was
 * cancelled before the answer began (nothing changed; *err says so). */
int gl_chat_ask(gl_chat *c, const char *text, const struct gl_callbacks *cb, char **err);
/* Answer the last question again (cache cut back to the turn's start; a new
 * seed unless the sampling seed was fixed by gl_chat_set_seed_fixed). */
int gl_chat_regenerate(gl_chat *c, const struct gl_callbacks *cb, char **err);
/* Remove the last turn (question and answer). -1 if there is none. */
int gl_chat_undo(gl_chat *c, char **err);
/* Forget all turns; keep_images keeps the attached images for the next question. */
void gl_chat_clear(gl_chat *c, bool keep_images);

/* Stop whatever runs (encode, prefill, generation) within ~0.2 s. Any thread. */
void gl_chat_cancel(gl_chat *c);

/* Sessions: put a recorded turn back without computing it. The images
 * attached with gl_chat_add_image*() since the last question become the
 * turn's, as with gl_chat_ask(). The cache is rebuilt by gl_chat_sync() or
 * by the next request that needs it. `stats` and `token_ms` may be NULL. */
struct gl_turn_record {
    const char *user;
    const char *answer;
    const int32_t *answer_ids;
    int n_answer_ids;
    const double *token_ms;     /* n_answer_ids arrival times, or NULL */
    enum gl_stop stop;
    uint64_t seed;
    double started;
    const struct gl_turn_stats *stats;
};
int gl_chat_restore_turn(gl_chat *c, const struct gl_turn_record *rec, char **err);
/* Prefill whatever the cache lacks (after restoring turns), with progress.
 * 0, -1 (*err) or -2 (cancelled: call again later). */
int gl_chat_sync(gl_chat *c, const struct gl_callbacks *cb, char **err);
/* Use this seed for the next answer only (verification of a recorded turn). */
void gl_chat_set_next_seed(gl_chat *c, uint64_t seed);

/* Settings that may change between turns. */
int gl_chat_set_sampling(gl_chat *c, const struct gl_sampler_params *sp, char **err);
void gl_chat_set_seed_fixed(gl_chat *c, bool fixed);
void gl_chat_set_n_predict(gl_chat *c, int n);
/* Changing the system prompt clears the conversation (the cache starts with it). */
int gl_chat_set_system(gl_chat *c, const char *system, char **err);
const struct gl_chat_params *gl_chat_get_params(const gl_chat *c);

/* ------------------------------------------------------------ what a conversation holds */

struct gl_turn_stats {
    int prompt_tokens;          /* positions fed for the question (image rows included) */
    int answer_tokens;
    double encode_ms;           /* image encoding done for this turn */
    double prefill_ms, decode_ms;
    double ttft_ms;             /* question asked -> first answer token */
};

struct gl_turn {
    const char *user;           /* the question as typed */
    const int *images;          /* indexes into the conversation's images */
    int n_images;
    const char *answer;         /* UTF-8, stop strings removed, leading space stripped */
    const int32_t *prompt_ids;  /* fed for the question; GL_PROMPT_IMAGE where rows go */
    int n_prompt_ids;
    const int32_t *answer_ids;  /* the answer's tokens (not EOS) */
    int n_answer_ids;
    const double *token_ms;     /* arrival of each answer token, ms after the turn started */
    enum gl_stop stop;
    uint64_t seed;              /* the sampler seed this answer used */
    struct gl_sampler_params sampling; /* the settings it was sampled with (seed: the conversation's) */
    double started;             /* wall clock (seconds since the epoch) */
    int pos_start;              /* KV position where the question starts */
    struct gl_turn_stats stats;
};

struct gl_image_info {
    const char *path;           /* as given (or the name for in-memory images) */
    uint8_t sha256[32];         /* of the file's bytes */
    int width, height;          /* as decoded, after EXIF orientation */
    int rows;                   /* embedding rows it costs */
};

int gl_chat_n_turns(const gl_chat *c);
const struct gl_turn *gl_chat_turn(const gl_chat *c, int i);
int gl_chat_n_images(const gl_chat *c);
const struct gl_image_info *gl_chat_image(const gl_chat *c, int i);
/* The bytes of image i's file as it was added (not owned; NULL if no such
 * image). Sessions embed them so a conversation travels with its pictures. */
const uint8_t *gl_chat_image_bytes(const gl_chat *c, int i, size_t *len);
/* Images attached for the next question, not yet asked about. */
int gl_chat_n_pending_images(const gl_chat *c);

struct gl_context_use {
    int n_ctx;                  /* the cache's size */
    int used;                   /* positions in the cache */
    int system;                 /* of which: BOS + system prompt */
    int images;                 /* image rows */
    int turns;                  /* questions and answers (text) */
    int image_cost;             /* rows one image costs */
};
void gl_chat_context(const gl_chat *c, struct gl_context_use *u);

/* The model's preprocessed view of an image (size x size RGB, what the vision
 * tower receives) for previews and --dump-preprocessed. *out is malloc'd. */
int gl_chat_model_view(const gl_chat *c, int image, uint8_t **out, int *size, char **err);
/* The projector output of an image: rows x n_embd floats (not owned). */
const float *gl_chat_image_embd(const gl_chat *c, int image, int *rows, int *n_embd);

#ifdef __cplusplus
}
#endif
#endif
