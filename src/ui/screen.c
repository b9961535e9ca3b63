/*
 * screen.c - the chat's curses side (see screen.h): layout, drawing, the
 * image frame, terminal modes and their restoration.
 *
 * Everything is drawn on stdscr from the state in struct tui each time
 * something changed; curses sends only the difference. The image pane is
 * blank to curses: its frame (sixel or coloured half blocks from
 * preview.c) is written straight to the terminal after curses' refresh, at
 * the pane's position, and again whenever curses may have moved or erased
 * it: a full repaint, and, with the pane on the left, any vertical move of
 * the transcript (ncurses scrolls changed lines with full-width scroll
 * regions, which drag the picture beside them along).
 */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "ui/app.h"
#include "ui/input.h"
#include "ui/screen.h"
#include "ui/status.h"
#include "ui/text.h"
#include "util.h"

/* Bracketed paste, mouse button reports (the wheel) in SGR encoding. */
#define MODES_ON "\033[?2004h\033[?1000h\033[?1006h"
#define MODES_OFF "\033[?1006l\033[?1000l\033[?2004l"
/* What a crash writes: modes off, normal attributes, cursor on, main screen. */
#define EMERGENCY_RESET MODES_OFF "\033[0m\033[?25h\033[?1049l\r\n"

enum style {
    ST_NORMAL = 0, ST_USER, ST_USER_LABEL, ST_ASSIST, ST_ASSIST_LABEL, ST_NOTE, ST_ERROR,
    ST_MARKER, ST_BANNER, ST_STATUS, ST_BORDER, ST_INFO, ST_CURSOR, N_STYLES
};

struct screen {
    SCREEN *sp;
    bool active, colors, unicode;
    attr_t style[N_STYLES];
    int H, W;
    /* layout */
    bool pane_on, pane_left;
    int pane_y, pane_x, pane_h, pane_w;
    int tr_y, tr_x, tr_h, tr_w;
    int st_y, in_y, in_h;
    /* the image frame and what it was made for */
    struct preview_frame fr;
    bool have_fr, fr_valid;
    int fr_cols, fr_rows;
    char *fr_err;
    bool paint;                 /* write the frame after the next refresh */
    bool repaint;               /* clear and redraw the whole screen next time */
    int last_top, last_total;   /* the transcript rows shown by the last frame */
};

static struct screen the_screen;
/* For the fatal-signal path: the terminal as we found it. */
static struct termios saved_tio;
static volatile sig_atomic_t saved_ok, modes_on;

