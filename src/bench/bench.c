/*
 * bench.c - glimpse-bench: how fast glimpse answers a question about an
 * image on this machine, and how close each stage comes to the machine's
 * floor, measured in the same run.
 *
 * The pipeline runs through the engine's public face exactly as a user's
 * question does (gl_model_load, gl_chat_add_image, gl_chat_ask, greedy), and
 * its callbacks time the stages. Then short calibration loops (calib.c)
 * measure the floors, so figures from noisy or different machines compare:
 *
 *   decode_roofline  = (weight bytes per token / read bandwidth) / time per token
 *   decode_roofline_kv: the same with the KV cache bytes a token reads added
 *   prefill_roofline = (2 * matmul params * positions / peak) / prefill time,
 *                      peak = int8 peak for quantized weights, else f32 peak
 *   encode_roofline  = (vision tower + projector FLOPs / f32 peak) / encode time
 *
 * Each is ideal time / measured time: 1 means the stage runs at the floor.
 * A model small enough to stay in the caches may decode faster than the
 * memory floor (> 1): the figure is meant for models larger than the caches.
 *
 * --synthetic writes a model pair with real shapes first (synth.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib.h"
#include "glimpse/chat.h"
#include "glimpse/gguf.h"
#include "glimpse/prompt.h"
#include "glimpse/quant.h"
#include "glimpse/tokenizer.h"
#include "synth.h"
#include "util.h"

/* The question of the default prompt (with one image: 624 positions with
 * LLaMA's vocabulary and LLaVA-1.5's vicuna_v1 template). */
#define QUESTION "What is in this picture?"
/* Positions of a text-only prompt when -p is not given: about what the image
 * prompt costs, so text-only figures compare with the image ones. */
#define TEXT_ONLY_POSITIONS 621

/* ------------------------------------------------------------ options */

