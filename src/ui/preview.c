/*
 * preview.c - the image in the terminal: ask the terminal what it can draw
 * (DA1, XTSMGRAPHICS, cell size; tmux and screen), scale the picture to the
 * pane and encode it as sixel (libsixel), Unicode half blocks or ASCII; and
 * `glimpse --show`.
 *
 * The only file that includes <sixel.h>: libsixel 1.10's header defines
 * PACKAGE_VERSION over config.h's, so it is included last and glimpse's own
 * version lives in GL_VERSION. PACKAGE_VERSION is never used here.
 *
 * Sections: small helpers - modes - environment - reply parser - probe -
 * scaling - sixel - blocks and ascii - render - --show.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "glimpse/image.h"
#include "preview.h"
#include "util.h"

/* Last, and without config.h's PACKAGE_VERSION, which <sixel.h> defines
 * again (a redefinition warning otherwise); nothing here uses it. */
#undef PACKAGE_VERSION
#include <sixel.h>

extern char **environ;

/* Used when the terminal does not say: a common cell of 10 x 20 pixels. */
#define DEFAULT_CELL_W 10
#define DEFAULT_CELL_H 20
/* Limits on what we render, whatever the caller or the terminal claims. */
#define MAX_CELLS 4096          /* cols or rows */
#define MAX_SIXEL_SIDE 4096     /* pixels */
/* tmux drops a DCS string longer than 1 MiB (INPUT_BUF_LIMIT): stay below. */
#define TMUX_MAX_DCS 900000
/* GNU screen keeps a DCS string in a small buffer: 768 bytes in old
 * versions. Our chunks, framing included, stay well under that. */
#define SCREEN_CHUNK 512

/* ================================================================ helpers */

/* A growable byte buffer: a whole frame is built here and written at once. */
struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const void *d, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_free(struct sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* write() all of it, retrying on EINTR and short writes. 0, or -1 (errno). */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                poll(&pf, 1, 100);
                continue;
            }
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

/* ================================================================ modes */

static const char *const mode_names[] = {
    [PREVIEW_AUTO] = "auto",
    [PREVIEW_SIXEL] = "sixel",
    [PREVIEW_BLOCKS] = "blocks",
    [PREVIEW_ASCII] = "ascii",
    [PREVIEW_NONE] = "none",
};

const char *preview_mode_name(enum preview_mode m)
{
    if ((unsigned)m < sizeof mode_names / sizeof mode_names[0])
        return mode_names[m];
    return "?";
}

int preview_mode_parse(const char *s, enum preview_mode *out)
{
    if (!s)
        return -1;
    for (unsigned i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (enum preview_mode)i;
            return 0;
        }
    }
    return -1;
}

enum preview_mode preview_choose(const struct preview_caps *caps, enum preview_mode requested)
{
    /* Sixel that will show: the terminal (or tmux itself) said so, or tmux
     * passes it through to a terminal the user turned passthrough on for. */
    bool sixel_known = caps->sixel || (caps->in_tmux && caps->tmux_passthrough);
    /* Sixel nobody said no to: honoured only when asked for by name. A
     * terminal (or tmux) that answered without sixel said no; one that was
     * not asked (output to a pipe) or did not answer did not. */
    bool sixel_allowed = sixel_known || caps->in_screen || !caps->answered;
    bool blocks_ok = caps->utf8 && !caps->no_color;
    enum preview_mode text = blocks_ok ? PREVIEW_BLOCKS : PREVIEW_ASCII;

    switch (requested) {
    case PREVIEW_AUTO:
        return sixel_known ? PREVIEW_SIXEL : text;
    case PREVIEW_SIXEL:
        return sixel_allowed ? PREVIEW_SIXEL : text;
    case PREVIEW_BLOCKS:
        return text;
    case PREVIEW_ASCII:
        return PREVIEW_ASCII;
    case PREVIEW_NONE:
    default:
        return PREVIEW_NONE;
    }
}

/* ================================================================ environment */

/* Is the terminal's charset UTF-8? The locale says, once the program has
 * set it; before that (LC_CTYPE still "C") the environment says what the
 * program would get. */
static bool locale_is_utf8(void)
{
    const char *cur = setlocale(LC_CTYPE, NULL);
    if (cur && strcmp(cur, "C") != 0 && strcmp(cur, "POSIX") != 0) {
        const char *cs = nl_langinfo(CODESET);
        return cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0);
    }
    const char *v = getenv("LC_ALL");
    if (!v || !*v)
        v = getenv("LC_CTYPE");
    if (!v || !*v)
        v = getenv("LANG");
    return v && (strcasestr(v, "utf-8") || strcasestr(v, "utf8"));
}

/* Terminals known to have 256 colours even when TERM does not say "256". */
static bool term_has_256(const char *term)
{
    static const char *const names[] = {"256", "kitty", "alacritty", "foot", "wezterm",
                                        "ghostty", "direct", "iterm", "contour"};
    if (!term)
        return false;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strstr(term, names[i]))
            return true;
    return false;
}

static void caps_from_env(struct preview_caps *c)
{
    memset(c, 0, sizeof *c);
    c->color_registers = 256;
    const char *term = getenv("TERM");
    const char *ct = getenv("COLORTERM");
    c->truecolor = ct && (strcasecmp(ct, "truecolor") == 0 || strcasecmp(ct, "24bit") == 0);
    c->colors256 = c->truecolor || (ct && *ct) || term_has_256(term);
    c->in_tmux = env_set("TMUX");
    c->in_screen = env_set("STY");
    c->no_color = env_set("NO_COLOR") || (term && strcmp(term, "dumb") == 0);
    c->utf8 = locale_is_utf8();
}

/* ================================================================ reply parser */

/* One control sequence: ESC [ prefix? params intermediates? final. */
#define CSI_MAX_PARAMS 16
struct csi {
    char prefix;                /* '?', '>', '=', '<' or 0 */
    int n;                      /* number of params seen */
    long p[CSI_MAX_PARAMS];     /* each saturates at CSI_PARAM_MAX; empty = 0 */
    char final;
};
#define CSI_PARAM_MAX 1000000000L

