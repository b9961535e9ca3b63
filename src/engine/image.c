/*
 * image.c - read an image file into RGB8 and square it for the vision tower.
 *
 * Decoding is stb_image's (Debian's compiled libstb: we never define
 * STB_IMAGE_IMPLEMENTATION). stb trusts its input more than we want to, so
 * before it sees a byte we check what it does not:
 *   - the file: a regular, readable file of at most GL_IMAGE_MAX_FILE_BYTES;
 *   - the declared dimensions (PNG IHDR, then stbi_info for every format):
 *     nothing is decoded, so nothing large is allocated, for a header that
 *     claims more than GL_IMAGE_MAX_SIDE a side or GL_IMAGE_MAX_PIXELS;
 *   - PNG: the chunk structure and every chunk's CRC (stb skips CRCs and
 *     happily decodes corrupted data), and compressed metadata (zTXt, iTXt,
 *     iCCP) that inflates beyond 1 MiB per chunk or 64 MiB in all - the
 *     limits PIL, LLaVA's own loader, refuses with;
 *   - JPEG: the segment structure up to the end-of-image marker, so a
 *     truncated file is refused (stb would pad it with grey, PIL refuses it),
 *     at most 1000 scans (each progressive scan re-walks the whole image);
 *   - HDR (Radiance) files are refused rather than tone-mapped: the models
 *     were trained on 8-bit pictures and stb's conversion is a guess.
 * stb's few global switches (vertical flip, iPhone PNG) are pinned off for the
 * calling thread; its failure reason is thread-local in this build.
 *
 * The JPEG EXIF orientation tag is found by a bounds-checked TIFF reader and
 * applied to the decoded pixels (stb ignores it). Malformed EXIF is ignored,
 * never fatal: it is metadata.
 *
 * The two square preprocessing paths never build the padded square: a pixel
 * outside the image simply reads as the pad colour. See image.h for the modes.
 */
#include "config.h"

#include "glimpse/image.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>

#include "util.h"

#define FORMATS "PNG, JPEG, GIF, BMP, TGA, PSD, PNM"

/* ------------------------------------------------------------------ errors */

/* Fill *err with "<name>: <message>" on one line. Control characters in the
 * name (a file name may hold a newline) are shown as '?'. Returns -1. */
