#!/bin/sh
# fuzz_regress.sh - the fuzz targets (tests/fuzz/fuzz_*.c) built with the
# normal compiler, replaying their seed corpus (tests/fuzz/corpus/TARGET/)
# and every crasher ever found (tests/data/bad/TARGET/): each must go
# through without the target aborting (a property it checks failed), a
# signal, or - in an --enable-sanitizers build - a sanitizer report.
. "${srcdir:-.}/tests/lib.sh"

log="$GLIMPSE_TMP/fuzz_regress.$$"
trap 'rm -f "$log"' EXIT
for t in gguf image tokenizer preview session; do
    bin="$GLIMPSE_TESTBIN/fuzz/replay_$t"
    if [ ! -x "$bin" ]; then
        skip "replay_$t is not built"
        continue
    fi
    set -- "$srcdir/tests/fuzz/corpus/$t"
    [ -d "$srcdir/tests/data/bad/$t" ] && set -- "$@" "$srcdir/tests/data/bad/$t"
    "$bin" "$@" >"$log" 2>&1
    st=$?
    ! grep -q 'Sanitizer\|runtime error' "$log" && [ $st -eq 0 ]
    ok $? "$t: $(tail -1 "$log")"
    [ $st -eq 0 ] || tail -30 "$log" | sed 's/^/# /'
done
done_testing
