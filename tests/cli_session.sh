#!/bin/sh
# cli_session.sh - sessions from the command line: one-shot --save (mode
# 0600, the answers it printed), --replay's plain output equals the
# transcript and keeps the recorded pace (--speed), --verify passes on a
# fresh session and reports the first differing token of an edited one
# (exit 3) and a model that is not the recorded one, --export to Markdown
# and JSON (images beside it, nothing written outside its folder),
# --list-sessions, --no-embed-images, and damaged or foreign files refused
# with file:line:col and left untouched; a session cannot put escape
# sequences on the terminal.
. "${srcdir:-.}/tests/lib.sh"
have_refdata || skip_all "GLIMPSE_REFDATA not found"
command -v jq >/dev/null 2>&1 || skip_all "jq not installed"
G="$GLIMPSE_BIN"
R="$GLIMPSE_REFDATA"
T="$GLIMPSE_TMP/cli_session.$$"
rm -rf "$T"
mkdir -p "$T"
LLM="$R/models/tiny-llava-llm-q4_0.gguf"
MM="$R/models/tiny-llava-mmproj-f16.gguf"
IMG="$R/images/gradient_shapes_640x480.png"
M="-m $LLM --mmproj $MM -t 2"

# ---------------------------------------------------------------- --save
"$G" $M --image "$IMG" -p "What is in this picture?" -p "And then?" -n 12 --temp 0 \
    --save "$T/s.json" >"$T/oneshot.txt" 2>"$T/err"
ok $? "one-shot with --save exits 0"
[ "$(jq -r .format "$T/s.json")" = glimpse-session ] && [ "$(jq '.turns | length' "$T/s.json")" -eq 2 ]
ok $? "the session holds both turns"
[ "$(stat -c %a "$T/s.json")" = 600 ]
ok $? "a new session file is private (0600)"
jq -j '.turns[] | .answer + "\n"' "$T/s.json" >"$T/answers.txt"
cmp -s "$T/answers.txt" "$T/oneshot.txt"
ok $? "its answers are what one-shot printed"
[ "$(jq -r '.images[0].data' "$T/s.json" | base64 -d | sha256sum | cut -c1-64)" = \
  "$(sha256sum <"$IMG" | cut -c1-64)" ]
ok $? "the image is embedded byte for byte"

# ---------------------------------------------------------------- --replay
"$G" --replay "$T/s.json" --speed max >"$T/replay.txt" 2>"$T/err"
ok $? "--replay exits 0 without a model"
jq -j '.images as $im | .turns[] |
        ([.images[] | "[image: " + $im[.].path + " " + ($im[.].width|tostring) + "x" + ($im[.].height|tostring) + "]\n"] | join("")) +
        "you: " + .user + "\nglimpse: " + .answer + "\n\n"' "$T/s.json" >"$T/transcript.txt"
cmp -s "$T/replay.txt" "$T/transcript.txt"
ok $? "replay to a file is the plain transcript"
"$G" --replay "$T/s.json" >"$T/replay2.txt" 2>"$T/err"
cmp -s "$T/replay2.txt" "$T/transcript.txt"
ok $? "...also without --speed"

# the recorded pace: stretch the second answer to 1.2 s and play it at 2x
jq '.turns[1].token_ms |= [range(0; length) as $i | 100 * ($i + 1)] |
    .turns[1].started = .turns[0].started' "$T/s.json" >"$T/slow.json"
t0=$(date +%s%N)
"$G" --replay "$T/slow.json" --speed 2 >"$T/slow.txt" 2>"$T/err"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 580 ]
ok $? "--speed 2 keeps half the recorded pace (1.2 s of tokens took $ms ms)"
cmp -s "$T/slow.txt" "$T/transcript.txt"
ok $? "...and prints the same text"
t0=$(date +%s%N)
"$G" --replay "$T/slow.json" --speed max >/dev/null 2>&1
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -lt 500 ]
ok $? "--speed max does not wait ($ms ms)"

# a session cannot drive the terminal
jq '.turns[0].answer = "bad \u001b]0;pwned\u0007 \u001b[2J end" | del(.turns[0].piece_ends)' \
    "$T/s.json" >"$T/esc.json"
"$G" --replay "$T/esc.json" --speed max >"$T/esc.txt" 2>"$T/err"
[ $? -eq 0 ] && ! grep -q "$(printf '\033')" "$T/esc.txt" && grep -q "pwned" "$T/esc.txt"
ok $? "escape sequences in a session are neutralised"

# ---------------------------------------------------------------- --verify
"$G" --replay "$T/s.json" --verify $M >"$T/verify.txt" 2>"$T/err"
ok $? "--verify on a fresh session exits 0"
[ "$(grep -c ': identical' "$T/verify.txt")" -eq 2 ]
ok $? "both turns identical"
want=$(jq '.turns[1].answer_ids[4]' "$T/s.json")
jq '.turns[1].answer_ids[4] = 500' "$T/s.json" >"$T/edited.json"
"$G" --replay "$T/edited.json" --verify $M >"$T/verify2.txt" 2>"$T/err"
ok $(( $? != 3 )) "an edited token id: exit 3"
grep -q "^turn 1: identical" "$T/verify2.txt" &&
    grep -q "^turn 2: differs at token 4: expected 500 \".*\", got $want \"" "$T/verify2.txt"
