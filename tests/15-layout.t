#!/usr/bin/env bash
# The layout's rules, over the tree (README, "Layout"): no include reaches
# up with "../"; folders include one way, each only the folders below it in
# ORDER; no C file of servos over 700 lines; no function over 120 lines but
# the deliberate dispatch tables listed below. Shell and awk only (a fresh
# machine has no python), no build and no root needed: it reads the sources.
. "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1

# Highest first; folders on one line are peers and include none of each
# other. engine/X is folder X; lua/ and manifests/ are the front ends'.
ORDER='cli
api
stack
proserve build
runtime export
net image
host
lua
git log manifests
graph
core'
MAX_FILE_LINES=700
MAX_FUNCTION_LINES=120
# Functions allowed over MAX_FUNCTION_LINES: deliberate dispatch tables,
# one "path:function" a line, each after a "#" comment that says why.
DISPATCH_TABLES='
# (none yet)
'

# The C of servos itself (tests/ has probes and programs of its own).
sources() { find engine lua manifests -name '*.[ch]' | LC_ALL=C sort; }
rank_of() { # FOLDER: its line in ORDER (1 is the top), or nothing
    printf '%s\n' "$ORDER" | awk -v f="$1" '{ for (i = 1; i <= NF; i++) if ($i == f) print NR }'
}

ups=$(find . -name '*.[ch]' -not -path './build*' -print0 | xargs -0 grep -n '#include *"\.\./' /dev/null)
[ -z "$ups" ]
ok $? 'no #include reaches up with "../" (includes are "folder/file.h", built with -I. -Iengine)' "$ups"

# Every folder of engine/ has its place in ORDER, so none escapes the rule.
unplaced=''
for d in engine/*/; do
    d=${d%/}
    [ -n "$(rank_of "${d#engine/}")" ] || unplaced="$unplaced ${d#engine/}"
done
[ -z "$unplaced" ]
ok $? "every folder of engine/ has a place in the include order" "not in ORDER:$unplaced"

# Each folder: every "X/..." include names a folder below it in ORDER.
wrong_includes=$(sources | xargs awk -v order="$ORDER" '
    BEGIN {
        n = split(order, line, "\n")
        for (i = 1; i <= n; i++) {
            m = split(line[i], peer, " ")
            for (j = 1; j <= m; j++)
                rank[peer[j]] = i
        }
    }
    FNR == 1 { split(FILENAME, part, "/"); from = part[1] == "engine" ? part[2] : part[1] }
    /^[ \t]*#[ \t]*include[ \t]*"/ {
        h = $0
        sub(/^[^"]*"/, "", h)
        sub(/".*/, "", h)
        to = h
        sub(/\/.*/, "", to)
        if (to == from)
            next
        if (to == h || !(to in rank))
            print from "\t" FILENAME ": \"" h "\" names no folder"
        else if (from in rank && rank[to] <= rank[from])
            print from "\t" FILENAME ": \"" h "\" (" from " -> " to ")"
    }')
for folder in $(printf '%s\n' "$ORDER" | tr ' ' '\n'); do
    wrong=$(printf '%s\n' "$wrong_includes" | awk -F '\t' -v f="$folder" '$1 == f { print $2 }')
    [ -z "$wrong" ]
    ok $? "$folder includes only the folders below it" "$wrong"
done

long_files=$(sources | xargs wc -l | awk -v max="$MAX_FILE_LINES" '$2 != "total" && $1 > max { print $2 ": " $1 " lines" }')
[ -z "$long_files" ]
ok $? "no C file over $MAX_FILE_LINES lines" "$long_files"

# A function is what clang-format (.clang-format) writes: its braces alone
# at the start of a line; its name is on the last line before the "{" that
# starts at the first column and holds a "(".
long_functions=$(sources | xargs awk -v max="$MAX_FUNCTION_LINES" -v allowed="$DISPATCH_TABLES" '
    BEGIN {
        n = split(allowed, line, "\n")
        for (i = 1; i <= n; i++) {
            sub(/#.*/, "", line[i])
            gsub(/[ \t]/, "", line[i])
            if (line[i] != "")
                table[line[i]] = 1
        }
    }
    FNR == 1 { start = 0; sig = "" }
    /^[A-Za-z_].*\(/ { sig = $0 }
    /^\{/ { start = FNR; name = sig; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name) }
    /^\}/ {
        if (start && FNR - start > max && !((FILENAME ":" name) in table))
            print FILENAME ":" start ": " name " (" FNR - start " lines)"
        start = 0
    }')
[ -z "$long_functions" ]
ok $? "no function over $MAX_FUNCTION_LINES lines but the dispatch tables listed in this test" "$long_functions"

done_testing
