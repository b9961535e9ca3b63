/*
 * text.h - UTF-8 text for the terminal: decoding, display width, cleaning
 * and word wrapping. Pure functions (no curses), shared by every pane.
 *
 *   char *s = text_sanitize(piece, len, &n);      // safe to draw
 *   struct text_line *lines; int nl;
 *   text_wrap(s, n, 60, &lines, &nl);             // lines[i]: bytes [start, end)
 *
 * Widths follow wcwidth() of the current LC_CTYPE (a UTF-8 locale), the
 * same table ncursesw uses to place characters: combining marks and other
 * zero-width characters take 0 columns and stay with the character before
 * them, East Asian wide characters and most emoji take 2.
 */
#ifndef GLIMPSE_UI_TEXT_H
#define GLIMPSE_UI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXT_REPLACEMENT 0xFFFDu

/* Decode the code point at s (n > 0 bytes available). Returns the bytes it
 * takes (1..4); malformed, overlong, surrogate or truncated sequences take
 * one byte and give U+FFFD. */
int text_decode(const char *s, size_t n, uint32_t *cp);

/* Columns one code point takes: 0 (combining, zero width), 1 or 2; -1 for
 * control characters and code points the locale cannot show. */
int text_cp_width(uint32_t cp);

/* Columns of n bytes of (sanitized) UTF-8; unprintable code points count 1. */
int text_width(const char *s, size_t n);

/* A copy that is safe to draw: valid UTF-8, no control characters except
 * '\n' (a tab becomes spaces to the next multiple of 4 columns from the line
 * start, "\r\n" and a lone '\r' become '\n', other controls and code points
 * the locale cannot show become U+FFFD). malloc'd and NUL-terminated; its
 * length in *out_len (may be NULL). NULL on OOM. */
char *text_sanitize(const char *s, size_t n, size_t *out_len);

/* One display line of a wrapped text: bytes [start, end) of it, `width`
 * columns wide. A line ends at an explicit '\n' (not included) or where the
 * next word does not fit; the spaces at a soft break are dropped. A word
 * longer than the width is cut between characters (never inside one, nor
 * between a character and its combining marks). */
struct text_line {
    size_t start, end;
    int width;
};

/* Wrap n bytes of sanitized text into lines of at most `width` columns
 * (< 1 counts as 1; a wide character alone on a 1-column line overflows).
 * An empty text is one empty line; a trailing '\n' starts an empty last
 * line. *lines is malloc'd (free() it). 0, or -1 on OOM. */
int text_wrap(const char *s, size_t n, int width, struct text_line **lines, int *n_lines);

/* The longest prefix of s (n bytes) that fits in `width` columns, in bytes;
 * its width in *used (may be NULL). Zero-width characters after the last
 * fitting character are included. */
size_t text_fit(const char *s, size_t n, int width, int *used);

/* Like text_fit, but from the end: the longest suffix that fits. Returns
 * the byte offset where that suffix starts. */
size_t text_fit_tail(const char *s, size_t n, int width, int *used);

/* Byte offset of the character boundary before `at` (0 at the start). */
size_t text_prev(const char *s, size_t at);

#endif
