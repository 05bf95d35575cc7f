#!/bin/sh
# hotsections.sh OBJECT HOT.LIST: objcopy's arguments that rename the
# sections of the functions HOT.LIST names (one a line, in the order a
# command first runs them) to .text.sorted.RANK.NAME. The linker's default
# script puts .text.sorted.* first in the text, sorted by name: the hot
# functions end up together, in that order. A function's clones
# (foo.constprop.0, foo.part.1, ...) go with it; a name the object does
# not have is passed over, so a list made from another release still works.
set -eu
objdump -h "$1" | awk -v list="$2" '
    BEGIN { while ((getline line < list) > 0) if (line !~ /^(#|$)/ && !(line in rank)) rank[line] = ++n }
    $2 ~ /^\.text\./ {
        name = substr($2, 7); base = name; sub(/\..*/, "", base)
        if (base in rank) printf "--rename-section=%s=.text.sorted.%05d.%s\n", $2, rank[base], name
    }'
