/*
 * libFuzzer target: the input is a sequence of allocator operations, good and bad, over the
 * whole public API (the op list below says how bytes decode). On every input it proves:
 *   - no live block overlaps another and none is handed out twice (a table of live blocks
 *     by address, checked at every allocation);
 *   - every live block keeps the pattern written into it (derived from its address and a
 *     tag) until the fuzzer frees or reallocates it, where it is checked;
 *   - every bad call (free, sized free, realloc, usable_size of a freed, interior, foreign or
 *     wild pointer, a sized free with a size larger than the block) gets exactly one report
 *     through the error hook, and every good call none;
 *   - bm_check() returns 0, reporting nothing, after every operation;
 *   - results keep their promises: alignment, usable size >= request, calloc zeroes, NULL
 *     only with an error code (and, in the kernel build, only for what cannot be served).
 * Any breach prints what broke and traps, which libFuzzer records as a crash. A freed block
 * is never written (the allocator's promise excludes writes after free); under ASan only the
 * requested bytes of a block are touched (the core exposes exactly those).
 *
 * The allocator initialises once per process and libFuzzer runs many inputs in one process,
 * so the live table persists: each input starts by freeing what the previous one left live
 * and flushing the cache. An input thus starts from an empty heap, not the same layout; a
 * crash file usually reproduces alone, not always.
 *
 * Builds (Makefile, FUZZ_BUILDS): kernel geometry, small geometry (both on the host port's
 * reserved range, 1 GiB of it in the kernel one), and FUZZ_STATIC_HEAP: the small geometry on a 1 MiB static array given to
 * bm_init, where exhaustion and NULL returns are common.
 * FUZZ_TRACE=1 in the environment prints every call and report (to turn a crash into a test).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baremalloc.h"
#include "bm_config.h"
#include "bm_port.h"
#include "size_classes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- limits per build ---------------------------------------------------------------------- */

#define MAX_LIVE 1024
#define FREED_RING 64
#define MIB ((size_t)1 << 20)
#define IMPOSSIBLE ((size_t)1 << 40) /* above every heap here: such a request must fail */
#define MAX_ALIGN MIB                /* alignments the brief asks for; larger ones may fail */

#if defined(FUZZ_STATIC_HEAP)
#define LIVE_BUDGET (4 * MIB) /* above the heap: the allocator runs out first */
#define LG_RANDOM 19
#define MAY_FAIL 1
#elif defined(BM_GEOMETRY_SMALL)
#define LIVE_BUDGET (8 * MIB) /* of the host port's 48 MiB */
#define LG_RANDOM 19
#define MAY_FAIL 1 /* 16 KiB chunks: a 1 MiB-aligned block can miss for fragmentation */
#else
#define LIVE_BUDGET (64 * MIB) /* of the 1 GiB reserved (Makefile): failure is a bug */
#define LG_RANDOM 23
#define MAY_FAIL 0
#endif

/* The fuzzer writes and checks all of a block up to FULL bytes; beyond, the EDGE bytes at each
 * end and STRIPE bytes every STRIDE between: every page of it is touched (where allocator
 * metadata written into a live block would land) at a fraction of the cost of all of it. */
#define FULL ((size_t)64 << 10)
#define EDGE ((size_t)16 << 10)
#define STRIDE ((size_t)4096)
#define STRIPE ((size_t)64)

/* The pattern loops carry no coverage instrumentation: their branches say nothing about the
 * allocator, and instrumented they cost a third of the time (not inlined: that would
 * instrument them again). */
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))

/* ---- failing -------------------------------------------------------------------------------- */

static int trace;
#define TRACE(...) (trace ? (void)fprintf(stderr, __VA_ARGS__) : (void)0)

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *format, ...);
static void fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("fuzz_ops: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    __builtin_trap();
}

/* ---- the error hook ------------------------------------------------------------------------- */

static unsigned reports;
static const char *last_msg;
static const void *last_addr;

/* Runs possibly under an allocator lock: counts and remembers, nothing else (fprintf uses the
 * C library's malloc, not this allocator). */
static void count_report(const char *msg, const void *addr) {
    reports++;
    last_msg = msg;
    last_addr = addr;
    TRACE("    reported: %s at %p\n", msg, addr);
}

/* The call since `before` got exactly `want` reports. */
static void expect_reports(unsigned before, unsigned want, const char *what) {
    unsigned got = reports - before;
    if (got != want)
        fail("%s: %u error reports, expected %u (last: \"%s\" at %p)", what, got, want,
             last_msg ? last_msg : "none", last_addr);
}

/* ---- input ---------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} input_t;

static unsigned in_u8(input_t *in) { /* 0 once the input runs out */
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}
static unsigned in_u16(input_t *in) { return in_u8(in) | in_u8(in) << 8; }
static uint32_t in_u32(input_t *in) { return (uint32_t)in_u16(in) | (uint32_t)in_u16(in) << 16; }