static int fail(char **err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char **err, const char *name, const char *fmt, ...)
{
    char msg[512], shown[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof shown; i++) {
        unsigned char ch = (unsigned char)name[i];
        shown[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    shown[i] = '\0';
    return gl_err(err, "%s: %s", shown, msg);
}

/* Refuse declared dimensions before anything is decoded. */
static int check_dims(uint64_t w, uint64_t h, const char *name, char **err)
{
    if (w == 0 || h == 0)
        return fail(err, name, "the image has zero size (%llux%llu)", (unsigned long long)w,
                    (unsigned long long)h);
    if (w > GL_IMAGE_MAX_SIDE || h > GL_IMAGE_MAX_SIDE)
        return fail(err, name, "image too large: %llux%llu pixels (at most %d on a side)",
                    (unsigned long long)w, (unsigned long long)h, GL_IMAGE_MAX_SIDE);
    if (w * h > GL_IMAGE_MAX_PIXELS)
        return fail(err, name, "image too large: %llux%llu is %.1f Mpixel (at most %.0f)",
                    (unsigned long long)w, (unsigned long long)h, (double)(w * h) / 1e6,
                    (double)GL_IMAGE_MAX_PIXELS / 1e6);
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* -------------------------------------------------------------------- PNG */

#define PNG_META_MAX_CHUNK (1u << 20)   /* inflated bytes per zTXt/iTXt/iCCP */
#define PNG_META_MAX_TOTAL (64u << 20)  /* ... and over the whole file */

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static void crc_table_init(uint32_t table[256])
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
}

static uint32_t crc32_of(const uint32_t table[256], const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* A chunk type for messages: corrupted types may hold any byte. */
static void chunk_name(char out[5], const uint8_t *type)
{
    for (int i = 0; i < 4; i++)
        out[i] = ((type[i] | 0x20) >= 'a' && (type[i] | 0x20) <= 'z') ? (char)type[i] : '?';
    out[4] = '\0';
}

static bool png_bit_depth_ok(unsigned color, unsigned depth)
{
    switch (color) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
    }
}

/* The compressed part of a zTXt, iTXt or iCCP chunk body, or NULL if there is
 * none (uncompressed iTXt) or the chunk is malformed - stb never reads these
 * chunks, so a malformed one is harmless and not our business. */
static const uint8_t *png_meta_stream(const uint8_t *type, const uint8_t *b, size_t n,
                                      size_t *len)
{
    const uint8_t *nul = memchr(b, 0, n < 80 ? n : 80);    /* keyword: 1-79 bytes */
    if (!nul)
        return NULL;
    size_t at = (size_t)(nul - b) + 1;
    if (memcmp(type, "iTXt", 4) == 0) {
        if (n - at < 2 || b[at] == 0)                       /* compression flag */
            return NULL;
        at += 2;
        for (int skip = 0; skip < 2; skip++) {              /* language, translated keyword */
            const uint8_t *z = memchr(b + at, 0, n - at);
            if (!z)
                return NULL;
            at = (size_t)(z - b) + 1;
        }
    } else {
        if (at >= n)                                        /* compression method byte */
            return NULL;
        at++;
    }
    *len = n - at;
    return b + at;
}

/* Nearly a PNG signature: 6 or 7 of its 8 bytes right. The signature exists
 * to catch newline conversion and 7-bit channels; say so instead of "unknown
 * image type". */
static bool png_signature_damaged(const uint8_t *p)
{
    int same = 0;
    for (int i = 0; i < 8; i++)
        same += p[i] == png_signature[i];
    return same >= 6;
}

/* Walk the chunks of a PNG (signature already matched) up to IEND. */
static int png_check(const uint8_t *p, size_t n, const char *name, char **err)
{
    uint32_t table[256];
    uint8_t *scratch = NULL;
    uint64_t meta_total = 0;
    bool seen_idat = false;
    char cname[5];
    int rc = -1;

    crc_table_init(table);
    for (size_t pos = 8;;) {
        if (n - pos < 8) {
            fail(err, name, "truncated PNG (the file ends before the IEND chunk)");
            goto out;
        }
        const uint8_t *type = p + pos + 4, *body = p + pos + 8;
        uint32_t len = be32(p + pos);
        chunk_name(cname, type);
        if (pos == 8 && (memcmp(type, "IHDR", 4) != 0 || len != 13)) {
            fail(err, name, "corrupt PNG (it does not start with an IHDR chunk)");
            goto out;
        }
        if (len > 0x7fffffffu) {
            fail(err, name, "corrupt PNG (the %s chunk claims %u bytes)", cname, len);
            goto out;
        }
        if (n - pos - 8 < (uint64_t)len + 4) {
            fail(err, name, "truncated PNG (the file ends inside the %s chunk)", cname);
            goto out;
        }
        if (crc32_of(table, type, (size_t)len + 4) != be32(body + len)) {
            fail(err, name, "corrupt PNG (bad checksum in the %s chunk)", cname);
            goto out;
        }
        if (pos == 8) {
            unsigned depth = body[8], color = body[9];
            if (!png_bit_depth_ok(color, depth) || body[10] != 0 || body[11] != 0 ||
                body[12] > 1) {
                fail(err, name,
                     "corrupt PNG header (colour type %u, bit depth %u, compression %u, "
                     "filter %u, interlace %u)",
                     color, depth, body[10], body[11], body[12]);
                goto out;
            }
            if (check_dims(be32(body), be32(body + 4), name, err))
                goto out;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            seen_idat = true;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        } else if (memcmp(type, "zTXt", 4) == 0 || memcmp(type, "iTXt", 4) == 0 ||
                   memcmp(type, "iCCP", 4) == 0) {
            /* stb skips these, but a few KiB can inflate to gigabytes in any
             * other reader of the same file: refuse it as PIL does. */
            size_t zlen = 0;
            const uint8_t *z = png_meta_stream(type, body, len, &zlen);
            if (z) {
                if (!scratch && !(scratch = malloc(PNG_META_MAX_CHUNK))) {
                    fail(err, name, "out of memory");
                    goto out;
                }
                int got = stbi_zlib_decode_buffer((char *)scratch, (int)PNG_META_MAX_CHUNK,
                                                  (const char *)z, (int)zlen);
                if (got < 0) {
                    fail(err, name,
                         "refused: the compressed %s chunk is corrupt or inflates to more "
                         "than 1 MiB (a decompression bomb?)",
                         cname);
                    goto out;
                }
                meta_total += (uint64_t)got;
                if (meta_total > PNG_META_MAX_TOTAL) {
                    fail(err, name, "refused: compressed metadata inflates to more than "
                                    "64 MiB (a decompression bomb?)");
                    goto out;
                }
            }
        }
        pos += (size_t)len + 12;
    }
    if (!seen_idat) {
        fail(err, name, "corrupt PNG (no image data: IDAT chunk missing)");
        goto out;
    }
    rc = 0;
out:
    free(scratch);
    return rc;
}

/* ------------------------------------------------------------ JPEG, EXIF */

#define JPEG_MAX_SCANS 1000

/* The orientation (1-8) in a TIFF structure (the body of an Exif APP1 after
 * "Exif\0\0"), or 1 when absent or unreadable. Every read is bounds-checked:
 * offsets come from the file. */
static int exif_orientation(const uint8_t *t, size_t n)
{
    if (n < 8)
        return 1;
    bool le;
    if (t[0] == 'I' && t[1] == 'I')
        le = true;
    else if (t[0] == 'M' && t[1] == 'M')
        le = false;
    else
        return 1;
#define RD16(q) (le ? (unsigned)(q)[0] | (unsigned)(q)[1] << 8 : be16(q))
#define RD32(q) (le ? (uint32_t)(q)[0] | (uint32_t)(q)[1] << 8 | (uint32_t)(q)[2] << 16 | \
                          (uint32_t)(q)[3] << 24                                           \
                    : be32(q))
    if (RD16(t + 2) != 42)
        return 1;
    uint32_t ifd = RD32(t + 4);
    if (ifd > n || n - ifd < 2)
        return 1;
    unsigned count = RD16(t + ifd);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e > n || n - e < 12)
            break;
        if (RD16(t + e) != 0x0112)
            continue;
        unsigned type = RD16(t + e + 2);
        uint32_t cnt = RD32(t + e + 4);
        uint32_t v = 0;
        if (type == 3 && cnt >= 1)              /* SHORT, value in the entry itself */
            v = RD16(t + e + 8);
        else if (type == 4 && cnt >= 1)         /* LONG: not standard, but seen */
            v = RD32(t + e + 8);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
#undef RD16
#undef RD32
}

