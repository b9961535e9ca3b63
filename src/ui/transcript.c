/*
 * transcript.c - the chat pane's entries and their layout in rows (see
 * transcript.h). Wrapping is cached per entry: while an answer streams only
 * that entry is wrapped again, whatever the length of the conversation.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ui/transcript.h"

struct transcript *transcript_new(void)
{
    struct transcript *tr = calloc(1, sizeof *tr);
    if (tr)
        tr->next_id = 1;
    return tr;
}

static void entry_free(struct tr_entry *e)
{
    free(e->text);
    free(e->disp);
    free(e->lines);
}

void transcript_free(struct transcript *tr)
{
    if (!tr)
        return;
    for (int i = 0; i < tr->n; i++)
        entry_free(&tr->e[i]);
    free(tr->e);
    free(tr);
}

static int find(const struct transcript *tr, int id)
{
    /* Recent entries are the ones asked for: search from the end. */
    for (int i = tr->n - 1; i >= 0; i--)
        if (tr->e[i].id == id)
            return i;
    return -1;
}

struct tr_entry *transcript_get(struct transcript *tr, int id)
{
    int i = find(tr, id);
    return i < 0 ? NULL : &tr->e[i];
}

static int reserve(struct tr_entry *e, size_t extra)
{
    if (e->len + extra + 1 <= e->cap)
        return 0;
    size_t nc = e->cap ? e->cap : 64;
    while (nc < e->len + extra + 1)
        nc *= 2;
    char *p = realloc(e->text, nc);
    if (!p)
        return -1;
    e->text = p;
    e->cap = nc;
    return 0;
}

int transcript_add(struct transcript *tr, enum tr_kind kind, const char *text)
{
    if (tr->n == tr->cap) {
        int nc = tr->cap ? tr->cap * 2 : 32;
        struct tr_entry *p = realloc(tr->e, sizeof *p * (size_t)nc);
        if (!p)
            return -1;
        tr->e = p;
        tr->cap = nc;
    }
    struct tr_entry *e = &tr->e[tr->n];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    size_t n = text ? strlen(text) : 0;
    if (reserve(e, n))
        return -1;
    if (n)
        memcpy(e->text, text, n);
    e->text[n] = 0;
    e->len = n;
    e->id = tr->next_id++;
    tr->n++;
    return e->id;
}

int transcript_append(struct transcript *tr, int id, const char *s, size_t n)
{
    struct tr_entry *e = transcript_get(tr, id);
    if (!e)
        return -1;
    if (e->kind == TR_ASSISTANT && e->len == 0) {
        /* Answers often start with the space SentencePiece puts before a word. */
        while (n > 0 && (*s == ' ' || *s == '\n')) {
            s++;
            n--;
        }
    }
    if (n == 0)
        return 0;
    if (reserve(e, n))
        return -1;
    memcpy(e->text + e->len, s, n);
    e->len += n;
    e->text[e->len] = 0;
    e->wrapped_for = 0;
    return 0;
}

int transcript_set_text(struct transcript *tr, int id, const char *text)
{
    struct tr_entry *e = transcript_get(tr, id);
    if (!e)
        return -1;
    e->len = 0;
    if (e->text)
        e->text[0] = 0;
    e->wrapped_for = 0;
    return transcript_append(tr, id, text, strlen(text));
}

void transcript_set_flags(struct transcript *tr, int id, unsigned set, unsigned clear)
{
    struct tr_entry *e = transcript_get(tr, id);
    if (e)
        e->flags = (e->flags & ~clear) | set;
}

void transcript_remove(struct transcript *tr, int id)
{
    int i = find(tr, id);
    if (i < 0)
        return;
    entry_free(&tr->e[i]);
    memmove(&tr->e[i], &tr->e[i + 1], sizeof *tr->e * (size_t)(tr->n - i - 1));
    tr->n--;
}

void transcript_clear(struct transcript *tr)
{
    for (int i = 0; i < tr->n; i++)
        entry_free(&tr->e[i]);
    tr->n = 0;
    tr->total = 0;
}

