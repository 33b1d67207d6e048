#!/usr/bin/env bash
# Runs the libFuzzer builds of tests/fuzz/fuzz_ops.c (`make fuzz-build`), one after the other,
# each for SECONDS, starting from its seed corpus tests/fuzz/corpus/<build>/. That directory is
# only read: libFuzzer writes the inputs it finds into the first corpus directory it is given,
# here build/fuzz/<build>/corpus/ (kept between runs, so fuzzing resumes where it stopped), and
# crash files into build/fuzz/<build>/artifacts/. A build passes if libFuzzer stopped at the time
# limit having found nothing. Prints per build execs, execs/s, coverage; ends with
# "fuzz: N passed, N failed".
# usage: tools/run-fuzz.sh SECONDS BUILD...
cd "$(dirname "$0")/.." || exit 1
secs=${1:?usage: tools/run-fuzz.sh SECONDS BUILD...}
shift
pass=0 fail=0
for b in "$@"; do
    bin=build/fuzz/$b/fuzz_ops dir=build/fuzz/$b
    log=$dir/fuzz.log
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ ! -x "$bin" ]; then
        echo "FAIL  fuzz $b: $bin missing (make fuzz-build)"
        fail=$((fail + 1))
        continue
    fi
    before=$(ls "$dir/artifacts")
    # -timeout: an input running 30 s is a hang, a finding like a crash. Leak detection is the
    # C library's, which the target does not use.
    ASAN_OPTIONS=detect_leaks=0 "$bin" -max_total_time="$secs" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "$dir/corpus" "tests/fuzz/corpus/$b" >"$log" 2>&1
    status=$?
    stat() { grep -a "^stat::$1:" "$log" | awk '{print $2}'; }
    cov=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1, ft \2, corpus \3/')
    summary="$(stat number_of_executed_units) execs, $(stat average_exec_per_sec)/s, $cov"
    # findings only: crash-, timeout-, oom-, leak- (not slow-unit-, which is no failure)
    new=$(comm -13 <(echo "$before") <(ls "$dir/artifacts") | grep -E '^(crash|timeout|oom|leak)-' |
        sed "s|^|$dir/artifacts/|" | tr '\n' ' ')
    if [ "$status" -eq 0 ] && [ -z "$new" ]; then
        echo "ok    fuzz $(printf '%-7s' "$b") ${secs}s: $summary"
        pass=$((pass + 1))
    else
        echo "FAIL  fuzz $(printf '%-7s' "$b") status $status: $summary"
        grep -aE '^fuzz_ops: |ERROR: |runtime error|SUMMARY: ' "$log" | head -n 5 | sed 's/^/      /'
        for f in $new; do
            echo "      reproduce: FUZZ_TRACE=1 $bin $f"
        done
        echo "      log: $log"
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
