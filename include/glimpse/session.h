/*
 * session.h - conversations saved as JSON files: save (atomically), load
 * (validated, never trusted), restore into a conversation, verify a recorded
 * answer by re-running it, export a transcript. The format is documented in
 * glimpse-session(5).
 *
 *   // on the worker thread (gl_worker_with_chat), after each turn:
 *   session *s = session_new(&err);
 *   struct session_opts o = session_default_opts();
 *   session_update(s, m, c, &o, &err);          // the document follows the chat
 *   session_write(s, "talk.json", &err);        // temp file, fsync, rename, fsync dir
 *
 *   // later, anywhere:
 *   session *s = session_load("talk.json", &err);   // NULL + "talk.json:3:14: ..." on damage
 *   struct gl_chat_params cp = gl_chat_default_params();
 *   session_chat_params(s, &cp);                    // template, system, vision, n_ctx, ...
 *   ... gl_chat_new(m, &cp, &err) (or gl_worker_load with cp) ...
 *   session_restore(s, c, &cb, &err);               // images, turns, then re-prefill
 *
 * A session is a JSON document held in memory with typed views of it
 * (session_info, session_image, session_turn). Fields this version does not
 * know are kept untouched when the document is updated and written back.
 * Loading checks everything (types, ranges, base64 sizes before decoding,
 * each embedded image against its SHA-256) and never modifies the file.
 *
 * Threads: a session is a plain object (one thread at a time). Functions
 * that take a gl_chat must run where the chat is owned (inside a
 * gl_worker_fn when a worker runs the conversation). Nothing here prints or
 * exits; failures return -1 (NULL) with a one-line message in *err.
 */
#ifndef GLIMPSE_SESSION_H
#define GLIMPSE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "glimpse/chat.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SESSION_FORMAT "glimpse-session"
#define SESSION_VERSION_MAJOR 1
#define SESSION_VERSION_MINOR 0
/* Limits on what a session file may hold (checked before allocating). */
#define SESSION_MAX_FILE_BYTES (1ull << 30)       /* 1 GiB */
#define SESSION_MAX_IMAGE_BYTES (64u << 20)       /* = GL_IMAGE_MAX_FILE_BYTES */

typedef struct session session;

/* ------------------------------------------------------------ lifetime */

/* An empty document (no model, no turns) to be filled by session_update. */
session *session_new(char **err);
/* Read, parse and validate a session file (read-only; the file is never
 * modified). Errors name the file and the place: "F:LINE:COL: ..." for JSON
 * syntax (as jansson reports it), "F: turns[2].answer_ids[5]: ..." for a
 * value of the wrong type or range, a clear message for a file that is not
 * a glimpse session or whose major version is newer than this one. */
session *session_load(const char *path, char **err);
/* The same from memory; `name` is used in messages. */
session *session_parse(const char *text, size_t len, const char *name, char **err);
void session_free(session *s);

/* The file it was loaded from or last written to (NULL for a new one). */
const char *session_path(const session *s);

/* ------------------------------------------------------------ what a document holds
 * Pointers stay valid until the next session_update or session_free. */

struct session_model_id {
    bool present;
    const char *file;           /* base name of the GGUF file */
    uint64_t size;              /* bytes */
    bool has_fingerprint;
    uint8_t fingerprint[32];    /* see session_fingerprint */
};

struct session_info {
    int version_major, version_minor;
    double created, updated;    /* seconds since the epoch (0: unknown) */
    const char *model_name;     /* general.name when recorded, or NULL */
    struct session_model_id llm, mmproj;
    enum gl_template tmpl;
    enum gl_vision_mode vision;
    const char *system;         /* NULL: the template's */
    struct gl_sampler_params sampling;  /* the conversation's (seed included) */
    int n_ctx;                  /* 0: not recorded */
    int n_predict;
    int kv_type;                /* GL_TYPE_F16 / GL_TYPE_F32 */
    bool no_exif;
    enum gl_context_policy context_policy;
    int n_images, n_turns;
    const int *pending;         /* images attached for the next question */
    int n_pending;
};
void session_get_info(const session *s, struct session_info *info);

struct session_image {
    int id;                     /* its index */
    uint8_t sha256[32];         /* of the image file's bytes */
    int width, height;          /* as decoded (0: not recorded) */
    const char *path;           /* where it came from (NULL: not recorded); untrusted */
    const uint8_t *data;        /* the embedded file bytes (verified), or NULL */
    size_t len;
};
const struct session_image *session_image(const session *s, int i);   /* NULL out of range */

struct session_turn {
    const char *user;
    const int *images;          /* session image ids attached to this question */
    int n_images;
    const char *answer;
    const int32_t *answer_ids;
    int n_answer_ids;
    const double *token_ms;     /* arrival of each token, ms after the question; or NULL */
    const int *piece_ends;      /* byte end in `answer` of each token's text; or NULL */
    enum gl_stop stop;
    uint64_t seed;
    struct gl_sampler_params sampling;  /* seed: the conversation's */
    double started;             /* seconds since the epoch (0: unknown) */
    struct gl_turn_stats stats;
};
const struct session_turn *session_turn(const session *s, int i);     /* NULL out of range */

/* The conversation settings recorded in the session, over *cp (fields the
 * session does not record are left as they are). Pointers into s. */
void session_chat_params(const session *s, struct gl_chat_params *cp);

/* ------------------------------------------------------------ saving */

struct session_opts {
    bool embed_images;          /* base64 the image files into the document (default true) */
};
struct session_opts session_default_opts(void);

/* Make the document describe the conversation: model identity, settings,
 * images (deduplicated by content), turns. Fields it does not know, in the
 * document and in images and turns that are still there, are kept.
 * "updated" changes only when something else did. An image whose bytes can
 * be neither kept from the document nor re-read unchanged from its path is
 * saved without them (session_warning says so). Runs on the chat's thread. */
