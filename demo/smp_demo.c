/*
 * The SMP demo (`make run`): every core allocates and frees small blocks at the same time,
 * and offers one block in three that it would free to the next core, through a hand-off ring
 * of RING blocks, for that core to free; when the ring is full (the next core has not emptied
 * it yet) the core frees the block itself. So the share of blocks the next core frees is
 * measured, not fixed: it depends on how far the cores drift apart, and QEMU runs the guest's
 * cores as host threads that the host deschedules (measured on a 2-CPU host with 4 cores, seven
 * runs: 2.1-8.6% of the blocks freed by the next core with this ring, 74-94% of the offers
 * finding it full; with a ring of 65536 blocks, 33.3%). At the end each core's cache is flushed
 * and the demo prints, per core, what happened in the allocator: how many allocations its
 * cache served without a lock, how many refills and flushes took an arena lock, how many of
 * its blocks the next core freed, how many blocks went back to another core's arena; then per
 * arena the lock acquisitions and how many had to wait; then the allocator's own statistics
 * report. Runs on any board (boards/board.h), printing with board_printf
 * (boards/common/print.c).
 */
#include <stdint.h>

#include "baremalloc.h"
#include "board.h"
#include "guest.h"

#define DEMO_OPS 200000 /* malloc + free pairs per core */
#define DEMO_LIVE 64    /* blocks a core keeps live */
#define RING 256        /* hand-off ring per core (single producer, single consumer) */

typedef struct demo_core {
    void *ring[RING];
    unsigned head, tail; /* producer writes head, consumer (the next core) writes tail */
    /* mallocs: bm_malloc calls; frees: bm_free calls (its own blocks and received ones);
     * handed: its blocks the next core freed; ring_full: blocks offered to the next core that
     * it freed itself, the ring being full; received: the previous core's blocks it freed */
    unsigned long mallocs, frees, handed, ring_full, received;
    volatile int done;
} demo_core_t;

static demo_core_t demo[GUEST_MAX_CORES];
static unsigned demo_cores;
static volatile unsigned demo_started, demo_finished;

/* A uint64_t statistic read through bm_ctl by name, 0 if it does not exist. O(length of name). */
static uint64_t ctl_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof v;
    return bm_ctl(name, &v, &len, NULL, 0) == 0 ? v : 0;
}

/* buf = prefix, index in decimal, suffix (a statistic's name, e.g. stats.cores.2.nfills); buf
 * must hold them. O(length). */
static void ctl_name(char *buf, const char *prefix, unsigned index, const char *suffix) {
    unsigned n = 0;
    while (*prefix)
        buf[n++] = *prefix++;
    char digits[12];
    unsigned d = 0;
    do
        digits[d++] = (char)('0' + index % 10);
    while ((index /= 10));
    while (d)
        buf[n++] = digits[--d];
    while (*suffix)
        buf[n++] = *suffix++;
    buf[n] = 0;
}

/* percent * 10 of part in whole (0 for an empty whole), for a "%lu.%lu%%" figure. O(1). */
static unsigned long per_mille(unsigned long part, unsigned long whole) {
    return whole ? (unsigned long)((unsigned long long)part * 1000 / whole) : 0;
}

/* One core's workload: DEMO_OPS allocations into DEMO_LIVE slots at random, each replacing the
 * slot's block, which is freed here or offered (one in three) to the next core through this
 * core's ring; before every allocation it frees what the previous core handed over. Then it
 * frees its live blocks, drains the previous core's ring until that core is done, and flushes
 * its cache. O(DEMO_OPS) allocator calls. */
