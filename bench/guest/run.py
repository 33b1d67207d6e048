#!/usr/bin/env python3
"""Guest benchmarks under QEMU: instructions per malloc/free on one fixed trace, and code size.

  python3 bench/guest/run.py [--only trace|realtime|size] [--verify-min]

1. Trace (bench/guest/trace.c), deterministic under QEMU -icount, the same operations for
   every allocator:
     mps2-an385 (Cortex-M3): baremalloc (port/newlib.c, the standard names), newlib's malloc
       (rdimon specs) and newlib-nano's (nano.specs), timed with SysTick, -icount shift=7;
     virt-aarch64, one core: baremalloc (bm_malloc/bm_free) and picolibc's malloc (Debian
       has no AArch64 newlib; picolibc's malloc is newlib-nano's, reworked), timed with the
       PMU INST_RETIRED counter, -icount shift=0.
   Each variant is built with mk/guest.mk (overrides on the command line, own build
   directory under build/guest-bench/) and run with a timeout.
   Then (issue 12) the firmware and adversarial traces on mps2-an385 for baremalloc, newlib
   and newlib-nano, with baremalloc's maxima checked against the documented bounds in
   tests/common/realtime_bounds.h (docs/REALTIME.md): the script exits 1 if one is exceeded.
2. Size: `size` (text/data/bss) of libbaremalloc.a per `make lib` target, in the Makefile's
   configuration (build/<target>/libbaremalloc.a) and in the smallest one (MIN_FLAGS and
   NOCHECK_FLAGS below, built in build/guest-bench/size/), plus what a Cortex-M firmware links
   (boards/mps2-an385/size-report.sh on the link map).
   --verify-min runs the mps2-an385 firmware and the virt-aarch64 guest tests (SMP=1) with the
   smallest configuration, to show it still works.

Python 3 standard library only. Results: docs/BENCHMARKS.md, "Guests (QEMU)".
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = "build/guest-bench"
TRACE = "bench/guest/trace.c"
M3_BOARD_SRCS = "boards/mps2-an385/startup.c boards/mps2-an385/board.c boards/common/semihost_console.c boards/common/cortex_m_fault.c"
PICOLIBC_A64 = "/usr/lib/picolibc/aarch64-linux-gnu/lib/libc.a"
QEMU_M3 = ["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-semihosting", "-icount", "shift=7"]
QEMU_A64 = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a53", "-smp", "1", "-nographic",
            "-semihosting", "-icount", "shift=0"]

# (board, allocator, make overrides, qemu command)
VARIANTS = [
    ("mps2-an385", "baremalloc",
     ["BOARD_SRCS=" + M3_BOARD_SRCS], QEMU_M3),
    ("mps2-an385", "newlib",
     ["BOARD_SRCS=" + M3_BOARD_SRCS, "CORE_SRCS=", "PORT_SRCS="], QEMU_M3),
    # Diagnostics, not the headline: baremalloc with its per-core cache covering the trace's
    # sizes up to 4 KiB (run-time option; the small geometry's default is 256 B), and with
    # the smaller build flags (MIN_FLAGS: -Os; NOCHECK_FLAGS: also no free-path checks, hardening
    # level 0), and at hardening level 2.
    ("mps2-an385", "baremalloc-tcache4k",
     ["BOARD_SRCS=" + M3_BOARD_SRCS, "EXTRA_CFLAGS+=-DBENCH_CONF=\\\"tcache_max:4096\\\""], QEMU_M3),
    ("mps2-an385", "baremalloc-Os",
     ["BOARD_SRCS=" + M3_BOARD_SRCS, "EXTRA_CFLAGS+=MIN_FLAGS"], QEMU_M3),
    ("mps2-an385", "baremalloc-nocheck",
     ["BOARD_SRCS=" + M3_BOARD_SRCS, "EXTRA_CFLAGS+=NOCHECK_FLAGS"], QEMU_M3),
    # hardening level 2 (canaries, freed-block fill, every call on the slow path), -O2
    ("mps2-an385", "baremalloc-hardened",
     ["BOARD_SRCS=" + M3_BOARD_SRCS, "EXTRA_CFLAGS+=-DBM_HARDENING=2"], QEMU_M3),
    ("mps2-an385", "newlib-nano",
     ["BOARD_SRCS=" + M3_BOARD_SRCS, "CORE_SRCS=", "PORT_SRCS=", "NEWLIB=nano"], QEMU_M3),
    ("virt-aarch64", "baremalloc",
     ["SMP=1", "EXTRA_CFLAGS+=-DBENCH_BM=1"], QEMU_A64),
    ("virt-aarch64", "picolibc",
     ["SMP=1", "CORE_SRCS=", "PORT_SRCS=",
      "ARCH_LDLIBS=%s -lgcc -Wl,--defsym=__heap_start=__bm_heap_start "
      "-Wl,--defsym=__heap_end=__bm_heap_end" % PICOLIBC_A64], QEMU_A64),
]

LIB_TARGETS = ["host", "x86_64", "aarch64", "armv7a", "cortex-m0plus", "cortex-m3", "cortex-m4f", "cortex-m33", "riscv64"]
# Smaller configurations, added after the Makefile's own flags for the target (later options
# win); no core/ edits. MIN_FLAGS is the smallest that passes every test (tests/guest and the
# mps2-an385 board checks, --verify-min); NOCHECK_FLAGS also drops the free-path pointer
# checks (BM_FREE_CHECKS=0: the caller is trusted), so tests/guest's bad-pointer and
# double-free case fails by design and corrupts the heap for the cases after it.
MIN_FLAGS = ["-Os", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]
NOCHECK_FLAGS = MIN_FLAGS + ["-DBM_FREE_CHECKS=0"]


def run(cmd, timeout=600, check=True):
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)
    if check and proc.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s\n" % (proc.returncode, " ".join(cmd), proc.stdout))
        raise SystemExit(1)
    return proc


def fresh(build):
    """Objects do not track compile flags: every variant builds from an empty directory."""
    assert build.startswith(OUT + "/")
    shutil.rmtree(os.path.join(REPO, build), ignore_errors=True)
    return build


def make_vars(target, names):
    """The Makefile's value of each name for TARGET=target (prints them through an extra makefile)."""
    script = "pv:\n" + "".join("\t@echo '%s=$(%s)'\n" % (n, n) for n in names)
    proc = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "pv",
                           "TARGET=" + target], cwd=REPO, input=script, stdout=subprocess.PIPE,
                          universal_newlines=True, check=True)
    values = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip()
    return values