static void write_all(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void modes(bool on)
{
    fflush(stdout);
    if (on)
        write_all(MODES_ON, strlen(MODES_ON));
    else
        write_all(MODES_OFF, strlen(MODES_OFF));
    modes_on = on;
}

void screen_emergency_restore(void)
{
    if (modes_on)
        write_all(EMERGENCY_RESET, strlen(EMERGENCY_RESET));
    if (saved_ok)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
}

/* ------------------------------------------------------------ styles */

static void setup_styles(struct screen *s)
{
    const char *nc = getenv("NO_COLOR");
    s->colors = has_colors() && !(nc && *nc);
    if (s->colors && (start_color() == ERR || use_default_colors() == ERR))
        s->colors = false;
    if (s->colors) {
        init_pair(1, COLOR_CYAN, -1);
        init_pair(2, COLOR_GREEN, -1);
        init_pair(3, COLOR_RED, -1);
        init_pair(4, COLOR_YELLOW, -1);
        init_pair(5, COLOR_BLUE, -1);
    }
    bool c = s->colors;
    attr_t *st = s->style;
    st[ST_NORMAL] = A_NORMAL;
    st[ST_USER] = A_BOLD;
    st[ST_USER_LABEL] = A_BOLD | (c ? COLOR_PAIR(1) : A_UNDERLINE);
    st[ST_ASSIST] = A_NORMAL;
    st[ST_ASSIST_LABEL] = A_BOLD | (c ? COLOR_PAIR(2) : A_UNDERLINE);
    st[ST_NOTE] = c ? COLOR_PAIR(4) : A_DIM;
    st[ST_ERROR] = A_BOLD | (c ? COLOR_PAIR(3) : 0);
    st[ST_MARKER] = c ? COLOR_PAIR(3) : A_BOLD;
    st[ST_BANNER] = A_BOLD | A_REVERSE | (c ? COLOR_PAIR(4) : 0);
    st[ST_STATUS] = A_REVERSE;
    st[ST_BORDER] = c ? COLOR_PAIR(5) : A_NORMAL;
    st[ST_INFO] = A_NORMAL;
    st[ST_CURSOR] = A_REVERSE;
}

/* ------------------------------------------------------------ start, stop */

int screen_start(struct tui *t, char **err)
{
    struct screen *s = &the_screen;
    memset(s, 0, sizeof *s);
    s->unicode = t->caps.utf8;
    if (tcgetattr(STDIN_FILENO, &saved_tio) == 0)
        saved_ok = 1;
    s->sp = newterm(NULL, stdout, stdin);
    if (!s->sp) {
        const char *term = getenv("TERM");
        return gl_err(err, "cannot start the full-screen chat on this terminal (TERM=%s): use -p TEXT",
                      term ? term : "unset");
    }
    set_term(s->sp);
    /* raw: Ctrl-C, Ctrl-Z and Ctrl-\ arrive as keys, not signals. */
    raw();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    keypad(stdscr, FALSE);      /* keys.c and readline read the sequences themselves */
    scrollok(stdscr, FALSE);
    idlok(stdscr, FALSE);
    typeahead(-1);              /* never cut a refresh short: the image follows it */
    curs_set(1);
    setup_styles(s);
    modes(true);
    s->active = true;
    s->repaint = true;
    t->scr = s;
    input_resize(LINES, COLS);
    return 0;
}

void screen_stop(struct tui *t)
{
    struct screen *s = t->scr;
    if (!s)
        return;
    if (s->active) {
        modes(false);
        endwin();
        s->active = false;
    }
    if (s->sp) {
        delscreen(s->sp);
        s->sp = NULL;
    }
    if (s->have_fr)
        preview_frame_free(&s->fr);
    s->have_fr = false;
    free(s->fr_err);
    s->fr_err = NULL;
    if (saved_ok)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    saved_ok = 0;
    t->scr = NULL;
}

void screen_suspend(struct tui *t)
{
    struct screen *s = t->scr;
    if (!s || !s->active)
        return;
    modes(false);
    endwin();
    /* Stop here with the default action; the loop's handler comes back
     * when it is reinstalled by the caller. */
    struct sigaction dfl = {0}, old;
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTSTP, &dfl, &old);
    sigset_t set, prev;
    sigemptyset(&set);
    sigaddset(&set, SIGTSTP);
    sigprocmask(SIG_UNBLOCK, &set, &prev);
    raise(SIGTSTP);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    sigaction(SIGTSTP, &old, NULL);
    /* fg: curses restores its modes on the next refresh. */
    reset_prog_mode();
    modes(true);
    screen_resize(t);
}

void screen_resize(struct tui *t)
{
    struct screen *s = t->scr;
    if (!s || !s->active)
        return;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    input_resize(LINES, COLS);
    s->fr_valid = false;
    s->repaint = true;
    app_dirty(t);
}

void screen_repaint(struct tui *t)
{
    struct screen *s = t->scr;
    if (s && s->active) {
        s->repaint = true;
        app_dirty(t);
    }
}

void screen_image_changed(struct tui *t)
{
    struct screen *s = t->scr;
    if (s) {
        s->fr_valid = false;
        app_dirty(t);
    }
}

int screen_transcript_rows(const struct tui *t)
{
    const struct screen *s = t->scr;
    return s && s->tr_h > 0 ? s->tr_h : 10;
}

/* ------------------------------------------------------------ the input line */

/* Walks the prompt and the buffer as they are shown: a prompt, the text
 * wrapped at the width (continuation rows indented like the prompt), a row
 * per '\n'. Controls show as ^X. Calls put() for each character (row may
 * be beyond the window: the caller clips). Returns the rows used and the
 * cursor's row and column for byte `point`. */
struct input_walk {
    int width, indent;
    int row, col;
    void (*put)(void *u, int row, int col, const char *b, size_t n);
    void *u;
};

