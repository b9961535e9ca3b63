#!/bin/sh
# cli_generate.sh - one-shot text generation from the command line:
# stories260K's published greedy story, --json's shape, -p - (stdin),
# multi-turn -p, Ctrl-C (exit 130, partial answer), and clear errors for a
# missing file, a non-GGUF file, an mmproj given as -m and a prompt longer
# than the context.
. "${srcdir:-.}/tests/lib.sh"
have_refdata || skip_all "GLIMPSE_REFDATA not found"
G="$GLIMPSE_BIN"
R="$GLIMPSE_REFDATA"
T="$GLIMPSE_TMP/cli_generate.$$"
mkdir -p "$T"
S="$R/stories260K/stories260K.gguf"
LLM="$R/models/tiny-llava-llm-q4_K_M.gguf"

# The story published with stories260K, greedy from BOS.
"$G" -m "$S" --raw -p "" -n 256 --temp 0 -t 2 >"$T/story.txt" 2>"$T/err"
ok $? "stories260K greedy generation exits 0"
# the reference text is the decoded 256 ids; ours adds a final newline
head -c "$(wc -c <"$R/stories260K/expected_greedy.txt")" "$T/story.txt" >"$T/story.head"
cmp -s "$T/story.head" "$R/stories260K/expected_greedy.txt"
ok $? "the story equals the one published with the model"

# --json: one object with the documented keys
"$G" -m "$S" --raw -p "Once upon a time" -n 8 --temp 0 --json >"$T/out.json" 2>"$T/err"
ok $? "--json exits 0"
[ "$(wc -l <"$T/out.json")" -eq 1 ]
ok $? "--json prints one line per turn"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$T/out.json" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert set(d) >= {"prompt_tokens", "output_ids", "output_text", "stop_reason", "timings"}, d.keys()
assert d["prompt_tokens"][0] == 1 and len(d["output_ids"]) == 8, d
assert d["stop_reason"] == "length"
assert set(d["timings"]) == {"load_ms", "prefill_ms", "prefill_tokens", "decode_ms", "decode_tokens"}
assert d["timings"]["decode_tokens"] == 8 and d["timings"]["prefill_tokens"] == len(d["prompt_tokens"])
PY
    ok $? "--json has the documented shape and values"
else
    skip "python3 not installed"
fi

# the same prompt from standard input gives the same answer
printf 'Once upon a time\n' | "$G" -m "$S" --raw -p - -n 8 --temp 0 --json >"$T/stdin.json" 2>"$T/err"
cmp -s "$T/out.json" "$T/stdin.json" || {
    # timings differ: compare without them
    sed 's/"timings".*//' "$T/out.json" >"$T/a"; sed 's/"timings".*//' "$T/stdin.json" >"$T/b"
    cmp -s "$T/a" "$T/b"; }
ok $? "-p - reads the prompt from standard input"

# two turns: two JSON lines, the second continuing the first
"$G" -m "$LLM" -p "Hello" -p "And then?" -n 4 --temp 0 --json >"$T/two.json" 2>"$T/err"
[ $? -eq 0 ] && [ "$(wc -l <"$T/two.json")" -eq 2 ]
ok $? "two -p give two answers"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$T/two.json" <<'PY'
import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
assert a["prompt_tokens"][0] == 1            # BOS opens the conversation
assert b["prompt_tokens"][0] == 2            # the follow-up opens by closing the answer
assert 1 not in b["prompt_tokens"]
PY
    ok $? "the second turn starts with the end-of-turn token, not BOS"
else
    skip "python3 not installed"
fi

# errors: one clear line, non-zero exit, no crash
"$G" -m "$T/missing.gguf" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "missing.gguf" "$T/err"
ok $? "a missing model file: exit 1 and the file named (status $st)"
printf 'hello, I am not a model\n' >"$T/text.gguf"
"$G" -m "$T/text.gguf" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "text.gguf" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]
ok $? "a non-GGUF file: one line, exit 1 (status $st)"
"$G" -m "$R/models/tiny-llava-mmproj-f16.gguf" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "mmproj" "$T/err"
ok $? "an mmproj given as -m is refused (status $st)"
long=$(awk 'BEGIN{for(i=0;i<200;i++) printf "word%d ", i}')
"$G" -m "$S" --raw -c 32 -p "$long" >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "context" "$T/err"
ok $? "a prompt longer than the context is refused (status $st)"

# Ctrl-C: the partial answer is printed and the exit status is 130
"$G" -m "$S" --raw -p "Once" -n -1 -c 60000 --temp 0 >"$T/int.txt" 2>"$T/err" &
pid=$!
sleep 1
kill -INT $pid
wait $pid
st=$?
[ $st -eq 130 ]
ok $? "SIGINT stops generation with exit status 130 (got $st)"
[ -s "$T/int.txt" ]
ok $? "the partial answer was printed"

rm -rf "$T"
done_testing
