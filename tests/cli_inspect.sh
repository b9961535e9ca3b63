#!/bin/sh
# cli_inspect.sh - `glimpse --inspect FILE [--json]` on good and broken files.
# Covers: every file of the tests/mkgguf corpus - valid ones are described
# (exit 0, a summary; --json parses and lists every tensor), broken ones are
# refused with exit status 1..127 (never a signal), nothing on stdout and one
# line on stderr naming the file; a missing file and a directory are refused.
# With the reference data: every model in models/, stories260K/, toy/ and
# tokenizer/ is described in both modes with its expected tensor count and
# hyper-parameters, and bad-gguf/text-mangled-vocab.gguf is refused.
. "${srcdir:-.}/tests/lib.sh"

dir="$GLIMPSE_TMP/cli_inspect.$$"
rm -rf "$dir"
mkdir -p "$dir" || skip_all "cannot create $dir"
trap 'rm -rf "$dir"' EXIT

have_python=false
command -v python3 >/dev/null 2>&1 && have_python=true

# json_check FILE EXPECTED_TENSORS: the JSON in FILE parses, names the
# tensors, and its metadata / tensors look like a GGUF description.
json_check() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
t = d["tensors"]
assert isinstance(d["metadata"], dict), "metadata"
assert d["version"] in (2, 3), "version"
assert len(t) == n, "tensor count %d != %d" % (len(t), n)
for x in t:
    assert set(x) >= {"name", "type", "dims", "offset", "bytes"}, x
    assert x["offset"] % d["alignment"] == 0 and 1 <= len(x["dims"]) <= 4
    assert d["data_offset"] + x["offset"] + x["bytes"] <= d["size"]
for k, v in d["metadata"].items():
    if isinstance(v, dict):
        assert v["type"] == "array" and v["count"] > 16 and len(v["head"]) == 8, k
EOF
}

# refused FILE NAME: glimpse --inspect [--json] FILE fails cleanly.
refused() {
    for mode in "" --json; do
        "$GLIMPSE_BIN" --inspect "$1" $mode >"$dir/out" 2>"$dir/err"
        st=$?
        [ $st -ne 0 ] && [ $st -lt 128 ] && [ ! -s "$dir/out" ] &&
            [ "$(wc -l <"$dir/err")" -eq 1 ] && grep -q "^glimpse: .*$2" "$dir/err"
        ok $? "$2 ${mode:+($mode) }refused, status $st: $(head -c 300 "$dir/err")"
    done
}

# ---------------------------------------------------------------- the corpus
"$GLIMPSE_TESTBIN/mkgguf" "$dir/corpus" >"$dir/list" 2>"$dir/err"
ok $? "mkgguf wrote $(wc -l <"$dir/list") files $(cat "$dir/err")"
n_bad=0
while read -r kind path; do
    name=$(basename "$path")
    if [ "$kind" = good ]; then
        "$GLIMPSE_BIN" --inspect "$path" >"$dir/out" 2>"$dir/err" &&
            grep -q "^format: *GGUF v" "$dir/out" && grep -q "^tensors:" "$dir/out" && [ ! -s "$dir/err" ]
        ok $? "$name described"
        n=$(sed -n 's/^tensors: *\([0-9]*\).*/\1/p' "$dir/out")
        if $have_python; then
            "$GLIMPSE_BIN" --inspect "$path" --json >"$dir/json" 2>"$dir/err" && json_check "$dir/json" "$n"
            ok $? "$name --json parses, $n tensors"
        else
            skip "python3 not available"
        fi
    else
        n_bad=$((n_bad + 1))
        refused "$path" "$name"
    fi
done <"$dir/list"
[ "$n_bad" -ge 40 ]
ok $? "$n_bad broken files tried"

refused "$dir/does-not-exist.gguf" "does-not-exist.gguf"
refused "$dir/corpus" "corpus"
refused /dev/null /dev/null
mkfifo "$dir/fifo.gguf" 2>/dev/null && refused "$dir/fifo.gguf" "fifo.gguf"

