/*
 * chat.c - a conversation about images: turns, images, the template, token
 * bookkeeping, the context budget and the generate loop (see chat.h).
 *
 * The KV cache always holds exactly the conversation so far:
 *   [turn 0 question][turn 0 answer][turn 1 question][turn 1 answer] ...
 * where a question is its template ids with each image's rows in place of
 * GL_PROMPT_IMAGE, and an answer is its tokens. The only exception is an
 * answer's last token when the answer was cut (length, cancel): it was
 * sampled but not fed, and goes in first with the next question (`unfed`).
 * ctx_ids mirrors the cache position by position (image rows as
 * GL_PROMPT_IMAGE) so that any prefix can be rebuilt or checked.
 */
#include "config.h"

#include "glimpse/chat.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../engine/model.h"
#include "glimpse/image.h"
#include "glimpse/quant.h"
#include "glimpse/sha256.h"
#include "memcheck.h"
#include "util.h"

/* ------------------------------------------------------------ state */

struct embd_entry {
    uint8_t key[32];            /* SHA-256 of the decoded pixels and the vision mode */
    float *rows;                /* (n_rows, n_embd) */
};

struct chat_image {
    struct gl_image_info info;
    char *path;
    uint8_t *bytes;             /* the file's bytes (sessions embed them) */
    size_t n_bytes;
    int embd;                   /* index into the embedding cache */
};

struct chat_turn {
    struct gl_turn pub;         /* pointers below are what pub points at */
    char *user;
    int *images;
    char *answer;               /* as shown */
    size_t answer_len, answer_cap;
    struct tok_ids prompt;
    struct tok_ids out;
    double *token_ms;
    size_t token_ms_cap;
    int32_t fed_before;         /* the previous answer's last token, fed with this question, or -1 */
};

struct gl_chat {
    gl_model *m;
    struct gl_chat_params p;
    char *system;
    llama_state *st;
    gl_sampler *smp;
    float *logits;              /* (n_vocab) */
    bool seed_fixed;

    struct chat_image *images;
    int n_images;
    int *pending;               /* images attached to the next question */
    int n_pending;
    struct embd_entry *cache;
    int n_cache;

    struct chat_turn *turns;
    int n_turns;
    struct tok_ids ctx_ids;     /* mirror of the KV cache */
    int32_t unfed;              /* last answer token not yet in the cache, or -1 */
    bool stale;                 /* the cache must be rebuilt from the turns (an interrupted refill) */
    bool next_seed_set;         /* gl_chat_set_next_seed() */
    uint64_t next_seed;

    atomic_int cancel;
};

static void sync_pub(struct chat_turn *t);

/* ------------------------------------------------------------ small helpers */

const char *gl_stage_name(enum gl_stage s)
{
    static const char *const n[] = {"load", "encode", "prefill", "generate"};
    return (unsigned)s < 4 ? n[s] : "?";
}

const char *gl_stop_name(enum gl_stop s)
{
    static const char *const n[] = {"none", "eos", "length", "cancel", "error"};
    return (unsigned)s < 5 ? n[s] : "?";
}

struct gl_chat_params gl_chat_default_params(void)
{
    struct gl_chat_params p = {
        .n_ctx = 0,
        .kv_type = GL_TYPE_F16,
        .tmpl = GL_TMPL_VICUNA_V1,
        .system = NULL,
        .vision = GL_VISION_LLAVA,
        .sampling = gl_sampler_default_params(),
        .n_predict = 256,
        .context_policy = GL_CONTEXT_REFUSE,
    };
    return p;
}

static void progress(const struct gl_callbacks *cb, enum gl_stage s, double f)
{
    if (cb && cb->on_progress)
        cb->on_progress(cb->user, s, f);
}

static void notice(const struct gl_callbacks *cb, const char *msg)
{
    if (cb && cb->on_notice && msg)
        cb->on_notice(cb->user, msg);
}

static bool cancelled(const gl_chat *c)
{
    return atomic_load(&c->cancel) != 0;
}

static bool abort_cb(void *user)
{
    return cancelled(user);
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int image_rows(const gl_chat *c)
{
    return c->m->clip ? clip_n_rows(c->m->clip) : 0;
}

/* Positions a prompt occupies once images are expanded. */
static int positions_of(const gl_chat *c, const struct tok_ids *ids)
{
    int n = 0;
    for (size_t i = 0; i < ids->n; i++)
        n += ids->ids[i] == GL_PROMPT_IMAGE ? image_rows(c) : 1;
    return n;
}

/* ------------------------------------------------------------ lifetime */

gl_chat *gl_chat_new(gl_model *m, const struct gl_chat_params *p, char **err)
{
    struct gl_chat_params defaults = gl_chat_default_params();
    if (!p)
        p = &defaults;
    gl_chat *c = calloc(1, sizeof *c);
    if (!c)
        return gl_err(err, "out of memory"), NULL;
    c->m = m;
    c->p = *p;
    c->unfed = -1;
    const struct llama_hparams *hp = llama_get_hparams(m->lm);
    if (c->p.n_ctx <= 0)
        c->p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if ((unsigned)c->p.tmpl >= GL_TMPL_COUNT) {
        gl_err(err, "unknown chat template");
        goto fail;
    }
    c->system = strdup(p->system ? p->system : gl_template_system(c->p.tmpl));
    c->p.system = c->system;
    struct llama_state_params sp = llama_state_default_params();
    sp.n_ctx = c->p.n_ctx;
    sp.kv_type = c->p.kv_type;
    /* Refuse a context that cannot fit before allocating it (memcheck.c). */
    if (gl_mem_check_context(llama_state_bytes(m->lm, &sp) + (uint64_t)hp->n_vocab * sizeof(float),
                             sp.n_ctx, err))
        goto fail;
    if (!c->system || !(c->st = llama_state_new(m->lm, &sp, err)) ||
        !(c->smp = gl_sampler_new(&c->p.sampling, hp->n_vocab, err)) ||
        !(c->logits = malloc((size_t)hp->n_vocab * sizeof *c->logits))) {
        gl_err(err, "out of memory");
        goto fail;
    }
    return c;
fail:
    gl_chat_free(c);
    return NULL;
}

static void turn_free(struct chat_turn *t)
{
    free(t->user);
    free(t->images);
    free(t->answer);
    tok_ids_free(&t->prompt);
    tok_ids_free(&t->out);
    free(t->token_ms);
    memset(t, 0, sizeof *t);
}

void gl_chat_free(gl_chat *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_turns; i++)
        turn_free(&c->turns[i]);
    free(c->turns);
    for (int i = 0; i < c->n_images; i++) {
        free(c->images[i].path);
        free(c->images[i].bytes);
    }
    free(c->images);
    for (int i = 0; i < c->n_cache; i++)
        free(c->cache[i].rows);
    free(c->cache);
    free(c->pending);
    tok_ids_free(&c->ctx_ids);
    free(c->logits);
    gl_sampler_free(c->smp);
    llama_state_free(c->st);
    free(c->system);
    free(c);
}