/* Parse a CSI whose parameters start at buf[i]. Returns the index after the
 * final byte, or 0 when the sequence is incomplete (ran out of bytes) or
 * broken (then *stop is where scanning should resume). */
static size_t parse_csi(const char *buf, size_t len, size_t i, struct csi *c, size_t *stop)
{
    memset(c, 0, sizeof *c);
    *stop = len;
    if (i < len && (buf[i] == '?' || buf[i] == '>' || buf[i] == '=' || buf[i] == '<'))
        c->prefix = buf[i++];
    bool any = false;
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch >= '0' && ch <= '9') {
            if (!any) {
                if (c->n < CSI_MAX_PARAMS)
                    c->p[c->n] = 0;
                any = true;
            }
            if (c->n < CSI_MAX_PARAMS) {
                long v = c->p[c->n] * 10 + (ch - '0');
                c->p[c->n] = v > CSI_PARAM_MAX ? CSI_PARAM_MAX : v;
            }
        } else if (ch == ';' || ch == ':') {
            if (c->n < CSI_MAX_PARAMS && !any)
                c->p[c->n] = 0;
            c->n++;
            any = false;
        } else if (ch >= 0x20 && ch <= 0x2f) {
            /* intermediates: none of our replies has one; skip them */
        } else if (ch >= 0x40 && ch <= 0x7e) {
            if (any || c->n > 0)
                c->n++;
            if (c->n > CSI_MAX_PARAMS)
                c->n = CSI_MAX_PARAMS;
            c->final = (char)ch;
            return i + 1;
        } else {
            /* not part of a CSI (ESC, control, high byte): abandon it here */
            *stop = i;
            return 0;
        }
    }
    return 0;
}

/* Skip a string sequence (DCS, OSC, APC, PM, SOS) starting after its
 * introducer at buf[i]: up to BEL or ST. Returns the index after it, or len. */
static size_t skip_string(const char *buf, size_t len, size_t i)
{
    for (; i < len; i++) {
        if (buf[i] == '\a')
            return i + 1;
        if (buf[i] == 0x1b && i + 1 < len && buf[i + 1] == '\\')
            return i + 2;
    }
    return len;
}

static void apply_csi(const struct csi *c, struct preview_caps *caps)
{
    if (c->final == 'c' && c->prefix == '?') {
        /* DA1: CSI ? class ; attr ; ... c. Attribute 4 is sixel; the first
         * number is the device class (a VT132 says 4 there), so skip it. */
        caps->answered = true;
        for (int k = 1; k < c->n; k++)
            if (c->p[k] == 4)
                caps->sixel = true;
    } else if (c->final == 'S' && c->prefix == '?' && c->n >= 3 && c->p[1] == 0) {
        /* XTSMGRAPHICS: CSI ? item ; status ; value... S (status 0 = ok) */
        if (c->p[0] == 1 && c->p[2] >= 1 && c->p[2] <= 65536)
            caps->color_registers = (int)c->p[2];
        else if (c->p[0] == 2 && c->n >= 4 && c->p[2] >= 1 && c->p[2] <= 65535 &&
                 c->p[3] >= 1 && c->p[3] <= 65535) {
            caps->max_sixel_w = (int)c->p[2];
            caps->max_sixel_h = (int)c->p[3];
        }
    } else if (c->final == 't' && c->prefix == 0 && c->n >= 3) {
        /* CSI 6 ; h ; w t: cell size; CSI 4 ; h ; w t: text area size */
        if (c->p[0] == 6 && c->p[1] >= 1 && c->p[1] <= 512 && c->p[2] >= 1 && c->p[2] <= 512) {
            caps->cell_h = (int)c->p[1];
            caps->cell_w = (int)c->p[2];
        } else if (c->p[0] == 4 && c->p[1] >= 1 && c->p[1] <= 100000 && c->p[2] >= 1 &&
                   c->p[2] <= 100000) {
            caps->win_h = (int)c->p[1];
            caps->win_w = (int)c->p[2];
        }
    }
}

void preview_parse_replies(const char *buf, size_t len, struct preview_caps *caps)
{
    size_t i = 0;
    while (i < len) {
        if (buf[i] != 0x1b) {
            i++;
            continue;
        }
        if (i + 1 >= len)
            break;
        char k = buf[i + 1];
        if (k == '[') {
            struct csi c;
            size_t stop;
            size_t next = parse_csi(buf, len, i + 2, &c, &stop);
            if (next) {
                apply_csi(&c, caps);
                i = next;
            } else {
                i = stop > i ? stop : i + 1;
            }
        } else if (k == 'P' || k == ']' || k == '_' || k == '^' || k == 'X') {
            i = skip_string(buf, len, i + 2);
        } else {
            i += 2;
        }
    }
}

/* ================================================================ probe */

/* Read the terminal's replies until DA1's arrives or the time is up. */
static void read_replies(int fd, int timeout_ms, struct preview_caps *caps)
{
    char buf[4096];
    size_t n = 0;
    double t_end = gl_now() + timeout_ms / 1000.0;

    for (;;) {
        double left = t_end - gl_now();
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, (int)(left * 1000.0) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t k = read(fd, buf + n, sizeof buf - n);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            break;              /* hang-up or error */
        n += (size_t)k;
        /* Parsing the whole buffer again is cheap and handles replies that
         * arrive split over several reads. */
        preview_parse_replies(buf, n, caps);
        if (caps->answered)
            break;
        if (n == sizeof buf) {
            /* A flood of something else: keep the newer half. */
            memmove(buf, buf + n / 2, n - n / 2);
            n -= n / 2;
        }
    }
    if (caps->answered) {
        /* DA1 came last, so everything else is in; take what is queued. */
        for (;;) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, 0) <= 0 || !(pf.revents & POLLIN))
                break;
            if (read(fd, buf, sizeof buf) <= 0)
                break;
        }
    }
}

/* Is tmux's allow-passthrough on for our pane? Runs tmux with a deadline;
 * a tmux that hangs is killed. */
