/*
 * session.c - conversations as JSON files (see session.h and
 * glimpse-session(5)): the document, its validation, saving it atomically,
 * restoring and verifying a conversation from it, exporting transcripts,
 * and the autosave directory.
 *
 * The document is kept as a jansson tree (so fields a newer glimpse wrote
 * survive a rewrite) plus typed views built by one validating parser. Every
 * document, whether read from a file or built from a chat, goes through that
 * parser: what we write is exactly what we would accept.
 */
#include "config.h"

#include "glimpse/session.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../engine/model.h"
#include "glimpse/gguf.h"
#include "glimpse/quant.h"
#include "glimpse/sha256.h"
#include "glimpse/tokenizer.h"
#include "util.h"

/* jansson: 1-space indents keep the file line-oriented yet small; reals are
 * written with 15 significant digits, enough for every value we store
 * (which we round first) and stable across load/save cycles. */
#define DUMP_FLAGS (JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES)

/* ------------------------------------------------------------ the object */

struct turn_view {
    struct session_turn pub;
    int *images;
    int32_t *ids;
    double *token_ms;
    int *piece_ends;
};

struct image_view {
    struct session_image pub;
    uint8_t *data;              /* owned copy of the decoded bytes */
};

/* Everything the parser derives from a document. */
struct view {
    struct session_info info;
    struct image_view *images;
    struct turn_view *turns;
    int *pending;
};

struct session {
    json_t *root;
    char *path;
    char *warning;
    struct view v;
};

static void view_free(struct view *v)
{
    for (int i = 0; v->images && i < v->info.n_images; i++)
        free(v->images[i].data);
    for (int i = 0; v->turns && i < v->info.n_turns; i++) {
        free(v->turns[i].images);
        free(v->turns[i].ids);
        free(v->turns[i].token_ms);
        free(v->turns[i].piece_ends);
    }
    free(v->images);
    free(v->turns);
    free(v->pending);
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------ small codecs */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding; NULL on OOM. */
static char *b64_encode(const uint8_t *p, size_t n)
{
    size_t out_len = (n + 2) / 3 * 4;
    char *s = malloc(out_len + 1), *o = s;
    if (!s)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64_chars[v >> 18];
        *o++ = b64_chars[(v >> 12) & 63];
        *o++ = b64_chars[(v >> 6) & 63];
        *o++ = b64_chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = b64_chars[v >> 18];
        *o++ = b64_chars[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return s;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* The decoded size of a well-formed base64 string of length n (no check). */
static size_t b64_decoded_len(const char *s, size_t n)
{
    size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
    return n / 4 * 3 - pad;
}

/* Strict decoding: length a multiple of 4, only the alphabet, '=' only as
 * the last one or two characters. -1 on a malformed string. */
static int b64_decode(const char *s, size_t n, uint8_t *out)
{
    if (n % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        bool last = i + 4 == n;
        for (int k = 0; k < 4; k++) {
            v[k] = b64_val((unsigned char)s[i + k]);
            if (v[k] < 0) {
                bool pad_ok = last && s[i + k] == '=' && (k == 3 || (k == 2 && s[i + 3] == '='));
                if (!pad_ok)
                    return -1;
                v[k] = -2;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)(v[2] < 0 ? 0 : v[2]) << 6 |
                     (uint32_t)(v[3] < 0 ? 0 : v[3]);
        out[o++] = (uint8_t)(w >> 16);
        if (v[2] >= 0)
            out[o++] = (uint8_t)(w >> 8);
        if (v[3] >= 0)
            out[o++] = (uint8_t)w;
        /* non-canonical padding bits are refused: one encoding per file */
        if ((v[3] == -2 && v[2] >= 0 && (v[2] & 3)) || (v[2] == -2 && (v[1] & 15)))
            return -1;
    }
    return 0;
}

static int hex_decode32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int hi = isxdigit((unsigned char)s[2 * i]) ? s[2 * i] : -1;
        int lo = isxdigit((unsigned char)s[2 * i + 1]) ? s[2 * i + 1] : -1;
        if (hi < 0 || lo < 0)
            return -1;
        hi = isdigit(hi) ? hi - '0' : tolower(hi) - 'a' + 10;
        lo = isdigit(lo) ? lo - '0' : tolower(lo) - 'a' + 10;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void session_time_format(double t, bool ms, char out[32])
{
    time_t sec = (time_t)floor(t);
    long milli = lround((t - (double)sec) * 1000.0);
    if (milli >= 1000) {
        sec++;
        milli -= 1000;
    }
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, 32, "1970-01-01T00:00:00Z");
        return;
    }
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms)
        snprintf(out + n, 32 - n, ".%03ldZ", milli);
    else
        snprintf(out + n, 32 - n, "Z");
}

int session_time_parse(const char *s, double *out)
{
    int Y, M, D, h, m, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970 || h < 0 ||
        m < 0 || sec < 0)
        return -1;
    const char *p = s + n;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p)) {
            frac += (*p++ - '0') * scale;
            scale /= 10;
        }
    }
    long off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
            return -1;
        off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (double)(t - off) + frac;
    return 0;
}

/* A float as the shortest decimal that reads back as the same float, so
 * 0.2f is written "0.2" and not "0.200000003". */
static json_t *jfloat(float f)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f)
            break;
    }
    return json_real(strtod(buf, NULL));
}

/* Milliseconds rounded to the microsecond. */
static json_t *jms(double v)
{
    if (!isfinite(v) || v < 0)
        v = 0;
    return json_real(round(v * 1000.0) / 1000.0);
}

/* Seeds are 64-bit: integers while every JSON reader holds them exactly
 * (up to 2^53), decimal strings above. */
static json_t *jseed(uint64_t seed)
{
    if (seed <= (1ull << 53))
        return json_integer((json_int_t)seed);
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    return json_string(buf);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* A JSON string of text that should be UTF-8 but may not be (a file name
 * in another encoding, a question typed on a Latin-1 terminal): invalid
 * bytes become U+FFFD rather than making the whole save fail. */
static json_t *jstr(const char *text)
{
    if (!text)
        text = "";
    json_t *j = json_string(text);
    if (j)
        return j;
    size_t n = strlen(text), o = 0;
    char *buf = malloc(n * 3 + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)text + i, n - i);
        if (k == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, text + i, k);
            o += k;
            i += k;
        }
    }
    buf[o] = 0;
    j = json_string(buf);
    free(buf);
    return j;
}

/* ------------------------------------------------------------ the validating parser */

/* Where we are, for messages: "FILE: turns[2].answer_ids[5]: ...". */
struct pctx {
    const char *name;
    char **err;
};

static int bad(const struct pctx *p, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const struct pctx *p, const char *where, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gl_err(p->err, "%s: %s: %s", p->name, where, msg);
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* The typed getters: 1 when the key is absent (or null where allowed), 0
 * when *out was set, -1 on a wrong type or range (*err set). */
static int get_str(const struct pctx *p, const json_t *o, const char *key, const char *where,
                   const char **out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (!json_is_string(j))
        return bad(p, where, "\"%s\" must be a string, not %s", key, type_name(j));
    *out = json_string_value(j);
    return 0;
}

static int get_int(const struct pctx *p, const json_t *o, const char *key, const char *where,
                   long long lo, long long hi, long long *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (!json_is_integer(j))
        return bad(p, where, "\"%s\" must be an integer, not %s", key, type_name(j));
    long long v = json_integer_value(j);
    if (v < lo || v > hi)
        return bad(p, where, "\"%s\" is %lld, outside %lld..%lld", key, v, lo, hi);
    *out = v;
    return 0;
}

static int get_num(const struct pctx *p, const json_t *o, const char *key, const char *where, double lo,
                   double hi, double *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (!json_is_number(j))
        return bad(p, where, "\"%s\" must be a number, not %s", key, type_name(j));
    double v = json_number_value(j);
    if (!(v >= lo && v <= hi))
        return bad(p, where, "\"%s\" is %g, outside %g..%g", key, v, lo, hi);
    *out = v;
    return 0;
}

static int get_bool(const struct pctx *p, const json_t *o, const char *key, const char *where, bool *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (!json_is_boolean(j))
        return bad(p, where, "\"%s\" must be true or false, not %s", key, type_name(j));
    *out = json_is_true(j);
    return 0;
}

static int get_seed(const struct pctx *p, const json_t *o, const char *key, const char *where,
                    uint64_t *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *out = (uint64_t)json_integer_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (isdigit((unsigned char)s[0]) && !*end && !errno && strlen(s) <= 20) {
            *out = v;
            return 0;
        }
    }
    return bad(p, where, "\"%s\" must be a whole number >= 0 (or one in a string)", key);
}

static int get_time(const struct pctx *p, const json_t *o, const char *key, const char *where, double *out)
{
    const char *s = NULL;
    int r = get_str(p, o, key, where, &s);
    if (r)
        return r;
    if (session_time_parse(s, out))
        return bad(p, where, "\"%s\" is not a date and time like 2026-11-27T01:02:03Z: \"%.40s\"", key, s);
    return 0;
}