# ---- trace ---------------------------------------------------------------------------------

def parse_fields(line):
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}


def run_variant(board, allocator, overrides, qemu, trace_kind=0):
    build = fresh("%s/%s-%s%s" % (OUT, board, allocator, "" if trace_kind == 0 else "-trace%d" % trace_kind))
    define = "-DBENCH_ALLOCATOR=\\\"%s\\\" -DTRACE_KIND=%d" % (allocator, trace_kind)
    if allocator.startswith("baremalloc"):
        define += " -DBENCH_INIT=1"  # bm_init at boot, as a firmware does: timed on its own
    extra = [o for o in overrides if o.startswith("EXTRA_CFLAGS+=")]
    overrides = [o for o in overrides if not o.startswith("EXTRA_CFLAGS+=")]
    cflags = " ".join([define] + [o[len("EXTRA_CFLAGS+="):] for o in extra]).replace(
        "NOCHECK_FLAGS", " ".join(NOCHECK_FLAGS)).replace("MIN_FLAGS", " ".join(MIN_FLAGS))
    run(["make", "-s", "--no-print-directory", "-f", "mk/guest.mk", "BOARD=" + board, "B=" + build,
         "GUEST_SRCS=" + TRACE, "EXTRA_CFLAGS=" + cflags] + overrides + ["elf"])
    proc = run(["timeout", "120"] + qemu + ["-kernel", build + "/guest.elf"], timeout=150, check=False)
    result = {"board": board, "allocator": allocator, "status": proc.returncode, "ops": {},
              "bands": {}, "output": proc.stdout, "trace": trace_kind}
    for line in proc.stdout.splitlines():
        if not line.startswith("guest-bench:"):
            continue
        fields = parse_fields(line)
        if "counter" in fields:
            result["calibration"] = fields
        elif fields.get("op") == "first_malloc":
            result["first_malloc"] = int(fields["instructions"])
            result["failures"] = int(fields["failures"])
            result["init"] = int(fields.get("init", 0))
            result["corruptions"] = int(fields.get("corruptions", 0))
        elif "band" in fields:
            result["bands"][(fields["op"], fields["band"])] = fields
        elif "op" in fields:
            result["ops"][fields["op"]] = fields
    if proc.returncode != 0 or "malloc" not in result["ops"]:
        sys.stderr.write("%s/%s: guest failed (status %d)\n%s\n" % (board, allocator, proc.returncode,
                                                                    proc.stdout))
    return result