static void demo_work(unsigned core) {
    demo_core_t *me = &demo[core], *from = &demo[(core + demo_cores - 1) % demo_cores];
    void *live[DEMO_LIVE] = {0};
    uint32_t rng = 0x9E3779B9u * (core + 1);
    for (unsigned long op = 0; op < DEMO_OPS; op++) {
        /* free what the previous core handed over */
        while (from->tail != __atomic_load_n(&from->head, __ATOMIC_ACQUIRE)) {
            bm_free(from->ring[from->tail % RING]);
            __atomic_store_n(&from->tail, from->tail + 1, __ATOMIC_RELEASE);
            me->received++;
            me->frees++;
        }
        unsigned slot = guest_random(&rng) % DEMO_LIVE;
        if (live[slot]) {
            bool offer = guest_random(&rng) % 3 == 0 && demo_cores > 1;
            bool room = me->head - __atomic_load_n(&me->tail, __ATOMIC_ACQUIRE) < RING;
            if (offer && room) {
                me->ring[me->head % RING] = live[slot];
                __atomic_store_n(&me->head, me->head + 1, __ATOMIC_RELEASE);
                me->handed++;
            } else {
                if (offer)
                    me->ring_full++;
                bm_free(live[slot]);
                me->frees++;
            }
        }
        live[slot] = bm_malloc(16 + guest_random(&rng) % 497);
        me->mallocs++;
    }
    for (unsigned i = 0; i < DEMO_LIVE; i++)
        if (live[i]) {
            bm_free(live[i]);
            me->frees++;
        }
    me->done = 1;
    /* keep draining until the previous core is done and its ring is empty */
    while (!from->done || from->tail != __atomic_load_n(&from->head, __ATOMIC_ACQUIRE)) {
        if (from->tail != __atomic_load_n(&from->head, __ATOMIC_ACQUIRE)) {
            bm_free(from->ring[from->tail % RING]);
            __atomic_store_n(&from->tail, from->tail + 1, __ATOMIC_RELEASE);
            me->received++;
            me->frees++;
        }
    }
    bm_cache_flush();
    __atomic_fetch_add(&demo_finished, 1, __ATOMIC_ACQ_REL);
}

/* Entry of the other cores (board_start_secondaries): the workload, then idle for ever. */
static void demo_secondary(unsigned core) {
    if (core < demo_cores) {
        __atomic_fetch_add(&demo_started, 1, __ATOMIC_ACQ_REL);
        demo_work(core);
    }
    for (;;)
        bm_port_cpu_relax();
}

/* bm_stats_print's writer: the text to the board's console. */
static void console_write(void *opaque, const char *text) {
    (void)opaque;
    board_printf("%s", text);
}

/* Runs the workload on every core, then prints the per-core table with a sentence per column,
 * the arenas' lock counts, the totals and the statistics report; 0 if bm_check finds nothing
 * and no byte is still allocated. */
