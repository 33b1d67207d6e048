/*
 * Compile-time configuration: every knob of the core in one place.
 *
 * Part 1 is what an integrator may set (with -D on the compiler's command line); part 2 is
 * derived from it and must not be set. Measurements behind the defaults are in
 * docs/BENCHMARKS.md ("Why the defaults are what they are"). BM_MAX_CORES, which the port
 * shares, is in port/bm_port.h; the port's own knobs (BM_LOCK_TICKET, BM_HOST_RESERVE) are in
 * the port's files.
 */
#ifndef BM_CONFIG_H
#define BM_CONFIG_H

#include <stdint.h>

/* =========================================================================================
 * Part 1: knobs.
 * ======================================================================================= */

/* Geometry, one of:
 *   BM_GEOMETRY_KERNEL (default): 4 KiB pages, 2 MiB chunks. For kernels and large heaps.
 *   BM_GEOMETRY_SMALL:            256 B pages, 16 KiB chunks. For microcontroller heaps of
 *                                 tens of KiB: a chunk header is 512 B, the smallest unit a
 *                                 large allocation takes is 256 B. */

/* Real-time profile (docs/REALTIME.md): every call does work bounded by a constant of the
 * configuration, never of the heap. bm_init builds every core's cache and hands every pooled
 * chunk, formatted, to an arena; an arena keeps its chunks (they go back to the pool only when
 * an allocation fails, the one path whose cost grows with the heap); small runs hold at most
 * 32 regions (their set-up marks each); a refill or flush moves at most BM_TCACHE_BATCH_MAX (4) objects.
 * The default with the small geometry (microcontrollers), off with the kernel geometry. */
#ifndef BM_REALTIME
#if defined(BM_GEOMETRY_SMALL)
#define BM_REALTIME 1
#else
#define BM_REALTIME 0
#endif
#endif

/* Hardening level (docs/HARDENING.md has each level's cost):
 *   0  trusts the caller: no freed mark, no fast-path checks (the arena still checks every
 *      pointer that reaches it). The fastest; a bad free can give a block two owners.
 *   1  the default: every free, realloc and usable_size of a pointer that is not a live
 *      block's start is reported and ignored, on any core (the freed mark, internal.h; the
 *      fast path checks the pointer's chunk, region start and mark).
 *   2  debugging and security: level 1, plus a canary word at the end of every small and
 *      large block, checked when the block is freed or reallocated (writes past the end), and
 *      freed blocks filled with a pattern (their first BM_HARDEN_FILL_MAX bytes) that is
 *      checked when the block is handed out again (writes after free). Every malloc and free
 *      takes the slow path and no core caches blocks, so a run's bitmap and page map say
 *      exactly what is free; a freed block waits in its arena's quarantine (the last
 *      BM_QUARANTINE_SLOTS freed) before its run takes it back, and its fill is checked when it
 *      leaves. A block's usable size is its class size minus the canary.
 * -DBM_FREE_CHECKS=0 (the older knob) still means level 0. */
#ifndef BM_HARDENING
#if defined(BM_FREE_CHECKS) && !BM_FREE_CHECKS
#define BM_HARDENING 0
#else
#define BM_HARDENING 1
#endif
#endif
#ifndef BM_QUARANTINE_SLOTS /* level 2: freed blocks each arena holds back from reuse */
#define BM_QUARANTINE_SLOTS 32
#endif
#ifndef BM_HARDEN_FILL_MAX /* level 2: bytes of a freed block filled and checked (O(this)) */
#define BM_HARDEN_FILL_MAX 4096
#endif

/* Count fast-path allocation hits per core (stats.cores.<c>.hits): off by default because it
 * adds a load and a store to the malloc fast path. */
#ifndef BM_STATS_FAST
#define BM_STATS_FAST 0
#endif

/* Page sources (memory nodes) the allocator can manage at once. */
#ifndef BM_MAX_REGIONS
#define BM_MAX_REGIONS 4
#endif

/* Object caches (bm_objcache_create) that can exist at once; at most 255 (a run header names
 * its cache in a byte). Each costs about a bin per possible arena and a stack per core of base
 * metadata, kept for reuse when it is destroyed. */