struct opts {
    const char *llm, *mmproj, *image, *synthetic, *dir, *kernels;
    int threads, positions, n_gen, n_ctx;
    bool json, keep;
};

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: glimpse-bench -m LLM.gguf [--mmproj MMPROJ.gguf] [OPTION]...\n"
        "       glimpse-bench --synthetic NAME [OPTION]...\n"
        "Measure how fast glimpse answers a question about an image: load, image encode,\n"
        "prefill, time to first token, decode and peak memory, each against the machine's\n"
        "floor (read bandwidth, f32 and int8 peaks) measured in the same run.\n"
        "\n"
        "  -m, --model FILE        the language model\n"
        "      --mmproj FILE       its vision projector (without it: text only)\n"
        "      --image FILE        the image (default: a generated 640x480 picture)\n"
        "      --synthetic NAME    write a model pair with real shapes and random weights\n"
        "                          and benchmark it; NAME is one of:\n");
    for (int i = 0; synth_at(i); i++)
        fprintf(out, "                            %-11s %s\n", synth_at(i)->name, synth_at(i)->what);
    fprintf(out,
        "      --dir DIR           where synthetic files go (default: $TMPDIR or /tmp)\n"
        "      --keep              keep the synthetic files (and reuse kept ones)\n"
        "  -t, --threads N         compute threads (default: number of cores)\n"
        "  -p, --positions N       prompt positions to prefill (default: one image and a\n"
        "                          short question, about 621); the question is padded or\n"
        "                          the image left out to reach N\n"
        "  -n, --n-gen N           tokens to generate (default 32)\n"
        "  -c, --ctx-size N        context length (default: the model's, at most 4096)\n"
        "      --kernels NAME      use this kernel set (scalar, avx2, avx512, neon)\n"
        "      --json              print one JSON object instead of a table\n"
        "  -h, --help              show this help and exit\n"
        "  -V, --version           show the version and exit\n"
        "\n"
        "Exit status: 0 done, 1 runtime error, 2 usage error.\n"
        "See glimpse-bench(1) for what each figure means.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* 0: run; 1: done (help, version); 2: usage error (message printed). */
static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_MMPROJ = 256, O_IMAGE, O_SYNTH, O_DIR, O_KEEP, O_JSON, O_KERNELS };
    static const struct option longs[] = {
        {"model", required_argument, NULL, 'm'},
        {"mmproj", required_argument, NULL, O_MMPROJ},
        {"image", required_argument, NULL, O_IMAGE},
        {"synthetic", required_argument, NULL, O_SYNTH},
        {"dir", required_argument, NULL, O_DIR},
        {"keep", no_argument, NULL, O_KEEP},
        {"threads", required_argument, NULL, 't'},
        {"positions", required_argument, NULL, 'p'},
        {"n-gen", required_argument, NULL, 'n'},
        {"ctx-size", required_argument, NULL, 'c'},
        {"kernels", required_argument, NULL, O_KERNELS},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->n_gen = 32;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:t:p:n:c:hV", longs, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'm': o->llm = optarg; break;
        case O_MMPROJ: o->mmproj = optarg; break;
        case O_IMAGE: o->image = optarg; break;
        case O_SYNTH: o->synthetic = optarg; break;
        case O_DIR: o->dir = optarg; break;
        case O_KEEP: o->keep = true; break;
        case O_JSON: o->json = true; break;
        case O_KERNELS: o->kernels = optarg; break;
        case 't': if (parse_int(optarg, 1, 1024, &o->threads)) bad = "-t wants a thread count (1..1024)"; break;
        case 'p': if (parse_int(optarg, 1, 1 << 20, &o->positions)) bad = "-p wants a number of positions"; break;
        case 'n': if (parse_int(optarg, 1, 1 << 20, &o->n_gen)) bad = "-n wants a token count (>= 1)"; break;
        case 'c': if (parse_int(optarg, 16, 1 << 20, &o->n_ctx)) bad = "-c wants a context length (>= 16)"; break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("glimpse-bench %s\n", GL_VERSION); return 1;
        case ':':
            fprintf(stderr, "glimpse-bench: %s needs an argument\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "glimpse-bench: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "glimpse-bench: %s, not '%s'\n", bad, optarg);
            return 2;
        }
    }
    const char *why = NULL;
    if (optind < argc)
        why = "unexpected argument (see --help)";
    else if (!o->llm && !o->synthetic)
        why = "give a model (-m LLM.gguf) or --synthetic NAME (see --help)";
    else if (o->llm && o->synthetic)
        why = "-m and --synthetic exclude each other";
    else if (o->synthetic && o->mmproj)
        why = "--synthetic writes its own mmproj: drop --mmproj";
    else if (o->synthetic && !synth_find(o->synthetic))
        why = "unknown --synthetic shape (see --help for the names)";
    else if (!o->synthetic && (o->keep || o->dir))
        why = "--keep and --dir go with --synthetic";
    if (why) {
        if (optind < argc)
            fprintf(stderr, "glimpse-bench: '%s': %s\n", argv[optind], why);
        else
            fprintf(stderr, "glimpse-bench: %s\n", why);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ synthetic files */

/* Files to delete if a signal ends the run. */
static char *g_unlink[2];

static void on_signal(int sig)
{
    for (int i = 0; i < 2; i++)
        if (g_unlink[i])
            unlink(g_unlink[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void block_signals(bool block)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGHUP);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A kept LLM file of this spec: its general.name says so. */
static bool kept_llm_ok(const struct synth_spec *s, const char *path)
{
    char *err = NULL, *want = synth_llm_name(s);
    gguf_file *f = is_file(path) ? gguf_open(path, &err) : NULL;
    struct gguf_str name;
    bool ok = f && want && gguf_get_str(f, "general.name", &name, NULL) == 0 && gguf_str_eq(name, want);
    gguf_close(f);
    free(err);
    free(want);
    return ok;
}

/* Write (or, with --keep, reuse) the synthetic pair; paths in *llm and *mmproj
 * (malloc'd; *mmproj NULL for text-only shapes). 0 or -1 with *err. */
static int make_synthetic(const struct opts *o, char **llm, char **mmproj, double *write_s, char **err)
{
    const struct synth_spec *s = synth_find(o->synthetic);
    const char *dir = o->dir ? o->dir : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return gl_err(err, "%s: not a directory", dir);
    if (o->keep) {
        *llm = gl_strfmt("%s/glimpse-bench-%s-llm.gguf", dir, s->name);
        *mmproj = s->n_vit_embd ? gl_strfmt("%s/glimpse-bench-%s-mmproj.gguf", dir, s->name) : NULL;
    } else {
        *llm = gl_strfmt("%s/glimpse-bench-%s-%ld-llm.gguf", dir, s->name, (long)getpid());
        *mmproj = s->n_vit_embd ? gl_strfmt("%s/glimpse-bench-%s-%ld-mmproj.gguf", dir, s->name,
                                            (long)getpid())
                                : NULL;
    }
    if (!*llm || (s->n_vit_embd && !*mmproj))
        return gl_err(err, "out of memory");
    *write_s = 0;
    bool have = o->keep && kept_llm_ok(s, *llm) && (!*mmproj || is_file(*mmproj));
    if (have) {
        fprintf(stderr, "glimpse-bench: reusing kept %s%s%s\n", *llm, *mmproj ? " and " : "",
                *mmproj ? *mmproj : "");
        return 0;
    }
    fprintf(stderr, "glimpse-bench: writing synthetic %s (%.2f GB) to %s ...\n", s->name,
            (double)(synth_llm_bytes(s) + synth_mmproj_bytes(s)) / 1e9, dir);
    if (!o->keep) {
        g_unlink[0] = *llm;
        g_unlink[1] = *mmproj;
    }
    /* A signal during a write would leave the writer's temporary file: let
     * it wait until the file is whole, then the handler removes it. */
    double t0 = gl_now();
    block_signals(true);
    int r = synth_write_llm(s, *llm, err);
    if (r == 0 && *mmproj)
        r = synth_write_mmproj(s, *mmproj, err);
    block_signals(false);
    *write_s = gl_now() - t0;
    return r;
}

static void remove_synthetic(void)
{
    for (int i = 0; i < 2; i++)
        if (g_unlink[i]) {
            unlink(g_unlink[i]);
            g_unlink[i] = NULL;
        }
}

/* ------------------------------------------------------------ the picture */

/* A 640x480 binary PPM with gradients and a few shapes: some structure, as
 * a photo has; what it shows does not change the amount of work. */
static uint8_t *make_picture(size_t *len)
{
    const int w = 640, h = 480;
    char head[32];
    int hl = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
    uint8_t *p = malloc((size_t)hl + (size_t)w * h * 3);
    if (!p)
        return NULL;
    memcpy(p, head, (size_t)hl);
    uint8_t *px = p + hl;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++, px += 3) {
            int dx = x - 400, dy = y - 220;
            bool disc = dx * dx + dy * dy < 90 * 90, box = x > 80 && x < 260 && y > 260 && y < 420;
            px[0] = disc ? 220 : box ? 40 : (uint8_t)(x * 255 / w);
            px[1] = disc ? 60 : box ? 90 : (uint8_t)(y * 255 / h);
            px[2] = disc ? 50 : box ? 200 : (uint8_t)(128 + ((x ^ y) & 31));
        }
    *len = (size_t)hl + (size_t)w * h * 3;
    return p;
}

/* ------------------------------------------------------------ stage timing */

struct timing {
    double enc0, enc1;          /* GL_STAGE_ENCODE 0 and 1 */
    double pre0, pre1;          /* first and last GL_STAGE_PREFILL report */
    double ask;                 /* gl_chat_ask called */
    double first_piece;         /* first on_piece */
    int pieces;
    bool show;                  /* progress on stderr */
    int shown_pct;
    enum gl_stage shown_stage;
};

static void on_progress(void *user, enum gl_stage s, double f)
{
    struct timing *t = user;
    double now = gl_now();
    if (s == GL_STAGE_ENCODE) {
        if (f <= 0.0)
            t->enc0 = now;
        if (f >= 1.0)
            t->enc1 = now;
    } else if (s == GL_STAGE_PREFILL) {
        if (t->pre0 == 0)
            t->pre0 = now;
        t->pre1 = now;
    }
    int pct = (int)(f * 100);
    if (t->show && (pct != t->shown_pct || s != t->shown_stage)) {
        fprintf(stderr, "\r%-8s %3d%%", gl_stage_name(s), pct);
        t->shown_pct = pct;
        t->shown_stage = s;
    }
}

static void on_piece(void *user, const char *utf8, size_t len, int32_t token)
{
    struct timing *t = user;
    (void)utf8;
    (void)len;
    (void)token;
    if (t->pieces++ == 0)
        t->first_piece = gl_now();
    if (t->show)
        fprintf(stderr, "\rgenerate %3d tokens", t->pieces);
}

/* ------------------------------------------------------------ the prompt */

/* Positions the first question `text` with n_images images costs. */
static int count_positions(const tok_vocab *v, const char *text, int n_images, int image_rows,
                           int *out, char **err)
{
    struct tok_ids ids = {0};
    if (gl_prompt_turn(v, GL_TMPL_VICUNA_V1, NULL, true, text, n_images, &ids, err))
        return -1;
    int n = 0;
    for (size_t i = 0; i < ids.n; i++)
        n += ids.ids[i] == GL_PROMPT_IMAGE ? image_rows : 1;
    tok_ids_free(&ids);
    *out = n;
    return 0;
}

/* The question for `target` positions (<= 0: the default prompt): the
 * default question padded with a one-token word, or, when the image alone
 * costs more than target, text only. *use_image says which. */
static char *make_question(const tok_vocab *v, int target, bool vision, int image_rows,
                           bool *use_image, char **err)
{
    int n;
    *use_image = vision;
    if (target <= 0) {
        if (vision)
            return strdup(QUESTION);
        target = TEXT_ONLY_POSITIONS;
    }
    if (vision) {
        if (count_positions(v, "", 1, image_rows, &n, err))
            return NULL;
        *use_image = n <= target;
    }
    const int imgs = *use_image ? 1 : 0;
    if (count_positions(v, QUESTION, imgs, image_rows, &n, err))
        return NULL;
    const char *base = n <= target ? QUESTION : "";
    /* " the" is one token in LLaMA's vocabulary and in the synthetic one;
     * adjust the count until the prompt has exactly `target` positions (or
     * the closest count above, if that is impossible). */
    int words = 0;
    char *q = NULL;
    for (int tries = 0; tries < 64; tries++) {
        free(q);
        size_t bl = strlen(base);
        q = malloc(bl + 4 * (size_t)words + 1);
        if (!q) {
            gl_err(err, "out of memory");
            return NULL;
        }
        memcpy(q, base, bl);
        char *e = q + bl;
        for (int k = 0; k < words; k++) {
            memcpy(e, (e == q) ? "the " : " the", 4);
            e += 4;
        }
        *e = 0;
        if (e > q && e[-1] == ' ')
            e[-1] = 0;
        if (count_positions(v, q, imgs, image_rows, &n, err)) {
            free(q);
            return NULL;
        }
        if (n == target || (n > target && words == 0))
            break;
        int step = target - n;
        if (step == 0 || (words + step) < 0)
            break;
        words += step;
    }
    return q;
}

/* ------------------------------------------------------------ work counts */

/* Vision tower + projector FLOPs for one image (2 per multiply-add), from the
 * mmproj's shapes: patch embedding, per block QKV/out projections, MLP and
 * attention over n_patch+1 positions, then the two projector layers. */
static double clip_flops(const gguf_file *f)
{
    uint32_t D = 0, F = 0, L = 0, img = 0, p = 0;
    if (gguf_get_u32(f, "clip.vision.embedding_length", &D, NULL) ||
        gguf_get_u32(f, "clip.vision.feed_forward_length", &F, NULL) ||
        gguf_get_u32(f, "clip.vision.block_count", &L, NULL) ||
        gguf_get_u32(f, "clip.vision.image_size", &img, NULL) ||
        gguf_get_u32(f, "clip.vision.patch_size", &p, NULL) || !p)
        return NAN;
    const struct gguf_tensor *m0 = gguf_find_tensor(f, "mm.0.weight");
    const struct gguf_tensor *m2 = gguf_find_tensor(f, "mm.2.weight");
    if (!m0 || !m2)
        return NAN;
    const double np = (double)(img / p) * (double)(img / p), N = np + 1;
    double fl = 2.0 * np * 3.0 * p * p * D;
    fl += (double)L * (2.0 * N * (4.0 * D * D + 2.0 * (double)D * F) + 4.0 * N * N * D);
    fl += 2.0 * np * ((double)m0->ne[0] * (double)m0->ne[1] + (double)m2->ne[0] * (double)m2->ne[1]);
    return fl;
}

struct llm_counts {
    double layer_params;        /* elements of the blk.* matrices: multiply-adds per position */
    double out_params;          /* output layer (logits of the last position only) */
    bool quantized;             /* the blocks' weights are block-quantized (int8 dot products) */
    double kv_row_bytes;        /* K+V bytes one position holds, all layers (f16 cache) */
};

static void count_llm(const gguf_file *f, struct llm_counts *c)
{
    memset(c, 0, sizeof *c);
    uint32_t E = 0, H = 1, HKV = 0, L = 0;
    gguf_get_u32(f, "llama.embedding_length", &E, NULL);
    gguf_get_u32(f, "llama.block_count", &L, NULL);
    gguf_get_u32(f, "llama.attention.head_count", &H, NULL);
    if (gguf_get_u32(f, "llama.attention.head_count_kv", &HKV, NULL) || !HKV)
        HKV = H;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->n_dims != 2)
            continue;
        if (strncmp(t->name, "blk.", 4) == 0) {
            c->layer_params += (double)t->nelements;
            const struct gl_type_traits *tr = gl_type_traits(t->type);
            if (tr && tr->is_quantized)
                c->quantized = true;
        } else if (strcmp(t->name, "output.weight") == 0) {
            c->out_params = (double)t->nelements;
        }
    }
    if (c->out_params == 0) { /* tied to token_embd */
        const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
        c->out_params = t ? (double)t->nelements : 0;
    }
    c->kv_row_bytes = H ? 2.0 * 2.0 * L * ((double)E / H * HKV) : 0;
}