static void walk_put(struct input_walk *w, const char *b, size_t n, int cols)
{
    if (cols > 0 && w->col + cols > w->width && w->col > w->indent) {
        w->row++;
        w->col = w->indent;
    }
    if (w->put)
        w->put(w->u, w->row, w->col, b, n);
    w->col += cols;
}

static int walk_input(struct input_walk *w, const char *prompt, const char *line, size_t len, size_t point,
                      int *cur_row, int *cur_col)
{
    size_t plen = strlen(prompt);
    int pw = text_width(prompt, plen);
    if (pw > w->width / 2) {
        /* A long prompt (a search) would leave no room: show its tail. */
        size_t from = text_fit_tail(prompt, plen, w->width / 2, &pw);
        prompt += from;
        plen -= from;
    }
    w->row = 0;
    w->col = 0;
    w->indent = pw;
    if (w->put && plen)
        w->put(w->u, 0, 0, prompt, plen);
    w->col = pw;
    *cur_row = 0;
    *cur_col = pw;
    for (size_t i = 0; i < len;) {
        if (i == point) {
            *cur_row = w->row;
            *cur_col = w->col;
        }
        unsigned char c = (unsigned char)line[i];
        if (c == '\n') {
            w->row++;
            w->col = w->indent;
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            char ctl[2] = {'^', (char)(c == 0x7F ? '?' : c + '@')};
            if (c == '\t')
                walk_put(w, " ", 1, 1);
            else
                walk_put(w, ctl, 2, 2);
            i++;
            continue;
        }
        uint32_t cp;
        int n = text_decode(line + i, len - i, &cp);
        int cw = text_cp_width(cp);
        if (cp == TEXT_REPLACEMENT && n == 1) {
            walk_put(w, "\xEF\xBF\xBD", 3, 1);
        } else if (cw < 0) {
            walk_put(w, "\xEF\xBF\xBD", 3, 1);
        } else {
            walk_put(w, line + i, (size_t)n, cw);
        }
        i += (size_t)n;
    }
    if (point >= len) {
        *cur_row = w->row;
        *cur_col = w->col;
    }
    if (*cur_col >= w->width) {
        /* The cursor sits past the last column: it starts the next row. */
        *cur_row = w->row + 1;
        *cur_col = w->indent;
        return w->row + 2;
    }
    return w->row + 1;
}

struct input_draw {
    struct screen *s;
    int first;                  /* first input row shown */
};

static void input_put(void *u, int row, int col, const char *b, size_t n)
{
    struct input_draw *d = u;
    int r = row - d->first;
    if (r < 0 || r >= d->s->in_h)
        return;
    mvaddnstr(d->s->in_y + r, col, b, (int)n);
}

static int input_rows_needed(struct screen *s)
{
    const char *prompt, *line;
    size_t len, point;
    input_view(&prompt, &line, &len, &point);
    struct input_walk w = {.width = s->W};
    int cr, cc;
    return walk_input(&w, prompt, line, len, point, &cr, &cc);
}

static void draw_input(struct tui *t, int *cy, int *cx)
{
    struct screen *s = t->scr;
    const char *prompt, *line;
    size_t len, point;
    input_view(&prompt, &line, &len, &point);
    struct input_walk w = {.width = s->W};
    int cr, cc;
    int rows = walk_input(&w, prompt, line, len, point, &cr, &cc);
    /* Show the rows around the cursor when they do not all fit. */
    int first = rows > s->in_h ? cr - s->in_h + 1 : 0;
    if (first < 0)
        first = 0;
    struct input_draw d = {s, first};
    w.put = input_put;
    w.u = &d;
    walk_input(&w, prompt, line, len, point, &cr, &cc);
    *cy = s->in_y + cr - first;
    *cx = cc < s->W ? cc : s->W - 1;
}

/* ------------------------------------------------------------ layout */

