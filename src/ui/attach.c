/*
 * attach.c - find the image paths in a message (see attach.h): split it
 * into shell-like words, keep each word's byte range in the original text so
 * the words that are images can be cut out and the rest kept as typed.
 */
#include "config.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ui/attach.h"

static const char *const image_exts[] = {
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tga", ".psd", ".pnm", ".ppm", ".pgm", ".pbm",
    ".webp", ".jpe", ".jfif",
};

static bool has_image_ext(const char *p)
{
    size_t n = strlen(p);
    for (size_t i = 0; i < sizeof image_exts / sizeof *image_exts; i++) {
        size_t e = strlen(image_exts[i]);
        if (n > e && strcasecmp(p + n - e, image_exts[i]) == 0)
            return true;
    }
    return false;
}

static bool looks_like_path(const char *p)
{
    return strchr(p, '/') || p[0] == '~' || has_image_ext(p);
}

char *attach_expand_home(const char *path)
{
    const char *home = getenv("HOME");
    if (path[0] == '~' && (path[1] == '/' || path[1] == 0) && home && *home) {
        size_t a = strlen(home), b = strlen(path + 1);
        char *s = malloc(a + b + 1);
        if (s) {
            memcpy(s, home, a);
            memcpy(s + a, path + 1, b + 1);
        }
        return s;
    }
    return strdup(path);
}

bool attach_is_image(const char *path, void *user)
{
    (void)user;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    unsigned char h[16] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, h, sizeof h);
    close(fd);
    if (n < 4)
        return false;
    if (memcmp(h, "\x89PNG", 4) == 0 || (h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) ||
        memcmp(h, "GIF8", 4) == 0 || (h[0] == 'B' && h[1] == 'M') || memcmp(h, "8BPS", 4) == 0 ||
        memcmp(h, "#?RADIANCE", n >= 10 ? 10 : 4) == 0 ||
        (h[0] == 'P' && h[1] >= '1' && h[1] <= '6' && isspace(h[2])))
        return true;
    size_t len = strlen(path);
    return len > 4 && strcasecmp(path + len - 4, ".tga") == 0;
}

/* file:///a%20b -> /a b (in place); other words are left alone. */
static void decode_file_uri(char *w)
{
    if (strncmp(w, "file://", 7) != 0)
        return;
    const char *src = w + 7;
    if (strncmp(src, "localhost/", 10) == 0)
        src += 9;
    if (*src != '/')
        return;
    char *o = w;
    for (const char *p = src; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
}

/* One shell-like word starting at msg[*i] (not a space): its unquoted text
 * (malloc'd) and the end of its bytes in *i. NULL on OOM. */
static char *next_word(const char *msg, size_t *i)
{
    size_t n = strlen(msg), p = *i;
    char *w = malloc(n - p + 1);
    if (!w)
        return NULL;
    size_t o = 0;
    char quote = 0;
    while (p < n) {
        char c = msg[p];
        if (quote) {
            if (c == quote) {
                quote = 0;
                p++;
                continue;
            }
            if (quote == '"' && c == '\\' && p + 1 < n && strchr("\"\\$`", msg[p + 1]))
                c = msg[++p];
            w[o++] = c;
            p++;
            continue;
        }
        if (isspace((unsigned char)c))
            break;
        /* Quotes group only when they open the word and are closed: an
         * apostrophe inside a word ("what's") is just a letter. */
        if ((c == '\'' || c == '"') && p == *i && strchr(msg + p + 1, c)) {
            quote = c;
            p++;
            continue;
        }
        if (c == '\\' && p + 1 < n) {
            w[o++] = msg[p + 1];
            p += 2;
            continue;
        }
        w[o++] = c;
        p++;
    }
    w[o] = 0;
    *i = p;
    return w;
}

/* The path a word names, or NULL: as it is, then without trailing
 * punctuation. malloc'd. */
static char *word_image(char *w, attach_check_fn check, void *user)
{
    decode_file_uri(w);
    size_t n = strlen(w);
    while (n > 0) {
        w[n] = 0;
        if (looks_like_path(w)) {
            char *p = attach_expand_home(w);
            if (!p)
                return NULL;
            if (check(p, user))
                return p;
            free(p);
        }
        if (!strchr(".,;:!?)", w[n - 1]))
            break;
        n--;
    }
    return NULL;
}

int attach_extract(const char *msg, attach_check_fn check, void *user, struct attach_result *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(msg);
    char *text = malloc(n + 1);
    if (!text)
        return -1;
    size_t o = 0, i = 0;
    bool cut_before = false;    /* the previous word was cut: drop the spaces after it */
    while (i < n) {
        size_t ws = i;
        while (i < n && isspace((unsigned char)msg[i]))
            i++;
        if (i == n)
            break;
        size_t start = i;
        char *w = next_word(msg, &i);
        if (!w)
            goto oom;
        char *path = out->n_paths < ATTACH_MAX ? word_image(w, check, user) : NULL;
        free(w);
        if (path) {
            out->paths[out->n_paths++] = path;
            cut_before = true;
            continue;
        }
        /* Keep the word with the whitespace before it (unless it follows a
         * cut word or starts the text). */
        if (o > 0 && !cut_before) {
            memcpy(text + o, msg + ws, start - ws);
            o += start - ws;
        } else if (o > 0) {
            text[o++] = ' ';
        }
        memcpy(text + o, msg + start, i - start);
        o += i - start;
        cut_before = false;
    }
    text[o] = 0;
    out->text = text;
    return 0;
oom:
    free(text);
    attach_result_free(out);
    return -1;
}

void attach_result_free(struct attach_result *r)
{
    for (int i = 0; i < r->n_paths; i++)
        free(r->paths[i]);
    free(r->text);
    memset(r, 0, sizeof *r);
}
