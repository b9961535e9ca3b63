/*
 * screen.h - the chat's curses side: layout of the panes for the terminal's
 * shape, drawing the state in struct tui, the image frame written after
 * curses' own output, and the terminal's modes (raw keys, bracketed paste,
 * mouse wheel) with their restoration on every way out.
 *
 * Layout (top to bottom): the image pane (on the left instead when the
 * terminal is wide: at least 90 columns and 2.6 times wider than the room
 * is tall), the transcript, the status line, the input line (1 row,
 * growing up to a third of the screen for a long or multi-line question).
 */
#ifndef GLIMPSE_UI_SCREEN_H
#define GLIMPSE_UI_SCREEN_H

#include <stdbool.h>

struct tui;

/* Start curses on the terminal (stdin/stdout). 0, or -1 with *err; the
 * terminal is left as it was on failure. */
int screen_start(struct tui *t, char **err);
/* Leave curses and restore the terminal (idempotent). */
void screen_stop(struct tui *t);
/* Ctrl-Z: restore the terminal, stop the process; returns after `fg`
 * with everything drawn again. */
void screen_suspend(struct tui *t);
/* The terminal changed size (SIGWINCH): lay out again and repaint. */
void screen_resize(struct tui *t);
/* Repaint everything (Ctrl-L, SIGCONT). */
void screen_repaint(struct tui *t);
/* The image or the view changed: render the frame again. */
void screen_image_changed(struct tui *t);
/* Draw what changed. */
void screen_render(struct tui *t);
/* Rows of the transcript pane (for PgUp/PgDn). */
int screen_transcript_rows(const struct tui *t);

/* From a fatal signal handler: terminal modes off and the saved termios
 * back, with async-signal-safe calls only. */
void screen_emergency_restore(void);

#endif
