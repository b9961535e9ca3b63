/*
 * tui.h - the interactive chat: a full-screen ncursesw front end on the
 * worker (private to src/glimpse).
 *
 *   struct tui_opts to = {.preview = PREVIEW_AUTO};
 *   return tui_run(&opts, &to);        // from main(), stdin and stdout a tty
 *
 * The screen: the image pane (left when the terminal is wide, else on
 * top; F2 hides it), the transcript (scrollable: PgUp/PgDn, mouse wheel),
 * a status line (model, context use, speed of the last answer, TTFT, what
 * runs now with a progress bar and ETA) and readline's input line.
 * One poll() loop serves the keyboard, the worker's event fd and signals
 * (through a self-pipe). Enter while the model works queues the line: the
 * worker runs requests in order, the status line counts what waits, and a
 * stop (Ctrl-C, Esc) drops the queued questions with the running one.
 */
#ifndef GLIMPSE_UI_TUI_H
#define GLIMPSE_UI_TUI_H

#include <stdbool.h>

#include "cli.h"
#include "ui/preview.h"

struct tui_opts {
    enum preview_mode preview;  /* --preview (modes the terminal cannot do fall back) */
    bool demo;                  /* --demo: a random-weight model made on the fly */
};

/* Run the chat until the user leaves. Returns the process exit status:
 * 0 on /quit, Ctrl-D or Ctrl-C twice; 2 when it cannot start (not a
 * terminal, no model: said on stderr); 1 on a fatal error; 128 + the signal
 * on SIGINT, SIGTERM or SIGHUP. The terminal is restored on every path. */
int tui_run(const struct cli_opts *o, const struct tui_opts *to);

#endif
