/*
 * mkgguf.c - write the GGUF test corpus (tests/gguf_writer.h) for the shell
 * tests.
 *
 *   mkgguf OUTDIR     writes OUTDIR/<case>.gguf for every case and prints
 *                     one line per file: "good PATH" or "bad PATH"
 *   mkgguf --list     prints "NAME<TAB>what is wrong<TAB>expected phrase"
 *
 * The output is deterministic: the same files, byte for byte, every run.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf_writer.h"

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: mkgguf OUTDIR | mkgguf --list\n");
        return 2;
    }
    if (strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < gw_corpus_count(); i++) {
            const struct gw_case *c = gw_corpus_case(i);
            printf("%s\t%s\t%s\n", c->name, c->what, c->valid ? "(valid)" : c->expect);
        }
        return 0;
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkgguf: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < gw_corpus_count(); i++) {
        const struct gw_case *c = gw_corpus_case(i);
        void *buf = NULL;
        size_t len = 0;
        char *err = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, c->name);
        if (gw_corpus_build(i, &buf, &len, &err) || gw_save(path, buf, len, &err)) {
            fprintf(stderr, "mkgguf: %s\n", err ? err : "out of memory");
            free(err);
            free(buf);
            return 1;
        }
        free(buf);
        printf("%s %s\n", c->valid ? "good" : "bad", path);
    }
    return 0;
}
