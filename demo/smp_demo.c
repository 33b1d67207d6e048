/*
 * The SMP demo (`make run`): every core allocates and frees small blocks at the same time,
 * and hands a third of its blocks to the next core, which frees them. At the end each core's
 * cache is flushed and the demo prints, per core, what happened in the allocator: how many
 * allocations its cache served without a lock, how many refills and flushes took an arena
 * lock, how many blocks went back to another core's arena; then per arena the lock
 * acquisitions and how many had to wait; then the allocator's own statistics report.
 * Runs on any board (boards/board.h), printing with board_printf (boards/common/print.c).
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
    unsigned long mallocs, frees, handed, received;
    volatile int done;
} demo_core_t;

static demo_core_t demo[GUEST_MAX_CORES];
static unsigned demo_cores;
static volatile unsigned demo_started, demo_finished;

static uint64_t ctl_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof v;
    return bm_ctl(name, &v, &len, NULL, 0) == 0 ? v : 0;
}

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
            bool hand = guest_random(&rng) % 3 == 0 && demo_cores > 1 &&
                        me->head - __atomic_load_n(&me->tail, __ATOMIC_ACQUIRE) < RING;
            if (hand) {
                me->ring[me->head % RING] = live[slot];
                __atomic_store_n(&me->head, me->head + 1, __ATOMIC_RELEASE);
                me->handed++;
            } else {
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

static void demo_secondary(unsigned core) {
    if (core < demo_cores) {
        __atomic_fetch_add(&demo_started, 1, __ATOMIC_ACQ_REL);
        demo_work(core);
    }
    for (;;)
        bm_port_cpu_relax();
}

static void console_write(void *opaque, const char *text) {
    (void)opaque;
    board_printf("%s", text);
}

int guest_main(void) {
    demo_cores = board_core_count() < GUEST_MAX_CORES ? board_core_count() : GUEST_MAX_CORES;
    board_printf("baremalloc SMP demo on %s: %u cores, heap %zu KiB\n", board_name(), demo_cores,
                 guest_heap_size() >> 10);
    board_printf("each core: %u malloc+free pairs of 16..512 B, a third of its blocks freed by the next core\n",
                 DEMO_OPS);
    bm_free(bm_malloc(1)); /* initialise before the others start */
    board_start_secondaries(demo_secondary);
    demo_work(0);
    while (__atomic_load_n(&demo_finished, __ATOMIC_ACQUIRE) < demo_cores)
        bm_port_cpu_relax();

    board_printf("\ncore  mallocs   cache hits  hit %%  refills  flushes  cross-core frees (handed/received/to other arena)\n");
    unsigned long total_mallocs = 0, total_misses = 0;
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
        board_printf("%4u  %7lu  %11lu  %4lu   %6lu   %6lu   %lu/%lu/%lu\n", c, demo[c].mallocs, hits,
                     hits * 100 / (demo[c].mallocs ? demo[c].mallocs : 1), (unsigned long)fills,
                     (unsigned long)flushes, demo[c].handed, demo[c].received, (unsigned long)cross);
        total_mallocs += demo[c].mallocs;
        total_misses += (unsigned long)misses;
    }
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
    board_printf("\n%lu allocations, %lu (%lu%%) served by a per-core cache without a lock\n", total_mallocs,
                 total_mallocs - total_misses, (total_mallocs - total_misses) * 100 / (total_mallocs ? total_mallocs : 1));

    board_printf("\n--- allocator statistics (bm_stats_print) ---\n");
    bm_stats_print(console_write, NULL, NULL);
    unsigned errors = bm_check();
    uint64_t allocated = ctl_u64("stats.allocated");
    board_printf("\nbm_check: %u problems; bytes still allocated: %lu\n", errors, (unsigned long)allocated);
    bool ok = errors == 0 && allocated == 0;
    board_printf("%u passed, %u failed\n", ok ? 1u : 0u, ok ? 0u : 1u);
    return ok ? 0 : 1;
}
