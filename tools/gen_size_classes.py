#!/usr/bin/env python3
"""Generates core/size_classes.h: baremalloc's size classes and small-run geometry.

Size classes follow jemalloc's spacing: after the quantum (16 bytes on 64-bit targets, 8 on
32-bit), four classes per doubling, with one extra 8-byte class below a 16-byte quantum.
Classes up to SMALL_MAX live in small runs (page spans holding equal regions, with the run
header and its free bitmap at the start of the run); above that, classes are rounded to whole
pages (large runs), up to the largest that fits in a chunk beside the chunk header. Anything
bigger is huge (whole chunks) and has no class.

For each small class the run size (in pages) is chosen to waste the least space, counting the
run header; the first region sits at an offset aligned to the class's natural alignment (its
largest power-of-two factor), capped so the header does not waste too much.

One header covers every supported combination: {32, 64}-bit pointers x {kernel, small}
geometry, selected in C by #if. Run with --check to verify the file in the tree is current.
"""
import sys
import os

GEOMETRIES = {
    # name: (lg_page, lg_chunk, max_run_pages, region_align_cap, max_run_regions, C condition)
    "KERNEL": (12, 21, 16, 256, None, "defined(BM_GEOMETRY_IS_KERNEL)"),
    # The real-time profile's table: a run's set-up marks every region, so runs stay short.
    "SMALL_SHORT_RUNS": (8, 14, 4, 64, 32, "defined(BM_GEOMETRY_IS_SMALL) && defined(BM_CLASSES_SHORT_RUNS)"),
    "SMALL": (8, 14, 16, 64, None, "defined(BM_GEOMETRY_IS_SMALL)"),
}
CHUNK_HEADER_FIXED = 64   # bytes before the page map in bm_chunk_t (checked by a static assert)
PAGEMAP_ENTRY = 4         # sizeof(bm_pagemap_t)


def pow2_factor(n):
    return n & -n