def mean(fields):
    return int(fields["mean_x100"]) / 100.0


def print_trace_tables(results):
    by_board = {}
    for r in results:
        by_board.setdefault(r["board"], []).append(r)
    for board, rows in by_board.items():
        cal = rows[0].get("calibration", {})
        m0 = rows[0]["ops"].get("malloc", {})
        print("#### %s: instructions per call, one fixed trace (20000 steps over 128 slots, then "
              "the rest freed: %s malloc and %s free calls)" %
              (board, m0.get("calls", "?"), rows[0]["ops"].get("free", {}).get("calls", "?")))
        print("counter: %s; read overhead %s subtracted; nop blocks 0/100/1000 read %s/%s/%s (%s)\n" %
              (cal.get("counter"), cal.get("read_overhead"), cal.get("nops0"), cal.get("nops100"),
               cal.get("nops1000"), cal.get("calibration")))
        print("| allocator | malloc mean | p50 | p99 | p99.9 | max | free mean | p50 | p99 | p99.9 | max | first malloc | bm_init |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            m, f = r["ops"].get("malloc"), r["ops"].get("free")
            if not m or not f:
                print("| %s | failed (status %d) |" % (r["allocator"], r["status"]))
                continue
            def pct(value):  # the guest's histogram stops at 4095
                return ">=4095" if value == "4095" else value
            print("| %s | %.1f | %s | %s | %s | %s (%s B) | %.1f | %s | %s | %s | %s (%s B) | %s | %s |" % (
                r["allocator"], mean(m), pct(m["p50"]), pct(m["p99"]), pct(m.get("p999", "?")), m["max"], m["max_size"],
                mean(f), pct(f["p50"]), pct(f["p99"]), pct(f.get("p999", "?")), f["max"], f["max_size"],
                "%s%s" % (r.get("first_malloc"), " (%d mallocs FAILED)" % r["failures"] if r.get("failures") else ""),
                r.get("init") or "-"))
        print()
        print("by size band (mean / max instructions):\n")
        bands = ["8-128", "129-1024", "1025-4096", "4097-12288"]
        print("| allocator | op | " + " | ".join(bands) + " |")
        print("|---|---|" + "---:|" * len(bands))
        for r in rows:
            for op in ("malloc", "free"):
                cells = []
                for band in bands:
                    b = r["bands"].get((op, band))
                    cells.append("%.1f / %s" % (mean(b), b["max"]) if b and int(b["calls"]) else "-")
                print("| %s | %s | %s |" % (r["allocator"], op, " | ".join(cells)))
        print()


def print_targets(results):
    get = {(r["board"], r["allocator"]): r for r in results}
    bm, nl = get.get(("mps2-an385", "baremalloc")), get.get(("mps2-an385", "newlib"))
    print("#### Cortex-M3 targets (issue 5), baremalloc against newlib's malloc\n")
    if not bm or not nl or "malloc" not in bm["ops"] or "malloc" not in nl["ops"]:
        print("(not measured: a guest run failed)\n")
        return
    print("| target | measured | verdict |")
    print("|---|---|---|")
    for op in ("malloc", "free"):
        worst = int(bm["ops"][op]["max"])
        print("| worst-case %s <= 120 instructions | %d | %s |" % (op, worst, "PASS" if worst <= 120 else "MISS"))
    for op in ("malloc", "free"):
        ratio = mean(nl["ops"][op]) / mean(bm["ops"][op])
        print("| mean %s >= 3x faster than newlib | newlib %.1f / baremalloc %.1f = %.2fx | %s |" % (
            op, mean(nl["ops"][op]), mean(bm["ops"][op]), ratio, "PASS" if ratio >= 3 else "MISS"))
    for op in ("malloc", "free"):
        ratio = int(nl["ops"][op]["max"]) / max(1, int(bm["ops"][op]["max"]))
        print("| max %s >= 10x lower than newlib's | newlib %s / baremalloc %s = %.2fx | %s |" % (
            op, nl["ops"][op]["max"], bm["ops"][op]["max"], ratio, "PASS" if ratio >= 10 else "MISS"))
    print()


# ---- real-time traces (issue 12) -------------------------------------------------------------

# The firmware (1) and adversarial (2) traces of bench/guest/trace.c on the Cortex-M3, each
# allocator at the board's -O2, as in VARIANTS.
RT_VARIANTS = [v for v in VARIANTS if v[0] == "mps2-an385" and v[1] in ("baremalloc", "newlib", "newlib-nano")]
# Published figures (issue 12's measurement of the firmware trace, not run here: the peers'
# sources are not in this tree): malloc mean / p99.9 / max, free mean / p99.9 / max, code bytes.
RT_REFERENCES = [("o1heap 2.2", "75.8 / 90 / 91", "47.0 / 85 / 86", "1,048 B (-Os: 608 B)"),
                 ("TLSF", "141.5 / 184 / 184", "88.6 / 162 / 162", "1,143 B (-Os: 1,093 B)")]
BOUNDS_HEADER = "tests/common/realtime_bounds.h"


def realtime_bounds():
    """The documented bounds (docs/REALTIME.md), from the header the firmware tests use too."""
    bounds = {}
    with open(os.path.join(REPO, BOUNDS_HEADER)) as f:
        for line in f:
            m = re.match(r"#define BM_RT_BOUND_(\w+) (\d+)u?", line)
            if m:
                bounds[m.group(1).lower()] = int(m.group(2))
    return bounds


def print_realtime(results):
    """Returns the number of measured maxima above their documented bound."""
    bounds = realtime_bounds()
    names = {1: "firmware (sawtooth, at most 256 live, 95% 8-256 B)", 2: "adversarial (every slow path)"}
    over = 0
    for kind in (1, 2):
        rows = [r for r in results if r["trace"] == kind]
        print("#### mps2-an385 (Cortex-M3), %s trace: instructions per call\n" % names[kind])
        print("| allocator | op | calls | mean | p50 | p99 | p99.9 | max (size) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            if not r["ops"]:
                print("| %s | failed (status %d) | | | | | | |" % (r["allocator"], r["status"]))
                continue
            for op, f in r["ops"].items():
                print("| %s | %s | %s | %.1f | %s | %s | %s | %s (%s B) |" % (
                    r["allocator"], op, f["calls"], mean(f), f["p50"], f["p99"], f.get("p999", "?"),
                    f["max"], f["max_size"]))
            print("| %s | first malloc | 1 | | | | | %s |" % (r["allocator"], r.get("first_malloc")))
            if r.get("init"):
                print("| %s | bm_init | 1 | | | | | %s |" % (r["allocator"], r["init"]))
            if r.get("failures") or r.get("corruptions"):
                print("| %s | FAILED: %d mallocs failed, %d blocks corrupted | | | | | | |" % (
                    r["allocator"], r.get("failures", 0), r.get("corruptions", 0)))
                over += 1 if r["allocator"] == "baremalloc" else 0
        if kind == 1:
            for name, m, f, code in RT_REFERENCES:
                print("| %s (published, not run here) | malloc mean / p99.9 / max %s; free %s; code %s | | | | | | |" % (
                    name, m, f, code))
        print()
        bm = next((r for r in rows if r["allocator"] == "baremalloc" and r["ops"]), None)
        if not bm:
            over += 1
            continue
        print("baremalloc against its documented bounds (%s, docs/REALTIME.md):\n" % BOUNDS_HEADER)
        print("| op | measured max | bound | verdict |")
        print("|---|---:|---:|---|")
        checks = [("malloc", bounds["malloc"]), ("free", bounds["free"]), ("aligned", bounds["malloc"]),
                  ("first malloc", bounds["malloc"])]
        for op, bound in checks:
            if op == "first malloc":
                measured = bm.get("first_malloc", 0)
            elif op in bm["ops"]:
                measured = int(bm["ops"][op]["max"])
            else:
                continue
            ok = measured <= bound
            over += 0 if ok else 1
            print("| %s | %d | %d | %s |" % (op, measured, bound, "within" if ok else "OVER THE BOUND"))
        for op, per_byte in (("calloc", bounds["zero_per_16_bytes"]), ("realloc", bounds["copy_per_16_bytes"])):
            if op in bm["ops"]:
                f = bm["ops"][op]
                bound = bounds["malloc"] + (bounds["free"] if op == "realloc" else 0) + \
                    (int(f["max_size"]) * per_byte + 15) // 16
                ok = int(f["max"]) <= bound
                over += 0 if ok else 1
                print("| %s (of %s B) | %s | %d | %s |" % (op, f["max_size"], f["max"], bound,
                                                        "within" if ok else "OVER THE BOUND"))
        print()
        if kind == 1:
            m, f = bm["ops"]["malloc"], bm["ops"]["free"]
            print("issue 12's targets on this trace: malloc max %s (target 150), free max %s (150), first malloc %s "
                  "(150), p99.9 %s / %s (120), mean %.1f (50) / %.1f (60)\n" % (
                      m["max"], f["max"], bm.get("first_malloc"), m.get("p999"), f.get("p999"), mean(m), mean(f)))
    return over


# ---- size ------------------------------------------------------------------------------------

def size_of(paths, size_tool):
    proc = run([size_tool, "-t"] + paths)
    last = proc.stdout.strip().splitlines()[-1].split()
    return int(last[0]), int(last[1]), int(last[2])


def lib_sizes():
    rows = []
    for target in LIB_TARGETS:
        v = make_vars(target, ["LIB_CC_" + target, "LIB_FLAGS_" + target, "LIB_PORT", "WARN", "CORE_SRCS"])
        cc = v["LIB_CC_" + target]
        size_tool = re.sub(r"gcc$", "size", cc)
        # Full: the Makefile's own library (make lib TARGET=..., without the deps check).
        lib = "build/%s/libbaremalloc.a" % target
        run(["make", "-s", "--no-print-directory", lib, "TARGET=" + target])
        full = size_of([lib], size_tool)
        # Smaller: the same sources and flags plus MIN_FLAGS / NOCHECK_FLAGS, compiled here.
        smaller = []
        for name, flags in (("min", MIN_FLAGS), ("nocheck", NOCHECK_FLAGS)):
            objs = []
            for src in v["CORE_SRCS"].split() + v["LIB_PORT"].split():
                obj = "%s/size/%s-%s/%s.o" % (OUT, target, name, src)  # always recompiled
                os.makedirs(os.path.join(REPO, os.path.dirname(obj)), exist_ok=True)
                run([cc, "-std=c11"] + v["WARN"].split() + v["LIB_FLAGS_" + target].split() + flags +
                    ["-Iinclude", "-Iport", "-Icore", "-Icore/ext", "-Iboards", "-c", "-o", obj, src])
                objs.append(obj)
            smaller.append(size_of(objs, size_tool))
        rows.append((target, v["LIB_FLAGS_" + target], full, smaller[0], smaller[1]))
    return rows


def firmware_linked(map_path):
    """boards/mps2-an385/size-report.sh's 'BAREMALLOC core+port' row: linked text data bss."""
    proc = run(["boards/mps2-an385/size-report.sh", map_path])
    for line in proc.stdout.splitlines():
        if "BAREMALLOC core+port" in line:
            numbers = line.split("core+port")[1].split()
            return tuple(int(x) for x in numbers[:4])
    return None


def peer_malloc_text(map_path):
    """.text the link kept of newlib's allocator objects (malloc, free, their sbrk hook)."""
    total = 0
    try:
        with open(os.path.join(REPO, map_path)) as f:
            for line in f:
                m = re.match(r"^ \.text\S*\s+0x[0-9a-f]+\s+(0x[0-9a-f]+) .*\((lib_a-[\w-]*(mallocr|freer|sbrkr)\.o)\)$", line)
                if m:
                    total += int(m.group(1), 16)
    except OSError:
        return None
    return total


def print_sizes(rows, firmware):
    print("#### baremalloc code size per `make lib` target (bytes, `size` on the archive)\n")
    print("full = `make lib TARGET=<t>` (the Makefile's flags); smallest = those plus `%s` "
          "(passes every test); no checks = smallest plus `-DBM_FREE_CHECKS=0` (trusts the "
          "caller)\n" % " ".join(MIN_FLAGS))
    print("| target | Makefile flags | full text | data | bss | smallest text | no checks text | "
          "text saved |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for target, flags, full, small, nocheck in rows:
        print("| %s | `%s` | %d | %d | %d | %d | %d | %.0f%% / %.0f%% |" % (
            target, flags, full[0], full[1], full[2], small[0], nocheck[0],
            100.0 * (full[0] - small[0]) / full[0], 100.0 * (full[0] - nocheck[0]) / full[0]))
    print()
    if firmware:
        print("#### Cortex-M3 firmware: baremalloc core+port as linked (--gc-sections; "
              "boards/mps2-an385/size-report.sh)\n")
        print("| firmware | configuration | text | data | bss | total |")
        print("|---|---|---:|---:|---:|---:|")
        for name, config, sizes in firmware:
            if sizes:
                print("| %s | %s | %d | %d | %d | %d |" % ((name, config) + sizes))
            else:
                print("| %s | %s | not built |" % (name, config))
        for peer in ("newlib", "newlib-nano"):
            text = peer_malloc_text("%s/mps2-an385-%s/guest.map" % (OUT, peer))
            if text:
                print("| peer: %s's malloc/free/sbrk objects in the trace program | %s | %d | | | |" % (
                    peer, "Debian's build", text))
        print()


def build_firmwares(verify_min):
    """Linked sizes: the board's own firmware (full API in use) and the malloc/free-only trace
    program, each in the board's configuration and with MIN_FLAGS."""
    out = []
    minimal, nocheck = " ".join(MIN_FLAGS), " ".join(NOCHECK_FLAGS)
    name = "-DBENCH_ALLOCATOR=\\\"baremalloc\\\""
    fw, trace = "mps2-an385 firmware (tests/guest + board checks)", "malloc/free-only program (bench/guest/trace.c)"
    for label, config, b, extra, guest in [
        (fw, "board flags (-O2)", OUT + "/fw-full", "", None),
        (fw, "smallest", OUT + "/fw-min", minimal, None),
        (fw, "no checks", OUT + "/fw-nocheck", nocheck, None),
        (trace, "board flags (-O2)", OUT + "/mps2-an385-baremalloc", name, TRACE),
        (trace, "smallest", OUT + "/trace-min", name + " " + minimal, TRACE),
        (trace, "no checks", OUT + "/mps2-an385-baremalloc-nocheck", name + " " + nocheck, TRACE)]:
        if not b.endswith("-baremalloc"):  # that one is the trace run's, with the same flags
            fresh(b)
        cmd = ["make", "-s", "--no-print-directory", "-f", "mk/guest.mk", "BOARD=mps2-an385", "B=" + b,
               "EXTRA_CFLAGS=" + extra]
        if guest:
            cmd += ["GUEST_SRCS=" + guest, "BOARD_SRCS=" + M3_BOARD_SRCS]
        run(cmd + ["elf"])
        out.append((label, config, firmware_linked(b + "/guest.map")))
        if verify_min and guest is None and extra == minimal:
            proc = run(["make", "-s", "--no-print-directory", "-f", "mk/guest.mk", "BOARD=mps2-an385",
                        "B=" + b, "EXTRA_CFLAGS=" + extra, "run"], check=False)
            print("verify smallest config, mps2-an385 firmware run: %s (%s)" % (
                "PASS" if proc.returncode == 0 else "FAIL", proc.stdout.strip().splitlines()[-1]))
    if verify_min:
        proc = run(["make", "-s", "--no-print-directory", "-f", "mk/guest.mk", "BOARD=virt-aarch64",
                    "SMP=1", "B=" + fresh(OUT + "/a64-tests-min"), "EXTRA_CFLAGS=" + minimal, "run"], check=False)
        print("verify smallest config, virt-aarch64 guest tests (SMP=1): %s (%s)\n" % (
            "PASS" if proc.returncode == 0 else "FAIL", proc.stdout.strip().splitlines()[-1]))
    return out


class Tee:
    """Prints and keeps a copy (for --update-doc)."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


BEGIN, END = "<!-- guest-results:begin -->", "<!-- guest-results:end -->"


def update_doc(path, text, argv):
    qemu = run(["qemu-system-arm", "--version"]).stdout.splitlines()[0]
    gcc = run(["arm-none-eabi-gcc", "--version"]).stdout.splitlines()[0]
    git = run(["git", "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    cpu = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    footer = "```\nmachine: %s, %d cpus; %s; %s\ndate: %s; tree at git %s (plus uncommitted changes)\n" \
             "command: python3 bench/guest/run.py %s\n```\n" % (
                 cpu, os.cpu_count(), qemu, gcc, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 git, " ".join(argv))
    full = os.path.join(REPO, path)
    with open(full) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        raise SystemExit("%s: no %s ... %s markers" % (path, BEGIN, END))
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(full, "w") as f:
        f.write(head + BEGIN + "\n\n" + text.strip() + "\n\n" + footer + END + tail)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["trace", "realtime", "size"])
    parser.add_argument("--verify-min", action="store_true",
                        help="also run the board tests built with the smallest configuration")
    parser.add_argument("--update-doc", metavar="FILE",
                        help="rewrite the text between the guest-results markers of FILE")
    args = parser.parse_args()
    tee = Tee(sys.stdout)
    sys.stdout = tee
    over = 0
    if args.only not in ("size", "realtime"):
        results = [run_variant(*v) for v in VARIANTS]
        print_trace_tables(results)
        print_targets(results)
    if args.only in (None, "realtime"):
        rt = [run_variant(*v, trace_kind=kind) for kind in (1, 2) for v in RT_VARIANTS]
        over = print_realtime(rt)
    if args.only in (None, "size"):
        rows = lib_sizes()
        firmware = build_firmwares(args.verify_min)
        print_sizes(rows, firmware)
    sys.stdout = tee.stream
    if args.update_doc:
        update_doc(args.update_doc, "".join(tee.parts), sys.argv[1:])
        print("updated %s" % args.update_doc, file=sys.stderr)
    if over:
        print("bench/guest/run.py: %d measured maxima above the documented real-time bounds" % over, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
