#!/bin/sh
# cli_vision.sh - images from the command line: the preprocessing and
# projector dumps (with only the mmproj) against LLaVA-1.5's and llama.cpp's
# references, a --compat llama.cpp run against llava-cli's ids, the toy
# LLaVA's answer, and clear errors for bad images and mismatched files.
. "${srcdir:-.}/tests/lib.sh"
have_refdata || skip_all "GLIMPSE_REFDATA not found"
G="$GLIMPSE_BIN"
R="$GLIMPSE_REFDATA"
CMP="$GLIMPSE_TESTBIN/cmpf32"
T="$GLIMPSE_TMP/cli_vision.$$"
mkdir -p "$T"
MM="$R/models/tiny-llava-mmproj-f16.gguf"
LLM="$R/models/tiny-llava-llm-q4_0.gguf"

# LLaVA-1.5's own preprocessing (expand2square + PIL bicubic), mmproj only
for img in checker_336x336.png; do
    "$G" --mmproj "$MM" "$R/images/$img" --dump-preprocessed "$T/$img.rgb" 2>"$T/err"
    ok $? "--dump-preprocessed $img without -m exits 0"
    cmp -s "$T/$img.rgb" "$R/preprocess/$img.rgb336"
    ok $? "$img as the model sees it equals PIL's"
done
"$G" --mmproj "$MM" "$R/images/photos/camera_gray.png" --dump-preprocessed "$T/cam.rgb" 2>"$T/err"
cmp -s "$T/cam.rgb" "$R/preprocess/camera_gray.png.rgb336"
ok $? "a grayscale photo padded and resized equals PIL's"

# llama.cpp's view of a square image is the image itself
"$G" --mmproj "$MM" "$R/images/checker_336x336.png" --compat llama.cpp --dump-preprocessed "$T/cc.rgb" 2>"$T/err"
cmp -s "$T/cc.rgb" "$R/expected/embd/checker_336x336.rgb.u8"
ok $? "--compat llama.cpp preprocessing of a square image equals llama.cpp's"

# projector output: llama.cpp's (2e-3) and LLaVA-1.5's (3e-3)
for img in checker_336x336 gradient_shapes_640x480; do
    "$G" --mmproj "$MM" "$R/images/$img.png" --compat llama.cpp --dump-embd "$T/$img.c.f32" 2>"$T/err"
    d=$("$CMP" "$T/$img.c.f32" "$R/expected/embd/$img.embd.f32" 2e-3)
    ok $? "--compat llama.cpp projector output of $img within 2e-3 of llama.cpp's ($d)"
    "$G" --mmproj "$MM" "$R/images/$img.png" --dump-embd "$T/$img.f.f32" 2>"$T/err"
    d=$("$CMP" "$T/$img.f.f32" "$R/faithful/embd/$img.embd.f32" 3e-3)
    ok $? "default projector output of $img within 3e-3 of LLaVA-1.5's ($d)"
done

# one llava-cli run through the command line, as JSON
ref="$R/expected/llava/f16/checker_336x336__p0__t1.json"
"$G" -m "$R/models/tiny-llava-llm-f16.gguf" --mmproj "$MM" --compat llama.cpp \
    "$R/images/checker_336x336.png" -p "describe the image in detail." -n 24 --temp 0 --json \
    >"$T/run.json" 2>"$T/err"
ok $? "a --compat llama.cpp run exits 0"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$T/run.json" "$ref" <<'PY'
import json, sys
got = json.loads(open(sys.argv[1]).read())
ref = json.load(open(sys.argv[2]))
pt = [t if isinstance(t, int) else "img" for t in got["prompt_tokens"]]
rt = [t if isinstance(t, int) else "img" for t in ref["prompt_tokens"]]
assert pt == rt, "prompt tokens differ"
assert {"image": 576} in got["prompt_tokens"]
# margin rule: ids equal up to the first step whose recorded margin is below 0.05
for i, (g, s) in enumerate(zip(got["output_ids"], ref["steps"])):
    if s["margin"] < 0.05:
        break
    assert g == s["id"], f"step {i}: {g} != {s['id']}"
PY
    ok $? "its prompt tokens and ids are llava-cli's"
else
    skip "python3 not installed"
fi

# the toy LLaVA, really trained: a colour question
out=$("$G" -m "$R/toy/toy-llava-llm-f32.gguf" --mmproj "$R/toy/toy-llava-mmproj-f16.gguf" \
    "$R/toy/images/test07_green_box_2_287x513.png" -p "What color is the box?" --temp 0 -q 2>"$T/err")
[ "$out" = "Green." ]
ok $? "the toy LLaVA answers \"Green.\" about a green box (got \"$out\")"

# errors
"$G" -m "$LLM" --mmproj "$MM" "$R/images/bad/truncated.jpg" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "truncated.jpg" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]
ok $? "a broken image: one line naming it, exit 1 (status $st)"
mkdir -p "$T/alone" && ln -sf "$LLM" "$T/alone/llm.gguf"   # no mmproj beside it to find
"$G" -m "$T/alone/llm.gguf" "$R/images/checker_336x336.png" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 2 ] && grep -q -- "--mmproj" "$T/err"
ok $? "an image without --mmproj: exit 2 with a hint (status $st)"
"$G" -m "$R/stories260K/stories260K.gguf" --mmproj "$MM" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "belong" "$T/err"
ok $? "a pair that does not fit together is refused (status $st)"
"$G" -m "$LLM" --mmproj "$LLM" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "mmproj" "$T/err"
ok $? "an LLM given as --mmproj is refused (status $st)"
"$G" --mmproj "$MM" --dump-embd "$T/x.f32" >"$T/out" 2>"$T/err"
[ $? -eq 2 ]
ok $? "a dump without an image is a usage error"

rm -rf "$T"
done_testing
