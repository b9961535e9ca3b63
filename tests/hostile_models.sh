#!/bin/sh
# hostile_models.sh - every reference GGUF file, truncated and with its
# header fields overwritten (tests/hostile.c walks the structure and lists
# the variants), fed to `glimpse --inspect FILE` and `glimpse -m FILE -p x
# -n 1` (an mmproj file: `-m ITS_LLM --mmproj FILE --image PNG -p x -n 1`).
# Each run must end by itself within 10 s (timeout), never by a signal,
# with status 0 (a harmless change: --inspect then describes the file) or
# a non-zero status and a "glimpse: ..." message - and, in a sanitizer
# build, without any sanitizer report. One TAP line per reference file; the
# closing line counts the files tried.
#
# Environment: HOSTILE_BUDGET (variants per file, default 40; the ten
# quantized copies of the tiny LLM share the f16 file's metadata: they get an
# eighth, on their tensor directory only), HOSTILE_BUDGET=0 tries every
# variant (16872 of the reference files: ten minutes), HOSTILE_JOBS (parallel
# runs, default 2).
. "${srcdir:-.}/tests/lib.sh"

# ------------------------------------------------------------ one variant
# hostile_models.sh --one K FILE ID: make variant ID of FILE (reference
# file number K) in $HOSTILE_DIR, run glimpse on it, print "ok K ID" or
# "FAIL K ID: why", remove the variant.
if [ "${1:-}" = --one ]; then
    k=$2 file=$3 id=$4 dir=$HOSTILE_DIR
    mut="$dir/v$id-$$.gguf"
    "$GLIMPSE_TESTBIN/hostile" --make "$file" "$id" "$mut" || { echo "FAIL $k $id: cannot make the variant"; exit 0; }
    # an mmproj runs with its language model and a picture
    case $(basename "$file") in
    *mmproj*)
        llm=$(ls "$(dirname "$file")"/*llm-q4_0.gguf "$(dirname "$file")"/*llm-f32.gguf 2>/dev/null | head -1)
        gen="-m $llm --mmproj $mut --image $srcdir/tests/fuzz/corpus/image/rgb3-16x12.png" ;;
    *) gen="-m $mut" ;;
    esac
    why=
    for mode in inspect gen; do
        if [ $mode = inspect ]; then set -- --inspect "$mut"; else set -- $gen -p x -n 1 -t 1 -q; fi
        timeout -k 2 10 "$GLIMPSE_BIN" "$@" >"$mut.out" 2>"$mut.err" </dev/null
        st=$?
        if [ $st -eq 124 ] || [ $st -eq 137 ]; then why="$mode: no answer within 10 s"
        elif [ $st -ge 128 ]; then why="$mode: killed by signal $((st - 128))"
        elif grep -q 'Sanitizer\|runtime error' "$mut.err"; then
            why="$mode: $(grep -m1 'Sanitizer\|runtime error' "$mut.err")"
        elif [ $st -ne 0 ] && ! grep -q '^glimpse: ..' "$mut.err"; then
            why="$mode: status $st without a message"
        elif [ $st -eq 0 ] && [ $mode = inspect ] && ! grep -q '^format:' "$mut.out"; then
            why="$mode: status 0 but no description"
        fi
        [ -n "$why" ] && break
    done
    if [ -n "$why" ]; then
        echo "FAIL $k $id: $why"
        # keep the evidence
        mv "$mut" "$dir/failed-$(basename "$file" .gguf)-$id.gguf"
        cp "$mut.err" "$dir/failed-$(basename "$file" .gguf)-$id.err"
    else
        echo "ok $k $id"
    fi
    rm -f "$mut" "$mut.out" "$mut.err"
    exit 0
fi

# ------------------------------------------------------------ the run
have_refdata || skip_all "no reference data (GLIMPSE_REFDATA)"
[ -x "$GLIMPSE_TESTBIN/hostile" ] || skip_all "tests/hostile is not built"
command -v timeout >/dev/null 2>&1 || skip_all "no timeout(1)"
budget=${HOSTILE_BUDGET:-40}
jobs=${HOSTILE_JOBS:-2}
dir="$GLIMPSE_TMP/hostile.$$"
rm -rf "$dir"
mkdir -p "$dir" || skip_all "cannot create $dir"
trap 'rm -rf "$dir"' EXIT
HOSTILE_DIR=$dir
export GLIMPSE_BIN GLIMPSE_TESTBIN srcdir HOSTILE_DIR
# a sanitizer report must be visible, not just a status
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99"
export ASAN_OPTIONS

t0=$(date +%s)
# every variant of every file in one queue, so that no file waits for another
n_refs=0
: >"$dir/queue"
for f in "$GLIMPSE_REFDATA"/models/*.gguf "$GLIMPSE_REFDATA"/stories260K/*.gguf \
    "$GLIMPSE_REFDATA"/toy/*.gguf "$GLIMPSE_REFDATA"/tokenizer/*.gguf "$GLIMPSE_REFDATA"/bad-gguf/*.gguf; do
    [ -f "$f" ] || continue
    n_refs=$((n_refs + 1))
    b=$budget only=
    case $(basename "$f") in
    *llm-q*) [ "$b" -gt 0 ] && b=$(( (b + 7) / 8 )); only=tensors ;;
    esac
    if ! "$GLIMPSE_TESTBIN/hostile" --list "$f" "$b" $only >"$dir/list.$n_refs" 2>"$dir/err"; then
        ok 1 "$(basename "$f"): cannot list variants: $(cat "$dir/err")"
        continue
    fi
    echo "$f" >"$dir/name.$n_refs"
    cut -f1 "$dir/list.$n_refs" | sed "s|^|$n_refs $f |" >>"$dir/queue"
done
[ "$n_refs" -gt 0 ] || skip_all "no GGUF files under $GLIMPSE_REFDATA"
# (the models/ files come first: their variants are the slowest)
xargs -P "$jobs" -L 1 sh "$0" --one <"$dir/queue" >"$dir/results"

n_files=0
for k in $(seq 1 "$n_refs"); do
    [ -f "$dir/name.$k" ] || continue
    f=$(cat "$dir/name.$k")
    n=$(grep -c "^ok $k " "$dir/results")
    bad=$(grep -c "^FAIL $k " "$dir/results")
    n_files=$((n_files + n + bad))
    [ "$bad" -eq 0 ] && [ "$n" -eq "$(wc -l <"$dir/list.$k")" ]
    ok $? "$(basename "$f"): $n of $(wc -l <"$dir/list.$k") variants refused cleanly or harmless"
    grep "^FAIL $k " "$dir/results" | while read -r _ _ id rest; do
        diag "  ${id%:} $(grep "^${id%:}	" "$dir/list.$k" | cut -f2): $rest"
    done
done
ls "$dir"/failed-* >/dev/null 2>&1 && { mkdir -p "$GLIMPSE_TMP/hostile-failed"; mv "$dir"/failed-* "$GLIMPSE_TMP/hostile-failed/"; }
diag "hostile: $n_files hostile files tried (from $n_refs reference files) in $(( $(date +%s) - t0 )) s"
done_testing
