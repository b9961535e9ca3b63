/*
 * demo.h - `glimpse --demo`: a tiny LLaVA-1.5-shaped model pair with random
 * weights, written on the fly, and a sample picture to talk about, for
 * someone who has no model yet (private to src/glimpse).
 *
 *   char *err = NULL, *dir = demo_tmpdir(&err);
 *   struct demo_files f = {0};
 *   if (!dir || demo_make(dir, &f, &err) < 0) { show err; ... }
 *   const char *img = demo_sample_image();     // NULL: not installed
 *   show demo_banner(); load f.llm + f.mmproj; chat about img ...
 *   demo_unlink(&f); rmdir(dir); demo_files_free(&f); free(dir);
 *
 * The pair has exactly the keys, tensor names and types of a real LLaVA-1.5
 * pair (FORMAT.md §2-§4), only narrow: the LLM is 256 wide, 2 layers, with a
 * synthetic vocabulary of a few hundred English words; the vision tower is
 * 64 wide, 3 blocks, 336 px / patch 14. Its answers are random words.
 * Nothing here prints or exits.
 */
#ifndef GLIMPSE_DEMO_H
#define GLIMPSE_DEMO_H

struct demo_files {
    char *llm;                  /* the language model (malloc'd path) */
    char *mmproj;               /* its vision projector (malloc'd path) */
};

/* Write the demo pair into the existing directory `dir` (files
 * glimpse-demo-llm-f16.gguf and glimpse-demo-mmproj-f16.gguf, each written
 * atomically). The bytes are always the same. Fills *out on success;
 * -1 + *err on failure (nothing is left in *out). */
int demo_make(const char *dir, struct demo_files *out, char **err);

/* Free the paths (not the files) and zero *f; NULL-safe. */
void demo_files_free(struct demo_files *f);

/* Remove the two files demo_make wrote (missing ones are ignored). */
void demo_unlink(const struct demo_files *f);

/* A new private directory $TMPDIR/glimpse-demo-XXXXXX (default /tmp), or
 * NULL + *err. The caller removes it (rmdir) and frees the path. */
char *demo_tmpdir(char **err);

/* The banner to show while the demo runs: one line, no newline. */
const char *demo_banner(void);

/* The sample picture's path: the first readable one of
 * $GLIMPSE_DATADIR/glimpse-sample.png, GL_DATADIR/glimpse-sample.png (the
 * installed copy), and, beside the running executable, ../share/ (a build
 * tree) and ../share/glimpse/ (a relocated install). NULL when there is
 * none. The string is static: not thread-safe, valid until the next call. */
const char *demo_sample_image(void);

#endif
