#!/usr/bin/env bash
# Runs host test binaries (build/host/<variant>/<test>, built by `make host-tests-build`; the
# Makefile decides which test runs in which variant), prints one line per run and a closing
# "N passed, N failed" summed over every run. A run that crashes or prints no summary counts as
# one failure.
# usage: tools/run-host-tests.sh build/host/<variant>/<test>...
cd "$(dirname "$0")/.." || exit 1
logs=build/host/logs
mkdir -p "$logs"

total_pass=0 total_fail=0
for bin in "$@"; do
        variant=$(basename "$(dirname "$bin")") t=$(basename "$bin")
        log=$logs/$variant-$t.log
        start=$(date +%s)
        if [ ! -x "$bin" ]; then
            echo "missing $bin" >"$log"
            status=127
        else
            ASAN_OPTIONS=detect_leaks=0 TSAN_OPTIONS=halt_on_error=1 timeout 600 "$bin" >"$log" 2>&1
            status=$?
        fi
        secs=$(( $(date +%s) - start ))
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        if [ -n "$line" ]; then
            p=${line%% passed*}
            f=${line#*passed, }; f=${f%% failed*}
        else
            p=0 f=0
        fi
        if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1 # crashed, hung or a sanitizer stopped it
        fi
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        verdict=ok
        [ "$f" -ne 0 ] && verdict=FAIL
        printf '%-5s host %-9s %-13s %3s passed %2s failed  %3ss\n' "$verdict" "$variant" "$t" "$p" "$f" "$secs"
        if [ "$f" -ne 0 ]; then
            grep -E 'FAIL|ERROR|error|Sanitizer|runtime error' "$log" | head -n 20 | sed 's/^/      /'
        fi
done
echo "host: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