static int get_array(const struct pctx *p, const json_t *o, const char *key, const char *where,
                     const json_t **out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (!json_is_array(j))
        return bad(p, where, "\"%s\" must be an array, not %s", key, type_name(j));
    *out = j;
    return 0;
}

static int get_object(const struct pctx *p, const json_t *o, const char *key, const char *where,
                      const json_t **out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return 1;
    if (!json_is_object(j))
        return bad(p, where, "\"%s\" must be an object, not %s", key, type_name(j));
    *out = j;
    return 0;
}

/* An array of image ids, each in [0, n_images). */
static int parse_ids(const struct pctx *p, const json_t *arr, const char *where, int n_images, int **out,
                     int *n)
{
    size_t len = json_array_size(arr);
    int *v = malloc(sizeof *v * (len + 1));
    if (!v)
        return gl_err(p->err, "out of memory");
    for (size_t i = 0; i < len; i++) {
        const json_t *j = json_array_get(arr, i);
        if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) >= n_images) {
            free(v);
            return bad(p, where, "item %zu must be the id of one of the %d images", i, n_images);
        }
        v[i] = (int)json_integer_value(j);
    }
    *out = v;
    *n = (int)len;
    return 0;
}

static int parse_sampling(const struct pctx *p, const json_t *o, const char *where,
                          struct gl_sampler_params *sp, bool with_seed)
{
    double d;
    long long i;
    int r;
    if ((r = get_num(p, o, "temp", where, 0, 100, &d)) < 0)
        return -1;
    if (r == 0)
        sp->temp = (float)d;
    if ((r = get_int(p, o, "top_k", where, 0, 1 << 24, &i)) < 0)
        return -1;
    if (r == 0)
        sp->top_k = (int)i;
    if ((r = get_num(p, o, "top_p", where, 0, 1, &d)) < 0)
        return -1;
    if (r == 0)
        sp->top_p = (float)d;
    if ((r = get_num(p, o, "min_p", where, 0, 1, &d)) < 0)
        return -1;
    if (r == 0)
        sp->min_p = (float)d;
    if ((r = get_num(p, o, "repeat_penalty", where, 0.01, 100, &d)) < 0)
        return -1;
    if (r == 0)
        sp->repeat_penalty = (float)d;
    if ((r = get_int(p, o, "repeat_last_n", where, 0, 1 << 20, &i)) < 0)
        return -1;
    if (r == 0)
        sp->repeat_last_n = (int)i;
    if (with_seed && get_seed(p, o, "seed", where, &sp->seed) < 0)
        return -1;
    return 0;
}

static int model_id(const struct pctx *p, const json_t *o, const char *where, struct session_model_id *id)
{
    const char *s = NULL;
    long long size;
    int r;
    id->present = true;
    if (get_str(p, o, "file", where, &id->file) < 0)
        return -1;
    if ((r = get_int(p, o, "size", where, 0, INT64_MAX, &size)) < 0)
        return -1;
    if (r == 0)
        id->size = (uint64_t)size;
    if ((r = get_str(p, o, "fingerprint", where, &s)) < 0)
        return -1;
    if (r == 0) {
        if (hex_decode32(s, id->fingerprint))
            return bad(p, where, "\"fingerprint\" must be 64 hexadecimal digits");
        id->has_fingerprint = true;
    }
    return 0;
}

static int parse_stop(const char *s, enum gl_stop *out)
{
    for (int k = GL_STOP_NONE; k <= GL_STOP_ERROR; k++)
        if (strcmp(s, gl_stop_name((enum gl_stop)k)) == 0) {
            *out = (enum gl_stop)k;
            return 0;
        }
    return -1;
}

/* One image entry. reuse: a previous view whose decoded bytes may be taken
 * for the same content (documents we just built ourselves). */
static int parse_image(const struct pctx *p, const json_t *o, int i, struct image_view *im,
                       const struct view *reuse)
{
    char where[32];
    snprintf(where, sizeof where, "images[%d]", i);
    if (!json_is_object(o))
        return bad(p, where, "must be an object, not %s", type_name(o));
    long long v;
    int r;
    im->pub.id = i;
    if ((r = get_int(p, o, "id", where, 0, INT32_MAX, &v)) < 0)
        return -1;
    if (r == 0 && v != i)
        return bad(p, where, "\"id\" is %lld but the image is number %d in the list", v, i);
    const char *hex = NULL;
    if ((r = get_str(p, o, "sha256", where, &hex)) < 0)
        return -1;
    if (r == 1)
        return bad(p, where, "\"sha256\" is missing");
    if (hex_decode32(hex, im->pub.sha256))
        return bad(p, where, "\"sha256\" must be 64 hexadecimal digits");
    if ((r = get_int(p, o, "width", where, 0, 1 << 20, &v)) < 0)
        return -1;
    im->pub.width = r == 0 ? (int)v : 0;
    if ((r = get_int(p, o, "height", where, 0, 1 << 20, &v)) < 0)
        return -1;
    im->pub.height = r == 0 ? (int)v : 0;
    if (get_str(p, o, "path", where, &im->pub.path) < 0)
        return -1;
    long long size = -1;
    if (get_int(p, o, "size", where, 0, INT64_MAX, &size) < 0)
        return -1;

    const json_t *d = json_object_get(o, "data");
    if (!d || json_is_null(d))
        return 0;
    if (!json_is_string(d))
        return bad(p, where, "\"data\" must be a base64 string, not %s", type_name(d));
    const char *s = json_string_value(d);
    size_t n = json_string_length(d);
    /* bounded before anything is allocated for it */
    if (n > (SESSION_MAX_IMAGE_BYTES + 2) / 3 * 4)
        return bad(p, where, "\"data\" holds more than the %u MiB an image may have", SESSION_MAX_IMAGE_BYTES >> 20);
    if (n % 4)
        return bad(p, where, "\"data\" is not valid base64 (its length is not a multiple of 4)");
    size_t len = b64_decoded_len(s, n);
    for (int k = 0; reuse && k < reuse->info.n_images; k++) {
        const struct image_view *old = &reuse->images[k];
        if (old->data && old->pub.len == len && memcmp(old->pub.sha256, im->pub.sha256, 32) == 0) {
            if (!(im->data = malloc(len ? len : 1)))
                return gl_err(p->err, "out of memory");
            memcpy(im->data, old->data, len);
            im->pub.data = im->data;
            im->pub.len = len;
            return 0;
        }
    }
    if (!(im->data = malloc(len ? len : 1)))
        return gl_err(p->err, "out of memory");
    if (b64_decode(s, n, im->data))
        return bad(p, where, "\"data\" is not valid base64");
    if (size >= 0 && (unsigned long long)size != len)
        return bad(p, where, "\"size\" says %lld bytes but \"data\" holds %zu", size, len);
    uint8_t h[32];
    gl_sha256(im->data, len, h);
    if (memcmp(h, im->pub.sha256, 32) != 0)
        return bad(p, where, "the embedded image does not match its SHA-256 (damaged data)");
    im->pub.data = im->data;
    im->pub.len = len;
    return 0;
}

