#!/usr/bin/env python3
"""Runs the bench/ workloads under each allocator and prints one table per workload.

Every workload binary uses only the standard malloc API, so the allocator is chosen with
LD_PRELOAD (glibc: no preload). Runs are interleaved -- round 1: workload W under A B C D E,
the next workload under A B C D E, ...; round 2: the same again -- so a burst of load from
something else on the machine hits every allocator rather than one; the table shows the
median over rounds. Ratios are against baremalloc (build/host/libbaremalloc.so); if it has
not been built yet, against glibc, and the tables say so.

Python 3 standard library only. See docs/BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, Debian package, file the package installs, fallback path)
PEER_LIBS = [
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4",
     "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"),
]

# (label, binary, arguments). threads_1t/threads_2t are the same program: their throughput
# ratio is the scaling figure.
WORKLOADS = [
    ("small_lifo", "small", ["order=lifo"]),
    ("small_fifo", "small", ["order=fifo"]),
    ("small_random", "small", ["order=random"]),
    ("mixed_realloc", "mixed_realloc", []),
    ("large", "large", []),
    ("threads_1t", "threads", ["threads=1"]),
    ("threads_2t", "threads", ["threads=2"]),
    ("prodcons", "prodcons", []),
    ("larson", "larson", ["threads=2"]),
    ("churn", "churn", []),
    ("trim", "trim", []),
    ("batch_edge", "batch", ["n=300", "size=32"]),
    ("batch_simple", "batch", ["n=25,100,400,1600", "size=16,32,64"]),
    ("xmalloc", "xmalloc", ["workers=2"]),
    ("handoff", "handoff", ["threads=2"]),
]

# Single-threaded workloads whose throughput is taken per CPU-second of the process rather
# than per wall-clock second: on a shared 2-core machine the wall clock also counts time the
# process waited for a core. Everything threaded (threads_1t included, being half of the
# scaling ratio) uses the wall clock, since waiting on the other thread is part of the result.
CPU_TIMED = {"small_lifo", "small_fifo", "small_random", "mixed_realloc", "large", "churn", "trim",
             "batch_edge", "batch_simple"}

DESCRIPTIONS = {
    "small_lifo": "1 thread, 8-512 B, batches of 1024 freed newest first",
    "small_fifo": "1 thread, 8-512 B, batches of 1024 freed oldest first",
    "small_random": "1 thread, 8-512 B, batches of 1024 freed in random order",
    "mixed_realloc": "1 thread, 8 B-64 KiB log-uniform, random malloc/realloc-grow/free",
    "large": "1 thread, 64 KiB-8 MiB log-uniform, 16 live slots replaced at random",
    "threads_1t": "1 thread, 8-512 B random replacement in 4096 private slots",
    "threads_2t": "2 threads, each as threads_1t, nothing shared",
    "prodcons": "2 threads, producer mallocs 8-512 B, consumer frees (bounded SPSC ring)",
    "larson": "2 threads, 8 sets of 2048 blocks (16-1024 B) rotating between threads",
    "churn": "1 thread, 24 phases of shifting size bands, 32 MiB live then 3/4 freed",
    "trim": "1 thread, 1 GiB of 16-256 B blocks written and freed: the resident set given back",
    "batch_edge": "1 thread, 300 blocks of 32 B allocated then freed oldest first, repeated "
                  "(just past a 256-slot cache bin)",
    "batch_simple": "1 thread, glibc-simple's loop: batches of 25/100/400/1600 blocks of 16/32/64 B",
    "xmalloc": "2 threads allocate batches of 4096 64 B blocks, 2 others free whichever batch "
               "is on a shared stack (xmalloc-test's shape)",
    "handoff": "2 threads, 16 B-16 KiB log-uniform in 1024 slots each, 1/4 of the replaced "
               "blocks handed to the other thread to free (rptest's shape)",
}

# Workloads also counted under callgrind: allocator instructions per operation (the run at
# scale and at twice the scale, differenced; bench/run.py measure_instructions), at this scale.
INSTRUCTION_WORKLOADS = [("batch_edge", 0.005), ("batch_simple", 0.005), ("xmalloc", 0.05)]

SMALL_WORKLOADS = ["small_lifo", "small_fifo", "small_random"]
FASTPATH_MAX_INSTRUCTIONS = 25
RUN_TIMEOUT_SECONDS = 180
# A run during which other processes kept more than this many cores busy on average is
# "disturbed" and repeated (up to RETRIES times, within the retry time budget); the least
# disturbed attempt is kept.
DISTURBED_CORES = 0.25
RETRIES = 2


def find_peer_lib(package, filename, fallback):
    """The library's path as the Debian package lists it (dpkg -L), else the usual path."""
    if shutil.which("dpkg"):
        try:
            listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                                     timeout=30).stdout.split()
            for path in listing:
                if os.path.basename(path) == filename and os.path.exists(path):
                    return path
        except (OSError, subprocess.SubprocessError):
            pass
    return fallback if os.path.exists(fallback) else None


