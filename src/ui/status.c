/*
 * status.c - progress bars, ETAs, durations and the fitting of the status
 * line (see status.h).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/status.h"
#include "ui/text.h"

void status_bar(char *out, size_t size, double fraction, int cells, bool unicode)
{
    if (!(fraction >= 0))
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    int fill = (int)floor(fraction * cells + 0.5);
    size_t o = 0;
    const char *full = unicode ? "\u2588" : "#", *empty = unicode ? "\u2591" : ".";
    size_t lf = strlen(full), le = strlen(empty);
    if (size == 0)
        return;
    if (o + 1 < size)
        out[o++] = '[';
    for (int i = 0; i < cells; i++) {
        const char *c = i < fill ? full : empty;
        size_t l = i < fill ? lf : le;
        if (o + l + 1 >= size)
            break;
        memcpy(out + o, c, l);
        o += l;
    }
    if (o + 1 < size)
        out[o++] = ']';
    out[o] = 0;
}

void status_eta(char *out, size_t size, double elapsed, double fraction)
{
    if (size)
        out[0] = 0;
    if (!(fraction >= 0.02) || fraction >= 1.0 || elapsed < 0.5)
        return;
    double left = elapsed / fraction * (1.0 - fraction);
    if (left < 60)
        snprintf(out, size, "ETA %.0fs", ceil(left));
    else if (left < 3600)
        snprintf(out, size, "ETA %dm%02ds", (int)left / 60, (int)left % 60);
    else
        snprintf(out, size, "ETA %dh%02dm", (int)(left / 3600), ((int)left % 3600) / 60);
}

void status_duration(char *out, size_t size, double ms)
{
    if (ms < 1000)
        snprintf(out, size, "%.0f ms", ms);
    else if (ms < 60000)
        snprintf(out, size, "%.1f s", ms / 1000);
    else
        snprintf(out, size, "%dm%02ds", (int)(ms / 60000), ((int)(ms / 1000)) % 60);
}

char *status_compose(const struct status_seg *segs, int n, int width, const char *sep)
{
    bool *keep = calloc((size_t)(n > 0 ? n : 1), sizeof *keep);
    if (!keep)
        return NULL;
    int sepw = text_width(sep, strlen(sep));
    int total = 0, kept = 0;
    for (int i = 0; i < n; i++) {
        if (!segs[i].text || !*segs[i].text)
            continue;
        keep[i] = true;
        total += text_width(segs[i].text, strlen(segs[i].text));
        kept++;
    }
    if (kept > 1)
        total += sepw * (kept - 1);
    /* Drop the least important segments until the line fits. */
    while (total > width && kept > 1) {
        int worst = -1;
        for (int i = 0; i < n; i++)
            if (keep[i] && (worst < 0 || segs[i].prio <= segs[worst].prio))
                worst = i;
        keep[worst] = false;
        total -= text_width(segs[worst].text, strlen(segs[worst].text)) + sepw;
        kept--;
    }
    size_t len = 1;
    for (int i = 0; i < n; i++)
        if (keep[i])
            len += strlen(segs[i].text) + strlen(sep);
    char *s = malloc(len);
    if (s) {
        size_t o = 0;
        bool first = true;
        for (int i = 0; i < n; i++) {
            if (!keep[i])
                continue;
            if (!first) {
                memcpy(s + o, sep, strlen(sep));
                o += strlen(sep);
            }
            memcpy(s + o, segs[i].text, strlen(segs[i].text));
            o += strlen(segs[i].text);
            first = false;
        }
        s[o] = 0;
    }
    free(keep);
    return s;
}
