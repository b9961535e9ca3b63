/*
 * main.c - glimpse's command line: options, then one of the modes
 * (inspect a model file, one-shot generation; the chat TUI comes later).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: glimpse [OPTION]... [IMAGE]\n"
        "Chat with a LLaVA-style vision-language model about an image, in the terminal.\n"
        "\n"
        "Modes:\n"
        "  -p, --prompt TEXT       one-shot: answer TEXT and exit ('-' reads stdin)\n"
        "      --inspect FILE      describe a GGUF model file and exit\n"
        "  -h, --help              show this help and exit\n"
        "  -V, --version           show the version and exit\n"
        "\n"
        "Model:\n"
        "  -m, --model FILE        the language model (.gguf)\n"
        "  -t, --threads N         compute threads (default: number of cores)\n"
        "  -c, --ctx-size N        context length in tokens (default: the model's, at most 4096)\n"
        "      --kv-type f16|f32   KV cache element type (default f16)\n"
        "\n"
        "Generation:\n"
        "  -n, --n-predict N       at most N tokens per answer (default 256)\n"
        "      --temp F            temperature; 0 = greedy (default 0.2)\n"
        "      --top-k N           keep the N most likely tokens (default 40; 0 = off)\n"
        "      --top-p F           nucleus sampling threshold (default 0.95; 1 = off)\n"
        "      --min-p F           drop tokens below F x the top probability (default 0.05)\n"
        "      --repeat-penalty F  penalise recent tokens (default 1.0 = off)\n"
        "      --repeat-last-n N   window of the repetition penalty (default 64)\n"
        "  -s, --seed N            random seed (default: from the clock)\n"
        "      --raw               no chat template: BOS + the prompt as is\n"
        "\n"
        "Output:\n"
        "      --json              print one JSON object instead of streaming text\n"
        "\n"
        "Exit status: 0 done, 1 runtime error, 2 usage error, 130 interrupted.\n"
        "See glimpse(1) for details.\n");
}

enum {
    OPT_INSPECT = 256, OPT_JSON, OPT_TEMP, OPT_TOP_K, OPT_TOP_P, OPT_MIN_P,
    OPT_REPEAT_PENALTY, OPT_REPEAT_LAST_N, OPT_RAW, OPT_KV_TYPE
};

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"inspect", required_argument, NULL, OPT_INSPECT},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    const char *inspect = NULL;
    bool json = false;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
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
            json = true;
            break;
        case ':':
            fprintf(stderr, "glimpse: option %s needs a value (see glimpse --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "glimpse: unknown option %s (see glimpse --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (inspect)
        return cli_inspect(inspect, json);
    usage(stderr);
    return EXIT_USAGE;
}
