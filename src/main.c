/*
 * main.c - glimpse's command line: options, then one of the modes: the chat
 * (TUI), one-shot answers (-p), inspect, show, replay, export, lists.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "replay.h"
#include "config_file.h"
#include "models.h"
#include "sigbus.h"
#include "glimpse/quant.h"
#include "ui/preview.h"
#include "ui/screen.h"
#include "ui/tui.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: glimpse [OPTION]... [IMAGE]...\n"
        "Chat with a LLaVA-style vision-language model about an image, in the terminal.\n"
        "\n"
        "Modes:\n"
        "  -p, --prompt TEXT       one-shot: answer TEXT and exit ('-' reads stdin);\n"
        "                          repeat for a scripted multi-turn conversation\n"
        "      --inspect FILE      describe a GGUF model file and exit\n"
        "      --replay FILE       show a saved conversation as it happened (no model needed);\n"
        "                          --speed N|max sets the pace, --verify re-runs every turn\n"
        "                          on the model and compares (exit 3 if an answer differs)\n"
        "      --export FILE OUT   write a session as a transcript: OUT.md or OUT.json\n"
        "      --list-sessions     list the autosaved sessions, newest first\n"
        "      --save FILE         with -p: save the conversation as a session (glimpse-session(5));\n"
        "                          --no-embed-images keeps only the images' paths and hashes\n"
        "      --list-models       list the model pairs found (ollama, llama.cpp, glimpse) and exit\n"
        "      --demo              chat with a tiny random-weight model made on the fly (no\n"
        "                          download; its answers are noise) about a sample picture\n"
        "      --preview MODE      the chat's image pane: auto (default), sixel, blocks, ascii\n"
        "                          or none\n"
        "      --show IMAGE        draw IMAGE as the image pane would (--preview MODE,\n"
        "                          --cols N columns) and exit\n"
        "  -h, --help              show this help and exit\n"
        "  -V, --version           show the version and exit\n"
        "\n"
        "Model:\n"
        "  -m, --model FILE|NAME   the language model (.gguf), or a name such as llava:7b\n"
        "                          found in ollama's or llama.cpp's store\n"
        "      --mmproj FILE       its vision projector (.gguf), needed for images\n"
        "                          (default: an mmproj file next to the model that fits)\n"
        "  -t, --threads N         compute threads (default: number of cores)\n"
        "  -c, --ctx-size N        context length in tokens (default: the model's, at most 4096)\n"
        "      --kv-type f16|f32   KV cache element type (default f16)\n"
        "\n"
        "Images:\n"
        "      --image FILE        an image for the first question (or give it as an argument)\n"
        "      --no-exif           ignore the JPEG orientation tag\n"
        "      --compat llama.cpp  see and prompt exactly as llama.cpp's llava-cli does\n"
        "      --dump-preprocessed FILE  write the first image as the model sees it\n"
        "                          (336x336x3 RGB bytes) and, without -p, exit\n"
        "      --dump-embd FILE    write the first image's projected rows (float32) and,\n"
        "                          without -p, exit\n"
        "\n"
        "Conversation:\n"
        "      --template NAME     vicuna_v1 (default), llava_v1, llama.cpp or raw\n"
        "      --raw               no chat template: BOS + the prompt as is\n"
        "      --system TEXT       replace the template's system prompt\n"
        "      --context-policy refuse|drop-oldest\n"
        "                          when a turn does not fit: refuse it (default) or drop\n"
        "                          the oldest turns\n"
        "\n"
        "Generation:\n"
        "  -n, --n-predict N       at most N tokens per answer (default 256; -1 = no limit)\n"
        "      --temp F            temperature; 0 = greedy (default 0.2)\n"
        "      --top-k N           keep the N most likely tokens (default 40; 0 = off)\n"
        "      --top-p F           nucleus sampling threshold (default 0.95; 1 = off)\n"
        "      --min-p F           drop tokens below F x the top probability (default 0.05)\n"
        "      --repeat-penalty F  penalise recent tokens (default 1.0 = off)\n"
        "      --repeat-last-n N   window of the repetition penalty (default 64)\n"
        "  -s, --seed N            random seed (default: from the clock)\n"
        "\n"
        "Output:\n"
        "      --json              print one JSON object per answer instead of streaming text\n"
        "  -q, --quiet             no progress output\n"
        "  -v, --verbose           print timings after each answer\n"
        "\n"
        "Exit status: 0 done, 1 runtime error, 2 usage error, 3 --verify found a difference,\n"
        "130 interrupted (Ctrl-C), 128+N ended by signal N.\n"
        "See glimpse(1) for details.\n");
}

enum {
    OPT_INSPECT = 256, OPT_JSON, OPT_TEMP, OPT_TOP_K, OPT_TOP_P, OPT_MIN_P,
    OPT_REPEAT_PENALTY, OPT_REPEAT_LAST_N, OPT_RAW, OPT_KV_TYPE, OPT_MMPROJ, OPT_IMAGE,
    OPT_SYSTEM, OPT_TEMPLATE, OPT_COMPAT, OPT_NO_EXIF, OPT_DUMP_PRE, OPT_DUMP_EMBD,
    OPT_CONTEXT_POLICY, OPT_LIST_MODELS, OPT_SHOW, OPT_PREVIEW, OPT_COLS,
    OPT_REPLAY, OPT_SPEED, OPT_VERIFY, OPT_EXPORT, OPT_LIST_SESSIONS, OPT_SAVE, OPT_NO_EMBED_IMAGES, OPT_DEMO
};

/* Number parsing: the whole argument must be a number in [lo, hi]. */
static bool parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "glimpse: %s needs a whole number from %ld to %ld, not '%s'\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_float(const char *opt, const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "glimpse: %s needs a number from %g to %g, not '%s'\n", opt, lo, hi, s);
        return false;
    }
    *out = (float)v;
    return true;
}

