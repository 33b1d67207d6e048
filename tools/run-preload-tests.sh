#!/usr/bin/env bash
# The drop-in library under LD_PRELOAD: is build/host/libbaremalloc.so safe to load into any
# program? Builds what it needs, then
#   - runs tests/preload/preload_check with LD_PRELOAD (before/after main, dlopen/dlsym,
#     threads, fork, the standard API: each of its checks is one line here and counts);
#   - preload_check's address_space_limit check under `ulimit -v` (a subshell): malloc must
#     serve most of the space the limit allows;
#   - self-tests: preload_check must fail when the preload is missing, and when a check after
#     main fails (the exit status must say so);
#   - runs real programs with LD_PRELOAD (sh/sort, awk, perl, Python with threads and fork,
#     gcc compiling a program): output identical to a run without the preload, status 0, no
#     "baremalloc:" report on stderr.
# Prints one line per check and ends with "N passed, N failed"; exits non-zero on any failure.
# usage: tools/run-preload-tests.sh   (PRELOAD_SO=/abs/path/libbaremalloc.so to test another build)
cd "$(dirname "$0")/.." || exit 1
root=$PWD
so=${PRELOAD_SO:-$root/build/host/libbaremalloc.so} # PRELOAD_SO=/abs/path: test another build of it
bin=$root/build/host/preload/preload_check
logs=$root/build/host/preload/logs
mkdir -p "$logs"
start_all=$(date +%s.%N)

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok    %s\n' "$1"; }
bad() { # name why [log]
    fail=$((fail + 1))
    printf 'FAIL  %s: %s\n' "$1" "$2"
    if [ -n "${3:-}" ] && [ -s "$3" ]; then tail -n 15 "$3" | sed 's/^/        /'; fi
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

target=preload-tests-build # preload_check and build/host/libbaremalloc.so
[ -n "${PRELOAD_SO:-}" ] && target=build/host/preload/preload_check
if ! make --no-print-directory $target >"$logs/build.log" 2>&1; then
    bad build "make $target failed" "$logs/build.log"
    echo "$pass passed, $fail failed"
    exit 1
fi

# ---- preload_check -----------------------------------------------------------------------
t0=$(date +%s.%N)
unset PRELOAD_CHECK_ONLY PRELOAD_CHECK_FAIL # the self-tests below set them
LD_PRELOAD=$so timeout 150 "$bin" >"$logs/preload_check.log" 2>"$logs/preload_check.err"
status=$?
grep -E '^(ok|FAIL) ' "$logs/preload_check.log" | sed -E 's/^ok /ok    preload_check: /; s/^FAIL /FAIL  preload_check: /'
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$logs/preload_check.log" | tail -n 1)
if [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*passed, }; f=${f%% failed*}
    pass=$((pass + p)) fail=$((fail + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        bad preload_check "exit status $status although it reported no failure" "$logs/preload_check.err"
    elif [ "$f" -ne 0 ]; then
        head -n 10 "$logs/preload_check.err" | sed 's/^/        stderr: /'
    fi
else
    bad preload_check "no summary line (exit status $status: crashed, hung or killed)" "$logs/preload_check.err"
    tail -n 5 "$logs/preload_check.log" | sed 's/^/        /'
fi
echo "      preload_check took $(elapsed "$t0")"

# ---- under an address-space limit ----------------------------------------------------------
# The host port reserves its range at start-up; under ulimit -v it must find the largest range
# the limit allows (it used to shrink by fours after each refusal: 232 MiB of 976).
limit_kb=1000000
(ulimit -v $limit_kb && PRELOAD_CHECK_ONLY=address_space_limit LD_PRELOAD=$so timeout 60 "$bin") \
    >"$logs/ulimit.log" 2>&1
status=$?
served=$(sed -n 's/^  address space limit .*: malloc served \([0-9]*\) MiB.*/\1/p' "$logs/ulimit.log")
if [ "$status" -eq 0 ] && grep -q '^ok address_space_limit$' "$logs/ulimit.log" &&
        grep -q '^1 passed, 0 failed$' "$logs/ulimit.log"; then
    ok "ulimit -v $limit_kb: malloc served ${served:-?} MiB of $((limit_kb / 1024)) MiB in 64 KiB blocks"
else
    bad "ulimit -v $limit_kb: address_space_limit" "status $status, ${served:-no} MiB served" "$logs/ulimit.log"
fi

# ---- self-tests: the harness can fail ----------------------------------------------------
# Without the preload, the identity check must fail, loudly, and the status must say so.
env -u LD_PRELOAD PRELOAD_CHECK_ONLY=allocator_is_baremalloc timeout 30 "$bin" >"$logs/self-nopreload.log" 2>&1
status=$?
if [ "$status" -ne 0 ] && grep -q '^FAIL allocator_is_baremalloc: malloc resolves to .*libc' "$logs/self-nopreload.log" &&
        grep -q '^0 passed, 1 failed$' "$logs/self-nopreload.log"; then
    ok "self-test: preload_check without LD_PRELOAD fails (status $status)"
else
    bad "self-test: preload_check without LD_PRELOAD" "did not fail as it should (status $status)" "$logs/self-nopreload.log"
fi
# A failure found after main returned (in a destructor) must still reach the exit status.
PRELOAD_CHECK_ONLY=after_main_dtor PRELOAD_CHECK_FAIL=after_main_dtor LD_PRELOAD=$so timeout 30 "$bin" \
    >"$logs/self-aftermain.log" 2>&1
status=$?
if [ "$status" -ne 0 ] && grep -q '^FAIL after_main_dtor: forced' "$logs/self-aftermain.log" &&
        grep -q '^0 passed, 1 failed$' "$logs/self-aftermain.log"; then
    ok "self-test: a failure after main gives a non-zero status ($status)"
else
    bad "self-test: a failure after main" "status $status, expected non-zero with 'FAIL after_main_dtor'" "$logs/self-aftermain.log"
fi

# ---- real programs -----------------------------------------------------------------------
# run_program name command...: runs the command without and with the preload; the outputs must
# match, both statuses be 0, and the preloaded run's stderr hold no baremalloc report.
run_program() {
    local name=$1; shift
    local ref=$logs/$name.ref out=$logs/$name.out err=$logs/$name.err t0
    if ! timeout 60 "$@" >"$ref" 2>"$logs/$name.ref.err"; then
        bad "program: $name" "fails even without the preload (status $?)" "$logs/$name.ref.err"
        return
    fi
    t0=$(date +%s.%N)
    LD_PRELOAD=$so timeout 60 "$@" >"$out" 2>"$err"
    local status=$?
    if [ "$status" -ne 0 ]; then
        bad "program: $name" "exit status $status with the preload" "$err"
    elif grep -q 'baremalloc:' "$err"; then
        bad "program: $name" "the allocator reported errors" "$err"
    elif ! cmp -s "$ref" "$out"; then
        bad "program: $name" "output differs from the run without the preload" "$out"
        diff "$ref" "$out" | head -n 10 | sed 's/^/        /'
    else
        ok "program: $name (output identical, $(wc -l <"$out") lines, $(elapsed "$t0"))"
    fi
}

# The preload reaches every process a shell starts (else the programs below prove nothing).
if LD_PRELOAD=$so sh -c 'grep -q "libbaremalloc\.so" /proc/self/maps'; then
    ok "program: preload reaches processes started by sh"
else
    bad "program: preload reaches processes started by sh" "libbaremalloc.so is not mapped in grep under sh"
fi

run_program sort-pipeline sh -c 'seq 1 200000 | sort -r -S 1M --parallel=2 -T "${TMPDIR:-/tmp}" | cksum;
                                 seq 1 20000 | sort -r | head -n 3'
run_program awk awk 'BEGIN { for (i = 0; i < 300000; i++) a[i] = i "x" i; s = 0;
                             for (k in a) s += length(a[k]); delete a;
                             for (i = 0; i < 3000; i++) t = t sprintf("%05d", i);
                             n = split(t, parts, "0"); print s, length(t), n }'
run_program perl perl -e 'my %h; $h{$_} = "v" x ($_ % 200) for 1 .. 200000; my $s = 0;
                          $s += length($h{$_}) for keys %h; my @l = sort { $a <=> $b } keys %h;
                          print "$s $#l\n"'

py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) # past pyenv's shim
if [ -n "$py" ]; then
    # PYTHONMALLOC=malloc: every Python object is a malloc call, not pymalloc's arenas
    run_program python-threads-fork env PYTHONMALLOC=malloc "$py" -c '
import hashlib, os, subprocess, sys, threading

def churn(seed, out):
    d, lst = {}, []
    for i in range(30000):
        k = "k%d-%d" % (seed, i % 4000)
        d[k] = d.get(k, "")[-60:] + str(i)      # strings grow and shrink
        lst.append((k, i * seed, [i] * (i % 7)))
        if len(lst) > 3000:
            del lst[:1500]
    out[seed] = hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()[:16] + ":%d" % len(lst)

out = {}
threads = [threading.Thread(target=churn, args=(s, out)) for s in range(1, 5)]
for t in threads:
    t.start()
r, w = os.pipe()
pid = os.fork()                                 # while the threads run
if pid == 0:
    os.close(r)
    child = {}
    churn(9, child)
    os.write(w, child[9].encode())
    os._exit(0)
os.close(w)
from_child = os.read(r, 100).decode()
_, status = os.waitpid(pid, 0)
for t in threads:
    t.join()
mine = {}
churn(9, mine)
for k in sorted(out):
    print(k, out[k])
print("fork child", "exit", status, "same result" if from_child == mine[9] else "DIFFERENT: " + from_child)
sub = subprocess.run([sys.executable, "-c", "print(sum(len(str(i)) for i in range(200000)))"],
                     capture_output=True, text=True)
print("subprocess", sub.returncode, sub.stdout.strip())
'
    LD_PRELOAD=$so "$py" -c 'import sys; sys.exit(3 * ("libbaremalloc.so" not in open("/proc/self/maps").read()))'
    status=$?
    if [ "$status" -eq 0 ]; then
        ok "program: python runs on baremalloc (/proc/self/maps)"
    elif [ "$status" -eq 3 ]; then
        bad "program: python runs on baremalloc" "libbaremalloc.so is not mapped in the Python process"
    else
        bad "program: python runs on baremalloc" "python exited with status $status"
    fi
else
    bad "program: python-threads-fork" "python3 not found"
fi

cc_dir=$(mktemp -d)
cat >"$cc_dir/hello.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char *s = malloc(64);
    strcpy(s, "hello from a program built and run under the preload");
    printf("%s %zu\n", s, strlen(s));
    free(s);
    return 0;
}
EOF
# gcc (driver, cc1, as, ld all preloaded) builds a program and compiles preload_check.c at -O2:
# the object must be byte-identical to the one built without the preload
run_program gcc-compile-and-run sh -c "gcc -O2 -Wall -o '$cc_dir/hello' '$cc_dir/hello.c' && '$cc_dir/hello' &&
    gcc -O2 -Iinclude -c -o '$cc_dir/big.o' tests/preload/preload_check.c && cksum <'$cc_dir/big.o'"
rm -rf "$cc_dir"

echo "preload tests took $(elapsed "$start_all")"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