# ---------------------------------------------------------------- reference models
if ! have_refdata; then
    skip "reference data not found (GLIMPSE_REFDATA)"
    done_testing
    exit $?
fi
R=$GLIMPSE_REFDATA

# Expected tensor counts: TENSOR_TYPES.md for models/; llama2.c-style models
# have 9 tensors per layer + token_embd, output_norm, output (5 layers: 48);
# the toy mmproj has 16 per block (3 blocks) + 4 projector + 5 stem = 57.
expected_tensors() {
    case "$1" in
    models/*) sed -n "s/^## $(basename "$1") .*, \([0-9]*\) tensors)\$/\1/p" "$R/models/TENSOR_TYPES.md" ;;
    stories260K/stories260K.gguf | toy/toy-llava-llm-f32.gguf) echo 48 ;;
    toy/toy-llava-mmproj-f16.gguf) echo 57 ;;
    tokenizer/*) echo 0 ;;
    esac
}

for f in "$R"/models/*.gguf "$R"/stories260K/*.gguf "$R"/toy/*.gguf "$R"/tokenizer/*.gguf; do
    [ -f "$f" ] || continue
    rel=${f#"$R"/}
    want=$(expected_tensors "$rel")
    "$GLIMPSE_BIN" --inspect "$f" >"$dir/out" 2>"$dir/err"
    st=$?
    got=$(sed -n 's/^tensors: *\([0-9]*\).*/\1/p' "$dir/out")
    [ $st -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ] && [ ! -s "$dir/err" ]
    ok $? "$rel described: $got tensors (want $want)"
    if $have_python; then
        "$GLIMPSE_BIN" --inspect "$f" --json >"$dir/json" 2>"$dir/err" && json_check "$dir/json" "$want"
        ok $? "$rel --json parses with $want tensors $(head -c 300 "$dir/err")"
    else
        skip "python3 not available"
    fi
done

# The hyper-parameters FORMAT.md promises, as the summary shows them.
"$GLIMPSE_BIN" --inspect "$R/models/tiny-llava-llm-q4_K_M.gguf" >"$dir/out" 2>&1
grep -q "^architecture: *llama$" "$dir/out" && grep -q "^ *embedding length *256$" "$dir/out" &&
    grep -q "^ *layers *2$" "$dir/out" && grep -q "^ *kv heads *8$" "$dir/out" &&
    grep -q "^ *feed-forward length *768$" "$dir/out" && grep -q "^ *context length *2048$" "$dir/out" &&
    grep -q "^tokenizer: *llama, 32000 tokens$" "$dir/out" && grep -q "^ *q4_K " "$dir/out" &&
    grep -q "^ *q6_K " "$dir/out"
ok $? "llm summary: llama, 256 wide, 2 layers, 8 kv heads, ff 768, ctx 2048, 32000 tokens, q4_K + q6_K"

"$GLIMPSE_BIN" --inspect "$R/models/tiny-llava-mmproj-f16.gguf" >"$dir/out" 2>&1
grep -q "^architecture: *clip$" "$dir/out" && grep -q "^ *image size *336$" "$dir/out" &&
    grep -q "^ *patch size *14$" "$dir/out" && grep -q "^ *width *64$" "$dir/out" &&
    grep -q "^ *layers *3$" "$dir/out" && grep -q "^ *projector type *mlp$" "$dir/out"
ok $? "mmproj summary: clip, 336/14, 64 wide, 3 layers, mlp"

if $have_python; then
    "$GLIMPSE_BIN" --inspect "$R/stories260K/stories260K.gguf" --json >"$dir/json" 2>&1 &&
        python3 - "$dir/json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["metadata"]
assert m["general.architecture"] == "llama"
assert m["llama.block_count"] == 5 and m["llama.attention.head_count_kv"] == 4
assert m["tokenizer.ggml.tokens"]["count"] == 512
assert all(t["type"] == "f32" for t in d["tensors"])
EOF
    ok $? "stories260K --json: 5 layers, 4 kv heads, 512 tokens, all f32"
else
    skip "python3 not available"
fi

refused "$R/bad-gguf/text-mangled-vocab.gguf" "text-mangled-vocab.gguf"

done_testing
