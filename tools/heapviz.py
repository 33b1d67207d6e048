#!/usr/bin/env python3
"""Draw a baremalloc heap as an SVG from bm_stats_print's JSON ("J" option).

The input is whatever the console captured: the JSON may sit among other output (boot
messages, a shell prompt, carriage returns). Every object of the form {"baremalloc": ...} in
it is found; the last one is drawn unless --index says otherwise.

The picture: totals; per-arena bars (mapped, active, allocated, dirty); per-node bars; and the
heap map, region by region in address order: each arena chunk is a strip of its pages with
one rectangle per run (small runs coloured by size class and shaded by how full they are,
large runs, metadata, clean and dirty free pages), pooled chunk spans and huge blocks as bars.
Fragmentation shows as many small free runs between live ones.

usage: heapviz.py [console.log|-] [-o heap.svg] [--index N] [--summary]
Python 3 standard library only.
"""
import argparse
import colorsys
import json
import sys
from xml.sax.saxutils import escape

MARKER = '"baremalloc"'


def find_dumps(text):
    """Every {"baremalloc": ...} object in text, in order."""
    text = text.replace("\r", "")
    decoder = json.JSONDecoder()
    dumps, pos = [], 0
    while True:
        key = text.find(MARKER, pos)
        if key < 0:
            return dumps
        start = text.rfind("{", 0, key)
        pos = key + len(MARKER)
        if start < 0 or text[start + 1:key].strip():
            continue
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("baremalloc"), dict):
            dumps.append(obj["baremalloc"])
            pos = end


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return str(n)


def class_colour(cls, nclasses, fullness):
    """Small classes in the warm half of the colour wheel (large runs are blue, huge purple);
    darker when fuller."""
    hue = ((cls * 0.61803398875) % 1.0) * 0.42
    light = 0.80 - 0.45 * max(0.0, min(1.0, fullness))
    r, g, b = colorsys.hls_to_rgb(hue, light, 0.65)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


class Svg:
    def __init__(self, width):
        self.width = width
        self.parts = []
        self.y = 0

    def rect(self, x, y, w, h, fill, cls, title=None, extra=""):
        t = "<title>%s</title>" % escape(title) if title else ""
        self.parts.append('<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"%s>%s</rect>'
                          % (cls, x, y, max(w, 0.5), h, fill, extra, t))

    def text(self, x, y, s, cls="label", size=12, weight="normal"):
        self.parts.append('<text class="%s" x="%.1f" y="%.1f" font-size="%d" font-weight="%s">%s</text>'
                          % (cls, x, y, size, weight, escape(s)))

    def render(self):
        head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
                'font-family="monospace" viewBox="0 0 %d %d">' % (self.width, self.y + 20, self.width, self.y + 20))
        defs = ('<defs><pattern id="dirty" width="6" height="6" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffd8a8"/>'
                '<line x1="0" y1="0" x2="0" y2="6" stroke="#e8590c" stroke-width="3"/></pattern></defs>'
                '<rect class="background" width="100%" height="100%" fill="white"/>')
        return "\n".join([head, defs] + self.parts + ["</svg>"]) + "\n"


LEGEND = [
    ("run small", "#74c0fc", "small run (hue: size class, darker: fuller)"),
    ("run large", "#364fc7", "large run"),
    ("run meta", "#495057", "allocator metadata"),
    ("run free clean", "#f8f9fa", "free, purged"),
    ("run free dirty", "url(#dirty)", "free, dirty"),
    ("pool", "#ced4da", "pooled chunks (retained)"),
    ("huge", "#9c36b5", "huge block"),
]


