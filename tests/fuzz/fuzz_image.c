/*
 * fuzz_image.c - libFuzzer target: arbitrary bytes as an image file.
 *
 * gl_image_load_mem puts glimpse's own checks (file size, header sizes,
 * pixel counts, EXIF) in front of stb_image; whatever it accepts must be a
 * sane picture, and a small one is then padded and resized in both
 * preprocessing modes and normalised, as the vision tower's input is made.
 * Built by `make fuzz` with clang -fsanitize=fuzzer,address,undefined.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glimpse/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);   /* exact size: ASan sees overreads */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct gl_image img = {0};
    struct gl_image_opts o = {.no_exif = false};
    char *err = NULL;
    int rc = gl_image_load_mem(buf, size, "fuzz.img", &o, &img, &err);
    if (rc != 0) {
        if (!err) {
            fprintf(stderr, "fuzz_image: refused without a message\n");
            abort();
        }
        free(err);
        free(buf);
        return 0;
    }
    if (err || !img.rgb || img.w <= 0 || img.h <= 0 || img.w > GL_IMAGE_MAX_SIDE ||
        img.h > GL_IMAGE_MAX_SIDE || (uint64_t)img.w * (uint64_t)img.h > GL_IMAGE_MAX_PIXELS) {
        fprintf(stderr, "fuzz_image: accepted an impossible image %dx%d\n", img.w, img.h);
        abort();
    }
    /* Touch the last pixel: the buffer must really be w*h*3 bytes. */
    volatile uint8_t last = img.rgb[(size_t)img.w * (size_t)img.h * 3 - 1];
    (void)last;
    if ((uint64_t)img.w * (uint64_t)img.h <= 512u * 512u) {
        /* A small square: sizes 1..48 chosen by the input's last byte, so
         * that both shrinking and enlarging happen. */
        int s = 1 + (size ? data[size - 1] % 48 : 0);
        static const uint8_t pad[3] = {122, 116, 104};
        static const float mean[3] = {0.48f, 0.46f, 0.41f}, stdv[3] = {0.27f, 0.26f, 0.28f};
        uint8_t *sq = malloc((size_t)s * (size_t)s * 3);
        float *chw = malloc((size_t)s * (size_t)s * 3 * sizeof *chw);
        for (int mode = GL_PRE_LLAVA; sq && chw && mode <= GL_PRE_LLAMACPP; mode++) {
            err = NULL;
            if (gl_image_square(&img, (enum gl_preprocess)mode, s, pad, sq, &err) == 0)
                gl_image_normalize(chw, sq, s, mean, stdv);
            else if (!err)
                abort();
            free(err);
        }
        free(sq);
        free(chw);
    }
    gl_image_free(&img);
    if (img.rgb || img.w || img.h)
        abort();                /* gl_image_free zeroes the struct */
    free(buf);
    return 0;
}
