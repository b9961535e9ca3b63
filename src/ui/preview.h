/*
 * preview.h - the image in the terminal: capability probe and rendering.
 * (Private to the program; preview.c is the only file that includes <sixel.h>.)
 *
 *   struct preview_caps caps;
 *   preview_probe(STDIN_FILENO, STDOUT_FILENO, 1500, &caps);   // before curses starts
 *   enum preview_mode mode = preview_choose(&caps, PREVIEW_AUTO);
 *   struct preview_frame fr;
 *   preview_render(&caps, mode, rgb, w, h, cols, rows, &fr, &err); // escape bytes
 *   ... move the cursor to the pane's top-left cell, write(fd, fr.data, fr.len) ...
 *   preview_frame_free(&fr);
 *
 * Frames are plain bytes for the terminal, drawn at the cursor position in a
 * rectangle of cols x rows cells; they never move the cursor outside it and
 * end with the cursor back at the rectangle's top-left corner. Inside tmux
 * or screen a sixel frame is wrapped in their DCS passthrough when needed.
 *
 * How a frame moves the cursor: it starts with DECSC (ESC 7), and each text
 * row after the first begins with DECRC (ESC 8) and CSI n B (n rows down);
 * it ends with DECRC. So it never depends on the terminal's autowrap or on
 * the rectangle's column, and it also restores the caller's SGR attributes
 * (DECSC saves them). A sixel frame is ESC 7, the sixel, ESC 8.
 * Only these escapes appear: ESC 7, ESC 8, CSI n B, SGR (CSI ... m), and
 * the sixel DCS; text rows end with SGR 0.
 */
#ifndef GLIMPSE_PREVIEW_H
#define GLIMPSE_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum preview_mode {
    PREVIEW_AUTO = 0,
    PREVIEW_SIXEL,
    PREVIEW_BLOCKS,             /* Unicode upper half blocks, truecolor or 256 colours */
    PREVIEW_ASCII,              /* characters by brightness, no colour */
    PREVIEW_NONE
};
const char *preview_mode_name(enum preview_mode m);
/* "auto", "sixel", "blocks", "ascii", "none": 0, or -1 for an unknown name. */
int preview_mode_parse(const char *s, enum preview_mode *out);

struct preview_caps {
    bool answered;              /* the terminal replied to DA1 within the timeout */
    bool sixel;                 /* DA1 attribute 4 (or tmux says it can) */
    int color_registers;        /* XTSMGRAPHICS, default 256 */
    int max_sixel_w, max_sixel_h; /* XTSMGRAPHICS, 0 = unknown */
    int cell_w, cell_h;         /* pixels per cell, 0 = unknown */
    bool truecolor;             /* COLORTERM=truecolor|24bit */
    bool colors256;             /* TERM has 256 colours */
    bool in_tmux, tmux_passthrough; /* inside tmux; allow-passthrough on */
    bool in_screen;
    bool utf8;                  /* the locale's charset is UTF-8 */
    bool no_color;              /* NO_COLOR is set, or TERM=dumb: no colour text */
    int win_w, win_h;           /* text area in pixels (CSI 14 t), 0 = unknown */
};

/* The probe's default timeout: long enough for a slow SSH round trip. */
#define PREVIEW_DEFAULT_TIMEOUT_MS 1000

/* Ask the terminal (in_fd/out_fd a tty; switched to raw mode for the
 * duration, restored after) with a timeout in milliseconds; never leaves
 * reply bytes unread. Also reads the environment (TMUX, STY, COLORTERM,
 * TERM) and TIOCGWINSZ. GLIMPSE_PREVIEW_TIMEOUT (ms) overrides timeout_ms.
 * Returns 0; on a non-tty or an error caps holds what the environment says.
 *
 * Details: timeout_ms < 0 means PREVIEW_DEFAULT_TIMEOUT_MS; 0 means "do not
 * ask the terminal" (environment and TIOCGWINSZ only). The queries are
 * CSI 16 t and CSI 14 t (only when TIOCGWINSZ has no pixel size),
 * XTSMGRAPHICS colour registers and geometry, and DA1 last: its reply ends
 * the wait. Without a DA1 reply the input queue is flushed at the timeout.
 * Inside tmux, when tmux itself does not answer with sixel, the probe runs
 * `tmux display -p '#{allow-passthrough}'` (same timeout, killed if it
 * hangs) to learn whether DCS passthrough is on for this pane. */
