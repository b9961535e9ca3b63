#!/bin/sh
# tui_tmux.sh - the interactive chat end to end in a real pty: tmux runs
# glimpse detached at 80x50; send-keys types, capture-pane reads. Covers the
# start (model, image pane in blocks mode, status line), an answer equal to
# the one-shot --json output_text, /set temp and /regen, a long answer that
# streams, a resize mid-answer keeping the transcript, Ctrl-C stopping it
# with the input working again, /quit restoring the terminal (stty), the
# autosave. The checks are in tests/tui_lib.sh.
# Before them, without the reference data (the fuzz corpus's small LLaMA):
# --demo shows its banner once; a model whose logits are all NaN gives an
# error line and the chat goes on; a model file truncated while the chat
# has it mapped ends glimpse with "model file changed on disk", status 1
# and the terminal restored (icanon echo) - between two answers, and, with
# the reference data, in the middle of a long answer on two threads;
# SIGTERM and SIGQUIT from outside restore the terminal too.
. "${srcdir:-.}/tests/lib.sh"
. "${srcdir:-.}/tests/tui_lib.sh"
command -v tmux >/dev/null 2>&1 || skip_all "tmux is not installed"

SEED="$srcdir/tests/fuzz/corpus/gguf/llama-1l-f16.gguf"

