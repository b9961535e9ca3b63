#!/bin/sh
# cli_show.sh - glimpse --show IMAGE [--preview MODE] [--cols N] without a
# terminal (stdout is a file): half blocks with exactly N cells per row and
# as many rows as the aspect gives, only SGR escapes, 256 colours unless
# COLORTERM says truecolor; ascii rows of plain characters; NO_COLOR and
# GLIMPSE_PREVIEW; a sixel stream of the right size on request; none; bad
# and missing images exit 1 with one line on stderr; bad --preview and
# --cols values exit 2.
. "${srcdir:-.}/tests/lib.sh"
have_refdata || skip_all "no reference data (GLIMPSE_REFDATA)"
G="$GLIMPSE_BIN"
out="$GLIMPSE_TMP/cli_show.$$.out"
errf="$GLIMPSE_TMP/cli_show.$$.err"
trap 'rm -f "$out" "$errf" "$out.txt"' EXIT

# A known environment: UTF-8, 256 colours, no truecolor, no NO_COLOR.
LC_ALL=C.UTF-8
TERM=xterm-256color
export LC_ALL TERM
unset COLORTERM NO_COLOR GLIMPSE_PREVIEW TMUX STY

ESC=$(printf '\033')

# rows_ok FILE COLS: every line of FILE, without its SGR sequences, is COLS
# characters (U+2580 and ASCII are one column each) and has no other escape.
rows_ok() {
    sed "s/$ESC\[[0-9;]*m//g" "$1" >"$1.txt"
    if grep -q "$ESC" "$1.txt"; then
        diag "an escape other than SGR"
        return 1
    fi
    bad=$(while IFS= read -r line; do printf '%s' "$line" | wc -m; done <"$1.txt" | grep -vcx "$2")
    [ "$bad" -eq 0 ] || { diag "$bad rows are not $2 columns"; return 1; }
}

# blocks: rows = ceil(round(cols * h / w) / 2) for 10x20-pixel cells
for spec in gradient_shapes_640x480.png:640:480 portrait_300x500.jpg:300:500; do
    img=${spec%%:*}; wh=${spec#*:}; w=${wh%:*}; h=${wh#*:}
    px=$(( (40 * h * 2 + w) / (2 * w) ))
    want=$(( (px + 1) / 2 ))
    "$G" --show "$GLIMPSE_REFDATA/images/$img" --preview blocks --cols 40 >"$out" 2>"$errf"
    ok $? "blocks $img: exit 0"
    [ "$(wc -l <"$out")" -eq "$want" ]
    ok $? "  $want lines (got $(wc -l <"$out"))"
    rows_ok "$out" 40
    ok $? "  each of 40 cells, only SGR escapes"
    grep -q "38;5;" "$out" && ! grep -q "38;2;" "$out"
    ok $? "  256 colours without COLORTERM"
    [ ! -s "$errf" ]
    ok $? "  nothing on stderr"
done

img="$GLIMPSE_REFDATA/images/gradient_shapes_640x480.png"
COLORTERM=truecolor "$G" --show "$img" --preview blocks --cols 40 >"$out" 2>&1 &&
    grep -q "38;2;" "$out"
ok $? "COLORTERM=truecolor: 24-bit colours"

"$G" --show "$img" --cols 40 >"$out" 2>&1 && [ "$(wc -l <"$out")" -eq 15 ] && grep -q "38;5;" "$out"
ok $? "auto to a pipe: 256-colour blocks"

# ascii: rows = round(cols * h * 10 / (w * 20)) = 15
"$G" --show "$img" --preview ascii --cols 40 >"$out" 2>&1
ok $? "ascii: exit 0"
[ "$(wc -l <"$out")" -eq 15 ] && ! grep -q "$ESC" "$out" && rows_ok "$out" 40
ok $? "  15 lines of 40 characters, no escapes"
[ "$(LC_ALL=C tr -d ' .:=+*#%@\n-' <"$out" | wc -c)" -eq 0 ]
ok $? "  only the brightness ramp's characters"

NO_COLOR=1 "$G" --show "$img" --preview blocks --cols 40 >"$out" 2>&1 && ! grep -q "$ESC" "$out" &&
    [ "$(wc -l <"$out")" -eq 15 ]
ok $? "NO_COLOR: blocks become ascii"

GLIMPSE_PREVIEW=ascii "$G" --show "$img" --cols 30 >"$out" 2>&1 && ! grep -q "$ESC" "$out" &&
    rows_ok "$out" 30
ok $? "GLIMPSE_PREVIEW=ascii is honoured for auto"

GLIMPSE_PREVIEW=ascii "$G" --show "$img" --preview blocks --cols 30 >"$out" 2>&1 && grep -q "38;5;" "$out"
ok $? "--preview wins over GLIMPSE_PREVIEW"

GLIMPSE_PREVIEW=bogus "$G" --show "$img" --cols 30 >"$out" 2>"$errf" && grep -q "GLIMPSE_PREVIEW" "$errf" &&
    rows_ok "$out" 30
ok $? "a bad GLIMPSE_PREVIEW: a warning, then the default"

# sixel on request, to a file: 40 cells of 10 pixels -> 400 x 300
"$G" --show "$img" --preview sixel --cols 40 >"$out" 2>&1
ok $? "sixel to a file: exit 0"
head -c 3 "$out" | grep -q "^${ESC}Pq" && grep -q '"1;1;400;300' "$out" && tail -c 3 "$out" | grep -q '\\'
ok $? "  one sixel DCS string of 400x300 pixels"

"$G" --show "$img" --preview none >"$out" 2>&1 && [ ! -s "$out" ]
ok $? "--preview none: nothing, exit 0"

# errors
"$G" --show "$GLIMPSE_REFDATA/images/bad/truncated.jpg" --preview blocks >"$out" 2>"$errf"
[ $? -eq 1 ] && [ ! -s "$out" ] && [ "$(wc -l <"$errf")" -eq 1 ] && grep -q "truncated.jpg" "$errf"
ok $? "a broken image: exit 1, one line naming the file"

"$G" --show "$GLIMPSE_TMP/no-such-image.png" >"$out" 2>"$errf"
[ $? -eq 1 ] && [ "$(wc -l <"$errf")" -eq 1 ]
ok $? "a missing image: exit 1, one line"

"$G" --show "$img" --preview nonsense >"$out" 2>"$errf"
[ $? -eq 2 ] && grep -q "sixel, blocks, ascii" "$errf"
ok $? "--preview nonsense: exit 2, the modes listed"

"$G" --show "$img" --cols 0 >"$out" 2>"$errf"
[ $? -eq 2 ]
ok $? "--cols 0: exit 2"

done_testing
