/*
 * mksample.c - draw glimpse's sample picture (used by `glimpse --demo`) and
 * write it as a PNG. Run at build time: `mksample share/glimpse-sample.png`.
 *
 * A 480x320 country scene: a sky that lightens towards the horizon, a sun
 * with a glow and rays, two clouds, a bird, rolling hills, a house with a
 * red roof, windows, a door and a chimney, a tree, a path and flowers.
 * Every pixel averages SS x SS samples of the scene, each found by
 * painting the shapes in back-to-front order, so edges are smooth. The
 * output is the same bytes on every run.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#define W 480
#define H 320
#define SS 4                    /* samples per pixel along each axis */

struct rgb {
    float r, g, b;
};

static struct rgb mix(struct rgb a, struct rgb b, float t)
{
    if (t < 0.0f)
        t = 0.0f;
    if (t > 1.0f)
        t = 1.0f;
    return (struct rgb){ a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t };
}

static struct rgb hex(uint32_t c)
{
    return (struct rgb){ (float)(c >> 16 & 255), (float)(c >> 8 & 255), (float)(c & 255) };
}

/* ------------------------------------------------------------ shapes
 * Each answers "is (x, y) inside?" for one sample point. */

static bool in_circle(float x, float y, float cx, float cy, float r)
{
    return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
}

static bool in_rect(float x, float y, float x0, float y0, float x1, float y1)
{
    return x >= x0 && x < x1 && y >= y0 && y < y1;
}

/* The side of the line a->b that p is on. */
static float edge(float ax, float ay, float bx, float by, float px, float py)
{
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

static bool in_triangle(float x, float y, float ax, float ay, float bx, float by, float cx,
                        float cy)
{
    float e0 = edge(ax, ay, bx, by, x, y), e1 = edge(bx, by, cx, cy, x, y),
          e2 = edge(cx, cy, ax, ay, x, y);
    return (e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0);
}

/* Within distance r of the segment a-b (a thick line with round ends). */
static bool in_capsule(float x, float y, float ax, float ay, float bx, float by, float r)
{
    float dx = bx - ax, dy = by - ay;
    float t = ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    float qx = ax + t * dx - x, qy = ay + t * dy - y;
    return qx * qx + qy * qy <= r * r;
}

/* ------------------------------------------------------------ the scene */

#define SUN_X 426.0f
#define SUN_Y 52.0f
#define SUN_R 28.0f
#define PI_F 3.14159265f

/* Top of the far and near hills at column x. */
static float far_hill(float x) { return 196.0f + 14.0f * sinf(x / 58.0f + 0.6f); }
static float near_hill(float x) { return 246.0f + 9.0f * sinf(x / 41.0f + 2.0f); }

static bool in_cloud(float x, float y, float cx, float cy)
{
    return in_circle(x, y, cx, cy, 17) || in_circle(x, y, cx + 20, cy - 9, 21) ||
           in_circle(x, y, cx + 42, cy, 16) || in_rect(x, y, cx, cy, cx + 42, cy + 16);
}

static bool in_tree_crown(float x, float y)
{
    return in_circle(x, y, 368, 162, 34) || in_circle(x, y, 345, 182, 26) ||
           in_circle(x, y, 391, 182, 26) || in_circle(x, y, 368, 136, 24);
}

/* Flowers: a fixed scatter over the near meadow. */
static bool in_flower(float x, float y, struct rgb *c)
{
    static const struct {
        float x, y;
        uint32_t c;
    } fl[] = {
        { 40, 280, 0xe84a5f }, { 78, 300, 0xffd23f }, { 118, 272, 0xffffff },
        { 300, 290, 0xe84a5f }, { 318, 276, 0xffd23f }, { 352, 304, 0xb57edc },
        { 440, 286, 0xffffff }, { 462, 308, 0xe84a5f }, { 20, 310, 0xb57edc },
        { 270, 306, 0xffd23f },
    };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        if (in_circle(x, y, fl[i].x, fl[i].y, 1.6f)) {
            *c = hex(0xffb703);                                /* the middle */
            return true;
        }
        if (in_circle(x, y, fl[i].x, fl[i].y, 4.0f)) {
            *c = hex(fl[i].c);
            return true;
        }
    }
    return false;
}