#ifndef BM_MAX_OBJCACHES
#define BM_MAX_OBJCACHES 16
#endif
/* Slots in each core's stack of one object cache (fewer when two runs hold fewer objects). */
#ifndef BM_OBJCACHE_SLOTS
#if BM_REALTIME
#define BM_OBJCACHE_SLOTS 8
#else
#define BM_OBJCACHE_SLOTS 32
#endif
#endif

/* Arenas at most (the narenas option picks how many are used). */
#ifndef BM_MAX_ARENAS
#define BM_MAX_ARENAS 64
#endif

/* Whether an arena keeps one fully free chunk instead of returning it to the pool at once
 * (hysteresis against a workload bouncing a chunk through the pool lock). Not with 16 KiB
 * chunks: there a chunk is a large share of the heap, better left to any arena or huge block. */
#ifndef BM_KEEP_SPARE_CHUNK
#if defined(BM_GEOMETRY_SMALL)
#define BM_KEEP_SPARE_CHUNK 0
#else
#define BM_KEEP_SPARE_CHUNK 1
#endif
#endif

/* Per-chunk page-map pointers (bm_region_t.maps), which let the free fast path read a page's
 * entry with no chunk type test, cost a pointer per chunk in the first chunk's metadata: a
 * 64-bit build of the small geometry (host tests only) would then cover 15 MiB instead of 48,
 * so it keeps the type test instead. */
#ifndef BM_CHUNK_MAPS
#if defined(BM_GEOMETRY_SMALL) && UINTPTR_MAX > 0xffffffffu
#define BM_CHUNK_MAPS 0
#else
#define BM_CHUNK_MAPS 1
#endif
#endif

/* Objects one cache refill or flush moves at most, whatever tcache_batch/tcache_flush say:
 * it bounds the longest call (interrupts stay masked through it). */
#ifndef BM_TCACHE_BATCH_MAX
#if BM_REALTIME
#define BM_TCACHE_BATCH_MAX 4
#else
#define BM_TCACHE_BATCH_MAX 64
#endif
#endif

/* Real-time profile: an arena may keep emptied small runs formatted on their bins (bin.c), up
 * to one page per BM_RETAIN_DIVISOR of its pages, in chunks where something else lives. 0 (the
 * default) keeps none: on the Cortex-M3 trace 16 lowers the means (malloc 120.5 -> 103.3, free
 * 140.2 -> 130.7) but raises the worst free (483 -> 504), and the kept runs change how an
 * exhausted heap packs (docs/REALTIME.md); for a bound the maximum is the figure. */
#ifndef BM_RETAIN_DIVISOR
#define BM_RETAIN_DIVISOR 0
#endif

/* Remote frees through a lock-free inbox per arena (arena.c): a core flushing blocks of another
 * arena pushes them there with one compare-exchange per arena instead of taking that arena's
 * lock, and whoever next takes the lock gives them back to their runs. Off in the real-time
 * profile (a lock holder would give back an unbounded number: the bounds would not hold) and
 * at hardening level 2 (every free goes to its arena's quarantine). */
#ifndef BM_REMOTE_INBOX
#define BM_REMOTE_INBOX (!BM_REALTIME && BM_HARDENING < 2)
#endif

/* Bytes a small class's bin may hold even when that is more than two runs of it; 0: a
 * thirty-second of each core's share of the heap at bm_init, the heap over the square of the
 * core count (8 KiB of a 256 KiB heap on one core, 512 B of a 16 KiB one). */
#ifndef BM_TCACHE_BIN_BYTES
#if defined(BM_GEOMETRY_SMALL)
#define BM_TCACHE_BIN_BYTES 0
#else
#define BM_TCACHE_BIN_BYTES (128u << 10)
#endif
#endif

/* Purging: free runs one sync purge (at an arena unlock) may visit, and pooled chunk spans it
 * may release; free runs per arena and pooled chunk spans bm_maintenance may visit per call.
 * They bound those calls (each span released is one call of the page source's release hook). */
#ifndef BM_PURGE_SYNC_RUNS
#define BM_PURGE_SYNC_RUNS 8
#endif
#ifndef BM_POOL_SYNC_SPANS
#define BM_POOL_SYNC_SPANS 1
#endif
#ifndef BM_MAINT_RUNS
#define BM_MAINT_RUNS 32
#endif
#ifndef BM_MAINT_SPANS
#define BM_MAINT_SPANS 8
#endif

/* bm_stats_print: its stack buffer, the chunks whose runs the heap map lists and the spans
 * (pool, huge, arena chunk) it lists. */
