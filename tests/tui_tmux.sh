#!/bin/sh
# tui_tmux.sh - the interactive chat end to end in a real pty: tmux runs
# glimpse detached at 80x50; send-keys types, capture-pane reads. Covers the
# start (model, image pane in blocks mode, status line), an answer equal to
# the one-shot --json output_text, /set temp and /regen, a long answer that
# streams, a resize mid-answer keeping the transcript, Ctrl-C stopping it
# with the input working again, /quit restoring the terminal (stty), the
# autosave. The checks are in tests/tui_lib.sh.
. "${srcdir:-.}/tests/lib.sh"
. "${srcdir:-.}/tests/tui_lib.sh"
command -v tmux >/dev/null 2>&1 || skip_all "tmux is not installed"
have_refdata || skip_all "GLIMPSE_REFDATA not found"
tui_e2e sh
done_testing
