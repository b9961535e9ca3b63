/*
 * models.h - finding the model files a user already has (private to
 * src/glimpse). Never prints: results, notes and errors come back as strings.
 *
 *   struct gl_model_pair p;
 *   char *note = NULL, *err = NULL;
 *   int rc = models_resolve(opt_model, opt_mmproj, &p, &note, &err);
 *   // rc 0: load p.llm (+ p.mmproj, NULL = text only); show `note` if set
 *   // rc -1: one-line error; rc -2: several models found, `err` lists them
 *
 * Where models are looked for, in this order:
 *   1. ollama's store: $OLLAMA_MODELS (default ~/.ollama/models). A name
 *      [HOST/][NAMESPACE/]MODEL[:TAG] (HOST registry.ollama.ai, NAMESPACE
 *      library and TAG latest when omitted) has its manifest at
 *      manifests/HOST/NAMESPACE/MODEL/TAG: registry JSON (schemaVersion 2)
 *      whose layer of mediaType application/vnd.ollama.image.model is the
 *      language model and ...image.projector the mmproj; a layer's digest
 *      sha256:<64 hex> names the file blobs/sha256-<hex>.
 *   2. llama.cpp's download cache: $LLAMA_CACHE (default
 *      $XDG_CACHE_HOME/llama.cpp, i.e. ~/.cache/llama.cpp). The name
 *      OWNER/REPO[:TAG] has its manifest at manifest=OWNER=REPO=TAG.json
 *      (Hugging Face's answer: ggufFile.rfilename, mmprojFile.rfilename);
 *      a file F of the repo is cached as OWNER_REPO_F ('/' in F become '_').
 *   3. glimpse's own directory: $XDG_DATA_HOME/glimpse/models (default
 *      ~/.local/share/glimpse/models). Every GGUF language model there or
 *      in a subdirectory, paired with an mmproj beside it (see below). Its
 *      name is the subdirectory's when that holds one language model, else
 *      the file name without .gguf (SUBDIR/STEM inside a subdirectory).
 *
 * mmproj auto-detection: among the *.gguf files next to a language model
 * whose name contains "mmproj", the first (by name) that loads as a CLIP
 * projector whose output width equals the model's embedding_length.
 *
 * Everything on disk is untrusted: manifests are size-capped JSON whose
 * digests, sizes and names are checked; a blob must exist, be a regular file
 * (symlinks are followed), match the size in its manifest and start with
 * "GGUF".
 */
#ifndef GLIMPSE_MODELS_H
#define GLIMPSE_MODELS_H

#include <stddef.h>
#include <stdint.h>

/* One language model and its projector, all strings malloc'd. */
struct gl_model_pair {
    char *llm;                  /* path of the language model */
    char *mmproj;               /* path of the projector; NULL = none (text only) */
    char *name;                 /* what -m accepts to select it: "llava:7b", or the path */
    const char *store;          /* static: "ollama", "llama.cpp", "glimpse" or "file" */
    char *label;                /* for people: "llava:7b (ollama)", or the path */
    uint64_t llm_bytes, mmproj_bytes;   /* file sizes (0 when unknown / no mmproj) */
};

/* Decide which files to load from -m and --mmproj (either may be NULL).
 *   m_arg an existing path: that file; the mmproj is mmproj_arg, else one
 *         auto-detected next to it (*note says which, or why none was).
 *   m_arg a model name (not a file): looked up in the stores above; the
 *         first store that has it wins; mmproj_arg, if given, overrides the
 *         store's projector.
 *   m_arg NULL: the single pair that models_list() finds (*note says so).
 * Returns 0 (*out filled, caller frees with models_pair_free), -1 with a
 * one-line *err, or -2 when m_arg is NULL and several pairs were found: *err
 * is then a first line followed by the candidates (models_format() lines).
 * *note (may be NULL) gets a malloc'd line worth telling the user, or NULL. */
int models_resolve(const char *m_arg, const char *mmproj_arg, struct gl_model_pair *out,
                   char **note, char **err);

/* Every usable pair (a language model with a projector) in the stores, in
 * store order then by name. *out is malloc'd (NULL when *n is 0); free with
 * models_list_free. Unreadable or damaged entries are skipped. Returns 0, or
 * -1 with *err (out of memory). */
int models_list(struct gl_model_pair **out, size_t *n, char **err);

/* A table for --list-models: a header line and one line per pair (name,
 * store, model size, mmproj size), '\n'-terminated; "" when n is 0. NULL
 * on OOM. */
char *models_format(const struct gl_model_pair *pairs, size_t n);

/* The directories searched, for messages ("ollama: DIR, llama.cpp: DIR,
 * glimpse: DIR"). malloc'd, NULL on OOM. */
char *models_search_path(void);

/* Free the strings of one pair (not the struct); NULL-safe. */
void models_pair_free(struct gl_model_pair *p);
void models_list_free(struct gl_model_pair *pairs, size_t n);

/* The mmproj auto-detection alone, for a language model at llm_path: a
 * malloc'd path in *mmproj (NULL when none fits), and a note saying what was
 * picked or ignored. Returns 0, or -1 with *err when the language model
 * itself cannot be read or is not a language model. */
int models_find_mmproj(const char *llm_path, char **mmproj, char **note, char **err);

/* Size for people, decimal units like ollama's ("4.1 GB", "624 MB"). */
void models_human_size(uint64_t bytes, char *buf, size_t size);

#endif