static int cli_list_models(void);

/* A standard descriptor closed by the caller (glimpse <&- or >&-) would be
 * taken by the next file opened - a model, the worker's event pipe, a
 * session being written - which stdin reads or the answer would then hit.
 * Hold each with /dev/null opened read-only: reads see an end of file and
 * writes still fail (EBADF), as on the closed descriptor. */
static void std_fds_open(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDONLY);
            if (n >= 0 && n != fd)
                close(n);       /* fd was taken meanwhile: nothing to hold */
        }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"inspect", required_argument, NULL, OPT_INSPECT},
        {"json", no_argument, NULL, OPT_JSON},
        {"model", required_argument, NULL, 'm'},
        {"mmproj", required_argument, NULL, OPT_MMPROJ},
        {"image", required_argument, NULL, OPT_IMAGE},
        {"prompt", required_argument, NULL, 'p'},
        {"system", required_argument, NULL, OPT_SYSTEM},
        {"template", required_argument, NULL, OPT_TEMPLATE},
        {"compat", required_argument, NULL, OPT_COMPAT},
        {"raw", no_argument, NULL, OPT_RAW},
        {"n-predict", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'},
        {"ctx-size", required_argument, NULL, 'c'},
        {"kv-type", required_argument, NULL, OPT_KV_TYPE},
        {"temp", required_argument, NULL, OPT_TEMP},
        {"top-k", required_argument, NULL, OPT_TOP_K},
        {"top-p", required_argument, NULL, OPT_TOP_P},
        {"min-p", required_argument, NULL, OPT_MIN_P},
        {"repeat-penalty", required_argument, NULL, OPT_REPEAT_PENALTY},
        {"repeat-last-n", required_argument, NULL, OPT_REPEAT_LAST_N},
        {"seed", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"no-exif", no_argument, NULL, OPT_NO_EXIF},
        {"dump-preprocessed", required_argument, NULL, OPT_DUMP_PRE},
        {"dump-embd", required_argument, NULL, OPT_DUMP_EMBD},
        {"context-policy", required_argument, NULL, OPT_CONTEXT_POLICY},
        {"list-models", no_argument, NULL, OPT_LIST_MODELS},
        {"replay", required_argument, NULL, OPT_REPLAY},
        {"speed", required_argument, NULL, OPT_SPEED},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"export", required_argument, NULL, OPT_EXPORT},
        {"list-sessions", no_argument, NULL, OPT_LIST_SESSIONS},
        {"save", required_argument, NULL, OPT_SAVE},
        {"no-embed-images", no_argument, NULL, OPT_NO_EMBED_IMAGES},
        {"show", required_argument, NULL, OPT_SHOW},
        {"preview", required_argument, NULL, OPT_PREVIEW},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"cols", required_argument, NULL, OPT_COLS},
        {NULL, 0, NULL, 0},
    };
    struct cli_opts o = {
        .tmpl = GL_TMPL_VICUNA_V1,
        .n_predict = 256,
        .kv_type = GL_TYPE_F16,
        .sp = gl_sampler_default_params(),
    };
    const char *inspect = NULL, *show = NULL;
    enum preview_mode preview_mode = PREVIEW_AUTO;
    int show_cols = 0;
    bool raw = false, list_models = false;
    struct replay_opts replay = {.speed = -1};
    const char *export_file = NULL;
    bool list_sessions = false, demo = false;
    char *err = NULL;
    long lv;
    int c;

    std_fds_open();

    /* The config file sets defaults; the command line wins. */
    static struct gl_config cfg;
    if (config_load(NULL, &cfg, &err) < 0) {
        fprintf(stderr, "glimpse: %s\n", err);
        free(err);
        return EXIT_USAGE;
    }
    config_apply(&cfg, &o);

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hVm:p:n:t:c:s:qv", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("glimpse %s\n", GL_VERSION);
            return EXIT_OK;
        case OPT_INSPECT:
            inspect = optarg;
            break;
        case OPT_JSON:
            o.json = true;
            break;
        case 'm':
            o.model = optarg;
            break;
        case OPT_MMPROJ:
            o.mmproj = optarg;
            break;
        case OPT_IMAGE:
            if (o.n_images == CLI_MAX_IMAGES) {
                fprintf(stderr, "glimpse: at most %d images\n", CLI_MAX_IMAGES);
                return EXIT_USAGE;
            }
            o.images[o.n_images++] = optarg;
            break;
        case 'p':
            if (o.n_prompts == CLI_MAX_PROMPTS) {
                fprintf(stderr, "glimpse: at most %d prompts\n", CLI_MAX_PROMPTS);
                return EXIT_USAGE;
            }
            o.prompts[o.n_prompts++] = optarg;
            break;
        case OPT_SYSTEM:
            o.system = optarg;
            break;
        case OPT_TEMPLATE:
            if (gl_template_parse(optarg, &o.tmpl, &err)) {
                fprintf(stderr, "glimpse: %s\n", err);
                free(err);
                return EXIT_USAGE;
            }
            break;
        case OPT_COMPAT:
            if (strcmp(optarg, "llama.cpp") != 0) {
                fprintf(stderr, "glimpse: --compat knows only 'llama.cpp', not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.compat_llamacpp = true;
            o.tmpl = GL_TMPL_LLAMACPP;
            break;
        case OPT_RAW:
            raw = true;
            break;
        case 'n':
            if (!parse_long("-n", optarg, -1, 1 << 20, &lv))
                return EXIT_USAGE;
            o.n_predict = (int)lv;
            break;
        case 't':
            if (!parse_long("-t", optarg, 1, 512, &lv))
                return EXIT_USAGE;
            o.n_threads = (int)lv;
            break;
        case 'c':
            if (!parse_long("-c", optarg, 16, 1 << 20, &lv))
                return EXIT_USAGE;
            o.n_ctx = (int)lv;
            break;
        case OPT_KV_TYPE:
            if (strcmp(optarg, "f16") == 0)
                o.kv_type = GL_TYPE_F16;
            else if (strcmp(optarg, "f32") == 0)
                o.kv_type = GL_TYPE_F32;
            else {
                fprintf(stderr, "glimpse: --kv-type is f16 or f32, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_TEMP:
            if (!parse_float("--temp", optarg, 0, 100, &o.sp.temp))
                return EXIT_USAGE;
            break;
        case OPT_TOP_K:
            if (!parse_long("--top-k", optarg, 0, 1 << 24, &lv))
                return EXIT_USAGE;
            o.sp.top_k = (int)lv;
            break;
        case OPT_TOP_P:
            if (!parse_float("--top-p", optarg, 0, 1, &o.sp.top_p))
                return EXIT_USAGE;
            break;
        case OPT_MIN_P:
            if (!parse_float("--min-p", optarg, 0, 1, &o.sp.min_p))
                return EXIT_USAGE;
            break;
        case OPT_REPEAT_PENALTY:
            if (!parse_float("--repeat-penalty", optarg, 0.01, 100, &o.sp.repeat_penalty))
                return EXIT_USAGE;
            break;
        case OPT_REPEAT_LAST_N:
            if (!parse_long("--repeat-last-n", optarg, 0, 1 << 20, &lv))
                return EXIT_USAGE;
            o.sp.repeat_last_n = (int)lv;
            break;
        case 's':
            if (!parse_long("--seed", optarg, 0, LONG_MAX, &lv))
                return EXIT_USAGE;
            o.sp.seed = (uint64_t)lv;
            o.seed_set = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'v':
            o.verbose = true;
            break;
        case OPT_NO_EXIF:
            o.no_exif = true;
            break;
        case OPT_DUMP_PRE:
            o.dump_pre = optarg;
            break;
        case OPT_DUMP_EMBD:
            o.dump_embd = optarg;
            break;
        case OPT_LIST_MODELS:
            list_models = true;
            break;
        case OPT_REPLAY:
            replay.file = optarg;
            break;
        case OPT_SPEED:
            if (replay_parse_speed(optarg, &replay.speed)) {
                fprintf(stderr, "glimpse: --speed is a number above 0 or 'max', not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_VERIFY:
            replay.verify = true;
            break;
        case OPT_EXPORT:
            export_file = optarg;
            break;
        case OPT_LIST_SESSIONS:
            list_sessions = true;
            break;
        case OPT_SAVE:
            o.save = optarg;
            break;
        case OPT_NO_EMBED_IMAGES:
            o.no_embed_images = true;
            break;
        case OPT_DEMO:
            demo = true;
            break;
        case OPT_SHOW:
            show = optarg;
            break;
        case OPT_PREVIEW:
            if (preview_mode_parse(optarg, &preview_mode) != 0) {
                fprintf(stderr, "glimpse: --preview is auto, sixel, blocks, ascii or none, not '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_COLS:
            if (!parse_long("--cols", optarg, 1, 4096, &lv))
                return EXIT_USAGE;
            show_cols = (int)lv;
            break;
        case OPT_CONTEXT_POLICY:
            if (strcmp(optarg, "refuse") == 0)
                o.context_policy = GL_CONTEXT_REFUSE;
            else if (strcmp(optarg, "drop-oldest") == 0)
                o.context_policy = GL_CONTEXT_DROP_OLDEST;
            else {
                fprintf(stderr, "glimpse: --context-policy is refuse or drop-oldest, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case ':':
            fprintf(stderr, "glimpse: option %s needs a value (see glimpse --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "glimpse: unknown option %s (see glimpse --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o.n_images == CLI_MAX_IMAGES) {
            fprintf(stderr, "glimpse: at most %d images\n", CLI_MAX_IMAGES);
            return EXIT_USAGE;
        }
        o.images[o.n_images++] = argv[i];
    }
    if (raw)
        o.tmpl = GL_TMPL_RAW;
    if (!o.seed_set)
        o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    /* Every mode but --show and the lists maps model files (--inspect,
     * --verify, the dumps, -p, the chat): a file cut or replaced under us
     * is reported as such (sigbus.h), the chat's terminal given back first
     * - the same restore as its crash handler; a no-op until the chat's
     * screen is up. */
    if (sigbus_install()) {
        fprintf(stderr, "glimpse: cannot set up signal handling\n");
        return EXIT_RUNTIME;
    }
    sigbus_set_cleanup(screen_emergency_restore);

    if (show)
        return preview_show(show, preview_mode, show_cols, o.no_exif);
    if (list_sessions)
        return cli_list_sessions();
    if (export_file) {
        if (o.n_images != 1) {
            fprintf(stderr, "glimpse: --export FILE needs one output file: OUT.md or OUT.json\n");
            return EXIT_USAGE;
        }
        return cli_export(export_file, o.images[0], o.quiet);
    }
    if (replay.verify && !replay.file) {
        fprintf(stderr, "glimpse: --verify goes with --replay FILE\n");
        return EXIT_USAGE;
    }
    if (replay.file) {
        replay.model = o.model;
        replay.mmproj = o.mmproj;
        replay.n_threads = o.n_threads;
        replay.quiet = o.quiet;
        return cli_replay(&replay);
    }
    if (inspect)
        return cli_inspect(inspect, o.json);
    if (list_models)
        return cli_list_models();

    bool one_shot = o.n_prompts > 0 || o.dump_pre || o.dump_embd;
    if (!one_shot && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fprintf(stderr, "glimpse: not a terminal: use -p TEXT for one-shot use (see glimpse --help)\n");
        return EXIT_USAGE;
    }
    if (demo) {
        if (one_shot) {
            fprintf(stderr, "glimpse: --demo is for the interactive chat (leave out -p)\n");
            return EXIT_USAGE;
        }
        struct tui_opts to = {.preview = preview_mode, .demo = true};
        int drc = tui_run(&o, &to);
        config_free(&cfg);
        return drc;
    }
    /* Which files to load: -m FILE or NAME, or the single pair found. The
     * dumps need only the mmproj. */
    struct gl_model_pair pair = {0};
    bool mmproj_only = (o.dump_pre || o.dump_embd) && !o.model && o.n_prompts == 0 && o.mmproj;
    if (!mmproj_only) {
        char *note = NULL;
        int r = models_resolve(o.model, o.mmproj, &pair, &note, &err);
        if (r < 0) {
            fprintf(stderr, "glimpse: %s\n", err);
            free(err);
            return r == -2 ? EXIT_USAGE : EXIT_RUNTIME;
        }
        if (note && !o.quiet)
            fprintf(stderr, "glimpse: %s\n", note);
        free(note);
        o.model = pair.llm;
        o.mmproj = pair.mmproj;
    }
    int rc;
    if (one_shot)
        rc = cli_generate(&o);
    else {
        struct tui_opts to = {.preview = preview_mode};
        rc = tui_run(&o, &to);
    }
    models_pair_free(&pair);
    config_free(&cfg);
    return rc;
}

/* glimpse --list-models: every usable pair found where users keep models. */
static int cli_list_models(void)
{
    struct gl_model_pair *v = NULL;
    size_t n = 0;
    char *err = NULL;
    if (models_list(&v, &n, &err)) {
        fprintf(stderr, "glimpse: %s\n", err);
        free(err);
        return EXIT_RUNTIME;
    }
    if (n == 0) {
        char *where = models_search_path();
        printf("no models found (looked in %s)\n", where ? where : "the usual places");
        free(where);
    } else {
        char *t = models_format(v, n);
        if (t)
            fputs(t, stdout);
        free(t);
    }
    models_list_free(v, n);
    return EXIT_OK;
}
