#!/bin/sh
# run.sh - run the libFuzzer targets for `make fuzz` (called by Makefile.am).
#
#   run.sh TARGET...        e.g. run.sh gguf image tokenizer preview session
#
# Environment: FUZZ_SECONDS (per target, default 60), FUZZ_JOBS (targets run
# at once, default the number of CPUs), srcdir (the source tree), GLIMPSE_REFDATA
# (optional: its damaged images and small models become extra seeds),
# FUZZ_EXTRA_ARGS (more libFuzzer flags).
#
# Each target runs in the build tree on tests/fuzz/work/TARGET, seeded from
# $srcdir/tests/fuzz/corpus/TARGET (plus tests/mkgguf's files for gguf and
# the reference data's broken images for image). A crash, a leak, a timeout
# (10 s per input) or running out of memory (2.5 GiB) fails the run; the input
# is saved as tests/fuzz/crashes/TARGET-crash-... and the log is shown. The
# closing lines give each target's executions.
set -u
: "${srcdir:=.}"
: "${FUZZ_SECONDS:=60}"
: "${FUZZ_JOBS:=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}"
: "${FUZZ_EXTRA_ARGS:=}"
dir=tests/fuzz
mkdir -p "$dir/crashes" "$dir/work" || exit 1

max_len() {
    case $1 in
    gguf) echo 131072 ;;
    image) echo 65536 ;;
    session) echo 65536 ;;
    *) echo 4096 ;;
    esac
}

# seed TARGET: fill the work corpus.
seed() {
    w="$dir/work/$1"
    mkdir -p "$w"
    cp "$srcdir/tests/fuzz/corpus/$1/"* "$w/" 2>/dev/null
    ref=${GLIMPSE_REFDATA:-}
    case $1 in
    gguf)
        [ -x tests/mkgguf ] && tests/mkgguf "$w/mkgguf" >/dev/null &&
            for f in "$w"/mkgguf/*.gguf; do mv "$f" "$w/mkgguf-$(basename "$f")"; done
        rmdir "$w/mkgguf" 2>/dev/null
        # The small reference models (the fuzzer keeps their first max_len bytes).
        if [ -n "$ref" ] && [ -d "$ref" ]; then
            for f in "$ref"/stories260K/*.gguf "$ref"/toy/*.gguf "$ref"/tokenizer/*.gguf \
                "$ref"/bad-gguf/*.gguf "$ref"/models/*mmproj*.gguf; do
                [ -f "$f" ] && head -c "$(max_len gguf)" "$f" >"$w/ref-$(basename "$f")"
            done
        fi
        ;;
    image)
        if [ -n "$ref" ] && [ -d "$ref/images" ]; then
            for f in "$ref"/images/bad/* "$ref"/images/odd/* "$ref"/images/pngsuite/*/* "$ref"/images/*.*; do
                [ -f "$f" ] && [ "$(wc -c <"$f")" -le 200000 ] && cp "$f" "$w/ref-$(basename "$f")"
            done
        fi
        ;;
    esac
    chmod u+w "$w"/* 2>/dev/null
    return 0
}

# run TARGET: one fuzzing run; prints "TARGET: N executions ..." and fails on a finding.
run() {
    t=$1
    log="$dir/fuzz_$t.log"
    dict=
    [ -f "$srcdir/tests/fuzz/$t.dict" ] && dict="-dict=$srcdir/tests/fuzz/$t.dict"
    # shellcheck disable=SC2086
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$dir/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$dir/crashes/$t-" $dict \
        $FUZZ_EXTRA_ARGS "$dir/work/$t" >"$log" 2>&1
    st=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $st -ne 0 ]; then
        echo "fuzz $t: FAILED (status $st) after ${execs:-?} executions; log $log; input:"
        ls "$dir/crashes/$t-"* 2>/dev/null | sed 's/^/  /'
        grep -m1 -A30 'ERROR: \|runtime error\|==ERROR\|deadly signal\|fuzz_[a-z]*: ' "$log" | head -25
        return 1
    fi
    echo "fuzz $t: ${execs:-?} executions in ${FUZZ_SECONDS} s, ${cov:-cov ?}, corpus $(ls "$dir/work/$t" | wc -l) files, no crash"
}

if [ "${1:-}" = --one ]; then
    run "$2"
    exit $?
fi
[ $# -gt 0 ] || { echo "usage: run.sh TARGET..." >&2; exit 2; }
for t in "$@"; do
    [ -x "$dir/fuzz_$t" ] || { echo "run.sh: $dir/fuzz_$t is not built" >&2; exit 2; }
    seed "$t"
done
export srcdir FUZZ_SECONDS FUZZ_EXTRA_ARGS
# One target per job; each prints its summary line when it finishes.
printf '%s\n' "$@" | xargs -P "$FUZZ_JOBS" -n 1 sh "$0" --one
