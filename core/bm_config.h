/*
 * Compile-time configuration: geometry and the defaults of every run-time option.
 *
 * Geometry (choose one with -D):
 *   BM_GEOMETRY_KERNEL (default): 4 KiB pages, 2 MiB chunks. For kernels and large heaps.
 *   BM_GEOMETRY_SMALL:            256 B pages, 16 KiB chunks. For microcontroller heaps of
 *                                 tens of KiB: a chunk header is 512 B, the smallest unit a
 *                                 large allocation takes is 256 B.
 */
#ifndef BM_CONFIG_H
#define BM_CONFIG_H

#if defined(BM_GEOMETRY_SMALL)
#define BM_GEOMETRY_IS_SMALL 1
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

/* Free-path checks on the fast path: the pointer lies in an arena chunk of a known region,
 * is the start of a region of its class (division-free test), and is not the block freed
 * just before on this core. Off (-DBM_FREE_CHECKS=0) trusts the caller: a few instructions
 * faster; the arena still checks every pointer that reaches it. */
#ifndef BM_FREE_CHECKS
#define BM_FREE_CHECKS 1
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

/* Page sources (memory nodes) the allocator can manage at once. */
#ifndef BM_MAX_REGIONS
#define BM_MAX_REGIONS 4
#endif

#ifndef BM_MAX_ARENAS
#define BM_MAX_ARENAS 64
#endif

/* Run-time option defaults (each can be changed by the options string). */
#ifndef BM_DEFAULT_NARENAS
#define BM_DEFAULT_NARENAS 0 /* 0: one arena per core (see README "Arenas") */
#endif
#ifndef BM_DEFAULT_TCACHE
#define BM_DEFAULT_TCACHE 1
#endif
/* Bytes a small class's bin may hold even when that is more than two runs of it. */
#ifndef BM_TCACHE_BIN_BYTES
#if defined(BM_GEOMETRY_SMALL)
#define BM_TCACHE_BIN_BYTES 0
#else
#define BM_TCACHE_BIN_BYTES (128u << 10)
#endif
#endif
#if defined(BM_GEOMETRY_SMALL)
/* Caching the 256 B - 1 KiB page-run classes too (two blocks each, at most 5 KiB held) takes
 * a quarter of a typical firmware trace off the arena path: about -20% instructions per call
 * on the Cortex-M3 trace of bench/guest. A failed allocation flushes the cache and retries. */
#define BM_DEFAULT_TCACHE_MAX 1024 /* bytes: largest size class cached per core */
#define BM_DEFAULT_TCACHE_SLOTS 8  /* cached objects per small class */
#define BM_DEFAULT_TCACHE_SLOTS_LARGE 2
#else
#define BM_DEFAULT_TCACHE_MAX 32768
#define BM_DEFAULT_TCACHE_SLOTS 256 /* a batch of 1024 blocks of 8-512 B stays in the cache */
#define BM_DEFAULT_TCACHE_SLOTS_LARGE 8 /* cached objects per large class */
#endif
#define BM_TCACHE_SLOTS_MAX 1024
/* Objects one cache refill or flush moves at most, whatever tcache_batch/tcache_flush say:
 * it bounds the longest call (interrupts stay masked through it). 128-object refills of the
 * 256-slot bins cost up to 6300 instructions on AArch64; 64 halves that. */
#ifndef BM_TCACHE_BATCH_MAX
#define BM_TCACHE_BATCH_MAX 64
#endif
/* Sync purging spares a dirty run until the arena has taken or given back this many page runs
 * since it became dirty. With dirty_max 10% (options.c) and dirty pages counted exactly
 * (arena.c): bench/mixed_realloc 1.2 -> 1.8 Mops against 256 and 25%, churn peak RSS 105.5 ->
 * 106.8 MiB, under jemalloc's 109 (2048: 2.8 Mops but 110.8 MiB). */
#ifndef BM_DEFAULT_PURGE_AGE
#define BM_DEFAULT_PURGE_AGE 1024
#endif

#endif /* BM_CONFIG_H */
