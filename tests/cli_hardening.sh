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
# the model files kept in tests/data/bad/gguf are answered or refused cleanly;
# NaN weights: with no finite logit the answer is an error naming the
# position (exit 1, also with --json: no object, the message on stderr),
# whether at the first token (output_norm all NaN) or mid-answer (the
# embedding row of the second answer token), while one NaN logit among
# finite ones (one element of an output row) is skipped, never chosen;
# a reader that closes the pipe stops the answer (exit 1, one message);
# SIGTERM while a prompt is read from stdin ends glimpse with status 143;
# closed standard descriptors (no stdin: an empty prompt; no stdout: an
# error) are never taken by a file glimpse opens.
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
# A declared layer count the file cannot hold is refused by name, before
# any table is allocated for it (it once allocated 4.9 GB first).
f="$srcdir/tests/data/bad/gguf/block-count-16m-layers.gguf"
"$GLIMPSE_BIN" -m "$f" -p x -n 1 -t 1 -q >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 1 ] && grep -q 'block_count is 16775426 but the file has only' "$dir/err"
ok $? "a block count of 16775426 is refused by name: status $st $(head -c 200 "$dir/err")"

# ---------------------------------------------------------------- NaN weights
# tensor_offset FILE NAME: where the tensor's data starts in the file
tensor_offset() {
    "$GLIMPSE_BIN" --inspect "$1" --json | awk -v want="$2" '
        /"data_offset":/ { v = $2; gsub(/[^0-9]/, "", v); base = v }
        /"name":/ { cur = $2; gsub(/[",]/, "", cur) }
        /"offset":/ && cur == want { v = $2; gsub(/[^0-9]/, "", v); print base + v; exit }'
}
# poke FILE OFFSET BYTES COUNT: write the printf-escaped BYTES COUNT times from OFFSET
poke() {
    _i=0
    while [ $_i -lt "$4" ]; do
        printf "$3" | dd of="$1" bs=1 seek=$(($2 + _i * $(printf "$3" | wc -c))) conv=notrunc status=none ||
            return 1
        _i=$((_i + 1))
    done
}
F32_NAN='\000\000\300\177'
F16_NAN='\000\176'
ids_of() { sed -n 's/.*"output_ids":\[\([0-9,]*\)\].*/\1/p' "$1"; }
"$GLIMPSE_BIN" -m "$seed" -p x -n 8 --temp 0 -q --json >"$dir/clean.json" 2>"$dir/err"
clean=$(ids_of "$dir/clean.json")
first=${clean%%,*}
rest=${clean#*,}
second=${rest%%,*}
[ -n "$first" ] && [ -n "$second" ] && [ "$first" != "$second" ]
ok $? "the clean model's greedy answer starts with ids $first, $second"

# no finite logit from the first answer token on: output_norm all NaN
cp "$seed" "$dir/nan-all.gguf" && chmod u+w "$dir/nan-all.gguf" &&
    poke "$dir/nan-all.gguf" "$(tensor_offset "$seed" output_norm.weight)" "$F32_NAN" 32
"$GLIMPSE_BIN" -m "$dir/nan-all.gguf" -p x -n 8 --temp 0 -q >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 1 ] && [ ! -s "$dir/out" ] && [ "$(wc -l <"$dir/err")" -eq 1 ] &&
    grep -q '^glimpse: the model produced non-finite logits at position 166 (corrupt weights?)$' "$dir/err"
ok $? "all-NaN logits at the first token: status $st, $(cat "$dir/err")"
"$GLIMPSE_BIN" -m "$dir/nan-all.gguf" -p x -n 8 --temp 0.7 --seed 3 -q --json >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 1 ] && [ ! -s "$dir/out" ] && grep -q '^glimpse: the model produced non-finite logits' "$dir/err"
ok $? "--json, temp 0.7: the same error, no object on stdout (status $st, $(cat "$dir/err"))"

# mid-answer: the embedding row of the second answer token is NaN, so the
# logits after it is fed are all NaN (prompt 167 positions, 2 answer tokens)
cp "$seed" "$dir/nan-mid.gguf" && chmod u+w "$dir/nan-mid.gguf" &&
    poke "$dir/nan-mid.gguf" $(($(tensor_offset "$seed" token_embd.weight) + second * 32 * 4)) "$F32_NAN" 1
"$GLIMPSE_BIN" -m "$dir/nan-mid.gguf" -p x -n 8 --temp 0 -q >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$dir/out")" -eq 1 ] &&
    grep -q '^glimpse: the model produced non-finite logits at position 168 (corrupt weights?)$' "$dir/err"
ok $? "all-NaN logits mid-answer: status $st, the partial answer's line ended, $(cat "$dir/err")"

# one NaN logit among finite ones: the first greedy token's output row
# gets one NaN element; that token is skipped at every step, no error
cp "$seed" "$dir/nan-one.gguf" && chmod u+w "$dir/nan-one.gguf" &&
    poke "$dir/nan-one.gguf" $(($(tensor_offset "$seed" output.weight) + first * 32 * 2)) "$F16_NAN" 1
"$GLIMPSE_BIN" -m "$dir/nan-one.gguf" -p x -n 8 --temp 0 -q --json >"$dir/out" 2>"$dir/err"
st=$?
got=$(ids_of "$dir/out")
[ $st -eq 0 ] && [ ! -s "$dir/err" ] && [ -n "$got" ] &&
    ! printf ',%s,' "$got" | grep -q ",$first,"
ok $? "one NaN logit (token $first) is skipped: status $st, ids $got $(head -c 200 "$dir/err")"
"$GLIMPSE_BIN" -m "$dir/nan-one.gguf" -p x -n 32 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 5 -q --json \
    >"$dir/out" 2>"$dir/err"
st=$?
got=$(ids_of "$dir/out")
[ $st -eq 0 ] && [ -n "$got" ] && ! printf ',%s,' "$got" | grep -q ",$first,"
ok $? "...and never drawn at temp 1 with every filter off: status $st, ids $got"

# ---------------------------------------------------------------- SIGPIPE
# The reader goes away: glimpse ignores SIGPIPE (so that --save still runs),
# so it must notice EPIPE itself and stop instead of answering for nobody.
# Deterministic: the reader takes one byte of the first answer and exits;
# only then does the second prompt arrive (from a FIFO), so that answer is
# written to a pipe without a reader. (If glimpse already stopped during
# the first answer, the write to the FIFO fails quietly: SIGPIPE is ignored
# in that subshell.)
mkfifo "$dir/in2" || skip_all "cannot make a FIFO"
( "$GLIMPSE_BIN" -m "$seed" -p x -p - -n 8 --temp 0 -t 1 -q <"$dir/in2" 2>"$dir/err"
  echo $? >"$dir/status" ) | { head -c 1 >/dev/null; : >"$dir/read1"; } &
exec 4>"$dir/in2"
for _ in $(seq 1 200); do
    [ -e "$dir/read1" ] && break
    sleep 0.05
done
( trap '' PIPE; echo "the second question" >&4 ) 2>/dev/null
exec 4>&-
for _ in $(seq 1 200); do
    [ -s "$dir/status" ] && break
    sleep 0.05
done
st=$(cat "$dir/status" 2>/dev/null)
[ "$st" = 1 ] && [ "$(wc -l <"$dir/err")" -eq 1 ] &&
    grep -q '^glimpse: cannot write the answer: Broken pipe$' "$dir/err"
ok $? "a closed pipe stops the answers: status $st, $(head -c 200 "$dir/err")"

# Closed standard descriptors are not handed to the next file opened: no
# stdin reads an empty prompt, no stdout is a write error.
"$GLIMPSE_BIN" -m "$seed" -p - -n 2 -t 1 -q <&- >"$dir/out" 2>"$dir/err"
st=$?
[ $st -eq 0 ] && [ -s "$dir/out" ] && [ ! -s "$dir/err" ]
ok $? "stdin closed: -p - answers an empty prompt (status $st) $(head -c 200 "$dir/err")"
"$GLIMPSE_BIN" -m "$seed" -p x -n 2 -t 1 -q >&- 2>"$dir/err"
st=$?
[ $st -eq 1 ] && grep -q '^glimpse: cannot write the answer: Bad file descriptor$' "$dir/err"
ok $? "stdout closed: status $st, $(head -c 200 "$dir/err")"

# SIGTERM while a prompt is awaited on standard input: the read must not
# swallow it (the handlers restart reads); the status says which signal.
mkfifo "$dir/in3" || skip_all "cannot make a FIFO"
rm -f "$dir/out"
"$GLIMPSE_BIN" -m "$seed" -p x -p - -n 4 -t 1 -q <"$dir/in3" >"$dir/out" 2>"$dir/err" &
pid=$!
exec 5>"$dir/in3"
for _ in $(seq 1 200); do
    [ -s "$dir/out" ] && break
    sleep 0.05
done
kill -TERM "$pid"
wait "$pid"
st=$?
pid=
exec 5>&-
[ "$st" -eq 143 ] && [ ! -s "$dir/err" ]
ok $? "SIGTERM while reading the prompt from stdin: status $st (128 + 15) $(head -c 200 "$dir/err")"

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
# Emptied here: the child empties it only once the FIFO is open, and an
# earlier test's answer must not look like this one's.
: >"$dir/out"
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
    : >"$dir/out"
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