static int parse_turn(const struct pctx *p, const json_t *o, int k, const struct view *v, struct turn_view *tv)
{
    char where[48];
    snprintf(where, sizeof where, "turns[%d]", k);
    if (!json_is_object(o))
        return bad(p, where, "must be an object, not %s", type_name(o));
    struct session_turn *t = &tv->pub;
    int r;
    if ((r = get_str(p, o, "user", where, &t->user)) < 0)
        return -1;
    if (r == 1)
        return bad(p, where, "\"user\" (the question) is missing");
    t->answer = "";
    if (get_str(p, o, "answer", where, &t->answer) < 0)
        return -1;
    const json_t *a = NULL;
    if ((r = get_array(p, o, "images", where, &a)) < 0)
        return -1;
    if (r == 0) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s.images", where);
        if (parse_ids(p, a, w2, v->info.n_images, &tv->images, &t->n_images))
            return -1;
        t->images = tv->images;
    }
    size_t n = 0;
    if ((r = get_array(p, o, "answer_ids", where, &a)) < 0)
        return -1;
    if (r == 0) {
        n = json_array_size(a);
        if (n > INT32_MAX)
            return bad(p, where, "too many answer tokens");
        if (!(tv->ids = malloc(sizeof *tv->ids * (n + 1))))
            return gl_err(p->err, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *j = json_array_get(a, i);
            if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > INT32_MAX) {
                char w2[96];
                snprintf(w2, sizeof w2, "%s.answer_ids[%zu]", where, i);
                return bad(p, w2, "must be a token id (a whole number >= 0), not %s",
                           json_is_integer(j) ? "a negative or huge number" : type_name(j));
            }
            tv->ids[i] = (int32_t)json_integer_value(j);
        }
        t->answer_ids = tv->ids;
        t->n_answer_ids = (int)n;
    }
    if ((r = get_array(p, o, "token_ms", where, &a)) < 0)
        return -1;
    if (r == 0) {
        if (json_array_size(a) != n)
            return bad(p, where, "\"token_ms\" has %zu times for %zu tokens", json_array_size(a), n);
        if (!(tv->token_ms = malloc(sizeof *tv->token_ms * (n + 1))))
            return gl_err(p->err, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *j = json_array_get(a, i);
            if (!json_is_number(j) || !(json_number_value(j) >= 0))
                return bad(p, where, "\"token_ms\" item %zu must be a number of milliseconds >= 0", i);
            tv->token_ms[i] = json_number_value(j);
        }
        t->token_ms = tv->token_ms;
    }
    if ((r = get_array(p, o, "piece_ends", where, &a)) < 0)
        return -1;
    if (r == 0) {
        size_t alen = strlen(t->answer);
        if (json_array_size(a) != n)
            return bad(p, where, "\"piece_ends\" has %zu entries for %zu tokens", json_array_size(a), n);
        if (!(tv->piece_ends = malloc(sizeof *tv->piece_ends * (n + 1))))
            return gl_err(p->err, "out of memory");
        long long prev = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *j = json_array_get(a, i);
            if (!json_is_integer(j) || json_integer_value(j) < prev || (size_t)json_integer_value(j) > alen)
                return bad(p, where, "\"piece_ends\" item %zu must be a byte offset into the answer, "
                                     "not before the previous one", i);
            prev = json_integer_value(j);
            tv->piece_ends[i] = (int)prev;
        }
        t->piece_ends = tv->piece_ends;
    }
    const char *stop = NULL;
    t->stop = GL_STOP_NONE;
    if ((r = get_str(p, o, "stop", where, &stop)) < 0)
        return -1;
    if (r == 0 && parse_stop(stop, &t->stop))
        return bad(p, where, "\"stop\" must be eos, length, cancel, error or none, not \"%.20s\"", stop);
    if (get_time(p, o, "started", where, &t->started) < 0)
        return -1;
    if (get_seed(p, o, "seed", where, &t->seed) < 0)
        return -1;
    t->sampling = v->info.sampling;
    const json_t *so = NULL;
    if ((r = get_object(p, o, "sampling", where, &so)) < 0)
        return -1;
    if (r == 0) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s.sampling", where);
        if (parse_sampling(p, so, w2, &t->sampling, false))
            return -1;
    }
    if ((r = get_object(p, o, "stats", where, &so)) < 0)
        return -1;
    if (r == 0) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s.stats", where);
        long long iv;
        double d;
        struct gl_turn_stats *st = &t->stats;
        if ((r = get_int(p, so, "prompt_tokens", w2, 0, INT32_MAX, &iv)) < 0)
            return -1;
        if (r == 0)
            st->prompt_tokens = (int)iv;
        const char *const keys[] = {"encode_ms", "prefill_ms", "decode_ms", "ttft_ms"};
        double *dst[] = {&st->encode_ms, &st->prefill_ms, &st->decode_ms, &st->ttft_ms};
        for (int q = 0; q < 4; q++) {
            if ((r = get_num(p, so, keys[q], w2, 0, 1e12, &d)) < 0)
                return -1;
            if (r == 0)
                *dst[q] = d;
        }
    }
    t->stats.answer_tokens = t->n_answer_ids;
    return 0;
}