#ifndef BM_STATS_BUF
#define BM_STATS_BUF 256
#endif
#ifndef BM_STATS_MAP_CHUNKS
#define BM_STATS_MAP_CHUNKS 64
#endif
#ifndef BM_STATS_MAP_SPANS
#define BM_STATS_MAP_SPANS 1024
#endif

/* Defaults of the run-time options (the options string overrides each; docs/CTL.md). */
#ifndef BM_DEFAULT_NARENAS
#define BM_DEFAULT_NARENAS 0 /* 0: one arena per core (see README "Arenas") */
#endif
#ifndef BM_DEFAULT_TCACHE
#define BM_DEFAULT_TCACHE 1
#endif
#ifndef BM_DEFAULT_TCACHE_MAX /* bytes: largest size class cached per core */
#if defined(BM_GEOMETRY_SMALL)
/* The 256 B - 1 KiB page-run classes too. Scaling it with the heap as the slots are (3 KiB of
 * a 256 KiB heap) lowered the Cortex-M3 firmware trace's means by 5 instructions, but on the
 * two-core mps2-an521 the large blocks held in the other core's cache, which a failing
 * allocation cannot take back, left no two free chunks for 16-19 KB blocks. */
#define BM_DEFAULT_TCACHE_MAX 1024
#else
#define BM_DEFAULT_TCACHE_MAX 32768
#endif
#endif
/* Cached objects per small and per large class. 0 (the small geometry's default): scaled with
 * each core's share of the heap at bm_init (the heap over the square of the core count, since
 * a failing allocation takes back its own core's cache only), one small slot per 8 KiB within
 * 8-32 and one large slot per 32 KiB within 2-8 (options.c, bm_options_resolve): on the
 * Cortex-M3 firmware trace's 256 KiB heap 32 and 8 nearly halve the means against 8 and 2
 * (docs/REALTIME.md), and a 64 KiB heap keeps 8 and 2. */
#ifndef BM_DEFAULT_TCACHE_SLOTS
#if defined(BM_GEOMETRY_SMALL)
#define BM_DEFAULT_TCACHE_SLOTS 0
#else
#define BM_DEFAULT_TCACHE_SLOTS 256
#endif
#endif
#ifndef BM_DEFAULT_TCACHE_SLOTS_LARGE
#if defined(BM_GEOMETRY_SMALL)
#define BM_DEFAULT_TCACHE_SLOTS_LARGE 0
#else
#define BM_DEFAULT_TCACHE_SLOTS_LARGE 8
#endif
#endif
/* Sync purging spares a dirty run until the arena has taken or given back this many page runs
 * since it became dirty. */
#ifndef BM_DEFAULT_PURGE_AGE
#define BM_DEFAULT_PURGE_AGE 1024
#endif

/* =========================================================================================
 * Part 2: derived. Do not set these.
 * ======================================================================================= */

#if defined(BM_GEOMETRY_SMALL)
#define BM_GEOMETRY_IS_SMALL 1
#if BM_REALTIME
#define BM_CLASSES_SHORT_RUNS 1 /* core/size_classes.h: runs of at most 32 regions */
#endif
#define BM_LG_PAGE 8
#define BM_LG_CHUNK 14
#else
#define BM_GEOMETRY_IS_KERNEL 1
#define BM_LG_PAGE 12
#define BM_LG_CHUNK 21
#endif

#define BM_PAGE ((size_t)1 << BM_LG_PAGE)
#define BM_CHUNK ((size_t)1 << BM_LG_CHUNK)
#define BM_PAGE_MASK (BM_PAGE - 1)
#define BM_CHUNK_MASK (BM_CHUNK - 1)
#define BM_CHUNK_PAGES (BM_CHUNK >> BM_LG_PAGE)
/* Bytes of the chunk header before its page map (tools/gen_size_classes.py assumes 64). */
#define BM_CHUNK_HEADER_FIXED_BYTES 64
/* What the hardening level turns on. */
#undef BM_FREE_CHECKS
#define BM_FREE_CHECKS (BM_HARDENING >= 1)
#define BM_CANARY_BYTES (BM_HARDENING >= 2 ? sizeof(uintptr_t) : 0)
/* The tcache_slots option's upper bound. */
#define BM_TCACHE_SLOTS_MAX 1024

#endif /* BM_CONFIG_H */
