#!/usr/bin/env bash
# Builds and runs the guest test program on each QEMU board (and the core-count, build-flag and
# C-library variants that the boards promise), prints one line per run and "guest: N passed,
# N failed" summed over the guests' own counts. A guest that hangs, crashes or exits with a
# failing status counts as one more failure, named by its board.
# usage: tools/run-guest-tests.sh BOARD...
cd "$(dirname "$0")/.." || exit 1
logs=build/guest-logs
mkdir -p "$logs"
declare -A SMP_VARIANTS=([virt-aarch64]="4 2 8" [pc-x86_64]="4 2 8")
# Build-flag variants: name=flags (their own build directory)
declare -A FLAG_VARIANTS=([mps2-an385]="basepri=-DBM_CORTEX_M_BASEPRI=0x80" [mps2-an521]="mttcg=-DBOARD_MTTCG basepri=-DBM_CORTEX_M_BASEPRI=0x80")
# Make-variable variants: name:VARIABLE=value (their own build directory), e.g. the C library
declare -A MAKE_VARIANTS=([mps2-an385]="picolibc:LIBC=picolibc")
total_pass=0 total_fail=0
for board in "$@"; do
    for smp in ${SMP_VARIANTS[$board]:-default} ${FLAG_VARIANTS[$board]:-} ${MAKE_VARIANTS[$board]:-}; do
        name=$board
        args=()
        if [[ "$smp" == *:*=* ]]; then
            name="$board-${smp%%:*}"
            args=(B="build/$name" "${smp#*:}")
        elif [[ "$smp" == *=* ]]; then
            name="$board-${smp%%=*}"
            args=(B="build/$name" EXTRA_CFLAGS="${smp#*=}")
        elif [ "$smp" != default ]; then
            name="$board-smp$smp"
            args=(SMP="$smp")
        fi
        log=$logs/$name.log
        start=$(date +%s)
        make --no-print-directory -f mk/guest.mk BOARD="$board" "${args[@]}" run >"$log" 2>&1
        status=$?
        secs=$(( $(date +%s) - start ))
        line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        p=0 f=0
        if [ -n "$line" ]; then
            p=${line%% passed*}
            f=${line#*passed, }; f=${f%% failed*}
        fi
        [ "$status" -ne 0 ] && f=$((f + 1))
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        verdict=ok
        [ "$f" -ne 0 ] && verdict=FAIL
        printf '%-5s guest %-22s %3s passed %2s failed  %3ss\n' "$verdict" "$name" "$p" "$f" "$secs"
        if [ "$f" -ne 0 ]; then
            grep -aE 'FAIL|error|Error|hung' "$log" | head -n 15 | sed 's/^/      /'
        fi
    done
done
echo "guest: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
