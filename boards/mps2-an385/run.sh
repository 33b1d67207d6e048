#!/usr/bin/env bash
# Runs the mps2-an385 firmware: first the link-map check (newlib's allocator must not be
# linked) and the size report for baremalloc's objects, then QEMU.
# usage: run.sh qemu-system-arm ARGS... -kernel build/mps2-an385/guest.elf
# (tools/run-qemu.sh turns the exit status into PASS/FAIL; 3 means the map check failed.)
set -u
elf=
previous=
for arg in "$@"; do
    [ "$previous" = "-kernel" ] && elf=$arg
    previous=$arg
done
if [ -z "$elf" ]; then
    echo "run.sh: no -kernel ELF given" >&2
    exit 3
fi
here=$(dirname "$0")

tools/check-newlib-malloc.sh "${elf%.elf}.map" || exit 3
"$here/size-report.sh" "${elf%.elf}.map" || exit 3
exec "$@"
