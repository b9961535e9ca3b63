#!/bin/sh
# cli_models.sh - finding models from the command line, in a temporary HOME:
# --list-models over a fake ollama store (ollama's manifest format, blobs
# symlinked to the tiny models), a llama.cpp cache and glimpse's XDG data
# directory; -m NAME and NAME:TAG giving the same answer as the files named
# directly (also with an image); no -m with one pair (used) and with several
# (exit 2, candidates listed); the mmproj picked next to -m FILE and said;
# the config file's defaults, the command line overriding them, and a bad
# config line (one line naming file:line, non-zero exit); missing names and
# a manifest whose blob is missing.
. "${srcdir:-.}/tests/lib.sh"
have_refdata || skip_all "GLIMPSE_REFDATA not found"
G="$GLIMPSE_BIN"
R="$GLIMPSE_REFDATA"
T="$GLIMPSE_TMP/cli_models.$$"
rm -rf "$T"
mkdir -p "$T"
T=$(cd "$T" && pwd)
trap 'rm -rf "$T"' EXIT
LLM="$R/models/tiny-llava-llm-q4_K_M.gguf"
MM="$R/models/tiny-llava-mmproj-f16.gguf"
IMG="$R/images/checker_336x336.png"

# Every place glimpse looks, pointed into $T.
H="$T/home"
mkdir -p "$H"
run() {
    env -u OLLAMA_MODELS -u LLAMA_CACHE -u XDG_DATA_HOME -u XDG_CONFIG_HOME -u XDG_CACHE_HOME \
        HOME="$H" "$@"
}

# Is --list-models wired into main.c yet?
run "$G" --list-models >"$T/out" 2>"$T/err"
if grep -q "unknown option" "$T/err"; then
    skip_all "glimpse --list-models is not wired into main.c yet"
fi

digest() { grep " $1\$" "$R/models/SHA256SUMS" | cut -c1-64; }

# ---- an ollama store in its real layout
S="$H/.ollama/models"
mkdir -p "$S/blobs" "$S/manifests/registry.ollama.ai/library/tinyllava"
LD=$(digest tiny-llava-llm-q4_K_M.gguf)
MD=$(digest tiny-llava-mmproj-f16.gguf)
ln -s "$LLM" "$S/blobs/sha256-$LD"
ln -s "$MM" "$S/blobs/sha256-$MD"
printf '{"model_format":"gguf","model_family":"llama","model_families":["llama","clip"],"file_type":"Q4_K_M","architecture":"amd64","os":"linux"}' >"$T/cfg.json"
CD=$(sha256sum "$T/cfg.json" | cut -c1-64)
cp "$T/cfg.json" "$S/blobs/sha256-$CD"
CS=$(wc -c <"$T/cfg.json" | tr -d ' ')
LS=$(wc -c <"$LLM" | tr -d ' ')
MS=$(wc -c <"$MM" | tr -d ' ')
manifest() { # model-digest model-size projector-digest projector-size
    printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    printf '"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:%s","size":%s},' "$CD" "$CS"
    printf '"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%s},' "$1" "$2"
    printf '{"mediaType":"application/vnd.ollama.image.projector","digest":"sha256:%s","size":%s}]}\n' "$3" "$4"
}
manifest "$LD" "$LS" "$MD" "$MS" >"$S/manifests/registry.ollama.ai/library/tinyllava/latest"
cp "$S/manifests/registry.ollama.ai/library/tinyllava/latest" "$S/manifests/registry.ollama.ai/library/tinyllava/7b"
mkdir -p "$S/manifests/registry.ollama.ai/library/gone"
manifest "$LD" "$LS" 0000000000000000000000000000000000000000000000000000000000000000 "$MS" \
    >"$S/manifests/registry.ollama.ai/library/gone/latest"

# ---- a llama.cpp cache
C="$H/.cache/llama.cpp"
mkdir -p "$C"
printf '{"ggufFile":{"rfilename":"tiny-llava-llm-q4_0.gguf"},"mmprojFile":{"rfilename":"tiny-llava-mmproj-f16.gguf"}}' \
    >"$C/manifest=tiny-org=tiny-llava-GGUF=latest.json"
ln -s "$R/models/tiny-llava-llm-q4_0.gguf" "$C/tiny-org_tiny-llava-GGUF_tiny-llava-llm-q4_0.gguf"
ln -s "$MM" "$C/tiny-org_tiny-llava-GGUF_tiny-llava-mmproj-f16.gguf"

# ---- glimpse's own directory
D="$H/.local/share/glimpse/models/mine"
mkdir -p "$D"
ln -s "$R/models/tiny-llava-llm-f16.gguf" "$D/model.gguf"
ln -s "$MM" "$D/mmproj-model-f16.gguf"

# --list-models: every pair, with sizes
run "$G" --list-models >"$T/list" 2>"$T/err"
ok $? "--list-models exits 0"
grep -q "tinyllava:latest" "$T/list" && grep -q "tinyllava:7b" "$T/list" &&
    grep -q "tiny-org/tiny-llava-GGUF:latest" "$T/list" && grep -q "mine" "$T/list"
ok $? "--list-models shows the ollama, llama.cpp and glimpse pairs"
grep -q "625 kB" "$T/list" && grep -q "13 MB" "$T/list"
ok $? "--list-models shows sizes"
! grep -q "gone" "$T/list"
ok $? "--list-models leaves out a manifest whose blob is missing"
sed 's/^/# /' "$T/list"

ids() { sed 's/.*"output_ids": *\[\([^]]*\)\].*/\1/' "$1"; }