static bool tmux_passthrough_on(int timeout_ms)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return false;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    const char *pane = getenv("TMUX_PANE");
    char *argv[8];
    int a = 0;
    argv[a++] = "tmux";
    argv[a++] = "display-message";
    argv[a++] = "-p";
    if (pane && *pane) {
        argv[a++] = "-t";
        argv[a++] = (char *)pane;
    }
    argv[a++] = "#{allow-passthrough}";
    argv[a] = NULL;
    pid_t pid;
    int rc = posix_spawnp(&pid, "tmux", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        return false;
    }

    char out[64];
    size_t n = 0;
    bool eof = false;
    double t_end = gl_now() + timeout_ms / 1000.0;
    while (!eof) {
        double left = t_end - gl_now();
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&pf, 1, (int)(left * 1000.0) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t k = read(pfd[0], out + n, sizeof out - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            eof = true;
        else
            n += (size_t)k;
        if (n == sizeof out - 1)
            break;
    }
    close(pfd[0]);
    if (!eof)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    out[n] = 0;
    if (!eof)
        return false;
    out[strcspn(out, "\r\n")] = 0;
    /* tmux 3.3 prints its flag as 1/0; 3.4 has on/off/all. */
    return strcmp(out, "1") == 0 || strcmp(out, "on") == 0 || strcmp(out, "all") == 0 ||
           strcmp(out, "2") == 0;
}

/* Block the signals that end or stop a process (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGTSTP); *prev gets the mask to put back. */
static void hold_signals(sigset_t *hold, sigset_t *prev)
{
    sigemptyset(hold);
    sigaddset(hold, SIGINT);
    sigaddset(hold, SIGTERM);
    sigaddset(hold, SIGHUP);
    sigaddset(hold, SIGQUIT);
    sigaddset(hold, SIGTSTP);
    pthread_sigmask(SIG_BLOCK, hold, prev);
}

int preview_probe(int in_fd, int out_fd, int timeout_ms, struct preview_caps *caps)
{
    caps_from_env(caps);
    const char *env = getenv("GLIMPSE_PREVIEW_TIMEOUT");
    if (env && *env) {
        char *end;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (!errno && !*end && v >= 0 && v <= 60000)
            timeout_ms = (int)v;
    }
    if (timeout_ms < 0)
        timeout_ms = PREVIEW_DEFAULT_TIMEOUT_MS;
    if (!isatty(in_fd) || !isatty(out_fd))
        return 0;

    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    if (ioctl(out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row && ws.ws_xpixel &&
        ws.ws_ypixel && ws.ws_xpixel / ws.ws_col > 0 && ws.ws_ypixel / ws.ws_row > 0) {
        caps->cell_w = ws.ws_xpixel / ws.ws_col;
        caps->cell_h = ws.ws_ypixel / ws.ws_row;
    }

    struct termios saved, raw;
    if (timeout_ms > 0 && tcgetattr(in_fd, &saved) == 0) {
        /* A signal while the terminal is raw would leave it raw (no echo)
         * for the shell: hold the ones that end or stop the process until
         * it is restored - at most the timeout. */
        sigset_t hold, prev;
        hold_signals(&hold, &prev);
        raw = saved;
        /* No echo, no line editing, no signals: the replies must neither show
         * nor wait for a newline, and Ctrl-C must not leave the tty raw. */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
        raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR | ISTRIP);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(in_fd, TCSANOW, &raw) == 0) {
            char q[96];
            size_t qn = 0;
            q[0] = 0;
            if (!caps->cell_w)
                strcat(q, "\033[16t\033[14t");  /* cell size; text area size */
            strcat(q, "\033[?1;1;0S"                /* XTSMGRAPHICS: colour registers */
                      "\033[?2;1;0S"                /* XTSMGRAPHICS: sixel geometry */
                      "\033[c");                    /* DA1, last: its reply ends the wait */
            qn = strlen(q);
            if (write_all(out_fd, q, qn) == 0)
                read_replies(in_fd, timeout_ms, caps);
            if (!caps->answered)
                tcflush(in_fd, TCIFLUSH);   /* whatever came, or comes late */
            tcsetattr(in_fd, TCSANOW, &saved);
        }
        pthread_sigmask(SIG_SETMASK, &prev, NULL);
    }

    if (!caps->cell_w && caps->win_w && caps->win_h && ws.ws_col && ws.ws_row &&
        caps->win_w / ws.ws_col > 0 && caps->win_h / ws.ws_row > 0) {
        caps->cell_w = caps->win_w / ws.ws_col;
        caps->cell_h = caps->win_h / ws.ws_row;
    }
    if (caps->in_tmux && !caps->sixel)
        caps->tmux_passthrough =
            tmux_passthrough_on(timeout_ms > 0 ? timeout_ms : PREVIEW_DEFAULT_TIMEOUT_MS);
    return 0;
}

/* ================================================================ scaling */

/* Taps of a 1-D resampling: output o reads src[idx[o*k + t]] * wt[o*k + t]. */
struct taps {
    int k;
    int *idx;
    float *wt;
};

/* Shrinking: each output averages the source interval it covers, partial
 * pixels weighted by coverage (area averaging). Enlarging: linear
 * interpolation between the two nearest source centres. */
static int taps_make(struct taps *t, int src, int dst)
{
    double s = (double)src / dst;
    t->k = src > dst ? (int)ceil(s) + 1 : 2;
    t->idx = calloc((size_t)dst * (size_t)t->k, sizeof *t->idx);
    t->wt = calloc((size_t)dst * (size_t)t->k, sizeof *t->wt);
    if (!t->idx || !t->wt)
        return -1;
    for (int o = 0; o < dst; o++) {
        int *ix = t->idx + (size_t)o * (size_t)t->k;
        float *w = t->wt + (size_t)o * (size_t)t->k;
        if (src > dst) {
            double x0 = o * s, x1 = (o + 1) * s;
            int first = (int)floor(x0);
            for (int j = 0; j < t->k; j++) {
                int i = first + j;
                double lo = i > x0 ? i : x0, hi = i + 1 < x1 ? i + 1 : x1;
                ix[j] = i < src ? i : src - 1;
                w[j] = hi > lo && i < src ? (float)((hi - lo) / s) : 0.0f;
            }
        } else {
            double c = (o + 0.5) * s - 0.5;
            int i0 = (int)floor(c);
            double f = c - i0;
            int a = i0 < 0 ? 0 : i0, b = i0 + 1 > src - 1 ? src - 1 : i0 + 1;
            ix[0] = a > src - 1 ? src - 1 : a;
            ix[1] = b < 0 ? 0 : b;
            w[0] = (float)(1.0 - f);
            w[1] = (float)f;
        }
    }
    return 0;
}

