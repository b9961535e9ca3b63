#!/bin/sh
# cli_bench.sh - glimpse-bench on the tiny synthetic pair: --json has every
# documented key with plausible values (python3 parses it; SKIP without it),
# the synthetic files are removed afterwards, -p sizes the prompt exactly
# (image left out when it does not fit), --keep/--dir keep the files and a
# second run reuses them; usage errors exit 2, a missing model or a prompt
# larger than the context exits 1 with one line. No timing asserts: speeds
# depend on the machine.
. "${srcdir:-.}/tests/lib.sh"
B="$(dirname "$GLIMPSE_BIN")/glimpse-bench"
[ -x "$B" ] || skip_all "glimpse-bench not built"
T="$GLIMPSE_TMP/cli_bench.$$"
rm -rf "$T"
mkdir -p "$T/run" "$T/keep"
T=$(cd "$T" && pwd)
PY=$(command -v python3 || true)

# check_json FILE PYTHON-CONDITIONS...: every condition (a Python expression
# over the parsed object j) must hold; failures are printed as diagnostics.
check_json() {
    f=$1
    shift
    "$PY" - "$f" "$@" <<'EOF'
import json, math, sys
j = json.load(open(sys.argv[1]))
bad = 0
for cond in sys.argv[2:]:
    try:
        good = eval(cond, {"math": math, "j": j})
    except Exception as e:
        good = False
        cond += " (%s: %s)" % (type(e).__name__, e)
    if not good:
        print("# failed: " + cond)
        bad += 1
sys.exit(1 if bad else 0)
EOF
}

# ---- the tiny pair, default prompt (one image + a short question)
"$B" --synthetic llava-tiny -t 2 -n 8 --json --dir "$T/run" >"$T/out.json" 2>"$T/err"
ok $? "--synthetic llava-tiny -t 2 -n 8 --json exits 0"
[ -z "$(ls "$T/run")" ]
ok $? "the synthetic files are deleted afterwards"
if [ -n "$PY" ]; then
    KEYS="load_s encode_s prefill_positions prefill_tok_s ttft_s decode_tok_s peak_rss_mb
          read_bw_gbs decode_roofline decode_roofline_kv prefill_roofline encode_roofline f32_peak_gflops
          int8_peak_gops sgemm_gflops threads kernels llm_bytes mmproj_bytes weight_bytes"
    conds=""
    for k in $KEYS; do conds="$conds|'$k' in j"; done
    conds=${conds#|}
    (IFS='|'; check_json "$T/out.json" $conds)
    ok $? "the JSON has every documented key"
    check_json "$T/out.json" \
        "all(isinstance(j[k], (int, float)) and math.isfinite(j[k]) for k in
             ['load_s', 'encode_s', 'prefill_tok_s', 'ttft_s', 'decode_tok_s', 'peak_rss_mb',
              'read_bw_gbs', 'f32_peak_gflops', 'int8_peak_gops', 'sgemm_gflops',
              'decode_roofline', 'prefill_roofline', 'encode_roofline'])" \
        "j['load_s'] >= 0 and j['encode_s'] > 0 and j['prefill_tok_s'] > 0 and j['decode_tok_s'] > 0" \
        "j['ttft_s'] >= j['encode_s']" \
        "j['image_in_prompt'] is True and 576 < j['prefill_positions'] < 700" \
        "j['decode_tokens'] == 8 or j['stop'] == 'eos'" \
        "j['threads'] == 2" \
        "5 < j['peak_rss_mb'] < 4096" \
        "j['read_bw_gbs'] > 0.1 and j['f32_peak_gflops'] > 0.1 and j['int8_peak_gops'] > 0.1 and j['sgemm_gflops'] > 0.1" \
        "all(0 < j[k] < 100 for k in ['decode_roofline', 'prefill_roofline', 'encode_roofline'])" \
        "j['decode_roofline'] < j['decode_roofline_kv']" \
        "isinstance(j['kernels'], str) and j['kernels'] != ''" \
        "j['weight_bytes'] > 0 and j['llm_bytes'] > j['weight_bytes'] and j['mmproj_bytes'] > 0"
    ok $? "the figures are plausible"
else
    skip "python3 not found: JSON not parsed"
    skip "python3 not found: JSON not parsed"
fi

# ---- --keep/--dir keep the files; -p too small for the image gives a text-only prompt of exactly -p
"$B" --synthetic llava-tiny -t 2 -n 2 -p 100 --json --keep --dir "$T/keep" >"$T/p100.json" 2>"$T/err"
ok $? "--keep --dir -p 100 exits 0"
[ -f "$T/keep/glimpse-bench-llava-tiny-llm.gguf" ] && [ -f "$T/keep/glimpse-bench-llava-tiny-mmproj.gguf" ]
ok $? "--keep leaves both files in --dir"
if [ -n "$PY" ]; then
    check_json "$T/p100.json" "j['prefill_positions'] == 100" "j['image_in_prompt'] is False" \
        "j['encode_s'] > 0"
    ok $? "-p 100: a text-only prompt of 100 positions (the image still encoded)"
else
    skip "python3 not found"
fi
# a second --keep run reuses them; a prompt that does not fit the context is
# refused before any calibration: exit 1, the reason in one line
"$B" --synthetic llava-tiny -t 2 -c 64 --json --keep --dir "$T/keep" >"$T/out" 2>"$T/err"
st=$?
grep -q reusing "$T/err"
ok $? "a second --keep run reuses the kept files"
[ "$st" -eq 1 ] && [ ! -s "$T/out" ] && [ "$(grep -vc reusing "$T/err")" -eq 1 ] && grep -q context "$T/err"
ok $? "a prompt larger than -c exits 1 with one line (got $st)"

# ---- usage errors: exit 2
for args in "--no-such-option" "-t abc --synthetic llava-tiny" "--synthetic no-such-shape" \
    "" "-m a.gguf --synthetic llava-tiny" "--synthetic llava-tiny --mmproj x.gguf" \
    "-m a.gguf --keep" "-n 0 --synthetic llava-tiny" "--synthetic" "-m a.gguf extra"; do
    # shellcheck disable=SC2086
    "$B" $args >"$T/out" 2>"$T/err"
    st=$?
    [ "$st" -eq 2 ] && [ -s "$T/err" ] && [ ! -s "$T/out" ]
    ok $? "'$args' is a usage error (exit 2, got $st)"
done

# ---- a missing model: exit 1, one line naming it
"$B" -m "$T/missing.gguf" >"$T/out" 2>"$T/err"
st=$?
[ "$st" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "missing.gguf" "$T/err"
ok $? "a missing model exits 1 with one line naming it (got $st)"

"$B" --help >"$T/out" 2>&1
ok $? "--help exits 0"
grep -q llava-7b "$T/out"
ok $? "--help lists the synthetic shapes"

rm -rf "$T"
done_testing
