/*
 * status.h - the status line's pieces: a progress bar with its fraction and
 * ETA, durations and rates for people, and fitting a line of segments into
 * the terminal's width. Pure (no curses).
 */
#ifndef GLIMPSE_UI_STATUS_H
#define GLIMPSE_UI_STATUS_H

#include <stdbool.h>
#include <stddef.h>

/* "[#####.....]" `cells` wide inside the brackets (Unicode blocks "█░"
 * when unicode is true). */
void status_bar(char *out, size_t size, double fraction, int cells, bool unicode);

/* Time left at a steady rate: elapsed / fraction * (1 - fraction), as "ETA
 * 7s" or "ETA 2m05s"; "" while the estimate means nothing (fraction below
 * 2% or less than half a second spent). */
void status_eta(char *out, size_t size, double elapsed, double fraction);

/* A duration for people: "850 ms", "21.3 s", "2m05s". */
void status_duration(char *out, size_t size, double ms);

/* One segment of the status line; lower prio segments are dropped first
 * when the line does not fit (equal prio: the later one first). */
struct status_seg {
    const char *text;
    int prio;
};

/* Join the segments that fit in width columns with sep between them, in
 * their order. malloc'd; NULL on OOM. */
char *status_compose(const struct status_seg *segs, int n, int width, const char *sep);

#endif