ok $? "the first differing token is reported exactly"
diag "$(sed -n 2p "$T/verify2.txt")"
grep -q "^  before: " "$T/verify2.txt" && grep -q "^  got: " "$T/verify2.txt"
ok $? "with the text around it"
"$G" --replay "$T/s.json" --verify -m "$R/models/tiny-llava-llm-q8_0.gguf" --mmproj "$MM" -t 2 \
    >"$T/verify3.txt" 2>"$T/err"
st=$?
head -1 "$T/verify3.txt" | grep -q "^model: fingerprint mismatch"
ok $? "another model: the fingerprint mismatch is reported first (exit $st)"

# ---------------------------------------------------------------- --export
mkdir -p "$T/out"
"$G" --export "$T/s.json" "$T/out/talk.md" 2>"$T/err"
ok $? "--export to Markdown"
cmp -s "$T/out/talk-images/0.png" "$IMG" && grep -q '(<talk-images/0.png>)' "$T/out/talk.md" &&
    grep -q "What is in this picture?" "$T/out/talk.md"
ok $? "the image is written beside it and linked"
"$G" --export "$T/s.json" "$T/out/talk.json" 2>"$T/err" &&
    [ "$(jq -r '.turns[1].user' "$T/out/talk.json")" = "And then?" ] &&
    [ "$(jq -r '.turns[0].images[0].file' "$T/out/talk.json")" = "talk-images/0.png" ]
ok $? "--export to JSON: a clean transcript"
jq '.images[0].path = "../../../etc/x"' "$T/s.json" >"$T/hostile.json"
mkdir -p "$T/h/a/b"
"$G" --export "$T/hostile.json" "$T/h/a/b/t.md" 2>"$T/err"
[ $? -eq 0 ] && [ "$(find "$T/h" -type f | wc -l)" -eq 2 ] && [ -f "$T/h/a/b/t-images/0.png" ] &&
    [ ! -e "$T/etc" ] && [ ! -e "$T/h/etc" ]
ok $? "an untrusted image path never names a written file"
"$G" --export "$T/s.json" "$T/out/talk.txt" 2>"$T/err"
[ $? -eq 1 ] && grep -q ".md" "$T/err"
ok $? "export wants .md or .json"

# ---------------------------------------------------------------- --list-sessions
S="$T/state/glimpse/sessions"
mkdir -p "$S"
jq '.updated = "2026-01-02T03:04:05Z"' "$T/s.json" >"$S/2026-01-02T03-04-05-old.json"
jq '.updated = "2026-05-02T03:04:05Z" | .turns[0].user = "A newer question"' "$T/s.json" \
    >"$S/2026-05-02T03-04-05-new.json"
printf '{"format": ' >"$S/broken.json"
XDG_STATE_HOME="$T/state" "$G" --list-sessions >"$T/list.txt" 2>"$T/err"
[ $? -eq 0 ] && [ "$(wc -l <"$T/list.txt")" -eq 3 ] &&
    sed -n 2p "$T/list.txt" | grep -q "A newer question" &&
    sed -n 3p "$T/list.txt" | grep -q "What is in this picture?" &&
    sed -n 2p "$T/list.txt" | grep -Eq '^[0-9-]+ [0-9:]+ +2 +1 '
ok $? "--list-sessions: newest first with turns and images, damaged files skipped"

# ---------------------------------------------------------------- --no-embed-images
"$G" $M --image "$IMG" -p "Hi" -n 4 --temp 0 --save "$T/ne.json" --no-embed-images >/dev/null 2>"$T/err"
[ $? -eq 0 ] && [ "$(jq '.images[0] | has("data")' "$T/ne.json")" = false ] &&
    [ "$(jq -r '.images[0].sha256' "$T/ne.json")" = "$(sha256sum <"$IMG" | cut -c1-64)" ]
ok $? "--no-embed-images keeps the path and hash only"
"$G" --replay "$T/ne.json" --speed max | grep -q "not embedded"
ok $? "...and replay says so"

# ---------------------------------------------------------------- damaged files
head -c 700 "$T/s.json" >"$T/cut.json"
cp "$T/cut.json" "$T/cut.orig"
"$G" --replay "$T/cut.json" >"$T/out.txt" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -Eq "cut.json:[0-9]+:[0-9]+: " "$T/err" && cmp -s "$T/cut.json" "$T/cut.orig"
ok $? "a truncated file: exit 1, file:line:col, the file untouched: $(cat "$T/err")"
jq '.version = "2.0"' "$T/s.json" >"$T/v2.json"
"$G" --replay "$T/v2.json" >"$T/out.txt" 2>"$T/err"
[ $? -eq 1 ] && grep -q "newer" "$T/err"
ok $? "an unknown major version: $(cat "$T/err")"
jq '.turns[1].answer_ids[2] = "x"' "$T/s.json" >"$T/type.json"
"$G" --replay "$T/type.json" >"$T/out.txt" 2>"$T/err"
[ $? -eq 1 ] && grep -q 'turns\[1\].answer_ids\[2\]' "$T/err"
ok $? "a wrong type is named by its place: $(cat "$T/err")"
"$G" --replay "$LLM" >"$T/out.txt" 2>"$T/err"
[ $? -eq 1 ]
ok $? "a model file is not a session: $(head -c 120 "$T/err")"

# ---------------------------------------------------------------- usage
"$G" --verify 2>"$T/err"
[ $? -eq 2 ]
ok $? "--verify alone is a usage error"
"$G" --replay "$T/s.json" --speed fast 2>"$T/err"
[ $? -eq 2 ]
ok $? "--speed must be a number or max"

rm -rf "$T"
done_testing
