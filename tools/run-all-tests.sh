#!/usr/bin/env bash
# Everything `make test` runs: generated-file check, freestanding check, link and install
# checks, the host test matrix,
# the drop-in library under LD_PRELOAD, the fuzz builds for FUZZ_TIME seconds each (default 60)
# and every QEMU board. Ends with one line "N passed, N failed" over all of it; exits non-zero
# if anything failed.
# usage: tools/run-all-tests.sh BOARD...
cd "$(dirname "$0")/.." || exit 1
pass=0 fail=0
add_counts() { # reads the last "N passed, N failed" of a log
    local line
    line=$(grep -aE '(^|: )[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    line=${line##*: }
    if [ -n "$line" ]; then
        pass=$((pass + ${line%% passed*}))
        local f=${line#*passed, }
        fail=$((fail + ${f%% failed*}))
    fi
}
mkdir -p build
run_step() { # name command...
    local name=$1; shift
    local log=build/test-$name.log
    "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    add_counts "$log"
    if [ "$status" -ne 0 ] && ! grep -qaE '[0-9]+ passed, [1-9][0-9]* failed' "$log"; then
        fail=$((fail + 1)) # failed without saying how many
    fi
}
start=$(date +%s)
if python3 tools/gen_size_classes.py --check; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
run_step freestanding tools/check-freestanding.sh
run_step link tools/check-link.sh
run_step install tools/check-install.sh
run_step host tools/run-host-tests.sh $HOST_TEST_BINS
run_step preload tools/run-preload-tests.sh
if [ -n "${FUZZ_BUILDS:-}" ]; then # make test runs them unless FUZZ=0 (see the Makefile)
    run_step fuzz tools/run-fuzz.sh "${FUZZ_TIME:-60}" $FUZZ_BUILDS
fi
if [ $# -gt 0 ]; then
    run_step guest tools/run-guest-tests.sh "$@"
fi
echo "total time: $(( $(date +%s) - start ))s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