def discover_allocators(baremalloc_lib, wanted):
    """[(name, preload path or None)] in run order, plus a list of notes on what is missing."""
    allocators, notes = [], []
    if os.path.exists(baremalloc_lib):
        allocators.append(("baremalloc", baremalloc_lib))
    else:
        notes.append("baremalloc: %s not found (build it first); skipped" % baremalloc_lib)
    allocators.append(("glibc", None))
    for name, package, filename, fallback in PEER_LIBS:
        path = find_peer_lib(package, filename, fallback)
        if path:
            allocators.append((name, path))
        else:
            notes.append("%s: %s not found (apt-get install %s); skipped" % (name, filename, package))
    if wanted:
        allocators = [a for a in allocators if a[0] in wanted]
    return allocators, notes


def allocator_env(preload):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def verify_preload(bin_dir, name, preload):
    """Checks with which_malloc that malloc and free resolve into the intended object."""
    out = subprocess.run([os.path.join(bin_dir, "which_malloc")], env=allocator_env(preload),
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return False, "which_malloc exited %d: %s" % (out.returncode, out.stderr.strip()[:200])
    expected = os.path.basename(preload) if preload else "libc.so.6"
    fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
    ok = all(os.path.basename(fields.get(k, "")) == expected for k in ("malloc", "free"))
    return ok, out.stdout.strip()


def parse_result(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            fields = {}
            for word in line.split()[1:]:
                key, _, value = word.partition("=")
                fields[key] = value
            return fields
    return None


def cpu_busy_seconds():
    """CPU time the whole machine has spent busy (all processes, all cores) from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    values = [int(v) for v in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_workload(bin_dir, binary, args, preload, clock):
    """One run: (RESULT fields, None) or (None, error). The fields gain others_cores: how
    many cores other processes kept busy on average during the run (machine busy time minus
    the workload's own CPU time, over wall time), the measure of how disturbed it was; and
    tput: millions of operations per CPU-second (clock "cpu") or per wall second ("wall")."""
    cmd = [os.path.join(bin_dir, binary)] + args
    busy0, own0, wall0 = cpu_busy_seconds(), children_cpu_seconds(), time.monotonic()
    try:
        out = subprocess.run(cmd, env=allocator_env(preload), capture_output=True, text=True,
                             timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, "timeout after %d s" % RUN_TIMEOUT_SECONDS
    wall = time.monotonic() - wall0
    busy1, own1 = cpu_busy_seconds(), children_cpu_seconds()
    result = parse_result(out.stdout)
    if out.returncode != 0 or result is None:
        return None, "exit %d: %s" % (out.returncode, (out.stderr or out.stdout).strip()[-300:])
    ops, cpu = float(result["ops"]), float(result.get("cpu_seconds", 0))
    result["tput"] = "%.3f" % (ops / cpu / 1e6 if clock == "cpu" and cpu > 0 else float(result["mops"]))
    result["clock"] = clock
    if busy0 is not None and busy1 is not None and wall > 0:
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
        result["others_cores"] = "%.3f" % others
    return result, None


def others_busy_cores(interval):
    """Cores kept busy by every process on the machine over interval seconds (this runner is
    idle meanwhile)."""
    busy0 = cpu_busy_seconds()
    time.sleep(interval)
    busy1 = cpu_busy_seconds()
    return 0.0 if busy0 is None or busy1 is None else (busy1 - busy0) / interval


def wait_until_quiet(limit_seconds):
    """Waits (at most limit_seconds) until other processes use under DISTURBED_CORES cores."""
    deadline = time.time() + limit_seconds
    while True:
        busy = others_busy_cores(2.0)
        if busy <= DISTURBED_CORES:
            return True, busy
        if time.time() > deadline:
            return False, busy
        print("waiting for a quiet machine: %.2f cores busy" % busy, file=sys.stderr, flush=True)


def disturbance(result):
    return float(result.get("others_cores", 0.0))


# ----------------------------------------------------------------------------------------
# callgrind: instructions per warm malloc(32)+free pair


def callgrind_costs_by_object(path):
    """Self cost (Ir) per object file in a callgrind output file, and the functions that ran
    in each object.

    Cost lines after a calls= line are the callee's inclusive cost and are skipped so that
    each instruction is counted once, in the object that executed it."""
    ob_names, fn_names, costs, functions, fn_costs = {}, {}, {}, {}, {}
    current_ob = current_fn = None
    skip_next_cost = False

    def resolve(table, line):
        # "(id) name" defines a compressed name, "(id)" alone refers to it.
        m = re.match(r"[a-z]+=(?:\((\d+)\))?\s*(.*)", line)
        ident, name = m.group(1), m.group(2)
        if ident is None:
            return name
        if name:
            table[ident] = name
        return table.get(ident, name)

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith(("ob=", "cob=")):  # ob= and cob= share one table
                name = resolve(ob_names, line)
                if line.startswith("ob="):
                    current_ob = name
                continue
            if line.startswith(("fn=", "cfn=")):  # so do fn= and cfn=
                name = resolve(fn_names, line)
                if line.startswith("fn="):
                    current_fn = name
                continue
            if line.startswith("calls="):
                skip_next_cost = True
                continue
            if line[0].isdigit() or line[0] in "+-*":
                if skip_next_cost:
                    skip_next_cost = False
                    continue
                fields = line.split()
                if len(fields) >= 2 and current_ob is not None:
                    costs[current_ob] = costs.get(current_ob, 0) + int(fields[1])
                    functions.setdefault(current_ob, set()).add(current_fn)
                    key = (os.path.basename(current_ob), current_fn)
                    fn_costs[key] = fn_costs.get(key, 0) + int(fields[1])
    return costs, functions, fn_costs


def measure_fastpath(bin_dir, out_dir, name, preload, pairs):
    """Instructions per malloc+free pair: {total, harness, allocator, by_object, own_share}."""
    fastpath = os.path.realpath(os.path.join(bin_dir, "fastpath"))
    per_n, functions, per_fn = {}, {}, {}
    for n in (pairs, 2 * pairs):
        out_file = os.path.join(out_dir, "callgrind.%s.%d.out" % (name, n))
        cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=measured_pair",
               "--callgrind-out-file=" + out_file, fastpath, "pairs=%d" % n]
        proc = subprocess.run(cmd, env=allocator_env(preload), capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0 or not os.path.exists(out_file):
            # the program's own messages, not valgrind's "==pid==" banner
            own = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("==")]
            return None, "valgrind exit %d: %s" % (proc.returncode, " / ".join(own)[-200:])
        per_n[n], fns, per_fn[n] = callgrind_costs_by_object(out_file)
        for ob, names in fns.items():
            functions.setdefault(ob, set()).update(names)
    by_object = {}
    for ob in set(per_n[pairs]) | set(per_n[2 * pairs]):
        diff = per_n[2 * pairs].get(ob, 0) - per_n[pairs].get(ob, 0)
        if abs(diff) / pairs >= 0.05:  # drop one-off costs that differ by a few instructions
            by_object[ob] = diff / pairs
    harness = sum(v for ob, v in by_object.items() if os.path.realpath(ob) == fastpath)
    total = sum(by_object.values())
    allocator = total - harness

    # Which of the allocator instructions ran in the allocator's own library? Callgrind names
    # code outside the ELF .text mapping "???" (tcmalloc keeps malloc/free in a section of
    # their own, "google_malloc"); such code is counted as the allocator's when the functions
    # there are the malloc/free entry points themselves, and the label says so.
    def is_own(ob):
        if preload:
            return os.path.realpath(ob) == os.path.realpath(preload)
        return os.path.basename(ob).startswith("libc.so")

    own, unmapped = 0.0, False
    labels = {}
    for ob, v in by_object.items():
        label = os.path.basename(ob)
        if ob == "???":
            fns = sorted(f for f in functions.get(ob, ()) if f)
            label = "??? (%s)" % ",".join(fns)
            if preload and fns and all(f in ("malloc", "free") for f in fns):
                own += v
                unmapped = True
        elif is_own(ob):
            own += v
        labels[label] = v
    by_function = {}
    for key in set(per_fn[pairs]) | set(per_fn[2 * pairs]):
        diff = per_fn[2 * pairs].get(key, 0) - per_fn[pairs].get(key, 0)
        if abs(diff) / pairs >= 0.05:
            by_function["%s:%s" % key] = diff / pairs
    return {
        "by_function": by_function,
        "total": total,
        "harness": harness,
        "allocator": allocator,
        "by_object": labels,
        "own_share": own / allocator if allocator else 0.0,
        "own_share_via_symbols": unmapped,
    }, None


def measure_instructions(bin_dir, out_dir, name, preload, binary, args, scale):
    """Allocator instructions per operation of a whole workload under callgrind: the workload
    runs at scale and at 2 x scale, and the difference in instructions outside the workload's
    own binary is divided by the difference in its "ops" (start-up and one-off costs cancel).
    Threads run one at a time under valgrind, so a threaded figure counts the work, not the
    waiting. Returns ({allocator, by_function}, None) or (None, why)."""
    path = os.path.realpath(os.path.join(bin_dir, binary))
    costs, ops, fns = {}, {}, {}
    for k in (1, 2):
        out_file = os.path.join(out_dir, "callgrind.%s.%s.%d.out" % (binary, name, k))
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file, path] + \
            args + ["scale=%g" % (scale * k)]
        proc = subprocess.run(cmd, env=allocator_env(preload), capture_output=True, text=True,
                              timeout=1800)
        result = parse_result(proc.stdout)
        if proc.returncode != 0 or result is None or not os.path.exists(out_file):
            own = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("==")]
            return None, "valgrind exit %d: %s" % (proc.returncode, " / ".join(own)[-200:])
        by_ob, _, by_fn = callgrind_costs_by_object(out_file)
        costs[k] = sum(v for ob, v in by_ob.items() if os.path.realpath(ob) != path)
        fns[k] = {key: v for key, v in by_fn.items() if key[0] != os.path.basename(path)}
        ops[k] = float(result["ops"])
    dops = ops[2] - ops[1]
    if dops <= 0:
        return None, "operation count did not grow with the scale"
    by_function = {}
    for key in set(fns[1]) | set(fns[2]):
        v = (fns[2].get(key, 0) - fns[1].get(key, 0)) / dops
        if abs(v) >= 0.05:
            by_function["%s:%s" % key] = v
    return {"allocator": (costs[2] - costs[1]) / dops, "by_function": by_function}, None


VALGRIND_RESERVE_GIB = 16


def build_valgrind_variant(lib, out_dir):
    """Rebuilds the baremalloc library for valgrind: (path, None) or (None, why not).

    The host port reserves its whole address range with one large PROT_NONE mmap at start-up,
    and valgrind's address-space manager may refuse a reservation that large (malloc then
    fails). The variant is compiled with the root Makefile's own command for the library
    (make -n -B prints it), changing only the output path and adding a smaller
    BM_HOST_RESERVE, which matters at initialisation only, not on the fast path."""
    target = os.path.relpath(os.path.abspath(lib), REPO)
    try:
        dry = subprocess.run(["make", "-s", "-n", "-B", target], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return None, "make -n failed: %s" % e
    commands = dry.stdout.replace("\\\n", " ").splitlines()
    compile_cmd = [c for c in commands if "-shared" in c and ("-o " + target) in c]
    if dry.returncode != 0 or len(compile_cmd) != 1:
        return None, "no single '-shared -o %s' command in make -n output" % target
    variant = os.path.join(out_dir, "libbaremalloc-valgrind.so")
    cmd = compile_cmd[0].replace("-o " + target, "-o " + os.path.abspath(variant)) + \
        " '-DBM_HOST_RESERVE=((size_t)%d << 30)'" % VALGRIND_RESERVE_GIB
    proc = subprocess.run(cmd, shell=True, cwd=REPO, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return None, "variant build failed: %s" % proc.stderr.strip()[-300:]
    return variant, None


# ----------------------------------------------------------------------------------------
# tables


def fmt_ratio(x):
    return "-" if x is None else "%.2fx" % x


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        lines.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


class Report:
    """Collects sections once, renders them as plain text (stdout) and Markdown (docs)."""

    def __init__(self):
        self.sections = []  # (title, note, headers, rows)
        self.lines = []  # (text) free lines after tables

    def add(self, title, note, headers, rows):
        self.sections.append((title, note, headers, rows))

    def text(self):
        out = []
        for title, note, headers, rows in self.sections:
            out.append("== " + title)
            if note:
                out.append(note)
            out.append(table(headers, rows))
            out.append("")
        out.extend(self.lines)
        return "\n".join(out)

    def markdown(self):
        out = []
        for title, note, headers, rows in self.sections:
            out.append("#### " + title)
            out.append("")
            if note:
                out.append(note)
                out.append("")
            out.append(md_table(headers, rows))
            out.append("")
        if self.lines:
            out.append("```")
            out.extend(self.lines)
            out.append("```")
        return "\n".join(out)


def disturbed_count(runs):
    """'k/n': how many of the n kept samples still ran alongside foreign load."""
    k = sum(1 for r in runs if disturbance(r) > DISTURBED_CORES)
    return "%d/%d" % (k, len(runs))


def median(values):
    return statistics.median(values) if values else None


def build_report(results, failures, fastpath, allocators, base, notes, meta, instructions=None):
    rep = Report()
    names = [a[0] for a in allocators]
    base_label = base
    ratio_note = ("ratio = %s / this allocator (throughput: > 1 means %s is faster)"
                  % (base_label, base_label))
    if base != "baremalloc":
        ratio_note += "; BASE IS %s BECAUSE baremalloc WAS NOT MEASURED" % base.upper()

    def tput_of(workload, name):
        return median([float(r["tput"]) for r in results[workload].get(name, [])])

    for label, _, _ in WORKLOADS:
        if label not in results or label in ("churn", "trim"):
            continue
        base_mops = tput_of(label, base)
        rows = []
        for name in names:
            runs = [float(r["tput"]) for r in results[label].get(name, [])]
            if not runs:
                rows.append([name, "FAIL", "-", "-", "-", "-", "-", failures.get((label, name), "")[:60]])
                continue
            med = median(runs)
            spread = (max(runs) - min(runs)) / med * 100 if med else 0
            rss = median([float(r["peak_rss_kb"]) for r in results[label][name]]) / 1024
            ratio = base_mops / med if base_mops and med else None
            rows.append([name, "%.1f" % med, "%.1f" % min(runs), "%.1f" % max(runs),
                         "%.0f%%" % spread, "%.1f" % rss, fmt_ratio(ratio),
                         disturbed_count(results[label][name])])
        unit = "Mops per CPU-s" if label in CPU_TIMED else "Mops per wall-s"
        rep.add("%s: %s" % (label, DESCRIPTIONS[label]), ratio_note,
                ["allocator", unit + " (median)", "min", "max", "spread", "peak RSS MiB",
                 "%s/this" % base_label, "disturbed"], rows)

    if "churn" in results:
        base_rss = median([float(r["peak_rss_kb"]) for r in results["churn"].get(base, [])])
        rows = []
        for name in names:
            runs = results["churn"].get(name, [])
            if not runs:
                rows.append([name, "FAIL", "-", "-", "-", "-"])
                continue
            rss = median([float(r["peak_rss_kb"]) for r in runs])
            live = median([float(r["peak_live_kb"]) for r in runs])
            over = median([float(r["overhead"]) for r in runs])
            mops = median([float(r["tput"]) for r in runs])
            rows.append([name, "%.1f" % (rss / 1024), "%.1f" % (live / 1024), "%.2f" % over,
                         "%.1f" % mops, fmt_ratio(rss / base_rss if base_rss else None)])
        note = ("footprint ratio = %s peak RSS / this allocator's (< 1 means %s is smaller); "
                "overhead = (peak RSS - RSS before the first block) / peak live bytes"
                % (base_label, base_label))
        if base != "baremalloc":
            note += "; BASE IS %s BECAUSE baremalloc WAS NOT MEASURED" % base.upper()
        rep.add("churn: " + DESCRIPTIONS["churn"], note,
                ["allocator", "peak RSS MiB (median)", "peak live MiB", "overhead", "Mops per CPU-s",
                 "%s/this footprint" % base_label], rows)

    if "trim" in results:
        rows = []
        for name in names:
            runs = results["trim"].get(name, [])
            if not runs:
                rows.append([name, "FAIL", "-", "-", "-", "-", "-", "-"])
                continue

            def mib(key):
                return "%.1f" % (median([float(r[key]) for r in runs]) / 1024)

            results_seen = sorted({r.get("trim_result", "?") for r in runs})
            rows.append([name, mib("rss_peak_kb"), mib("rss_freed_kb"), mib("rss_idle_kb"),
                         runs[0].get("purge", "?"), mib("rss_purge_kb"), mib("rss_trim_kb"),
                         "/".join(results_seen)])
        note = ("resident MiB (median), the array of block pointers (about 60 MiB) included: at "
                "the peak; right after the last free; after 64 more rounds of 1 MiB allocated and "
                "freed in small blocks (no allocator-specific call); after the allocator's purge "
                "call (none for glibc); after malloc_trim(0) (glibc's unless the allocator exports "
                "one; its result, -1 when absent)")
        rep.add("trim: " + DESCRIPTIONS["trim"], note,
                ["allocator", "peak", "freed", "after a little work", "purge call", "after purge",
                 "after malloc_trim", "malloc_trim result"], rows)

    if "threads_1t" in results and "threads_2t" in results:
        rows = []
        for name in names:
            one, two = tput_of("threads_1t", name), tput_of("threads_2t", name)
            rows.append([name, "-" if one is None else "%.1f" % one,
                         "-" if two is None else "%.1f" % two,
                         "-" if not (one and two) else "%.2f" % (two / one)])
        rep.add("scaling: threads_2t / threads_1t throughput (2.00 = perfect on 2 cores)", "",
                ["allocator", "1 thread Mops/s", "2 threads Mops/s", "2t/1t"], rows)

    if fastpath:
        rows = []
        for name in names:
            fp = fastpath.get(name)
            if not fp:
                rows.append([name, "FAIL", "-", "-", "-", failures.get(("fastpath", name), "")[:60]])
                continue
            breakdown = ", ".join("%s %.1f" % (k, v) for k, v in
                                  sorted(fp["by_object"].items(), key=lambda kv: -kv[1]))
            rows.append([name + (" (valgrind build)" if fp.get("variant") else ""),
                         "%.1f" % fp["allocator"], "%.1f" % fp["total"], "%.1f" % fp["harness"],
                         "%.0f%%%s" % (fp["own_share"] * 100, "*" if fp["own_share_via_symbols"] else ""),
                         breakdown])
        rep.add("fast path: x86-64 instructions per warm malloc(32)+free pair (callgrind)",
                "allocator = total - harness (the caller's call sequence and PLT stubs in the "
                "benchmark binary); 'in own .so' = share of the allocator instructions executed "
                "in the preloaded library (libc.so.6 for glibc), confirming which malloc ran; "
                "* = code callgrind could not map to a file, attributed by its symbol names "
                "(malloc, free)",
                ["allocator", "allocator instr/pair", "total", "harness", "in own .so",
                 "per object"], rows)

    if instructions:
        labels = [w for w, _ in INSTRUCTION_WORKLOADS if any((w, n) in instructions for n in names)]
        rows = []
        for name in names:
            row = [name]
            for label in labels:
                got = instructions.get((label, name))
                row.append("FAIL" if got is None else "%.1f" % got["allocator"])
            rows.append(row)
        rep.add("allocator instructions per operation (callgrind; malloc and free each count one)",
                "the workload run at two scales under callgrind, the difference in instructions "
                "outside its own binary over the difference in operations (threads run one at a "
                "time under valgrind)", ["allocator"] + labels, rows)

    bm_fp = fastpath.get("baremalloc") if fastpath else None
    if bm_fp:
        rows = [[fn, "%.1f" % v] for fn, v in
                sorted(bm_fp["by_function"].items(), key=lambda kv: -kv[1])[:12]]
        rep.add("fast path: baremalloc instructions per pair by function (self cost, top 12)", "",
                ["object:function", "instr/pair"], rows)

    # Targets
    if base == "baremalloc":
        rep.lines.append("== targets (baremalloc)")
        rep.lines.extend(check_targets(results, fastpath, names, tput_of))
    else:
        rep.lines.append("== targets: not evaluated (baremalloc was not measured)")

    # Integrity: the checksum must not depend on the allocator.
    bad = []
    for label in results:
        checks = {r.get("check") for runs in results[label].values() for r in runs}
        if len(checks) > 1:
            bad.append(label)
    if bad:
        rep.lines.append("CHECKSUM MISMATCH in %s: some allocator returned corrupted or "
                         "overlapping blocks (compare the RESULT lines in the JSON)" % ", ".join(bad))
    else:
        rep.lines.append("checksums: identical across allocators and rounds for every workload")
    for (label, name), why in sorted(failures.items()):
        rep.lines.append("FAILED %s under %s: %s" % (label, name, why))
    for n in notes:
        rep.lines.append("note: " + n)
    rep.lines.append("machine: %s; %d cpus; load average %s before, %s after; %s"
                     % (meta["cpu"], meta["nproc"], meta["load_before"], meta["load_after"],
                        meta["date"]))
    rep.lines.append("baremalloc: %s" % meta["baremalloc_build"])
    rep.lines.append("rounds: %d, scale %g; %d runs repeated because other processes kept more "
                     "than %.2f cores busy ('disturbed' = samples kept despite that)"
                     % (meta["rounds"], meta["scale"], meta["retried"], DISTURBED_CORES))
    rep.lines.append("command: %s" % meta["command"])
    return rep


def check_targets(results, fastpath, names, tput_of):
    out = []

    def verdict(ok):
        return "n/a " if ok is None else ("PASS" if ok else "MISS")

    fp = fastpath.get("baremalloc") if fastpath else None
    ok = None if not fp else fp["allocator"] <= FASTPATH_MAX_INSTRUCTIONS
    out.append("%s  fast path <= %d instructions per malloc+free: %s"
               % (verdict(ok), FASTPATH_MAX_INSTRUCTIONS,
                  "-" if not fp else "%.1f" % fp["allocator"]))

    def paired(num, den, need):
        """Ratio targets are judged round by round: runs of one round are seconds apart, so
        their ratio is steadier than the ratio of two medians on a machine whose speed drifts.
        Returns (verdict, text): the median per-round ratio and how many rounds met need."""
        ratios = [float(a["tput"]) / float(b["tput"]) for a, b in zip(num, den)
                  if float(b["tput"]) > 0]
        if not ratios:
            return None, "-"
        mid = median(ratios)
        met = sum(1 for x in ratios if x >= need)
        return mid >= need, "%.3fx (median of %d rounds; %d of %d met it; range %.2f-%.2f)" % (
            mid, len(ratios), met, len(ratios), min(ratios), max(ratios))

    def runs(label, name):
        return results.get(label, {}).get(name, [])

    for label in SMALL_WORKLOADS:
        if label not in results:
            continue
        for peer, need in (("mimalloc", 1.1), ("jemalloc", 1.3)):
            ok, text = paired(runs(label, "baremalloc"), runs(label, peer), need)
            out.append("%s  %s >= %.1fx %s: %s" % (verdict(ok), label, need, peer, text))

    if "prodcons" in results:
        peers = [(tput_of("prodcons", n), n) for n in names if n != "baremalloc"]
        peers = [p for p in peers if p[0]]
        best = max(peers) if peers else None
        ok, text = paired(runs("prodcons", "baremalloc"), runs("prodcons", best[1]), 1.0) if best else (None, "-")
        out.append("%s  prodcons >= best peer (%s): %s" % (verdict(ok), best[1] if best else "-", text))

    ok, text = paired(runs("threads_2t", "baremalloc"), runs("threads_1t", "baremalloc"), 1.9)
    out.append("%s  2 threads >= 1.9x 1 thread (no sharing): %s" % (verdict(ok), text))

    if "churn" in results:
        runs_bm = results["churn"].get("baremalloc", [])
        runs_je = results["churn"].get("jemalloc", [])
        bm = median([float(r["peak_rss_kb"]) for r in runs_bm])
        je = median([float(r["peak_rss_kb"]) for r in runs_je])
        ok = None if not (bm and je) else bm <= je
        out.append("%s  churn peak RSS <= jemalloc's: %s" % (
            verdict(ok), "-" if ok is None else "%.1f vs %.1f MiB" % (bm / 1024, je / 1024)))

    if "trim" in results:
        def trim_rss(name, key):
            return median([float(r[key]) for r in results["trim"].get(name, [])])
        bm, je = trim_rss("baremalloc", "rss_purge_kb"), trim_rss("jemalloc", "rss_purge_kb")
        ok = None if not (bm and je) else bm <= je
        out.append("%s  trim: resident after purging <= jemalloc's: %s" % (
            verdict(ok), "-" if ok is None else "%.1f vs %.1f MiB" % (bm / 1024, je / 1024)))
    return out


def machine_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def describe_build(lib):
    """Which baremalloc was measured: the library's modification time and the git commit."""
    if not lib:
        return "not measured"
    when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(os.path.getmtime(lib)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "port", "include"],
                               cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    # The commit is the tree's state now, which the library may predate: both are given.
    return "%s built %s; tree now at git %s%s" % (
        os.path.relpath(lib, REPO), when, head or "?",
        " + uncommitted changes in core/port/include" if dirty else "")


def update_doc(path, markdown):
    """Replaces the text between the results markers in the document."""
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    with open(path) as f:
        doc = f.read()
    if begin not in doc or end not in doc:
        sys.exit("run.py: %s has no %s ... %s markers" % (path, begin, end))
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + markdown.rstrip() + "\n" + end + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--lib", default=os.path.join(REPO, "build", "host", "libbaremalloc.so"),
                    help="baremalloc shared library to preload")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per workload (default 5, quick 3)")
    ap.add_argument("--scale", type=float, default=None,
                    help="multiplies each workload's operation count (default 1, quick 0.4)")
    ap.add_argument("--quick", action="store_true", help="3 rounds at scale 0.4 (1-2 minutes)")
    ap.add_argument("--only", default="", help="comma-separated workloads (see --list)")
    ap.add_argument("--allocators", default="", help="comma-separated subset, e.g. baremalloc,mimalloc")
    ap.add_argument("--pairs", type=int, default=None,
                    help="malloc+free pairs per callgrind run (default 100000, quick 20000)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--valgrind-lib", default=None,
                    help="baremalloc build to count instructions with if --lib fails under "
                         "valgrind (default: rebuilt from the root Makefile's command with a "
                         "smaller BM_HOST_RESERVE)")
    ap.add_argument("--json", default=None, help="raw results (default <bin-dir>/results.json)")
    ap.add_argument("--markdown", default=None, help="tables as Markdown (default <bin-dir>/results.md)")
    ap.add_argument("--update-doc", default=None, help="replace the results section of this file")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="before each round, wait up to SECONDS for other processes to go idle")
    ap.add_argument("--list", action="store_true", help="list workloads and exit")
    args = ap.parse_args()

    if args.list:
        for label, _, _ in WORKLOADS:
            print("%-14s %s" % (label, DESCRIPTIONS[label]))
        return 0
    rounds = args.rounds or (3 if args.quick else 5)
    scale = args.scale if args.scale is not None else (0.4 if args.quick else 1.0)
    pairs = args.pairs or (20000 if args.quick else 100000)
    only = [w for w in args.only.split(",") if w]
    workloads = [w for w in WORKLOADS if not only or w[0] in only]
    unknown = set(only) - {w[0] for w in WORKLOADS}
    if unknown:
        sys.exit("run.py: unknown workloads %s (see --list)" % ", ".join(sorted(unknown)))
    for binary in {w[1] for w in workloads} | {"which_malloc", "fastpath"}:
        if not os.access(os.path.join(args.bin_dir, binary), os.X_OK):
            sys.exit("run.py: %s/%s missing; build with: make -f mk/bench.mk build" % (args.bin_dir, binary))

    wanted = [a for a in args.allocators.split(",") if a]
    allocators, notes = discover_allocators(args.lib, wanted)
    for n in notes:
        print("note: " + n, file=sys.stderr)
    verified = []
    for name, preload in allocators:
        ok, detail = verify_preload(args.bin_dir, name, preload)
        print("%-10s %s %s" % (name, "ok  " if ok else "SKIP", detail), file=sys.stderr)
        if ok:
            verified.append((name, preload))
        else:
            notes.append("%s: preload not effective (%s); skipped" % (name, detail))
    allocators = verified
    if not allocators:
        sys.exit("run.py: no allocator to measure")
    names = [a[0] for a in allocators]
    base = "baremalloc" if "baremalloc" in names else ("glibc" if "glibc" in names else names[0])
    if base != "baremalloc":
        print("note: ratios use %s as the base because baremalloc is not measured" % base, file=sys.stderr)

    meta = {
        "cpu": machine_cpu(), "nproc": os.cpu_count() or 0, "load_before": loadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]) or "bench/run.py",
        "rounds": rounds, "scale": scale, "pairs": pairs,
    }
    meta["baremalloc_build"] = describe_build(dict(allocators).get("baremalloc"))
    scale_args = [] if scale == 1.0 else ["scale=%g" % scale]
    results = {w[0]: {} for w in workloads}
    failures = {}
    started = time.time()
    # Retries stop once the run has taken this long, so a machine that is never quiet still
    # finishes (full run: about 3 minutes undisturbed; quick: about 1).
    retry_deadline = started + (60 if args.quick else 300)
    retried = [0]
    for r in range(rounds):
        if args.wait_quiet > 0:
            waited_from = time.time()
            quiet, busy = wait_until_quiet(args.wait_quiet)
            retry_deadline += time.time() - waited_from  # waiting is not retrying
            if not quiet:
                print("still %.2f cores busy after %g s; running anyway" % (busy, args.wait_quiet),
                      file=sys.stderr)
        print("round %d/%d ..." % (r + 1, rounds), file=sys.stderr, flush=True)
        for label, binary, wargs in workloads:
            for name, preload in allocators:
                if (label, name) in failures:
                    continue  # a crash or hang is not retried every round
                best = None
                for attempt in range(1 + RETRIES):
                    result, err = run_workload(args.bin_dir, binary, wargs + scale_args, preload,
                                               "cpu" if label in CPU_TIMED else "wall")
                    if err:
                        break
                    if best is None or disturbance(result) < disturbance(best):
                        best = result
                    if disturbance(best) <= DISTURBED_CORES or time.time() > retry_deadline:
                        break
                    retried[0] += 1
                    time.sleep(0.5 * (attempt + 1))  # let a burst of foreign load pass
                if err:
                    failures[(label, name)] = err
                    print("  %s under %s FAILED: %s" % (label, name, err), file=sys.stderr)
                else:
                    results[label].setdefault(name, []).append(best)

    fastpath = {}
    if not args.no_callgrind:
        if not shutil.which("valgrind"):
            notes.append("valgrind not installed: no instruction counts")
        else:
            print("callgrind: %d and %d pairs per allocator ..." % (pairs, 2 * pairs), file=sys.stderr)
            out_dir = os.path.join(args.bin_dir, "callgrind")
            os.makedirs(out_dir, exist_ok=True)
            for stale in os.listdir(out_dir):
                if stale.startswith("callgrind.") and stale.endswith(".out"):
                    os.remove(os.path.join(out_dir, stale))
            for name, preload in allocators:
                fp, err = measure_fastpath(args.bin_dir, out_dir, name, preload, pairs)
                if err and name == "baremalloc":
                    if args.valgrind_lib:
                        variant, why = args.valgrind_lib, None
                    else:
                        variant, why = build_valgrind_variant(preload, out_dir)
                    if variant:
                        fp, err2 = measure_fastpath(args.bin_dir, out_dir, name, variant, pairs)
                        if fp:
                            fp["variant"] = variant
                            notes.append("fast path: %s fails under valgrind (%s); counted "
                                         "with %s%s"
                                         % (os.path.relpath(preload, REPO), err[:120],
                                            os.path.relpath(variant, REPO),
                                            "" if args.valgrind_lib else
                                            ", the same build with BM_HOST_RESERVE = %d GiB"
                                            % VALGRIND_RESERVE_GIB))
                            err = None
                        else:
                            err += "; valgrind variant: " + err2
                    else:
                        err += "; valgrind variant: " + why
                if err:
                    failures[("fastpath", name)] = err
                else:
                    fastpath[name] = fp
    instructions = {}
    if not args.no_callgrind and shutil.which("valgrind"):
        out_dir = os.path.join(args.bin_dir, "callgrind")
        os.makedirs(out_dir, exist_ok=True)
        wanted_labels = {w[0] for w in workloads}
        for label, iscale in INSTRUCTION_WORKLOADS:
            if label not in wanted_labels:
                continue
            binary, wargs = next((b, a) for l, b, a in WORKLOADS if l == label)
            print("callgrind: %s ..." % label, file=sys.stderr, flush=True)
            for name, preload in allocators:
                lib = (fastpath.get(name) or {}).get("variant") or preload
                got, err = measure_instructions(args.bin_dir, out_dir, name, lib, binary, wargs,
                                                iscale)
                if err:
                    failures[("instructions " + label, name)] = err
                else:
                    instructions[(label, name)] = got
    meta["load_after"] = loadavg()
    meta["retried"] = retried[0]
    meta["seconds"] = round(time.time() - started, 1)

    rep = build_report(results, failures, fastpath, allocators, base, notes, meta, instructions)
    print()
    print(rep.text())
    print("(%.0f s)" % meta["seconds"])

    json_path = args.json or os.path.join(args.bin_dir, "results.json")
    md_path = args.markdown or os.path.join(args.bin_dir, "results.md")
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "allocators": allocators, "results": results,
                   "fastpath": fastpath,
                   "instructions": {"%s/%s" % k: v for k, v in instructions.items()},
                   "failures": {"%s/%s" % k: v for k, v in failures.items()}}, f, indent=1)
    markdown = rep.markdown()
    with open(md_path, "w") as f:
        f.write(markdown + "\n")
    if args.update_doc:
        update_doc(args.update_doc, markdown)
        print("updated %s" % args.update_doc, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