/* Walk a JPEG's segments (SOI already matched) to the end-of-image marker,
 * skipping entropy-coded data; note the EXIF orientation on the way. */
/* A DHT segment's payload: tables of (class << 4 | id, 16 counts, values).
 * Marks each defined[class][id]; -1 when the tables do not fill the segment
 * exactly or name a class > 1 or an id > 3. */
static int jpeg_dht(const uint8_t *q, size_t n, bool defined[2][4])
{
    while (n > 0) {
        if (n < 17)
            return -1;
        unsigned tc = q[0] >> 4, th = q[0] & 15;
        size_t vals = 0;
        for (int i = 1; i <= 16; i++)
            vals += q[i];
        if (tc > 1 || th > 3 || n - 17 < vals)
            return -1;
        defined[tc][th] = true;
        q += 17 + vals;
        n -= 17 + vals;
    }
    return 0;
}

/* Does a scan (SOS payload) use a Huffman table no DHT has defined?
 * stb_image does not check, and decodes with whatever its uninitialised
 * table holds: wild reads (found by tests/fuzz/fuzz_image). The tables a
 * scan decodes with: baseline, DC and AC; progressive, a first DC scan (Ss 0,
 * Ah 0) DC only, a DC refinement none, an AC scan AC only. Returns
 * (class << 2 | id) of the first missing table, or -1 (also when the
 * payload is malformed: stb_image refuses those itself). */
