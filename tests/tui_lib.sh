# tui_lib.sh - drive the interactive chat in a detached tmux session and
# check it (sourced by tui_tmux.sh and tui_ssh.sh after tests/lib.sh).
#
#   tui_e2e LAUNCH     LAUNCH runs a script in the pane: "sh" locally, or
#                      "ssh -tt ... sh" through an SSH connection
#
# Waits poll capture-pane (every 50 ms, with timeouts), never fixed sleeps.
# Needs tmux; the reference models (GLIMPSE_REFDATA); jq or python3 for the
# one-shot JSON (else the equality checks are skipped).

export LC_ALL=C.UTF-8 LANG=C.UTF-8
TUI_T="$GLIMPSE_TMP/tui.$$"
TUI_SOCK="${TMPDIR:-/tmp}/glimpse-tui.$$.sock"    # short: socket paths are limited
LLM="$GLIMPSE_REFDATA/models/tiny-llava-llm-q4_0.gguf"
MM="$GLIMPSE_REFDATA/models/tiny-llava-mmproj-f16.gguf"
IMG="$GLIMPSE_REFDATA/images/gradient_shapes_640x480.png"
Q1="What is in this picture?"
Q2="Describe the picture in detail."

tm() { tmux -u -S "$TUI_SOCK" -f /dev/null "$@"; }
cap() { tm capture-pane -p -t tui 2>/dev/null; }
# TUI_ON_EXIT: more to clean up (the ssh test's sshd).
tui_cleanup() {
    tm kill-server 2>/dev/null
    [ -z "${TUI_ON_EXIT:-}" ] || eval "$TUI_ON_EXIT"
    rm -rf "$TUI_T"
    rm -f "$TUI_SOCK"
}

# wait_for REGEX [SECONDS]: until the pane shows REGEX.
wait_for() {
    _n=$(( ${2:-15} * 20 ))
    while [ "$_n" -gt 0 ]; do
        cap | grep -q -- "$1" && return 0
        sleep 0.05
        _n=$((_n - 1))
    done
    diag "timed out waiting for '$1'; the pane:"
    cap | sed 's/^/#   |/'
    return 1
}

status_line() { cap | grep -v '^$' | tail -2 | head -1; }

# wait_idle [SECONDS]: until the status line ends in "ready".
wait_idle() {
    _n=$(( ${1:-20} * 20 ))
    while [ "$_n" -gt 0 ]; do
        case "$(status_line)" in *ready) return 0 ;; esac
        sleep 0.05
        _n=$((_n - 1))
    done
    diag "not idle: $(status_line)"
    return 1
}