def ceil_div(a, b):
    return -(-a // b)


def class_sizes(lg_quantum, limit):
    quantum = 1 << lg_quantum
    sizes = [8] if quantum > 8 else []
    size = quantum
    while size <= limit:
        sizes.append(size)
        step = max(quantum, 1 << (size.bit_length() - 1 - 2))
        size += step
    return sizes


def run_header_size(ptr_bytes, nregs):
    # struct bm_run: rb node (3 pointers), uint16 bin, uint16 nfree, then the bitmap words.
    fixed = 3 * ptr_bytes + 4
    fixed = ceil_div(fixed, ptr_bytes) * ptr_bytes
    words = ceil_div(nregs, 8 * ptr_bytes)
    return fixed + words * ptr_bytes


def small_run_geometry(size, lg_page, max_pages, align_cap, max_regs, ptr_bytes):
    page = 1 << lg_page
    align = min(pow2_factor(size), align_cap)
    best = None
    for pages in range(1, max_pages + 1):
        run_bytes = pages * page
        nregs = run_bytes // size
        if max_regs is not None:
            nregs = min(nregs, max_regs)
        while nregs > 0:
            reg0 = ceil_div(run_header_size(ptr_bytes, nregs), align) * align
            if reg0 + nregs * size <= run_bytes:
                break
            nregs -= 1
        if nregs == 0:
            continue
        waste = (run_bytes - nregs * size) / run_bytes
        # Prefer fewer pages unless a longer run wastes clearly less (1/64 of the run).
        if best is None or waste < best[0] - 1 / 64:
            best = (waste, pages, nregs, reg0)
    waste, pages, nregs, reg0 = best
    return pages, nregs, reg0, min(pow2_factor(size), pow2_factor(reg0))


def modular_inverse_odd(odd):
    inv = odd  # Newton iteration: each step doubles the correct low bits
    for _ in range(5):
        inv = (inv * (2 - odd * inv)) & 0xFFFFFFFF
    assert (inv * odd) & 0xFFFFFFFF == 1
    return inv


def generate_variant(ptr_bytes, geometry):
    lg_page, lg_chunk, max_pages, align_cap, regs_cap, _ = GEOMETRIES[geometry]
    page = 1 << lg_page
    chunk = 1 << lg_chunk
    lg_quantum = 4 if ptr_bytes == 8 else 3
    npages = chunk // page
    header_pages = ceil_div(CHUNK_HEADER_FIXED + npages * PAGEMAP_ENTRY, page)
    large_limit = chunk - header_pages * page
    small_max_limit = page * 14 // 16
    sizes = class_sizes(lg_quantum, chunk)
    small = [s for s in sizes if s <= small_max_limit]
    large = []
    for s in sizes:
        if s <= small[-1]:
            continue
        rounded = ceil_div(s, page) * page
        if rounded <= large_limit and (not large or rounded > large[-1]):
            large.append(rounded)
    out = []
    w = out.append
    w(f"#define BM_LG_QUANTUM {lg_quantum}")
    w(f"#define BM_CHUNK_HEADER_PAGES {header_pages}")
    w(f"#define BM_NSMALL {len(small)}")
    w(f"#define BM_NCLASSES {len(small) + len(large)}")
    w(f"#define BM_SMALL_MAX {small[-1]}")
    w(f"#define BM_LARGE_MAX {large[-1]}")
    w(f"#define BM_LOOKUP_MAX {small[-1]} /* sizes up to here map to a class by table */")
    max_regs = 0
    rows = []
    for s in small:
        pages, nregs, reg0, align = small_run_geometry(s, lg_page, max_pages, align_cap, regs_cap, ptr_bytes)
        max_regs = max(max_regs, nregs)
        rows.append((s, pages, nregs, reg0, align))
    for s in large:
        rows.append((s, s // page, 1, 0, min(pow2_factor(s), page)))
    w(f"#define BM_RUN_MAX_REGS {max_regs}")
    w(f"#define BM_RUN_MAX_PAGES {max(r[1] for r in rows[:len(small)])}")
    w("#define BM_SIZE_CLASS_TABLE \\")
    for i, (s, pages, nregs, reg0, align) in enumerate(rows):
        odd = s >> (pow2_factor(s).bit_length() - 1)
        shift = pow2_factor(s).bit_length() - 1
        inv = modular_inverse_odd(odd)
        limit = 0xFFFFFFFF // s
        sep = "," if i + 1 < len(rows) else ""
        w(f"    {{{s}u, {pages}u, {nregs}u, {reg0}u, {align}u, {shift}u, 0x{inv:08x}u, 0x{limit:08x}u}}{sep} \\")
    w("")
    # Table for sizes 0..LOOKUP_MAX in steps of 8: the index of the smallest class >= size.
    lookup = []
    ci = 0
    for i in range(0, small[-1] // 8 + 1):
        need = max(i * 8, 1)
        while rows[ci][0] < need:
            ci += 1
        lookup.append(ci)
    w("#define BM_SIZE_LOOKUP_TABLE \\")
    for i in range(0, len(lookup), 16):
        chunk_row = ", ".join(str(v) for v in lookup[i:i + 16])
        sep = "," if i + 16 < len(lookup) else ""
        w(f"    {chunk_row}{sep} \\")
    w("")
    return out


def generate():
    lines = [
        "/* Generated by tools/gen_size_classes.py; do not edit. `make check-generated` verifies it.",
        " * Per class: {size, run pages, regions per run, offset of region 0, guaranteed alignment,",
        " *             divisibility test: shift, inverse of the odd part, limit}.",
        " * The divisibility test (x is a multiple of size iff rotr32(x * inverse, shift) <= limit)",
        " * lets free() reject interior pointers without a division. */",
        "#ifndef BM_SIZE_CLASSES_H",
        "#define BM_SIZE_CLASSES_H",
        "",
    ]
    first = True
    for ptr_bytes in (8, 4):
        for geometry in GEOMETRIES:
            cond = f"__SIZEOF_POINTER__ == {ptr_bytes} && {GEOMETRIES[geometry][5]}"
            lines.append(("#if " if first else "#elif ") + cond)
            first = False
            lines.extend(generate_variant(ptr_bytes, geometry))
    lines.append("#else")
    lines.append('#error "baremalloc: no size class table for this pointer size and geometry"')
    lines.append("#endif")
    lines.append("")
    lines.append("#endif /* BM_SIZE_CLASSES_H */")
    return "\n".join(lines) + "\n"


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "size_classes.h")
    text = generate()
    if "--check" in sys.argv:
        with open(path) as f:
            if f.read() != text:
                print("core/size_classes.h is out of date: run tools/gen_size_classes.py")
                sys.exit(1)
        print("core/size_classes.h is current")
        return
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