void gl_chat_cancel(gl_chat *c)
{
    atomic_store(&c->cancel, 1);
}

const struct gl_chat_params *gl_chat_get_params(const gl_chat *c)
{
    return &c->p;
}

/* ------------------------------------------------------------ images */

static int read_file(const char *path, uint8_t **out, size_t *len, char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return gl_err(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gl_err(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > GL_IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        return gl_err(err, "%s: %.1f MiB is larger than the %u MiB an image may have", path,
                      (double)st.st_size / (1 << 20), GL_IMAGE_MAX_FILE_BYTES >> 20);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return gl_err(err, "%s: out of memory", path);
    }
    if (fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return gl_err(err, "%s: read error", path);
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

struct enc_ctx {
    gl_chat *c;
    const struct gl_callbacks *cb;
};

static bool enc_abort(void *user)
{
    return cancelled(((struct enc_ctx *)user)->c);
}

static void enc_prog(void *user, double f)
{
    progress(((struct enc_ctx *)user)->cb, GL_STAGE_ENCODE, f);
}

/* Preprocess an image as the chat's vision mode wants: out is size*size*3. */
static int square_of(const gl_chat *c, const struct gl_image *img, uint8_t **out, int *size,
                     char **err)
{
    const struct clip_hparams *hp = clip_hparams(c->m->clip);
    int s = hp->image_size;
    uint8_t *sq = malloc((size_t)s * (size_t)s * 3);
    if (!sq)
        return gl_err(err, "out of memory");
    enum gl_preprocess mode = c->p.vision == GL_VISION_LLAMACPP ? GL_PRE_LLAMACPP : GL_PRE_LLAVA;
    if (gl_image_square(img, mode, s, hp->pad_rgb, sq, err)) {
        free(sq);
        return -1;
    }
    *out = sq;
    *size = s;
    return 0;
}

int gl_chat_add_image_mem(gl_chat *c, const void *data, size_t len, const char *name,
                          const struct gl_callbacks *cb, char **err)
{
    if (!c->m->clip)
        return gl_err(err, "%s: this model has no vision projector: give its mmproj file with --mmproj",
                      name);
    atomic_store(&c->cancel, 0);
    struct gl_image_opts io = {.no_exif = c->p.no_exif};
    struct gl_image img = {0};
    uint8_t *sq = NULL, *bytes = NULL;
    float *chw = NULL;
    float *rows = NULL;
    int size = 0;
    if (gl_image_load_mem(data, len, name, &io, &img, err))
        return -1;

    /* The encoding is cached by what the model sees: pixels and mode. */
    uint8_t key[32];
    struct gl_sha256 h;
    gl_sha256_init(&h);
    int32_t dims[3] = {img.w, img.h, (int32_t)c->p.vision};
    gl_sha256_update(&h, dims, sizeof dims);
    gl_sha256_update(&h, img.rgb, (size_t)img.w * (size_t)img.h * 3);
    gl_sha256_final(&h, key);
    int e = -1;
    for (int i = 0; i < c->n_cache; i++)
        if (memcmp(c->cache[i].key, key, 32) == 0)
            e = i;

    if (e < 0) {
        clip_model *cm = c->m->clip;
        const struct clip_hparams *hp = clip_hparams(cm);
        if (square_of(c, &img, &sq, &size, err))
            goto fail;
        chw = malloc(sizeof(float) * 3 * (size_t)size * (size_t)size);
        rows = malloc(sizeof(float) * (size_t)clip_n_rows(cm) * (size_t)clip_n_out(cm));
        struct embd_entry *nc = realloc(c->cache, sizeof *nc * (size_t)(c->n_cache + 1));
        if (!chw || !rows || !nc) {
            if (nc)
                c->cache = nc;
            gl_err(err, "out of memory");
            goto fail;
        }
        c->cache = nc;
        gl_image_normalize(chw, sq, size, hp->mean, hp->std);
        struct enc_ctx ec = {c, cb};
        struct clip_opts co = {
            .mode = c->p.vision == GL_VISION_LLAMACPP ? CLIP_MODE_LLAMACPP : CLIP_MODE_LLAVA,
            .should_abort = enc_abort,
            .on_progress = enc_prog,
            .user = &ec,
        };
        progress(cb, GL_STAGE_ENCODE, 0.0);
        int r = clip_encode(cm, c->m->pool, chw, &co, rows, err);
        if (r == -2) {
            gl_err(err, "%s: encoding the image was stopped", name);
            goto fail;
        }
        if (r)
            goto fail;
        memcpy(c->cache[c->n_cache].key, key, 32);
        c->cache[c->n_cache].rows = rows;
        rows = NULL;
        e = c->n_cache++;
        progress(cb, GL_STAGE_ENCODE, 1.0);
    }

    struct chat_image *ni = realloc(c->images, sizeof *ni * (size_t)(c->n_images + 1));
    int *np = realloc(c->pending, sizeof *np * (size_t)(c->n_pending + 1));
    if (ni)
        c->images = ni;
    if (np)
        c->pending = np;
    bytes = malloc(len ? len : 1);
    char *path = strdup(name);
    if (!ni || !np || !bytes || !path) {
        free(path);
        gl_err(err, "out of memory");
        goto fail;
    }
    memcpy(bytes, data, len);
    struct chat_image *im = &c->images[c->n_images];
    memset(im, 0, sizeof *im);
    im->path = path;
    im->bytes = bytes;
    im->n_bytes = len;
    im->embd = e;
    im->info.path = path;
    gl_sha256(data, len, im->info.sha256);
    im->info.width = img.w;
    im->info.height = img.h;
    im->info.rows = image_rows(c);
    c->pending[c->n_pending++] = c->n_images;
    gl_image_free(&img);
    free(sq);
    free(chw);
    return c->n_images++;
fail:
    gl_image_free(&img);
    free(sq);
    free(chw);
    free(rows);
    free(bytes);
    return -1;
}

int gl_chat_add_image(gl_chat *c, const char *path, const struct gl_callbacks *cb, char **err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!c->m->clip)
        return gl_err(err, "%s: this model has no vision projector: give its mmproj file with --mmproj",
                      path);
    if (read_file(path, &buf, &len, err))
        return -1;
    int r = gl_chat_add_image_mem(c, buf, len, path, cb, err);
    free(buf);
    return r;
}

int gl_chat_n_images(const gl_chat *c)
{
    return c->n_images;
}

const struct gl_image_info *gl_chat_image(const gl_chat *c, int i)
{
    return i >= 0 && i < c->n_images ? &c->images[i].info : NULL;
}

const uint8_t *gl_chat_image_bytes(const gl_chat *c, int i, size_t *len)
{
    if (i < 0 || i >= c->n_images)
        return NULL;
    if (len)
        *len = c->images[i].n_bytes;
    return c->images[i].bytes;
}

int gl_chat_n_pending_images(const gl_chat *c)
{
    return c->n_pending;
}

int gl_chat_model_view(const gl_chat *c, int i, uint8_t **out, int *size, char **err)
{
    if (i < 0 || i >= c->n_images)
        return gl_err(err, "no image %d", i);
    if (!c->m->clip)
        return gl_err(err, "no vision projector loaded");
    struct gl_image_opts io = {.no_exif = c->p.no_exif};
    struct gl_image img = {0};
    const struct chat_image *im = &c->images[i];
    if (gl_image_load_mem(im->bytes, im->n_bytes, im->path, &io, &img, err))
        return -1;
    int r = square_of(c, &img, out, size, err);
    gl_image_free(&img);
    return r;
}

const float *gl_chat_image_embd(const gl_chat *c, int i, int *rows, int *n_embd)
{
    if (i < 0 || i >= c->n_images || !c->m->clip)
        return NULL;
    if (rows)
        *rows = clip_n_rows(c->m->clip);
    if (n_embd)
        *n_embd = clip_n_out(c->m->clip);
    return c->cache[c->images[i].embd].rows;
}

/* ------------------------------------------------------------ feeding the cache */

/* What llama_forward's callbacks see while a question is fed. */
struct feed_ctx {
    gl_chat *c;
    const struct gl_callbacks *cb;
    int done_before, total;     /* positions */
};

static bool feed_abort(void *user)
{
    return cancelled(((struct feed_ctx *)user)->c);
}

static void feed_progress(void *user, int done, int total)
{
    struct feed_ctx *fc = user;
    (void)total;
    if (fc->total > 0)
        progress(fc->cb, GL_STAGE_PREFILL, (double)(fc->done_before + done) / fc->total);
}

/* Feed ids (GL_PROMPT_IMAGE slots take `images` in order) at the cache's end;
 * the last position's logits land in c->logits; ctx_ids stays in step.
 * Returns 0, -1 (*err), -2 (cancelled); on failure the cache is as before. */
static int feed(gl_chat *c, const int32_t *ids, size_t n, const int *images,
                const struct gl_callbacks *cb, char **err)
{
    const int start = llama_state_pos(c->st);
    const size_t start_ids = c->ctx_ids.n;
    struct tok_ids view = {.ids = (int32_t *)ids, .n = n};
    struct feed_ctx fc = {.c = c, .cb = cb, .total = positions_of(c, &view)};
    struct llama_abort ab = {.should_abort = feed_abort, .on_progress = feed_progress, .user = &fc};
    if (start + fc.total > llama_state_n_ctx(c->st))
        return gl_err(err, "the context is full: %d positions used, %d more needed, %d in all", start,
                      fc.total, llama_state_n_ctx(c->st));
    int img = 0, r = 0;
    for (size_t i = 0; i < n && r == 0;) {
        size_t j = i + 1;
        if (ids[i] == GL_PROMPT_IMAGE) {
            const float *rows = c->cache[c->images[images[img++]].embd].rows;
            r = llama_forward(c->st, c->m->pool, NULL, rows, image_rows(c), c->logits, &ab, err);
            for (int k = 0; r == 0 && k < image_rows(c); k++)
                if (tok_ids_push(&c->ctx_ids, GL_PROMPT_IMAGE))
                    r = gl_err(err, "out of memory");
        } else {
            while (j < n && ids[j] != GL_PROMPT_IMAGE)
                j++;
            r = llama_forward(c->st, c->m->pool, ids + i, NULL, (int)(j - i), c->logits, &ab, err);
            for (size_t k = i; r == 0 && k < j; k++)
                if (tok_ids_push(&c->ctx_ids, ids[k]))
                    r = gl_err(err, "out of memory");
        }
        i = j;
        fc.done_before = llama_state_pos(c->st) - start;
    }
    if (r) {
        llama_state_truncate(c->st, start);
        c->ctx_ids.n = start_ids;
        return r;
    }
    return 0;
}

/* Cut the cache (and its mirror) back to pos. */
static void cut(gl_chat *c, int pos)
{
    llama_state_truncate(c->st, pos);
    if ((size_t)pos < c->ctx_ids.n)
        c->ctx_ids.n = (size_t)pos;
}

/* ------------------------------------------------------------ answers */

/* The template's role markers: text that ends an answer and is never shown. */
static const char *const *stop_strings(enum gl_template t)
{
    static const char *const vicuna[] = {"</s>", "USER:", NULL};
    static const char *const llamacpp[] = {"</s>", "USER:", "###", "<|im_end|>", "<|im_start|>", NULL};
    static const char *const none[] = {NULL};
    switch (t) {
    case GL_TMPL_VICUNA_V1:
    case GL_TMPL_LLAVA_V1:
        return vicuna;
    case GL_TMPL_LLAMACPP:
        return llamacpp;
    default:
        return none;
    }
}

static int turn_text(struct chat_turn *t, const char *s, size_t n)
{
    if (t->answer_len + n + 1 > t->answer_cap) {
        size_t cap = t->answer_cap ? t->answer_cap * 2 : 256;
        while (cap < t->answer_len + n + 1)
            cap *= 2;
        char *p = realloc(t->answer, cap);
        if (!p)
            return -1;
        t->answer = p;
        t->answer_cap = cap;
    }
    memcpy(t->answer + t->answer_len, s, n);
    t->answer_len += n;
    t->answer[t->answer_len] = 0;
    return 0;
}

static int turn_token(struct chat_turn *t, int32_t id, double ms)
{
    if (t->out.n + 1 > t->token_ms_cap) {
        size_t cap = t->token_ms_cap ? t->token_ms_cap * 2 : 64;
        double *p = realloc(t->token_ms, cap * sizeof *p);
        if (!p)
            return -1;
        t->token_ms = p;
        t->token_ms_cap = cap;
    }
    t->token_ms[t->out.n] = ms;
    return tok_ids_push(&t->out, id);
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t held_back(const char *s, size_t n, const char *const *stops)
{
    size_t best = 0;
    for (int k = 0; stops[k]; k++) {
        size_t L = strlen(stops[k]);
        for (size_t m = L - 1; m > best; m--)
            if (m <= n && memcmp(s + n - m, stops[k], m) == 0) {
                best = m;
                break;
            }
    }
    return best;
}

/* Generate the answer of the last turn from c->logits (the question has been
 * fed). Streams through cb; records tokens, text, timings and the stop. */
static int generate(gl_chat *c, struct chat_turn *t, double t_ask, const struct gl_callbacks *cb,
                    char **err)
{
    const tok_vocab *v = c->m->vocab;
    const char *const *stops = stop_strings(c->p.tmpl);
    /* raw continuations keep their first space: it separates words */
    const bool strip_lead = c->p.tmpl != GL_TMPL_RAW || (t->user && t->user[0] == 0);
    struct tok_stream ts = {0};
    char piece[512];
    /* raw text as decoded (stop strings included), and the byte end of each
     * token in it, to cut tokens when a stop string appears */
    char *raw = NULL;
    size_t raw_len = 0, raw_cap = 0, shown = 0, lead = 0;
    size_t *tok_end = NULL;
    int rc = 0;
    const int answer_pos = llama_state_pos(c->st);
    double t_first = 0, t_dec = gl_now();

    t->pub.stop = GL_STOP_LENGTH;
    for (int i = 0; c->p.n_predict < 0 || i < c->p.n_predict; i++) {
        if (cancelled(c)) {
            t->pub.stop = GL_STOP_CANCEL;
            break;
        }
        float top1;
        int32_t id = gl_sampler_sample(c->smp, c->logits, &top1, NULL);
        if (!isfinite(top1)) {
            /* Not one finite logit (the sampler skips NaN and infinities
             * and leaves top1 at -inf): the hidden state itself is broken,
             * which only bad weights or a broken kernel do. An answer made
             * of token 0 would hide that; say so instead. */
            t->pub.stop = GL_STOP_ERROR;
            rc = gl_err(err, "the model produced non-finite logits at position %d (corrupt weights?)",
                        llama_state_pos(c->st) - 1);
            break;
        }
        if (id == tok_eos(v)) {
            t->pub.stop = GL_STOP_EOS;
            break;
        }
        double now = gl_now();
        if (t->out.n == 0) {
            t_first = now;
            t->pub.stats.ttft_ms = (now - t_ask) * 1e3;
        }
        size_t *ne = realloc(tok_end, (t->out.n + 1) * sizeof *ne);
        if (!ne || turn_token(t, id, (now - t_ask) * 1e3)) {
            free(ne ? ne : tok_end);
            tok_end = NULL;
            rc = gl_err(err, "out of memory");
            break;
        }
        tok_end = ne;
        gl_sampler_accept(c->smp, id);
        size_t n = tok_stream_feed(v, &ts, id, piece, sizeof piece);
        if (raw_len + n + 1 > raw_cap) {
            size_t cap = raw_cap ? raw_cap * 2 : 256;
            while (cap < raw_len + n + 1)
                cap *= 2;
            char *p = realloc(raw, cap);
            if (!p) {
                rc = gl_err(err, "out of memory");
                break;
            }
            raw = p;
            raw_cap = cap;
        }
        memcpy(raw + raw_len, piece, n);
        raw_len += n;
        raw[raw_len] = 0;
        tok_end[t->out.n - 1] = raw_len;
        if (strip_lead && shown == 0 && lead == 0 && raw_len > 0 && raw[0] == ' ')
            lead = 1;

        /* a stop string ends the answer: cut the text and the tokens before it */
        size_t stop_at = SIZE_MAX;
        for (int k = 0; stops[k]; k++) {
            const char *hit = strstr(raw + lead, stops[k]);
            if (hit && (size_t)(hit - raw) < stop_at)
                stop_at = (size_t)(hit - raw);
        }
        size_t upto = stop_at != SIZE_MAX ? stop_at : raw_len - held_back(raw, raw_len, stops);
        size_t from = shown > lead ? shown : lead;
        if (upto > from) {
            if (turn_text(t, raw + from, upto - from)) {
                rc = gl_err(err, "out of memory");
                break;
            }
            if (cb && cb->on_piece)
                cb->on_piece(cb->user, raw + from, upto - from, id);
            shown = upto;
        } else if (cb && cb->on_piece && n == 0 && stop_at == SIZE_MAX) {
            cb->on_piece(cb->user, "", 0, id);
        }
        if (stop_at != SIZE_MAX) {
            size_t keep = 0; /* tokens whose text ends before the stop string */
            while (keep < t->out.n && tok_end[keep] <= stop_at)
                keep++;
            t->out.n = keep;
            /* The cache keeps the kept tokens but the last, which (like any
             * answer's last token) goes in with the next question. */
            cut(c, answer_pos + (keep > 0 ? (int)keep - 1 : 0));
            c->unfed = keep > 0 ? t->out.ids[keep - 1] : -1;
            t->pub.stop = GL_STOP_EOS;
            goto done;
        }
        if (c->p.n_predict >= 0 && i + 1 >= c->p.n_predict)
            break;
        if (llama_state_pos(c->st) >= llama_state_n_ctx(c->st))
            break;
        int r = llama_forward(c->st, c->m->pool, &id, NULL, 1, c->logits,
                              &(struct llama_abort){.should_abort = abort_cb, .user = c}, err);
        if (r == -2) {
            t->pub.stop = GL_STOP_CANCEL;
            break;
        }
        if (r) {
            t->pub.stop = GL_STOP_ERROR;
            rc = -1;
            break;
        }
        if (tok_ids_push(&c->ctx_ids, id)) {
            rc = gl_err(err, "out of memory");
            break;
        }
    }
    /* the last sampled token was not fed: it goes in with the next question */
    if (t->out.n > 0 && (size_t)(llama_state_pos(c->st) - answer_pos) < t->out.n)
        c->unfed = t->out.ids[t->out.n - 1];
    {
        /* flush what the stream and the hold-back kept */
        size_t n = tok_stream_flush(&ts, piece, sizeof piece);
        if (n && raw) {
            char *p = realloc(raw, raw_len + n + 1);
            if (p) {
                raw = p;
                memcpy(raw + raw_len, piece, n);
                raw_len += n;
                raw[raw_len] = 0;
            }
        }
        size_t from = shown > lead ? shown : lead;
        if (raw && raw_len > from && turn_text(t, raw + from, raw_len - from) == 0 && cb && cb->on_piece)
            cb->on_piece(cb->user, raw + from, raw_len - from, t->out.n ? t->out.ids[t->out.n - 1] : -1);
    }
done:
    t->pub.stats.answer_tokens = (int)t->out.n;
    t->pub.stats.decode_ms = (gl_now() - (t_first > 0 ? t_first : t_dec)) * 1e3;
    free(raw);
    free(tok_end);
    return rc;
}

/* ------------------------------------------------------------ turns */

/* Seed of turn k's answer: fixed, or derived from the conversation's seed and
 * the turn's index (so a conversation replays from its settings). */
static uint64_t turn_seed(const gl_chat *c, int k)
{
    return c->seed_fixed ? c->p.sampling.seed : mix64(c->p.sampling.seed ^ (uint64_t)k * 0x100000001b3ull);
}

/* The sampler for an answer: reset to the seed, and the penalty window filled
 * with the text tokens at the end of the cache. */
static void prime_sampler(gl_chat *c, uint64_t seed)
{
    gl_sampler_reset(c->smp, seed);
    int w = c->p.sampling.repeat_last_n;
    size_t n = c->ctx_ids.n, from = w > 0 && n > (size_t)w ? n - (size_t)w : 0;
    for (size_t i = from; i < n; i++)
        if (c->ctx_ids.ids[i] >= 0)
            gl_sampler_accept(c->smp, c->ctx_ids.ids[i]);
}

/* Build the ids of a question: the unfed token of the last answer (if any)
 * is NOT part of them (feed() is given it separately). */
static int build_question(const gl_chat *c, bool first, const char *text, int n_images,
                          struct tok_ids *out, char **err)
{
    return gl_prompt_turn(c->m->vocab, c->p.tmpl, c->system, first, text, n_images, out, err);
}

/* Text positions in the cache before the first turn's "USER": BOS + system. */
static int system_positions(const gl_chat *c)
{
    if (c->n_turns == 0 || c->p.tmpl == GL_TMPL_RAW)
        return 0;
    struct tok_ids sys = {0};
    int n = 0;
    /* the first question with an empty message, minus its tail, is a good
     * enough measure: count up to the first image slot or "USER" */
    if (build_question(c, true, "", 0, &sys, NULL) == 0)
        n = (int)sys.n;
    struct tok_ids tail = {0};
    if (build_question(c, false, "", 0, &tail, NULL) == 0 && (int)tail.n <= n)
        n -= (int)tail.n - 1; /* the follow-up's "</s>USER: ASSISTANT:" ~ the first's tail */
    tok_ids_free(&sys);
    tok_ids_free(&tail);
    return n > 0 ? n : 0;
}

void gl_chat_context(const gl_chat *c, struct gl_context_use *u)
{
    memset(u, 0, sizeof *u);
    u->n_ctx = llama_state_n_ctx(c->st);
    u->used = llama_state_pos(c->st);
    u->image_cost = image_rows(c);
    for (size_t i = 0; i < c->ctx_ids.n && i < (size_t)u->used; i++)
        u->images += c->ctx_ids.ids[i] == GL_PROMPT_IMAGE;
    u->system = system_positions(c);
    if (u->system > u->used - u->images)
        u->system = u->used - u->images;
    u->turns = u->used - u->images - u->system;
}

/* Rebuild the cache from the turns: prompts rebuilt in place (the first turn
 * opens the conversation), answers as they were. Used after the drop-oldest
 * policy removed turns. */
static int refill(gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct tok_ids all = {0};
    int *imgs = NULL, n_imgs = 0, cap = 0, rc = -1;
    for (int k = 0; k < c->n_turns; k++)
        cap += c->turns[k].pub.n_images;
    imgs = malloc(sizeof *imgs * (size_t)(cap + 1));
    if (!imgs)
        return gl_err(err, "out of memory");
    for (int k = 0; k < c->n_turns; k++) {
        struct chat_turn *t = &c->turns[k];
        for (int j = 0; j < t->pub.n_images; j++)
            imgs[n_imgs++] = t->images[j];
        size_t before = all.n;
        if (build_question(c, k == 0, t->user, t->pub.n_images, &all, err))
            goto out;
        t->prompt.n = 0;
        for (size_t j = before; j < all.n; j++)
            if (tok_ids_push(&t->prompt, all.ids[j]))
                goto oom;
        for (size_t j = 0; j < t->out.n; j++)
            if (tok_ids_push(&all, t->out.ids[j]))
                goto oom;
    }
    /* the last answer's last token stays unfed, as always */
    if (c->unfed >= 0 && all.n > 0)
        all.n--;
    cut(c, 0);
    rc = feed(c, all.ids, all.n, imgs, cb, err);
    c->stale = rc != 0;
    if (rc == 0) {
        int p = 0;
        for (int k = 0; k < c->n_turns; k++) {
            c->turns[k].pub.pos_start = p;
            p += positions_of(c, &c->turns[k].prompt) + (int)c->turns[k].out.n;
            c->turns[k].fed_before = -1; /* refilled in one piece */
        }
    }
    goto out;
oom:
    rc = gl_err(err, "out of memory");
out:
    free(imgs);
    tok_ids_free(&all);
    for (int k = 0; k < c->n_turns; k++)
        sync_pub(&c->turns[k]);
    return rc;
}

/* Drop the oldest turns until `need` more positions fit. */
static int make_room(gl_chat *c, int need, const struct gl_callbacks *cb, char **err)
{
    const int n_ctx = llama_state_n_ctx(c->st);
    /* Re-prefilling costs as much as the kept transcript: drop enough to
     * leave a quarter of the context free too, so that the next turns do
     * not each pay for it again (while at least one turn can stay). */
    const int slack = n_ctx / 4;
    int drop = 0;
    for (;;) {
        /* positions the kept turns need once re-prefilled */
        int used = 0;
        for (int k = drop; k < c->n_turns; k++)
            used += positions_of(c, &c->turns[k].prompt) + (int)c->turns[k].out.n;
        if (drop > 0) /* the new first turn gains BOS and system, and the old first turn's image */
            used += system_positions(c) + c->turns[0].pub.n_images * image_rows(c);
        if (used + need <= n_ctx && (used + need + slack <= n_ctx || drop >= c->n_turns - 1))
            break;
        if (drop == c->n_turns)
            return gl_err(err, "this question needs %d positions but the context holds %d even "
                               "without earlier turns: start with a larger context (-c)",
                          need, n_ctx);
        drop++;
    }
    if (drop == 0)
        return 0;
    /* keep the first turn's images alive: in the new first turn, or waiting
     * for the question when every turn goes */
    if (drop == c->n_turns && c->turns[0].pub.n_images > 0) {
        int n0 = c->turns[0].pub.n_images;
        int *np = realloc(c->pending, sizeof *np * (size_t)(c->n_pending + n0));
        if (!np)
            return gl_err(err, "out of memory");
        c->pending = np;
        memmove(np + n0, np, sizeof *np * (size_t)c->n_pending);
        memcpy(np, c->turns[0].images, sizeof *np * (size_t)n0);
        c->n_pending += n0;
    }
    struct chat_turn *nf = &c->turns[drop < c->n_turns ? drop : 0];
    if (drop < c->n_turns && c->turns[0].pub.n_images > 0) {
        int n = c->turns[0].pub.n_images + nf->pub.n_images;
        int *im = malloc(sizeof *im * (size_t)n);
        if (!im)
            return gl_err(err, "out of memory");
        memcpy(im, c->turns[0].images, sizeof *im * (size_t)c->turns[0].pub.n_images);
        memcpy(im + c->turns[0].pub.n_images, nf->images, sizeof *im * (size_t)nf->pub.n_images);
        free(nf->images);
        nf->images = im;
        nf->pub.n_images = n;
    }
    char msg[160];
    snprintf(msg, sizeof msg,
             "the context was full: dropped the %d oldest turn%s (the system prompt and the image stay)",
             drop, drop == 1 ? "" : "s");
    for (int k = 0; k < drop; k++)
        turn_free(&c->turns[k]);
    memmove(c->turns, c->turns + drop, sizeof *c->turns * (size_t)(c->n_turns - drop));
    c->n_turns -= drop;
    /* the new first turn already carries the dropped first turn's images */
    int rc = refill(c, cb, err);
    if (rc == 0)
        notice(cb, msg);
    return rc;
}

/* Point a turn's public view at its storage. */
static void sync_pub(struct chat_turn *t)
{
    t->pub.user = t->user;
    t->pub.images = t->images;
    t->pub.answer = t->answer ? t->answer : "";
    t->pub.prompt_ids = t->prompt.ids;
    t->pub.n_prompt_ids = (int)t->prompt.n;
    t->pub.answer_ids = t->out.ids;
    t->pub.n_answer_ids = (int)t->out.n;
    t->pub.token_ms = t->token_ms;
    t->pub.stats.answer_tokens = (int)t->out.n;
}

static void answer_reset(struct chat_turn *t)
{
    t->answer_len = 0;
    if (t->answer)
        t->answer[0] = 0;
    t->out.n = 0;
    t->pub.stop = GL_STOP_NONE;
    memset(&t->pub.stats, 0, sizeof t->pub.stats);
}

/* Feed the last turn's question (after the unfed token, if any) and answer it. */
static int run_turn(gl_chat *c, struct chat_turn *t, double t_ask, bool refeed_question,
                    const struct gl_callbacks *cb, char **err)
{
    t->pub.started = wall_now();
    if (refeed_question) {
        struct tok_ids all = {0};
        int r = 0;
        if (c->unfed >= 0)
            r = tok_ids_push(&all, c->unfed);
        for (size_t i = 0; r == 0 && i < t->prompt.n; i++)
            r = tok_ids_push(&all, t->prompt.ids[i]);
        if (r) {
            tok_ids_free(&all);
            return gl_err(err, "out of memory");
        }
        double tp = gl_now();
        r = feed(c, all.ids, all.n, t->images, cb, err);
        tok_ids_free(&all);
        if (r)
            return r;
        t->fed_before = c->unfed;
        c->unfed = -1;
        t->pub.stats.prefill_ms = (gl_now() - tp) * 1e3;
        t->pub.stats.prompt_tokens = positions_of(c, &t->prompt);
    }
    prime_sampler(c, t->pub.seed);
    int r = generate(c, t, t_ask, cb, err);
    sync_pub(t);
    return r;
}

int gl_chat_ask(gl_chat *c, const char *text, const struct gl_callbacks *cb, char **err)
{
    double t_ask = gl_now();
    atomic_store(&c->cancel, 0);
    if (!text)
        text = "";
    if (c->stale && refill(c, cb, err))
        return -1;
    struct tok_ids q = {0};
    const int n_ctx = llama_state_n_ctx(c->st);
    for (int attempt = 0;; attempt++) {
        q.n = 0;
        if (build_question(c, c->n_turns == 0, text, c->n_pending, &q, err)) {
            tok_ids_free(&q);
            return -1;
        }
        int need = (c->unfed >= 0) + positions_of(c, &q) + 1;
        int free_pos = n_ctx - llama_state_pos(c->st);
        if (need <= free_pos)
            break;
        if (c->p.context_policy != GL_CONTEXT_DROP_OLDEST || attempt > 0 || c->n_turns == 0) {
            tok_ids_free(&q);
            if (c->n_turns == 0 || c->p.context_policy == GL_CONTEXT_DROP_OLDEST)
                return gl_err(err, "this question needs %d positions but the context holds %d: "
                                   "shorten it or use a larger context (-c)",
                              need, n_ctx);
            return gl_err(err, "the context is full: this question needs %d positions and %d of %d "
                               "are free; /clear starts over, /undo removes the last turn, or "
                               "run with a larger -c or --context-policy drop-oldest",
                          need, free_pos, n_ctx);
        }
        if (c->p.context_policy == GL_CONTEXT_DROP_OLDEST) {
            /* all turns may go: the first turn's images then wait for this question */
            int room = make_room(c, need, cb, err);
            if (room) {
                tok_ids_free(&q);
                return -1;
            }
        }
    }

    struct chat_turn *nt = realloc(c->turns, sizeof *nt * (size_t)(c->n_turns + 1));
    if (!nt) {
        tok_ids_free(&q);
        return gl_err(err, "out of memory");
    }
    c->turns = nt;
    struct chat_turn *t = &c->turns[c->n_turns];
    memset(t, 0, sizeof *t);
    t->user = strdup(text);
    t->images = malloc(sizeof *t->images * (size_t)(c->n_pending + 1));
    if (!t->user || !t->images) {
        turn_free(t);
        tok_ids_free(&q);
        return gl_err(err, "out of memory");
    }
    if (c->n_pending > 0)
        memcpy(t->images, c->pending, sizeof *t->images * (size_t)c->n_pending);
    t->pub.n_images = c->n_pending;
    t->prompt = q;
    t->fed_before = -1;
    t->pub.pos_start = llama_state_pos(c->st) + (c->unfed >= 0);
    t->pub.seed = c->next_seed_set ? c->next_seed : turn_seed(c, c->n_turns);
    t->pub.sampling = c->p.sampling;
    c->next_seed_set = false;
    sync_pub(t);
    c->n_turns++;

    const int pos0 = llama_state_pos(c->st);
    const int32_t unfed0 = c->unfed;
    int r = run_turn(c, t, t_ask, true, cb, err);
    if (r == 0) {
        c->n_pending = 0;
        return 0;
    }
    /* An error or a stop before the answer began: the conversation is as
     * before (chat.h), even when part of an answer was streamed before the
     * error - a front end drops what it showed, and its turns must stay in
     * step with ours. The images stay attached. */
    cut(c, pos0);
    c->unfed = unfed0;
    c->n_turns--;
    turn_free(t);
    if (r == -2)
        return gl_err(err, "stopped before the answer began"), -2;
    return -1;
}

/* A turn's answer, moved aside while a new one is made. */
struct answer_save {
    char *answer;
    size_t answer_len, answer_cap;
    struct tok_ids out;
    double *token_ms;
    size_t token_ms_cap;
    struct gl_turn pub;
    int32_t unfed;
};

static void answer_move_out(gl_chat *c, struct chat_turn *t, struct answer_save *sv)
{
    *sv = (struct answer_save){
        .answer = t->answer, .answer_len = t->answer_len, .answer_cap = t->answer_cap,
        .out = t->out, .token_ms = t->token_ms, .token_ms_cap = t->token_ms_cap,
        .pub = t->pub, .unfed = c->unfed,
    };
    t->answer = NULL;
    t->answer_len = t->answer_cap = 0;
    t->out = (struct tok_ids){0};
    t->token_ms = NULL;
    t->token_ms_cap = 0;
    answer_reset(t);
}

static void answer_save_free(struct answer_save *sv)
{
    free(sv->answer);
    tok_ids_free(&sv->out);
    free(sv->token_ms);
}

/* Put the old answer back after a failed regeneration. The cache no longer
 * holds it: it is rebuilt from the turns before the next use. */
static void answer_move_back(gl_chat *c, struct chat_turn *t, struct answer_save *sv)
{
    free(t->answer);
    tok_ids_free(&t->out);
    free(t->token_ms);
    t->answer = sv->answer;
    t->answer_len = sv->answer_len;
    t->answer_cap = sv->answer_cap;
    t->out = sv->out;
    t->token_ms = sv->token_ms;
    t->token_ms_cap = sv->token_ms_cap;
    t->pub = sv->pub;
    c->unfed = sv->unfed;
    c->stale = true;
    sync_pub(t);
}

int gl_chat_regenerate(gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    double t_ask = gl_now();
    atomic_store(&c->cancel, 0);
    if (c->n_turns == 0)
        return gl_err(err, "there is no answer to regenerate yet");
    if (c->stale && refill(c, cb, err))
        return -1;
    struct chat_turn *t = &c->turns[c->n_turns - 1];
    /* Back to the end of the question: re-run only its last position for the
     * logits (a question ending in image rows is fed whole again). On an
     * error, or a stop before the new answer began, the old answer stays
     * (as front ends show it). */
    int q_end = t->pub.pos_start + positions_of(c, &t->prompt);
    bool last_is_text = t->prompt.n > 0 && t->prompt.ids[t->prompt.n - 1] != GL_PROMPT_IMAGE;
    struct answer_save sv;
    answer_move_out(c, t, &sv);
    c->unfed = -1;
    if (c->next_seed_set)
        t->pub.seed = c->next_seed;
    else
        t->pub.seed = c->seed_fixed ? turn_seed(c, c->n_turns - 1) : mix64(t->pub.seed);
    c->next_seed_set = false;
    t->pub.sampling = c->p.sampling;
    int r;
    if (last_is_text) {
        cut(c, q_end - 1);
        int32_t last = t->prompt.ids[t->prompt.n - 1];
        r = feed(c, &last, 1, NULL, cb, err);
        if (r == 0)
            r = run_turn(c, t, t_ask, false, cb, err);
    } else {
        cut(c, t->pub.pos_start);
        r = run_turn(c, t, t_ask, true, cb, err);
    }
    if (r < 0)
        answer_move_back(c, t, &sv);
    else
        answer_save_free(&sv);
    return r;
}

int gl_chat_undo(gl_chat *c, char **err)
{
    if (c->n_turns == 0)
        return gl_err(err, "there is nothing to undo");
    struct chat_turn *t = &c->turns[c->n_turns - 1];
    /* the turn's images go back to waiting for the next question */
    int *np = realloc(c->pending, sizeof *np * (size_t)(c->n_pending + t->pub.n_images + 1));
    if (!np)
        return gl_err(err, "out of memory");
    c->pending = np;
    memmove(c->pending + t->pub.n_images, c->pending, sizeof *np * (size_t)c->n_pending);
    memcpy(c->pending, t->images, sizeof *np * (size_t)t->pub.n_images);
    c->n_pending += t->pub.n_images;
    cut(c, t->pub.pos_start - (t->fed_before >= 0));
    c->unfed = t->fed_before;
    turn_free(t);
    c->n_turns--;
    return 0;
}

void gl_chat_clear(gl_chat *c, bool keep_images)
{
    int *keep = NULL, n_keep = 0;
    if (keep_images) {
        keep = malloc(sizeof *keep * (size_t)(c->n_images + 1));
        for (int i = 0; keep && i < c->n_images; i++)
            keep[n_keep++] = i;
    }
    for (int i = 0; i < c->n_turns; i++)
        turn_free(&c->turns[i]);
    c->n_turns = 0;
    cut(c, 0);
    c->unfed = -1;
    c->stale = false;
    if (keep_images && keep) {
        free(c->pending);
        c->pending = keep;
        c->n_pending = n_keep;
    } else {
        free(keep);
        for (int i = 0; i < c->n_images; i++) {
            free(c->images[i].path);
            free(c->images[i].bytes);
        }
        c->n_images = 0;
        c->n_pending = 0;
    }
}

int gl_chat_set_sampling(gl_chat *c, const struct gl_sampler_params *sp, char **err)
{
    const struct llama_hparams *hp = llama_get_hparams(c->m->lm);
    gl_sampler *s = gl_sampler_new(sp, hp->n_vocab, err);
    if (!s)
        return -1;
    gl_sampler_free(c->smp);
    c->smp = s;
    c->p.sampling = *sp;
    return 0;
}

void gl_chat_set_seed_fixed(gl_chat *c, bool fixed)
{
    c->seed_fixed = fixed;
}

void gl_chat_set_n_predict(gl_chat *c, int n)
{
    c->p.n_predict = n;
}

int gl_chat_set_system(gl_chat *c, const char *system, char **err)
{
    char *s = strdup(system ? system : gl_template_system(c->p.tmpl));
    if (!s)
        return gl_err(err, "out of memory");
    free(c->system);
    c->system = s;
    c->p.system = s;
    gl_chat_clear(c, true);
    return 0;
}

int gl_chat_n_turns(const gl_chat *c)
{
    return c->n_turns;
}

const struct gl_turn *gl_chat_turn(const gl_chat *c, int i)
{
    return i >= 0 && i < c->n_turns ? &c->turns[i].pub : NULL;
}

void gl_chat_set_next_seed(gl_chat *c, uint64_t seed)
{
    c->next_seed = seed;
    c->next_seed_set = true;
}

int gl_chat_restore_turn(gl_chat *c, const struct gl_turn_record *rec, char **err)
{
    if (!rec || !rec->user || rec->n_answer_ids < 0)
        return gl_err(err, "a turn without a question");
    const struct llama_hparams *hp = llama_get_hparams(c->m->lm);
    for (int i = 0; i < rec->n_answer_ids; i++)
        if (rec->answer_ids[i] < 0 || rec->answer_ids[i] >= hp->n_vocab)
            return gl_err(err, "a recorded token id (%d) is outside the vocabulary (%d tokens)",
                          rec->answer_ids[i], hp->n_vocab);
    struct chat_turn *nt = realloc(c->turns, sizeof *nt * (size_t)(c->n_turns + 1));
    if (!nt)
        return gl_err(err, "out of memory");
    c->turns = nt;
    struct chat_turn *t = &c->turns[c->n_turns];
    memset(t, 0, sizeof *t);
    t->fed_before = -1;
    t->user = strdup(rec->user);
    t->images = malloc(sizeof *t->images * (size_t)(c->n_pending + 1));
    if (!t->user || !t->images)
        goto oom;
    if (c->n_pending > 0)
        memcpy(t->images, c->pending, sizeof *t->images * (size_t)c->n_pending);
    t->pub.n_images = c->n_pending;
    if (build_question(c, c->n_turns == 0, rec->user, c->n_pending, &t->prompt, err)) {
        turn_free(t);
        return -1;
    }
    for (int i = 0; i < rec->n_answer_ids; i++)
        if (turn_token(t, rec->answer_ids[i], rec->token_ms ? rec->token_ms[i] : 0.0))
            goto oom;
    if (rec->answer && turn_text(t, rec->answer, strlen(rec->answer)))
        goto oom;
    t->pub.stop = rec->stop;
    t->pub.seed = rec->seed;
    t->pub.started = rec->started;
    t->pub.sampling = c->p.sampling;
    if (rec->stats)
        t->pub.stats = *rec->stats;
    t->pub.stats.answer_tokens = rec->n_answer_ids;
    c->n_pending = 0;
    c->n_turns++;
    /* like after an answer cut short, the last token waits for the next question */
    c->unfed = rec->n_answer_ids > 0 && rec->stop != GL_STOP_EOS ? rec->answer_ids[rec->n_answer_ids - 1] : -1;
    if (rec->stop == GL_STOP_EOS && rec->n_answer_ids > 0)
        c->unfed = -1;
    c->stale = true;
    sync_pub(t);
    return 0;
oom:
    turn_free(t);
    return gl_err(err, "out of memory");
}

int gl_chat_sync(gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    atomic_store(&c->cancel, 0);
    if (!c->stale)
        return 0;
    int r = refill(c, cb, err);
    return r;
}