static int jpeg_sos_tables(const uint8_t *q, size_t n, bool progressive, const bool defined[2][4])
{
    if (n < 1 || n < 1 + 2 * (size_t)q[0] + 3)
        return -1;
    unsigned ns = q[0], ss = q[1 + 2 * ns], ah = q[3 + 2 * ns] >> 4;
    bool dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
    for (unsigned i = 0; i < ns; i++) {
        unsigned td = q[2 + 2 * i] >> 4, ta = q[2 + 2 * i] & 15;
        if (dc && td < 4 && !defined[0][td])
            return (int)td;
        if (ac && ta < 4 && !defined[1][ta])
            return 4 | (int)ta;
    }
    return -1;
}

static int jpeg_check(const uint8_t *p, size_t n, const char *name, int *orientation,
                      char **err)
{
    size_t pos = 2;
    int scans = 0;
    bool have_exif = false, progressive = false;
    bool defined[2][4] = {{false}};     /* [DC, AC][table id] seen in a DHT so far */

    *orientation = 1;
    for (;;) {
        /* Junk between segments happens in the wild; decoders skip it. */
        while (pos < n && p[pos] != 0xff)
            pos++;
        while (pos < n && p[pos] == 0xff)       /* fill bytes */
            pos++;
        if (pos >= n)
            return fail(err, name, "truncated JPEG (no end-of-image marker)");
        unsigned m = p[pos++];
        if (m == 0xd9)
            return 0;
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7))
            continue;                           /* stray or parameterless markers */
        if (n - pos < 2)
            return fail(err, name, "truncated JPEG (the file ends inside a segment header)");
        size_t len = be16(p + pos);
        if (len < 2)
            return fail(err, name, "corrupt JPEG (segment 0x%02X has length %zu)", m, len);
        if (n - pos < len)
            return fail(err, name, "truncated JPEG (the file ends inside segment 0x%02X)", m);
        if (m == 0xe1 && !have_exif && len >= 8 && memcmp(p + pos + 2, "Exif\0\0", 6) == 0) {
            have_exif = true;
            *orientation = exif_orientation(p + pos + 8, len - 8);
        }
        if (m == 0xc0 || m == 0xc1 || m == 0xc2)
            progressive = m == 0xc2;
        if (m == 0xc4 && jpeg_dht(p + pos + 2, len - 2, defined))
            return fail(err, name, "corrupt JPEG (bad Huffman table segment)");
        if (m == 0xda) {
            int which = jpeg_sos_tables(p + pos + 2, len - 2, progressive, defined);
            if (which >= 0)
                return fail(err, name, "damaged or unsupported JPEG: a scan uses %s Huffman table %d, "
                                       "which the file does not define", which >> 2 ? "AC" : "DC",
                            which & 3);
        }
        pos += len;
        if (m == 0xda) {
            if (++scans > JPEG_MAX_SCANS)
                return fail(err, name, "refused: more than %d scans in one JPEG",
                            JPEG_MAX_SCANS);
            /* Entropy-coded data ends at the first marker that is not a stuffed
             * 0xFF00, a restart marker or a fill byte. */
            for (;; pos++) {
                if (n - pos < 2)
                    return fail(err, name, "truncated JPEG (the file ends inside the "
                                           "compressed image data)");
                if (p[pos] == 0xff && p[pos + 1] != 0x00 && p[pos + 1] != 0xff &&
                    !(p[pos + 1] >= 0xd0 && p[pos + 1] <= 0xd7))
                    break;
            }
        }
    }
}

/* A copy of src (w x h RGB) turned as EXIF orientation o says, so that it
 * displays upright: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90
 * clockwise, 7 transverse, 8 rotate 90 counter-clockwise. NULL on OOM. */