static struct rgb shade(float x, float y)
{
    /* sky: deep blue at the top, pale near the horizon, warmer near the sun */
    struct rgb c = mix(hex(0x3d7cc9), hex(0xcfe8f7), y / 210.0f);
    float ds = sqrtf((x - SUN_X) * (x - SUN_X) + (y - SUN_Y) * (y - SUN_Y));
    c = mix(c, hex(0xfff3c4), 0.55f * expf(-(ds - SUN_R) / 45.0f) * (ds > SUN_R));
    for (int k = 0; k < 12; k++) {
        float a = (float)k * (2 * PI_F / 12) + 0.13f;
        if (in_capsule(x, y, SUN_X + 40 * cosf(a), SUN_Y + 40 * sinf(a), SUN_X + 54 * cosf(a),
                       SUN_Y + 54 * sinf(a), 2.2f))
            c = hex(0xffd34e);
    }
    if (ds <= SUN_R)
        c = mix(hex(0xffe066), hex(0xffb703), ds / SUN_R);

    if (in_cloud(x, y, 70, 62) || in_cloud(x, y, 210, 40))
        c = mix(hex(0xffffff), hex(0xdfe7ef), (y - 40) / 45.0f);
    /* a bird: two short arcs */
    if (in_capsule(x, y, 280, 92, 289, 98, 1.3f) || in_capsule(x, y, 289, 98, 298, 91, 1.3f))
        c = hex(0x2b2d42);

    if (y >= far_hill(x))
        c = mix(hex(0x8cc084), hex(0x6da56a), (y - 190) / 60.0f);
    if (y >= near_hill(x))
        c = mix(hex(0x5a9e4b), hex(0x3f7a36), (y - 240) / 80.0f);

    /* the path from the door down to the bottom edge */
    float t = (y - 262) / (H - 262.0f);
    if (t >= 0 && x >= 200 - 38 * t && x < 224 + 38 * t)
        c = mix(hex(0xd9c49a), hex(0xc8ad7f), t);

    struct rgb fc;
    if (in_flower(x, y, &fc))
        c = fc;

    /* the house: chimney behind the roof, roof, walls, door, windows */
    if (in_rect(x, y, 236, 108, 254, 160))
        c = hex(0x8d5a4a);
    if (in_triangle(x, y, 136, 172, 284, 172, 210, 112))
        c = mix(hex(0xc8553d), hex(0x9e3b2c), (y - 112) / 60.0f);
    if (in_rect(x, y, 148, 172, 272, 262))
        c = in_rect(x, y, 148, 172, 272, 177) ? hex(0xbfb49a) : hex(0xf2e6c9);
    if (in_rect(x, y, 200, 212, 224, 262)) {
        c = hex(0x7a4a2a);
        if (in_circle(x, y, 219, 238, 1.8f))
            c = hex(0xffd166);
    }
    for (int wdw = 0; wdw < 2; wdw++) {
        float x0 = wdw ? 234 : 160, y0 = 188;
        if (in_rect(x, y, x0 - 3, y0 - 3, x0 + 29, y0 + 27))
            c = hex(0xffffff);                               /* frame */
        if (in_rect(x, y, x0, y0, x0 + 26, y0 + 24) && !in_rect(x, y, x0 + 12, y0, x0 + 14, y0 + 24) &&
            !in_rect(x, y, x0, y0 + 11, x0 + 26, y0 + 13))
            c = mix(hex(0xa9d6f5), hex(0x6fa8dc), (y - y0) / 24.0f);
    }

    /* the tree */
    if (in_rect(x, y, 360, 180, 376, 266))
        c = hex(0x7b5230);
    if (in_tree_crown(x, y)) {
        /* lit from the sun's side (upper right) */
        float l = ((x - 368) * 0.6f - (y - 160) * 0.8f) / 60.0f;
        c = mix(hex(0x2f7d32), hex(0x66bb6a), 0.5f + 0.5f * l);
    }
    return c;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT.png\n", argv[0]);
        return 2;
    }
    unsigned char *img = malloc((size_t)W * H * 3);
    if (!img) {
        fprintf(stderr, "mksample: out of memory\n");
        return 1;
    }
    for (int py = 0; py < H; py++)
        for (int px = 0; px < W; px++) {
            float r = 0, g = 0, b = 0;
            for (int sy = 0; sy < SS; sy++)
                for (int sx = 0; sx < SS; sx++) {
                    struct rgb c = shade(px + (sx + 0.5f) / SS, py + (sy + 0.5f) / SS);
                    r += c.r;
                    g += c.g;
                    b += c.b;
                }
            unsigned char *o = img + ((size_t)py * W + px) * 3;
            o[0] = (unsigned char)lrintf(r / (SS * SS));
            o[1] = (unsigned char)lrintf(g / (SS * SS));
            o[2] = (unsigned char)lrintf(b / (SS * SS));
        }
    int ok = stbi_write_png(argv[1], W, H, 3, img, W * 3);
    free(img);
    if (!ok) {
        fprintf(stderr, "mksample: cannot write %s\n", argv[1]);
        return 1;
    }
    return 0;
}