static void layout(struct tui *t)
{
    struct screen *s = t->scr;
    int H = LINES, W = COLS;
    s->H = H;
    s->W = W;
    int in_rows = input_rows_needed(s);
    int in_max = (H - 4) / 3;
    if (in_max < 1)
        in_max = 1;
    s->in_h = in_rows < 1 ? 1 : in_rows > in_max ? in_max : in_rows;
    s->in_y = H - s->in_h;
    s->st_y = s->in_y - 1;
    /* The demo's banner is the transcript's first entry, not a pinned row:
     * it is long (how to get a real model) and wraps there, while the
     * status line keeps saying "random weights". */
    const int top = 0;
    int avail = s->st_y - top;
    int old_w = s->pane_w, old_h = s->pane_h;
    bool old_on = s->pane_on;
    s->pane_on = t->have_img && !t->pane_hidden && avail >= 8 && W >= 30;
    s->tr_y = top;
    s->tr_x = 0;
    s->tr_w = W;
    s->tr_h = avail;
    if (s->pane_on) {
        /* Cells are about twice as tall as wide, unless the probe said. */
        double cell = t->caps.cell_w > 0 && t->caps.cell_h > 0 ? (double)t->caps.cell_h / t->caps.cell_w : 2.0;
        int iw = t->view_model ? 1 : (t->img.width > 0 ? t->img.width : 1);
        int ih = t->view_model ? 1 : (t->img.height > 0 ? t->img.height : 1);
        double aspect = (double)iw / ih * cell;     /* columns per row of the picture */
        s->pane_left = W >= 90 && (double)W / avail >= 2.6;
        int inner_w, inner_h;
        if (s->pane_left) {
            inner_h = avail - 2;
            inner_w = (int)lround(inner_h * aspect);
            int max_w = (int)(W * 0.45) - 2;
            if (inner_w > max_w) {
                inner_w = max_w;
                inner_h = (int)lround(inner_w / aspect);
            }
            if (inner_w < 16)
                inner_w = 16;
            if (inner_h < 4)
                inner_h = 4;
            if (inner_h > avail - 2)
                inner_h = avail - 2;
            s->pane_x = 0;
            s->pane_y = top;
            s->pane_w = inner_w + 2;
            s->pane_h = inner_h + 2;
            s->tr_x = s->pane_w + 1;
            s->tr_w = W - s->tr_x;
        } else {
            inner_h = (int)((avail - 2) * 0.45);
            inner_w = (int)lround(inner_h * aspect);
            if (inner_w > W - 2) {
                inner_w = W - 2;
                inner_h = (int)lround(inner_w / aspect);
            }
            if (inner_w < 16)
                inner_w = W - 2 < 16 ? W - 2 : 16;
            if (inner_h < 3)
                inner_h = 3;
            s->pane_x = 0;
            s->pane_y = top;
            s->pane_w = inner_w + 2;
            s->pane_h = inner_h + 2;
            s->tr_y = top + s->pane_h;
            s->tr_h = avail - s->pane_h;
        }
    }
    if (s->pane_on != old_on || s->pane_w != old_w || s->pane_h != old_h) {
        s->fr_valid = false;
        if (old_on)
            s->repaint = true;  /* the old picture must go */
    }
}

/* ------------------------------------------------------------ the image pane */

static void update_frame(struct tui *t)
{
    struct screen *s = t->scr;
    if (s->fr_valid || !s->pane_on)
        return;
    if (s->have_fr)
        preview_frame_free(&s->fr);
    s->have_fr = false;
    free(s->fr_err);
    s->fr_err = NULL;
    s->fr_valid = true;
    s->paint = true;
    const uint8_t *rgb = t->view_model ? t->img.view : t->img.rgb;
    int w = t->view_model ? t->img.view_size : t->img.width;
    int h = t->view_model ? t->img.view_size : t->img.height;
    if (!rgb) {
        s->fr_err = strdup(t->view_model ? "the model's view is not ready" : "no preview of this image");
        return;
    }
    if (t->mode == PREVIEW_NONE || t->mode == PREVIEW_AUTO) {
        s->fr_err = strdup("preview off (--preview)");
        return;
    }
    char *err = NULL;
    if (preview_render(&t->caps, t->mode, rgb, w, h, s->pane_w - 2, s->pane_h - 2, &s->fr, &err)) {
        s->fr_err = err ? err : strdup("cannot draw the image");
        return;
    }
    s->have_fr = true;
}

