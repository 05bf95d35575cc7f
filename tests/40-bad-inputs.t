#!/usr/bin/env bash
# Bad inputs: every file in tests/bad/ must fail with the error its first
# line expects (file:line included), exit 1, and never crash — under the
# normal build and under AddressSanitizer + UBSan. Generated cases (binary
# garbage, a 50 MB file, deep nesting, alias bombs) are made here.
. "$(dirname "$0")/lib.sh"
BAD=$ROOT/tests/bad
binaries=("$SERVOS")
[ -x "$SERVOS_ASAN" ] && binaries+=("$SERVOS_ASAN")

expect_error() { # BINARY FILE REGEX NAME
    local bin=$1 file=$2 regex=$3 name=$4
    run "$bin" config "$file"
    [ "$rc" -eq 1 ] && ! matches "$err" 'AddressSanitizer|runtime error:|LeakSanitizer' &&
        matches "$err" "^servos: ($regex)"
    ok $? "$name" "expected: exit code 1, an error matching ^servos: ($regex), no sanitizer report" \
        "got:      exit code $rc, stderr: $err"
}

cd "$BAD"
for bin in "${binaries[@]}"; do
    tag=$([ "$bin" = "$SERVOS" ] && echo release || echo asan)
    for f in *.lua *.yaml; do
        regex=$(head -n1 "$f" | sed -E 's/^(--|#) expect: //')
        expect_error "$bin" "$f" "$regex" "$tag: $f"
    done
done

# Generated inputs, in $TMP so they never enter the repository.
cd "$TMP"
head -c 4096 /dev/urandom >garbage.lua
printf '\033Lua\124\000\031\223' >compiled.lua
head -c 4096 /dev/urandom >garbage.yaml
printf 'services:\n  web:\n    image: "\001\002"\n' >control.yaml
# 50 MB of valid-looking text: refused before it is parsed.
{ echo 'services:'; yes '  # padding padding padding padding padding padding padding' | head -c 52428800; } >huge.yaml
cp huge.yaml huge.lua
# Deep nesting: YAML flow sequences and Lua tables.
python_free_nest() { local n=$1 open=$2 close=$3; printf "%${n}s" | tr ' ' "$open"; printf "%${n}s" | tr ' ' "$close"; }
{ printf 'services: '; python_free_nest 5000 '[' ']'; echo; } >deep.yaml
{ printf 'local t = '; python_free_nest 5000 '{' '}'; echo; } >deep.lua
# ... and blocks over many lines, after a comment and a string that look deep.
{
    echo '-- ((((((((('
    echo 'local s = "{{{{{{{{"'
    for _ in $(seq 1 250); do echo 'if s then'; done
    for _ in $(seq 1 250); do echo 'end'; done
} >deep-blocks.lua
# A billion-laughs alias bomb inside a ProServe body.
{
    echo 'name: bomb'
    echo 'x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'
    for i in $(seq 1 9); do
        printf 'x%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n' \
            "$i" "$i" $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1))
    done
} >bomb.yaml
# In an inline response, which the body keeps as written (unknown keys
# elsewhere would stop it early).
{ printf 'name: bomb\nendpoints:\n  - path: /\n    response:\n'; sed -n '2,$p' bomb.yaml | sed 's/^/      /'; } >bomb2.yaml

for bin in "${binaries[@]}"; do
    tag=$([ "$bin" = "$SERVOS" ] && echo release || echo asan)
    expect_error "$bin" garbage.lua 'garbage.lua:[0-9]+: ' "$tag: binary garbage as Envirofile"
    expect_error "$bin" compiled.lua 'compiled.lua:1: this is a compiled Lua chunk' "$tag: precompiled Lua chunk"
    expect_error "$bin" garbage.yaml 'garbage.yaml:[0-9]+: ' "$tag: binary garbage as YAML"
    expect_error "$bin" control.yaml 'control.yaml:3: YAML syntax error: control characters are not allowed' "$tag: control characters in YAML"
    expect_error "$bin" huge.yaml 'huge.yaml: file too large \(50.0 MB, the limit is 16.0 MB\)' "$tag: 50 MB YAML"
    expect_error "$bin" huge.lua 'huge.lua: file too large' "$tag: 50 MB Envirofile"
    expect_error "$bin" deep.yaml 'deep.yaml:1: nesting deeper than 256 levels' "$tag: deep YAML nesting"
    expect_error "$bin" deep.lua 'deep.lua:1: cannot parse: C stack overflow' "$tag: deep Lua nesting"
    expect_error "$bin" deep-blocks.lua 'deep-blocks.lua:19[0-9]: cannot parse: C stack overflow' "$tag: deep Lua blocks name their line"
    expect_error "$bin" bomb2.yaml 'bomb2.yaml:[0-9]+: service "bomb": proserve: the value is too large' "$tag: YAML alias bomb"
done
done_testing