static uint8_t *orient(const uint8_t *src, int w, int h, int o, int *ow, int *oh)
{
    bool swap = o >= 5;
    int W = swap ? h : w, H = swap ? w : h;
    uint8_t *dst = malloc((size_t)w * (size_t)h * 3);
    if (!dst)
        return NULL;
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            int sx, sy;     /* the stored pixel shown at (x, y) */
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            case 8: sx = w - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            memcpy(dst + ((size_t)y * W + x) * 3, src + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    *ow = W;
    *oh = H;
    return dst;
}

/* ---------------------------------------------------------------- loading */

int gl_image_load_mem(const void *buf, size_t len, const char *name,
                      const struct gl_image_opts *opts, struct gl_image *out, char **err)
{
    const uint8_t *p = buf;
    int orientation = 1, w = 0, h = 0, comp = 0;

    assert(out);
    memset(out, 0, sizeof *out);
    if (!name)
        name = "image";
    if (!p || len == 0)
        return fail(err, name, "empty file");
    if (len > GL_IMAGE_MAX_FILE_BYTES)
        return fail(err, name, "file too large (%zu bytes; at most %u MiB)", len,
                    GL_IMAGE_MAX_FILE_BYTES >> 20);

    if (len >= 8 && memcmp(p, png_signature, 8) == 0) {
        if (png_check(p, len, name, err))
            return -1;
    } else if (len >= 8 && png_signature_damaged(p)) {
        return fail(err, name, "corrupt PNG signature (damaged by a text-mode transfer?)");
    } else if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        if (jpeg_check(p, len, name, &orientation, err))
            return -1;
    }
    if (stbi_is_hdr_from_memory(p, (int)len))
        return fail(err, name, "HDR (Radiance) images are not supported; convert it to "
                               "PNG or JPEG");
    if (!stbi_info_from_memory(p, (int)len, &w, &h, &comp)) {
        const char *why = stbi_failure_reason();
        return fail(err, name, "not an image glimpse can read (" FORMATS "): %s",
                    why ? why : "unknown format");
    }
    if (check_dims((uint64_t)(w < 0 ? 0 : w), (uint64_t)(h < 0 ? 0 : h), name, err))
        return -1;

    /* Global switches someone else in the process might have flipped. */
    stbi_set_flip_vertically_on_load_thread(0);
    stbi_convert_iphone_png_to_rgb_thread(0);
    int dw = 0, dh = 0;
    uint8_t *pix = stbi_load_from_memory(p, (int)len, &dw, &dh, &comp, 3);
    if (!pix) {
        const char *why = stbi_failure_reason();
        return fail(err, name, "damaged or unsupported image (%s)", why ? why : "no reason given");
    }
    if ((dw != w || dh != h) && check_dims((uint64_t)(dw < 0 ? 0 : dw),
                                           (uint64_t)(dh < 0 ? 0 : dh), name, err)) {
        stbi_image_free(pix);
        return -1;
    }

    /* The result is always ours (malloc), not stb's, so gl_image_free never
     * depends on how libstb was built. */
    bool turn = orientation != 1 && !(opts && opts->no_exif);
    if (turn) {
        out->rgb = orient(pix, dw, dh, orientation, &out->w, &out->h);
    } else if ((out->rgb = malloc((size_t)dw * (size_t)dh * 3)) != NULL) {
        memcpy(out->rgb, pix, (size_t)dw * (size_t)dh * 3);
        out->w = dw;
        out->h = dh;
    }
    stbi_image_free(pix);
    if (!out->rgb) {
        memset(out, 0, sizeof *out);
        return fail(err, name, "out of memory for a %dx%d image", dw, dh);
    }
    return 0;
}

int gl_image_load(const char *path, const struct gl_image_opts *opts, struct gl_image *out,
                  char **err)
{
    struct stat st;
    uint8_t *buf = NULL;
    int rc = -1;

    assert(path && out);
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(err, path, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0) {
        fail(err, path, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        fail(err, path, "is a directory, not an image file");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, path, "not a regular file");
        goto out;
    }
    if (st.st_size == 0) {
        fail(err, path, "empty file");
        goto out;
    }
    if ((uint64_t)st.st_size > GL_IMAGE_MAX_FILE_BYTES) {
        fail(err, path, "file too large (%lld bytes; at most %u MiB)", (long long)st.st_size,
             GL_IMAGE_MAX_FILE_BYTES >> 20);
        goto out;
    }
    size_t want = (size_t)st.st_size, got = 0;
    if (!(buf = malloc(want))) {
        fail(err, path, "out of memory");
        goto out;
    }
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fail(err, path, "read error: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;      /* the file shrank meanwhile: decode what is there */
        got += (size_t)r;
    }
    rc = gl_image_load_mem(buf, got, path, opts, out, err);
out:
    free(buf);
    close(fd);
    return rc;
}

