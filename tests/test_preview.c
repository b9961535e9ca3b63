/*
 * test_preview.c - the terminal preview (src/ui/preview.h).
 *
 * Covers: mode names and preview_choose's decisions; the reply parser on
 * good, split and hostile input (random bytes and mutations: no crash, sane
 * fields); half-block and ASCII frames (cells per row counted with wcwidth,
 * only the documented escapes, exact colours of small synthetic pictures in
 * truecolor / 256 / 16 colours, the scaler against an independent area
 * average); sixel frames decoded back with libsixel's decoder (checked first
 * on libsixel's own map8.six / snake.six) and compared with the source
 * scaled to the same size (mean error per channel < 8/255 for every photo),
 * the palette size and geometry limits, and the tmux and screen
 * passthrough wrappings; and the probe against a scripted terminal on a pty
 * (sixel yes/no, XTSMGRAPHICS, cell size from TIOCGWINSZ / CSI 16 t /
 * CSI 14 t, slow, silent, garbage and byte-by-byte replies, tmux with
 * passthrough on / off / tmux hanging / tmux drawing sixel itself, screen,
 * the terminal mode restored and no reply byte left unread or echoed).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "glimpse/image.h"
#include "tap.h"
#include "ui/preview.h"

/* ================================================================ helpers */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A known environment: what each test changes, it sets itself. */
static void reset_env(void)
{
    unsetenv("TMUX");
    unsetenv("TMUX_PANE");
    unsetenv("STY");
    unsetenv("NO_COLOR");
    unsetenv("COLORTERM");
    unsetenv("GLIMPSE_PREVIEW_TIMEOUT");
    setenv("TERM", "xterm-256color", 1);
}

static struct preview_caps plain_caps(void)
{
    struct preview_caps c;
    memset(&c, 0, sizeof c);
    c.color_registers = 256;
    c.colors256 = true;
    c.utf8 = true;
    return c;
}

static uint8_t *synth(int w, int h, const uint8_t *pixels)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    memcpy(p, pixels, (size_t)w * h * 3);
    return p;
}

/* The reference scaler: each output pixel is the exact area average of the
 * source rectangle it covers (double precision, 2-D), for shrinking. */
static uint8_t *ref_scale(const uint8_t *s, int sw, int sh, int dw, int dh)
{
    uint8_t *d = malloc((size_t)dw * dh * 3);
    double fx = (double)sw / dw, fy = (double)sh / dh;
    for (int oy = 0; oy < dh; oy++) {
        for (int ox = 0; ox < dw; ox++) {
            double acc[3] = {0, 0, 0}, wsum = 0;
            double y0 = oy * fy, y1 = (oy + 1) * fy, x0 = ox * fx, x1 = (ox + 1) * fx;
            for (int y = (int)y0; y < sh && y < y1; y++) {
                double wy = fmin(y + 1, y1) - fmax(y, y0);
                if (wy <= 0)
                    continue;
                for (int x = (int)x0; x < sw && x < x1; x++) {
                    double wx = fmin(x + 1, x1) - fmax(x, x0);
                    if (wx <= 0)
                        continue;
                    for (int c = 0; c < 3; c++)
                        acc[c] += wx * wy * s[((size_t)y * sw + x) * 3 + c];
                    wsum += wx * wy;
                }
            }
            for (int c = 0; c < 3; c++)
                d[((size_t)oy * dw + ox) * 3 + c] = (uint8_t)(acc[c] / wsum + 0.5);
        }
    }
    return d;
}

/* Mean absolute error per channel; returns the worst channel. */
static double mae_rgb(const uint8_t *a, const uint8_t *b, size_t npx, double out[3])
{
    double m[3] = {0, 0, 0};
    for (size_t i = 0; i < npx; i++)
        for (int c = 0; c < 3; c++)
            m[c] += abs(a[i * 3 + c] - b[i * 3 + c]);
    double worst = 0;
    for (int c = 0; c < 3; c++) {
        m[c] /= (double)npx;
        if (out)
            out[c] = m[c];
        if (m[c] > worst)
            worst = m[c];
    }
    return worst;
}