static void taps_free(struct taps *t)
{
    free(t->idx);
    free(t->wt);
}

/* Resample src (sw x sh, RGB8 HWC) into a malloc'd dw x dh RGB8 image, one
 * output row at a time (no full-size intermediate). NULL on OOM. */
static uint8_t *scale_rgb(const uint8_t *src, int sw, int sh, int dw, int dh)
{
    struct taps tx = {0}, ty = {0};
    uint8_t *dst = malloc((size_t)dw * (size_t)dh * 3);
    float *acc = malloc((size_t)dw * 3 * sizeof *acc);
    if (!dst || !acc || taps_make(&tx, sw, dw) || taps_make(&ty, sh, dh))
        goto fail;
    for (int oy = 0; oy < dh; oy++) {
        memset(acc, 0, (size_t)dw * 3 * sizeof *acc);
        for (int jy = 0; jy < ty.k; jy++) {
            float wy = ty.wt[(size_t)oy * (size_t)ty.k + (size_t)jy];
            if (wy == 0.0f)
                continue;
            const uint8_t *row = src + (size_t)ty.idx[(size_t)oy * (size_t)ty.k + (size_t)jy] *
                                           (size_t)sw * 3;
            for (int ox = 0; ox < dw; ox++) {
                float r = 0, g = 0, b = 0;
                for (int jx = 0; jx < tx.k; jx++) {
                    size_t t = (size_t)ox * (size_t)tx.k + (size_t)jx;
                    const uint8_t *px = row + (size_t)tx.idx[t] * 3;
                    float w = tx.wt[t];
                    r += w * px[0];
                    g += w * px[1];
                    b += w * px[2];
                }
                acc[ox * 3 + 0] += wy * r;
                acc[ox * 3 + 1] += wy * g;
                acc[ox * 3 + 2] += wy * b;
            }
        }
        uint8_t *out = dst + (size_t)oy * (size_t)dw * 3;
        for (int i = 0; i < dw * 3; i++) {
            float v = acc[i] + 0.5f;
            out[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    }
    free(acc);
    taps_free(&tx);
    taps_free(&ty);
    return dst;
fail:
    free(dst);
    free(acc);
    taps_free(&tx);
    taps_free(&ty);
    return NULL;
}

/* Fit w x h into a box of bw x bh units, a unit being ux wide and uy tall
 * in the same physical measure (a half block is cell_w x cell_h/2). */
static void fit_box(int w, int h, int bw, int bh, double ux, double uy, int *ow, int *oh)
{
    double units_tall_per_wide = (double)h * ux / ((double)w * uy);
    double th = bw * units_tall_per_wide;
    int tw = bw;
    if (th > bh) {
        th = bh;
        double x = bh / units_tall_per_wide;
        tw = x > bw ? bw : (int)lround(x);
    }
    int ih = (int)lround(th);
    *ow = tw < 1 ? 1 : tw;
    *oh = ih < 1 ? 1 : ih > bh ? bh : ih;
}

/* ================================================================ sixel */

static int sixel_sink(char *data, int size, void *priv)
{
    sb_put(priv, data, size > 0 ? (size_t)size : 0);
    return 0;
}

/* libsixel builds its palette from a histogram that keeps only the top bits
 * of each channel, so a white background comes out as (247,247,247). Move
 * every entry to the mean of the pixels nearest to it (one k-means step):
 * flat areas get their exact colour back (a diagram's mean error falls
 * from 7 to under 1), and photos gain a little too (10-20%). Nearest entries are remembered in a small
 * direct-mapped cache keyed by the exact colour. */
#define NEAR_CACHE_BITS 16
static int refine_palette(sixel_dither_t *dither, const uint8_t *px, size_t npx)
{
    int nc = sixel_dither_get_num_of_palette_colors(dither);
    unsigned char *pal = sixel_dither_get_palette(dither);
    if (nc < 1 || nc > 256 || !pal)
        return 0;
    const size_t ncache = (size_t)1 << NEAR_CACHE_BITS;
    uint32_t *ckey = malloc(ncache * sizeof *ckey);        /* 0x00RRGGBB, or ~0 = empty */
    uint8_t *cidx = malloc(ncache);
    double (*sum)[4] = calloc((size_t)nc, sizeof *sum);    /* r, g, b, count */
    if (!ckey || !cidx || !sum) {
        free(ckey);
        free(cidx);
        free(sum);
        return -1;
    }
    memset(ckey, 0xff, ncache * sizeof *ckey);
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *p = px + i * 3;
        uint32_t key = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        size_t slot = (key * 2654435761u) >> (32 - NEAR_CACHE_BITS);
        if (ckey[slot] != key) {
            int best = 0, bd = INT_MAX;
            for (int k = 0; k < nc; k++) {
                int dr = p[0] - pal[k * 3], dg = p[1] - pal[k * 3 + 1], db = p[2] - pal[k * 3 + 2];
                int d = dr * dr + dg * dg + db * db;
                if (d < bd) {
                    bd = d;
                    best = k;
                }
            }
            ckey[slot] = key;
            cidx[slot] = (uint8_t)best;
        }
        double *s = sum[cidx[slot]];
        s[0] += p[0];
        s[1] += p[1];
        s[2] += p[2];
        s[3] += 1;
    }
    unsigned char newpal[256 * 3];
    for (int k = 0; k < nc; k++) {
        for (int c = 0; c < 3; c++)
            newpal[k * 3 + c] =
                sum[k][3] > 0 ? (unsigned char)(sum[k][c] / sum[k][3] + 0.5) : pal[k * 3 + c];
    }
    sixel_dither_set_palette(dither, newpal);
    free(ckey);
    free(cidx);
    free(sum);
    return 0;
}

/* When the picture has at most max colours (greyscale photos, diagrams,
 * screenshots), collect them into pal, write each pixel's palette index to
 * idx and return how many colours; else 0. Such a picture needs neither a
 * palette search nor dithering: it is drawn exactly. */
static int exact_palette(const uint8_t *px, size_t npx, int max, unsigned char *pal,
                         uint8_t *idx)
{
    enum { SLOTS = 1024 };      /* > 2 * 256: short probe chains */
    uint32_t set[SLOTS];
    uint8_t at[SLOTS];
    memset(set, 0xff, sizeof set);
    int n = 0;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *p = px + i * 3;
        uint32_t key = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        size_t slot = (key * 2654435761u) >> 22;
        while (set[slot] != key && set[slot] != UINT32_MAX)
            slot = (slot + 1) % SLOTS;
        if (set[slot] != key) {
            if (n == max)
                return 0;
            set[slot] = key;
            at[slot] = (uint8_t)n;
            memcpy(pal + n * 3, p, 3);
            n++;
        }
        idx[i] = at[slot];
    }
    return n;
}