static void draw_border(struct screen *s)
{
    attron(s->style[ST_BORDER]);
    int y0 = s->pane_y, x0 = s->pane_x, h = s->pane_h, w = s->pane_w;
    mvaddch(y0, x0, ACS_ULCORNER);
    mvhline(y0, x0 + 1, ACS_HLINE, w - 2);
    mvaddch(y0, x0 + w - 1, ACS_URCORNER);
    mvvline(y0 + 1, x0, ACS_VLINE, h - 2);
    mvvline(y0 + 1, x0 + w - 1, ACS_VLINE, h - 2);
    mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
    mvhline(y0 + h - 1, x0 + 1, ACS_HLINE, w - 2);
    mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
    attroff(s->style[ST_BORDER]);
}

/* A label centred on a border row, cut to fit. */
static void border_label(struct screen *s, int y, const char *text)
{
    int room = s->pane_w - 4;
    if (room < 3)
        return;
    int used;
    size_t n = text_fit(text, strlen(text), room, &used);
    int x = s->pane_x + (s->pane_w - used) / 2;
    mvaddnstr(y, x, text, (int)n);
}

static void draw_pane(struct tui *t)
{
    struct screen *s = t->scr;
    draw_border(s);
    char title[160];
    if (t->view_model)
        snprintf(title, sizeof title, " model's view %dx%d ", t->img.view_size, t->img.view_size);
    else
        snprintf(title, sizeof title, " %s %d\u00d7%d ", t->img.name ? t->img.name : "image", t->img.width,
                 t->img.height);
    border_label(s, s->pane_y, title);
    border_label(s, s->pane_y + s->pane_h - 1, t->view_model ? " F3 original " : " F3 model's view ");
    if (!s->have_fr && s->fr_err) {
        int y = s->pane_y + (s->pane_h - 1) / 2;
        attron(s->style[ST_NOTE]);
        border_label(s, y, s->fr_err);
        attroff(s->style[ST_NOTE]);
    }
}

/* Write the frame at the pane's centre, then put the cursor back where
 * curses left it. One write for the whole frame (as linenoise does). */
static void paint_frame(struct screen *s, int cy, int cx)
{
    if (!s->have_fr || !s->pane_on)
        return;
    int inner_w = s->pane_w - 2, inner_h = s->pane_h - 2;
    int x = s->pane_x + 1 + (inner_w - s->fr.cols) / 2;
    int y = s->pane_y + 1 + (inner_h - s->fr.rows) / 2;
    size_t cap = s->fr.len + 64;
    char *buf = malloc(cap);
    if (!buf)
        return;
    int n = snprintf(buf, cap, "\033[?25l\033[%d;%dH", y + 1, x + 1);
    memcpy(buf + n, s->fr.data, s->fr.len);
    size_t len = (size_t)n + s->fr.len;
    len += (size_t)snprintf(buf + len, cap - len, "\033[0m\033[%d;%dH\033[?25h", cy + 1, cx + 1);
    fflush(stdout);
    write_all(buf, len);
    free(buf);
}

/* ------------------------------------------------------------ the transcript */

