#!/usr/bin/env bash
# Code and data size of baremalloc in this firmware, per core object and for the port objects
# (bare-metal port, newlib glue):
#   linked   what the link kept of each object (input sections listed in the link map; the
#            firmware links with --gc-sections, so uncalled functions are gone);
#   objects  arm-none-eabi-size of the same .o files (everything they contain).
# .text counts code, read-only data and unwind tables, as size(1) does. Only objects the map
# says were loaded are counted, so stale files in the build directory do not matter.
# usage: size-report.sh build/mps2-an385/guest.map
set -eu
map=$1
elf=${map%.map}.elf

loaded() { sed -n 's/^LOAD \(.*\.o\)$/\1/p' "$map" | grep -E "$1" || true; }
mapfile -t core < <(loaded '/obj/core/.*\.o$') # core/ and core/ext/
mapfile -t port < <(loaded '/obj/port/[^/]*\.o$')

# "object text data bss" for every loaded object, from the memory map's input sections.
linked_sizes() {
    awk '
        function hex(s,    n, i, c) {
            n = 0
            s = tolower(substr(s, 3))
            for (i = 1; i <= length(s); i++) {
                c = index("0123456789abcdef", substr(s, i, 1)) - 1
                n = n * 16 + c
            }
            return n
        }
        function record(section, size, file) {
            if (section ~ /^\.(text|rodata|ARM\.ex|glue|vfp11|v4_bx|iplt)/) text[file] += hex(size)
            else if (section ~ /^\.(data|tdata)/) data[file] += hex(size)
            else if (section ~ /^(\.bss|\.tbss|COMMON)/) bss[file] += hex(size)
            else return
            seen[file] = 1
        }
        /^Linker script and memory map/ { inmap = 1; next }
        !inmap { next }
        /^ [.A-Za-z*]/ {
            section = $1
            if (NF >= 4 && $2 ~ /^0x/ && $3 ~ /^0x/) record(section, $3, $4)
            next
        }
        /^ +0x[0-9a-f]+ +0x[0-9a-f]+ +[^ ]+\.o$/ { record(section, $2, $3) }
        END { for (f in seen) print f, text[f] + 0, data[f] + 0, bss[f] + 0 }
    ' "$map"
}
linked=$(linked_sizes)

row() { printf '  %-26s %7s %6s %6s %7s   %7s %6s %6s\n' "$@"; }

# label objects... -> one row: linked text data bss total, then size(1) text data bss
sum() {
    local label=$1
    shift
    if [ "$#" -eq 0 ]; then
        printf '  %-26s (no objects)\n' "$label"
        return
    fi
    local kept object_sizes
    kept=$(printf '%s\n' "$linked" | awk -v list="$*" '
        BEGIN { n = split(list, wanted, " "); for (i = 1; i <= n; i++) want[wanted[i]] = 1 }
        ($1 in want) { t += $2; d += $3; b += $4 }
        END { print t + 0, d + 0, b + 0, t + d + b }')
    object_sizes=$(arm-none-eabi-size "$@" | awk 'NR > 1 { t += $1; d += $2; b += $3 } END { print t, d, b }')
    # shellcheck disable=SC2086
    row "$label" $kept $object_sizes
}

echo "baremalloc size in $elf (bytes):"
row "" "linked:" "" "" "" "objects:" "" ""
row "" .text .data .bss total .text .data .bss
for object in "${core[@]}"; do
    sum "core/$(basename "${object%.c.o}").c" "$object"
done
sum "core total" "${core[@]}"
for object in "${port[@]}"; do
    sum "port/$(basename "${object%.c.o}").c" "$object"
done
sum "BAREMALLOC core+port" "${core[@]}" "${port[@]}"
arm-none-eabi-size "$elf" | awk 'NR == 2 {
    printf "  whole firmware: .text %d, .data %d, .bss %d (the .bss includes the 256 KiB heap and the stack)\n",
        $1, $2, $3 }'