/* Encode px (w x h RGB8; libsixel diffuses into it in place) as one sixel
 * DCS string appended to sb. */
static int sixel_encode_rgb(uint8_t *px, int w, int h, int ncolors, struct sbuf *sb, char **err)
{
    sixel_output_t *out = NULL;
    sixel_dither_t *dither = NULL;
    SIXELSTATUS st = sixel_output_new(&out, sixel_sink, sb, NULL);
    if (SIXEL_FAILED(st))
        goto fail;
    sixel_output_set_8bit_availability(out, 0);      /* 7-bit ESC P / ESC \ */
    sixel_output_set_penetrate_multiplexer(out, 0);  /* we wrap for tmux/screen */
    sixel_output_set_encode_policy(out, SIXEL_ENCODEPOLICY_SIZE); /* fewer bytes over SSH */
    unsigned char pal[256 * 3];
    uint8_t *idx = malloc((size_t)w * (size_t)h);
    if (!idx) {
        st = SIXEL_BAD_ALLOCATION;
        goto fail;
    }
    /* Many exact colours make a sixel large (each colour of a six-row band
     * is a run of its own): past 64, dithering looks the same for less. */
    int nexact = exact_palette(px, (size_t)w * (size_t)h, ncolors < 64 ? ncolors : 64, pal, idx);
    if (nexact >= 2) {
        /* Hand libsixel the indexed picture (PAL8) with our palette. */
        st = sixel_dither_new(&dither, nexact, NULL);
        if (SIXEL_FAILED(st)) {
            free(idx);
            goto fail;
        }
        sixel_dither_set_palette(dither, pal);
        sixel_dither_set_pixelformat(dither, SIXEL_PIXELFORMAT_PAL8);
        st = sixel_encode(idx, w, h, 8, dither, out);
        free(idx);
        if (SIXEL_FAILED(st))
            goto fail;
    } else {
        free(idx);
        st = sixel_dither_new(&dither, ncolors, NULL);
        if (SIXEL_FAILED(st))
            goto fail;
        st = sixel_dither_initialize(dither, px, w, h, SIXEL_PIXELFORMAT_RGB888,
                                     SIXEL_LARGE_AUTO, SIXEL_REP_AUTO, SIXEL_QUALITY_HIGH);
        if (SIXEL_FAILED(st))
            goto fail;
        if (refine_palette(dither, px, (size_t)w * (size_t)h) != 0) {
            st = SIXEL_BAD_ALLOCATION;
            goto fail;
        }
        /* Floyd-Steinberg: the smoothest of libsixel's diffusions on photos. */
        sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_FS);
        st = sixel_encode(px, w, h, 3, dither, out);
        if (SIXEL_FAILED(st))
            goto fail;
    }
    sixel_dither_unref(dither);
    sixel_output_unref(out);
    if (sb->oom)
        return gl_err(err, "preview: out of memory encoding a %dx%d sixel", w, h);
    return 0;
fail:
    if (dither)
        sixel_dither_unref(dither);
    if (out)
        sixel_output_unref(out);
    return gl_err(err, "preview: libsixel: %s", sixel_helper_format_error(st));
}

/* tmux passthrough: ESC P tmux; <payload, every ESC doubled> ESC \ */
static void wrap_tmux(struct sbuf *dst, const char *p, size_t n)
{
    sb_str(dst, "\033Ptmux;");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0x1b) {
            sb_put(dst, p + run, i - run);
            sb_str(dst, "\033\033");
            run = i + 1;
        }
    }
    sb_put(dst, p + run, n - run);
    sb_str(dst, "\033\\");
}

/* GNU screen passthrough: screen hands the body of each DCS string to the
 * terminal outside, so the payload goes in pieces of ESC P <piece> ESC \.
 * A piece must not contain ESC \ (it would end the piece): a payload ESC
 * followed by '\' is split so that the ESC ends one piece and the '\'
 * starts the next; screen passes an ESC that is not followed by '\'. */
static void wrap_screen(struct sbuf *dst, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = n - i < SCREEN_CHUNK ? n - i : SCREEN_CHUNK;
        for (size_t j = i; j < i + len; j++) {
            if (p[j] == 0x1b && j + 1 < n && p[j + 1] == '\\') {
                len = j + 1 - i;        /* end the piece on this ESC */
                break;
            }
        }
        sb_str(dst, "\033P");
        sb_put(dst, p + i, len);
        sb_str(dst, "\033\\");
        i += len;
    }
}

