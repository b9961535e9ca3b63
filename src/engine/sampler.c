/*
 * sampler.c - repetition penalty, top-k, top-p, min-p, temperature and a
 * seeded draw. See sampler.h for the contract.
 */
#include "config.h"

#include "glimpse/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct cand {
    int32_t id;
    float logit;
};

struct gl_sampler {
    struct gl_sampler_params p;
    int n_vocab;
    uint64_t rng[4];            /* xoshiro256** state */
    int32_t *hist;              /* ring of the last repeat_last_n accepted ids */
    int n_hist, hist_pos;
    struct cand *cand;          /* [n_vocab] working set */
    float *logits;              /* [n_vocab] penalised copy */
};

struct gl_sampler_params gl_sampler_default_params(void)
{
    struct gl_sampler_params p = {
        .temp = 0.2f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0,
    };
    return p;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

void gl_sampler_reset(gl_sampler *s, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    s->p.seed = seed;
    s->n_hist = 0;
    s->hist_pos = 0;
}

gl_sampler *gl_sampler_new(const struct gl_sampler_params *p, int n_vocab, char **err)
{
    if (n_vocab <= 0)
        return gl_err(err, "sampler: empty vocabulary"), NULL;
    if (!(p->temp == p->temp) || !(p->top_p == p->top_p) || !(p->min_p == p->min_p))
        return gl_err(err, "sampler: a parameter is not a number"), NULL;
    if (p->repeat_penalty <= 0.0f || !isfinite(p->repeat_penalty))
        return gl_err(err, "sampler: repeat penalty must be a positive number (1 = off)"), NULL;
    if (p->repeat_last_n < 0)
        return gl_err(err, "sampler: repeat window must not be negative"), NULL;
    if (p->top_p < 0.0f || p->min_p < 0.0f || p->min_p > 1.0f)
        return gl_err(err, "sampler: top-p and min-p must lie in [0, 1]"), NULL;

    gl_sampler *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->hist = calloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1), sizeof *s->hist);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->logits = malloc((size_t)n_vocab * sizeof *s->logits);
    if (!s->hist || !s->cand || !s->logits)
        goto oom;
    gl_sampler_reset(s, p->seed);
    return s;
oom:
    gl_sampler_free(s);
    gl_err(err, "sampler: out of memory");
    return NULL;
}

void gl_sampler_free(gl_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->cand);
    free(s->logits);
    free(s);
}

const struct gl_sampler_params *gl_sampler_params(const gl_sampler *s)
{
    return &s->p;
}

void gl_sampler_accept(gl_sampler *s, int32_t id)
{
    int w = s->p.repeat_last_n;
    if (w <= 0)
        return;
    s->hist[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % w;
    if (s->n_hist < w)
        s->n_hist++;
}

static int cand_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

int32_t gl_sampler_sample(gl_sampler *s, const float *logits, float *top1, float *top2)
{
    const int n = s->n_vocab;
    float *l = s->logits;
    memcpy(l, logits, (size_t)n * sizeof *l);

    /* Repetition penalty (CTRL-style, as llama.cpp applies it): each distinct
     * recent token is penalised once: positive logits divided, negative multiplied. */
    if (s->p.repeat_penalty != 1.0f && s->n_hist > 0) {
        for (int i = 0; i < s->n_hist; i++) {
            int32_t id = s->hist[i];
            if (id < 0 || id >= n)
                continue;
            bool seen = false;
            for (int j = 0; j < i; j++)
                if (s->hist[j] == id) {
                    seen = true;
                    break;
                }
            if (seen)
                continue;
            l[id] = l[id] > 0 ? l[id] / s->p.repeat_penalty : l[id] * s->p.repeat_penalty;
        }
    }

    /* The best two, for greedy and for the caller's margin. Only finite
     * logits count, here and in the candidates below. A NaN or an infinity
     * says nothing usable about its token (NaN compares false with
     * everything; +inf - inf is NaN in the softmax), while the finite
     * logits beside it are still a valid distribution: each logit is its
     * own row of the output matrix times the same hidden state, so one bad
     * row spoils only its own token. When the hidden state itself is bad,
     * no logit is finite: b1 stays -inf, which the caller reads as an
     * error (the id returned then means nothing). NaN and -inf fail the
     * first test for free; only +inf needs its own. */
    int32_t best = 0;
    float b1 = -INFINITY, b2 = -INFINITY;
    for (int i = 0; i < n; i++) {
        float v = l[i];
        if (v > b1) {
            if (v == INFINITY)
                continue;
            b2 = b1;
            b1 = v;
            best = i;
        } else if (v > b2) {
            b2 = v;
        }
    }
    if (top1)
        *top1 = b1;
    if (top2)
        *top2 = b2;
    if (s->p.temp <= 0.0f || !isfinite(b1))
        return best;

    /* Candidates, best first: only the top-k when k is set (a bounded
     * min-heap keeps them in O(n log k)), else the whole vocabulary. */
    int nc = 0;
    int k = (s->p.top_k > 0 && s->p.top_k < n) ? s->p.top_k : n;
    if (k < n) {
        for (int i = 0; i < n; i++) {
            struct cand c = {i, l[i]};
            if (!isfinite(c.logit))
                continue;
            if (nc < k) {
                int j = nc++;   /* sift up: heap root is the worst kept */
                while (j > 0 && cand_desc(&c, &s->cand[(j - 1) / 2]) > 0) {
                    s->cand[j] = s->cand[(j - 1) / 2];
                    j = (j - 1) / 2;
                }
                s->cand[j] = c;
            } else if (cand_desc(&c, &s->cand[0]) < 0) {
                int j = 0;      /* replace the root, sift down */
                for (;;) {
                    int a = 2 * j + 1, b = a + 1, w = j;
                    const struct cand *cw = &c;
                    if (a < nc && cand_desc(&s->cand[a], cw) > 0)
                        w = a, cw = &s->cand[a];
                    if (b < nc && cand_desc(&s->cand[b], cw) > 0)
                        w = b, cw = &s->cand[b];
                    if (w == j)
                        break;
                    s->cand[j] = s->cand[w];
                    j = w;
                }
                s->cand[j] = c;
            }
        }
    } else {
        for (int i = 0; i < n; i++)
            if (isfinite(l[i]))
                s->cand[nc++] = (struct cand){i, l[i]};
    }
    qsort(s->cand, (size_t)nc, sizeof *s->cand, cand_desc);

    /* top-p and min-p look at the untempered distribution, as llama.cpp's do. */
    double sum = 0.0;
    float mx = s->cand[0].logit;
    for (int i = 0; i < nc; i++)
        sum += exp((double)s->cand[i].logit - mx);

    if (s->p.top_p < 1.0f) {
        double cum = 0.0;
        int keep = nc;
        for (int i = 0; i < nc; i++) {
            cum += exp((double)s->cand[i].logit - mx) / sum;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        nc = keep;
    }
    if (s->p.min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
        float cut = mx + logf(s->p.min_p);
        int keep = 1;
        while (keep < nc && s->cand[keep].logit >= cut)
            keep++;
        nc = keep;
    }

    /* Temperature and the draw. */
    double tot = 0.0;
    for (int i = 0; i < nc; i++)
        tot += exp(((double)s->cand[i].logit - mx) / s->p.temp);
    double r = rng_uniform(s->rng) * tot, acc = 0.0;
    for (int i = 0; i < nc; i++) {
        acc += exp(((double)s->cand[i].logit - mx) / s->p.temp);
        if (r < acc)
            return s->cand[i].id;
    }
    return s->cand[nc - 1].id;
}
