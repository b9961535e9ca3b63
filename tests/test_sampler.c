/* test_sampler.c - greedy, the filters, the penalty, seeding and the draw's distribution. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/sampler.h"
#include "tap.h"

static gl_sampler *mk(float temp, int top_k, float top_p, float min_p, float pen, uint64_t seed, int n)
{
    struct gl_sampler_params p = gl_sampler_default_params();
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = pen;
    p.seed = seed;
    char *err = NULL;
    gl_sampler *s = gl_sampler_new(&p, n, &err);
    free(err);
    return s;
}

int main(void)
{
    float l[8] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f, 2.9f, 0.0f};
    float t1, t2;

    gl_sampler *s = mk(0, 40, 0.95f, 0.05f, 1.0f, 1, 8);
    is_int(gl_sampler_sample(s, l, &t1, &t2), 1, "greedy takes the lowest id among equal maxima");
    ok(t1 == 3.0f && t2 == 3.0f, "top-1/top-2 logits reported");
    gl_sampler_free(s);

    /* repetition penalty: id 1 recently seen: 3/1.5 = 2 < 3 -> id 3 wins */
    s = mk(0, 0, 1, 0, 1.5f, 1, 8);
    gl_sampler_accept(s, 1);
    gl_sampler_accept(s, 1);
    is_int(gl_sampler_sample(s, l, &t1, NULL), 3, "the penalty moves greedy off a repeated token");
    ok(fabsf(t1 - 3.0f) < 1e-6f, "penalised top-1 reported");
    /* negative logits are multiplied */
    float neg[8] = {-1.0f, -1.1f, -5.0f, -6.0f, -7.0f, -8.0f, -9.0f, -9.5f};
    gl_sampler_reset(s, 1);
    gl_sampler_accept(s, 0);
    is_int(gl_sampler_sample(s, neg, NULL, NULL), 1, "a negative logit is pushed further down");
    gl_sampler_free(s);

    /* same seed, same tokens; different seed, (almost surely) different */
    float flat[64];
    for (int i = 0; i < 64; i++)
        flat[i] = (float)(i % 7) * 0.1f;
    int seq_a[50], seq_b[50], seq_c[50];
    gl_sampler *a = mk(1.0f, 0, 1, 0, 1, 42, 64), *b = mk(1.0f, 0, 1, 0, 1, 42, 64),
               *c = mk(1.0f, 0, 1, 0, 1, 43, 64);
    for (int i = 0; i < 50; i++) {
        seq_a[i] = gl_sampler_sample(a, flat, NULL, NULL);
        seq_b[i] = gl_sampler_sample(b, flat, NULL, NULL);
        seq_c[i] = gl_sampler_sample(c, flat, NULL, NULL);
    }
    ok(memcmp(seq_a, seq_b, sizeof seq_a) == 0, "same seed gives the same tokens");
    ok(memcmp(seq_a, seq_c, sizeof seq_a) != 0, "another seed gives other tokens");
    gl_sampler_reset(a, 42);
    int again = 1;
    for (int i = 0; i < 50; i++)
        again &= gl_sampler_sample(a, flat, NULL, NULL) == seq_a[i];
    ok(again, "reset restarts the generator");
    gl_sampler_free(a);
    gl_sampler_free(b);
    gl_sampler_free(c);

    /* the filters */
    s = mk(5.0f, 1, 1, 0, 1, 7, 8);
    int all1 = 1;
    for (int i = 0; i < 200; i++)
        all1 &= gl_sampler_sample(s, l, NULL, NULL) == 1;
    ok(all1, "top-k 1 always gives the best token");
    gl_sampler_free(s);

    s = mk(5.0f, 3, 1, 0, 1, 7, 8);
    int in3 = 1;
    for (int i = 0; i < 500; i++) {
        int id = gl_sampler_sample(s, l, NULL, NULL);
        in3 &= id == 1 || id == 3 || id == 6;
    }
    ok(in3, "top-k 3 keeps the three best");
    gl_sampler_free(s);

    float two[4] = {0.0f, 0.0f, -20.0f, -20.0f};
    s = mk(1.0f, 0, 0.4f, 0, 1, 9, 4);
    int only0 = 1;
    for (int i = 0; i < 200; i++)
        only0 &= gl_sampler_sample(s, two, NULL, NULL) == 0;
    ok(only0, "top-p 0.4 keeps just the first of two equal tokens");
    gl_sampler_free(s);

    s = mk(1.0f, 0, 1, 0.01f, 1, 9, 4);
    int no_tail = 1;
    for (int i = 0; i < 2000; i++)
        no_tail &= gl_sampler_sample(s, two, NULL, NULL) < 2;
    ok(no_tail, "min-p drops tokens far below the best");
    gl_sampler_free(s);

    /* the draw follows softmax(logits / temp) */
    float pq[2] = {logf(0.25f), logf(0.75f)};
    s = mk(1.0f, 0, 1, 0, 1, 12345, 2);
    int n1 = 0, N = 20000;
    for (int i = 0; i < N; i++)
        n1 += gl_sampler_sample(s, pq, NULL, NULL) == 1;
    double f1 = (double)n1 / N;
    tap_diag("P(token 1) = %.4f, expected 0.75", f1);
    ok(fabs(f1 - 0.75) < 0.015, "temperature 1 samples the softmax");
    gl_sampler_free(s);

    s = mk(0.5f, 0, 1, 0, 1, 12345, 2);
    n1 = 0;
    for (int i = 0; i < N; i++)
        n1 += gl_sampler_sample(s, pq, NULL, NULL) == 1;
    f1 = (double)n1 / N;
    tap_diag("P(token 1) at temp 0.5 = %.4f, expected 0.9", f1);
    ok(fabs(f1 - 0.9) < 0.015, "temperature 0.5 sharpens the distribution");
    gl_sampler_free(s);

    /* Non-finite logits: never chosen; the finite ones beside them still
     * make the choice (one bad row of the output matrix spoils only its own
     * token); with none finite, top-1 is -inf (chat.c's error). */
    float nanfirst[6] = {NAN, 1.0f, 4.0f, INFINITY, 2.0f, -INFINITY};
    s = mk(0, 40, 0.95f, 0.05f, 1, 1, 6);
    is_int(gl_sampler_sample(s, nanfirst, &t1, &t2), 2, "greedy skips NaN (even at id 0) and +inf");
    ok(t1 == 4.0f && t2 == 2.0f, "top-1/top-2 are the best finite logits (%g, %g)", t1, t2);
    gl_sampler_free(s);
    for (int k = 0; k <= 3; k += 3) {
        /* top-k on (heap) and off (whole vocabulary), all filters open */
        s = mk(1.0f, k, 1, 0, 1, 99, 6);
        int seen[6] = {0};
        for (int i = 0; i < 4000; i++) {
            int id = gl_sampler_sample(s, nanfirst, NULL, NULL);
            if (id >= 0 && id < 6)
                seen[id]++;
        }
        ok(!seen[0] && !seen[3] && !seen[5] && seen[1] && seen[2] && seen[4],
           "top-k %d, temp 1: only the finite tokens are drawn (%d %d %d %d %d %d)", k, seen[0], seen[1],
           seen[2], seen[3], seen[4], seen[5]);
        gl_sampler_free(s);
    }
    float allbad[4] = {NAN, NAN, INFINITY, -INFINITY};
    for (int g = 0; g < 2; g++) {
        s = mk(g ? 0.0f : 0.8f, 40, 0.95f, 0.05f, 1.1f, 5, 4);
        gl_sampler_accept(s, 1);
        t1 = 0;
        int id = gl_sampler_sample(s, allbad, &t1, NULL);
        ok(t1 == -INFINITY && id >= 0 && id < 4, "%s, no finite logit: top-1 is -inf (id %d in range)",
           g ? "greedy" : "temp 0.8", id);
        gl_sampler_free(s);
    }

    /* bad parameters */
    struct gl_sampler_params p = gl_sampler_default_params();
    char *err = NULL;
    p.repeat_penalty = 0;
    ok(!gl_sampler_new(&p, 8, &err) && err, "a zero penalty is refused: %s", err ? err : "");
    free(err);
    err = NULL;
    p = gl_sampler_default_params();
    p.top_p = NAN;
    ok(!gl_sampler_new(&p, 8, &err) && err, "NaN parameters are refused");
    free(err);
    return tap_done();
}