static void draw_transcript(struct tui *t)
{
    struct screen *s = t->scr;
    if (s->tr_h <= 0 || s->tr_w <= 0)
        return;
    int total = transcript_layout(t->tr, s->tr_w);
    if (total < 0)
        return;
    int max_scroll = total > s->tr_h ? total - s->tr_h : 0;
    if (t->scroll > max_scroll)
        t->scroll = max_scroll;
    if (t->scroll < 0)
        t->scroll = 0;
    int first = total - s->tr_h - t->scroll;
    if (first < 0)
        first = 0;
    /* Moved lines may be scrolled by ncurses across the pane beside them. */
    if (s->pane_on && s->pane_left && (first != s->last_top || total != s->last_total))
        s->paint = true;
    s->last_top = first;
    s->last_total = total;
    for (int i = 0; i < s->tr_h && first + i < total; i++) {
        struct tr_row r;
        if (transcript_row(t->tr, first + i, &r))
            break;
        int y = s->tr_y + i, x = s->tr_x;
        const struct tr_entry *e = r.e;
        enum style body = ST_NORMAL, label = ST_NORMAL;
        switch (e->kind) {
        case TR_USER: body = ST_USER; label = ST_USER_LABEL; break;
        case TR_ASSISTANT: body = ST_ASSIST; label = ST_ASSIST_LABEL; break;
        case TR_NOTE: body = ST_NOTE; break;
        case TR_ERROR: body = ST_ERROR; break;
        case TR_BANNER: body = ST_BANNER; break;
        case TR_INFO: body = ST_INFO; break;
        }
        switch (r.type) {
        case TR_ROW_BLANK:
            break;
        case TR_ROW_LABEL:
            attron(s->style[label]);
            mvaddstr(y, x + 1, transcript_label(e->kind));
            attroff(s->style[label]);
            break;
        case TR_ROW_TEXT: {
            if (r.first && r.indent >= TR_GUTTER) {
                attron(s->style[label]);
                mvaddstr(y, x + 1, transcript_label(e->kind));
                attroff(s->style[label]);
            }
            if (r.first && (e->kind == TR_NOTE || e->kind == TR_ERROR)) {
                attron(s->style[body]);
                mvaddstr(y, x, e->kind == TR_NOTE ? (s->unicode ? "\u00b7" : "-") : "!");
                attroff(s->style[body]);
            }
            const struct text_line *l = &e->lines[r.line];
            attron(s->style[body]);
            if (e->kind == TR_BANNER)
                mvhline(y, x, ' ', s->tr_w);
            mvaddnstr(y, x + r.indent, e->disp + l->start, (int)(l->end - l->start));
            attroff(s->style[body]);
            if ((e->flags & TR_STREAMING) && r.line == e->n_lines - 1) {
                int cx = x + r.indent + l->width;
                if (cx < s->tr_x + s->tr_w) {
                    attron(s->style[ST_CURSOR]);
                    mvaddch(y, cx, ' ');
                    attroff(s->style[ST_CURSOR]);
                }
            }
            break;
        }
        case TR_ROW_MARKER: {
            const char *m = transcript_marker(e->flags);
            char buf[96];
            snprintf(buf, sizeof buf, "[%s]", m ? m : "");
            attron(s->style[ST_MARKER]);
            int used;
            size_t n = text_fit(buf, strlen(buf), s->tr_w - r.indent, &used);
            mvaddnstr(y, x + r.indent, buf, (int)n);
            attroff(s->style[ST_MARKER]);
            break;
        }
        }
    }
}

/* ------------------------------------------------------------ the status line */

static const char *stage_what(enum gl_stage st)
{
    switch (st) {
    case GL_STAGE_LOAD: return "loading model";
    case GL_STAGE_ENCODE: return "encoding image";
    case GL_STAGE_PREFILL: return "reading prompt";
    case GL_STAGE_GENERATE: return "answering";
    }
    return "working";
}

static void activity(struct tui *t, char *out, size_t size)
{
    const struct req *r = t->n_reqs > 0 ? t->reqs[0] : NULL;
    if (!r) {
        snprintf(out, size, "ready");
        return;
    }
    const char *stop = t->stopping ? "stopping..." : "Esc stops";
    if ((r->kind == REQ_ASK || r->kind == REQ_REGEN) && t->gen_tokens > 0) {
        double el = gl_now() - t->gen_t0;
        if (el > 0.3 && t->gen_tokens > 1)
            snprintf(out, size, "answering %d tok, %.1f tok/s (%s)", t->gen_tokens, (t->gen_tokens - 1) / el, stop);
        else
            snprintf(out, size, "answering (%s)", stop);
        return;
    }
    if (t->progress) {
        char bar[96], eta[32];
        status_bar(bar, sizeof bar, t->fraction, 12, t->caps.utf8);
        status_eta(eta, sizeof eta, gl_now() - t->stage_t0, t->fraction);
        if (t->stage == GL_STAGE_LOAD)
            stop = "cannot be stopped";
        snprintf(out, size, "%s %s %3.0f%%%s%s (%s)", stage_what(t->stage), bar, t->fraction * 100.0,
                 *eta ? " " : "", eta, stop);
        return;
    }
    switch (r->kind) {
    case REQ_LOAD: snprintf(out, size, "loading model"); return;
    case REQ_IMAGE: snprintf(out, size, "encoding image (%s)", stop); return;
    case REQ_ASK:
    case REQ_REGEN: snprintf(out, size, "thinking (%s)", stop); return;
    case REQ_SAVE: snprintf(out, size, "saving"); return;
    case REQ_RESTORE: snprintf(out, size, "restoring the session (%s)", stop); return;
    default: snprintf(out, size, "working"); return;
    }
}

