#!/usr/bin/env python3
"""Checks tools/heapviz.py on a console capture written by tests/host/test_heapviz.c.

usage: heapviz_check.py console.log out.svg key=value...
The capture holds console noise, a text dump and a JSON dump. This script extracts the JSON
itself (independently of heapviz), parses it with the json module, checks it against the
expectations the C test passes as key=value, runs heapviz on the capture and checks the SVG
(well-formed XML, one rectangle per run, the expected kinds of elements) and its summary.
Exits non-zero with a message on the first mismatch.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


def fail(msg):
    sys.stderr.write("heapviz_check: %s\n" % msg)
    sys.exit(1)


def main():
    log, svg_path = sys.argv[1], sys.argv[2]
    expect = dict(arg.split("=", 1) for arg in sys.argv[3:])
    text = open(log).read().replace("\r", "")  # a serial console's line ends
    d, _ = json.JSONDecoder().raw_decode(text, text.index('{\n "baremalloc"'))
    d = d["baremalloc"]

    if len(d["nodes"]) != int(expect["nodes"]):
        fail("nodes %d, expected %s" % (len(d["nodes"]), expect["nodes"]))
    if d["totals"]["allocated"] != int(expect["allocated"]):
        fail("allocated %d, expected %s" % (d["totals"]["allocated"], expect["allocated"]))
    regions = d["heap"]["regions"]
    if len(regions) != int(expect["regions"]):
        fail("regions %d" % len(regions))
    spans = [s for r in regions for s in r["spans"]]
    # A map cut short (more arena chunks than the map details, as in the real-time profile,
    # whose arenas keep every chunk) lists runs for the first chunks only: those are checked,
    # and the totals they add up to can only be at most the expected ones.
    truncated = d["heap"].get("truncated", False)
    arena_chunks = [s for s in spans if s["type"] == "arena" and "runs" in s]
    runs = [run for s in arena_chunks for run in s["runs"]]
    def differs(found, expected):
        return found > expected if truncated else found != expected
    for s in arena_chunks:
        if sum(run[1] for run in s["runs"]) != d["geometry"]["chunk_pages"]:
            fail("runs of chunk %d do not tile it" % s["chunk"])
        pages = {k: sum(run[1] for run in s["runs"] if run[2] == k) for k in "FSLM"}
        if (pages["F"], pages["S"], pages["L"], pages["M"]) != (s["free"], s["small"], s["large"], s["meta"]):
            fail("chunk %d page counts differ from its runs" % s["chunk"])
    huge = [s for s in spans if s["type"] == "huge"]
    if len(huge) != int(expect["huge"]):
        fail("huge spans %d, expected %s" % (len(huge), expect["huge"]))
    dirty_pages = sum(run[4] for run in runs if run[2] == "F")  # a free run's value: its dirty pages
    if differs(dirty_pages, int(expect["dirty_pages"])):
        fail("dirty pages %d in the map, expected %s" % (dirty_pages, expect["dirty_pages"]))
    large = sum(1 for run in runs if run[2] == "L")
    if differs(large, int(expect["large_live"])):
        fail("large runs %d, expected %s" % (large, expect["large_live"]))

    here = os.path.dirname(os.path.abspath(__file__))
    tool = os.path.join(here, "..", "..", "tools", "heapviz.py")
    out = subprocess.run([sys.executable, tool, log, "-o", svg_path, "--summary"], capture_output=True, text=True)
    if out.returncode != 0:
        fail("heapviz failed: %s" % out.stderr)
    summary = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line)
    if summary["dumps"] != "1":
        fail("heapviz found %s dumps" % summary["dumps"])
    want = "small %d large %d meta %d free %d dirty %d" % (
        sum(1 for r in runs if r[2] == "S"), large, sum(1 for r in runs if r[2] == "M"),
        sum(1 for r in runs if r[2] == "F"), sum(1 for r in runs if r[2] == "F" and r[4]))
    if summary["runs"] != want:
        fail("summary runs '%s', expected '%s'" % (summary["runs"], want))

    root = ET.parse(svg_path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    if root.tag != ns + "svg":
        fail("not an SVG root: %s" % root.tag)
    rects = root.iter(ns + "rect")
    classes = [r.get("class", "") for r in rects]
    run_rects = [c for c in classes if c.startswith("run ")]
    if len(run_rects) != len(runs):
        fail("%d run rectangles for %d runs" % (len(run_rects), len(runs)))
    needs = ["run small", "run large", "run meta", "run free dirty", "huge", "arena-bar allocated", "node-bar mapped"]
    if any(s["type"] == "pool" for s in spans):
        needs.append("pool")
    for needed in needs:
        if not any(c.startswith(needed) for c in classes):
            fail("no '%s' element in the SVG" % needed)
    texts = [t.text or "" for t in root.iter(ns + "text")]
    for needed in ("region 0, node 0", "region 1, node 1", "arena 1 (node 1)", "node 1"):
        if not any(needed in t for t in texts):
            fail("no text '%s' in the SVG" % needed)
    titles = [t.text or "" for t in root.iter(ns + "title")]
    if not any("small run, %s B class" % expect["small_size"] in t for t in titles):
        fail("no tooltip for a small run of %s bytes" % expect["small_size"])
    print("heapviz_check: %d runs, %d spans, %d dirty pages, SVG %d bytes: ok"
          % (len(runs), len(spans), dirty_pages, os.path.getsize(svg_path)))


if __name__ == "__main__":
    main()