void transcript_clear_before(struct transcript *tr, int id)
{
    int k = 0;
    for (int i = 0; i < tr->n; i++) {
        if (tr->e[i].id < id)
            entry_free(&tr->e[i]);
        else
            tr->e[k++] = tr->e[i];
    }
    tr->n = k;
}

const char *transcript_label(enum tr_kind kind)
{
    switch (kind) {
    case TR_USER: return "you";
    case TR_ASSISTANT: return "glimpse";
    default: return "";
    }
}

const char *transcript_marker(unsigned flags)
{
    if (flags & TR_STOPPED)
        return "stopped";
    if (flags & TR_NOT_KEPT)
        return "not kept in the conversation";
    if (flags & TR_LENGTH)
        return "cut at the length limit";
    return NULL;
}

static bool is_turn(enum tr_kind k)
{
    return k == TR_USER || k == TR_ASSISTANT || k == TR_BANNER || k == TR_INFO;
}

/* Columns before the text of an entry at this pane width. */
static int indent_of(enum tr_kind k, int width)
{
    switch (k) {
    case TR_USER:
    case TR_ASSISTANT:
        return width >= TR_NARROW ? TR_GUTTER : 0;
    case TR_BANNER:
        return 1;
    default:
        return 2;
    }
}

static bool label_row(enum tr_kind k, int width)
{
    return (k == TR_USER || k == TR_ASSISTANT) && width < TR_NARROW;
}

static int wrap_entry(struct tr_entry *e, int width)
{
    free(e->disp);
    free(e->lines);
    e->lines = NULL;
    e->n_lines = 0;
    e->disp = text_sanitize(e->text ? e->text : "", e->len, &e->disp_len);
    if (!e->disp)
        return -1;
    int tw = width - indent_of(e->kind, width) - (e->kind == TR_BANNER ? 1 : 0);
    if (text_wrap(e->disp, e->disp_len, tw < 1 ? 1 : tw, &e->lines, &e->n_lines))
        return -1;
    e->wrapped_for = width;
    return 0;
}

int transcript_layout(struct transcript *tr, int width)
{
    if (width < 1)
        width = 1;
    int row = 0;
    for (int i = 0; i < tr->n; i++) {
        struct tr_entry *e = &tr->e[i];
        if (e->wrapped_for != width && wrap_entry(e, width))
            return -1;
        bool blank = i > 0 && (is_turn(e->kind) || is_turn(tr->e[i - 1].kind));
        e->first_row = row;
        e->rows = (blank ? 1 : 0) + (label_row(e->kind, width) ? 1 : 0) + e->n_lines +
                  (transcript_marker(e->flags) ? 1 : 0);
        row += e->rows;
    }
    tr->width = width;
    tr->total = row;
    return row;
}

int transcript_row(const struct transcript *tr, int row, struct tr_row *out)
{
    if (row < 0 || row >= tr->total || tr->n == 0)
        return -1;
    /* Binary search for the entry holding the row. */
    int lo = 0, hi = tr->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (tr->e[mid].first_row <= row)
            lo = mid;
        else
            hi = mid - 1;
    }
    const struct tr_entry *e = &tr->e[lo];
    int k = row - e->first_row;
    memset(out, 0, sizeof *out);
    out->e = e;
    out->indent = indent_of(e->kind, tr->width);
    bool blank = lo > 0 && (is_turn(e->kind) || is_turn(tr->e[lo - 1].kind));
    if (blank) {
        if (k == 0) {
            out->type = TR_ROW_BLANK;
            return 0;
        }
        k--;
    }
    if (label_row(e->kind, tr->width)) {
        if (k == 0) {
            out->type = TR_ROW_LABEL;
            return 0;
        }
        k--;
    }
    if (k < e->n_lines) {
        out->type = TR_ROW_TEXT;
        out->line = k;
        out->first = k == 0;
        return 0;
    }
    out->type = TR_ROW_MARKER;
    return 0;
}