static void draw_status(struct tui *t)
{
    struct screen *s = t->scr;
    char model[96] = "", ctx[48] = "", img[48] = "", speed[48] = "", ttft[48] = "", act[192], queued[32] = "",
         scrolled[48] = "", pending[48] = "";
    if (t->model_name)
        snprintf(model, sizeof model, "%s%s%s", t->model_name, t->model_type ? " " : "",
                 t->model_type ? t->model_type : "");
    else if (!t->loaded)
        snprintf(model, sizeof model, "no model yet");
    if (t->ctx.n_ctx > 0)
        snprintf(ctx, sizeof ctx, "ctx %d/%d", t->ctx.used, t->ctx.n_ctx);
    if (t->ctx.images > 0 && t->ctx.image_cost > 0)
        snprintf(img, sizeof img, "image%s %d", t->ctx.images > t->ctx.image_cost ? "s" : "", t->ctx.images);
    if (t->pending_images > 0)
        snprintf(pending, sizeof pending, "%d image%s attached", t->pending_images, t->pending_images > 1 ? "s" : "");
    if (t->have_last) {
        const struct gl_turn_stats *l = &t->last;
        if (l->decode_ms > 0 && l->answer_tokens > 1)
            snprintf(speed, sizeof speed, "%.1f tok/s", (l->answer_tokens - 1) / (l->decode_ms / 1e3));
        char d[32];
        status_duration(d, sizeof d, l->ttft_ms);
        snprintf(ttft, sizeof ttft, "TTFT %s", d);
    }
    activity(t, act, sizeof act);
    if (t->hint[0] && gl_now() < t->hint_until)
        snprintf(act, sizeof act, "%s", t->hint);
    int waiting = 0;
    for (int i = 1; i < t->n_reqs; i++)
        if ((t->reqs[i]->kind == REQ_ASK || t->reqs[i]->kind == REQ_REGEN) && !t->reqs[i]->dropped)
            waiting++;
    if (waiting)
        snprintf(queued, sizeof queued, "%d queued", waiting);
    if (t->scroll > 0)
        snprintf(scrolled, sizeof scrolled, "scrolled up (PgDn)");
    struct status_seg segs[] = {
        {model, 5}, {ctx, 8}, {img, 2}, {pending, 6}, {speed, 4}, {ttft, 3}, {queued, 9}, {scrolled, 7}, {act, 10},
    };
    char *line = status_compose(segs, (int)(sizeof segs / sizeof *segs), s->W - 2,
                                t->caps.utf8 ? " \u00b7 " : " | ");
    attron(s->style[ST_STATUS]);
    mvhline(s->st_y, 0, ' ', s->W);
    if (line) {
        int used;
        size_t n = text_fit(line, strlen(line), s->W - 2, &used);
        mvaddnstr(s->st_y, 1, line, (int)n);
    }
    attroff(s->style[ST_STATUS]);
    free(line);
}

/* ------------------------------------------------------------ a frame */

void screen_render(struct tui *t)
{
    struct screen *s = t->scr;
    if (!s || !s->active)
        return;
    layout(t);
    erase();
    int cy = 0, cx = 0;
    if (s->H < 6 || s->W < 20) {
        mvaddnstr(0, 0, "terminal too small", s->W);
        move(0, 0);
        refresh();
        return;
    }
    if (s->pane_on) {
        update_frame(t);
        draw_pane(t);
    }
    draw_transcript(t);
    draw_status(t);
    draw_input(t, &cy, &cx);
    move(cy, cx);
    if (s->repaint) {
        clearok(curscr, TRUE);
        s->repaint = false;
        s->paint = true;
    }
    refresh();
    if (s->paint) {
        paint_frame(s, cy, cx);
        s->paint = false;
    }
}