int session_update(session *s, const gl_model *m, const gl_chat *c, const struct session_opts *o,
                   char **err);
/* What the last session_update could not do, e.g. an image file that
 * changed on disk (NULL when all went well). */
const char *session_warning(const session *s);

/* The document as JSON text (malloc'd, '\n'-terminated). */
char *session_dump(const session *s, size_t *len, char **err);
/* Write the document to path atomically (temp file in the same directory,
 * fsync, rename, fsync the directory): the file is always either the old or
 * the new version. New files get mode 0600. */
int session_write(session *s, const char *path, char **err);

/* A request for gl_worker_with_chat: session_update + session_write.
 * user is a struct session_save_req; `s` may be NULL (a new document, freed
 * after). The warning, if any, goes to cb->on_notice. */
struct session_save_req {
    session *s;
    const char *path;
    struct session_opts opts;
};
int session_save_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err);

/* Write any file atomically as session_write does (mode: for a new file,
 * before the umask). */
int session_write_file(const char *path, const void *data, size_t len, int mode, char **err);

/* ------------------------------------------------------------ resuming */

/* Put the session back into c, which must hold no turns and have been made
 * with session_chat_params (template and vision must match; the system
 * prompt and sampling are set from the session). Adds each turn's images
 * (the embedded bytes, or the original file if its SHA-256 still matches),
 * restores the turns, attaches the pending images, then re-prefills the
 * cache with progress through cb. 0, -1 (*err), or -2 when cancelled
 * during the prefill (the turns are in; gl_chat_sync finishes later). */
int session_restore(const session *s, gl_chat *c, const struct gl_callbacks *cb, char **err);

/* ------------------------------------------------------------ verifying */

struct session_diff {
    bool identical;
    int n_expected, n_got;      /* answer tokens recorded / produced */
    enum gl_stop expected_stop, got_stop;
    int index;                  /* first differing token (when not identical) */
    int32_t expected, got;      /* the ids there; -1: the answer ended there */
    char *expected_piece, *got_piece;   /* their text ("" for an end) */
    char *before;               /* text of up to 8 tokens before the difference */
    char *expected_after, *got_after;   /* text of up to 8 tokens from there on */
};
void session_diff_free(struct session_diff *d);   /* frees the strings */

/* Re-run turn k with its recorded settings and seed on c, which must hold
 * exactly turns 0..k-1 of the session (restored or verified before) and no
 * pending images, and compare the answer's ids with the recorded ones
 * (m: the chat's model, for the text of the tokens). Afterwards c holds
 * turns 0..k with turn k as recorded (a differing answer is replaced by the
 * recorded one), so turn k+1 can follow. Returns 0 (*out filled; free it
 * with session_diff_free), -1 (*err), or -2 when cancelled: the turn is
 * not in c, its images stay attached and calling again retries. */
int session_verify_turn(const session *s, int k, const gl_model *m, gl_chat *c,
                        const struct gl_callbacks *cb, struct session_diff *out, char **err);

/* SHA-256 of a GGUF file's header, metadata and tensor directory (a few MB at
 * most: fast, and it changes with any different model or quantisation). */
int session_fingerprint(const char *gguf_path, uint8_t out[32], char **err);

/* ------------------------------------------------------------ exporting */

/* A transcript for people: OUT ending in ".md" is Markdown with the
 * embedded images written to OUT-images/ (named by id, with the extension
 * of their format) and linked; ".json" is a clean JSON transcript
 * ({"model", "created", "turns": [{"user", "answer", "images"}]}) with the
 * images written the same way. Files are only ever created in OUT's
 * directory and OUT-images/ (nothing from the session names a file).
 * *n_missing (may be NULL) counts images without embedded bytes. */
int session_export(const session *s, const char *out, int *n_missing, char **err);
/* The file name extension of an image's bytes: "png", "jpg", "gif", "bmp",
 * "webp", "ppm", "tga"... or "bin". */
const char *session_image_ext(const uint8_t *data, size_t len);

/* ------------------------------------------------------------ autosave and listing */

/* $XDG_STATE_HOME/glimpse/sessions (default ~/.local/state/glimpse/
 * sessions), malloc'd; not created. NULL + *err without HOME. */
char *session_dir(char **err);
/* Create dir and its parents (mode 0700). */
int session_mkdirs(const char *dir, char **err);
/* A new file name in dir: local date-time and a slug of the first question,
 * e.g. DIR/2026-11-27T01-02-03-what-is-in-this-picture.json ("-2", "-3"
 * appended while the name exists). malloc'd, NULL on OOM. */
char *session_autosave_path(const char *dir, const char *first_question, time_t when);
/* The slug alone: lowercase ASCII letters and digits, other runs as '-', at
 * most max bytes, "session" when nothing is left. */
void session_slug(const char *text, char *out, size_t max);

struct session_entry {
    char *path;
    double when;                /* updated (else created, else the file's mtime) */
    char *first_question;       /* "" without turns */
    int n_turns, n_images;
};
/* The sessions (*.json) in dir, newest first. Files that are not readable
 * sessions are skipped. A missing dir is an empty list. */
int session_list(const char *dir, struct session_entry **out, size_t *n, char **err);
void session_list_free(struct session_entry *e, size_t n);

/* Times as the format writes them: "2026-11-27T01:02:03Z", with ".123"
 * milliseconds when ms. Parsing accepts that and offsets (+01:00).
 * out needs 32 bytes. */
void session_time_format(double t, bool ms, char out[32]);
int session_time_parse(const char *s, double *out);

#ifdef __cplusplus
}
#endif
#endif
