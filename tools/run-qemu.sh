#!/usr/bin/env bash
# Runs one guest under QEMU with a time limit and turns QEMU's exit status into pass/fail.
# usage: tools/run-qemu.sh BOARD TIMEOUT_SECONDS PASS_STATUS qemu-command...
board=$1 limit=$2 pass=$3; shift 3
timeout --foreground -k 5 "$limit" "$@" </dev/null
status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "[$board] FAIL: guest hung, killed after ${limit}s"
    exit 1
elif [ "$status" -ne "$pass" ]; then
    echo "[$board] FAIL: QEMU exit status $status (pass is $pass)"
    exit 1
fi
echo "[$board] PASS"