def draw(d, out_width=1100):
    geo = d["geometry"]
    classes = d.get("classes", [])
    chunk_pages = geo["chunk_pages"]
    page = geo["page"]
    svg = Svg(out_width)
    margin, y = 10, 20
    t = d["totals"]
    svg.text(margin, y, "baremalloc %s heap  (page %s, chunk %s, %d arenas, %d nodes)"
             % (d["version"], human(page), human(geo["chunk"]), geo["narenas"], geo["nnodes"]),
             cls="title", size=15, weight="bold")
    y += 20
    svg.text(margin, y, "allocated %s   active %s   mapped %s   retained %s   metadata %s   peak %s   largest free %s"
             % tuple(human(t[k]) for k in ("allocated", "active", "mapped", "retained", "metadata",
                                            "peak_allocated", "largest_free")), cls="totals")
    y += 14

    # legend
    x = margin
    for cls, fill, label in LEGEND:
        svg.rect(x, y, 12, 12, fill, "legend " + cls, extra=' stroke="#868e96" stroke-width="0.5"')
        svg.text(x + 16, y + 10, label, cls="legend-label", size=10)
        x += 26 + 6.2 * len(label)
        if x > out_width - 200:
            x = margin
            y += 16
    y += 30

    # per-arena bars
    arenas = d.get("arenas", [])
    if arenas:
        svg.text(margin, y, "arenas", cls="section", size=13, weight="bold")
        y += 8
        scale_max = max([a["nchunks"] * geo["chunk"] + a["huge"]["allocated"] for a in arenas] + [1])
        bar_w = out_width - 470
        for a in arenas:
            mapped = a["nchunks"] * geo["chunk"] + a["huge"]["allocated"]
            active = a["pactive"] * page + a["huge"]["allocated"]
            rows = [("mapped", mapped, "#dee2e6"), ("active", active, "#74c0fc"),
                    ("allocated", a["allocated"], "#1c7ed6"), ("dirty", a["pdirty"] * page, "#fd7e14")]
            svg.text(margin, y + 12, "arena %d (node %d)" % (a["index"], a["node"]), size=11)
            for i, (name, value, colour) in enumerate(rows):
                w = bar_w * value / scale_max
                svg.rect(150, y + 2 + i * 6, w, 5, colour, "arena-bar %s" % name,
                         title="arena %d %s %s" % (a["index"], name, human(value)))
            svg.text(160 + bar_w, y + 12, "%s alloc / %s mapped, %d dirty pages"
                     % (human(a["allocated"]), human(mapped), a["pdirty"]), size=10)
            y += 30
        y += 6

    # per-node bars
    nodes = d.get("nodes", [])
    if nodes:
        svg.text(margin, y, "memory nodes", cls="section", size=13, weight="bold")
        y += 8
        scale_max = max([n["size"] for n in nodes] + [1])
        bar_w = out_width - 470
        for n in nodes:
            svg.text(margin, y + 12, "node %d" % n["id"], size=11)
            for i, (name, value, colour) in enumerate((("size", n["size"], "#e9ecef"),
                                                        ("mapped", n["mapped"], "#74c0fc"),
                                                        ("allocated", n["allocated"], "#1c7ed6"))):
                svg.rect(150, y + 2 + i * 6, bar_w * value / scale_max, 5, colour, "node-bar %s" % name,
                         title="node %d %s %s" % (n["id"], name, human(value)))
            svg.text(160 + bar_w, y + 12, "%s alloc / %s mapped / %s"
                     % (human(n["allocated"]), human(n["mapped"]), human(n["size"])), size=10)
            y += 26
        y += 6

    # heap map
    heap = d.get("heap")
    if heap:
        svg.text(margin, y, "heap map" + ("  (truncated)" if heap.get("truncated") else ""),
                 cls="section", size=13, weight="bold")
        y += 10
        strip_x, strip_w, strip_h = 190, out_width - 200, 14
        px = strip_w / chunk_pages
        for r in heap["regions"]:
            y += 12
            svg.text(margin, y, "region %d, node %d, at %s: %d chunks, %d granted"
                     % (r["index"], r["node"], r["base"], r["nchunks"], r["granted"]), cls="region", size=11,
                     weight="bold")
            y += 6
            for s in r["spans"]:
                label = "chunk %d" % s["chunk"] if s["n"] == 1 else "chunks %d-%d" % (s["chunk"], s["chunk"] + s["n"] - 1)
                if s["type"] == "arena":
                    svg.text(margin, y + 11, "%s a%d" % (label, s["arena"]), size=10)
                    runs = s.get("runs")
                    if runs is None:
                        svg.rect(strip_x, y, strip_w, strip_h, "#adb5bd", "chunk summary",
                                 title="%s: arena %d, %d free pages (%d dirty), runs not listed"
                                 % (label, s["arena"], s["free"], s["dirty"]))
                    for pg, n, kind, cls, value in runs or []:
                        x0, w = strip_x + pg * px, n * px
                        if kind == "S":
                            nregs = classes[cls][1] if cls < len(classes) else 1
                            fill = class_colour(cls, len(classes), value / float(nregs or 1))
                            title = "%s pages %d-%d: small run, %d B class, %d/%d regions live" % (
                                label, pg, pg + n - 1, classes[cls][0] if cls < len(classes) else 0, value, nregs)
                            svg.rect(x0, y, w, strip_h, fill, "run small cls-%d" % cls, title=title,
                                     extra=' stroke="white" stroke-width="0.3"')
                        elif kind == "L":
                            size = classes[cls][0] if 0 <= cls < len(classes) else n * page
                            svg.rect(x0, y, w, strip_h, "#364fc7", "run large cls-%d" % cls,
                                     title="%s pages %d-%d: large block of %s" % (label, pg, pg + n - 1, human(size)),
                                     extra=' stroke="white" stroke-width="0.3"')
                        elif kind == "M":
                            svg.rect(x0, y, w, strip_h, "#495057", "run meta",
                                     title="%s pages %d-%d: metadata" % (label, pg, pg + n - 1))
                        else:
                            dirty = bool(value)
                            svg.rect(x0, y, w, strip_h, "url(#dirty)" if dirty else "#f8f9fa",
                                     "run free dirty" if dirty else "run free clean",
                                     title="%s pages %d-%d: %d free pages, %s" % (
                                         label, pg, pg + n - 1, n,
                                         "%d counted dirty" % value if dirty else "purged"),
                                     extra=' stroke="#dee2e6" stroke-width="0.3"')
                    y += strip_h + 3
                else:
                    huge = s["type"] == "huge"
                    what = ("huge block of arena %d" % s["arena"]) if huge else \
                           ("pool, %s" % ("dirty" if s.get("dirty") else "released"))
                    svg.text(margin, y + 9, label, size=10)
                    svg.rect(strip_x, y, strip_w, 10, "#9c36b5" if huge else "#ced4da", "huge" if huge else "pool",
                             title="%s: %s (%s)" % (label, what, human(s["n"] * geo["chunk"])))
                    svg.text(strip_x + 4, y + 8, "%s, %s" % (what, human(s["n"] * geo["chunk"])), cls="span-label",
                             size=8)
                    y += 13
    svg.y = y
    return svg.render()