void gl_image_free(struct gl_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* ------------------------------------------- LLaVA: PIL bicubic resampling */

/* PIL's 8-bit resampling keeps weights in fixed point with 22 fraction bits:
 * 8 bits of pixel value and 2 bits of headroom for the filter's negative lobes
 * fit in an int32 sum (|sum| < 255 * 1.5 * 2^22 < 2^31). */
#define PIL_BITS 22

/* Keys' cubic convolution kernel with a = -0.5 (PIL's BICUBIC), support 2. */
static double cubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* The weights of one axis, n_in samples -> n_out: output i reads the inputs
 * first[i] .. first[i] + count[i] - 1 with weights w[i * ksize + k]. */
struct axis {
    int ksize;
    int *first;         /* [n_out] */
    int *count;         /* [n_out] */
    int32_t *w;         /* [n_out][ksize], each row sums to ~1 << PIL_BITS */
};

static void axis_free(struct axis *ax)
{
    free(ax->first);
    free(ax->count);
    free(ax->w);
    memset(ax, 0, sizeof *ax);
}

/* Same arithmetic, in the same order, as PIL's precompute_coeffs() and
 * normalize_coeffs_8bpc(): the double weights decide rounding to fixed point,
 * so they must match to the last bit. */
static int axis_init(struct axis *ax, int n_in, int n_out)
{
    double scale = (double)n_in / n_out;
    double fscale = scale < 1.0 ? 1.0 : scale;    /* widen the filter only to shrink */
    double support = 2.0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *tmp = malloc((size_t)ksize * sizeof *tmp);

    memset(ax, 0, sizeof *ax);
    ax->ksize = ksize;
    ax->first = malloc((size_t)n_out * sizeof *ax->first);
    ax->count = malloc((size_t)n_out * sizeof *ax->count);
    ax->w = calloc((size_t)n_out * (size_t)ksize, sizeof *ax->w);
    if (!tmp || !ax->first || !ax->count || !ax->w) {
        free(tmp);
        axis_free(ax);
        return -1;
    }
    for (int i = 0; i < n_out; i++) {
        double center = (i + 0.5) * scale, sum = 0.0, ss = 1.0 / fscale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > n_in)
            hi = n_in;
        int cnt = hi - lo;
        for (int k = 0; k < cnt; k++) {
            tmp[k] = cubic((k + lo - center + 0.5) * ss);
            sum += tmp[k];
        }
        int32_t *w = ax->w + (size_t)i * ksize;
        for (int k = 0; k < cnt; k++) {
            double v = sum != 0.0 ? tmp[k] / sum : tmp[k];
            w[k] = v < 0 ? (int32_t)(-0.5 + v * (1 << PIL_BITS))
                         : (int32_t)(0.5 + v * (1 << PIL_BITS));
        }
        ax->first[i] = lo;
        ax->count[i] = cnt;
    }
    free(tmp);
    return 0;
}