# The last answer on screen (its label and continuation rows), without
# whitespace: wrapping only ever changes whitespace.
last_answer() {
    cap | awk '
        /^ glimpse / { buf = substr($0, 10); on = 1; next }
        on && substr($0, 1, 9) == "         " && $0 !~ /^ *\[/ { buf = buf substr($0, 10); next }
        { on = 0 }
        END { print buf }' | tr -d ' \t\n'
}

# The answer rows visible below the image pane (its start may have
# scrolled away), without whitespace.
visible_answer() {
    cap | awk '
        /└/ { buf = ""; next }
        /^ glimpse / { buf = substr($0, 10); next }
        substr($0, 1, 9) == "         " && $0 !~ /^ *\[/ { buf = buf substr($0, 10); next }
        END { print buf }' | tr -d ' \t\n'
}

json_text() {
    if command -v jq >/dev/null 2>&1; then
        jq -r .output_text
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["output_text"])'
    else
        return 1
    fi
}

tui_e2e() {
    launch=$1
    mkdir -p "$TUI_T/state"
    trap tui_cleanup EXIT INT TERM
    G="$GLIMPSE_BIN"

    # What the one-shot mode answers for the same conversations.
    A1=$("$G" -m "$LLM" --mmproj "$MM" "$IMG" --temp 0 -n 40 -t 1 -p "$Q1" --json 2>/dev/null | json_text |
         tr -d ' \t\n')
    "$G" -m "$LLM" --mmproj "$MM" "$IMG" --temp 0 -n -1 -t 1 -p "$Q2" --json 2>/dev/null >"$TUI_T/a2.json" &
    a2_pid=$!

    # The pane (local or through SSH) gets the settings that change the
    # numerics (OpenBLAS' kernel choice, glimpse's), as the one-shot had.
    env | grep -E '^(OPENBLAS_|GLIMPSE_|OMP_)[A-Z0-9_]*=' |
        sed "s/'/'\\\\''/g; s/=/='/; s/\$/'/; s/^/export /" >"$TUI_T/env.sh"
    cat >"$TUI_T/run.sh" <<RUN
. "$TUI_T/env.sh"
export LANG=C.UTF-8 LC_ALL=C.UTF-8 XDG_STATE_HOME="$TUI_T/state" INPUTRC=/dev/null
unset NO_COLOR
"$G" -m "$LLM" --mmproj "$MM" "$IMG" --temp 0 -n 40 -t 1 --preview blocks
echo "EXIT=\$?" >"$TUI_T/exit"
stty -a >"$TUI_T/stty"
sleep 120
RUN
    tm new-session -d -s tui -x 80 -y 50 "$launch $TUI_T/run.sh"

    wait_for "attached gradient_shapes_640x480.png" 20 && wait_idle
    ok $? "the chat starts: model loaded, the image attached"
    cap | grep -q '▀'
    ok $? "the image pane shows the picture in blocks mode"
    status_line | grep -q 'ctx 0/2048'
    ok $? "the status line shows the context use"

    tm send-keys -t tui "$Q1" Enter
    wait_for "^ you .*$Q1" && wait_idle
    ok $? "a question is answered"
    got=$(last_answer)
    if [ -n "$A1" ]; then
        [ "$got" = "$A1" ]
        ok $? "the answer equals the one-shot --json output_text"
        [ "$got" = "$A1" ] || diag "tui:  $got" "oneshot: $A1"
    else
        skip "no jq or python3 to read the one-shot JSON"
    fi
    status_line | grep -q 'tok/s · TTFT'
    ok $? "the status line shows the speed and TTFT of the answer"

    tm send-keys -t tui "/set temp 1.5" Enter "/set seed 7" Enter "/regen" Enter
    wait_for "seed 7 (from the next answer)" && wait_idle
    hot=$(last_answer)
    [ -n "$hot" ] && [ "$hot" != "$got" ]
    ok $? "/set temp 1.5 and /regen: a different answer"
    tm send-keys -t tui "/set temp 0" Enter "/regen" Enter
    wait_for "temp 0 (from the next answer)" && wait_idle
    [ "$(last_answer)" = "$got" ]
    ok $? "/set temp 0 and /regen: the greedy answer again"
    tm send-keys -t tui "/set" Enter
    wait_for "temp 0 · top_k 40"
    ok $? "/set alone shows the settings"

    # A long answer: it streams, survives a resize, and Ctrl-C stops it.
    tm send-keys -t tui "/clear" Enter "/set n_predict -1" Enter
    wait_for "n_predict -1 (from the next answer)" && wait_idle
    tm send-keys -t tui "$Q2" Enter
    seen=0 last="" n=200
    while [ "$n" -gt 0 ] && [ "$seen" -lt 4 ]; do
        now=$(cap)
        case "$(status_line)" in
        *answering*)
            if [ "$now" != "$last" ]; then seen=$((seen + 1)); last=$now; fi ;;
        esac
        sleep 0.05
        n=$((n - 1))
    done
    [ "$seen" -ge 4 ]
    ok $? "the answer streams: the pane changes between captures while generating"
    tm resize-window -t tui -x 70 -y 44
    # Redrawn at the new width (a capture may catch the repaint half done).
    n=100
    while [ "$n" -gt 0 ]; do
        if [ "$(cap | wc -L)" -le 70 ]; then
            case "$(status_line)" in *answering*) break ;; esac
        fi
        sleep 0.05
        n=$((n - 1))
    done
    [ "$n" -gt 0 ]
    ok $? "resized to 70x44 while answering: redrawn at the new width"
    [ "$n" -gt 0 ] || diag "$(status_line)"
    sleep 0.3
    tm send-keys -t tui C-c
    wait_for '\[stopped\]' && wait_idle
    ok $? "Ctrl-C stops the answer and marks it stopped"
    wait $a2_pid
    A2=$(json_text <"$TUI_T/a2.json" | tr -d ' \t\n')
    vis=$(visible_answer)
    if [ -n "$A2" ]; then
        case "$A2" in
        *"$vis"*) [ "${#vis}" -gt 200 ]; ok $? "after the resize the answer on screen is the one-shot's text (${#vis} chars)" ;;
        *) ok 1 "after the resize the answer on screen is the one-shot's text"
           diag "tui: $vis" "one-shot: $A2"; cap | sed 's/^/#   |/' ;;
        esac
    else
        skip "no jq or python3 to read the one-shot JSON"
    fi
    n=20
    while [ "$n" -gt 0 ] && ! cap | grep -q "^ you .*$Q2"; do
        tm send-keys -t tui PPage
        sleep 0.05
        n=$((n - 1))
    done
    cap | grep -q "^ you .*$Q2"
    ok $? "PgUp scrolls back to the question: the transcript is intact after the resize"
    tm send-keys -t tui NPage NPage NPage NPage NPage NPage NPage NPage NPage NPage NPage NPage
    wait_for '\[stopped\]'
    ok $? "PgDn scrolls down to the end again"

    tm send-keys -t tui "/stats" Enter
    wait_for "stopped by"
    ok $? "input works after the stop (/stats: stopped by cancel)"

    tm send-keys -t tui "/quit" Enter
    n=200
    while [ "$n" -gt 0 ] && [ ! -s "$TUI_T/stty" ]; do sleep 0.05; n=$((n - 1)); done
    grep -q '^EXIT=0$' "$TUI_T/exit" 2>/dev/null
    ok $? "/quit exits with status 0"
    grep -Eq '(^| )icanon( |$)' "$TUI_T/stty" 2>/dev/null && grep -Eq '(^| )echo( |$)' "$TUI_T/stty"
    ok $? "the terminal is restored (stty: icanon echo)"
    ! cap | grep -q 'tok/s'
    ok $? "the chat's screen is gone (the main screen is back)"
    ls "$TUI_T"/state/glimpse/sessions/*.json >/dev/null 2>&1
    ok $? "the conversation was autosaved under XDG_STATE_HOME"
}