# tensor_offset FILE NAME: where the tensor's data starts in the file
tensor_offset() {
    "$GLIMPSE_BIN" --inspect "$1" --json | awk -v want="$2" '
        /"data_offset":/ { v = $2; gsub(/[^0-9]/, "", v); base = v }
        /"name":/ { cur = $2; gsub(/[",]/, "", cur) }
        /"offset":/ && cur == want { v = $2; gsub(/[^0-9]/, "", v); print base + v; exit }'
}
data_offset() {
    "$GLIMPSE_BIN" --inspect "$1" --json | grep -o '"data_offset": *[0-9]*' | grep -o '[0-9]*$'
}

# pane NAME ARGS...: run glimpse ARGS in a new tmux session NAME (80x30);
# when it ends, its status goes to $H/NAME.exit and `stty -a` (in the same
# pane, after glimpse) to $H/NAME.stty.
pane() {
    _name=$1
    shift
    _args=
    for _a in "$@"; do
        _args="$_args '$(printf '%s' "$_a" | sed "s/'/'\\\\''/g")'"
    done
    cat >"$H/$_name.sh" <<RUN
. "$H/env.sh"
export LANG=C.UTF-8 LC_ALL=C.UTF-8 XDG_STATE_HOME="$H/state-$_name" INPUTRC=/dev/null
ulimit -c 0 2>/dev/null   # SIGQUIT below: no core file in the build directory
"$GLIMPSE_BIN" $_args
echo "EXIT=\$?" >"$H/$_name.exit.tmp"
stty -a >"$H/$_name.stty"
mv "$H/$_name.exit.tmp" "$H/$_name.exit"
sleep 120
RUN
    tm new-session -d -s "$_name" -x 80 -y 30 "sh $H/$_name.sh"
}
pcap() { tm capture-pane -p -t "$1" 2>/dev/null; }
# pwait NAME REGEX [SECONDS]: until pane NAME shows REGEX
pwait() {
    _n=$(( ${3:-15} * 20 ))
    while [ "$_n" -gt 0 ]; do
        pcap "$1" | grep -q -- "$2" && return 0
        sleep 0.05
        _n=$((_n - 1))
    done
    diag "timed out waiting for '$2'; the pane:"
    pcap "$1" | sed 's/^/#   |/'
    return 1
}
# pidle NAME [SECONDS]: until pane NAME's status line ends in "ready"
pidle() {
    _n=$(( ${2:-15} * 20 ))
    while [ "$_n" -gt 0 ]; do
        case "$(pcap "$1" | grep -v '^$' | tail -2 | head -1)" in *ready) return 0 ;; esac
        sleep 0.05
        _n=$((_n - 1))
    done
    diag "$1: not idle: $(pcap "$1" | grep -v '^$' | tail -2 | head -1)"
    return 1
}
# pexit NAME [SECONDS]: until glimpse in pane NAME has ended
pexit() {
    _n=$(( ${2:-15} * 20 ))
    while [ "$_n" -gt 0 ]; do
        [ -s "$H/$1.exit" ] && return 0
        sleep 0.05
        _n=$((_n - 1))
    done
    diag "$1: glimpse did not end; the pane:"
    pcap "$1" | sed 's/^/#   |/'
    return 1
}
restored() {
    grep -Eq '(^| )icanon( |$)' "$H/$1.stty" 2>/dev/null && grep -Eq '(^| )echo( |$)' "$H/$1.stty"
}

tui_hardening() {
    H="$TUI_T/hard"
    mkdir -p "$H"
    trap tui_cleanup EXIT INT TERM
    env | grep -E '^(OPENBLAS_|GLIMPSE_|OMP_)[A-Z0-9_]*=' |
        sed "s/'/'\\\\''/g; s/=/='/; s/\$/'/; s/^/export /" >"$H/env.sh"

    # --demo: the banner once (it was pinned above the transcript too)
    pane demo --demo --preview none
    pwait demo "attached glimpse-sample.png" 30 && pidle demo 30
    ok $? "--demo starts"
    n=$(pcap demo | grep -c 'glimpse demo: the model has random weights')
    [ "$n" -eq 1 ]
    ok $? "--demo shows its banner once ($n times on the screen)"
    tm send-keys -t demo "/quit" Enter
    pexit demo && grep -q '^EXIT=0$' "$H/demo.exit"
    ok $? "--demo: /quit exits with status 0"

    [ -f "$SEED" ] || { skip "no $SEED"; return; }

    # all-NaN logits: an error line, and the chat goes on
    cp "$SEED" "$H/nan.gguf" && chmod u+w "$H/nan.gguf"
    off=$(tensor_offset "$SEED" output_norm.weight)
    i=0
    while [ $i -lt 32 ]; do
        printf '\000\000\300\177' | dd of="$H/nan.gguf" bs=1 seek=$((off + 4 * i)) conv=notrunc status=none
        i=$((i + 1))
    done
    pane nan -m "$H/nan.gguf" --preview none -t 1 --temp 0
    pidle nan 20
    ok $? "a model with NaN weights loads in the chat"
    tm send-keys -t nan "first question" Enter
    pwait nan "non-finite logits at position"
    ok $? "all-NaN logits: an error line in the chat"
    pidle nan && tm send-keys -t nan "second question" Enter
    n=0
    for _ in $(seq 1 200); do
        n=$(pcap nan | grep -c "non-finite logits at position")
        [ "$n" -ge 2 ] && break
        sleep 0.05
    done
    [ "$n" -ge 2 ] && pidle nan
    ok $? "the chat stays usable: the next question is answered with the error again ($n lines)"
    tm send-keys -t nan "/context" Enter
    pwait nan "free"
    ok $? "commands still work (/context)"
    tm send-keys -t nan "/quit" Enter
    pexit nan && grep -q '^EXIT=0$' "$H/nan.exit" && restored nan
    ok $? "/quit after the errors: status 0, the terminal restored"

    # Signals from outside (Ctrl-C and Ctrl-\ are keys in raw mode):
    # SIGTERM ends the chat as /quit does, SIGQUIT as a crash; both give the
    # terminal back. The pane's shell is glimpse's parent.
    for sig_want in TERM:143 QUIT:131; do
        sig=${sig_want%:*}
        want=${sig_want#*:}
        pane "sig$sig" -m "$SEED" --preview none -t 1 -n 4
        gpid=
        if pidle "sig$sig" 20; then
            shpid=$(tm display-message -p -t "sig$sig" '#{pane_pid}')
            gpid=$(ps -o pid= --ppid "$shpid" | tr -d ' ' | head -1)
        fi
        if [ -n "$gpid" ]; then
            kill -"$sig" "$gpid"
            pexit "sig$sig"
            grep -q "^EXIT=$want\$" "$H/sig$sig.exit" 2>/dev/null && restored "sig$sig"
            ok $? "SIG$sig in the chat: status $want, the terminal restored ($(cat "$H/sig$sig.exit" 2>/dev/null))"
        else
            ok 1 "SIG$sig in the chat: glimpse did not start"
        fi
    done

    # SIGBUS between two answers: the file is cut to its header while the
    # chat waits for the second question
    cp "$SEED" "$H/bus.gguf" && chmod u+w "$H/bus.gguf"
    hdr=$(data_offset "$H/bus.gguf")
    pane bus -m "$H/bus.gguf" --preview none -t 2 --temp 0 -n 8
    pidle bus 20 && tm send-keys -t bus "x" Enter && pwait bus "^ glimpse " && pidle bus
    ok $? "the first answer came"
    truncate -s "$hdr" "$H/bus.gguf"
    tm send-keys -t bus "the second question" Enter
    pexit bus
    grep -q '^EXIT=1$' "$H/bus.exit" 2>/dev/null && pwait bus "^glimpse: model file changed on disk" 2
    ok $? "truncated between two answers: status 1, \"model file changed on disk\" ($(cat "$H/bus.exit" 2>/dev/null))"
    restored bus
    ok $? "...and the terminal is restored (stty: icanon echo)"
    ! pcap bus | grep -q 'ready$'
    ok $? "...and the chat's screen is gone"

    # SIGBUS in the middle of a long answer, two compute threads faulting
    big="$GLIMPSE_REFDATA/models/tiny-llava-llm-f16.gguf"
    if have_refdata && [ -f "$big" ]; then
        cp "$big" "$H/big.gguf" && chmod u+w "$H/big.gguf"
        hdr=$(data_offset "$H/big.gguf")
        pane mid -m "$H/big.gguf" --preview none -t 2 --temp 0 -n -1
        pidle mid 30 && tm send-keys -t mid "Tell me a long story" Enter
        # streaming: the status line says answering and the answer has text
        n=200
        while [ "$n" -gt 0 ]; do
            case "$(pcap mid | grep -v '^$' | tail -2 | head -1)" in
            *answering*) pcap mid | grep -q '^ glimpse .....' && break ;;
            esac
            sleep 0.05
            n=$((n - 1))
        done
        if [ "$n" -gt 0 ] && [ ! -s "$H/mid.exit" ]; then
            truncate -s "$hdr" "$H/big.gguf"
            pexit mid
            grep -q '^EXIT=1$' "$H/mid.exit" 2>/dev/null && pwait mid "^glimpse: model file changed on disk" 2 &&
                restored mid
            ok $? "truncated mid-answer: status 1, the message, the terminal restored ($(cat "$H/mid.exit" 2>/dev/null))"
        else
            skip "the answer did not stream or ended before the file could be cut"
        fi
    else
        skip "no reference data: the mid-answer case needs models/tiny-llava-llm-f16.gguf"
    fi
    tm kill-server 2>/dev/null
}

tui_hardening
if have_refdata; then
    tui_e2e sh
else
    skip "GLIMPSE_REFDATA not found: the end-to-end chat checks need the reference models"
fi
done_testing