/* ------------------------------------------------------------ results */

struct result {
    char *model, *llm_type;     /* copies: the model is freed before the calibration */
    const char *kernels, *synthetic, *stop, *llm_path, *mmproj_path;
    int threads, prefill_positions, decode_tokens, n_ctx;
    int positions_asked;        /* -p, 0 when not given */
    bool image_in_prompt, has_vision, quantized;
    double synth_write_s;
    uint64_t llm_bytes, mmproj_bytes, weight_bytes;
    double load_s, image_s, encode_s, encode_gflop;
    double prefill_s, prefill_tok_s, prefill_gflop, ttft_s, ttft_seen_s;
    double decode_s, decode_tok_s, decode_kv_mb;
    double peak_rss_mb, vm_hwm_mb;
    struct calib cal;
    double decode_roofline, decode_roofline_kv, prefill_roofline, encode_roofline;
    double decode_floor_tok_s, prefill_floor_tok_s, encode_floor_s;
};

/* VmHWM from /proc/self/status in MB, NAN if unavailable. */
static double vm_hwm_mb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double mb = NAN;
    if (!fp)
        return mb;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            mb = strtod(line + 6, NULL) / 1024.0;
            break;
        }
    fclose(fp);
    return mb;
}

static void json_str(const char *key, const char *s, bool comma)
{
    printf("  \"%s\": ", key);
    if (!s) {
        printf("null");
    } else {
        putchar('"');
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if (*p < 0x20)
                printf("\\u%04x", *p);
            else
                putchar(*p);
        }
        putchar('"');
    }
    printf("%s\n", comma ? "," : "");
}

