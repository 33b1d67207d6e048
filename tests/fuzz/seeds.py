#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_ops.c, tests/fuzz/corpus/<build>/: a few short
programs in the target's byte encoding (its op table and the order each op reads its bytes),
so that fuzzing starts from every entry point, every kind of block and every kind of bad call
instead of from nothing. The target decodes any input, so a seed that drifts from the encoding
still runs; rerun this after changing the encoding: python3 tests/fuzz/seeds.py
"""
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ops[] in fuzz_ops.c: index of each op's first entry
MALLOC, CALLOC, REALLOC, FREE, FREE_SIZED, USABLE, HOUSE, DOUBLE_FREE = 0, 2, 3, 5, 7, 8, 9, 10
BAD_FREED, BAD_INTERIOR, BAD_FOREIGN, BAD_WILD, BURST, FREE_MANY, THREAD_ARENA = 11, 12, 13, 14, 15, 16, 17
ALIGNED_ALLOC, MEMALIGN, POSIX_MEMALIGN = 18, 19, 20
FLUSH, MAINTENANCE, PURGE0, PURGE_ALL = 0, 1, 2, 3  # op_housekeeping
BAD_FREE, BAD_FREE_SIZED, BAD_REALLOC, BAD_USABLE = 0, 1, 2, 3  # bad_call


def geometry(kernel):
    """BM_NSMALL and BM_NCLASSES of the 64-bit table of a geometry (core/size_classes.h)."""
    text = open(os.path.join(ROOT, "core/size_classes.h")).read()
    which = "KERNEL" if kernel else "SMALL"
    part = text.split("__SIZEOF_POINTER__ == 8 && defined(BM_GEOMETRY_IS_%s)" % which)[1]
    nsmall = int(re.search(r"#define BM_NSMALL (\d+)", part).group(1))
    nclasses = int(re.search(r"#define BM_NCLASSES (\d+)", part).group(1))
    return nsmall, nclasses


def u16(v):
    return list(struct.pack("<H", v))


def u32(v):
    return list(struct.pack("<I", v))


class Program:
    """Emits ops, tracking how many blocks are live and freed (the bytes an op reads depend on
    it), assuming every allocation succeeds."""

    def __init__(self, kernel):
        self.nsmall, self.nclasses = geometry(kernel)
        self.lg_random = 23 if kernel else 19
        self.out, self.live, self.freed = [], 0, 0

    # sizes: pick_size
    def cls(self, c, d=0):  # class c's size, -1, 0 or +1
        return [0] + u16(2 + 3 * c + 1 + d)

    def huge(self, k, d=0):  # k-th chunk multiple (1, 2, 3, 8 chunks), -1, 0 or +1
        return [0] + u16(2 + 3 * self.nclasses + 3 * k + 1 + d)

    def zero(self):
        return [0] + u16(0)

    def raw(self, n):  # any size below 2^lg_random
        bits = n.bit_length()
        m = next(m for m in range(160, 250) if m % (self.lg_random + 1) == bits)
        return [m] + u32(n)

    def impossible(self, k=0):
        return [250 + k]

    def emit(self, *parts):
        for p in parts:
            self.out += p if isinstance(p, list) else [p]

    def malloc(self, size):
        self.emit(MALLOC, size)
        self.live += size[0] < 250

    def calloc(self, size, mode):
        self.emit(CALLOC, size, mode, [7] if mode == 3 else [])
        self.live += mode not in (4, 5)

    def realloc(self, size, index=0, mode=2):
        if not self.live or mode % 8 == 0:
            self.emit(REALLOC, mode, size)
            self.live += 1
        else:
            self.emit(REALLOC, mode, size, u16(index))
            self.freed += 1

    def free(self, index=0):
        self.emit(FREE, u16(index) + [1] if self.live else [])
        self.live, self.freed = max(self.live - 1, 0), self.freed + 1

    def free_sized(self, mode, index=0):
        self.emit(FREE_SIZED, u16(index), mode, u32(5) if mode == 2 else u16(9) if mode == 3 else [])
        self.live, self.freed = self.live - 1, self.freed + 1

    def usable(self, index=0):
        self.emit(USABLE, u16(index) if self.live else [])

    def house(self, what):
        self.emit(HOUSE, what)

    def bad(self, how, size=None):  # the bytes of bad_call
        return [how] + (size or self.cls(0) if how in (BAD_FREE_SIZED, BAD_REALLOC) else [])

    def double_free(self, mode, bad, index=0):
        self.emit(DOUBLE_FREE, u16(index), mode, bad)
        self.live, self.freed = self.live - 1, self.freed + 1

    def bad_freed(self, bad, k=0):
        self.emit(BAD_FREED, k, bad)

    def bad_interior(self, off, aligned, bad, index=0):
        self.emit(BAD_INTERIOR, u16(index), u32(off), aligned, bad)

    def bad_foreign(self, which, bad, k=1):
        self.emit(BAD_FOREIGN, which, k, bad)

    def bad_wild(self, form, arg, bad, from_live=True, index=0):
        self.emit(BAD_WILD, [1 if from_live else 0] if self.live and self.freed else [])
        self.emit(u16(index) if from_live and self.live else [index], form, arg, bad)

    def burst(self, size, count):
        self.emit(BURST, size, count - 1)
        self.live += count

    def free_many(self, count, start=0, back=0):
        self.emit(FREE_MANY, count - 1, u16(start) if self.live else [], back)
        n = min(count, self.live)
        self.live, self.freed = self.live - n, self.freed + n

    def thread_arena(self, a):
        self.emit(THREAD_ARENA, a)

    def aligned(self, op, align, size):
        self.emit(op, align, size)
        self.live += 1

    def bytes(self):
        return bytes(self.out)


def seeds(kernel):
    s = {}
    # every kind of block: small, large, huge, each edge; usable_size; freed in a row
    p = Program(kernel)
    for size in (p.zero(), p.cls(0, -1), p.cls(0), p.cls(p.nsmall - 1), p.cls(p.nsmall - 1, 1),
                 p.cls(p.nsmall), p.cls(p.nclasses - 1), p.cls(p.nclasses - 1, 1), p.huge(0), p.huge(1, 1),
                 p.raw(100000)):
        p.malloc(size)
    for i in range(3):
        p.usable(i * 3)
    p.free_many(64)
    s["kinds"] = p.bytes()

    # every bad call: double frees straight, after a flush, a purge, maintenance; interior,
    # foreign and wild pointers; sized frees with wrong sizes
    p = Program(kernel)
    for size in (p.cls(0), p.cls(5), p.cls(p.nsmall), p.huge(0)) * 3:
        p.malloc(size)
    p.double_free(0, p.bad(BAD_FREE))
    p.double_free(1, p.bad(BAD_FREE_SIZED, p.cls(p.nclasses - 1)), index=3)
    p.double_free(2, p.bad(BAD_REALLOC, p.cls(3)), index=5)
    p.double_free(3, p.bad(BAD_USABLE), index=1)
    p.bad_freed(p.bad(BAD_FREE))
    p.bad_interior(8, 1, p.bad(BAD_FREE), index=2)
    p.bad_interior(5000, 0, p.bad(BAD_REALLOC, p.zero()), index=4)
    for which in range(3):
        p.bad_foreign(which, p.bad(which))
    for form, arg in ((0, [7]), (1, [0]), (2, [1]), (3, [0]), (4, [5]), (5, u32(0xFFFF0000))):
        p.bad_wild(form, arg, p.bad(BAD_FREE))
    p.free_sized(3)
    p.free_sized(4, index=1)
    p.free_sized(0)
    p.free_sized(2)
    p.free_many(64)
    s["bad-calls"] = p.bytes()

    # realloc through every kind, growing then shrinking, to 0, from NULL, to what cannot be
    p = Program(kernel)
    p.malloc(p.cls(0))
    for size in (p.cls(3), p.cls(p.nsmall - 1), p.cls(p.nsmall + 2), p.cls(p.nclasses - 1), p.huge(1),
                 p.huge(0, 1), p.cls(p.nsmall), p.cls(1), p.impossible(0)):
        p.realloc(size)
    p.realloc(p.zero(), mode=1)
    p.realloc(p.cls(4), mode=0)
    p.free()
    s["realloc"] = p.bytes()

    # the aligned calls: small to 1 MiB alignments, refused ones, ones nothing can serve
    p = Program(kernel)
    for op, align, size in ((ALIGNED_ALLOC, [4], p.cls(0)), (ALIGNED_ALLOC, [12], p.cls(2)),
                            (ALIGNED_ALLOC, [20], p.cls(p.nsmall)), (MEMALIGN, [231 + 4], p.cls(3)),
                            (POSIX_MEMALIGN, [16], p.huge(0)), (POSIX_MEMALIGN, [3], p.cls(1))):
        p.aligned(op, align, size)
    p.realloc(p.cls(p.nsmall + 1), index=2)
    for op, align in ((ALIGNED_ALLOC, [231]), (ALIGNED_ALLOC, [232]), (ALIGNED_ALLOC, [239]),
                      (MEMALIGN, [240]), (POSIX_MEMALIGN, [0])):
        p.emit(op, align, p.cls(0))  # refused or unservable: nothing live
    p.free_many(64)
    s["aligned"] = p.bytes()

    # many blocks: bursts of small, large and huge ones (a static heap runs out), calloc,
    # arenas switched, everything freed back to front, then purged
    p = Program(kernel)
    p.burst(p.cls(1), 64)
    p.burst(p.cls(p.nclasses - 1), 16)
    p.burst(p.huge(2), 4)
    for mode in range(7):
        p.calloc(p.cls(4), mode)
    p.thread_arena(1)
    p.free_many(64, start=40, back=1)
    p.house(FLUSH)
    p.free_many(64)
    p.house(PURGE0)
    p.house(MAINTENANCE)
    p.house(PURGE_ALL)
    s["bursts"] = p.bytes()
    return s


def main():
    for build, kernel in (("kernel", True), ("small", False), ("static", False)):
        out = os.path.join(HERE, "corpus", build)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds(kernel).items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