int preview_probe(int in_fd, int out_fd, int timeout_ms, struct preview_caps *caps);

/* Parse a terminal's replies (what the probe read) into caps: exported for
 * tests and the fuzzer. Unknown or garbage bytes are ignored. */
void preview_parse_replies(const char *buf, size_t len, struct preview_caps *caps);

/* The mode to use: the request (from --preview, the config or
 * GLIMPSE_PREVIEW) unless the terminal cannot, else the best it can.
 * auto: sixel when the terminal (or tmux itself) answered DA1 with 4, or
 *   inside tmux with allow-passthrough on (the user turned it on for
 *   graphics: it is off by default); else blocks; else ascii.
 * sixel: as auto, and also honoured when nobody said no: a terminal that
 *   did not answer (or was not asked: a pipe), or GNU screen (whose
 *   passthrough always exists but says nothing about the terminal outside).
 * blocks: needs a UTF-8 locale and colour (no NO_COLOR, TERM != dumb),
 *   else ascii. ascii and none: always. */
enum preview_mode preview_choose(const struct preview_caps *caps, enum preview_mode requested);

struct preview_frame {
    char *data;
    size_t len;
    int cols, rows;             /* cells actually covered (aspect kept) */
};

/* Scale rgb (w x h, RGB8 HWC) to fit cols x rows cells, aspect kept, and
 * encode it in the mode. 0, or -1 with *err.
 * Scaling averages areas when shrinking and interpolates linearly when
 * enlarging; the cell size is caps->cell_w x cell_h, or 10 x 20 pixels when
 * unknown. rows <= 0 means no height limit. PREVIEW_AUTO is resolved with
 * preview_choose(). blocks: a cell is an upper half block, fg = top pixel,
 * bg = bottom pixel, in truecolor, else the xterm 256-colour cube and greys
 * (caps->colors256), else the 16 ANSI colours. ascii: " .:-=+*#%@" from dark
 * to bright (for a dark background). out->data is malloc'd (the caller
 * frees it with preview_frame_free); PREVIEW_NONE gives an empty frame. */
int preview_render(const struct preview_caps *caps, enum preview_mode mode, const uint8_t *rgb,
                   int w, int h, int cols, int rows, struct preview_frame *out, char **err);
void preview_frame_free(struct preview_frame *f);

/* Layout flags for preview_render_ex. */
enum {
    /* For a stream (glimpse --show, a pipe): no cursor movement at all; text
     * rows each end with "\n"; a sixel is followed by "\n". */
    PREVIEW_LINES = 1u << 0
};
/* preview_render with layout flags (0 = the rectangle layout above). */
int preview_render_ex(const struct preview_caps *caps, enum preview_mode mode, const uint8_t *rgb,
                      int w, int h, int cols, int rows, unsigned flags,
                      struct preview_frame *out, char **err);

/* Decode a sixel stream (from its first ESC P; unwrapped) to RGB8 with
 * libsixel's decoder: for tests and tools, since only preview.c includes
 * <sixel.h>. *rgb is malloc'd (free()). 0, or -1 with *err. */
int preview_sixel_decode(const char *data, size_t len, uint8_t **rgb, int *w, int *h,
                         char **err);

/* glimpse --show IMAGE [--preview MODE] [--cols N]: print a preview to
 * stdout and exit status.
 * mode AUTO also consults GLIMPSE_PREVIEW. The terminal is probed only when
 * stdout is a tty; to a pipe, auto gives half blocks in the colours the
 * environment claims (256 unless COLORTERM=truecolor; ascii without a UTF-8
 * locale or with NO_COLOR), so `glimpse --show x.jpg | less -R` reads well.
 * cols <= 0: the terminal's width (rows: its height - 1), or $COLUMNS / 80
 * for a pipe with no height limit; an explicit cols has no height limit.
 * Output uses PREVIEW_LINES. Returns 0, or 1 after a one-line message on
 * stderr (unreadable image, write error). */
int preview_show(const char *path, enum preview_mode mode, int cols, bool no_exif);

#endif