/* ---- sizes and alignments ------------------------------------------------------------------- */

typedef struct {
    uint32_t size, run_pages, nregs, reg0, align, div_shift, div_inverse, div_limit;
} class_row_t;
static const class_row_t class_rows[] = {BM_SIZE_CLASS_TABLE};
_Static_assert(sizeof class_rows / sizeof class_rows[0] == BM_NCLASSES, "one row per class");

/* Every class boundary -1, 0, +1, 0 and 1, chunk multiples (huge) -1, 0, +1. */
static size_t size_table[3 * BM_NCLASSES + 32];
static unsigned size_count;
static const size_t impossible_sizes[] = {SIZE_MAX, SIZE_MAX - BM_PAGE, SIZE_MAX / 2 + 1, IMPOSSIBLE + 1,
                                          (size_t)1 << 50};

static void size_table_init(void) {
    size_table[size_count++] = 0;
    size_table[size_count++] = 1;
    for (unsigned i = 0; i < BM_NCLASSES; i++) {
        size_t s = class_rows[i].size;
        size_table[size_count++] = s - 1;
        size_table[size_count++] = s;
        size_table[size_count++] = s + 1;
    }
    static const unsigned chunks[] = {1, 2, 3, 8};
    for (unsigned i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        size_t s = chunks[i] * BM_CHUNK;
        size_table[size_count++] = s - 1;
        size_table[size_count++] = s;
        size_table[size_count++] = s + 1;
    }
    size_table[size_count++] = BM_CHUNK - BM_PAGE; /* the largest run an arena chunk might hold */
}

static int impossible(size_t n) { return n > IMPOSSIBLE; }

static size_t pick_size(input_t *in) {
    unsigned m = in_u8(in);
    if (m < 160)
        return size_table[in_u16(in) % size_count];
    if (m < 250)
        return in_u32(in) & (((size_t)1 << (m % (LG_RANDOM + 1))) - 1);
    return impossible_sizes[(m - 250) % (sizeof impossible_sizes / sizeof impossible_sizes[0])];
}

/* Powers of two from 1 B to 1 MiB, then what aligned_alloc and posix_memalign must refuse and
 * what no heap here can serve. */
static size_t pick_align(input_t *in) {
    static const size_t odd[] = {0,   3,    24, 48, 1000, 4097, 3 * MIB, (size_t)1 << 40, (size_t)1 << 63,
                                 SIZE_MAX};
    unsigned m = in_u8(in);
    if (m < 231)
        return (size_t)1 << (m % 21);
    return odd[(m - 231) % (sizeof odd / sizeof odd[0])];
}

static int pow2(size_t a) { return a && !(a & (a - 1)); }

/* What malloc promises: 16 bytes for sizes >= 16 on 64-bit, 8 below. */
static size_t fundamental(size_t n) { return n >= 16 ? 16 : 8; }

static size_t class_align(size_t usable) {
    for (unsigned i = 0; i < BM_NCLASSES; i++)
        if (class_rows[i].size == usable)
            return class_rows[i].align;
    return 0;
}

/* ---- patterns ------------------------------------------------------------------------------- */

NO_COVERAGE static uint64_t pattern_word(uintptr_t addr, uint32_t tag) {
    uint64_t x = (uint64_t)addr * 0x9e3779b97f4a7c15ull ^ (uint64_t)tag * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 29);
}

/* Byte `addr` of the pattern: byte addr % 8 of the word of its 8-byte slot. */
NO_COVERAGE static uint8_t pattern_byte(uintptr_t addr, uint32_t tag) {
    return (uint8_t)(pattern_word(addr & ~(uintptr_t)7, tag) >> (8 * (addr & 7)));
}

/* The ranges of an n-byte block the fuzzer writes and checks (FULL, EDGE, STRIDE above), one
 * by one: *lo = *hi = 0 starts; false at the end. */
NO_COVERAGE static int next_range(size_t n, size_t *lo, size_t *hi) {
    if (*hi >= n)
        return 0;
    if (n <= FULL) {
        *lo = 0, *hi = n;
    } else if (*hi == 0) {
        *lo = 0, *hi = EDGE;
    } else if (*hi + STRIDE - STRIPE < n - EDGE) {
        *lo = (*hi + STRIDE) & ~(STRIDE - 1);
        *hi = *lo + STRIPE < n - EDGE ? *lo + STRIPE : n - EDGE;
        if (*lo >= *hi) {
            *lo = n - EDGE, *hi = n;
        }
    } else {
        *lo = n - EDGE, *hi = n;
    }
    return 1;
}

/* Writes the pattern of the block at `base` over [lo, hi) of the block at p. */
NO_COVERAGE static void fill_range(unsigned char *p, size_t lo, size_t hi, uintptr_t base, uint32_t tag) {
    size_t i = lo;
    for (; i < hi && (i & 7); i++)
        p[i] = pattern_byte(base + i, tag);
    for (; i + 8 <= hi; i += 8) {
        uint64_t w = pattern_word(base + i, tag);
        memcpy(p + i, &w, 8);
    }
    for (; i < hi; i++)
        p[i] = pattern_byte(base + i, tag);
}