int guest_main(void) {
    demo_cores = board_core_count() < GUEST_MAX_CORES ? board_core_count() : GUEST_MAX_CORES;
    board_printf("baremalloc SMP demo on %s: %u cores, heap %zu KiB\n", board_name(), demo_cores,
                 guest_heap_size() >> 10);
    board_printf("each core: %u malloc+free pairs of 16..512 B; one block in three that it frees is offered to\n"
                 "the next core to free instead, through a ring of %u blocks (if the ring is full, the core frees\n"
                 "the block itself, so the share the next core frees is measured below, not fixed)\n",
                 DEMO_OPS, RING);
    bm_free(bm_malloc(1)); /* initialise before the others start */
    board_start_secondaries(demo_secondary);
    demo_work(0);
    while (__atomic_load_n(&demo_finished, __ATOMIC_ACQUIRE) < demo_cores)
        bm_port_cpu_relax();

    board_printf("\ncore  mallocs  cache hits  hit %%  refills  flushes   handed  handed %%  ring full  received"
                 "  to other arena\n");
    unsigned long total_mallocs = 0, total_misses = 0, total_handed = 0, total_ring_full = 0;
    for (unsigned c = 0; c < demo_cores; c++) {
        char name[64];
        ctl_name(name, "stats.cores.", c, ".nmisses");
        uint64_t misses = ctl_u64(name);
        ctl_name(name, "stats.cores.", c, ".nfills");
        uint64_t fills = ctl_u64(name);
        ctl_name(name, "stats.cores.", c, ".nflushes");
        uint64_t flushes = ctl_u64(name);
        ctl_name(name, "stats.cores.", c, ".cross_frees");
        uint64_t cross = ctl_u64(name);
        unsigned long hits = demo[c].mallocs - (unsigned long)misses;
        unsigned long hit = per_mille(hits, demo[c].mallocs), handed = per_mille(demo[c].handed, demo[c].mallocs);
        board_printf("%4u  %7lu  %10lu  %3lu.%lu  %7lu  %7lu  %7lu  %5lu.%lu%%  %9lu  %8lu  %14lu\n", c,
                     demo[c].mallocs, hits, hit / 10, hit % 10, (unsigned long)fills, (unsigned long)flushes,
                     demo[c].handed, handed / 10, handed % 10, demo[c].ring_full, demo[c].received,
                     (unsigned long)cross);
        total_mallocs += demo[c].mallocs;
        total_misses += (unsigned long)misses;
        total_handed += demo[c].handed;
        total_ring_full += demo[c].ring_full;
    }
    board_printf("  core: the core's number.\n"
                 "  mallocs: its bm_malloc calls; by the end every block is freed, by this core or the next.\n"
                 "  cache hits, hit %%: allocations its per-core cache served without taking a lock, and their\n"
                 "    share of its mallocs.\n"
                 "  refills: times an empty cache bin took a batch of blocks from an arena, under the arena's lock.\n"
                 "  flushes: times a full cache bin gave a batch of blocks back to the arenas, under their locks.\n"
                 "  handed, handed %%: its blocks the next core freed, and their share of its mallocs (about 33%%\n"
                 "    if the ring never filled).\n"
                 "  ring full: blocks offered to the next core that it freed itself, the ring holding %u blocks\n"
                 "    the next core had not freed yet.\n"
                 "  received: the previous core's blocks it freed (the previous core's handed).\n"
                 "  to other arena: blocks its cache flushed to another core's arena (received blocks go into\n"
                 "    this core's cache; those it does not reuse go back to the arena they came from).\n",
                 RING);
    board_printf("\narena  lock acquisitions  contended\n");
    unsigned narenas = 0;
    size_t len = sizeof narenas;
    bm_ctl("arenas.narenas", &narenas, &len, NULL, 0);
    for (unsigned a = 0; a < narenas; a++) {
        char name[64];
        ctl_name(name, "stats.arenas.", a, ".lock.acquisitions");
        uint64_t acq = ctl_u64(name);
        ctl_name(name, "stats.arenas.", a, ".lock.contended");
        board_printf("%5u  %17lu  %9lu\n", a, (unsigned long)acq, (unsigned long)ctl_u64(name));
    }
    unsigned long hit = per_mille(total_mallocs - total_misses, total_mallocs);
    unsigned long handed = per_mille(total_handed, total_mallocs);
    unsigned long full = per_mille(total_ring_full, total_handed + total_ring_full);
    board_printf("\n%lu allocations, %lu (%lu.%lu%%) served by a per-core cache without a lock\n", total_mallocs,
                 total_mallocs - total_misses, hit / 10, hit % 10);
    if (demo_cores > 1)
        board_printf("%lu blocks (%lu.%lu%% of all) freed by the next core; %lu of the %lu offered (%lu.%lu%%) "
                     "found the\nnext core's ring full and were freed by their own core: the next core had fallen "
                     "%u blocks (about\n%u steps) behind, as it empties the ring only while QEMU has it on a "
                     "host CPU\n",
                     total_handed, handed / 10, handed % 10, total_ring_full, total_handed + total_ring_full,
                     full / 10, full % 10, RING, 3 * RING);

    board_printf("\n--- allocator statistics (bm_stats_print) ---\n");
    bm_stats_print(console_write, NULL, NULL);
    unsigned errors = bm_check();
    uint64_t allocated = ctl_u64("stats.allocated");
    board_printf("\nbm_check: %u problems; bytes still allocated: %lu\n", errors, (unsigned long)allocated);
    bool ok = errors == 0 && allocated == 0;
    board_printf("%u passed, %u failed\n", ok ? 1u : 0u, ok ? 0u : 1u);
    return ok ? 0 : 1;
}