/* Validate a whole document into a view. */
static int parse_doc(const json_t *root, const char *name, const struct view *reuse, struct view *v,
                     char **err)
{
    struct pctx p = {name, err};
    struct session_info *in = &v->info;
    const char *s = NULL;
    long long iv;
    int r;
    memset(v, 0, sizeof *v);
    if (!json_is_object(root))
        return gl_err(err, "%s: not a glimpse session (the file holds %s, not an object)", name, type_name(root));
    if (get_str(&p, root, "format", "format", &s) || strcmp(s, SESSION_FORMAT) != 0)
        return gl_err(err, "%s: not a glimpse session (no \"format\": \"%s\")", name, SESSION_FORMAT);
    s = NULL;
    if ((r = get_str(&p, root, "version", "version", &s)) < 0)
        return -1;
    int maj = -1, min = -1, nn = 0;
    if (r == 1 || sscanf(s, "%d.%d%n", &maj, &min, &nn) != 2 || s[nn] || maj < 0 || min < 0)
        return gl_err(err, "%s: the session has no valid \"version\" (MAJOR.MINOR)", name);
    if (maj != SESSION_VERSION_MAJOR)
        return gl_err(err, "%s: session format version %d.%d is %s than this glimpse reads (%d.x)%s", name, maj,
                      min, maj > SESSION_VERSION_MAJOR ? "newer" : "other", SESSION_VERSION_MAJOR,
                      maj > SESSION_VERSION_MAJOR ? ": upgrade glimpse to open it" : "");
    in->version_major = maj;
    in->version_minor = min;
    if (get_time(&p, root, "created", "created", &in->created) < 0 ||
        get_time(&p, root, "updated", "updated", &in->updated) < 0)
        return -1;

    const json_t *mo = NULL, *lo = NULL;
    if ((r = get_object(&p, root, "model", "model", &mo)) < 0)
        return -1;
    if (r == 0) {
        if (get_str(&p, mo, "name", "model", &in->model_name) < 0)
            return -1;
        if ((r = get_object(&p, mo, "llm", "model", &lo)) < 0 || (r == 0 && model_id(&p, lo, "model.llm", &in->llm)))
            return -1;
        if ((r = get_object(&p, mo, "mmproj", "model", &lo)) < 0 ||
            (r == 0 && model_id(&p, lo, "model.mmproj", &in->mmproj)))
            return -1;
    }

    in->tmpl = GL_TMPL_VICUNA_V1;
    if ((r = get_str(&p, root, "template", "template", &s)) < 0)
        return -1;
    if (r == 0) {
        char *e = NULL;
        if (gl_template_parse(s, &in->tmpl, &e)) {
            free(e);
            return bad(&p, "template", "unknown chat template \"%.40s\"", s);
        }
    }
    in->vision = GL_VISION_LLAVA;
    if ((r = get_str(&p, root, "vision", "vision", &s)) < 0)
        return -1;
    if (r == 0) {
        if (strcmp(s, "llama.cpp") == 0)
            in->vision = GL_VISION_LLAMACPP;
        else if (strcmp(s, "llava") != 0)
            return bad(&p, "vision", "must be \"llava\" or \"llama.cpp\", not \"%.40s\"", s);
    }
    if (get_str(&p, root, "system", "system", &in->system) < 0)
        return -1;
    in->sampling = gl_sampler_default_params();
    const json_t *so = NULL;
    if ((r = get_object(&p, root, "sampling", "sampling", &so)) < 0 ||
        (r == 0 && parse_sampling(&p, so, "sampling", &in->sampling, true)))
        return -1;
    if ((r = get_int(&p, root, "n_ctx", "n_ctx", 16, 1 << 24, &iv)) < 0)
        return -1;
    in->n_ctx = r == 0 ? (int)iv : 0;
    in->n_predict = 256;
    if ((r = get_int(&p, root, "n_predict", "n_predict", -1, 1 << 24, &iv)) < 0)
        return -1;
    if (r == 0)
        in->n_predict = (int)iv;
    in->kv_type = GL_TYPE_F16;
    if ((r = get_str(&p, root, "kv_type", "kv_type", &s)) < 0)
        return -1;
    if (r == 0) {
        if (strcmp(s, "f32") == 0)
            in->kv_type = GL_TYPE_F32;
        else if (strcmp(s, "f16") != 0)
            return bad(&p, "kv_type", "must be \"f16\" or \"f32\"");
    }
    if (get_bool(&p, root, "no_exif", "no_exif", &in->no_exif) < 0)
        return -1;
    in->context_policy = GL_CONTEXT_REFUSE;
    if ((r = get_str(&p, root, "context_policy", "context_policy", &s)) < 0)
        return -1;
    if (r == 0) {
        if (strcmp(s, "drop-oldest") == 0)
            in->context_policy = GL_CONTEXT_DROP_OLDEST;
        else if (strcmp(s, "refuse") != 0)
            return bad(&p, "context_policy", "must be \"refuse\" or \"drop-oldest\"");
    }

    const json_t *a = NULL;
    if ((r = get_array(&p, root, "images", "images", &a)) < 0)
        return -1;
    if (r == 0 && json_array_size(a) > 0) {
        size_t n = json_array_size(a);
        if (n > 100000)
            return bad(&p, "images", "too many images (%zu)", n);
        if (!(v->images = calloc(n, sizeof *v->images)))
            return gl_err(err, "out of memory");
        for (size_t i = 0; i < n; i++) {
            in->n_images = (int)i + 1; /* what view_free must look at */
            if (parse_image(&p, json_array_get(a, i), (int)i, &v->images[i], reuse))
                return -1;
        }
    }
    if ((r = get_array(&p, root, "pending", "pending", &a)) < 0)
        return -1;
    if (r == 0 && parse_ids(&p, a, "pending", in->n_images, &v->pending, &in->n_pending))
        return -1;
    in->pending = v->pending;
    if ((r = get_array(&p, root, "turns", "turns", &a)) < 0)
        return -1;
    if (r == 1)
        return gl_err(err, "%s: the session has no \"turns\"", name);
    size_t nt = json_array_size(a);
    if (nt > 0) {
        if (nt > INT32_MAX / 2)
            return bad(&p, "turns", "too many turns");
        if (!(v->turns = calloc(nt, sizeof *v->turns)))
            return gl_err(err, "out of memory");
        for (size_t k = 0; k < nt; k++) {
            in->n_turns = (int)k + 1;
            if (parse_turn(&p, json_array_get(a, k), (int)k, v, &v->turns[k]))
                return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ lifetime and views */

session *session_new(char **err)
{
    session *s = calloc(1, sizeof *s);
    if (!s || !(s->root = json_object()))
        goto oom;
    json_object_set_new(s->root, "format", json_string(SESSION_FORMAT));
    json_object_set_new(s->root, "version", json_string("1.0"));
    json_object_set_new(s->root, "turns", json_array());
    if (parse_doc(s->root, "(new session)", NULL, &s->v, err)) {
        session_free(s);
        return NULL;
    }
    return s;
oom:
    session_free(s);
    gl_err(err, "out of memory");
    return NULL;
}

void session_free(session *s)
{
    if (!s)
        return;
    view_free(&s->v);
    json_decref(s->root);
    free(s->path);
    free(s->warning);
    free(s);
}

session *session_parse(const char *text, size_t len, const char *name, char **err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, LOAD_FLAGS, &je);
    if (!root) {
        if (je.line > 0)
            gl_err(err, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        else
            gl_err(err, "%s: %s", name, je.text);
        return NULL;
    }
    session *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(root);
        gl_err(err, "out of memory");
        return NULL;
    }
    s->root = root;
    if (parse_doc(root, name, NULL, &s->v, err)) {
        session_free(s);
        return NULL;
    }
    return s;
}

/* Read a whole file that must be a regular one of at most max bytes. The
 * open never blocks (a FIFO named by an untrusted session) and never
 * follows the file into a device. */
static int slurp(const char *path, uint64_t max, uint8_t **out, size_t *len, char **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return gl_err(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gl_err(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return gl_err(err, "%s: %.1f MiB is more than the %.0f MiB allowed here", path,
                      (double)st.st_size / (1 << 20), (double)max / (1 << 20));
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return gl_err(err, "%s: out of memory", path);
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return gl_err(err, "%s: read error (the file changed while it was read?)", path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

session *session_load(const char *path, char **err)
{
    uint8_t *buf;
    size_t len;
    if (slurp(path, SESSION_MAX_FILE_BYTES, &buf, &len, err))
        return NULL;
    session *s = session_parse((const char *)buf, len, path, err);
    free(buf);
    if (s && !(s->path = strdup(path))) {
        session_free(s);
        gl_err(err, "out of memory");
        return NULL;
    }
    return s;
}

const char *session_path(const session *s)
{
    return s->path;
}

void session_get_info(const session *s, struct session_info *info)
{
    *info = s->v.info;
}

const struct session_image *session_image(const session *s, int i)
{
    return i >= 0 && i < s->v.info.n_images ? &s->v.images[i].pub : NULL;
}

const struct session_turn *session_turn(const session *s, int i)
{
    return i >= 0 && i < s->v.info.n_turns ? &s->v.turns[i].pub : NULL;
}

const char *session_warning(const session *s)
{
    return s->warning;
}

void session_chat_params(const session *s, struct gl_chat_params *cp)
{
    const struct session_info *in = &s->v.info;
    cp->tmpl = in->tmpl;
    cp->vision = in->vision;
    cp->system = in->system;
    cp->sampling = in->sampling;
    if (in->n_ctx > 0)
        cp->n_ctx = in->n_ctx;
    cp->n_predict = in->n_predict;
    cp->kv_type = in->kv_type;
    cp->no_exif = in->no_exif;
    cp->context_policy = in->context_policy;
}

struct session_opts session_default_opts(void)
{
    return (struct session_opts){.embed_images = true};
}

/* ------------------------------------------------------------ from a conversation */

/* A GGUF file's fingerprint: SHA-256 of the bytes before the tensor data. */
static void fingerprint_of(const gguf_file *f, uint8_t out[32])
{
    gl_sha256(gguf_base(f), (size_t)gguf_header_size(f), out);
}

int session_fingerprint(const char *gguf_path, uint8_t out[32], char **err)
{
    gguf_file *f = gguf_open(gguf_path, err);
    if (!f)
        return -1;
    fingerprint_of(f, out);
    gguf_close(f);
    return 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static json_t *model_json(const char *path, const gguf_file *f)
{
    uint8_t fp[32];
    char hex[65];
    fingerprint_of(f, fp);
    gl_sha256_hex(fp, hex);
    return json_pack("{s:o, s:I, s:s}", "file", jstr(base_name(path)), "size", (json_int_t)gguf_file_size(f),
                     "fingerprint", hex);
}

/* The child object `key` of o (created, or replacing a non-object), so that
 * fields we do not know inside it are kept. Borrowed; NULL on OOM. */
static json_t *child_object(json_t *o, const char *key)
{
    json_t *c = json_object_get(o, key);
    if (json_is_object(c))
        return c;
    c = json_object();
    if (!c || json_object_set_new(o, key, c))
        return NULL;
    return c;
}

static int set_sampling(json_t *o, const struct gl_sampler_params *sp, bool with_seed)
{
    int r = 0;
    r |= json_object_set_new(o, "temp", jfloat(sp->temp));
    r |= json_object_set_new(o, "top_k", json_integer(sp->top_k));
    r |= json_object_set_new(o, "top_p", jfloat(sp->top_p));
    r |= json_object_set_new(o, "min_p", jfloat(sp->min_p));
    r |= json_object_set_new(o, "repeat_penalty", jfloat(sp->repeat_penalty));
    r |= json_object_set_new(o, "repeat_last_n", json_integer(sp->repeat_last_n));
    if (with_seed)
        r |= json_object_set_new(o, "seed", jseed(sp->seed));
    return r ? -1 : 0;
}

/* Byte end in the answer of each token's text, found by decoding the ids as
 * the chat did (its answer drops one leading space). NULL when the decoded
 * text does not line up with the answer (then replay spreads the text
 * evenly instead). */
static int *piece_ends_of(const gl_model *m, const struct gl_turn *t)
{
    const tok_vocab *v = m->vocab;
    size_t n = (size_t)t->n_answer_ids, raw_len = 0, cap = 256;
    char piece[512];
    char *raw = malloc(cap);
    size_t *ends = malloc(sizeof *ends * (n + 1));
    int *out = NULL;
    struct tok_stream ts = {0};
    if (!raw || !ends || n == 0)
        goto done;
    for (size_t i = 0; i <= n; i++) {
        size_t k = i < n ? tok_stream_feed(v, &ts, t->answer_ids[i], piece, sizeof piece)
                         : tok_stream_flush(&ts, piece, sizeof piece);
        if (k > sizeof piece)
            goto done;
        if (raw_len + k + 1 > cap) {
            while (raw_len + k + 1 > cap)
                cap *= 2;
            char *p = realloc(raw, cap);
            if (!p)
                goto done;
            raw = p;
        }
        memcpy(raw + raw_len, piece, k);
        raw_len += k;
        if (i < n)
            ends[i] = raw_len;
        else if (n > 0)
            ends[n - 1] = raw_len;
    }
    raw[raw_len] = 0;
    size_t alen = strlen(t->answer), lead;
    if (raw_len >= alen && memcmp(raw, t->answer, alen) == 0)
        lead = 0;
    else if (raw_len >= alen + 1 && raw[0] == ' ' && memcmp(raw + 1, t->answer, alen) == 0)
        lead = 1;
    else
        goto done;
    if (!(out = malloc(sizeof *out * n)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        size_t e = ends[i] > lead ? ends[i] - lead : 0;
        out[i] = (int)(e < alen ? e : alen);
    }
done:
    free(raw);
    free(ends);
    return out;
}

/* The bytes of chat image ci for embedding: the chat's own copy, else kept
 * from the document if it holds this content, else re-read from the file and
 * checked against the hash. NULL (and a warning) when none works. */
static char *image_b64(session *s, const gl_chat *c, int ci, const struct gl_image_info *ii, int id,
                       char **warn)
{
    size_t n_bytes = 0;
    const uint8_t *bytes = gl_chat_image_bytes(c, ci, &n_bytes);
    if (bytes)
        return b64_encode(bytes, n_bytes);
    for (int k = 0; k < s->v.info.n_images; k++) {
        const struct image_view *old = &s->v.images[k];
        if (old->data && memcmp(old->pub.sha256, ii->sha256, 32) == 0)
            return b64_encode(old->data, old->pub.len);
    }
    uint8_t *buf = NULL, h[32];
    size_t len = 0;
    char *e = NULL;
    if (slurp(ii->path, SESSION_MAX_IMAGE_BYTES, &buf, &len, &e) == 0) {
        gl_sha256(buf, len, h);
        if (memcmp(h, ii->sha256, 32) == 0) {
            char *b = b64_encode(buf, len);
            free(buf);
            return b;
        }
        free(buf);
        e = gl_strfmt("%s changed on disk since it was added", ii->path);
    }
    if (!*warn)
        *warn = gl_strfmt("image %d was saved without its bytes (%s): the session needs the original file",
                          id, e ? e : "out of memory");
    free(e);
    return NULL;
}

static bool ids_equal(const json_t *arr, const int32_t *ids, int n)
{
    if (!json_is_array(arr) || json_array_size(arr) != (size_t)n)
        return false;
    for (int i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, (size_t)i)) != ids[i])
            return false;
    return true;
}

/* Fill root (a copy of the current document) from the chat. */
static int build_doc(session *s, json_t *root, const gl_model *m, const gl_chat *c, const struct session_opts *o,
                     char **warn)
{
    const struct gl_chat_params *cp = gl_chat_get_params(c);
    struct gl_context_use u;
    gl_chat_context(c, &u);
    int r = 0;

    /* format and version: a newer minor version we read keeps its number,
     * since the fields it added are kept too */
    if (s->v.info.version_major != SESSION_VERSION_MAJOR || s->v.info.version_minor < SESSION_VERSION_MINOR)
        r |= json_object_set_new(root, "version", json_string("1.0"));
    r |= json_object_set_new(root, "format", json_string(SESSION_FORMAT));
    r |= json_object_set_new(root, "generator", json_string("glimpse " GL_VERSION));
    char now[32];
    session_time_format((double)time(NULL), false, now);
    if (!json_is_string(json_object_get(root, "created")))
        r |= json_object_set_new(root, "created", json_string(now));

    json_t *mo = child_object(root, "model");
    if (!mo)
        return -1;
    r |= json_object_set_new(mo, "name", jstr(m->name ? m->name : base_name(m->llm_path)));
    r |= json_object_set_new(mo, "llm", model_json(m->llm_path, m->llm_file));
    r |= json_object_set_new(mo, "mmproj", m->mmproj_file ? model_json(m->mmproj_path, m->mmproj_file) : json_null());

    r |= json_object_set_new(root, "template", json_string(gl_template_name(cp->tmpl)));
    r |= json_object_set_new(root, "vision", json_string(cp->vision == GL_VISION_LLAMACPP ? "llama.cpp" : "llava"));
    r |= json_object_set_new(root, "system", jstr(cp->system ? cp->system : gl_template_system(cp->tmpl)));
    json_t *so = child_object(root, "sampling");
    if (!so || set_sampling(so, &cp->sampling, true))
        return -1;
    r |= json_object_set_new(root, "n_ctx", json_integer(u.n_ctx));
    r |= json_object_set_new(root, "n_predict", json_integer(cp->n_predict));
    r |= json_object_set_new(root, "kv_type", json_string(cp->kv_type == GL_TYPE_F32 ? "f32" : "f16"));
    r |= json_object_set_new(root, "no_exif", json_boolean(cp->no_exif));
    r |= json_object_set_new(root, "context_policy",
                             json_string(cp->context_policy == GL_CONTEXT_DROP_OLDEST ? "drop-oldest" : "refuse"));
    if (r)
        return -1;

    /* images: one entry per content, in order of first use */
    const int n_ci = gl_chat_n_images(c), n_turns = gl_chat_n_turns(c);
    int *sid = malloc(sizeof *sid * (size_t)(n_ci + 1));
    bool *used = calloc((size_t)n_ci + 1, sizeof *used);
    json_t *images = json_array(), *old_images = json_object_get(root, "images");
    int n_si = 0;
    if (!sid || !used || !images)
        goto fail;
    for (int i = 0; i < n_ci; i++) {
        const struct gl_image_info *ii = gl_chat_image(c, i);
        sid[i] = -1;
        for (int j = 0; j < i && sid[i] < 0; j++)
            if (memcmp(gl_chat_image(c, j)->sha256, ii->sha256, 32) == 0)
                sid[i] = sid[j];
        if (sid[i] >= 0)
            continue;
        sid[i] = n_si++;
        json_t *io = NULL;
        for (size_t k = 0; k < json_array_size(old_images) && !io; k++) {
            json_t *oi = json_array_get(old_images, k);
            uint8_t h[32];
            const char *hex = json_string_value(json_object_get(oi, "sha256"));
            if (json_is_object(oi) && hex && hex_decode32(hex, h) == 0 && memcmp(h, ii->sha256, 32) == 0)
                io = json_incref(oi);
        }
        if (!io && !(io = json_object()))
            goto fail;
        char hex[65];
        gl_sha256_hex(ii->sha256, hex);
        r |= json_object_set_new(io, "id", json_integer(sid[i]));
        r |= json_object_set_new(io, "sha256", json_string(hex));
        r |= json_object_set_new(io, "width", json_integer(ii->width));
        r |= json_object_set_new(io, "height", json_integer(ii->height));
        r |= json_object_set_new(io, "path", jstr(ii->path));
        if (o->embed_images) {
            const json_t *d = json_object_get(io, "data");
            if (!json_is_string(d)) {
                char *b = image_b64(s, c, i, ii, sid[i], warn);
                if (b) {
                    r |= json_object_set_new(io, "size", json_integer((json_int_t)b64_decoded_len(b, strlen(b))));
                    r |= json_object_set_new(io, "data", json_string(b));
                    free(b);
                } else {
                    json_object_del(io, "size");
                }
            }
        } else {
            json_object_del(io, "data");
        }
        r |= json_array_append_new(images, io);
    }
    r |= json_object_set_new(root, "images", images);
    images = NULL;

    /* turns: a recorded turn with the same question and answer keeps its object */
    json_t *turns = json_array(), *old_turns = json_object_get(root, "turns");
    if (!turns)
        goto fail;
    for (int k = 0; k < n_turns; k++) {
        const struct gl_turn *t = gl_chat_turn(c, k);
        json_t *ot = json_array_get(old_turns, (size_t)k), *to;
        const char *ou = json_string_value(json_object_get(ot, "user"));
        if (json_is_object(ot) && ou && strcmp(ou, t->user) == 0 &&
            ids_equal(json_object_get(ot, "answer_ids"), t->answer_ids, t->n_answer_ids))
            to = json_incref(ot);
        else
            to = json_object();
        json_t *ti = json_array(), *ids = json_array(), *ms = json_array();
        if (!to || !ti || !ids || !ms) {
            json_decref(to);
            json_decref(ti);
            json_decref(ids);
            json_decref(ms);
            json_decref(turns);
            goto fail;
        }
        for (int j = 0; j < t->n_images; j++) {
            used[t->images[j]] = true;
            r |= json_array_append_new(ti, json_integer(sid[t->images[j]]));
        }
        for (int j = 0; j < t->n_answer_ids; j++) {
            r |= json_array_append_new(ids, json_integer(t->answer_ids[j]));
            r |= json_array_append_new(ms, jms(t->token_ms ? t->token_ms[j] : 0));
        }
        r |= json_object_set_new(to, "user", jstr(t->user));
        r |= json_object_set_new(to, "images", ti);
        r |= json_object_set_new(to, "answer", jstr(t->answer));
        r |= json_object_set_new(to, "answer_ids", ids);
        int *pe = piece_ends_of(m, t);
        if (pe) {
            json_t *pa = json_array();
            for (int j = 0; pa && j < t->n_answer_ids; j++)
                r |= json_array_append_new(pa, json_integer(pe[j]));
            r |= json_object_set_new(to, "piece_ends", pa);
            free(pe);
        } else {
            json_object_del(to, "piece_ends");
        }
        r |= json_object_set_new(to, "stop", json_string(gl_stop_name(t->stop)));
        if (t->started > 0) {
            char ts[32];
            session_time_format(t->started, true, ts);
            r |= json_object_set_new(to, "started", json_string(ts));
        }
        r |= json_object_set_new(to, "seed", jseed(t->seed));
        json_t *tso = child_object(to, "sampling");
        if (!tso || set_sampling(tso, &t->sampling, false))
            r = -1;
        r |= json_object_set_new(to, "token_ms", ms);
        json_t *st = child_object(to, "stats");
        if (st) {
            r |= json_object_set_new(st, "prompt_tokens", json_integer(t->stats.prompt_tokens));
            r |= json_object_set_new(st, "answer_tokens", json_integer(t->n_answer_ids));
            r |= json_object_set_new(st, "encode_ms", jms(t->stats.encode_ms));
            r |= json_object_set_new(st, "prefill_ms", jms(t->stats.prefill_ms));
            r |= json_object_set_new(st, "decode_ms", jms(t->stats.decode_ms));
            r |= json_object_set_new(st, "ttft_ms", jms(t->stats.ttft_ms));
        } else {
            r = -1;
        }
        r |= json_array_append_new(turns, to);
    }
    r |= json_object_set_new(root, "turns", turns);

    /* images not in any turn wait for the next question */
    json_t *pend = json_array();
    for (int i = 0; pend && i < n_ci; i++) {
        bool dup = false;
        for (size_t q = 0; q < json_array_size(pend); q++)
            dup |= json_integer_value(json_array_get(pend, q)) == sid[i];
        if (!used[i] && !dup)
            r |= json_array_append_new(pend, json_integer(sid[i]));
    }
    r |= json_object_set_new(root, "pending", pend);
    free(sid);
    free(used);
    return r ? -1 : 0;
fail:
    json_decref(images);
    free(sid);
    free(used);
    return -1;
}

int session_update(session *s, const gl_model *m, const gl_chat *c, const struct session_opts *o, char **err)
{
    struct session_opts defaults = session_default_opts();
    if (!o)
        o = &defaults;
    char *warn = NULL;
    json_t *root = json_deep_copy(s->root);
    if (!root || build_doc(s, root, m, c, o, &warn)) {
        json_decref(root);
        free(warn);
        return gl_err(err, "out of memory");
    }
    /* "updated" moves only when something else changed */
    json_t *old_upd = json_object_get(s->root, "updated");
    if (old_upd)
        json_object_set(root, "updated", old_upd);
    else
        json_object_del(root, "updated");
    if (!json_equal(root, s->root)) {
        char now[32];
        session_time_format((double)time(NULL), false, now);
        json_object_set_new(root, "updated", json_string(now));
    }
    struct view v;
    if (parse_doc(root, s->path ? s->path : "(session)", &s->v, &v, err)) {
        /* a conversation we cannot describe validly is a bug: say what it is */
        view_free(&v);
        json_decref(root);
        free(warn);
        return -1;
    }
    view_free(&s->v);
    s->v = v;
    json_decref(s->root);
    s->root = root;
    free(s->warning);
    s->warning = warn;
    return 0;
}

/* ------------------------------------------------------------ writing */

char *session_dump(const session *s, size_t *len, char **err)
{
    char *text = json_dumps(s->root, DUMP_FLAGS);
    if (!text)
        return gl_err(err, "out of memory"), NULL;
    size_t n = strlen(text);
    char *t = realloc(text, n + 2);
    if (!t) {
        free(text);
        return gl_err(err, "out of memory"), NULL;
    }
    t[n] = '\n';
    t[n + 1] = 0;
    if (len)
        *len = n + 1;
    return t;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    /* some file systems cannot sync a directory: the rename itself stands */
    if (r && (errno == EINVAL || errno == EROFS || errno == EBADF))
        r = 0;
    close(fd);
    return r;
}

/* Temp files of writers that died (SIGKILL, a crash) are removed once they
 * are an hour old: no live write takes that long. */
static void sweep_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t bl = strlen(base);
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        struct stat st;
        if (n[0] != '.' || strncmp(n + 1, base, bl) != 0 || strncmp(n + 1 + bl, ".tmp.", 5) != 0)
            continue;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > 3600)
            unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

int session_write_file(const char *path, const void *data, size_t len, int mode, char **err)
{
    static unsigned counter;
    const char *base = base_name(path);
    size_t dlen = (size_t)(base - path);
    char *dir = dlen ? strndup(path, dlen) : strdup(".");
    char *tmp = NULL;
    int fd = -1, saved = 0;
    if (!dir || !*base)
        goto fail_msg;
    /* a fresh name in the same directory (so rename is atomic), never an
     * existing file or a symlink planted there */
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        free(tmp);
        tmp = gl_strfmt("%.*s.%s.tmp.%ld.%u", (int)dlen, path, base, (long)getpid(),
                        __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        if (!tmp)
            goto fail_msg;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        goto fail_errno;
    /* an existing file keeps its permissions */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        fchmod(fd, st.st_mode & 07777);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            goto fail_errno;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail_errno;
    if (close(fd) != 0) {
        fd = -1;
        goto fail_errno;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail_errno;
    free(tmp);
    tmp = NULL;
    if (fsync_dir(dir) != 0)
        goto fail_errno;
    sweep_stale(dir, base);
    free(dir);
    return 0;
fail_errno:
    saved = errno;
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return gl_err(err, "%s: cannot write: %s", path, strerror(saved));
fail_msg:
    free(tmp);
    free(dir);
    return gl_err(err, "%s: cannot write: out of memory or an empty file name", path);
}

int session_write(session *s, const char *path, char **err)
{
    size_t len;
    char *text = session_dump(s, &len, err);
    if (!text)
        return -1;
    int r = session_write_file(path, text, len, 0600, err);
    free(text);
    if (r == 0 && (!s->path || strcmp(s->path, path) != 0)) {
        char *p = strdup(path);
        if (p) {
            free(s->path);
            s->path = p;
        }
    }
    return r;
}

int session_save_fn(void *user, gl_model *m, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    struct session_save_req *req = user;
    if (!c || !m)
        return err ? gl_err(err, "no conversation to save: no model is loaded") : -1;
    session *s = req->s ? req->s : session_new(err);
    if (!s)
        return -1;
    int r = session_update(s, m, c, &req->opts, err);
    if (r == 0)
        r = session_write(s, req->path, err);
    if (r == 0 && s->warning && cb && cb->on_notice)
        cb->on_notice(cb->user, s->warning);
    if (!req->s)
        session_free(s);
    return r;
}

/* ------------------------------------------------------------ resuming */

/* Attach session image id to the next question of c. */
static int attach_image(const session *s, int id, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    const struct session_image *im = session_image(s, id);
    char name[32];
    snprintf(name, sizeof name, "image-%d", id);
    const char *label = im->path && *im->path ? im->path : name;
    if (im->data)
        return gl_chat_add_image_mem(c, im->data, im->len, label, cb, err) < 0 ? -1 : 0;
    if (!im->path || !*im->path)
        return gl_err(err, "image %d is not embedded in the session and its original path is unknown", id);
    uint8_t *buf, h[32];
    size_t len;
    char *e = NULL;
    if (slurp(im->path, SESSION_MAX_IMAGE_BYTES, &buf, &len, &e)) {
        gl_err(err, "image %d is not embedded in the session and its original file cannot be read (%s)", id, e);
        free(e);
        return -1;
    }
    gl_sha256(buf, len, h);
    if (memcmp(h, im->sha256, 32) != 0) {
        free(buf);
        return gl_err(err, "image %d is not embedded in the session and %s has changed since (its SHA-256 "
                           "differs)", id, im->path);
    }
    int r = gl_chat_add_image_mem(c, buf, len, label, cb, err);
    free(buf);
    return r < 0 ? -1 : 0;
}

static bool sampling_eq(const struct gl_sampler_params *a, const struct gl_sampler_params *b)
{
    return a->temp == b->temp && a->top_k == b->top_k && a->top_p == b->top_p && a->min_p == b->min_p &&
           a->repeat_penalty == b->repeat_penalty && a->repeat_last_n == b->repeat_last_n && a->seed == b->seed;
}

/* Make the chat sample as turn t was (the conversation's seed stays). */
static int use_sampling(gl_chat *c, const struct gl_sampler_params *sp, uint64_t conv_seed, char **err)
{
    struct gl_sampler_params p = *sp;
    p.seed = conv_seed;
    if (sampling_eq(&p, &gl_chat_get_params(c)->sampling))
        return 0;
    return gl_chat_set_sampling(c, &p, err);
}

static int restore_one(const session *s, int k, gl_chat *c, char **err)
{
    const struct session_turn *t = session_turn(s, k);
    struct gl_turn_record rec = {
        .user = t->user,
        .answer = t->answer,
        .answer_ids = t->answer_ids,
        .n_answer_ids = t->n_answer_ids,
        .token_ms = t->token_ms,
        .stop = t->stop,
        .seed = t->seed,
        .started = t->started,
        .stats = &t->stats,
    };
    if (use_sampling(c, &t->sampling, s->v.info.sampling.seed, err))
        return -1;
    if (gl_chat_restore_turn(c, &rec, err)) {
        char *e = err ? *err : NULL;
        if (err) {
            *err = gl_strfmt("turn %d: %s", k + 1, e ? e : "cannot be restored");
            free(e);
        }
        return -1;
    }
    return 0;
}

int session_restore(const session *s, gl_chat *c, const struct gl_callbacks *cb, char **err)
{
    const struct session_info *in = &s->v.info;
    const struct gl_chat_params *cp = gl_chat_get_params(c);
    if (gl_chat_n_turns(c) != 0 || gl_chat_n_pending_images(c) != 0)
        return gl_err(err, "a session is restored into a new, empty conversation");
    if (cp->tmpl != in->tmpl || cp->vision != in->vision)
        return gl_err(err, "the session was made with the %s template and %s vision; this conversation uses "
                           "%s and %s",
                      gl_template_name(in->tmpl), in->vision == GL_VISION_LLAMACPP ? "llama.cpp" : "llava",
                      gl_template_name(cp->tmpl), cp->vision == GL_VISION_LLAMACPP ? "llama.cpp" : "llava");
    const char *sys = in->system ? in->system : gl_template_system(in->tmpl);
    if (!cp->system || strcmp(cp->system, sys) != 0)
        if (gl_chat_set_system(c, sys, err))
            return -1;
    for (int k = 0; k < in->n_turns; k++) {
        const struct session_turn *t = session_turn(s, k);
        for (int j = 0; j < t->n_images; j++)
            if (attach_image(s, t->images[j], c, cb, err))
                return -1;
        if (restore_one(s, k, c, err))
            return -1;
    }
    if (use_sampling(c, &in->sampling, in->sampling.seed, err))
        return -1;
    for (int j = 0; j < in->n_pending; j++)
        if (attach_image(s, in->pending[j], c, cb, err))
            return -1;
    return gl_chat_sync(c, cb, err);
}

/* ------------------------------------------------------------ verifying */

void session_diff_free(struct session_diff *d)
{
    if (!d)
        return;
    free(d->expected_piece);
    free(d->got_piece);
    free(d->before);
    free(d->expected_after);
    free(d->got_after);
    d->expected_piece = d->got_piece = d->before = d->expected_after = d->got_after = NULL;
}

/* The text of ids[from, to) (malloc'd; "" for an empty range). */
static char *decode_range(const tok_vocab *v, const int32_t *ids, int from, int to)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap), piece[512];
    struct tok_stream ts = {0};
    if (!s)
        return NULL;
    for (int i = from; i <= to; i++) {
        size_t k = i < to ? tok_stream_feed(v, &ts, ids[i], piece, sizeof piece)
                          : tok_stream_flush(&ts, piece, sizeof piece);
        if (k > sizeof piece)
            k = 0;
        if (len + k + 1 > cap) {
            while (len + k + 1 > cap)
                cap *= 2;
            char *p = realloc(s, cap);
            if (!p) {
                free(s);
                return NULL;
            }
            s = p;
        }
        memcpy(s + len, piece, k);
        len += k;
    }
    s[len] = 0;
    return s;
}

static char *piece_of(const tok_vocab *v, int32_t id)
{
    if (id < 0)
        return strdup("");
    char buf[256];
    size_t n = tok_piece(v, id, true, buf, sizeof buf);
    return strndup(buf, n < sizeof buf ? n : sizeof buf - 1);
}

int session_verify_turn(const session *s, int k, const gl_model *m, gl_chat *c, const struct gl_callbacks *cb,
                        struct session_diff *out, char **err)
{
    const struct session_turn *t = session_turn(s, k);
    memset(out, 0, sizeof *out);
    if (!t)
        return gl_err(err, "the session has no turn %d", k + 1);
    if (gl_chat_n_turns(c) != k)
        return gl_err(err, "turn %d can only be verified after the %d before it", k + 1, k);
    /* after a cancel the images are still attached: not twice */
    int pend = gl_chat_n_pending_images(c);
    if (pend != 0 && pend != t->n_images)
        return gl_err(err, "turn %d: the conversation has other images waiting", k + 1);
    for (int j = 0; pend == 0 && j < t->n_images; j++)
        if (attach_image(s, t->images[j], c, cb, err))
            return -1;
    const struct gl_chat_params *cp = gl_chat_get_params(c);
    const int n_predict = cp->n_predict;
    if (use_sampling(c, &t->sampling, s->v.info.sampling.seed, err))
        return -1;
    /* room past a recorded end, to see an answer that runs on (and to let a
     * stop string that spans several tokens complete, as it did) */
    gl_chat_set_n_predict(c, t->stop == GL_STOP_EOS ? t->n_answer_ids + 16 : t->n_answer_ids);
    gl_chat_set_next_seed(c, t->seed);
    int r = gl_chat_ask(c, t->user, cb, err);
    gl_chat_set_n_predict(c, n_predict);
    if (r == -2)
        return -2;
    if (r != 0) {
        /* an error part way keeps a partial answer: take it back */
        if (gl_chat_n_turns(c) > k)
            gl_chat_undo(c, NULL);
        return -1;
    }
    const struct gl_turn *g = gl_chat_turn(c, k);
    if (g->stop == GL_STOP_CANCEL) {
        gl_chat_undo(c, NULL);
        return gl_err(err, "stopped"), -2;
    }
    out->n_expected = t->n_answer_ids;
    out->n_got = g->n_answer_ids;
    out->expected_stop = t->stop;
    out->got_stop = g->stop;
    int i = 0;
    while (i < t->n_answer_ids && i < g->n_answer_ids && t->answer_ids[i] == g->answer_ids[i])
        i++;
    bool same = i == t->n_answer_ids && i == g->n_answer_ids &&
                (t->stop != GL_STOP_EOS || g->stop == GL_STOP_EOS);
    out->identical = same;
    if (!same) {
        const tok_vocab *v = m->vocab;
        out->index = i;
        out->expected = i < t->n_answer_ids ? t->answer_ids[i] : -1;
        out->got = i < g->n_answer_ids ? g->answer_ids[i] : -1;
        out->expected_piece = piece_of(v, out->expected);
        out->got_piece = piece_of(v, out->got);
        out->before = decode_range(v, t->answer_ids, i > 8 ? i - 8 : 0, i);
        out->expected_after = decode_range(v, t->answer_ids, i, i + 8 < t->n_answer_ids ? i + 8 : t->n_answer_ids);
        out->got_after = decode_range(v, g->answer_ids, i, i + 8 < g->n_answer_ids ? i + 8 : g->n_answer_ids);
        /* go on from the recorded answer, not this one */
        if (gl_chat_undo(c, err) || restore_one(s, k, c, err)) {
            session_diff_free(out);
            return -1;
        }
    }
    if (use_sampling(c, &s->v.info.sampling, s->v.info.sampling.seed, err)) {
        session_diff_free(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ exporting */

const char *session_image_ext(const uint8_t *d, size_t n)
{
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return "jpg";
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return "gif";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "webp";
    if (n >= 2 && d[0] == 'B' && d[1] == 'M')
        return "bmp";
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return "tif";
    if (n >= 4 && memcmp(d, "8BPS", 4) == 0)
        return "psd";
    if (n >= 10 && memcmp(d, "#?RADIANCE", 10) == 0)
        return "hdr";
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6')
        return d[1] == '2' || d[1] == '5' ? "pgm" : d[1] == '1' || d[1] == '4' ? "pbm" : "ppm";
    return "bin";
}

/* A growing text buffer; `bad` remembers an allocation failure. */
struct sbuf {
    char *s;
    size_t n, cap;
    bool bad;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->bad = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->bad = true;
        return;
    }
    sb_put(b, s, (size_t)n);
    free(s);
}

/* A file name from an untrusted path, for showing only: its last part, with
 * anything but letters, digits, '.', '-', '_' and ' ' replaced. */
static void display_name(const char *path, int id, char *out, size_t cap)
{
    const char *b = path && *path ? base_name(path) : "";
    size_t o = 0;
    for (; *b && o + 1 < cap; b++) {
        unsigned char ch = (unsigned char)*b;
        out[o++] = isalnum(ch) || ch == '.' || ch == '-' || ch == '_' || ch == ' ' ? (char)ch : '_';
    }
    out[o] = 0;
    if (o == 0)
        snprintf(out, cap, "image %d", id);
}

/* Text of a question in Markdown: its line breaks kept as hard breaks. */
static void md_text(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            sb_put(b, "  \n", 3);
        else
            sb_put(b, s, 1);
    }
    sb_put(b, "\n", 1);
}

/* Make dir (one level) for export; an existing directory is fine, a
 * symlink or anything else is not. */
static int export_dir(const char *dir, char **err)
{
    if (mkdir(dir, 0755) == 0)
        return 0;
    struct stat st;
    if (errno == EEXIST && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (errno == EEXIST)
        return gl_err(err, "%s: exists and is not a directory", dir);
    return gl_err(err, "%s: cannot create: %s", dir, strerror(errno));
}

int session_export(const session *s, const char *out, int *n_missing, char **err)
{
    const struct session_info *in = &s->v.info;
    const char *base = base_name(out), *dot = strrchr(base, '.');
    bool md = dot && (strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0);
    bool js = dot && strcasecmp(dot, ".json") == 0;
    if (!md && !js)
        return gl_err(err, "%s: export to a file named .md (Markdown) or .json", out);
    if (dot == base)
        return gl_err(err, "%s: the file needs a name before its extension", out);
    char *imgdir = gl_strfmt("%.*s-images", (int)(dot - out), out);
    char **files = calloc((size_t)in->n_images + 1, sizeof *files);
    struct sbuf b = {0};
    json_t *doc = NULL;
    int rc = -1, missing = 0;
    bool dir_made = false;
    if (!imgdir || !files) {
        gl_err(err, "out of memory");
        goto out;
    }
    const char *rel = base_name(imgdir);
    for (int i = 0; i < in->n_images; i++) {
        const struct session_image *im = &s->v.images[i].pub;
        if (!im->data) {
            missing++;
            continue;
        }
        if (!dir_made && export_dir(imgdir, err))
            goto out;
        dir_made = true;
        /* the name comes from the id and the bytes, never from the session's path */
        char *path = gl_strfmt("%s/%d.%s", imgdir, i, session_image_ext(im->data, im->len));
        files[i] = gl_strfmt("%s/%d.%s", rel, i, session_image_ext(im->data, im->len));
        if (!path || !files[i]) {
            free(path);
            gl_err(err, "out of memory");
            goto out;
        }
        int r = session_write_file(path, im->data, im->len, 0644, err);
        free(path);
        if (r)
            goto out;
    }

    if (md) {
        char when[32] = "";
        if (in->created > 0)
            session_time_format(in->created, false, when);
        sb_printf(&b, "# glimpse conversation%s%s\n\n", *when ? " of " : "", when);
        if (in->model_name || in->llm.file)
            sb_printf(&b, "- Model: %s%s%s%s\n", in->model_name ? in->model_name : in->llm.file,
                      in->llm.file ? " (`" : "", in->llm.file ? in->llm.file : "", in->llm.file ? "`)" : "");
        sb_printf(&b, "- Template: %s, vision: %s\n", gl_template_name(in->tmpl),
                  in->vision == GL_VISION_LLAMACPP ? "llama.cpp" : "llava");
        const struct gl_sampler_params *sp = &in->sampling;
        sb_printf(&b, "- Sampling: temp %g, top-k %d, top-p %g, min-p %g, repeat penalty %g (last %d), seed %llu\n\n",
                  (double)sp->temp, sp->top_k, (double)sp->top_p, (double)sp->min_p, (double)sp->repeat_penalty,
                  sp->repeat_last_n, (unsigned long long)sp->seed);
        for (int k = 0; k < in->n_turns; k++) {
            const struct session_turn *t = &s->v.turns[k].pub;
            sb_printf(&b, "## You\n\n");
            for (int j = 0; j < t->n_images; j++) {
                int id = t->images[j];
                const struct session_image *im = &s->v.images[id].pub;
                char name[96];
                display_name(im->path, id, name, sizeof name);
                if (files[id])
                    sb_printf(&b, "![%s, %dx%d](<%s>)\n\n", name, im->width, im->height, files[id]);
                else
                    sb_printf(&b, "*(image %d, %s, %dx%d: not embedded in the session)*\n\n", id, name,
                              im->width, im->height);
            }
            md_text(&b, t->user);
            sb_printf(&b, "\n## glimpse\n\n%s\n", t->answer);
            if (t->stop == GL_STOP_CANCEL || t->stop == GL_STOP_LENGTH || t->stop == GL_STOP_ERROR)
                sb_printf(&b, "\n*(the answer was cut short: %s)*\n",
                          t->stop == GL_STOP_CANCEL ? "stopped" : t->stop == GL_STOP_LENGTH ? "length limit" : "error");
            sb_put(&b, "\n", 1);
        }
        if (b.bad) {
            gl_err(err, "out of memory");
            goto out;
        }
        rc = session_write_file(out, b.s, b.n, 0644, err);
    } else {
        json_t *turns = json_array();
        doc = json_object();
        if (!turns || !doc) {
            json_decref(turns);
            gl_err(err, "out of memory");
            goto out;
        }
        int r = 0;
        r |= json_object_set_new(doc, "format", json_string("glimpse-transcript"));
        r |= json_object_set_new(doc, "model", in->model_name ? json_string(in->model_name)
                                               : in->llm.file ? json_string(in->llm.file) : json_null());
        if (in->created > 0) {
            char when[32];
            session_time_format(in->created, false, when);
            r |= json_object_set_new(doc, "created", json_string(when));
        }
        r |= json_object_set_new(doc, "turns", turns);
        for (int k = 0; k < in->n_turns; k++) {
            const struct session_turn *t = &s->v.turns[k].pub;
            json_t *imgs = json_array();
            for (int j = 0; imgs && j < t->n_images; j++) {
                int id = t->images[j];
                const struct session_image *im = &s->v.images[id].pub;
                char name[96];
                display_name(im->path, id, name, sizeof name);
                r |= json_array_append_new(imgs, json_pack("{s:o, s:s, s:i, s:i}", "file",
                                                           files[id] ? json_string(files[id]) : json_null(),
                                                           "name", name, "width", im->width, "height", im->height));
            }
            r |= json_array_append_new(turns, json_pack("{s:s, s:s, s:o, s:s}", "user", t->user, "answer", t->answer,
                                                        "images", imgs ? imgs : json_null(), "stop",
                                                        gl_stop_name(t->stop)));
        }
        char *text = r ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text) {
            gl_err(err, "out of memory");
            goto out;
        }
        sb_put(&b, text, strlen(text));
        sb_put(&b, "\n", 1);
        free(text);
        if (b.bad) {
            gl_err(err, "out of memory");
            goto out;
        }
        rc = session_write_file(out, b.s, b.n, 0644, err);
    }
out:
    if (n_missing)
        *n_missing = missing;
    for (int i = 0; files && i < in->n_images; i++)
        free(files[i]);
    free(files);
    free(imgdir);
    free(b.s);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------ autosave and listing */

char *session_dir(char **err)
{
    const char *st = getenv("XDG_STATE_HOME");
    char *d;
    if (st && st[0] == '/') {
        d = gl_strfmt("%s/glimpse/sessions", st);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return gl_err(err, "neither XDG_STATE_HOME nor HOME is set: cannot find the sessions directory"), NULL;
        d = gl_strfmt("%s/.local/state/glimpse/sessions", home);
    }
    if (!d)
        gl_err(err, "out of memory");
    return d;
}

int session_mkdirs(const char *dir, char **err)
{
    char *p = strdup(dir);
    if (!p)
        return gl_err(err, "out of memory");
    for (char *q = p + 1;; q++) {
        if (*q == '/' || !*q) {
            char c = *q;
            *q = 0;
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                int e = errno;
                gl_err(err, "%s: cannot create: %s", p, strerror(e));
                free(p);
                return -1;
            }
            *q = c;
            if (!c)
                break;
        }
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return gl_err(err, "%s: not a directory", dir);
    return 0;
}

void session_slug(const char *text, char *out, size_t max)
{
    size_t o = 0;
    bool dash = false;
    if (max == 0)
        return;
    for (const char *p = text ? text : ""; *p && o + 1 < max; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 128 && isalnum(c)) {
            if (dash && o > 0 && o + 2 < max)
                out[o++] = '-';
            dash = false;
            out[o++] = (char)tolower(c);
        } else {
            dash = true;
        }
    }
    out[o] = 0;
    /* cut at a word boundary when the text went on */
    if (o + 1 >= max) {
        char *d = strrchr(out, '-');
        if (d && d - out > (long)max / 2)
            *d = 0;
    }
    if (!out[0])
        snprintf(out, max, "session");
}

char *session_autosave_path(const char *dir, const char *first_question, time_t when)
{
    struct tm tm;
    char stamp[32], slug[48];
    if (!localtime_r(&when, &tm))
        return NULL;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H-%M-%S", &tm);
    session_slug(first_question, slug, sizeof slug);
    for (int k = 1; k < 1000; k++) {
        char *p = k == 1 ? gl_strfmt("%s/%s-%s.json", dir, stamp, slug)
                         : gl_strfmt("%s/%s-%s-%d.json", dir, stamp, slug, k);
        struct stat st;
        if (!p || lstat(p, &st) != 0)
            return p;
        free(p);
    }
    return NULL;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct session_entry *x = a, *y = b;
    if (x->when != y->when)
        return x->when < y->when ? 1 : -1;
    return strcmp(y->path, x->path);
}

void session_list_free(struct session_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].path);
        free(e[i].first_question);
    }
    free(e);
}

int session_list(const char *dir, struct session_entry **out, size_t *n, char **err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : gl_err(err, "%s: cannot read: %s", dir, strerror(errno));
    struct session_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t L = strlen(de->d_name);
        if (de->d_name[0] == '.' || L < 6 || strcmp(de->d_name + L - 5, ".json") != 0)
            continue;
        char *path = gl_strfmt("%s/%s", dir, de->d_name);
        struct stat st;
        if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SESSION_MAX_FILE_BYTES) {
            free(path);
            continue;
        }
        /* a light read: the summary fields, without decoding the images */
        json_error_t je;
        json_t *root = json_load_file(path, LOAD_FLAGS, &je);
        const json_t *turns = json_object_get(root, "turns");
        const char *fmt = json_string_value(json_object_get(root, "format"));
        if (!root || !fmt || strcmp(fmt, SESSION_FORMAT) != 0 || !json_is_array(turns)) {
            json_decref(root);
            free(path);
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            struct session_entry *nv = realloc(v, sizeof *nv * cap);
            if (!nv) {
                json_decref(root);
                free(path);
                closedir(d);
                session_list_free(v, cnt);
                return gl_err(err, "out of memory");
            }
            v = nv;
        }
        struct session_entry *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->path = path;
        e->when = (double)st.st_mtime;
        const char *t = json_string_value(json_object_get(root, "updated"));
        if (!t)
            t = json_string_value(json_object_get(root, "created"));
        double when;
        if (t && session_time_parse(t, &when) == 0)
            e->when = when;
        const char *q = json_string_value(json_object_get(json_array_get(turns, 0), "user"));
        e->first_question = strdup(q ? q : "");
        e->n_turns = (int)json_array_size(turns);
        e->n_images = (int)json_array_size(json_object_get(root, "images"));
        json_decref(root);
        if (!e->first_question) {
            closedir(d);
            session_list_free(v, cnt);
            return gl_err(err, "out of memory");
        }
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof *v, entry_cmp);
    *out = v;
    *n = cnt;
    return 0;
}