/* Offset of the first byte in [lo, hi) of p that differs from the pattern of `base`, or hi. */
NO_COVERAGE static size_t check_range(const unsigned char *p, size_t lo, size_t hi, uintptr_t base, uint32_t tag) {
    size_t i = lo;
    for (; i < hi && (i & 7); i++)
        if (p[i] != pattern_byte(base + i, tag))
            return i;
    for (; i + 8 <= hi; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != pattern_word(base + i, tag))
            break;
    }
    for (; i < hi; i++)
        if (p[i] != pattern_byte(base + i, tag))
            return i;
    return hi;
}

/* ---- the live table ------------------------------------------------------------------------- */

typedef struct {
    uintptr_t p;
    size_t n;      /* bytes requested */
    size_t usable; /* bm_usable_size when handed out */
    size_t align;  /* alignment a realloc must keep (README: up to the old block's kind's cap) */
    uint32_t tag;
    unsigned id; /* b<id> in the trace */
} block_t;

static block_t live[MAX_LIVE]; /* by address */
static unsigned nlive;
static size_t live_bytes;
static unsigned next_id;
static uint32_t next_tag;

static uintptr_t freed[FREED_RING]; /* recently freed addresses, for the bad-pointer ops */
static unsigned nfreed, freed_pos;

static unsigned narenas, home_arena, my_core;