/* Fixed-point sum (with the rounding half already added) -> 0..255. */
static uint8_t clip8(int32_t v)
{
    if (v < 0)
        return 0;
    v >>= PIL_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* expand2square (image centred on pad) then PIL's resize to size x size with
 * BICUBIC: horizontal pass into an 8-bit image, then vertical pass. */
static int square_llava(const struct gl_image *in, int size, const uint8_t pad[3], uint8_t *out)
{
    const int w = in->w, h = in->h, s = w > h ? w : h;
    const int ox = (s - w) / 2, oy = (s - h) / 2;
    struct axis ax = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL, *padw = NULL;
    int *k0 = NULL, *k1 = NULL;
    int rc = -1;

    if (s == size) {    /* PIL copies instead of resampling to the same size */
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                uint8_t *d = out + ((size_t)y * s + x) * 3;
                int ix = x - ox, iy = y - oy;
                if (ix >= 0 && ix < w && iy >= 0 && iy < h)
                    memcpy(d, in->rgb + ((size_t)iy * w + ix) * 3, 3);
                else
                    memcpy(d, pad, 3);
            }
        return 0;
    }
    /* Both axes go s -> size, so they share the weights. */
    if (axis_init(&ax, s, size))
        return -1;
    /* Rows of the square the vertical pass reads (PIL resamples only those). */
    int y_first = ax.first[0];
    int y_last = ax.first[size - 1] + ax.count[size - 1];
    size_t trow = (size_t)size * 3;
    tmp = malloc((size_t)(y_last - y_first) * trow);               /* (y_last-y_first, size, 3) */
    acc = malloc(trow * sizeof *acc);                              /* (size, 3) */
    /* Output column i reads taps k in [k0[i], k1[i]) from the image; the
     * other taps read the pad colour, whose share padw[i] (the sum of their
     * weights) is the same on every row. Summing the pad taps first is the
     * same integer sum, so the result is PIL's to the bit - and a row costs
     * what its image pixels cost, not the square's width (a 1 x 16384 image
     * would otherwise resample a 16384-wide row 16384 times). */
    k0 = malloc((size_t)size * sizeof *k0);
    k1 = malloc((size_t)size * sizeof *k1);
    padw = malloc((size_t)size * sizeof *padw);
    if (!tmp || !acc || !k0 || !k1 || !padw)
        goto out;
    for (int i = 0; i < size; i++) {
        const int32_t *wk = ax.w + (size_t)i * ax.ksize;
        int lo = ox - ax.first[i], hi = ox + w - ax.first[i];
        lo = lo < 0 ? 0 : lo > ax.count[i] ? ax.count[i] : lo;
        hi = hi < lo ? lo : hi > ax.count[i] ? ax.count[i] : hi;
        k0[i] = lo;
        k1[i] = hi;
        padw[i] = 0;
        for (int k = 0; k < ax.count[i]; k++)
            if (k < lo || k >= hi)
                padw[i] += wk[k];
    }

    /* Horizontal pass. Pad-only rows are all alike: compute the first one and
     * copy it. */
    int pad_row = -1;
    for (int y = y_first; y < y_last; y++) {
        uint8_t *t = tmp + (size_t)(y - y_first) * trow;
        bool inside = y >= oy && y < oy + h;
        if (!inside && pad_row >= 0) {
            memcpy(t, tmp + (size_t)(pad_row - y_first) * trow, trow);
            continue;
        }
        if (!inside)
            pad_row = y;
        const uint8_t *img = inside ? in->rgb + (size_t)(y - oy) * w * 3 : NULL;
        for (int i = 0; i < size; i++) {
            const int32_t *wk = ax.w + (size_t)i * ax.ksize;
            int32_t pw = padw[i];
            if (!inside)        /* every tap is pad */
                for (int k = k0[i]; k < k1[i]; k++)
                    pw += wk[k];
            int32_t s0 = (1 << (PIL_BITS - 1)) + pad[0] * pw;
            int32_t s1 = (1 << (PIL_BITS - 1)) + pad[1] * pw;
            int32_t s2 = (1 << (PIL_BITS - 1)) + pad[2] * pw;
            if (inside && k0[i] < k1[i]) {
                /* tap k reads image column first[i] + k - ox (>= 0 from k0 on) */
                const uint8_t *src = img + (size_t)(ax.first[i] + k0[i] - ox) * 3;
                for (int k = k0[i]; k < k1[i]; k++, src += 3) {
                    s0 += src[0] * wk[k];
                    s1 += src[1] * wk[k];
                    s2 += src[2] * wk[k];
                }
            }
            t[i * 3 + 0] = clip8(s0);
            t[i * 3 + 1] = clip8(s1);
            t[i * 3 + 2] = clip8(s2);
        }
    }

    /* Vertical pass, a whole output row at a time for memory order. */
    for (int j = 0; j < size; j++) {
        const int32_t *wk = ax.w + (size_t)j * ax.ksize;
        for (size_t q = 0; q < trow; q++)
            acc[q] = 1 << (PIL_BITS - 1);
        for (int k = 0; k < ax.count[j]; k++) {
            const uint8_t *t = tmp + (size_t)(ax.first[j] + k - y_first) * trow;
            for (size_t q = 0; q < trow; q++)
                acc[q] += t[q] * wk[k];
        }
        for (size_t q = 0; q < trow; q++)
            out[(size_t)j * trow + q] = clip8(acc[q]);
    }
    rc = 0;
out:
    axis_free(&ax);
    free(tmp);
    free(acc);
    free(k0);
    free(k1);
    free(padw);
    return rc;
}

