/*
 * fuzz_session.c - libFuzzer target: arbitrary bytes as a session file.
 *
 * session_parse (what session_load does after reading the file) must refuse
 * with a message or accept; an accepted document's typed views must be
 * consistent (counts match, ids in range, embedded image bytes present
 * with their length), and writing it out and reading that back must give
 * the same document again.
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_session: %s\n", what);
    abort();
}

/* Everything the views promise, read end to end. */
static void walk(const session *s)
{
    struct session_info in;
    session_get_info(s, &in);
    if (in.n_images < 0 || in.n_turns < 0 || in.n_pending < 0)
        die("negative count");
    if (session_image(s, in.n_images) || session_turn(s, in.n_turns) || session_image(s, -1) ||
        session_turn(s, -1))
        die("a view past the end");
    for (int i = 0; i < in.n_pending; i++)
        if (in.pending[i] < 0 || in.pending[i] >= in.n_images)
            die("pending image id out of range");
    for (int i = 0; i < in.n_images; i++) {
        const struct session_image *im = session_image(s, i);
        if (!im || im->id != i)
            die("image view");
        if (im->data && im->len)
            (void)session_image_ext(im->data, im->len), (void)((volatile const uint8_t *)im->data)[im->len - 1];
        if (im->path)
            (void)strlen(im->path);
    }
    for (int i = 0; i < in.n_turns; i++) {
        const struct session_turn *t = session_turn(s, i);
        if (!t || !t->user || t->n_images < 0 || t->n_answer_ids < 0)
            die("turn view");
        for (int k = 0; k < t->n_images; k++)
            if (t->images[k] < 0 || t->images[k] >= in.n_images)
                die("turn image id out of range");
        size_t alen = t->answer ? strlen(t->answer) : 0;
        for (int k = 0; k < t->n_answer_ids; k++) {
            (void)((volatile const int32_t *)t->answer_ids)[k];
            if (t->token_ms)
                (void)((volatile const double *)t->token_ms)[k];
            if (t->piece_ends && (t->piece_ends[k] < 0 || (size_t)t->piece_ends[k] > alen))
                die("piece end outside the answer");
        }
    }
    struct gl_chat_params cp = gl_chat_default_params();
    session_chat_params(s, &cp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);      /* exact size: ASan sees overreads */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    char *err = NULL;
    session *s = session_parse(buf, size, "fuzz.json", &err);
    if (!s) {
        if (!err)
            die("refused without a message");
        free(err);
        free(buf);
        return 0;
    }
    walk(s);
    size_t n1 = 0, n2 = 0;
    char *d1 = session_dump(s, &n1, &err);
    if (!d1)
        die("session_dump failed");
    session *s2 = session_parse(d1, n1, "fuzz-dump.json", &err);
    if (!s2) {
        fprintf(stderr, "fuzz_session: its own dump is refused: %s\n", err ? err : "?");
        abort();
    }
    walk(s2);
    char *d2 = session_dump(s2, &n2, &err);
    if (!d2 || n1 != n2 || memcmp(d1, d2, n1) != 0)
        die("dump -> parse -> dump changed the document");
    free(d1);
    free(d2);
    session_free(s2);
    session_free(s);
    free(buf);
    return 0;
}