/* First index with live[i].p >= p. */
static unsigned live_lower(uintptr_t p) {
    unsigned lo = 0, hi = nlive;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (live[mid].p < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The live block whose [p, p + usable) holds addr, or NULL. */
static const block_t *live_containing(uintptr_t addr) {
    unsigned i = live_lower(addr + 1);
    if (i == 0)
        return NULL;
    const block_t *b = &live[i - 1];
    return addr - b->p < b->usable ? b : NULL;
}

static int live_start(uintptr_t addr) {
    unsigned i = live_lower(addr);
    return i < nlive && live[i].p == addr;
}

static void remember_freed(uintptr_t p) {
    freed[freed_pos] = p;
    freed_pos = (freed_pos + 1) % FREED_RING;
    if (nfreed < FREED_RING)
        nfreed++;
}

NO_COVERAGE static void verify(const block_t *b, const char *what) {
    size_t lo = 0, hi = 0;
    while (next_range(b->n, &lo, &hi)) {
        size_t bad = check_range((const unsigned char *)b->p, lo, hi, b->p, b->tag);
        if (bad != hi)
            fail("%s: b%u %#zx (%zu bytes) corrupted at offset %zu", what, b->id, (size_t)b->p, b->n, bad);
    }
}

NO_COVERAGE static void fill(const block_t *b) {
    size_t lo = 0, hi = 0;
    while (next_range(b->n, &lo, &hi))
        fill_range((unsigned char *)b->p, lo, hi, b->p, b->tag);
}

/* Offset of the first byte in the checked ranges of an n-byte block that is not zero, or n. */
NO_COVERAGE static size_t first_nonzero(const unsigned char *p, size_t n) {
    size_t lo = 0, hi = 0;
    while (next_range(n, &lo, &hi))
        for (size_t k = lo; k < hi; k++)
            if (p[k])
                return k;
    return n;
}

/* Takes live[i] out of the table (the caller checked its pattern). */
static block_t take(unsigned i) {
    block_t b = live[i];
    memmove(&live[i], &live[i + 1], (nlive - i - 1) * sizeof live[0]);
    nlive--;
    live_bytes -= b.n;
    return b;
}

/* Whether an allocation of n more bytes stays within the table and the budget (else the op
 * is skipped). An impossible size is always tried: it must fail. */
static int admit(size_t n) {
    if (impossible(n))
        return 1;
    return nlive < MAX_LIVE && live_bytes + n <= LIVE_BUDGET;
}

/* Checks a new block p of n requested bytes (NULL allowed where the build allows failure),
 * enters it in the table, checks zeroes for calloc and fills it. Returns its index or -1. */
static int got_block(void *ptr, size_t n, size_t align, size_t may_fail_align, int zeroed, const char *what) {
    uintptr_t p = (uintptr_t)ptr;
    if (!ptr) {
        TRACE("  -> NULL (error %d)\n", bm_last_error());
        if (!MAY_FAIL && !impossible(n) && may_fail_align <= MAX_ALIGN)
            fail("%s(%zu): NULL with memory to spare", what, n);
        if (bm_last_error() != BM_ENOMEM)
            fail("%s(%zu): NULL with error %d, not BM_ENOMEM", what, n, bm_last_error());
        return -1;
    }
    if (impossible(n))
        fail("%s(%zu): served a size no heap here can hold: %p", what, n, ptr);
    if (align && p % align)
        fail("%s(%zu): %p not aligned to %zu", what, n, ptr, align);
    unsigned before = reports;
    size_t usable = bm_usable_size(ptr);
    expect_reports(before, 0, "bm_usable_size of a new block");
    if (usable < n || usable == 0)
        fail("%s(%zu): %p usable size %zu", what, n, ptr, usable);
    if (nlive == MAX_LIVE)
        fail("live table full"); /* admit() keeps it from happening */
    unsigned i = live_lower(p);
    if (i < nlive && live[i].p < p + usable)
        fail("%s(%zu): %p (usable %zu) overlaps live b%u %#zx (usable %zu)", what, n, ptr, usable, live[i].id,
             (size_t)live[i].p, live[i].usable);
    if (i > 0 && live[i - 1].p + live[i - 1].usable > p)
        fail("%s(%zu): %p overlaps live b%u %#zx (usable %zu)", what, n, ptr, live[i - 1].id,
             (size_t)live[i - 1].p, live[i - 1].usable);
    if (zeroed) {
        size_t k = first_nonzero(ptr, n);
        if (k != n)
            fail("%s(%zu): %p byte %zu not zero", what, n, ptr, k);
    }
    memmove(&live[i + 1], &live[i], (nlive - i) * sizeof live[0]);
    nlive++;
    live_bytes += n;
    live[i] = (block_t){p, n, usable, align > fundamental(n) ? align : fundamental(n), ++next_tag, ++next_id};
    TRACE("  -> b%u = %p (usable %zu)\n", live[i].id, ptr, usable);
    fill(&live[i]);
    return (int)i;
}

static block_t *pick_live(input_t *in) { return nlive ? &live[in_u16(in) % nlive] : NULL; }

/* ---- bad calls ------------------------------------------------------------------------------ */

/* One call on a pointer that is not a live block's start: free, sized free, realloc or
 * usable_size, each of which must report it exactly once and change nothing else. */
static void bad_call(input_t *in, void *ptr, const char *kind) {
    unsigned how = in_u8(in) % 4, before = reports;
    switch (how) {
    case 0:
        TRACE("bm_free(%p) [%s]\n", ptr, kind);
        bm_free(ptr);
        break;
    case 1: {
        size_t s = pick_size(in);
        TRACE("bm_free_sized(%p, %zu) [%s]\n", ptr, s, kind);
        bm_free_sized(ptr, s);
        break;
    }
    case 2: {
        size_t s = pick_size(in);
        if (!admit(s))
            s = 1;
        TRACE("bm_realloc(%p, %zu) [%s]\n", ptr, s, kind);
        void *q = bm_realloc(ptr, s);
        if (q) {
            /* realloc(bad, 0) frees (reports) and returns malloc(0), as realloc(p, 0) does;
             * for any other size a bad pointer gives NULL with BM_EINVAL. */
            if (s != 0)
                fail("bm_realloc(%s %p, %zu) returned %p, not NULL", kind, ptr, s, q);
            expect_reports(before, 1, "bm_realloc of a bad pointer");
            got_block(q, 0, fundamental(0), 0, 0, "bm_realloc(bad, 0)");
            return;
        }
        if (s != 0 && bm_last_error() != BM_EINVAL)
            fail("bm_realloc(%s %p, %zu): error %d, not BM_EINVAL", kind, ptr, s, bm_last_error());
        break;
    }
    default: {
        TRACE("bm_usable_size(%p) [%s]\n", ptr, kind);
        size_t u = bm_usable_size(ptr);
        if (u != 0)
            fail("bm_usable_size(%s %p) = %zu, not 0", kind, ptr, u);
        break;
    }
    }
    expect_reports(before, 1, kind);
}

/* ---- accounting ----------------------------------------------------------------------------- */

static size_t ctl_size(const char *format, unsigned index) {
    char name[64];
    size_t v = 0, len = sizeof v;
    snprintf(name, sizeof name, format, index);
    if (bm_ctl(name, &v, &len, NULL, 0) != 0)
        fail("bm_ctl(\"%s\") failed", name);
    return v;
}

/* The arenas count as allocated exactly the usable bytes of the fuzzer's live blocks plus what
 * this core's cache holds: a block the fuzzer freed but the allocator kept (or the reverse)
 * shows here at once, before any pointer check could stumble on it. */
static void check_accounting(const char *when) {
    size_t arenas = 0, mine = 0;
    for (unsigned a = 0; a < narenas; a++)
        arenas += ctl_size("stats.arenas.%u.allocated", a);
    for (unsigned i = 0; i < nlive; i++)
        mine += live[i].usable;
    size_t cached = ctl_size("stats.cores.%u.cached_bytes", my_core);
    if (arenas != mine + cached)
        fail("%s: the arenas count %zu bytes allocated, the live blocks hold %zu and the cache %zu", when, arenas,
             mine, cached);
}

/* ---- operations ----------------------------------------------------------------------------- */

static void op_malloc(input_t *in) {
    size_t n = pick_size(in);
    if (!admit(n))
        return;
    TRACE("bm_malloc(%zu)\n", n);
    unsigned before = reports;
    void *p = bm_malloc(n);
    expect_reports(before, 0, "bm_malloc");
    got_block(p, n, fundamental(n), 0, 0, "bm_malloc");
}

static void op_calloc(input_t *in) {
    size_t size = pick_size(in), nmemb;
    switch (in_u8(in) % 8) {
    case 0: nmemb = 0; break;
    case 1: nmemb = 2; break;
    case 2: nmemb = 3; break;
    case 3: nmemb = in_u8(in); break;
    case 4: nmemb = size > 1 ? SIZE_MAX / size + 1 : SIZE_MAX; break; /* overflows */
    case 5: nmemb = SIZE_MAX; break;
    default: nmemb = 1; break;
    }
    size_t total;
    int overflow = __builtin_mul_overflow(nmemb, size, &total);
    if (overflow)
        total = SIZE_MAX;
    if (!admit(total))
        return;
    TRACE("bm_calloc(%zu, %zu)\n", nmemb, size);
    unsigned before = reports;
    void *p = bm_calloc(nmemb, size);
    expect_reports(before, 0, "bm_calloc");
    got_block(p, total, fundamental(total), 0, 1, "bm_calloc");
}

/* The alignment realloc promises to keep (README, "realloc keeps the alignment"): the old
 * block's, believed up to its class alignment (small), half a chunk (large), a chunk while a
 * huge block stays huge and a page when it shrinks below that. */
static size_t realloc_keeps(const block_t *b, size_t n) {
    size_t cap = b->usable > BM_LARGE_MAX ? (n > BM_LARGE_MAX ? BM_CHUNK : BM_PAGE)
                 : b->usable <= BM_SMALL_MAX ? class_align(b->usable)
                                             : BM_CHUNK / 2;
    size_t keep = b->align < cap ? b->align : cap;
    return keep > fundamental(n) ? keep : fundamental(n);
}

static void op_realloc(input_t *in) {
    unsigned mode = in_u8(in);
    size_t n = pick_size(in);
    unsigned before = reports;
    if (!nlive || mode % 8 == 0) { /* realloc(NULL, n) is malloc(n) */
        if (!admit(n))
            return;
        TRACE("bm_realloc(NULL, %zu)\n", n);
        void *p = bm_realloc(NULL, n);
        expect_reports(before, 0, "bm_realloc(NULL, n)");
        got_block(p, n, fundamental(n), 0, 0, "bm_realloc(NULL)");
        return;
    }
    unsigned i = in_u16(in) % nlive;
    if (mode % 8 == 1)
        n = 0;
    if (!impossible(n) && n > live[i].n && !admit(n - live[i].n))
        return;
    verify(&live[i], "before realloc");
    block_t b = take(i);
    TRACE("bm_realloc(b%u %p, %zu)\n", b.id, (void *)b.p, n);
    void *q = bm_realloc((void *)b.p, n);
    expect_reports(before, 0, "bm_realloc");
    if (!q && n == 0) { /* freed, then malloc(0) failed: only on an exhausted heap */
        remember_freed(b.p);
        got_block(NULL, 1, 0, 0, 0, "bm_realloc(p, 0)");
        return;
    }
    if (!q) {
        /* untouched: back in the table as it was */
        unsigned j = live_lower(b.p);
        memmove(&live[j + 1], &live[j], (nlive - j) * sizeof live[0]);
        live[j] = b;
        nlive++;
        live_bytes += b.n;
        verify(&live[j], "after a failed realloc");
        got_block(NULL, n, 0, 0, 0, "bm_realloc");
        return;
    }
    if (n == 0) {
        if ((uintptr_t)q != b.p)
            remember_freed(b.p);
        got_block(q, 0, fundamental(0), 0, 0, "bm_realloc(p, 0)");
        return;
    }
    /* The contents up to the smaller size moved with the block (a pattern of the old address). */
    size_t keep = n < b.n ? n : b.n, lo = 0, hi = 0;
    while (next_range(b.n, &lo, &hi) && lo < keep) {
        size_t top = hi < keep ? hi : keep;
        size_t bad = check_range(q, lo, top, b.p, b.tag);
        if (bad != top)
            fail("bm_realloc(b%u %#zx, %zu) -> %p: contents lost at offset %zu", b.id, (size_t)b.p, n, q, bad);
    }
    if ((uintptr_t)q != b.p)
        remember_freed(b.p);
    size_t align = realloc_keeps(&b, n);
    int j = got_block(q, n, align, 0, 0, "bm_realloc");
    if (j >= 0)
        live[j].align = align;
}

static void op_free(input_t *in) {
    block_t *b = pick_live(in);
    unsigned before = reports;
    if (!b || in_u8(in) % 16 == 0) {
        TRACE("bm_free(NULL)\n");
        bm_free(NULL);
        expect_reports(before, 0, "bm_free(NULL)");
        return;
    }
    verify(b, "before free");
    block_t v = take((unsigned)(b - live));
    TRACE("bm_free(b%u %p)\n", v.id, (void *)v.p);
    bm_free((void *)v.p);
    expect_reports(before, 0, "bm_free");
    remember_freed(v.p);
}

static void op_free_sized(input_t *in) {
    block_t *b = pick_live(in);
    unsigned mode = in_u8(in) % 6, before = reports;
    if (!b) {
        TRACE("bm_free_sized(NULL, 8)\n");
        bm_free_sized(NULL, 8);
        expect_reports(before, 0, "bm_free_sized(NULL)");
        return;
    }
    size_t s, span = b->usable - b->n;
    int wrong = 0;
    switch (mode) {
    case 0: s = b->n; break;
    case 1: s = b->usable; break;
    case 2: s = b->n + (span ? in_u32(in) % (span + 1) : 0); break;
    case 3: s = b->usable + 1 + in_u16(in), wrong = 1; break;
    case 4: s = SIZE_MAX, wrong = 1; break;
    default: s = b->usable + BM_PAGE, wrong = 1; break;
    }
    verify(b, "before sized free");
    block_t v = take((unsigned)(b - live));
    TRACE("bm_free_sized(b%u %p, %zu)%s\n", v.id, (void *)v.p, s, wrong ? " [wrong size]" : "");
    bm_free_sized((void *)v.p, s);
    /* A size larger than the block is reported once and the block freed all the same. */
    expect_reports(before, wrong ? 1 : 0, wrong ? "bm_free_sized with a wrong size" : "bm_free_sized");
    remember_freed(v.p);
}

static void op_aligned(input_t *in, unsigned which) {
    size_t a = pick_align(in), n = pick_size(in);
    if (!admit(n))
        return;
    unsigned before = reports;
    void *p = NULL;
    size_t want = a; /* the alignment asked for, if the call accepts it */
    int refuse;      /* the call must return BM_EINVAL */
    const char *what;
    if (which == 0) {
        what = "bm_aligned_alloc";
        refuse = !pow2(a);
        TRACE("bm_aligned_alloc(%zu, %zu)\n", a, n);
        p = bm_aligned_alloc(a, n);
    } else if (which == 1) {
        what = "bm_memalign";
        want = 1;
        while (want && want < a)
            want <<= 1;
        refuse = want == 0; /* no power of two that large */
        TRACE("bm_memalign(%zu, %zu)\n", a, n);
        p = bm_memalign(a, n);
    } else {
        what = "bm_posix_memalign";
        refuse = !pow2(a) || a < sizeof(void *);
        void *out = &live; /* a sentinel: must stay unless the call succeeds */
        TRACE("bm_posix_memalign(%zu, %zu)\n", a, n);
        int rc = bm_posix_memalign(&out, a, n);
        expect_reports(before, 0, what);
        if (rc == 0) {
            if (refuse)
                fail("bm_posix_memalign(%zu, %zu) accepted the alignment", a, n);
            got_block(out, n, a, a, 0, what);
        } else {
            if (out != (void *)&live)
                fail("bm_posix_memalign failed (%d) but wrote *memptr", rc);
            if (rc != (refuse ? BM_EINVAL : BM_ENOMEM))
                fail("bm_posix_memalign(%zu, %zu) returned %d", a, n, rc);
            if (!refuse && !MAY_FAIL && !impossible(n) && a <= MAX_ALIGN)
                fail("bm_posix_memalign(%zu, %zu): ENOMEM with memory to spare", a, n);
            TRACE("  -> %d\n", rc);
        }
        return;
    }
    expect_reports(before, 0, what);
    if (refuse) {
        if (p)
            fail("%s(%zu, %zu) accepted the alignment: %p", what, a, n, p);
        if (bm_last_error() != BM_EINVAL)
            fail("%s(%zu, %zu): error %d, not BM_EINVAL", what, a, n, bm_last_error());
        TRACE("  -> NULL (refused)\n");
        return;
    }
    got_block(p, n, want, want, 0, what);
}

static void op_usable_size(input_t *in) {
    block_t *b = pick_live(in);
    unsigned before = reports;
    if (!b) {
        TRACE("bm_usable_size(NULL)\n");
        if (bm_usable_size(NULL) != 0)
            fail("bm_usable_size(NULL) != 0");
        expect_reports(before, 0, "bm_usable_size(NULL)");
        return;
    }
    TRACE("bm_usable_size(b%u %p)\n", b->id, (void *)b->p);
    size_t u = bm_usable_size((void *)b->p);
    expect_reports(before, 0, "bm_usable_size");
    if (u != b->usable)
        fail("bm_usable_size(b%u) = %zu, was %zu", b->id, u, b->usable);
}

static void purge(unsigned which) {
    char name[32];
    snprintf(name, sizeof name, "arena.%u.purge", which);
    TRACE("bm_ctl(\"%s\")\n", name);
    int rc = bm_ctl(name, NULL, NULL, NULL, 0);
    if (rc != 0)
        fail("bm_ctl(\"%s\") = %d", name, rc);
}

/* The background and flushing calls. */
static void op_housekeeping(input_t *in) {
    unsigned what = in_u8(in) % 4, before = reports;
    switch (what) {
    case 0:
        TRACE("bm_cache_flush()\n");
        bm_cache_flush();
        break;
    case 1:
        TRACE("bm_maintenance()\n");
        bm_maintenance();
        break;
    case 2:
        purge(0);
        break;
    default:
        purge(narenas); /* arena.<narenas>: every arena, and the pool */
        break;
    }
    expect_reports(before, 0, "housekeeping");
}

/* Frees a block, then after nothing, a cache flush, a purge or maintenance, frees it again
 * (or another bad call on it). */
static void op_double_free(input_t *in) {
    block_t *b = pick_live(in);
    if (!b)
        return;
    unsigned mode = in_u8(in) % 4, before = reports;
    verify(b, "before free");
    block_t v = take((unsigned)(b - live));
    TRACE("bm_free(b%u %p)\n", v.id, (void *)v.p);
    bm_free((void *)v.p);
    if (mode == 1) {
        TRACE("bm_cache_flush()\n");
        bm_cache_flush();
    } else if (mode == 2) {
        purge(0);
    } else if (mode == 3) {
        TRACE("bm_maintenance()\n");
        bm_maintenance();
    }
    expect_reports(before, 0, "bm_free before a double free");
    bad_call(in, (void *)v.p, "freed block");
    remember_freed(v.p);
}

static void op_bad_freed(input_t *in) {
    if (!nfreed)
        return;
    uintptr_t p = freed[in_u8(in) % nfreed];
    if (live_start(p))
        return; /* handed out again since */
    bad_call(in, (void *)p, live_containing(p) ? "freed block, now inside a live one" : "freed block");
}

static void op_bad_interior(input_t *in) {
    block_t *b = pick_live(in);
    if (!b || b->usable < 2)
        return;
    size_t off = in_u32(in) % b->usable;
    if (in_u8(in) & 1)
        off &= ~(size_t)15; /* aligned as a block would be: passes the cheap checks */
    if (off == 0)
        off = b->usable > 16 ? 16 : 1;
    bad_call(in, (void *)(b->p + off), "interior pointer");
}

static unsigned char foreign_static[64];

static void op_bad_foreign(input_t *in) {
    unsigned char on_stack[64];
    unsigned which = in_u8(in) % 3;
    void *p = which == 0   ? (void *)&on_stack[in_u8(in) % 4 * 16]
              : which == 1 ? (void *)&foreign_static[in_u8(in) % 4 * 16]
                           : (void *)&live[in_u8(in) % MAX_LIVE];
    bad_call(in, p, "foreign pointer");
}

/* A pointer near a live or freed block: just past it, before it, some pages or chunks away,
 * its chunk's header and pages. Anything but a live block's start must be reported. */
static void op_bad_wild(input_t *in) {
    uintptr_t base;
    if (nlive && (!nfreed || in_u8(in) & 1))
        base = live[in_u16(in) % nlive].p;
    else if (nfreed)
        base = freed[in_u8(in) % nfreed];
    else
        return;
    uintptr_t p;
    switch (in_u8(in) % 6) {
    case 0: p = base + 1 + in_u8(in); break;
    case 1: p = base - 8 * (1 + in_u8(in)); break;
    case 2: p = base + BM_PAGE * (1 + in_u8(in) % 16); break;
    case 3: p = (base & ~(uintptr_t)BM_CHUNK_MASK) + BM_PAGE * (in_u8(in) % BM_CHUNK_PAGES); break;
    case 4: p = base + BM_CHUNK * (uintptr_t)((int)(in_u8(in) % 9) - 4); break;
    default: p = base + (uintptr_t)(intptr_t)(int32_t)in_u32(in); break;
    }
    if (!p || live_start(p))
        return;
    bad_call(in, (void *)p, live_containing(p) ? "wild pointer inside a live block" : "wild pointer");
}

/* Many blocks of one size at once: fills runs, empties the cache, exhausts small heaps. */
static void op_burst(input_t *in) {
    size_t n = pick_size(in);
    unsigned count = 1 + in_u8(in) % 64;
    if (impossible(n))
        return;
    for (unsigned k = 0; k < count && admit(n); k++) {
        TRACE("bm_malloc(%zu)\n", n);
        unsigned before = reports;
        void *p = bm_malloc(n);
        expect_reports(before, 0, "bm_malloc");
        if (got_block(p, n, fundamental(n), 0, 0, "bm_malloc") < 0)
            break;
    }
}

/* Frees a run of neighbours (by address), forwards or backwards: empties runs and chunks. */
static void op_free_many(input_t *in) {
    unsigned count = 1 + in_u8(in) % 64, start = nlive ? in_u16(in) % nlive : 0, back = in_u8(in) & 1;
    for (unsigned k = 0; k < count && nlive; k++) {
        unsigned i = back ? (start < nlive ? start : nlive - 1) : start % nlive;
        if (back && start)
            start--;
        verify(&live[i], "before free");
        block_t v = take(i);
        TRACE("bm_free(b%u %p)\n", v.id, (void *)v.p);
        unsigned before = reports;
        bm_free((void *)v.p);
        expect_reports(before, 0, "bm_free");
        remember_freed(v.p);
    }
}

/* Moves the thread to another arena (its cache flushes): later frees cross arenas. */
static void op_thread_arena(input_t *in) {
    unsigned a = in_u8(in) % narenas, before = reports;
    TRACE("bm_ctl(\"thread.arena\", %u)\n", a);
    int rc = bm_ctl("thread.arena", NULL, NULL, &a, sizeof a);
    if (rc != 0)
        fail("bm_ctl(\"thread.arena\", %u) = %d", a, rc);
    expect_reports(before, 0, "thread.arena");
}

/* Decoding: one byte picks the op (its value mod the count), the op reads what it needs. */
static void (*const ops[])(input_t *) = {
    op_malloc,   op_malloc,       op_calloc,       op_realloc,     op_realloc,     op_free,
    op_free,     op_free_sized,   op_usable_size,  op_housekeeping, op_double_free, op_bad_freed,
    op_bad_interior, op_bad_foreign, op_bad_wild, op_burst,      op_free_many,   op_thread_arena,
    NULL, NULL, NULL, /* the three aligned calls: op_aligned(in, 0..2) */
};
#define NOPS (sizeof ops / sizeof ops[0])

static void run_op(input_t *in) {
    unsigned k = in_u8(in) % NOPS;
    if (ops[k])
        ops[k](in);
    else
        op_aligned(in, k - (NOPS - 3));
}

/* ---- libFuzzer entry points ----------------------------------------------------------------- */

#ifdef FUZZ_STATIC_HEAP
static unsigned char heap[FUZZ_STATIC_HEAP] __attribute__((aligned(BM_CHUNK)));
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    trace = getenv("FUZZ_TRACE") != NULL;
    size_table_init();
#ifdef FUZZ_STATIC_HEAP
    static const bm_page_source_t source = {.base = heap, .size = sizeof heap};
    bm_config_t config = {.sources = &source, .nsources = 1, .error_hook = count_report};
    int rc = bm_init(&config);
    if (rc != 0)
        fail("bm_init over a %zu-byte static region: %d", sizeof heap, rc);
#else
    bm_set_error_hook(count_report);
#endif
    size_t len = sizeof narenas;
    if (bm_ctl("arenas.narenas", &narenas, &len, NULL, 0) != 0 || narenas == 0)
        fail("bm_ctl(\"arenas.narenas\") failed");
    len = sizeof home_arena;
    if (bm_ctl("thread.arena", &home_arena, &len, NULL, 0) != 0)
        fail("bm_ctl(\"thread.arena\") failed");
    bm_free(bm_malloc(1)); /* this core's cache exists from here on (its statistics name) */
    len = sizeof my_core;
    if (bm_ctl("thread.core", &my_core, &len, NULL, 0) != 0)
        fail("bm_ctl(\"thread.core\") failed");
    if (reports)
        fail("initialisation reported an error: %s", last_msg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* What the previous input left: freed (checked first), the arena binding restored, the
     * cache flushed, so this input starts from an empty heap. */
    unsigned before = reports;
    while (nlive) {
        verify(&live[nlive - 1], "left by the previous input");
        block_t v = take(nlive - 1);
        bm_free((void *)v.p);
    }
    unsigned a = home_arena;
    if (bm_ctl("thread.arena", NULL, NULL, &a, sizeof a) != 0)
        fail("bm_ctl(\"thread.arena\") failed");
    bm_cache_flush();
    expect_reports(before, 0, "freeing the previous input's blocks");
    check_accounting("at the start of an input");
    nfreed = freed_pos = 0;
    next_id = 0;
    TRACE("---- input of %zu bytes\n", size);

    input_t in = {data, size};
    while (in.n) {
        run_op(&in);
        before = reports;
        unsigned violations = bm_check();
        if (violations != 0 || reports != before)
            fail("bm_check() = %u with %u reports (last: \"%s\" at %p)", violations, reports - before,
                 last_msg ? last_msg : "none", last_addr);
        check_accounting("after an operation");
    }
    return 0;
}