# -m NAME gives the same answer as the files themselves
run "$G" -m "$LLM" --mmproj "$MM" -p "Hello" --json -n 2 --temp 0 -t 1 >"$T/direct.json" 2>"$T/err"
ok $? "the files named directly: exit 0"
run "$G" -m tinyllava -p "Hello" --json -n 2 --temp 0 -t 1 >"$T/name.json" 2>"$T/err"
ok $? "-m NAME (ollama): exit 0"
[ -n "$(ids "$T/direct.json")" ] && [ "$(ids "$T/name.json")" = "$(ids "$T/direct.json")" ]
ok $? "-m NAME answers like the files it names ($(ids "$T/name.json"))"
run "$G" -m tinyllava:7b -p "Hello" --json -n 2 --temp 0 -t 1 >"$T/tag.json" 2>"$T/err"
[ $? -eq 0 ] && [ "$(ids "$T/tag.json")" = "$(ids "$T/direct.json")" ]
ok $? "-m NAME:TAG too"
run "$G" -m tinyllava -p "What is in this picture?" "$IMG" --json -n 2 --temp 0 -t 1 >"$T/img1.json" 2>"$T/err"
st=$?
run "$G" -m "$LLM" --mmproj "$MM" -p "What is in this picture?" "$IMG" --json -n 2 --temp 0 -t 1 >"$T/img2.json" 2>"$T/err2"
[ $st -eq 0 ] && [ -n "$(ids "$T/img1.json")" ] && [ "$(ids "$T/img1.json")" = "$(ids "$T/img2.json")" ]
ok $? "-m NAME with an image uses the store's projector (status $st)"
run "$G" -m tiny-org/tiny-llava-GGUF -p "Hello" --json -n 2 --temp 0 -t 1 >"$T/lc.json" 2>"$T/err"
ok $? "-m OWNER/REPO (llama.cpp cache): exit 0"
run "$G" -m mine -p "Hello" --json -n 2 --temp 0 -t 1 >"$T/mine.json" 2>"$T/err"
ok $? "-m NAME (glimpse's directory): exit 0"

# errors: one line, exit 1
run "$G" -m tinyllava:nope -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "tinyllava:nope" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]
ok $? "a missing NAME:TAG: one line naming it, exit 1 (status $st)"
run "$G" -m gone -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 1 ] && grep -q "gone" "$T/err" && grep -q "sha256" "$T/err"
ok $? "a manifest pointing to a missing blob: exit 1, the blob named (status $st)"

# no -m: several pairs -> the candidates and exit 2
run "$G" -p x >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 2 ] && grep -q "tinyllava:latest" "$T/err" && grep -q "mine" "$T/err"
ok $? "no -m with several models: exit 2 and the candidates listed (status $st)"

# no -m: one pair -> used
O="$T/one"
mkdir -p "$O/blobs" "$O/manifests/registry.ollama.ai/library/solo" "$T/empty"
ln -s "$LLM" "$O/blobs/sha256-$LD"
ln -s "$MM" "$O/blobs/sha256-$MD"
cp "$S/blobs/sha256-$CD" "$O/blobs/"
manifest "$LD" "$LS" "$MD" "$MS" >"$O/manifests/registry.ollama.ai/library/solo/latest"
env HOME="$H" OLLAMA_MODELS="$O" LLAMA_CACHE="$T/empty" XDG_DATA_HOME="$T/empty" XDG_CONFIG_HOME="$T/empty" \
    "$G" -p "Hello" --json -n 2 --temp 0 -t 1 >"$T/solo.json" 2>"$T/err"
st=$?
[ $st -eq 0 ] && [ "$(ids "$T/solo.json")" = "$(ids "$T/direct.json")" ]
ok $? "no -m with a single model: it is used (status $st)"
grep -q "solo" "$T/err"
ok $? "  and glimpse says which"

# -m FILE without --mmproj: the matching mmproj beside it, said
P="$T/side"
mkdir -p "$P"
ln -s "$LLM" "$P/llm.gguf"
ln -s "$MM" "$P/tiny-mmproj.gguf"
ln -s "$R/stories260K/stories260K.gguf" "$P/other-mmproj.gguf"
run "$G" -m "$P/llm.gguf" -p "What is in this picture?" "$IMG" --json -n 2 --temp 0 -t 1 >"$T/side.json" 2>"$T/err"
st=$?
[ $st -eq 0 ] && [ "$(ids "$T/side.json")" = "$(ids "$T/img2.json")" ]
ok $? "-m FILE with an image: the mmproj next to it is used (status $st)"
grep -q "tiny-mmproj.gguf" "$T/err"
ok $? "  and glimpse says which one"

# the config file sets defaults; the command line wins
mkdir -p "$H/.config/glimpse"
printf '# defaults\nmodel = tinyllava\nn_predict = 2\ntemp = 0\nthreads = 1\n' >"$H/.config/glimpse/config"
run "$G" -p "Hello" --json >"$T/cfg1.json" 2>"$T/err"
st=$?
[ $st -eq 0 ] && [ "$(ids "$T/cfg1.json")" = "$(ids "$T/direct.json")" ]
ok $? "the config file's model, n_predict and temp are used (status $st)"
run "$G" -p "Hello" --json -n 3 >"$T/cfg2.json" 2>"$T/err"
n=$(ids "$T/cfg2.json" | tr ',' '\n' | grep -c .)
[ "$n" -eq 3 ]
ok $? "the command line overrides the config file (-n 3 gave $n ids)"
printf 'model = tinyllava\ntemp = hot\n' >"$H/.config/glimpse/config"
run "$G" -p "Hello" >"$T/out" 2>"$T/err"
st=$?
[ $st -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "glimpse/config:2:" "$T/err"
ok $? "an unparsable config line: one line with file:line, non-zero exit (status $st)"
rm -f "$H/.config/glimpse/config"

done_testing
