/*
 * transcript.h - what the chat pane shows: a list of entries (questions,
 * answers, notes, errors, the demo banner) and their layout in display rows
 * for a given width. Pure: the screen draws the rows it asks for.
 *
 *   struct transcript *tr = transcript_new();
 *   int q = transcript_add(tr, TR_USER, "What is this?");
 *   int a = transcript_add(tr, TR_ASSISTANT, "");
 *   transcript_append(tr, a, piece, len);            // as tokens arrive
 *   int rows = transcript_layout(tr, 80);            // rewraps what changed
 *   struct tr_row r; transcript_row(tr, rows - 1, &r);
 *
 * Questions and answers have a label in a left gutter ("you", "glimpse")
 * and their text wrapped beside it (the label gets a row of its own when
 * the pane is narrow); an answer that was stopped, cut by the length limit
 * or not kept gets a marker row under it. A blank row separates turns.
 * Entries are named by ids that stay valid while others come and go.
 */
#ifndef GLIMPSE_UI_TRANSCRIPT_H
#define GLIMPSE_UI_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "ui/text.h"

enum tr_kind {
    TR_USER = 0,
    TR_ASSISTANT,
    TR_NOTE,                    /* something that happened (image attached, setting changed) */
    TR_ERROR,
    TR_BANNER,                  /* shown prominently (the demo's warning) */
    TR_INFO                     /* command output (/help, /stats): plain, no bullet */
};

enum {
    TR_STREAMING = 1u << 0,     /* an answer still arriving */
    TR_STOPPED = 1u << 1,       /* stopped by the user: partial, kept */
    TR_LENGTH = 1u << 2,        /* cut by the token limit or a full context */
    TR_NOT_KEPT = 1u << 3       /* a question that did not become a turn */
};

#define TR_GUTTER 9             /* columns for the label: " glimpse " */
#define TR_NARROW 32            /* below this width labels get their own row */

struct tr_entry {
    int id;
    enum tr_kind kind;
    unsigned flags;
    char *text;                 /* as given (NUL-terminated) */
    size_t len, cap;
    /* layout cache */
    char *disp;                 /* sanitized text that the lines index */
    size_t disp_len;
    struct text_line *lines;
    int n_lines;
    int wrapped_for;            /* width of the cache, 0: stale */
    int rows, first_row;        /* rows it takes, and where it starts */
};

enum tr_row_type {
    TR_ROW_BLANK = 0,           /* spacing between turns */
    TR_ROW_LABEL,               /* the label alone (narrow panes) */
    TR_ROW_TEXT,                /* a line of text (with the label on the first one) */
    TR_ROW_MARKER               /* "stopped", "length limit", "not kept" */
};

struct tr_row {
    const struct tr_entry *e;
    enum tr_row_type type;
    int line;                   /* TEXT: index into e->lines */
    bool first;                 /* TEXT: the entry's first line (carries the label) */
    int indent;                 /* columns before the text */
};

struct transcript {
    struct tr_entry *e;
    int n, cap;
    int next_id;
    int width;                  /* of the last layout */
    int total;                  /* rows of the last layout */
};

struct transcript *transcript_new(void);
void transcript_free(struct transcript *tr);

/* A new entry at the end (text copied); its id, or -1 on OOM. */
int transcript_add(struct transcript *tr, enum tr_kind kind, const char *text);
/* Add n bytes to an entry's text (an answer's leading spaces are dropped). */
int transcript_append(struct transcript *tr, int id, const char *s, size_t n);
int transcript_set_text(struct transcript *tr, int id, const char *text);
void transcript_set_flags(struct transcript *tr, int id, unsigned set, unsigned clear);
struct tr_entry *transcript_get(struct transcript *tr, int id);   /* NULL: gone */
void transcript_remove(struct transcript *tr, int id);
void transcript_clear(struct transcript *tr);
/* Remove the entries older than id (those added before it). */
void transcript_clear_before(struct transcript *tr, int id);

/* Lay the entries out for `width` columns; returns the number of rows (-1
 * on OOM). Only entries that changed (or all, when the width did) are
 * wrapped again. */
int transcript_layout(struct transcript *tr, int width);
/* Describe display row `row` (0 <= row < the layout's rows). -1 if out of range. */
int transcript_row(const struct transcript *tr, int row, struct tr_row *out);

/* The label shown beside an entry ("you", "glimpse"), or "" */
const char *transcript_label(enum tr_kind kind);
/* The marker text for an entry's flags, or NULL when it has none. */
const char *transcript_marker(unsigned flags);

#endif
