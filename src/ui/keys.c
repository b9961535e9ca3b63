/*
 * keys.c - split terminal input into the chat's own keys and readline's
 * bytes (see keys.h). A small state machine over ECMA-48 sequences: CSI
 * (ESC [ params final), SS3 (ESC O x), X10 mouse (ESC [ M b x y) and the
 * bracketed paste brackets.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ui/keys.h"

static const char paste_end[] = "\033[201~";
#define PASTE_END_LEN 6

void keys_init(struct keys *k)
{
    memset(k, 0, sizeof *k);
}

void keys_free(struct keys *k)
{
    free(k->paste);
    k->paste = NULL;
    k->n_paste = k->cap_paste = 0;
}

static void emit(keys_fn fn, void *user, enum keys_kind kind, const char *b, size_t n)
{
    struct keys_event ev = {kind, b, n};
    fn(user, &ev);
}

static void paste_put(struct keys *k, const char *b, size_t n)
{
    if (k->n_paste + n > KEYS_PASTE_MAX)
        return;                 /* a runaway paste is cut, not grown without end */
    if (k->n_paste + n > k->cap_paste) {
        size_t nc = k->cap_paste ? k->cap_paste : 256;
        while (nc < k->n_paste + n)
            nc *= 2;
        char *p = realloc(k->paste, nc);
        if (!p)
            return;
        k->paste = p;
        k->cap_paste = nc;
    }
    memcpy(k->paste + k->n_paste, b, n);
    k->n_paste += n;
}

static void paste_byte(struct keys *k, char b, keys_fn fn, void *user)
{
    if (b == paste_end[k->paste_match]) {
        if (++k->paste_match == PASTE_END_LEN) {
            emit(fn, user, KEYS_PASTE, k->paste ? k->paste : "", k->n_paste);
            k->in_paste = false;
            k->n_paste = 0;
            k->paste_match = 0;
        }
        return;
    }
    if (k->paste_match > 0) {
        /* What looked like the end marker was content. */
        paste_put(k, paste_end, (size_t)k->paste_match);
        k->paste_match = 0;
        if (b == paste_end[0]) {
            k->paste_match = 1;
            return;
        }
    }
    paste_put(k, &b, 1);
}

/* The first number of a parameter string ("5;3" -> 5), -1 when none. */
static long first_param(const char *p, size_t n)
{
    long v = -1;
    for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        v = (v < 0 ? 0 : v * 10) + (p[i] - '0');
    return v;
}

static void wheel(int button, keys_fn fn, void *user)
{
    /* Button codes 64 and 65 are the wheel (up, down); the rest are clicks
     * and motion, which the chat does not use. */
    if (button & 64) {
        if ((button & 3) == 0)
            emit(fn, user, KEYS_WHEEL_UP, NULL, 0);
        else if ((button & 3) == 1)
            emit(fn, user, KEYS_WHEEL_DOWN, NULL, 0);
    }
}

/* A complete CSI sequence in k->seq (ESC [ ... final). */
static void csi_done(struct keys *k, keys_fn fn, void *user)
{
    const char *params = k->seq + 2;
    size_t np = k->n_seq - 3;
    char final = k->seq[k->n_seq - 1];
    if (np > 0 && params[0] == '<' && (final == 'M' || final == 'm')) {
        long b = first_param(params + 1, np - 1);
        if (b >= 0 && final == 'M')
            wheel((int)b, fn, user);
        return;
    }
    long v = first_param(params, np);
    if (final == '~') {
        switch (v) {
        case 5: emit(fn, user, KEYS_PGUP, NULL, 0); return;
        case 6: emit(fn, user, KEYS_PGDN, NULL, 0); return;
        case 12: emit(fn, user, KEYS_F2, NULL, 0); return;
        case 13: emit(fn, user, KEYS_F3, NULL, 0); return;
        case 200:
            k->in_paste = true;
            k->n_paste = 0;
            k->paste_match = 0;
            return;
        case 201:
            return;             /* an end marker without a start */
        default:
            break;
        }
    } else if ((final == 'Q' || final == 'R') && v == 1) {
        emit(fn, user, final == 'Q' ? KEYS_F2 : KEYS_F3, NULL, 0);
        return;
    }
    emit(fn, user, KEYS_TEXT, k->seq, k->n_seq);
}

