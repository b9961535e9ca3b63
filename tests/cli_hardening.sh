#!/bin/sh
# cli_hardening.sh - glimpse against its environment.
# Covers: a context too large for the memory available is refused before
# anything is allocated, with both numbers and the advice
# (GLIMPSE_MEMORY_LIMIT_MB stands in for the machine's memory), and the
# same context runs under a larger limit; a model file truncated while
# glimpse has it mapped is reported as "model file changed on disk" with
# exit status 1 instead of a bus error - between two turns (deterministic:
# the second prompt comes from a FIFO held open while the file is cut to its
# header) and, with the reference data, in the middle of a long answer;
# the model files kept in tests/data/bad/gguf are answered or refused cleanly.
# The model is the fuzz corpus's small LLaMA (tests/fuzz/corpus/gguf/).
. "${srcdir:-.}/tests/lib.sh"

dir="$GLIMPSE_TMP/cli_hardening.$$"
rm -rf "$dir"
mkdir -p "$dir" || skip_all "cannot create $dir"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$dir"' EXIT
seed="$srcdir/tests/fuzz/corpus/gguf/llama-1l-f16.gguf"
[ -f "$seed" ] || skip_all "no $seed"

# header_size FILE: where the tensor data starts
header_size() {
    "$GLIMPSE_BIN" --inspect "$1" --json | grep -o '"data_offset": *[0-9]*' | grep -o '[0-9]*$'
}

# ---------------------------------------------------------------- memory
GLIMPSE_MEMORY_LIMIT_MB=1 "$GLIMPSE_BIN" -m "$seed" -c 100000 -p x -n 1 -q >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 1 ] && [ ! -s "$dir/out" ] && [ "$(wc -l <"$dir/err")" -eq 1 ] &&
    grep -q '^glimpse: a context of 100000 positions needs [0-9.]* MiB of KV cache and buffers but only 1 MiB of memory is available: use a smaller -c$' "$dir/err"
ok $? "-c 100000 under a 1 MiB limit: status $st, $(cat "$dir/err")"
GLIMPSE_MEMORY_LIMIT_MB=64 "$GLIMPSE_BIN" -m "$seed" -c 100000 -p x -n 2 -q >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 0 ] && [ ! -s "$dir/err" ] && [ -s "$dir/out" ]
ok $? "-c 100000 under a 64 MiB limit answers (status $st) $(head -c 200 "$dir/err")"
"$GLIMPSE_BIN" -m "$seed" -p x -n 2 -q >"$dir/out" 2>"$dir/err"
ok $? "without a limit the default context fits this machine $(head -c 200 "$dir/err")"

# ---------------------------------------------------------------- hostile numbers
# The crashers kept in tests/data/bad/gguf: glimpse answers or refuses,
# never dies by a signal or trips a sanitizer.
for f in "$srcdir"/tests/data/bad/gguf/*.gguf; do
    [ -f "$f" ] || continue
    "$GLIMPSE_BIN" -m "$f" -p x -n 4 -t 1 -q >"$dir/out" 2>"$dir/err"
    st=$?
    [ $st -lt 128 ] && ! grep -q 'Sanitizer\|runtime error' "$dir/err" &&
        { [ $st -eq 0 ] || grep -q '^glimpse: ' "$dir/err"; }
    ok $? "$(basename "$f"): status $st $(head -c 200 "$dir/err")"
done

# ---------------------------------------------------------------- SIGBUS
# expect_sigbus STATUS OUT ERR WHAT
expect_sigbus() {
    [ "$1" -eq 1 ] && grep -q '^glimpse: model file changed on disk' "$3" &&
        ! grep -q 'Sanitizer\|runtime error' "$3"
    ok $? "$4: status $1, $(tr '\n' ' ' <"$3" | head -c 300)"
}

cp "$seed" "$dir/m.gguf" && chmod u+w "$dir/m.gguf"
hdr=$(header_size "$dir/m.gguf")
mkfifo "$dir/in" || skip_all "cannot make a FIFO"
"$GLIMPSE_BIN" -m "$dir/m.gguf" -p x -p - -n 4 -t 1 -q <"$dir/in" >"$dir/out" 2>"$dir/err" &
pid=$!
exec 3>"$dir/in"
# the first answer is out when the second prompt is being read
for _ in $(seq 1 200); do
    [ -s "$dir/out" ] && break
    sleep 0.05
done
[ -s "$dir/out" ]
ok $? "the first answer came: $(head -c 100 "$dir/out")"
truncate -s "$hdr" "$dir/m.gguf"
echo "the second question" >&3
exec 3>&-
wait "$pid"
st=$?
pid=
expect_sigbus $st "$dir/out" "$dir/err" "truncated to its header ($hdr bytes) between two turns"

# In the middle of an answer: the tiny LLaVA LLM (35 MiB, 32000 tokens)
# answers slowly enough to be cut while it writes.
big="$GLIMPSE_REFDATA/models/tiny-llava-llm-f16.gguf"
if have_refdata && [ -f "$big" ]; then
    cp "$big" "$dir/big.gguf" && chmod u+w "$dir/big.gguf"
    hdr=$(header_size "$dir/big.gguf")
    "$GLIMPSE_BIN" -m "$dir/big.gguf" -p "Tell me a long story" -n 100000 --temp 0 -t 1 -q \
        >"$dir/out" 2>"$dir/err" </dev/null &
    pid=$!
    for _ in $(seq 1 400); do
        [ "$(wc -c <"$dir/out")" -gt 40 ] && break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(wc -c <"$dir/out")" -gt 40 ]; then
        truncate -s "$hdr" "$dir/big.gguf"
        wait "$pid"
        st=$?
        pid=
        expect_sigbus $st "$dir/out" "$dir/err" "truncated after $(wc -c <"$dir/out") bytes of the answer"
    else
        wait "$pid"
        pid=
        skip "the answer ended before the file could be cut: $(head -c 200 "$dir/err")"
    fi
else
    skip "no reference data: the mid-answer case needs models/tiny-llava-llm-f16.gguf"
fi
done_testing