static bool has(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

/* ================================================================ modes */

static void test_modes(void)
{
    const char *names[] = {"auto", "sixel", "blocks", "ascii", "none"};
    for (int i = 0; i < 5; i++) {
        enum preview_mode m = PREVIEW_NONE;
        ok(preview_mode_parse(names[i], &m) == 0 && strcmp(preview_mode_name(m), names[i]) == 0,
           "mode '%s' parses and names itself", names[i]);
    }
    enum preview_mode m = PREVIEW_BLOCKS;
    ok(preview_mode_parse("nonsense", &m) == -1 && m == PREVIEW_BLOCKS, "an unknown mode is refused");
    ok(preview_mode_parse("", &m) == -1 && preview_mode_parse(NULL, &m) == -1,
       "empty and NULL mode names are refused");

    struct preview_caps c = plain_caps();
    c.answered = true;
    is_int(preview_choose(&c, PREVIEW_AUTO), PREVIEW_BLOCKS, "auto without sixel: blocks");
    is_int(preview_choose(&c, PREVIEW_SIXEL), PREVIEW_BLOCKS,
           "sixel asked of a terminal that said no: blocks");
    c.sixel = true;
    is_int(preview_choose(&c, PREVIEW_AUTO), PREVIEW_SIXEL, "auto with sixel: sixel");
    is_int(preview_choose(&c, PREVIEW_ASCII), PREVIEW_ASCII, "ascii is always honoured");
    is_int(preview_choose(&c, PREVIEW_NONE), PREVIEW_NONE, "none is always honoured");
    c = plain_caps();
    is_int(preview_choose(&c, PREVIEW_SIXEL), PREVIEW_SIXEL,
           "sixel asked of a terminal that was not asked (a pipe): honoured");
    is_int(preview_choose(&c, PREVIEW_AUTO), PREVIEW_BLOCKS, "auto unasked: blocks");
    c.no_color = true;
    is_int(preview_choose(&c, PREVIEW_BLOCKS), PREVIEW_ASCII, "NO_COLOR: blocks become ascii");
    c = plain_caps();
    c.utf8 = false;
    is_int(preview_choose(&c, PREVIEW_AUTO), PREVIEW_ASCII, "no UTF-8 locale: ascii");
    c = plain_caps();
    c.answered = true;
    c.in_tmux = true;
    is_int(preview_choose(&c, PREVIEW_SIXEL), PREVIEW_BLOCKS, "tmux without passthrough: no sixel");
    c.tmux_passthrough = true;
    is_int(preview_choose(&c, PREVIEW_AUTO), PREVIEW_SIXEL, "tmux with passthrough: sixel");
    c = plain_caps();
    c.answered = true;
    c.in_screen = true;
    is_int(preview_choose(&c, PREVIEW_AUTO), PREVIEW_BLOCKS, "screen, auto: blocks");
    is_int(preview_choose(&c, PREVIEW_SIXEL), PREVIEW_SIXEL, "screen, sixel asked: passthrough");
}

/* ================================================================ parser */

static struct preview_caps parsed(const char *s)
{
    struct preview_caps c = plain_caps();
    preview_parse_replies(s, strlen(s), &c);
    return c;
}

static bool caps_sane(const struct preview_caps *c)
{
    return c->cell_w >= 0 && c->cell_w <= 512 && c->cell_h >= 0 && c->cell_h <= 512 &&
           (c->cell_w == 0) == (c->cell_h == 0) && c->color_registers >= 1 &&
           c->color_registers <= 65536 && c->max_sixel_w >= 0 && c->max_sixel_w <= 65535 &&
           c->max_sixel_h >= 0 && c->max_sixel_h <= 65535 && c->win_w >= 0 &&
           c->win_w <= 100000 && c->win_h >= 0 && c->win_h <= 100000 &&
           (!c->sixel || c->answered);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void test_parser(void)
{
    struct preview_caps c = parsed("\033[?62;4;22c");
    ok(c.answered && c.sixel, "DA1 with attribute 4: sixel");
    c = parsed("\033[?64;1;2;6;9;15;18;21;22c");
    ok(c.answered && !c.sixel, "DA1 without 4: no sixel");
    c = parsed("\033[?4;6c");
    ok(c.answered && !c.sixel, "a VT132's class 4 is not the sixel attribute");
    c = parsed("\033[>41;354;0c");
    ok(!c.answered, "a DA2 reply is not DA1");
    c = parsed("\033[?1;0;1024S\033[?2;0;1000;800S");
    ok(c.color_registers == 1024 && c.max_sixel_w == 1000 && c.max_sixel_h == 800,
       "XTSMGRAPHICS: colour registers and geometry");
    c = parsed("\033[?1;3;0S\033[?2;1;0;0S");
    ok(c.color_registers == 256 && c.max_sixel_w == 0, "XTSMGRAPHICS errors change nothing");
    c = parsed("\033[6;20;10t");
    ok(c.cell_w == 10 && c.cell_h == 20, "CSI 6 ; h ; w t: cell size");
    c = parsed("\033[4;480;800t");
    ok(c.win_w == 800 && c.win_h == 480 && c.cell_w == 0, "CSI 4 ; h ; w t: text area size");
    c = parsed("\033[6;99999999999999999999999;10t\033[6;0;10t\033[6;20t");
    ok(c.cell_w == 0 && c.cell_h == 0, "absurd, zero or short cell sizes are ignored");
    c = parsed("\033P\033[?62;4c\033\\");
    ok(!c.answered, "a DA1 lookalike inside a DCS string is not a reply");
    c = parsed("junk\033]0;title\a\033[?62;4c");
    ok(c.answered && c.sixel, "an OSC string before the reply is skipped");
    c = parsed("\033[?62;\0334c\033[?62;4c");
    ok(c.answered && c.sixel, "a sequence broken by ESC restarts at the ESC");

    /* Replies split anywhere: a prefix never half-sets anything. */
    const char *full = "\033[6;20;10t\033[?1;0;512S\033[?62;4c";
    size_t n = strlen(full);
    bool prefix_ok = true;
    for (size_t k = 0; k < n; k++) {
        struct preview_caps p = plain_caps();
        preview_parse_replies(full, k, &p);
        if (p.answered || !caps_sane(&p))
            prefix_ok = false;
        if (p.cell_w && p.cell_w != 10)
            prefix_ok = false;
    }
    c = parsed(full);
    ok(prefix_ok && c.answered && c.sixel && c.cell_w == 10 && c.color_registers == 512,
       "every prefix of a reply is incomplete, the whole reply complete");

    /* Hostile input: random bytes, random bytes drawn from the reply
     * alphabet, and mutated good replies. */
    static const char alphabet[] = "\033[?;0123456789cStP\\\a]46";
    char buf[512];
    bool sane = true;
    int answered = 0;
    for (int it = 0; it < 30000; it++) {
        size_t len = rnd() % sizeof buf;
        int kind = it % 3;
        for (size_t i = 0; i < len; i++) {
            if (kind == 0)
                buf[i] = (char)rnd();
            else
                buf[i] = alphabet[rnd() % (sizeof alphabet - 1)];
        }
        if (kind == 2) {
            size_t k = strlen(full);
            len = k;
            memcpy(buf, full, k);
            for (int m = 0; m < 3; m++)
                buf[rnd() % k] = (char)rnd();
        }
        struct preview_caps p = plain_caps();
        preview_parse_replies(buf, len, &p);
        if (!caps_sane(&p))
            sane = false;
        answered += p.answered;
    }
    ok(sane, "30000 hostile inputs: no crash, every field within its range");
    tap_diag("  (%d of them happened to contain a DA1 reply)", answered);
}

/* ================================================================ text frames */

/* Split a LINES frame into rows and check each: SGR-only escapes, `cols`
 * columns by wcwidth. Returns the number of rows, or -1 on a bad row. */
static int check_lines(const char *data, size_t len, int cols, char *why, size_t whylen)
{
    int rows = 0;
    size_t i = 0;
    if (len == 0 || data[len - 1] != '\n') {
        snprintf(why, whylen, "does not end with a newline");
        return -1;
    }
    while (i < len) {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        /* strip SGR; anything else is an error */
        char *text = malloc(e - i + 1);
        size_t t = 0;
        for (size_t k = i; k < e; k++) {
            if (data[k] == 0x1b) {
                if (k + 1 >= e || data[k + 1] != '[') {
                    snprintf(why, whylen, "row %d: ESC not starting a CSI", rows);
                    free(text);
                    return -1;
                }
                size_t f = k + 2;
                while (f < e && ((data[f] >= '0' && data[f] <= '9') || data[f] == ';'))
                    f++;
                if (f >= e || data[f] != 'm') {
                    snprintf(why, whylen, "row %d: a CSI that is not SGR", rows);
                    free(text);
                    return -1;
                }
                k = f;
                continue;
            }
            if ((unsigned char)data[k] < 0x20) {
                snprintf(why, whylen, "row %d: control byte 0x%02x", rows, data[k]);
                free(text);
                return -1;
            }
            text[t++] = data[k];
        }
        text[t] = 0;
        wchar_t wbuf[8192];
        size_t nw = mbstowcs(wbuf, text, 8192);
        free(text);
        if (nw == (size_t)-1) {
            snprintf(why, whylen, "row %d: invalid UTF-8", rows);
            return -1;
        }
        int width = wcswidth(wbuf, nw);
        if (width != cols) {
            snprintf(why, whylen, "row %d is %d columns, not %d", rows, width, cols);
            return -1;
        }
        rows++;
        i = e + 1;
    }
    return rows;
}

/* Check a rectangle frame's escapes: ESC 7 first, ESC 8 last, rows joined by
 * ESC 8 CSI n B with n = 1, 2, ...; only SGR otherwise. Returns rows or -1. */
static int check_rect(const char *data, size_t len, char *why, size_t whylen)
{
    if (len < 4 || memcmp(data, "\0337", 2) != 0 || memcmp(data + len - 2, "\0338", 2) != 0) {
        snprintf(why, whylen, "not framed by ESC 7 ... ESC 8");
        return -1;
    }
    int rows = 1;
    for (size_t k = 2; k < len - 2; k++) {
        if (data[k] != 0x1b) {
            if ((unsigned char)data[k] < 0x20) {
                snprintf(why, whylen, "control byte 0x%02x", data[k]);
                return -1;
            }
            continue;
        }
        if (data[k + 1] == '8') {
            int n = 0;
            size_t f = k + 2;
            if (data[f] != 0x1b || data[f + 1] != '[') {
                snprintf(why, whylen, "ESC 8 not followed by a cursor move");
                return -1;
            }
            f += 2;
            if (data[f] == 'B')
                n = 1;
            else {
                while (data[f] >= '0' && data[f] <= '9')
                    n = n * 10 + (data[f++] - '0');
                if (data[f] != 'B') {
                    snprintf(why, whylen, "a move that is not CSI n B");
                    return -1;
                }
            }
            if (n != rows) {
                snprintf(why, whylen, "row %d moves down %d", rows, n);
                return -1;
            }
            rows++;
            k = f;
            continue;
        }
        if (data[k + 1] != '[') {
            snprintf(why, whylen, "ESC %c is not allowed", data[k + 1]);
            return -1;
        }
        size_t f = k + 2;
        while ((data[f] >= '0' && data[f] <= '9') || data[f] == ';')
            f++;
        if (data[f] != 'm') {
            snprintf(why, whylen, "a CSI ending in '%c'", data[f]);
            return -1;
        }
        k = f;
    }
    return rows;
}

/* The SGR colours of every cell of a LINES blocks frame in truecolor:
 * fg/bg as RGB. Returns the number of cells read. */
static int read_true_cells(const char *d, size_t len, uint8_t *fg, uint8_t *bg, int max)
{
    int cell = 0;
    int cf[3] = {0, 0, 0}, cb[3] = {-1, -1, -1};
    for (size_t i = 0; i < len && cell < max; i++) {
        if (d[i] == 0x1b && d[i + 1] == '[') {
            size_t f = i + 2;
            long p[16];
            int np = 0;
            long v = 0;
            while (d[f] != 'm') {
                if (d[f] == ';') {
                    p[np++] = v;
                    v = 0;
                } else
                    v = v * 10 + (d[f] - '0');
                f++;
            }
            p[np++] = v;
            for (int k = 0; k < np; k++) {
                if ((p[k] == 38 || p[k] == 48) && k + 4 < np && p[k + 1] == 2) {
                    int *dst = p[k] == 38 ? cf : cb;
                    dst[0] = (int)p[k + 2];
                    dst[1] = (int)p[k + 3];
                    dst[2] = (int)p[k + 4];
                    k += 4;
                } else if (p[k] == 49) {
                    cb[0] = cb[1] = cb[2] = -1;
                }
            }
            i = f;
        } else if ((unsigned char)d[i] == 0xe2 && (unsigned char)d[i + 1] == 0x96 &&
                   (unsigned char)d[i + 2] == 0x80) {
            for (int c = 0; c < 3; c++) {
                fg[cell * 3 + c] = (uint8_t)cf[c];
                bg[cell * 3 + c] = (uint8_t)(cb[c] < 0 ? 0 : cb[c]);
            }
            cell++;
            i += 2;
        }
    }
    return cell;
}

static void test_blocks(void)
{
    char why[128] = "";
    struct preview_frame fr;
    char *err = NULL;
    /* 2x2: red green / blue white -> one row of two cells */
    static const uint8_t px4[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    uint8_t *img = synth(2, 2, px4);
    struct preview_caps c = plain_caps();

    c.truecolor = true;
    ok(preview_render_ex(&c, PREVIEW_BLOCKS, img, 2, 2, 2, 0, PREVIEW_LINES, &fr, &err) == 0,
       "blocks, truecolor: renders a 2x2 picture");
    is_int(fr.cols, 2, "  two cells wide");
    is_int(fr.rows, 1, "  one row (two pixels tall)");
    ok(fr.len > 0 && memcmp(fr.data,
                            "\033[38;2;255;0;0;48;2;0;0;255m\xe2\x96\x80"
                            "\033[38;2;0;255;0;48;2;255;255;255m\xe2\x96\x80\033[0m\n",
                            fr.len) == 0,
       "  exact bytes: fg = top pixel, bg = bottom pixel, SGR 0 at the end");
    preview_frame_free(&fr);

    c.truecolor = false;
    ok(preview_render_ex(&c, PREVIEW_BLOCKS, img, 2, 2, 2, 0, PREVIEW_LINES, &fr, &err) == 0 &&
           has(fr.data, fr.len, "\033[38;5;196;48;5;21m\xe2\x96\x80") &&
           has(fr.data, fr.len, "\033[38;5;46;48;5;231m\xe2\x96\x80"),
       "blocks, 256 colours: red 196 over blue 21, green 46 over white 231");
    preview_frame_free(&fr);

    static const uint8_t greys[] = {128, 128, 128, 8, 8, 8, 238, 238, 238, 95, 95, 95};
    uint8_t *gimg = synth(2, 2, greys);
    ok(preview_render_ex(&c, PREVIEW_BLOCKS, gimg, 2, 2, 2, 0, PREVIEW_LINES, &fr, &err) == 0 &&
           has(fr.data, fr.len, "\033[38;5;244;48;5;255m") &&
           has(fr.data, fr.len, "\033[38;5;232;48;5;59m"),
       "blocks, 256 colours: greys go to the grey ramp or the cube, whichever is nearer");
    preview_frame_free(&fr);
    free(gimg);

    c.colors256 = false;
    ok(preview_render_ex(&c, PREVIEW_BLOCKS, img, 2, 2, 2, 0, PREVIEW_LINES, &fr, &err) == 0 &&
           has(fr.data, fr.len, "\033[91;44m\xe2\x96\x80") &&
           has(fr.data, fr.len, "\033[92;107m\xe2\x96\x80"),
       "blocks, 16 colours: bright red on blue, bright green on bright white");
    preview_frame_free(&fr);

    /* An odd pixel height: the last row's lower half is the default bg. */
    static const uint8_t px3[] = {10, 20, 30, 40, 50, 60, 70, 80, 90};
    uint8_t *tall = synth(1, 3, px3);
    c = plain_caps();
    c.truecolor = true;
    c.cell_w = 10;
    c.cell_h = 20;
    ok(preview_render_ex(&c, PREVIEW_BLOCKS, tall, 1, 3, 1, 0, PREVIEW_LINES, &fr, &err) == 0 &&
           fr.rows == 2 && has(fr.data, fr.len, "\033[38;2;70;80;90;49m\xe2\x96\x80"),
       "an odd number of pixel rows ends on the default background (SGR 49)");
    preview_frame_free(&fr);
    free(tall);

    /* The scaler: 4x4 of four 2x2 quadrants, each with varied pixels, to two
     * cells: each half block is its quadrant's mean. */
    uint8_t q[4 * 4 * 3];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 3; k++)
                q[(y * 4 + x) * 3 + k] = (uint8_t)((x / 2 + 2 * (y / 2)) * 50 + (x % 2) * 20 +
                                                   (y % 2) * 8 + k * 3);
    char want[64];
    ok(preview_render_ex(&c, PREVIEW_BLOCKS, q, 4, 4, 2, 0, PREVIEW_LINES, &fr, &err) == 0 &&
           fr.cols == 2 && fr.rows == 1,
       "a 4x4 picture in two cells");
    snprintf(want, sizeof want, "\033[38;2;%d;%d;%d;48;2;%d;%d;%dm", 14, 17, 20, 114, 117, 120);
    ok(has(fr.data, fr.len, want), "  left cell: the means of the left quadrants");
    snprintf(want, sizeof want, "\033[38;2;%d;%d;%d;48;2;%d;%d;%dm", 64, 67, 70, 164, 167, 170);
    ok(has(fr.data, fr.len, want), "  right cell: the means of the right quadrants");
    preview_frame_free(&fr);
    free(img);

    /* Real pictures: cells per row, row counts from the aspect, the
     * documented escapes only, and the colours against the reference scaler. */
    const char *files[] = {"images/gradient_shapes_640x480.png", "images/portrait_300x500.jpg",
                           "images/photos/rocket.jpg"};
    if (!tap_refdata()) {
        tap_skip(15, "no reference data");
        return;
    }
    for (int f = 0; f < 3; f++) {
        char *path = tap_refpath(files[f]);
        struct gl_image im;
        if (gl_image_load(path, NULL, &im, &err) != 0) {
            ok(0, "load %s: %s", files[f], err);
            free(err);
            err = NULL;
            free(path);
            continue;
        }
        c = plain_caps();
        c.truecolor = true;
        int cols = 40;
        /* a half block is 10 x 10 pixels: rows = ceil(round(40 h / w) / 2) */
        int px_h = (int)lround(40.0 * im.h / im.w);
        int want_rows = (px_h + 1) / 2;
        int rc = preview_render_ex(&c, PREVIEW_BLOCKS, im.rgb, im.w, im.h, cols, 0, PREVIEW_LINES,
                                   &fr, &err);
        int rows = rc == 0 ? check_lines(fr.data, fr.len, cols, why, sizeof why) : -1;
        ok(rows == want_rows && fr.rows == want_rows && fr.cols == cols,
           "%s: blocks in %d rows of %d cells (%s)", files[f], want_rows, cols,
           rows < 0 ? why : "ok");
        /* colours against the reference area average */
        uint8_t *fg = malloc((size_t)cols * want_rows * 3), *bg = malloc((size_t)cols * want_rows * 3);
        int ncell = read_true_cells(fr.data, fr.len, fg, bg, cols * want_rows);
        uint8_t *ref = ref_scale(im.rgb, im.w, im.h, cols, px_h);
        int worst = 0;
        for (int i = 0; i < ncell; i++) {
            int x = i % cols, r = i / cols;
            for (int k = 0; k < 3; k++) {
                int d1 = abs(fg[i * 3 + k] - ref[((size_t)(2 * r) * cols + x) * 3 + k]);
                int d2 = 2 * r + 1 < px_h
                             ? abs(bg[i * 3 + k] - ref[((size_t)(2 * r + 1) * cols + x) * 3 + k])
                             : 0;
                worst = d1 > worst ? d1 : worst;
                worst = d2 > worst ? d2 : worst;
            }
        }
        ok(ncell == cols * want_rows && worst <= 1,
           "  every half block within 1 of the exact area average (worst %d)", worst);
        free(fg);
        free(bg);
        free(ref);
        preview_frame_free(&fr);

        /* rectangle layout, 256 colours, at most 6 rows */
        c.truecolor = false;
        rc = preview_render(&c, PREVIEW_BLOCKS, im.rgb, im.w, im.h, cols, 6, &fr, &err);
        rows = rc == 0 ? check_rect(fr.data, fr.len, why, sizeof why) : -1;
        ok(rows == fr.rows && rows >= 1 && rows <= 6 && fr.cols <= cols &&
               (fr.rows == 6 || fr.cols == cols),
           "  rectangle layout within 40x6: %dx%d, only ESC 7/8, CSI n B and SGR (%s)", fr.cols,
           fr.rows, rows < 0 ? why : "ok");
        preview_frame_free(&fr);

        /* ascii: rows from a 2:1 cell, printable characters only */
        int want_ascii = (int)lround(40.0 * 10 * im.h / (im.w * 20.0));
        rc = preview_render_ex(&c, PREVIEW_ASCII, im.rgb, im.w, im.h, cols, 0, PREVIEW_LINES, &fr,
                               &err);
        rows = rc == 0 ? check_lines(fr.data, fr.len, cols, why, sizeof why) : -1;
        bool plain = rc == 0;
        for (size_t i = 0; plain && i < fr.len; i++)
            if (fr.data[i] != '\n' && (fr.data[i] < 0x20 || fr.data[i] > 0x7e))
                plain = false;
        ok(rows == want_ascii && plain, "  ascii: %d rows of %d plain characters (%s)", want_ascii,
           cols, rows < 0 ? why : "ok");
        preview_frame_free(&fr);
        gl_image_free(&im);
        free(path);
    }

    /* ascii ramp: black is blank, white is '@', brightness never goes down */
    uint8_t ramp[64 * 3];
    for (int x = 0; x < 64; x++)
        ramp[x * 3] = ramp[x * 3 + 1] = ramp[x * 3 + 2] = (uint8_t)(x * 255 / 63);
    c = plain_caps();
    c.cell_w = 10;
    c.cell_h = 10;  /* square cells: a 64x1 picture is one row */
    const char *lv = " .:-=+*#%@";
    ok(preview_render_ex(&c, PREVIEW_ASCII, ramp, 64, 1, 64, 0, PREVIEW_LINES, &fr, &err) == 0 &&
           fr.rows == 1 && fr.len == 65,
       "ascii: a grey ramp is one row of 64 characters");
    bool mono = fr.len == 65 && fr.data[0] == ' ' && fr.data[63] == '@';
    for (int x = 1; mono && x < 64; x++)
        mono = strchr(lv, fr.data[x]) - lv >= strchr(lv, fr.data[x - 1]) - lv;
    ok(mono, "  from ' ' to '@', never darker to the right");
    preview_frame_free(&fr);

    /* rectangle ascii: moves only, no colour */
    ok(preview_render(&c, PREVIEW_ASCII, ramp, 64, 1, 8, 3, &fr, &err) == 0 &&
           check_rect(fr.data, fr.len, why, sizeof why) == fr.rows && !has(fr.data, fr.len, "m"),
       "ascii rectangle: ESC 7/8 and moves only");
    preview_frame_free(&fr);

    /* none, and bad arguments */
    ok(preview_render(&c, PREVIEW_NONE, ramp, 64, 1, 8, 3, &fr, &err) == 0 && fr.len == 0,
       "none: an empty frame");
    ok(preview_render(&c, PREVIEW_BLOCKS, ramp, 64, 1, 0, 3, &fr, &err) == -1 && err &&
           !strchr(err, '\n'),
       "zero columns: refused with a one-line message");
    free(err);
    err = NULL;
    ok(preview_render(&c, PREVIEW_BLOCKS, NULL, 64, 1, 8, 3, &fr, &err) == -1 && err,
       "no pixels: refused");
    free(err);
    err = NULL;
    ok(preview_render(&c, PREVIEW_BLOCKS, ramp, 0, 1, 8, 3, &fr, &err) == -1 && err,
       "a 0-wide picture: refused");
    free(err);
    err = NULL;
    preview_frame_free(NULL);
}

/* ================================================================ sixel */

static void test_sixel_decoder(void)
{
    char *err = NULL;
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    ok(preview_sixel_decode("hello", 5, &rgb, &w, &h, &err) == -1 && err && !rgb,
       "decode: no DCS, refused");
    free(err);
    err = NULL;
    if (!tap_refdata()) {
        tap_skip(4, "no reference data");
        return;
    }
    /* map8.six against map8.png: the same eight colour bars */
    char *six = tap_refpath("sixel/map8.six"), *png = tap_refpath("sixel/map8.png");
    size_t n;
    char *data = tap_slurp(six, &n);
    struct gl_image im = {0};
    int rc = data ? preview_sixel_decode(data, n, &rgb, &w, &h, &err) : -1;
    ok(rc == 0 && w == 93 && h == 14, "map8.six decodes to 93x14");
    if (rc == 0 && gl_image_load(png, NULL, &im, &err) == 0 && im.w == w && im.h == h) {
        /* map8.png was rendered with a slightly different percent-to-byte
         * rounding (60% shows as 159, not 153): compare the regions exactly
         * and the colours loosely. */
        int worst = 0, colours = 0;
        uint32_t seen[16], seen_png[16];
        bool same_regions = true;
        for (int i = 0; i < w * h; i++) {
            for (int k = 0; k < 3; k++) {
                int d = abs(rgb[i * 3 + k] - im.rgb[i * 3 + k]);
                worst = d > worst ? d : worst;
            }
            uint32_t key = (uint32_t)rgb[i * 3] << 16 | rgb[i * 3 + 1] << 8 | rgb[i * 3 + 2];
            uint32_t kp = (uint32_t)im.rgb[i * 3] << 16 | im.rgb[i * 3 + 1] << 8 | im.rgb[i * 3 + 2];
            int k = 0;
            while (k < colours && seen[k] != key)
                k++;
            if (k == colours && colours < 16) {
                seen[colours] = key;
                seen_png[colours++] = kp;
            } else if (k < colours && seen_png[k] != kp) {
                same_regions = false;
            }
        }
        ok(colours == 8 && same_regions && worst <= 8,
           "  eight colour regions as in map8.png, colours within 8 (worst %d)", worst);
    } else {
        ok(0, "  map8.png loads at the same size");
    }
    gl_image_free(&im);
    free(rgb);
    rgb = NULL;
    free(data);
    free(six);
    free(png);

    /* snake.six: encoded from snake.jpg by libsixel with unknown options */
    six = tap_refpath("sixel/snake.six");
    png = tap_refpath("sixel/snake.jpg");
    data = tap_slurp(six, &n);
    rc = data ? preview_sixel_decode(data, n, &rgb, &w, &h, &err) : -1;
    if (rc == 0 && gl_image_load(png, NULL, &im, &err) == 0 && im.w == w && im.h == h) {
        double m[3];
        double worst = mae_rgb(rgb, im.rgb, (size_t)w * h, m);
        ok(worst < 8, "snake.six decodes to snake.jpg's %dx%d, mean error %.2f %.2f %.2f", w, h,
           m[0], m[1], m[2]);
    } else {
        ok(0, "snake.six decodes to snake.jpg's size (%s)", err ? err : "size differs");
    }
    gl_image_free(&im);
    free(rgb);
    rgb = NULL;
    free(data);
    free(six);
    free(png);
    free(err);
    err = NULL;

    /* libsixel's own malformed stream: an error or a picture, never a crash */
    char *bad = tap_refpath("sixel/bad/poc2_dcs_signed_int_overflow.sixel");
    data = tap_slurp(bad, &n);
    if (data) {
        rc = preview_sixel_decode(data, n, &rgb, &w, &h, &err);
        ok(rc == -1 ? err != NULL : (rgb && w > 0 && h > 0),
           "a malformed stream: %s", rc ? "refused" : "decoded without harm");
    } else {
        ok(0, "read %s", bad);
    }
    free(rgb);
    free(err);
    free(data);
    free(bad);
}

/* Render a sixel (LINES layout) and decode it. */
static int sixel_roundtrip(const struct preview_caps *c, const uint8_t *img, int w, int h,
                           int cols, int rows, struct preview_frame *fr, uint8_t **rgb, int *dw,
                           int *dh)
{
    char *err = NULL;
    if (preview_render_ex(c, PREVIEW_SIXEL, img, w, h, cols, rows, PREVIEW_LINES, fr, &err)) {
        tap_diag("  render: %s", err);
        free(err);
        return -1;
    }
    if (preview_sixel_decode(fr->data, fr->len, rgb, dw, dh, &err)) {
        tap_diag("  decode: %s", err);
        free(err);
        return -1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_sixel_photos(void)
{
    if (!tap_refdata()) {
        tap_skip(1, "no reference data");
        return;
    }
    char *dir = tap_refpath("images/photos");
    DIR *d = opendir(dir);
    char *names[64];
    int nn = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && nn < 64)
        if (e->d_name[0] != '.')
            names[nn++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_names);
    ok(nn >= 5, "found %d photos", nn);

    /* a 32 x 10 cell pane of 8 x 16 pixels: 256 x 160, every photo shrinks */
    struct preview_caps c = plain_caps();
    c.cell_w = 8;
    c.cell_h = 16;
    const int cols = 32, rows = 10, bw = 256, bh = 160;
    for (int i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct gl_image im;
        char *err = NULL;
        if (gl_image_load(path, NULL, &im, &err) != 0) {
            ok(0, "%s: %s", names[i], err);
            free(err);
            continue;
        }
        /* the expected size: fit bw x bh, aspect kept */
        int ew = bw, eh = (int)lround((double)bw * im.h / im.w);
        if (eh > bh) {
            eh = bh;
            ew = (int)lround((double)bh * im.w / im.h);
        }
        struct preview_frame fr;
        uint8_t *rgb = NULL;
        int w = 0, h = 0;
        int rc = sixel_roundtrip(&c, im.rgb, im.w, im.h, cols, rows, &fr, &rgb, &w, &h);
        if (rc == 0 && w == ew && h == eh) {
            uint8_t *ref = ref_scale(im.rgb, im.w, im.h, w, h);
            double m[3];
            double worst = mae_rgb(rgb, ref, (size_t)w * h, m);
            ok(worst < 8.0 && fr.cols == (w + 7) / 8 && fr.rows == (h + 15) / 16,
               "sixel %s %dx%d -> %dx%d (%zu bytes): mean error %.2f %.2f %.2f", names[i],
               im.w, im.h, w, h, fr.len, m[0], m[1], m[2]);
            free(ref);
        } else {
            ok(0, "sixel %s: decodes to %dx%d, expected %dx%d", names[i], w, h, ew, eh);
        }
        free(rgb);
        preview_frame_free(&fr);
        gl_image_free(&im);
    }
    for (int i = 0; i < nn; i++)
        free(names[i]);
    free(dir);
}

static void test_sixel_frames(void)
{
    /* a smooth synthetic picture with many colours, and one with six */
    int W = 96, H = 64;
    uint8_t *grad = malloc((size_t)W * H * 3), *flat = malloc((size_t)W * H * 3);
    static const uint8_t six[6][3] = {{255, 255, 255}, {0, 0, 0},   {200, 30, 40},
                                      {20, 160, 60},   {40, 60, 220}, {250, 200, 10}};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = grad + ((size_t)y * W + x) * 3;
            p[0] = (uint8_t)(x * 255 / (W - 1));
            p[1] = (uint8_t)(y * 255 / (H - 1));
            p[2] = (uint8_t)((x + y) * 255 / (W + H - 2));
            memcpy(flat + ((size_t)y * W + x) * 3, six[(x / 16 + y / 16) % 6], 3);
        }
    struct preview_caps c = plain_caps();
    c.cell_w = 8;
    c.cell_h = 16;
    struct preview_frame fr;
    uint8_t *rgb = NULL;
    int w, h;
    char *err = NULL;

    /* few colours: drawn exactly (up to the palette's 1% steps) */
    if (sixel_roundtrip(&c, flat, W, H, 12, 4, &fr, &rgb, &w, &h) == 0 && w == W && h == H) {
        double m[3];
        mae_rgb(rgb, flat, (size_t)w * h, m);
        int worst = 0;
        for (int i = 0; i < w * h * 3; i++)
            worst = abs(rgb[i] - flat[i]) > worst ? abs(rgb[i] - flat[i]) : worst;
        ok(worst <= 2, "six flat colours come back exact to the palette's 1%% steps (worst %d)",
           worst);
    } else {
        ok(0, "six flat colours: round trip at 96x64");
    }
    free(rgb);
    preview_frame_free(&fr);

    /* the palette size follows the colour registers */
    c.color_registers = 16;
    if (sixel_roundtrip(&c, grad, W, H, 12, 4, &fr, &rgb, &w, &h) == 0) {
        uint32_t seen[64];
        int n = 0;
        for (int i = 0; i < w * h && n < 64; i++) {
            uint32_t key = (uint32_t)rgb[i * 3] << 16 | rgb[i * 3 + 1] << 8 | rgb[i * 3 + 2];
            int k = 0;
            while (k < n && seen[k] != key)
                k++;
            if (k == n)
                seen[n++] = key;
        }
        double m[3];
        double worst = mae_rgb(rgb, grad, (size_t)w * h, m);
        ok(n <= 16 && n >= 8 && worst < 20,
           "16 colour registers: %d colours, mean error %.1f (dithered)", n, worst);
    } else {
        ok(0, "16 colour registers: round trip");
    }
    free(rgb);
    preview_frame_free(&fr);
    c.color_registers = 256;

    /* XTSMGRAPHICS's geometry caps the size */
    c.max_sixel_w = 50;
    c.max_sixel_h = 20;
    int rc = sixel_roundtrip(&c, grad, W, H, 40, 10, &fr, &rgb, &w, &h);
    ok(rc == 0 && w == 30 && h == 20, "max sixel geometry 50x20 limits a 96x64 picture to %dx%d",
       w, h);
    free(rgb);
    preview_frame_free(&fr);
    c.max_sixel_w = c.max_sixel_h = 0;

    /* enlarging a small picture to the pane */
    rc = sixel_roundtrip(&c, grad, W, H, 40, 0, &fr, &rgb, &w, &h);
    ok(rc == 0 && w == 320 && h == (int)lround(320.0 * H / W) && fr.rows == (h + 15) / 16,
       "enlarged to the pane's 320 pixels: %dx%d in %d rows", w, h, fr.rows);
    free(rgb);
    preview_frame_free(&fr);

    /* the rectangle layout: ESC 7, the sixel, ESC 8 */
    struct preview_frame direct;
    ok(preview_render(&c, PREVIEW_SIXEL, grad, W, H, 12, 4, &direct, &err) == 0 &&
           direct.len > 8 && memcmp(direct.data, "\0337\033P", 4) == 0 &&
           memcmp(direct.data + direct.len - 4, "\033\\\0338", 4) == 0,
       "rectangle layout: ESC 7, the sixel DCS, ESC 8");
    size_t escs = 0;
    for (size_t i = 0; i < direct.len; i++)
        escs += direct.data[i] == 0x1b;
    ok(escs == 4, "  and no other escape inside (%zu ESC bytes)", escs);

    /* tmux passthrough: the same bytes, ESCs doubled, in ESC P tmux; ... ESC \ */
    c.in_tmux = true;
    c.tmux_passthrough = true;
    c.answered = true;
    ok(preview_render(&c, PREVIEW_SIXEL, grad, W, H, 12, 4, &fr, &err) == 0 &&
           fr.len > 10 && memcmp(fr.data, "\033Ptmux;", 7) == 0 &&
           memcmp(fr.data + fr.len - 2, "\033\\", 2) == 0,
       "tmux passthrough: wrapped in ESC P tmux; ... ESC \\");
    {
        char *un = malloc(fr.len);
        size_t k = 0;
        bool doubled = true;
        for (size_t i = 7; i < fr.len - 2; i++) {
            if (fr.data[i] == 0x1b) {
                if (fr.data[i + 1] != 0x1b)
                    doubled = false;
                i++;
            }
            un[k++] = fr.data[i];
        }
        ok(doubled && k == direct.len && memcmp(un, direct.data, k) == 0,
           "  every ESC doubled; unwrapped it is the direct frame");
        free(un);
    }
    preview_frame_free(&fr);
    c.sixel = true;
    ok(preview_render(&c, PREVIEW_SIXEL, grad, W, H, 12, 4, &fr, &err) == 0 &&
           fr.len == direct.len && memcmp(fr.data, direct.data, fr.len) == 0,
       "tmux drawing sixel itself: not wrapped");
    preview_frame_free(&fr);

    /* screen: pieces of ESC P ... ESC \ under 768 bytes */
    c = plain_caps();
    c.cell_w = 8;
    c.cell_h = 16;
    c.in_screen = true;
    c.answered = true;
    ok(preview_render(&c, PREVIEW_SIXEL, grad, W, H, 12, 4, &fr, &err) == 0, "screen: renders");
    {
        char *un = malloc(fr.len);
        size_t k = 0, i = 0, pieces = 0, longest = 0;
        bool framed = true;
        while (i < fr.len && framed) {
            if (fr.len - i < 4 || memcmp(fr.data + i, "\033P", 2) != 0) {
                framed = false;
                break;
            }
            size_t j = i + 2;
            while (j + 1 < fr.len && !(fr.data[j] == 0x1b && fr.data[j + 1] == '\\'))
                j++;
            /* a piece whose body ends in ESC shows as ESC ESC \ */
            if (j + 1 >= fr.len) {
                framed = false;
                break;
            }
            memcpy(un + k, fr.data + i + 2, j - i - 2);
            k += j - i - 2;
            size_t plen = j + 2 - i;
            longest = plen > longest ? plen : longest;
            pieces++;
            i = j + 2;
        }
        ok(framed && longest <= 768 && pieces > 2,
           "  %zu pieces, the longest %zu bytes (<= 768)", pieces, longest);
        /* The body's own terminator is split: piece "ESC" then piece "\". */
        ok(framed && k == direct.len && memcmp(un, direct.data, k) == 0,
           "  the pieces' bodies put together are the direct frame");
        free(un);
    }
    preview_frame_free(&fr);
    preview_frame_free(&direct);
    free(grad);
    free(flat);
}

/* ================================================================ probe */

struct fake_term {
    int master;
    const char *reply;
    size_t reply_len;
    int delay_ms;               /* before replying */
    int piece;                  /* bytes per write, 0 = all at once */
    int piece_ms;
    bool silent;
    atomic_bool stop;           /* the probe has returned */
    char got[1024];             /* what the probe sent */
    size_t ngot;
    pthread_t th;
};

static void *fake_main(void *arg)
{
    struct fake_term *f = arg;
    double t_end = now_s() + 5;
    while (now_s() < t_end && !f->stop && !has(f->got, f->ngot, "\033[c")) {
        struct pollfd p = {.fd = f->master, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t k = read(f->master, f->got + f->ngot, sizeof f->got - 1 - f->ngot);
        if (k <= 0)
            break;
        f->ngot += (size_t)k;
    }
    if (f->silent || !has(f->got, f->ngot, "\033[c"))
        return NULL;
    if (f->delay_ms)
        sleep_ms(f->delay_ms);
    size_t step = f->piece ? (size_t)f->piece : f->reply_len;
    for (size_t i = 0; i < f->reply_len; i += step) {
        size_t n = f->reply_len - i < step ? f->reply_len - i : step;
        if (write(f->master, f->reply + i, n) != (ssize_t)n)
            break;
        if (f->piece_ms)
            sleep_ms(f->piece_ms);
    }
    return NULL;
}

struct probe_run {
    struct preview_caps caps;
    double seconds;
    bool restored;              /* the slave's termios came back as it was */
    bool clean;                 /* nothing left to read on the slave, nothing echoed */
    char got[1024];
    size_t ngot;
};

/* Probe a fresh pty whose other end plays the terminal. */
static struct probe_run run_probe(const char *reply, int delay_ms, int piece, bool silent,
                                  int timeout_ms, const struct winsize *ws)
{
    struct probe_run r;
    memset(&r, 0, sizeof r);
    int master, slave;
    struct winsize w0 = {.ws_row = 24, .ws_col = 80};
    if (openpty(&master, &slave, NULL, NULL, ws ? ws : &w0) != 0) {
        tap_diag("openpty: %s", strerror(errno));
        return r;
    }
    struct fake_term f;
    memset(&f, 0, sizeof f);
    f.master = master;
    f.reply = reply;
    f.reply_len = reply ? strlen(reply) : 0;
    f.delay_ms = delay_ms;
    f.piece = piece;
    f.piece_ms = piece ? 2 : 0;
    f.silent = silent || !reply;
    struct termios before, after;
    tcgetattr(slave, &before);
    pthread_create(&f.th, NULL, fake_main, &f);
    double t0 = now_s();
    preview_probe(slave, slave, timeout_ms, &r.caps);
    r.seconds = now_s() - t0;
    f.stop = true;
    pthread_join(f.th, NULL);
    tcgetattr(slave, &after);
    r.restored = before.c_lflag == after.c_lflag && before.c_iflag == after.c_iflag &&
                 before.c_cc[VMIN] == after.c_cc[VMIN];
    memcpy(r.got, f.got, f.ngot);
    r.ngot = f.ngot;

    /* Left-over reply bytes: read the slave raw for a moment; an echo would
     * show on the master. */
    sleep_ms(30);
    struct pollfd pm = {.fd = master, .events = POLLIN};
    bool echoed = poll(&pm, 1, 0) > 0;
    struct termios raw = after;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(slave, TCSANOW, &raw);
    struct pollfd ps = {.fd = slave, .events = POLLIN};
    bool left = poll(&ps, 1, 30) > 0;
    r.clean = !echoed && !left;
    close(slave);
    close(master);
    return r;
}

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(body, f);
        fclose(f);
    }
    chmod(path, 0755);
}

static void test_probe(void)
{
    reset_env();
    struct probe_run r;

    r = run_probe("\033[6;20;10t\033[4;480;800t\033[?1;0;1024S\033[?2;0;1000;800S\033[?62;4;22c", 0,
                  0, false, 2000, NULL);
    ok(r.caps.answered && r.caps.sixel, "sixel terminal: DA1 with 4");
    ok(r.caps.cell_w == 10 && r.caps.cell_h == 20, "  cell size from CSI 16 t: %dx%d",
       r.caps.cell_w, r.caps.cell_h);
    ok(r.caps.color_registers == 1024 && r.caps.max_sixel_w == 1000 && r.caps.max_sixel_h == 800,
       "  XTSMGRAPHICS: %d registers, %dx%d", r.caps.color_registers, r.caps.max_sixel_w,
       r.caps.max_sixel_h);
    ok(has(r.got, r.ngot, "\033[16t") && has(r.got, r.ngot, "\033[14t") &&
           has(r.got, r.ngot, "\033[?1;1;0S") && has(r.got, r.ngot, "\033[?2;1;0S") &&
           r.ngot >= 3 && memcmp(r.got + r.ngot - 3, "\033[c", 3) == 0,
       "  asked for cell size, text area, XTSMGRAPHICS, and DA1 last");
    ok(r.restored && r.clean, "  terminal mode restored, no reply byte left or echoed");
    ok(r.seconds < 1.0, "  the DA1 reply ends the wait (%.3f s)", r.seconds);
    is_int(preview_choose(&r.caps, PREVIEW_AUTO), PREVIEW_SIXEL, "  auto chooses sixel");

    r = run_probe("\033[?62;22c", 0, 0, false, 2000, NULL);
    ok(r.caps.answered && !r.caps.sixel && r.clean, "terminal without sixel: answered, no sixel");
    is_int(preview_choose(&r.caps, PREVIEW_AUTO), PREVIEW_BLOCKS, "  auto chooses blocks");

    struct winsize wpx = {.ws_row = 24, .ws_col = 80, .ws_xpixel = 800, .ws_ypixel = 480};
    r = run_probe("\033[?62;4c", 0, 0, false, 2000, &wpx);
    ok(r.caps.cell_w == 10 && r.caps.cell_h == 20 && !has(r.got, r.ngot, "\033[16t"),
       "cell size from TIOCGWINSZ; CSI 16 t not sent");

    r = run_probe("\033[4;600;1040t\033[?62;4c", 0, 0, false, 2000, NULL);
    ok(r.caps.cell_w == 13 && r.caps.cell_h == 25,
       "cell size from CSI 14 t's text area / 80x24: %dx%d", r.caps.cell_w, r.caps.cell_h);

    r = run_probe(NULL, 0, 0, true, 300, NULL);
    ok(!r.caps.answered && !r.caps.sixel && r.seconds >= 0.28 && r.seconds < 1.5,
       "a terminal that never answers: gives up after the timeout (%.3f s)", r.seconds);
    ok(r.restored && r.clean, "  terminal mode restored, nothing left");
    is_int(preview_choose(&r.caps, PREVIEW_AUTO), PREVIEW_BLOCKS, "  auto chooses blocks");

    setenv("GLIMPSE_PREVIEW_TIMEOUT", "150", 1);
    r = run_probe(NULL, 0, 0, true, 5000, NULL);
    ok(!r.caps.answered && r.seconds < 1.0,
       "GLIMPSE_PREVIEW_TIMEOUT=150 overrides a 5 s timeout (%.3f s)", r.seconds);
    setenv("GLIMPSE_PREVIEW_TIMEOUT", "0", 1);
    r = run_probe("\033[?62;4c", 0, 0, false, 5000, NULL);
    ok(!r.caps.answered && r.ngot == 0 && r.seconds < 0.5,
       "GLIMPSE_PREVIEW_TIMEOUT=0: the terminal is not asked");
    unsetenv("GLIMPSE_PREVIEW_TIMEOUT");

    r = run_probe("\033[?62;4c", 400, 0, false, 1500, NULL);
    ok(r.caps.answered && r.caps.sixel && r.seconds >= 0.38 && r.clean,
       "a slow link (reply after 0.4 s) is waited for (%.3f s)", r.seconds);

    r = run_probe("xyz\033[999;;;q\033]0;title\a\033P1$r0m\033\\\033[?1;0;256S\033[6;abc\033[?65;4;1c",
                  0, 1, false, 3000, NULL);
    ok(r.caps.answered && r.caps.sixel && r.caps.color_registers == 256 && r.caps.cell_w == 0,
       "garbage around the replies, sent one byte at a time: parsed");
    ok(r.restored && r.clean, "  nothing left unread");

    r = run_probe("\033[?62;4c\033[?62;4c\033[?1;0;64S", 0, 0, false, 2000, NULL);
    ok(r.caps.answered && r.clean, "bytes after the DA1 reply in the same burst are drained");

    /* tmux, faked through PATH */
    const char *tmp = tap_tmpdir();
    char bindir[4096], script[4200], mark[4200], body[9000];
    snprintf(bindir, sizeof bindir, "%s/preview_fakebin.%d", tmp, (int)getpid());
    mkdir(bindir, 0755);
    snprintf(script, sizeof script, "%s/tmux", bindir);
    snprintf(mark, sizeof mark, "%s/ran", bindir);
    const char *old_path = getenv("PATH");
    char *path = malloc(strlen(bindir) + strlen(old_path ? old_path : "") + 2);
    sprintf(path, "%s:%s", bindir, old_path ? old_path : "/usr/bin:/bin");
    char *saved_path = strdup(old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    setenv("TMUX", "/tmp/tmux-fake/default,1234,0", 1);
    setenv("TMUX_PANE", "%3", 1);

    snprintf(body, sizeof body,
             "#!/bin/sh\necho \"$*\" > '%s'\n"
             "case \"$*\" in *-t\\ %%3*allow-passthrough*) echo 1;; *) echo 0;; esac\n",
             mark);
    write_script(script, body);
    unlink(mark);
    r = run_probe("\033[?1;2c", 0, 0, false, 2000, NULL);
    ok(r.caps.in_tmux && r.caps.answered && !r.caps.sixel && r.caps.tmux_passthrough,
       "tmux with allow-passthrough on (asked for our pane)");
    is_int(preview_choose(&r.caps, PREVIEW_AUTO), PREVIEW_SIXEL, "  auto: sixel through tmux");
    ok(r.clean, "  nothing left unread");

    snprintf(body, sizeof body, "#!/bin/sh\necho \"$*\" > '%s'\necho 0\n", mark);
    write_script(script, body);
    r = run_probe("\033[?1;2c", 0, 0, false, 2000, NULL);
    ok(r.caps.in_tmux && !r.caps.tmux_passthrough, "tmux with allow-passthrough off");
    is_int(preview_choose(&r.caps, PREVIEW_AUTO), PREVIEW_BLOCKS, "  auto: blocks");
    is_int(preview_choose(&r.caps, PREVIEW_SIXEL), PREVIEW_BLOCKS, "  sixel asked: blocks");

    unlink(mark);
    r = run_probe("\033[?1;2;4c", 0, 0, false, 2000, NULL);
    ok(r.caps.in_tmux && r.caps.sixel && access(mark, F_OK) != 0,
       "tmux that draws sixel itself (3.4+): direct, tmux not even asked");

    write_script(script, "#!/bin/sh\nexec sleep 5\n");
    r = run_probe("\033[?1;2c", 0, 0, false, 300, NULL);
    ok(!r.caps.tmux_passthrough && r.seconds < 1.5,
       "a tmux command that hangs is given up on (%.3f s)", r.seconds);

    unlink(script);
    r = run_probe("\033[?1;2c", 0, 0, false, 300, NULL);
    ok(r.caps.in_tmux && !r.caps.tmux_passthrough,
       "a tmux that cannot reach its server (or none at all): no passthrough");
    unlink(mark);
    rmdir(bindir);
    setenv("PATH", saved_path, 1);
    free(saved_path);
    free(path);
    unsetenv("TMUX");
    unsetenv("TMUX_PANE");

    setenv("STY", "1234.pts-0.host", 1);
    r = run_probe("\033[?1;2c", 0, 0, false, 2000, NULL);
    ok(r.caps.in_screen && preview_choose(&r.caps, PREVIEW_AUTO) == PREVIEW_BLOCKS &&
           preview_choose(&r.caps, PREVIEW_SIXEL) == PREVIEW_SIXEL,
       "GNU screen: auto gives blocks, sixel asked goes through screen");
    unsetenv("STY");

    /* not a terminal: the environment only, at once */
    int p[2];
    if (pipe(p) == 0) {
        setenv("COLORTERM", "truecolor", 1);
        setenv("NO_COLOR", "1", 1);
        struct preview_caps c;
        double t0 = now_s();
        preview_probe(p[0], p[1], 2000, &c);
        ok(!c.answered && c.truecolor && c.no_color && now_s() - t0 < 0.1,
           "a pipe: not probed; COLORTERM and NO_COLOR read");
        close(p[0]);
        close(p[1]);
        reset_env();
    }
}

int main(void)
{
    /* wcwidth needs a UTF-8 locale; the probe reads it too. */
    if (!setlocale(LC_ALL, "C.UTF-8"))
        setlocale(LC_ALL, "");
    reset_env();
    test_modes();
    test_parser();
    test_blocks();
    test_sixel_decoder();
    test_sixel_frames();
    test_sixel_photos();
    test_probe();
    return tap_done();
}
