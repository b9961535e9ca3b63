/*
 * image.h - decode an image file and turn it into what the vision tower reads.
 *
 * Decoding uses stb_image (PNG, JPEG incl. progressive, GIF first frame, BMP,
 * TGA, PSD, PNM, HDR is refused). Files and images are size-checked before
 * anything large is allocated. The JPEG EXIF orientation tag is applied unless
 * asked not to.
 *
 * Two preprocessing modes produce a size x size RGB8 square:
 *   GL_PRE_LLAVA     LLaVA-1.5 as trained: expand2square (image centred on the
 *                    pad colour), then PIL-compatible bicubic resize
 *                    (antialiased when shrinking, PIL's separable filter).
 *   GL_PRE_LLAMACPP  llama.cpp's clip.cpp: pad with the image in the top-left
 *                    corner, bilinear resize with round-half-away-from-zero.
 */
#ifndef GLIMPSE_IMAGE_H
#define GLIMPSE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GL_IMAGE_MAX_FILE_BYTES (64u << 20)   /* 64 MiB */
#define GL_IMAGE_MAX_SIDE 16384
#define GL_IMAGE_MAX_PIXELS 100000000ull      /* 100 Mpixel */

struct gl_image {
    int w, h;
    uint8_t *rgb;               /* h rows of w pixels, RGB interleaved (HWC); malloc'd */
};

struct gl_image_opts {
    bool no_exif;               /* ignore the EXIF orientation tag */
};

/* Load an image file. 0 on success; -1 with *err (one line, names the file). */
int gl_image_load(const char *path, const struct gl_image_opts *opts, struct gl_image *out,
                  char **err);
/* Same from memory; `name` is used in messages. */
int gl_image_load_mem(const void *buf, size_t len, const char *name,
                      const struct gl_image_opts *opts, struct gl_image *out, char **err);
void gl_image_free(struct gl_image *img);       /* frees rgb, zeroes the struct */

enum gl_preprocess {
    GL_PRE_LLAVA = 0,
    GL_PRE_LLAMACPP = 1
};

/* Pad to a square with pad_rgb and resize to size x size: out is size*size*3
 * bytes (HWC). Returns 0, or -1 on OOM. */
int gl_image_square(const struct gl_image *in, enum gl_preprocess mode, int size,
                    const uint8_t pad_rgb[3], uint8_t *out, char **err);

/* out_chw[c][y][x] = (rgb[y][x][c] / 255 - mean[c]) / std[c], planar. */
void gl_image_normalize(float *out_chw, const uint8_t *rgb, int size,
                        const float mean[3], const float std[3]);

#ifdef __cplusplus
}
#endif
#endif