def summary(d):
    """One line per fact, for scripts and tests."""
    lines = []
    spans = [s for r in d.get("heap", {}).get("regions", []) for s in r["spans"]]
    runs = [run for s in spans if s["type"] == "arena" for run in s.get("runs", [])]
    kinds = {"S": 0, "L": 0, "M": 0, "F": 0}
    for run in runs:
        kinds[run[2]] += 1
    lines.append("regions %d" % len(d.get("heap", {}).get("regions", [])))
    lines.append("spans arena %d pool %d huge %d" % tuple(sum(1 for s in spans if s["type"] == k)
                                                         for k in ("arena", "pool", "huge")))
    lines.append("runs small %d large %d meta %d free %d dirty %d" % (
        kinds["S"], kinds["L"], kinds["M"], kinds["F"], sum(1 for r in runs if r[2] == "F" and r[4])))
    for a in d.get("arenas", []):
        free = sum(run[1] for s in spans if s["type"] == "arena" and s["arena"] == a["index"]
                   for run in s.get("runs", []) if run[2] == "F")
        largest = a["largest_free"] // d["geometry"]["page"]
        frag = 0.0 if not free else 1.0 - float(largest) / free
        lines.append("arena %d free pages %d largest free run %d fragmentation %.2f" % (a["index"], free, largest, frag))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", default="-", help="console capture or JSON file ('-': stdin)")
    ap.add_argument("-o", "--output", default="heap.svg", help="SVG file to write ('-': stdout)")
    ap.add_argument("--index", type=int, default=-1, help="which dump to draw when there are several (default: last)")
    ap.add_argument("--summary", action="store_true", help="also print a plain-text summary to stdout")
    ap.add_argument("--width", type=int, default=1100)
    args = ap.parse_args(argv)
    text = sys.stdin.read() if args.input == "-" else open(args.input, encoding="utf-8", errors="replace").read()
    dumps = find_dumps(text)
    if not dumps:
        sys.stderr.write("heapviz: no baremalloc JSON statistics found in %s\n" % args.input)
        return 1
    try:
        d = dumps[args.index]
    except IndexError:
        sys.stderr.write("heapviz: %d dump(s) found, no index %d\n" % (len(dumps), args.index))
        return 1
    out = draw(d, args.width)
    if args.output == "-":
        sys.stdout.write(out)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(out)
    if args.summary:
        sys.stdout.write("dumps %d\n" % len(dumps))
        sys.stdout.write(summary(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
