/*
 * text.c - UTF-8 decoding, display widths, cleaning and word wrapping for
 * the terminal panes (see text.h). No curses here: the unit tests run it
 * without a terminal.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "ui/text.h"

int text_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        *cp = TEXT_REPLACEMENT;
        return 1;
    }
    if ((size_t)len > n) {
        *cp = TEXT_REPLACEMENT;
        return 1;
    }
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = TEXT_REPLACEMENT;
            return 1;
        }
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = TEXT_REPLACEMENT;
        return 1;
    }
    *cp = v;
    return len;
}

int text_cp_width(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
        return -1;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? -1 : w > 2 ? 2 : w;
}

/* Width for layout: what ncurses will give the character once sanitized. */
static int cp_cols(uint32_t cp)
{
    int w = text_cp_width(cp);
    return w < 0 ? 1 : w;
}

int text_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)text_decode(s + i, n - i, &cp);
        w += cp_cols(cp);
    }
    return w;
}

/* Append the UTF-8 encoding of cp; b has room (the caller reserved 4). */
static size_t put_utf8(char *b, uint32_t cp)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

char *text_sanitize(const char *s, size_t n, size_t *out_len)
{
    /* Worst cases: a tab becomes 4 bytes, an invalid byte 3 (U+FFFD), a
     * leading combining mark gains a 2-byte base: 5 bytes per input byte. */
    if (n > (SIZE_MAX - 1) / 5)
        return NULL;
    char *out = malloc(n * 5 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int col = 0;                /* column in the current line, for tabs */
    bool base = false;          /* a character that a combining mark can join */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)text_decode(s + i, n - i, &cp);
        if (cp == '\r') {
            if (i < n && s[i] == '\n')
                continue;       /* the '\n' comes next */
            cp = '\n';
        }
        if (cp == '\n') {
            out[o++] = '\n';
            col = 0;
            base = false;
            continue;
        }
        if (cp == '\t') {
            int to = (col / 4 + 1) * 4;
            while (col < to) {
                out[o++] = ' ';
                col++;
            }
            base = false;
            continue;
        }
        int w = text_cp_width(cp);
        if (w < 0) {
            cp = TEXT_REPLACEMENT;
            w = 1;
        }
        if (w == 0 && !base) {
            /* A mark with nothing to sit on: give it a no-break space, as
             * terminals show a lone combining mark. */
            o += put_utf8(out + o, 0xA0);
            col++;
        }
        o += put_utf8(out + o, cp);
        col += w;
        /* A line may break at a space: a mark after one gets its own base. */
        base = cp != ' ';
    }
    out[o] = 0;
    if (out_len)
        *out_len = o;
    return out;
}

static bool push_line(struct text_line **lines, int *n, int *cap, size_t start, size_t end, int width)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 8;
        struct text_line *p = realloc(*lines, sizeof **lines * (size_t)nc);
        if (!p)
            return false;
        *lines = p;
        *cap = nc;
    }
    (*lines)[(*n)++] = (struct text_line){start, end, width};
    return true;
}

int text_wrap(const char *s, size_t n, int width, struct text_line **lines, int *n_lines)
{
    struct text_line *ls = NULL;
    int nl = 0, cap = 0;
    if (width < 1)
        width = 1;
    size_t pos = 0;
    for (;;) {
        size_t start = pos, i = pos;
        int col = 0;
        bool seen_word = false;         /* a non-space since the line start */
        size_t brk = 0;                 /* end of the last word followed by a space */
        int brk_col = 0;
        bool have_brk = false;
        for (;;) {
            if (i >= n) {
                if (!push_line(&ls, &nl, &cap, start, n, col))
                    goto oom;
                *lines = ls;
                *n_lines = nl;
                return 0;
            }
            if (s[i] == '\n') {
                if (!push_line(&ls, &nl, &cap, start, i, col))
                    goto oom;
                pos = i + 1;
                break;
            }
            uint32_t cp;
            int len = text_decode(s + i, n - i, &cp);
            int w = cp_cols(cp);
            if (cp == ' ' && seen_word && (i == 0 || s[i - 1] != ' ')) {
                brk = i;
                brk_col = col;
                have_brk = true;
            }
            if (w > 0 && col > 0 && col + w > width) {
                /* End the line after the last word that fits (or, for a
                 * word longer than the line, before this character). */
                size_t end = have_brk ? brk : i;
                int end_col = have_brk ? brk_col : col;
                if (!push_line(&ls, &nl, &cap, start, end, end_col))
                    goto oom;
                pos = cp == ' ' || !have_brk ? i : brk;
                /* A soft break eats the spaces there, and one '\n' right
                 * after them (the line already ended). */
                bool skipped = false;
                while (pos < n && s[pos] == ' ') {
                    pos++;
                    skipped = true;
                }
                if (skipped && pos < n && s[pos] == '\n')
                    pos++;
                break;
            }
            if (cp != ' ')
                seen_word = true;
            col += w;
            i += (size_t)len;
        }
    }
oom:
    free(ls);
    return -1;
}

size_t text_fit(const char *s, size_t n, int width, int *used)
{
    int col = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = text_decode(s + i, n - i, &cp);
        int w = cp_cols(cp);
        if (col + w > width)
            break;
        col += w;
        i += (size_t)len;
    }
    if (used)
        *used = col;
    return i;
}

size_t text_fit_tail(const char *s, size_t n, int width, int *used)
{
    int total = text_width(s, n);
    int col = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = text_decode(s + i, n - i, &cp);
        int w = cp_cols(cp);
        /* Start only at a character that takes room (marks stay with it). */
        if (w > 0 && total - col <= width) {
            if (used)
                *used = total - col;
            return i;
        }
        col += w;
        i += (size_t)len;
    }
    if (used)
        *used = 0;
    return n;
}

size_t text_prev(const char *s, size_t at)
{
    if (at == 0)
        return 0;
    size_t i = at - 1;
    for (int k = 0; k < 3 && i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80; k++)
        i--;
    return i;
}
