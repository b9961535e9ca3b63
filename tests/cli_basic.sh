#!/bin/sh
# cli_basic.sh - the program's face without a model: --help, --version,
# usage errors and their exit status, and that the man page documents every
# option --help lists.
. "${srcdir:-.}/tests/lib.sh"
G="$GLIMPSE_BIN"
out="$GLIMPSE_TMP/cli_basic.$$"

"$G" --help >"$out" 2>&1
ok $? "--help exits 0"
grep -q -- "--prompt" "$out"
ok $? "--help lists the options"

"$G" --version >"$out" 2>&1
ok $? "--version exits 0"
grep -Eq '^glimpse [0-9]+\.[0-9]+\.[0-9]+$' "$out"
ok $? "--version prints 'glimpse X.Y.Z'"

"$G" --no-such-option >"$out" 2>&1
[ $? -eq 2 ]
ok $? "an unknown option exits 2"
grep -q "unknown option --no-such-option" "$out"
ok $? "and names the option"

"$G" -m x.gguf -p hi -n lots >"$out" 2>&1
[ $? -eq 2 ]
ok $? "a bad number exits 2"
grep -q "whole number" "$out"
ok $? "and says what is expected"

"$G" --temp >"$out" 2>&1
[ $? -eq 2 ]
ok $? "a missing option value exits 2"

"$G" --template nosuch -p x >"$out" 2>&1
[ $? -eq 2 ] && grep -q "vicuna_v1" "$out"
ok $? "an unknown template exits 2 and lists the known ones"

"$G" </dev/null >"$out" 2>&1
[ $? -eq 2 ] && grep -q -- "-p" "$out"
ok $? "without a terminal and without -p: a hint to use -p, exit 2"

# Every long option in --help is documented in the man page.
man="${srcdir:-.}/man/glimpse.1"
missing=""
for opt in $("$G" --help | grep -Eo -- '--[a-z][a-z0-9-]*' | sort -u); do
    esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
    grep -q -- "$esc" "$man" || missing="$missing $opt"
done
[ -z "$missing" ]
ok $? "the man page documents every option of --help${missing:+ (missing:$missing)}"

rm -f "$out"
done_testing
