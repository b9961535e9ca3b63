/*
 * attach.h - image files named inside a typed or dropped message.
 *
 * Terminals paste a dropped file as its path: plain (/home/me/cat.jpg),
 * quoted ('/tmp/my cat.jpg' or "..."), with backslash-escaped spaces
 * (/tmp/my\ cat.jpg), as a file:// URI with %XX escapes, often with a
 * trailing space. Each whitespace-separated word of the message (quotes and
 * backslashes group as in a shell) that names an image file is taken out of
 * the text and returned as a path; the rest of the text is the question.
 *
 *   struct attach_result r;
 *   attach_extract("what is this? '/tmp/my cat.jpg' ", attach_is_image, NULL, &r);
 *   // r.paths[0] = "/tmp/my cat.jpg", r.text = "what is this?"
 *   attach_result_free(&r);
 */
#ifndef GLIMPSE_UI_ATTACH_H
#define GLIMPSE_UI_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

#define ATTACH_MAX 16

/* Decides whether a path names an image (the tests pass their own). */
typedef bool (*attach_check_fn)(const char *path, void *user);

struct attach_result {
    char *paths[ATTACH_MAX];    /* malloc'd, in message order; ~ expanded */
    int n_paths;
    char *text;                 /* the message without them, trimmed (malloc'd) */
};

/* Find the image paths in msg. A word is tried as it is and, when that is
 * not an image, without trailing punctuation (".,;:!?)"). Words that do not
 * look like paths (no '/', no '~' start, no image extension) are never
 * checked. Returns 0 or -1 on OOM (*out then empty). */
int attach_extract(const char *msg, attach_check_fn check, void *user, struct attach_result *out);
void attach_result_free(struct attach_result *r);

/* The real check: a regular file (symlinks followed) whose first bytes are
 * those of an image format glimpse decodes (PNG, JPEG, GIF, BMP, PSD, PNM,
 * HDR), or whose name ends in .tga. */
bool attach_is_image(const char *path, void *user);

/* "~/x" -> "$HOME/x" (malloc'd copy either way; NULL on OOM). */
char *attach_expand_home(const char *path);

#endif
