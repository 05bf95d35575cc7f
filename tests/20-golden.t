#!/usr/bin/env bash
# Golden tests: every example and every ProServe sample gives the expected
# `servos config` output. UPDATE_GOLDEN=1 rewrites the expectations that
# differ (each a skip with its diff: see golden in lib.sh). The
# samples are kept in tests/data (copied from the project's seed material,
# provenance in SOURCES.md there) so a bare clone can run this.
. "$(dirname "$0")/lib.sh"
GOLD=$ROOT/tests/golden
SAMPLES=$ROOT/tests/data/proserve-manifests

check() { # NAME PATH [ENV=VAL...]
    local name=$1 path=$2
    shift 2
    local got
    got=$(cd "$ROOT" && env -u ENV "$@" "$SERVOS" config "$path" 2>"$TMP/err") || {
        fail "$name" "config failed: $(cat "$TMP/err")"
        return
    }
    got=$(printf '%s\n' "$got" | sed "s#$ROOT#\$ROOT#g; s#$TMP#\$TMP#g")
    golden "$got" "$GOLD/$name.json" "$name"
}

for d in "$ROOT"/examples/*/; do
    name=$(basename "$d")
    check "example-$name" "examples/$name"
done
check "example-enviro-production" "examples/enviro" ENV=production
check "example-shop-production" "examples/shop" ENV=production

for f in "$SAMPLES"/*.y*ml; do
        base=$(basename "$f")
        base=${base%.*}
        if [[ $base == *fragment* ]]; then
            # An isolation: block alone; give it a name, as the issue says.
            mkdir -p "$TMP/frag"
            { echo "name: ${base//[^a-zA-Z0-9-]/-}"; cat "$f"; } >"$TMP/frag/$base.yaml"
            check "proserve-$base" "$TMP/frag/$base.yaml"
        else
            check "proserve-$base" "$f"
        fi
done
done_testing