static void json_num(const char *key, double v)
{
    if (isfinite(v))
        printf("  \"%s\": %.6g,\n", key, v);
    else
        printf("  \"%s\": null,\n", key);
}

static void json_int(const char *key, uint64_t v)
{
    printf("  \"%s\": %" PRIu64 ",\n", key, v);
}

static void print_json(const struct result *r)
{
    printf("{\n");
    json_str("model", r->model, true);
    json_str("synthetic", r->synthetic, true);
    json_str("llm_path", r->llm_path, true);
    json_str("mmproj_path", r->mmproj_path, true);
    json_str("llm_type", r->llm_type, true);
    json_int("llm_bytes", r->llm_bytes);
    json_int("mmproj_bytes", r->mmproj_bytes);
    json_int("weight_bytes", r->weight_bytes);
    json_int("threads", (uint64_t)r->threads);
    json_str("kernels", r->kernels, true);
    json_int("n_ctx", (uint64_t)r->n_ctx);
    json_num("synth_write_s", r->synth_write_s);
    json_num("load_s", r->load_s);
    json_num("image_s", r->image_s);
    json_num("encode_s", r->encode_s);
    json_num("encode_gflop", r->encode_gflop);
    printf("  \"image_in_prompt\": %s,\n", r->image_in_prompt ? "true" : "false");
    json_int("prefill_positions", (uint64_t)r->prefill_positions);
    json_num("prefill_s", r->prefill_s);
    json_num("prefill_tok_s", r->prefill_tok_s);
    json_num("prefill_gflop", r->prefill_gflop);
    json_num("ttft_s", r->ttft_s);
    json_num("ttft_seen_s", r->ttft_seen_s);
    json_int("decode_tokens", (uint64_t)r->decode_tokens);
    json_num("decode_s", r->decode_s);
    json_num("decode_tok_s", r->decode_tok_s);
    json_num("decode_kv_mb", r->decode_kv_mb);
    json_str("stop", r->stop, true);
    json_num("peak_rss_mb", r->peak_rss_mb);
    json_num("vm_hwm_mb", r->vm_hwm_mb);
    json_num("read_bw_gbs", r->cal.read_bw_gbs);
    json_num("f32_peak_gflops", r->cal.f32_peak_gflops);
    json_str("f32_peak_isa", r->cal.f32_isa, true);
    json_num("sgemm_gflops", r->cal.sgemm_gflops);
    json_num("int8_peak_gops", r->cal.int8_peak_gops);
    json_str("int8_peak_isa", r->cal.int8_isa, true);
    json_str("prefill_peak", r->quantized ? "int8" : "f32", true);
    json_num("decode_floor_tok_s", r->decode_floor_tok_s);
    json_num("prefill_floor_tok_s", r->prefill_floor_tok_s);
    json_num("encode_floor_s", r->encode_floor_s);
    json_num("decode_roofline", r->decode_roofline);
    json_num("decode_roofline_kv", r->decode_roofline_kv);
    json_num("prefill_roofline", r->prefill_roofline);
    if (isfinite(r->encode_roofline))
        printf("  \"encode_roofline\": %.6g\n}\n", r->encode_roofline);
    else
        printf("  \"encode_roofline\": null\n}\n");
}