static int render_sixel(const struct preview_caps *caps, const uint8_t *rgb, int w, int h,
                        int cols, int rows, int cw, int ch, unsigned flags,
                        struct preview_frame *out, char **err)
{
    int max_w = MAX_SIXEL_SIDE, max_h = MAX_SIXEL_SIDE;
    if (caps->max_sixel_w > 0 && caps->max_sixel_w < max_w)
        max_w = caps->max_sixel_w;
    if (caps->max_sixel_h > 0 && caps->max_sixel_h < max_h)
        max_h = caps->max_sixel_h;
    int bw = cols * cw, bh = rows > 0 ? rows * ch : max_h;
    if (bw > max_w)
        bw = max_w;
    if (bh > max_h)
        bh = max_h;
    int ncolors = caps->color_registers > 0 ? caps->color_registers : 256;
    ncolors = ncolors > 256 ? 256 : ncolors < 2 ? 2 : ncolors;
    bool tmux_wrap = caps->in_tmux && !caps->sixel && caps->tmux_passthrough;
    bool screen_wrap = !tmux_wrap && caps->in_screen && !caps->sixel;

    struct sbuf six = {0}, fr = {0};
    int sw, sh;
    fit_box(w, h, bw, bh, 1.0, 1.0, &sw, &sh);
    for (int attempt = 0;; attempt++) {
        uint8_t *px = scale_rgb(rgb, w, h, sw, sh);
        if (!px)
            return gl_err(err, "preview: out of memory scaling to %dx%d", sw, sh);
        int rc = sixel_encode_rgb(px, sw, sh, ncolors, &six, err);
        free(px);
        if (rc) {
            sb_free(&six);
            return -1;
        }
        /* tmux drops a DCS string over 1 MiB, ours or passed through. */
        if (!caps->in_tmux || six.n + six.n / 8 < TMUX_MAX_DCS || attempt == 5 ||
            (sw < 16 && sh < 16))
            break;
        six.n = 0;
        sw = sw * 3 / 4 > 0 ? sw * 3 / 4 : 1;
        sh = sh * 3 / 4 > 0 ? sh * 3 / 4 : 1;
    }

    /* What goes to the terminal that draws: the sixel, and in the rectangle
     * layout DECSC/DECRC around it so the cursor comes back to the corner. */
    struct sbuf body = {0};
    bool rect = !(flags & PREVIEW_LINES);
    if (rect)
        sb_str(&body, "\0337");
    sb_put(&body, six.p, six.n);
    if (rect)
        sb_str(&body, "\0338");
    sb_free(&six);
    if (tmux_wrap)
        wrap_tmux(&fr, body.p, body.n);
    else if (screen_wrap)
        wrap_screen(&fr, body.p, body.n);
    else
        sb_put(&fr, body.p, body.n);
    bool oom = body.oom;
    sb_free(&body);
    if (flags & PREVIEW_LINES)
        sb_str(&fr, "\n");
    if (fr.oom || oom) {
        sb_free(&fr);
        return gl_err(err, "preview: out of memory building a sixel frame");
    }
    out->data = fr.p;
    out->len = fr.n;
    out->cols = (sw + cw - 1) / cw;
    out->rows = (sh + ch - 1) / ch;
    return 0;
}

/* ================================================================ blocks and ascii */

/* The xterm palette's 16 basic colours (as xterm draws them by default). */
static const uint8_t ansi16[16][3] = {
    {0, 0, 0},       {205, 0, 0},     {0, 205, 0},     {205, 205, 0},
    {0, 0, 238},     {205, 0, 205},   {0, 205, 205},   {229, 229, 229},
    {127, 127, 127}, {255, 0, 0},     {0, 255, 0},     {255, 255, 0},
    {92, 92, 255},   {255, 0, 255},   {0, 255, 255},   {255, 255, 255},
};
static const int cube_levels[6] = {0, 95, 135, 175, 215, 255};

static int dist2(int r, int g, int b, int r2, int g2, int b2)
{
    return (r - r2) * (r - r2) + (g - g2) * (g - g2) + (b - b2) * (b - b2);
}

static int cube_index(int v)
{
    int best = 0;
    for (int i = 1; i < 6; i++)
        if (abs(v - cube_levels[i]) < abs(v - cube_levels[best]))
            best = i;
    return best;
}

/* Nearest xterm 256-colour index: the 6x6x6 cube (16..231) or the grey
 * ramp (232..255, 8 + 10 i). */
static int xterm256(int r, int g, int b)
{
    int ri = cube_index(r), gi = cube_index(g), bi = cube_index(b);
    int cube = 16 + 36 * ri + 6 * gi + bi;
    int dc = dist2(r, g, b, cube_levels[ri], cube_levels[gi], cube_levels[bi]);
    int avg = (r + g + b) / 3;
    int k = (avg - 8 + 5) / 10;
    k = k < 0 ? 0 : k > 23 ? 23 : k;
    int gv = 8 + 10 * k;
    int dg = dist2(r, g, b, gv, gv, gv);
    return dg < dc ? 232 + k : cube;
}

