/*
 * keys.h - the terminal's input bytes, split into what the chat handles
 * itself (scrolling, stop, paste, suspend, ...) and what goes on to
 * readline (text and editing keys, as the raw bytes readline understands).
 * Pure: no terminal access, so the tests can feed it byte strings.
 *
 *   struct keys k; keys_init(&k);
 *   keys_feed(&k, buf, n, on_key, ui);       // after each read() of the tty
 *   if (keys_pending(&k)) ... wait KEYS_ESC_MS for more, else keys_flush()
 *
 * Recognised: PgUp/PgDn (CSI 5~ / 6~, any modifiers), the mouse wheel
 * (SGR 1006 and X10 reports; clicks are ignored), bracketed paste (CSI 200~
 * ... CSI 201~), F2 and F3 (SS3 Q/R, CSI 12~/13~, CSI 1;mQ/R), and the control
 * bytes Ctrl-C, Ctrl-Z and Ctrl-L (the terminal is in raw mode, so they come
 * as bytes, not signals). A lone Esc is reported only when no more bytes
 * follow within KEYS_ESC_MS (keys_flush), so Alt-x and arrow keys still
 * reach readline. Everything else is KEYS_TEXT.
 */
#ifndef GLIMPSE_UI_KEYS_H
#define GLIMPSE_UI_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_ESC_MS 40          /* how long a lone Esc waits for the rest of a sequence */
#define KEYS_PASTE_MAX (1u << 20)

enum keys_kind {
    KEYS_TEXT = 0,              /* bytes for readline (one char or one whole sequence) */
    KEYS_PASTE,                 /* the pasted text (bytes, may hold newlines) */
    KEYS_PGUP, KEYS_PGDN,
    KEYS_WHEEL_UP, KEYS_WHEEL_DOWN,
    KEYS_ESC,                   /* Esc alone */
    KEYS_INTR,                  /* Ctrl-C */
    KEYS_SUSPEND,               /* Ctrl-Z */
    KEYS_REDRAW,                /* Ctrl-L */
    KEYS_F2, KEYS_F3
};

struct keys_event {
    enum keys_kind kind;
    const char *bytes;          /* TEXT, PASTE: not NUL-terminated; valid during the call */
    size_t len;
};

typedef void (*keys_fn)(void *user, const struct keys_event *ev);

struct keys {
    char seq[64];               /* an escape sequence being read */
    size_t n_seq;
    char *paste;                /* inside a bracketed paste */
    size_t n_paste, cap_paste;
    bool in_paste;
    int paste_match;            /* bytes of the end marker seen so far */
};

void keys_init(struct keys *k);
void keys_free(struct keys *k);     /* frees a paste buffer */

/* Decode n bytes, calling fn for each complete key. */
void keys_feed(struct keys *k, const char *buf, size_t n, keys_fn fn, void *user);
/* Bytes of an unfinished escape sequence are waiting. */
bool keys_pending(const struct keys *k);
/* Inside a bracketed paste (waiting for its end marker). */
bool keys_in_paste(const struct keys *k);
/* No more bytes came: a lone Esc becomes KEYS_ESC, an unfinished sequence
 * goes to readline as text, an unfinished paste is delivered as it is. */
void keys_flush(struct keys *k, keys_fn fn, void *user);

#endif
