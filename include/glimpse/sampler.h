/*
 * sampler.h - choose the next token from the logits.
 *
 * The chain, in order: repetition penalty over the last repeat_last_n
 * accepted tokens, top-k, top-p (nucleus), min-p, temperature, then a draw
 * from a seeded generator. temp <= 0 is greedy: the highest logit after the
 * penalty (the lowest id among equals), no random numbers used.
 *
 * Same seed, same settings, same logits => same tokens, on any thread count
 * (sampling itself is single-threaded and uses its own generator).
 */
#ifndef GLIMPSE_SAMPLER_H
#define GLIMPSE_SAMPLER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gl_sampler_params {
    float temp;                 /* <= 0: greedy */
    int top_k;                  /* <= 0: off */
    float top_p;                /* >= 1: off */
    float min_p;                /* <= 0: off */
    float repeat_penalty;       /* 1: off */
    int repeat_last_n;          /* window of the penalty (0: off) */
    uint64_t seed;
};

/* The defaults: temp 0.2, top_k 40, top_p 0.95, min_p 0.05, no penalty
 * (window 64), seed 0 (callers pick one, e.g. from the clock). */
struct gl_sampler_params gl_sampler_default_params(void);

typedef struct gl_sampler gl_sampler;

/* NULL + *err on bad parameters (e.g. a negative temperature window) or OOM. */
gl_sampler *gl_sampler_new(const struct gl_sampler_params *p, int n_vocab, char **err);
void gl_sampler_free(gl_sampler *s);
/* Forget the accepted tokens and restart the generator from seed. */
void gl_sampler_reset(gl_sampler *s, uint64_t seed);
/* Record a token that is now part of the context (prompt or generated). */
void gl_sampler_accept(gl_sampler *s, int32_t id);
/* Pick a token from n_vocab logits (not modified). Also returns, when the
 * pointers are non-NULL, the top-1 and top-2 logits after the penalty
 * (the margin tests compare). A NaN or infinite logit is never chosen; when
 * no logit is finite the top-1 score comes back as -inf (the caller treats
 * that as an error). */
int32_t gl_sampler_sample(gl_sampler *s, const float *logits, float *top1, float *top2);
const struct gl_sampler_params *gl_sampler_params(const gl_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