/* One row of the table: stage, measured, floor, fraction of the floor. */
static void row(const char *stage, const char *measured, const char *floor, double frac)
{
    if (isfinite(frac))
        printf("  %-13s %-34s %-37s%7.1f%%\n", stage, measured, floor, frac * 100);
    else if (*floor)
        printf("  %-13s %-34s %s\n", stage, measured, floor);
    else
        printf("  %-13s %s\n", stage, measured);
}

static void size_str(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes >= 100000000)
        snprintf(buf, cap, "%.2f GB", (double)bytes / 1e9);
    else
        snprintf(buf, cap, "%.1f MB", (double)bytes / 1e6);
}

static void print_table(const struct result *r)
{
    char a[96], b[96], c[128];
    size_str(a, sizeof a, r->llm_bytes);
    printf("glimpse-bench %s: %s%s, %s %s", GL_VERSION, r->synthetic ? "synthetic " : "",
           r->synthetic ? r->synthetic : r->model, r->llm_type, a);
    if (r->has_vision) {
        size_str(a, sizeof a, r->mmproj_bytes);
        printf(" + mmproj %s", a);
    }
    printf(", %d threads, kernels %s\n\n", r->threads, r->kernels);

    printf("machine (measured in this run)\n");
    printf("  read bandwidth %9.1f GB/s      streaming read of %zu MiB, best of %d\n",
           r->cal.read_bw_gbs, r->cal.read_bytes >> 20, CALIB_READ_PASSES);
    printf("  f32 peak       %9.1f GFLOP/s   %s FMA loop\n", r->cal.f32_peak_gflops, r->cal.f32_isa);
    printf("  sgemm 2048^3   %9.1f GFLOP/s   OpenBLAS, one call per thread\n", r->cal.sgemm_gflops);
    printf("  int8 peak      %9.1f GOP/s     %s dot-product loop\n\n", r->cal.int8_peak_gops,
           r->cal.int8_isa);

    printf("  %-13s %-34s %-37s%s\n", "stage", "measured", "floor (ideal)", "of floor");
    snprintf(a, sizeof a, "%.2f s", r->load_s);
    row("load", a, "", NAN);
    if (r->has_vision) {
        snprintf(a, sizeof a, "%.2f s", r->encode_s);
        snprintf(b, sizeof b, "%.2f s (%.3g GFLOP at f32 peak)", r->encode_floor_s, r->encode_gflop);
        row("image encode", a, b, r->encode_roofline);
    }
    snprintf(a, sizeof a, "%.1f tok/s (%d pos in %.2f s)", r->prefill_tok_s, r->prefill_positions,
             r->prefill_s);
    snprintf(b, sizeof b, "%.0f tok/s (%.3g GFLOP at %s peak)", r->prefill_floor_tok_s, r->prefill_gflop,
             r->quantized ? "int8" : "f32");
    row("prefill", a, b, r->prefill_roofline);
    snprintf(a, sizeof a, "%.2f s", r->ttft_s);
    row("first token", a, r->image_in_prompt ? "(image given -> first token)" : "(question -> first token)",
        NAN);
    snprintf(a, sizeof a, "%.2f tok/s (%d tokens)", r->decode_tok_s, r->decode_tokens);
    size_str(b, sizeof b, r->weight_bytes);
    snprintf(c, sizeof c, "%.2f tok/s (%s/token)", r->decode_floor_tok_s, b);
    row("decode", a, c, r->decode_roofline);
    snprintf(c, sizeof c, "+ %.0f MB/token of KV cache", r->decode_kv_mb);
    row(" + KV reads", "", c, r->decode_roofline_kv);
    snprintf(a, sizeof a, "%.0f MB", r->peak_rss_mb);
    row("peak RSS", a, "", NAN);
    if (!r->image_in_prompt && r->has_vision)
        printf("\n(the image was encoded but left out of the prompt: it costs more than -p %d)\n",
               r->positions_asked);
    if (r->positions_asked > 0 && r->positions_asked != r->prefill_positions)
        printf("\n(-p %d: the shortest prompt has %d positions)\n", r->positions_asked,
               r->prefill_positions);
    if (r->stop && strcmp(r->stop, "length") != 0)
        printf("\n(the answer stopped early: %s)\n", r->stop);
}