static int ansi16_index(int r, int g, int b)
{
    int best = 0, bd = INT_MAX;
    for (int i = 0; i < 16; i++) {
        int d = dist2(r, g, b, ansi16[i][0], ansi16[i][1], ansi16[i][2]);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

enum depth { DEPTH_16, DEPTH_256, DEPTH_TRUE };
#define COLOR_DEFAULT (-2)      /* the terminal's default background */

static int color_key(enum depth d, const uint8_t *px)
{
    switch (d) {
    case DEPTH_TRUE:
        return px[0] << 16 | px[1] << 8 | px[2];
    case DEPTH_256:
        return xterm256(px[0], px[1], px[2]);
    default:
        return ansi16_index(px[0], px[1], px[2]);
    }
}

static void sgr_color(struct sbuf *b, enum depth d, bool bg, int key)
{
    if (key == COLOR_DEFAULT)
        sb_str(b, bg ? "49" : "39");
    else if (d == DEPTH_TRUE)
        sb_fmt(b, "%d;2;%d;%d;%d", bg ? 48 : 38, (key >> 16) & 255, (key >> 8) & 255, key & 255);
    else if (d == DEPTH_256)
        sb_fmt(b, "%d;5;%d", bg ? 48 : 38, key);
    else
        sb_fmt(b, "%d", (key < 8 ? (bg ? 40 : 30) : (bg ? 100 : 90)) + key % 8);
}

/* Between text rows: back to the corner, then down r rows (rectangle), or a
 * newline (lines). */
static void next_row(struct sbuf *b, unsigned flags, int r)
{
    if (flags & PREVIEW_LINES)
        sb_str(b, "\n");
    else if (r == 1)
        sb_str(b, "\0338\033[B");
    else
        sb_fmt(b, "\0338\033[%dB", r);
}

static int render_blocks(const struct preview_caps *caps, const uint8_t *rgb, int w, int h,
                         int cols, int rows, int cw, int ch, unsigned flags,
                         struct preview_frame *out, char **err)
{
    int sw, sh;
    fit_box(w, h, cols, 2 * (rows > 0 ? rows : MAX_CELLS), cw, ch / 2.0, &sw, &sh);
    uint8_t *px = scale_rgb(rgb, w, h, sw, sh);
    if (!px)
        return gl_err(err, "preview: out of memory scaling to %dx%d", sw, sh);
    enum depth d = caps->truecolor ? DEPTH_TRUE : caps->colors256 ? DEPTH_256 : DEPTH_16;
    int fr_rows = (sh + 1) / 2;
    struct sbuf b = {0};
    if (!(flags & PREVIEW_LINES))
        sb_str(&b, "\0337");
    for (int r = 0; r < fr_rows; r++) {
        if (r > 0)
            next_row(&b, flags, r);
        int pfg = -1, pbg = -1;
        for (int x = 0; x < sw; x++) {
            int fg = color_key(d, px + ((size_t)(2 * r) * (size_t)sw + (size_t)x) * 3);
            int bg = 2 * r + 1 < sh
                         ? color_key(d, px + ((size_t)(2 * r + 1) * (size_t)sw + (size_t)x) * 3)
                         : COLOR_DEFAULT;
            if (fg != pfg || bg != pbg) {
                sb_str(&b, "\033[");
                if (fg != pfg)
                    sgr_color(&b, d, false, fg);
                if (fg != pfg && bg != pbg)
                    sb_str(&b, ";");
                if (bg != pbg)
                    sgr_color(&b, d, true, bg);
                sb_str(&b, "m");
                pfg = fg;
                pbg = bg;
            }
            sb_str(&b, "\xe2\x96\x80");   /* U+2580 UPPER HALF BLOCK */
        }
        sb_str(&b, "\033[0m");
    }
    sb_str(&b, (flags & PREVIEW_LINES) ? "\n" : "\0338");
    free(px);
    if (b.oom) {
        sb_free(&b);
        return gl_err(err, "preview: out of memory building a %dx%d block frame", sw, fr_rows);
    }
    out->data = b.p;
    out->len = b.n;
    out->cols = sw;
    out->rows = fr_rows;
    return 0;
}

static int render_ascii(const uint8_t *rgb, int w, int h, int cols, int rows, int cw, int ch,
                        unsigned flags, struct preview_frame *out, char **err)
{
    static const char ramp[] = " .:-=+*#%@";
    const int nramp = (int)sizeof ramp - 1;
    int sw, sh;
    fit_box(w, h, cols, rows > 0 ? rows : MAX_CELLS, cw, ch, &sw, &sh);
    uint8_t *px = scale_rgb(rgb, w, h, sw, sh);
    if (!px)
        return gl_err(err, "preview: out of memory scaling to %dx%d", sw, sh);
    struct sbuf b = {0};
    char *line = malloc((size_t)sw);
    if (!line) {
        free(px);
        return gl_err(err, "preview: out of memory");
    }
    if (!(flags & PREVIEW_LINES))
        sb_str(&b, "\0337");
    for (int r = 0; r < sh; r++) {
        if (r > 0)
            next_row(&b, flags, r);
        for (int x = 0; x < sw; x++) {
            const uint8_t *p = px + ((size_t)r * (size_t)sw + (size_t)x) * 3;
            int luma = (2126 * p[0] + 7152 * p[1] + 722 * p[2]) / 10000;   /* Rec. 709 */
            line[x] = ramp[luma * nramp / 256];
        }
        sb_put(&b, line, (size_t)sw);
    }
    sb_str(&b, (flags & PREVIEW_LINES) ? "\n" : "\0338");
    free(line);
    free(px);
    if (b.oom) {
        sb_free(&b);
        return gl_err(err, "preview: out of memory building a %dx%d text frame", sw, sh);
    }
    out->data = b.p;
    out->len = b.n;
    out->cols = sw;
    out->rows = sh;
    return 0;
}

/* ================================================================ render */

int preview_render_ex(const struct preview_caps *caps, enum preview_mode mode, const uint8_t *rgb,
                      int w, int h, int cols, int rows, unsigned flags,
                      struct preview_frame *out, char **err)
{
    memset(out, 0, sizeof *out);
    if (!caps || !rgb || w <= 0 || h <= 0 || w > GL_IMAGE_MAX_SIDE || h > GL_IMAGE_MAX_SIDE)
        return gl_err(err, "preview: no image to draw (%dx%d)", w, h);
    if (cols < 1 || cols > MAX_CELLS || rows > MAX_CELLS)
        return gl_err(err, "preview: a %dx%d cell area is out of range", cols, rows);
    int cw = caps->cell_w > 0 ? caps->cell_w : DEFAULT_CELL_W;
    int ch = caps->cell_h > 0 ? caps->cell_h : DEFAULT_CELL_H;
    if (cw > 512 || ch > 512) {
        cw = DEFAULT_CELL_W;
        ch = DEFAULT_CELL_H;
    }
    if (mode == PREVIEW_AUTO)
        mode = preview_choose(caps, PREVIEW_AUTO);
    switch (mode) {
    case PREVIEW_SIXEL:
        return render_sixel(caps, rgb, w, h, cols, rows, cw, ch, flags, out, err);
    case PREVIEW_BLOCKS:
        return render_blocks(caps, rgb, w, h, cols, rows, cw, ch, flags, out, err);
    case PREVIEW_ASCII:
        return render_ascii(rgb, w, h, cols, rows, cw, ch, flags, out, err);
    case PREVIEW_NONE:
        return 0;
    default:
        return gl_err(err, "preview: unknown mode %d", (int)mode);
    }
}

int preview_render(const struct preview_caps *caps, enum preview_mode mode, const uint8_t *rgb,
                   int w, int h, int cols, int rows, struct preview_frame *out, char **err)
{
    return preview_render_ex(caps, mode, rgb, w, h, cols, rows, 0, out, err);
}

void preview_frame_free(struct preview_frame *f)
{
    if (!f)
        return;
    free(f->data);
    memset(f, 0, sizeof *f);
}

int preview_sixel_decode(const char *data, size_t len, uint8_t **rgb, int *w, int *h,
                         char **err)
{
    *rgb = NULL;
    *w = *h = 0;
    const char *start = NULL;
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] == 0x1b && data[i + 1] == 'P') {
            start = data + i;
            break;
        }
    }
    if (!start)
        return gl_err(err, "sixel: no DCS introducer (ESC P) in %zu bytes", len);
    size_t n = len - (size_t)(start - data);
    if (n > INT_MAX)
        return gl_err(err, "sixel: stream too long");

    sixel_allocator_t *al = NULL;
    unsigned char *copy = NULL, *pixels = NULL, *palette = NULL;
    int pw = 0, ph = 0, ncolors = 0;
    SIXELSTATUS st = sixel_allocator_new(&al, malloc, calloc, realloc, free);
    if (SIXEL_FAILED(st))
        return gl_err(err, "sixel: %s", sixel_helper_format_error(st));
    copy = malloc(n);           /* the decoder takes a non-const buffer */
    if (!copy) {
        sixel_allocator_unref(al);
        return gl_err(err, "sixel: out of memory");
    }
    memcpy(copy, start, n);
    st = sixel_decode_raw(copy, (int)n, &pixels, &pw, &ph, &palette, &ncolors, al);
    free(copy);
    if (SIXEL_FAILED(st) || !pixels || !palette || pw <= 0 || ph <= 0) {
        free(pixels);
        free(palette);
        sixel_allocator_unref(al);
        return gl_err(err, "sixel: cannot decode: %s",
                      SIXEL_FAILED(st) ? sixel_helper_format_error(st) : "empty image");
    }
    uint8_t *out = malloc((size_t)pw * (size_t)ph * 3);
    if (!out) {
        free(pixels);
        free(palette);
        sixel_allocator_unref(al);
        return gl_err(err, "sixel: out of memory");
    }
    /* palette: ncolors RGB triplets; pixels: one index each */
    for (size_t i = 0; i < (size_t)pw * (size_t)ph; i++) {
        int k = pixels[i] < ncolors ? pixels[i] : 0;
        memcpy(out + i * 3, palette + (size_t)k * 3, 3);
    }
    free(pixels);
    free(palette);
    sixel_allocator_unref(al);
    *rgb = out;
    *w = pw;
    *h = ph;
    return 0;
}