/* ----------------------------------------- llama.cpp: clip.cpp's bilinear */

/* A product rounded to float on its own. llama.cpp's result was computed with
 * separate multiplies and adds; a compiler allowed to fuse them into FMAs
 * (e.g. -march=native with GCC's default -ffp-contract=fast) would change
 * some pixels by one level. The volatile store forbids the fusion. */
static float mul_rounded(float a, float b)
{
    volatile float r = a * b;
    return r;
}

/* Pad to the square with the image in the top-left corner, then bilinear
 * sampling with f32 arithmetic and round-half-away-from-zero (FORMAT.md §6). */
static void square_llamacpp(const struct gl_image *in, int size, const uint8_t pad[3],
                            uint8_t *out)
{
    const int w = in->w, h = in->h, s = w > h ? w : h;
    const float scale = (float)s / (float)size;

    for (int y = 0; y < size; y++) {
        float sy = (y + 0.5f) * scale - 0.5f;
        int y0 = (int)floorf(sy);
        if (y0 < 0)
            y0 = 0;
        int y1 = y0 + 1 < s - 1 ? y0 + 1 : s - 1;
        float dy = sy - (float)y0;
        for (int x = 0; x < size; x++) {
            float sx = (x + 0.5f) * scale - 0.5f;
            int x0 = (int)floorf(sx);
            if (x0 < 0)
                x0 = 0;
            int x1 = x0 + 1 < s - 1 ? x0 + 1 : s - 1;
            float dx = sx - (float)x0;
            /* The four neighbours; outside the image means the pad colour. */
            const uint8_t *q00 = x0 < w && y0 < h ? in->rgb + ((size_t)y0 * w + x0) * 3 : pad;
            const uint8_t *q01 = x1 < w && y0 < h ? in->rgb + ((size_t)y0 * w + x1) * 3 : pad;
            const uint8_t *q10 = x0 < w && y1 < h ? in->rgb + ((size_t)y1 * w + x0) * 3 : pad;
            const uint8_t *q11 = x1 < w && y1 < h ? in->rgb + ((size_t)y1 * w + x1) * 3 : pad;
            for (int c = 0; c < 3; c++) {
                float v0 = mul_rounded(q00[c], 1.0f - dx) + mul_rounded(q01[c], dx);
                float v1 = mul_rounded(q10[c], 1.0f - dx) + mul_rounded(q11[c], dx);
                float v = mul_rounded(v0, 1.0f - dy) + mul_rounded(v1, dy);
                v = roundf(v);      /* half away from zero, like std::round */
                out[((size_t)y * size + x) * 3 + c] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
            }
        }
    }
}

/* ------------------------------------------------------------- public API */

int gl_image_square(const struct gl_image *in, enum gl_preprocess mode, int size,
                    const uint8_t pad_rgb[3], uint8_t *out, char **err)
{
    assert(in && in->rgb && in->w > 0 && in->h > 0 && size > 0 && pad_rgb && out);
    if (mode == GL_PRE_LLAMACPP) {
        square_llamacpp(in, size, pad_rgb, out);
        return 0;
    }
    assert(mode == GL_PRE_LLAVA);
    if (square_llava(in, size, pad_rgb, out))
        return gl_err(err, "out of memory resizing a %dx%d image to %dx%d", in->w, in->h, size,
                      size);
    return 0;
}

void gl_image_normalize(float *out_chw, const uint8_t *rgb, int size, const float mean[3],
                        const float std[3])
{
    const size_t plane = (size_t)size * size;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            out_chw[c * plane + i] = ((float)rgb[i * 3 + c] / 255.0f - mean[c]) / std[c];
}