static void byte(struct keys *k, char b, keys_fn fn, void *user)
{
    if (k->in_paste) {
        paste_byte(k, b, fn, user);
        return;
    }
    if (k->n_seq == 0) {
        switch (b) {
        case '\033':
            k->seq[0] = b;
            k->n_seq = 1;
            return;
        case 3: emit(fn, user, KEYS_INTR, NULL, 0); return;
        case 26: emit(fn, user, KEYS_SUSPEND, NULL, 0); return;
        case 12: emit(fn, user, KEYS_REDRAW, NULL, 0); return;
        default:
            emit(fn, user, KEYS_TEXT, &b, 1);
            return;
        }
    }
    if (k->n_seq == 1) {
        if (b == '[' || b == 'O') {
            k->seq[k->n_seq++] = b;
            return;
        }
        if (b == '\033') {
            /* Esc Esc: the first one stood alone. */
            emit(fn, user, KEYS_ESC, NULL, 0);
            return;             /* the second starts a new sequence */
        }
        char meta[2] = {'\033', b};
        k->n_seq = 0;
        emit(fn, user, KEYS_TEXT, meta, 2);   /* Alt-x for readline */
        return;
    }
    bool x10 = k->seq[1] == '[' && k->n_seq >= 3 && k->seq[2] == 'M';
    if (!x10 && (unsigned char)b < 0x20) {
        /* A control byte inside a sequence: the sequence was cut short. */
        emit(fn, user, KEYS_TEXT, k->seq, k->n_seq);
        k->n_seq = 0;
        byte(k, b, fn, user);
        return;
    }
    k->seq[k->n_seq++] = b;
    if (k->seq[1] == 'O') {
        if (b == 'Q')
            emit(fn, user, KEYS_F2, NULL, 0);
        else if (b == 'R')
            emit(fn, user, KEYS_F3, NULL, 0);
        else
            emit(fn, user, KEYS_TEXT, k->seq, k->n_seq);
        k->n_seq = 0;
        return;
    }
    if (k->n_seq == 3 && b == 'M')
        return;                 /* X10 mouse: three more bytes */
    if (x10) {
        if (k->n_seq == 6) {
            wheel((unsigned char)k->seq[3] - 32, fn, user);
            k->n_seq = 0;
        }
        return;
    }
    if ((unsigned char)b >= 0x40 && (unsigned char)b <= 0x7E) {
        csi_done(k, fn, user);
        k->n_seq = 0;
        return;
    }
    if (k->n_seq == sizeof k->seq) {
        emit(fn, user, KEYS_TEXT, k->seq, k->n_seq);
        k->n_seq = 0;
    }
}

void keys_feed(struct keys *k, const char *buf, size_t n, keys_fn fn, void *user)
{
    for (size_t i = 0; i < n; i++)
        byte(k, buf[i], fn, user);
}

bool keys_pending(const struct keys *k)
{
    return k->n_seq > 0;
}

bool keys_in_paste(const struct keys *k)
{
    return k->in_paste;
}

void keys_flush(struct keys *k, keys_fn fn, void *user)
{
    if (k->in_paste) {
        if (k->paste_match > 0)
            paste_put(k, paste_end, (size_t)k->paste_match);
        emit(fn, user, KEYS_PASTE, k->paste ? k->paste : "", k->n_paste);
        k->in_paste = false;
        k->n_paste = 0;
        k->paste_match = 0;
        return;
    }
    if (k->n_seq == 1)
        emit(fn, user, KEYS_ESC, NULL, 0);
    else if (k->n_seq > 1)
        emit(fn, user, KEYS_TEXT, k->seq, k->n_seq);
    k->n_seq = 0;
}