/* ================================================================ --show */

int preview_show(const char *path, enum preview_mode mode, int cols, bool no_exif)
{
    struct gl_image img = {0};
    struct gl_image_opts io = {.no_exif = no_exif};
    struct preview_frame fr = {0};
    char *err = NULL;
    int status = 1, tty_fd = -1;

    if (gl_image_load(path, &io, &img, &err) != 0) {
        fprintf(stderr, "glimpse: %s\n", err ? err : "cannot load the image");
        free(err);
        return 1;
    }
    if (mode == PREVIEW_AUTO) {
        const char *env = getenv("GLIMPSE_PREVIEW");
        if (env && *env && preview_mode_parse(env, &mode) != 0) {
            fprintf(stderr, "glimpse: ignoring GLIMPSE_PREVIEW='%s' (auto, sixel, blocks, ascii "
                            "or none)\n", env);
            mode = PREVIEW_AUTO;
        }
    }

    struct preview_caps caps;
    bool tty = isatty(STDOUT_FILENO);
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    if (tty) {
        /* Replies come back on the terminal's input: stdin, or /dev/tty when
         * stdin is redirected. */
        int in_fd = STDIN_FILENO;
        if (!isatty(in_fd)) {
            tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
            in_fd = tty_fd;
        }
        preview_probe(in_fd, STDOUT_FILENO, -1, &caps);
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
    } else {
        preview_probe(-1, -1, 0, &caps);   /* a pipe: the environment only */
    }
    int rows = 0;
    if (cols <= 0) {
        if (tty && ws.ws_col > 0) {
            cols = ws.ws_col;
            rows = ws.ws_row > 1 ? ws.ws_row - 1 : 1;
        } else {
            const char *c = getenv("COLUMNS");
            long v = c ? strtol(c, NULL, 10) : 0;
            cols = v > 0 && v <= MAX_CELLS ? (int)v : 80;
        }
    }

    mode = preview_choose(&caps, mode);
    if (mode == PREVIEW_NONE) {
        status = 0;
        goto done;
    }
    if (preview_render_ex(&caps, mode, img.rgb, img.w, img.h, cols, rows, PREVIEW_LINES, &fr,
                          &err) != 0) {
        fprintf(stderr, "glimpse: %s: %s\n", path, err ? err : "cannot draw the preview");
        goto done;
    }
    /* Ctrl-C in the middle of a sixel sequence would leave the terminal
     * inside it, swallowing what the shell prints next: the frame goes out
     * whole, then a pending signal acts. */
    sigset_t hold, prev;
    hold_signals(&hold, &prev);
    int wr = write_all(STDOUT_FILENO, fr.data, fr.len);
    int wr_errno = errno;
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    if (wr != 0) {
        if (wr_errno != EPIPE)
            fprintf(stderr, "glimpse: cannot write the preview: %s\n", strerror(wr_errno));
        goto done;
    }
    status = 0;
done:
    free(err);
    preview_frame_free(&fr);
    gl_image_free(&img);
    if (tty_fd >= 0)
        close(tty_fd);
    return status;
}