/* ------------------------------------------------------------ the run */

int main(int argc, char **argv)
{
    struct opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr)
        return pr == 1 ? 0 : 2;
    if (o.kernels && gl_quant_set_kernels(o.kernels)) {
        fprintf(stderr, "glimpse-bench: kernel set '%s' is unknown or this CPU cannot run it\n",
                o.kernels);
        return 2;
    }
    if (o.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (int)n : 1;
    }

    int rc = 1;
    char *err = NULL, *llm = NULL, *mmproj = NULL, *question = NULL;
    uint8_t *picture = NULL;
    gl_model *m = NULL;
    gl_chat *c = NULL;
    gguf_file *lf = NULL, *mf = NULL;
    tok_vocab *vocab = NULL;
    gl_pool *pool = NULL;
    struct result r;
    memset(&r, 0, sizeof r);
    r.synth_write_s = r.image_s = r.encode_s = r.encode_gflop = r.ttft_seen_s = NAN;
    r.decode_s = r.decode_tok_s = r.encode_roofline = r.encode_floor_s = NAN;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    if (o.synthetic) {
        if (make_synthetic(&o, &llm, &mmproj, &r.synth_write_s, &err))
            goto fail;
        r.synthetic = o.synthetic;
    } else {
        llm = strdup(o.llm);
        mmproj = o.mmproj ? strdup(o.mmproj) : NULL;
        if (!llm || (o.mmproj && !mmproj)) {
            gl_err(&err, "out of memory");
            goto fail;
        }
    }

    /* ---- load */
    struct gl_model_params mp = gl_model_default_params();
    mp.n_threads = o.threads;
    double t0 = gl_now();
    if (!(m = gl_model_load(llm, mmproj, &mp, &err)))
        goto fail;
    r.load_s = gl_now() - t0;
    struct gl_model_info info;
    gl_model_get_info(m, &info);
    r.model = strdup(info.name);
    r.llm_type = strdup(info.llm_type);
    if (!r.model || !r.llm_type) {
        gl_err(&err, "out of memory");
        goto fail;
    }
    r.llm_bytes = info.llm_bytes;
    r.mmproj_bytes = info.mmproj_bytes;
    r.weight_bytes = info.weight_bytes;
    r.has_vision = info.image_rows > 0;
    r.llm_path = llm;
    r.mmproj_path = mmproj;
    r.threads = o.threads;
    r.positions_asked = o.positions;

    /* The files' shapes, for the work counts and the prompt size. */
    struct llm_counts lc;
    if (!(lf = gguf_open(llm, &err)) || !(vocab = tok_load(lf, &err)) ||
        (mmproj && !(mf = gguf_open(mmproj, &err))))
        goto fail;
    count_llm(lf, &lc);
    r.quantized = lc.quantized;
    if (mf)
        r.encode_gflop = clip_flops(mf) / 1e9;

    bool use_image;
    if (!(question = make_question(vocab, o.positions, r.has_vision, info.image_rows, &use_image, &err)))
        goto fail;
    if (o.image && !r.has_vision) {
        gl_err(&err, "--image needs a vision projector (--mmproj)");
        goto fail;
    }

    struct gl_chat_params cp = gl_chat_default_params();
    cp.sampling.temp = 0; /* greedy */
    cp.n_predict = o.n_gen;
    if (o.n_ctx > 0)
        cp.n_ctx = o.n_ctx;
    if (!(c = gl_chat_new(m, &cp, &err)))
        goto fail;
    struct gl_context_use cu;
    gl_chat_context(c, &cu);
    r.n_ctx = cu.n_ctx;

    struct timing tm = {.show = isatty(2) && !o.json, .shown_pct = -1};
    struct gl_callbacks cb = {.on_progress = on_progress, .on_piece = on_piece, .user = &tm};

    /* ---- image encode */
    if (r.has_vision) {
        size_t plen = 0;
        int ir;
        t0 = gl_now();
        if (o.image) {
            ir = gl_chat_add_image(c, o.image, &cb, &err);
        } else {
            if (!(picture = make_picture(&plen))) {
                gl_err(&err, "out of memory");
                goto fail;
            }
            ir = gl_chat_add_image_mem(c, picture, plen, "picture.ppm", &cb, &err);
        }
        if (ir < 0)
            goto fail;
        r.image_s = gl_now() - t0;
        r.encode_s = tm.enc1 > tm.enc0 && tm.enc0 > 0 ? tm.enc1 - tm.enc0 : r.image_s;
        if (!use_image)
            gl_chat_clear(c, false); /* -p is smaller than the image: text only */
    }
    r.image_in_prompt = r.has_vision && use_image;

    /* ---- prefill and decode */
    tm.ask = gl_now();
    int ar = gl_chat_ask(c, question, &cb, &err);
    if (tm.show)
        fprintf(stderr, "\r%30s\r", "");
    if (ar)
        goto fail;
    r.peak_rss_mb = NAN;
    {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            r.peak_rss_mb = (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
        r.vm_hwm_mb = vm_hwm_mb();
    }
    const struct gl_turn *turn = gl_chat_turn(c, gl_chat_n_turns(c) - 1);
    r.prefill_positions = turn->stats.prompt_tokens;
    r.prefill_s = turn->stats.prefill_ms / 1e3;
    r.prefill_tok_s = r.prefill_s > 0 ? r.prefill_positions / r.prefill_s : NAN;
    r.prefill_gflop = (2.0 * lc.layer_params * r.prefill_positions + 2.0 * lc.out_params) / 1e9;
    r.ttft_s = turn->stats.ttft_ms / 1e3 + (r.image_in_prompt ? r.image_s : 0);
    r.ttft_seen_s = tm.pieces ? tm.first_piece - tm.ask + (r.image_in_prompt ? r.image_s : 0) : NAN;
    r.decode_tokens = turn->n_answer_ids;
    r.stop = gl_stop_name(turn->stop);
    if (turn->n_answer_ids >= 2 && turn->token_ms) {
        /* n tokens, n-1 forward passes between the first and the last */
        r.decode_s = (turn->token_ms[turn->n_answer_ids - 1] - turn->token_ms[0]) / 1e3;
        r.decode_tok_s = r.decode_s > 0 ? (turn->n_answer_ids - 1) / r.decode_s : NAN;
    }
    r.decode_kv_mb = lc.kv_row_bytes * (r.prefill_positions + r.decode_tokens / 2.0) / 1e6;
    r.kernels = gl_quant_kernels();

    /* ---- floors: the model is gone first so the buffers do not add up */
    gl_chat_free(c);
    c = NULL;
    gl_model_free(m);
    m = NULL;
    if (!(pool = gl_pool_new(o.threads, &err)) || calib_run(&r.cal, pool, &err))
        goto fail;

    const double peak = (r.quantized ? r.cal.int8_peak_gops : r.cal.f32_peak_gflops) * 1e9;
    r.decode_floor_tok_s = r.cal.read_bw_gbs * 1e9 / (double)r.weight_bytes;
    r.decode_roofline = r.decode_tok_s / r.decode_floor_tok_s;
    r.decode_roofline_kv = r.decode_tok_s * ((double)r.weight_bytes + r.decode_kv_mb * 1e6) /
                           (r.cal.read_bw_gbs * 1e9);
    const double prefill_ideal_s = r.prefill_gflop * 1e9 / peak;
    r.prefill_floor_tok_s = r.prefill_positions / prefill_ideal_s;
    r.prefill_roofline = prefill_ideal_s / r.prefill_s;
    if (r.has_vision) {
        r.encode_floor_s = r.encode_gflop / r.cal.f32_peak_gflops;
        r.encode_roofline = r.encode_floor_s / r.encode_s;
    }

    if (o.json)
        print_json(&r);
    else
        print_table(&r);
    fflush(stdout);
    rc = 0;
fail:
    if (rc && err)
        fprintf(stderr, "glimpse-bench: %s\n", err);
    else if (rc)
        fprintf(stderr, "glimpse-bench: failed\n");
    gl_pool_free(pool);
    gl_chat_free(c);
    tok_free(vocab);
    gguf_close(lf);
    gguf_close(mf);
    gl_model_free(m);
    if (o.synthetic && o.keep && rc == 0 && !o.json)
        fprintf(stderr, "glimpse-bench: kept %s%s%s\n", llm ? llm : "", mmproj ? " and " : "",
                mmproj ? mmproj : "");
    remove_synthetic();
    free(picture);
    free(question);
    free(r.model);
    free(r.llm_type);
    free(err);
    free(llm);
    free(mmproj);
    return rc;
}
