/*
 * Kernel API cases on every core (issue 15), each one guest_on_every_core round after the SMP
 * stress: core 0 checks what the cores did while the others wait with their interrupts masked
 * (guest_core0_alone inside a round, and after it).
 *
 *  - Object caches: three caches of different sizes (one zeroing, one 64-byte aligned); every
 *    core holds objects of each, core 0 validates the heap with them live and sees a destroy
 *    refused (BM_EBUSY) and wrong-cache frees reported; then every core churns objects, handing
 *    some to the next core to free (cross-core frees); at the end no object is live, the
 *    statistics match the cores' counts and every destroy succeeds.
 *  - bm_add_source: core 0 adds a second region (a static array, on memory node 1, grown through
 *    a counting grow hook) while the other cores allocate, creates an arena on that node, and
 *    every core then allocates from it; the node statistics show the region, NOGROW never calls
 *    its grow hook while a plain request does, and overlapping or bad re-adds are refused.
 *  - BM_MALLOCX_NOGROW: every core allocates with it (with ZERO and ALIGN too), with cross-core
 *    frees, and so does each core's timer interrupt where the board has one
 *    (board_set_timer_hook: mps2-an521's SysTick); every request succeeds while the heap has
 *    room, and no grow hook runs (the granted bytes of every node stay put).
 * Iteration counts scale with GUEST_SMP_OPS (GUEST_KERNEL_OPS), so slow boards stay quick.
 */
#include "baremalloc.h"
#include "bm_port.h"
#include "board.h"
#include "guest.h"

#ifndef GUEST_KERNEL_OPS
#define GUEST_KERNEL_OPS (GUEST_SMP_OPS / 10) /* rounds per core in each churn */
#endif

/* ---- handing blocks to the next core ----------------------------------------------------- */

/* Power of two. A full ring makes the sender wait for its receiver, which under QEMU's
 * round-robin vCPUs (-icount) means until the receiver's next time slice: a large ring keeps
 * that rare. */
#define HANDOFF_SLOTS 256u

struct handoff {
    void *ptr;
    size_t size;
    uint32_t tag;
    unsigned kind; /* object cache index, or how the NOGROW case frees the block */
};

/* From core i to core i + 1 (mod the active cores): single producer, single consumer, lock-free,
 * so the test adds no lock of its own to the allocator's. */
struct handoff_ring {
    _Alignas(64) unsigned head; /* next slot to read; written by the receiver only */
    _Alignas(64) unsigned tail; /* next slot to write; written by the sender only */
    _Alignas(64) size_t bytes;  /* of the blocks in it: added by the sender, taken by the receiver */
    _Alignas(64) struct handoff slots[HANDOFF_SLOTS];
};

static struct handoff_ring rings[GUEST_MAX_CORES]; /* [sender] */
static unsigned senders_done;                       /* reset by core 0 before each case */

typedef void (*release_fn)(unsigned id, const struct handoff *block);

static unsigned handoff_receive(unsigned id, release_fn release);

/* Queues block for the next core to free; false on one core. While the ring is full (its slots,
 * or its share of the heap) it waits, freeing what the previous core hands over meanwhile
 * (counted in *received), so every core keeps draining its own ring and a full circle of rings
 * cannot stall: a descheduled receiver delays the sender instead of turning its cross-core frees
 * into local ones. */
static bool handoff_send(unsigned id, const struct handoff *block, release_fn release, unsigned long *received) {
    unsigned cores = guest_active_cores();
    if (cores < 2)
        return false;
    struct handoff_ring *ring = &rings[id];
    /* What the rings hold stays a small share of the heap (an eighth over all of them): blocks in
     * flight must not be why an allocation fails on a small heap. */
    size_t limit = guest_heap_size() / (8 * cores);
    unsigned tail = ring->tail;
    for (;;) {
        size_t bytes = __atomic_load_n(&ring->bytes, __ATOMIC_RELAXED);
        if (tail - __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) < HANDOFF_SLOTS &&
            (bytes == 0 || bytes + block->size <= limit))
            break;
        *received += handoff_receive(id, release);
        bm_port_cpu_relax();
    }
    __atomic_add_fetch(&ring->bytes, block->size, __ATOMIC_RELAXED);
    ring->slots[tail % HANDOFF_SLOTS] = *block;
    __atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
    return true;
}

/* O(blocks waiting). Frees, through release, every block the previous core handed over; returns
 * how many. */
static unsigned handoff_receive(unsigned id, release_fn release) {
    unsigned n = guest_active_cores();
    if (n < 2)
        return 0;
    struct handoff_ring *ring = &rings[(id + n - 1) % n];
    unsigned head = ring->head, tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE), got = 0;
    for (; head != tail; head++, got++) {
        const struct handoff *block = &ring->slots[head % HANDOFF_SLOTS];
        release(id, block);
        __atomic_sub_fetch(&ring->bytes, block->size, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return got;
}

/* The end of a churn, after the core freed its own blocks: receives until every core has sent
 * its last block; returns how many it received. Spins while the previous core is behind. */
static unsigned handoff_drain(unsigned id, release_fn release) {
    __atomic_add_fetch(&senders_done, 1, __ATOMIC_RELEASE);
    unsigned got = 0;
    for (;;) {
        bool all_sent = __atomic_load_n(&senders_done, __ATOMIC_ACQUIRE) == guest_active_cores();
        got += handoff_receive(id, release);
        if (all_sent)
            return got;
        bm_port_cpu_relax();
    }
}

/* ---- bm_ctl helpers ---------------------------------------------------------------------- */

/* O(name). Reads name (a value of len bytes) with its first index (mib[2]) replaced by index;
 * bm_ctl's error code. Through a MIB, as a kernel would read a counter often. */
static int ctl_read_at(const char *name, unsigned index, void *value, size_t len) {
    size_t mib[BM_CTL_MIB_LEN], miblen = BM_CTL_MIB_LEN;
    int err = bm_ctl_nametomib(name, mib, &miblen);
    if (err)
        return err;
    mib[2] = index;
    return bm_ctl_bymib(mib, miblen, value, &len, NULL, 0);
}

/* O(name). A size_t statistic (first index index); 0 and a failure if it cannot be read. */
static size_t ctl_size_at(const char *name, unsigned index) {
    size_t value = 0;
    EXPECT(ctl_read_at(name, index, &value, sizeof value) == 0);
    return value;
}

/* O(name). A size_t (ctl_unsigned: an unsigned) by name; 0 and a failure if it cannot be read. */
static size_t ctl_size(const char *name) {
    size_t value = 0, len = sizeof value;
    EXPECT(bm_ctl(name, &value, &len, NULL, 0) == 0);
    return value;
}

static unsigned ctl_unsigned(const char *name) {
    unsigned value = 0;
    size_t len = sizeof value;
    EXPECT(bm_ctl(name, &value, &len, NULL, 0) == 0);
    return value;
}

/* O(1) plus a snapshot of the totals: later stats.* snapshot reads see the heap as it is now. */
static void ctl_refresh(void) {
    uint64_t epoch = 1;
    EXPECT(bm_ctl("epoch", NULL, NULL, &epoch, sizeof epoch) == 0);
}

/* O(length). Whether two NUL-terminated strings are equal (no libc here). */
static bool same_text(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* ---- object caches ----------------------------------------------------------------------- */

#define OC_CACHES 3
#define OC_HELD 12  /* objects of each cache every core holds while core 0 checks */
#define OC_SLOTS 48 /* objects a core holds at most during the churn */

static const struct oc_spec {
    const char *name;
    size_t size, align;
    int flags;
} oc_specs[OC_CACHES] = {
    {"guest-node", 24, 0, 0},
    {"guest-msg", 56, 0, BM_OBJCACHE_ZERO},
    {"guest-desc", 120, 64, 0},
};

static bm_objcache_t *oc_caches[OC_CACHES];
static unsigned oc_index[OC_CACHES]; /* i of stats.objcaches.<i>.* and objcache.<i>.name */

struct oc_core_stats {
    _Alignas(64) unsigned long allocs[OC_CACHES];
    unsigned long frees[OC_CACHES]; /* by this core: its own objects and those it received */
    unsigned long sent, received, failed;
};

static struct oc_core_stats oc_stats[GUEST_MAX_CORES];

/* O(size). Checks an object's pattern and gives it back to its cache (a handoff_receive
 * release too). */
static void oc_release(unsigned id, const struct handoff *object) {
    case_pattern_check(object->ptr, object->size, case_pattern_seed(object->ptr, object->tag), false);
    bm_objcache_free(oc_caches[object->kind], object->ptr);
    oc_stats[id].frees[object->kind]++;
}

/* O(size). An object of cache c into *slot: checked for alignment (and zeroes, for the zeroing
 * cache) and filled with its pattern. false if the cache gave none. */
static bool oc_take(unsigned id, unsigned c, uint32_t tag, struct handoff *slot) {
    const struct oc_spec *spec = &oc_specs[c];
    void *p = bm_objcache_alloc(oc_caches[c]);
    if (!EXPECT(p != NULL)) {
        oc_stats[id].failed++;
        return false;
    }
    size_t align = spec->align ? spec->align : sizeof(void *);
    EXPECT(((uintptr_t)p & (align - 1)) == 0);
    if (spec->flags & BM_OBJCACHE_ZERO)
        EXPECT(case_all_zero(p, spec->size));
    case_pattern_fill(p, spec->size, case_pattern_seed(p, tag), false);
    *slot = (struct handoff){p, spec->size, tag, c};
    oc_stats[id].allocs[c]++;
    return true;
}

/* O(1) (a bm_ctl read). Cache c's live objects by the statistics (nalloc - nfree). */
static size_t oc_live(unsigned c) { return ctl_size_at("stats.objcaches.0.live", oc_index[c]); }

/* Core 0 while every core holds OC_HELD objects of each cache (held: core 0's, by cache): the
 * statistics count them, the validator finds the heap consistent (runs of one cache hold only its
 * objects: bm_check checks each run's owner), a destroy is refused and wrong frees are reported,
 * and none of that changed anything. O(heap) for bm_check. */
static void oc_check_while_live(void *arg) {
    const struct handoff *held = arg;
    size_t expected = (size_t)guest_active_cores() * OC_HELD;
    for (unsigned c = 0; c < OC_CACHES; c++)
        EXPECT(oc_live(c) == expected);
    EXPECT(bm_check() == 0);

    case_errors_begin();
    EXPECT(bm_objcache_destroy(oc_caches[0]) == BM_EBUSY);
    EXPECT(case_errors_end(1));
    case_errors_begin(); /* an object of cache 0 given to cache 1 */
    bm_objcache_free(oc_caches[1], held[0].ptr);
    EXPECT(case_errors_end(1));
    case_errors_begin(); /* an object cache's object given to bm_free */
    bm_free(held[2 * OC_HELD].ptr);
    EXPECT(case_errors_end(1));

    for (unsigned c = 0; c < OC_CACHES; c++) /* every refused call left the objects live */
        EXPECT(oc_live(c) == expected);
    for (unsigned i = 0; i < OC_CACHES * OC_HELD; i++)
        case_pattern_check(held[i].ptr, held[i].size, case_pattern_seed(held[i].ptr, held[i].tag), false);
    EXPECT(bm_check() == 0);
}

/* Every core: OC_HELD objects of each cache, core 0's check, then GUEST_KERNEL_OPS rounds of
 * allocating and freeing at random, half the frees handed to the next core. O(rounds). */
static void oc_core(unsigned id) {
    struct handoff live[OC_SLOTS];
    __builtin_memset(live, 0, sizeof live);
    uint32_t rng = 0x6A09E667u ^ (id * 0x9E3779B9u), tag = (uint32_t)id << 24;
    for (unsigned c = 0; c < OC_CACHES; c++)
        for (unsigned k = 0; k < OC_HELD; k++)
            oc_take(id, c, tag++, &live[c * OC_HELD + k]);
    guest_core0_alone(id, oc_check_while_live, live);

    for (unsigned round = 0; round < GUEST_KERNEL_OPS && guest_failure_count() <= 100; round++) {
        if (round % 2 == 0)
            oc_stats[id].received += handoff_receive(id, oc_release);
        struct handoff *slot = &live[guest_random_below(&rng, OC_SLOTS)];
        if (!slot->ptr) {
            oc_take(id, (unsigned)guest_random_below(&rng, OC_CACHES), tag++, slot);
            continue;
        }
        if ((guest_random(&rng) & 1) && handoff_send(id, slot, oc_release, &oc_stats[id].received))
            oc_stats[id].sent++;
        else
            oc_release(id, slot);
        slot->ptr = NULL;
    }
    for (unsigned i = 0; i < OC_SLOTS; i++)
        if (live[i].ptr)
            oc_release(id, &live[i]);
    oc_stats[id].received += handoff_drain(id, oc_release);
    bm_cache_flush(); /* as the SMP stress: what the cases leave cached pins no run */
}

/* O(caches x objcache.max). Creates the caches and finds each one's index by its name. */
static bool oc_create(void) {
    size_t size_max = ctl_size("objcache.size_max");
    unsigned max = ctl_unsigned("objcache.max");
    for (unsigned c = 0; c < OC_CACHES; c++) {
        const struct oc_spec *spec = &oc_specs[c];
        if (!EXPECT(spec->size <= size_max))
            return false;
        oc_caches[c] = bm_objcache_create(spec->name, spec->size, spec->align, spec->flags);
        if (!EXPECT(oc_caches[c] != NULL))
            return false;
        oc_index[c] = max;
        for (unsigned i = 0; i < max; i++) {
            const char *name = NULL;
            if (ctl_read_at("objcache.0.name", i, &name, sizeof name) == 0 && same_text(name, spec->name))
                oc_index[c] = i;
        }
        if (!EXPECT(oc_index[c] < max) || !EXPECT(oc_live(c) == 0))
            return false;
    }
    return true;
}

/* See guest.h. O(GUEST_KERNEL_OPS) per core, plus bm_check (O(heap)) three times. */
void guest_kernel_objcaches(void) {
    unsigned cores = guest_active_cores();
    __builtin_memset(oc_stats, 0, sizeof oc_stats);
    senders_done = 0;
    if (!oc_create())
        return;
    guest_on_every_core(oc_core);

    unsigned long allocs = 0, frees = 0, sent = 0, received = 0;
    for (unsigned c = 0; c < OC_CACHES; c++) {
        unsigned long cache_allocs = 0, cache_frees = 0;
        for (unsigned id = 0; id < cores; id++) {
            cache_allocs += oc_stats[id].allocs[c];
            cache_frees += oc_stats[id].frees[c];
        }
        uint64_t nalloc = 0, nfree = 0;
        EXPECT(ctl_read_at("stats.objcaches.0.nalloc", oc_index[c], &nalloc, sizeof nalloc) == 0);
        EXPECT(ctl_read_at("stats.objcaches.0.nfree", oc_index[c], &nfree, sizeof nfree) == 0);
        EXPECT(cache_allocs == cache_frees);
        EXPECT(nalloc == cache_allocs); /* the cores' counts and the cache's agree */
        EXPECT(nfree == cache_frees);
        EXPECT(oc_live(c) == 0);
        allocs += cache_allocs;
        frees += cache_frees;
    }
    for (unsigned id = 0; id < cores; id++) {
        EXPECT(oc_stats[id].failed == 0);
        sent += oc_stats[id].sent;
        received += oc_stats[id].received;
    }
    board_printf("  object caches: %u cores, %lu objects of %u caches, %lu freed by another core\n",
                 cores, allocs, (unsigned)OC_CACHES, received);
    EXPECT(sent == received);
    if (cores > 1) /* half the churn's frees go to the next core */
        EXPECT(received * 4 >= frees);
    EXPECT(bm_check() == 0);

    case_errors_begin();
    for (unsigned c = 0; c < OC_CACHES; c++) {
        EXPECT(bm_objcache_destroy(oc_caches[c]) == 0);
        size_t live = 0;
        EXPECT(ctl_read_at("stats.objcaches.0.live", oc_index[c], &live, sizeof live) == BM_ENOENT);
    }
    EXPECT(case_errors_end(0));
    case_errors_begin();
    EXPECT(bm_objcache_destroy(oc_caches[0]) == BM_EINVAL); /* already destroyed: reported */
    EXPECT(case_errors_end(1));
    EXPECT(bm_check() == 0);
}

/* ---- bm_add_source while the other cores allocate --------------------------------------- */

/* The chunk size of the geometry the guest is built with (core/bm_config.h; checked against
 * arenas.chunk at run time), and the region: chunk-aligned, a few whole chunks. */
#if defined(BM_GEOMETRY_SMALL)
#define REGION_CHUNK ((size_t)16 << 10)
#define REGION_CHUNKS 3
#else
#define REGION_CHUNK ((size_t)2 << 20)
#define REGION_CHUNKS 2
#endif
#define REGION_NODE 1u /* its own memory node: only an arena of that node draws from it first */
#define AS_SLOTS 16
#define AS_MIN_OPS 64u /* operations each other core has done before core 0 adds the region */

static _Alignas(REGION_CHUNK) unsigned char region_memory[REGION_CHUNKS * REGION_CHUNK];
static unsigned char tiny_memory[64]; /* holds no whole chunk */

/* The region's grow hook state: bytes granted so far (from region_memory's start) and calls. */
static size_t region_granted;
static unsigned region_grow_calls;

/* The grow hook (bm_page_source_t.grow, sbrk-like): the next incr bytes of the array, or NULL
 * past its end. Counts every call. Under the pool lock with interrupts masked: O(1), no lock. */
static void *region_grow(void *ctx, size_t incr) {
    (void)ctx;
    __atomic_add_fetch(&region_grow_calls, 1, __ATOMIC_RELAXED);
    size_t old = region_granted;
    if (incr > sizeof region_memory - old)
        return NULL;
    __atomic_store_n(&region_granted, old + incr, __ATOMIC_RELAXED);
    return region_memory + old;
}

static const bm_page_source_t region_source = {region_memory, sizeof region_memory, region_grow, NULL, NULL,
                                               REGION_NODE};

/* O(1). Calls of the region's grow hook so far. */
static unsigned grow_calls(void) { return __atomic_load_n(&region_grow_calls, __ATOMIC_RELAXED); }

/* O(1). Whether [p, p + size) lies inside region_memory. */
static bool in_region(const void *p, size_t size) {
    uintptr_t start = (uintptr_t)region_memory, at = (uintptr_t)p;
    return at >= start && at - start <= sizeof region_memory && size <= sizeof region_memory - (at - start);
}

enum { AS_PENDING, AS_READY, AS_FAILED };
static unsigned as_state;                   /* AS_*: what core 0's add came to */
static int as_add_status, as_create_status; /* bm_add_source's, arenas.create's */
static unsigned as_arena;                   /* the arena created on REGION_NODE */
static unsigned long as_ops_during_add;     /* other cores' operations while the add ran */

struct as_core_stats {
    _Alignas(64) unsigned long ops; /* read by core 0 while this core runs */
    unsigned long arena_allocs, arena_inside, failed;
};

static struct as_core_stats as_stats[GUEST_MAX_CORES];

/* O(block size). Checks and frees a live block: kind 1, a block of the new arena, straight back
 * to it (NOCACHE); else through the core's cache. */
static void as_release(struct handoff *block) {
    case_pattern_check(block->ptr, block->size, case_pattern_seed(block->ptr, block->tag), false);
    if (block->kind == 1)
        bm_sdallocx(block->ptr, block->size, BM_MALLOCX_NOCACHE);
    else
        bm_free(block->ptr);
    block->ptr = NULL;
}

/* O(block size). One round: frees or allocates at a random slot. from_arena: a third of the
 * allocations come from the new arena, and each must lie inside the new region. */
static void as_round(unsigned id, uint32_t *rng, uint32_t *tag, struct handoff *live, bool from_arena) {
    struct as_core_stats *s = &as_stats[id];
    struct handoff *block = &live[guest_random_below(rng, AS_SLOTS)];
    __atomic_store_n(&s->ops, s->ops + 1, __ATOMIC_RELAXED);
    if (block->ptr) {
        as_release(block);
        return;
    }
    static const size_t arena_sizes[3] = {32, 64, 160}; /* few classes: the arena's runs stay small */
    bool arena = from_arena && guest_random_below(rng, 3) == 0;
    size_t size = arena ? arena_sizes[guest_random_below(rng, 3)] : 1 + guest_random_below(rng, 512);
    void *p = arena ? bm_mallocx(size, BM_MALLOCX_ARENA(as_arena)) : bm_malloc(size);
    if (!EXPECT(p != NULL)) {
        s->failed++;
        return;
    }
    if (arena) {
        s->arena_allocs++;
        if (EXPECT(in_region(p, size)))
            s->arena_inside++;
    }
    *block = (struct handoff){p, size, (*tag)++, arena};
    case_pattern_fill(p, size, case_pattern_seed(p, block->tag), false);
}

/* Core 0: some rounds, then, once every other core is allocating, bm_add_source and
 * arenas.create on REGION_NODE; the others allocate until it has. Then every core allocates from
 * the new arena too. O(rounds). */
static void as_core(unsigned id) {
    struct handoff live[AS_SLOTS];
    __builtin_memset(live, 0, sizeof live);
    uint32_t rng = 0xBB67AE85u ^ (id * 0x85EBCA6Bu), tag = (uint32_t)id << 24;
    unsigned cores = guest_active_cores();
    if (id == 0) {
        for (unsigned round = 0; round < AS_MIN_OPS; round++)
            as_round(id, &rng, &tag, live, false);
        unsigned long before = 0, after = 0;
        for (unsigned other = 1; other < cores; other++) {
            while (__atomic_load_n(&as_stats[other].ops, __ATOMIC_RELAXED) < AS_MIN_OPS)
                bm_port_cpu_relax();
            before += __atomic_load_n(&as_stats[other].ops, __ATOMIC_RELAXED);
        }
        as_add_status = bm_add_source(&region_source);
        for (unsigned other = 1; other < cores; other++)
            after += __atomic_load_n(&as_stats[other].ops, __ATOMIC_RELAXED);
        as_ops_during_add = after - before;
        if (as_add_status == 0) {
            unsigned node = REGION_NODE;
            size_t len = sizeof as_arena;
            as_create_status = bm_ctl("arenas.create", &as_arena, &len, &node, sizeof node);
        }
        bool ready = as_add_status == 0 && as_create_status == 0;
        __atomic_store_n(&as_state, ready ? AS_READY : AS_FAILED, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&as_state, __ATOMIC_ACQUIRE) == AS_PENDING)
            as_round(id, &rng, &tag, live, false);
    }
    bool ready = __atomic_load_n(&as_state, __ATOMIC_ACQUIRE) == AS_READY;
    for (unsigned round = 0; ready && round < GUEST_KERNEL_OPS / 4 && guest_failure_count() <= 100; round++)
        as_round(id, &rng, &tag, live, true);
    for (unsigned slot = 0; slot < AS_SLOTS; slot++)
        if (live[slot].ptr)
            as_release(&live[slot]);
    bm_cache_flush();
}

/* Core 0, the others idle: NOGROW takes the region's pooled chunks but never calls its grow
 * hook; once none is pooled, a plain request of the new arena grows the region (one hook call)
 * and NOGROW then gets that chunk back from the pool. O(region chunks) allocations. */
static void as_check_growth(size_t chunk) {
    int arena = BM_MALLOCX_ARENA(as_arena);
    void *held[REGION_CHUNKS + 1], *outside = NULL;
    unsigned nheld = 0, calls = grow_calls();
    while (nheld < REGION_CHUNKS + 1) { /* the region's pooled chunks, then one from elsewhere */
        void *p = bm_mallocx(chunk, arena | BM_MALLOCX_NOGROW);
        if (!p || !in_region(p, chunk)) {
            outside = p;
            break;
        }
        held[nheld++] = p;
    }
    EXPECT(nheld < REGION_CHUNKS + 1);
    EXPECT(grow_calls() == calls); /* NOGROW ran no grow hook */
    /* The cores' small blocks left part of the region ungranted (they took at most a chunk or
     * two), so a plain request must grow it now. */
    if (EXPECT(__atomic_load_n(&region_granted, __ATOMIC_RELAXED) + chunk <= sizeof region_memory)) {
        void *grown = bm_mallocx(chunk, arena);
        EXPECT(grown != NULL && in_region(grown, chunk));
        EXPECT(grow_calls() == calls + 1);
        if (grown) {
            case_pattern_fill(grown, chunk, case_pattern_seed(grown, 1), false);
            case_pattern_check(grown, chunk, case_pattern_seed(grown, 1), false);
        }
        bm_free(grown);
        void *again = bm_mallocx(chunk, arena | BM_MALLOCX_NOGROW);
        EXPECT(again != NULL && in_region(again, chunk)); /* from the pool: no growth needed */
        EXPECT(grow_calls() == calls + 1);
        bm_free(again);
    }
    for (unsigned i = 0; i < nheld; i++)
        bm_free(held[i]);
    bm_free(outside);
}

/* Core 0: adding the region again, a range overlapping it or the board's heap, and bad sources
 * are refused (BM_EINVAL) and add no region. O(1) calls. */
static void as_check_refusals(size_t chunk, unsigned nnodes) {
    bm_page_source_t again = region_source;
    EXPECT(bm_add_source(&again) == BM_EINVAL);
    bm_page_source_t last_byte = {region_memory + sizeof region_memory - 1, chunk, NULL, NULL, NULL, REGION_NODE};
    EXPECT(bm_add_source(&last_byte) == BM_EINVAL);
    bm_page_source_t first_byte = {region_memory - chunk + 1, chunk, NULL, NULL, NULL, REGION_NODE};
    EXPECT(bm_add_source(&first_byte) == BM_EINVAL);
    bm_page_source_t in_heap = {__bm_heap_start + guest_heap_size() / 2, chunk, NULL, NULL, NULL, 0};
    EXPECT(bm_add_source(&in_heap) == BM_EINVAL);
    bm_page_source_t no_chunk = {tiny_memory, sizeof tiny_memory, NULL, NULL, NULL, REGION_NODE};
    EXPECT(bm_add_source(&no_chunk) == BM_EINVAL);
    bm_page_source_t empty = {tiny_memory, 0, NULL, NULL, NULL, REGION_NODE};
    EXPECT(bm_add_source(&empty) == BM_EINVAL);
    EXPECT(bm_add_source(NULL) == BM_EINVAL);
    ctl_refresh();
    EXPECT(ctl_unsigned("arenas.nnodes") == nnodes);
    unsigned regions = 0;
    EXPECT(ctl_read_at("stats.nodes.0.nregions", REGION_NODE, &regions, sizeof regions) == 0 && regions == 1);
    EXPECT(ctl_read_at("stats.nodes.0.nregions", 0, &regions, sizeof regions) == 0 && regions == 1);
}

/* See guest.h. O(GUEST_KERNEL_OPS) per core, plus bm_check. Two or more cores. */
void guest_kernel_add_source(void) {
    unsigned cores = guest_active_cores();
    size_t chunk = ctl_size("arenas.chunk"), page = ctl_size("arenas.page");
    if (!EXPECT(chunk == REGION_CHUNK))
        return;
    ctl_refresh();
    unsigned nnodes = ctl_unsigned("arenas.nnodes"), narenas = ctl_unsigned("arenas.narenas");
    size_t node_size = 0;
    EXPECT(ctl_read_at("stats.nodes.0.size", REGION_NODE, &node_size, sizeof node_size) == BM_ENOENT);
    __builtin_memset(as_stats, 0, sizeof as_stats);
    as_state = AS_PENDING;
    guest_on_every_core(as_core);

    unsigned long arena_allocs = 0, arena_inside = 0;
    for (unsigned id = 0; id < cores; id++) {
        EXPECT(as_stats[id].failed == 0);
        arena_allocs += as_stats[id].arena_allocs;
        arena_inside += as_stats[id].arena_inside;
    }
    board_printf("  bm_add_source: %zu KiB on node %u, added while the other cores allocated (%lu of their "
                 "operations during the call), %lu allocations from the new arena (%lu inside the region), "
                 "%u grow calls\n",
                 sizeof region_memory / 1024, REGION_NODE, as_ops_during_add, arena_allocs, arena_inside,
                 grow_calls());
    if (!EXPECT(as_add_status == 0) || !EXPECT(as_create_status == 0))
        return;
    EXPECT(as_arena == narenas); /* appended after the others */
    EXPECT(ctl_unsigned("arenas.narenas") == narenas + 1);
    EXPECT(arena_allocs > 0 && arena_inside == arena_allocs);
    EXPECT(grow_calls() >= 1);

    /* The heap grew by the region's whole chunks on the grid (internal.h: its origin is the first
     * page source's start rounded up to a page, modulo a chunk), all on the new node. */
    uintptr_t phase = (((uintptr_t)__bm_heap_start + page - 1) & ~(uintptr_t)(page - 1)) & (chunk - 1);
    uintptr_t start = (uintptr_t)region_memory, end = start + sizeof region_memory;
    uintptr_t first = ((start - phase + chunk - 1) & ~(uintptr_t)(chunk - 1)) + phase;
    uintptr_t last = ((end - phase) & ~(uintptr_t)(chunk - 1)) + phase;
    ctl_refresh();
    EXPECT(ctl_unsigned("arenas.nnodes") == nnodes + 1);
    EXPECT(ctl_size_at("stats.nodes.0.size", REGION_NODE) == last - first);
    unsigned regions = 0, node_arenas = 0;
    EXPECT(ctl_read_at("stats.nodes.0.nregions", REGION_NODE, &regions, sizeof regions) == 0 && regions == 1);
    EXPECT(ctl_read_at("stats.nodes.0.narenas", REGION_NODE, &node_arenas, sizeof node_arenas) == 0 &&
           node_arenas == 1);
    /* What the node has in use or pooled is what its grow hook granted, past the lead-in. */
    size_t granted = ctl_size_at("stats.nodes.0.mapped", REGION_NODE) + ctl_size_at("stats.nodes.0.retained", REGION_NODE);
    EXPECT(granted + (first - start) == __atomic_load_n(&region_granted, __ATOMIC_RELAXED));
    EXPECT(granted >= chunk);

    as_check_growth(chunk);
    as_check_refusals(chunk, nnodes + 1);
    EXPECT(bm_check() == 0);
}

/* ---- BM_MALLOCX_NOGROW on every core and in its timer ------------------------------------ */

#define NG_SLOTS 32
#define NG_TIMER_SLOTS 8
#define NG_TIMER_MAX_SIZE 192
#define NG_TIMER_QUOTA 24u /* NOGROW allocations each core's timer makes at least */
#define NG_MAX_ROUNDS (50ul * GUEST_KERNEL_OPS) /* bounds the wait for a slow timer */

struct ng_timer_block {
    uint8_t *data;
    uint32_t size;
    uint8_t seed;
};

struct ng_core_stats {
    _Alignas(64) unsigned long allocs, frees, failed, sent, received;
    /* Written by this core's timer interrupt only while armed; read by thread mode on the same
     * core, and by core 0 after the case. */
    bool armed;
    unsigned ticks, timer_allocs, timer_frees, timer_failed, timer_broken;
    uint32_t timer_rng;
    struct ng_timer_block timer_blocks[NG_TIMER_SLOTS];
};

static struct ng_core_stats ng_stats[GUEST_MAX_CORES];
static size_t ng_medium, ng_large; /* request size tiers, from the heap size */

/* O(size). Whether a timer block still holds its pattern. */
static bool ng_timer_intact(const struct ng_timer_block *block) {
    for (uint32_t i = 0; i < block->size; i++)
        if (block->data[i] != (uint8_t)(block->seed + i * 13u))
            return false;
    return true;
}

/* O(size). Checks and frees a timer block (alternately sized), silently: counts what is wrong. */
static void ng_timer_release(struct ng_core_stats *s, struct ng_timer_block *block) {
    if (!ng_timer_intact(block))
        s->timer_broken++;
    if (block->seed & 1)
        bm_sdallocx(block->data, block->size, 0);
    else
        bm_free(block->data);
    block->data = NULL;
    s->timer_frees++;
}

/* The board's timer interrupt on core (board_set_timer_hook): one NOGROW allocation (a quarter
 * zeroed) or free at a random slot. Interrupt context: no lock, no print, no EXPECT (a report
 * would take the console lock its own core may hold). O(NG_TIMER_MAX_SIZE). */
static void ng_timer_hook(unsigned core) {
    if (core >= GUEST_MAX_CORES)
        return;
    struct ng_core_stats *s = &ng_stats[core];
    if (!__atomic_load_n(&s->armed, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&s->ticks, s->ticks + 1, __ATOMIC_RELAXED);
    struct ng_timer_block *block = &s->timer_blocks[guest_random_below(&s->timer_rng, NG_TIMER_SLOTS)];
    if (block->data) {
        ng_timer_release(s, block);
        return;
    }
    uint32_t size = 1 + (uint32_t)guest_random_below(&s->timer_rng, NG_TIMER_MAX_SIZE);
    bool zero = (guest_random(&s->timer_rng) & 3) == 0;
    uint8_t *p = bm_mallocx(size, BM_MALLOCX_NOGROW | (zero ? BM_MALLOCX_ZERO : 0));
    if (!p) {
        s->timer_failed++;
        return;
    }
    for (uint32_t i = 0; zero && i < size; i++)
        if (p[i] != 0) {
            s->timer_broken++;
            break;
        }
    *block = (struct ng_timer_block){p, size, (uint8_t)guest_random(&s->timer_rng)};
    for (uint32_t i = 0; i < size; i++)
        p[i] = (uint8_t)(block->seed + i * 13u);
    __atomic_store_n(&s->timer_allocs, s->timer_allocs + 1, __ATOMIC_RELAXED);
}

/* O(size). Checks and frees a NOGROW block (a handoff_receive release too): kind 1 with a
 * sized free, else bm_free. */
static void ng_release(unsigned id, const struct handoff *block) {
    case_pattern_check(block->ptr, block->size, case_pattern_seed(block->ptr, block->tag), false);
    if (block->kind == 1)
        bm_sdallocx(block->ptr, block->size, 0);
    else
        bm_free(block->ptr);
    ng_stats[id].frees++;
}

/* O(size). A NOGROW block into *slot, a quarter of them zeroed, an eighth aligned (16..256);
 * each must succeed: the heap holds far less than the SMP stress had live at once. */
static void ng_take(unsigned id, uint32_t *rng, uint32_t tag, struct handoff *slot) {
    unsigned pick = (unsigned)guest_random_below(rng, 100);
    size_t size = pick < 75 ? 1 + guest_random_below(rng, 256)
                  : pick < 95 ? 257 + guest_random_below(rng, ng_medium - 256)
                              : ng_medium + 1 + guest_random_below(rng, ng_large - ng_medium);
    bool zero = (guest_random(rng) & 3) == 0;
    size_t align = (guest_random(rng) & 7) == 0 ? (size_t)16 << guest_random_below(rng, 5) : 0;
    int flags = BM_MALLOCX_NOGROW | (zero ? BM_MALLOCX_ZERO : 0) | (align ? BM_MALLOCX_ALIGN(align) : 0);
    void *p = bm_mallocx(size, flags);
    if (!EXPECT(p != NULL)) {
        ng_stats[id].failed++;
        return;
    }
    if (align)
        EXPECT(((uintptr_t)p & (align - 1)) == 0);
    if (zero)
        EXPECT(case_all_zero(p, size));
    case_pattern_fill(p, size, case_pattern_seed(p, tag), false);
    *slot = (struct handoff){p, size, tag, align ? 0u : (unsigned)(guest_random(rng) & 1)};
    ng_stats[id].allocs++;
}

static bool ng_has_timer; /* the board runs ng_timer_hook in its timer interrupt */

/* Every core: GUEST_KERNEL_OPS rounds of NOGROW allocations and frees, a quarter of the frees
 * handed to the next core, with the core's timer allocating too; where there is a timer, on
 * until it has made NG_TIMER_QUOTA allocations (at most NG_MAX_ROUNDS). O(rounds). */

static void ng_core(unsigned id) {
    struct ng_core_stats *s = &ng_stats[id];
    struct handoff live[NG_SLOTS];
    __builtin_memset(live, 0, sizeof live);
    uint32_t rng = 0x3C6EF372u ^ (id * 0xC2B2AE35u), tag = (uint32_t)id << 24;
    s->timer_rng = 0xA54FF53Au ^ (id * 0x27D4EB2Fu);
    __atomic_store_n(&s->armed, ng_has_timer, __ATOMIC_RELAXED);
    for (unsigned long round = 0; round < NG_MAX_ROUNDS && guest_failure_count() <= 100; round++) {
        if (round >= GUEST_KERNEL_OPS &&
            (!ng_has_timer || __atomic_load_n(&s->timer_allocs, __ATOMIC_RELAXED) >= NG_TIMER_QUOTA))
            break;
        if (round % 2 == 0)
            s->received += handoff_receive(id, ng_release);
        struct handoff *slot = &live[guest_random_below(&rng, NG_SLOTS)];
        if (!slot->ptr) {
            ng_take(id, &rng, tag++, slot);
            continue;
        }
        if ((guest_random(&rng) & 3) == 0 && handoff_send(id, slot, ng_release, &s->received))
            s->sent++;
        else
            ng_release(id, slot);
        slot->ptr = NULL;
    }
    for (unsigned i = 0; i < NG_SLOTS; i++)
        if (live[i].ptr)
            ng_release(id, &live[i]);
    s->received += handoff_drain(id, ng_release);
    /* The timer stops before its blocks go: on this core, no hook runs past this store. */
    __atomic_store_n(&s->armed, false, __ATOMIC_RELAXED);
    __asm__ volatile("" ::: "memory");
    for (unsigned i = 0; i < NG_TIMER_SLOTS; i++)
        if (s->timer_blocks[i].data)
            ng_timer_release(s, &s->timer_blocks[i]);
    bm_cache_flush();
}

/* O(1) plus a snapshot. Bytes the page sources of every node have granted so far (in use or
 * pooled): they grow only through a grow hook. */
static size_t granted_bytes(void) {
    ctl_refresh();
    return ctl_size("stats.mapped") + ctl_size("stats.retained");
}

/* See guest.h. O(GUEST_KERNEL_OPS) per core (longer while a timer falls short of its quota),
 * plus bm_check. */
void guest_kernel_nogrow(void) {
    unsigned cores = guest_active_cores();
    size_t heap = guest_heap_size();
    ng_medium = heap / 256 < 16384 ? heap / 256 : 16384;
    ng_large = heap / 128 < 65536 ? heap / 128 : 65536;
    if (ng_medium < 512) /* a heap under 128 KiB: the tiers stay ordered */
        ng_medium = 512;
    if (ng_large <= ng_medium)
        ng_large = ng_medium + 1;
    __builtin_memset(ng_stats, 0, sizeof ng_stats);
    senders_done = 0;
    ng_has_timer = board_set_timer_hook != NULL && board_set_timer_hook(ng_timer_hook);
    size_t granted = granted_bytes();
    unsigned calls = grow_calls();
    guest_on_every_core(ng_core);
    if (ng_has_timer)
        board_set_timer_hook(NULL);

    unsigned long allocs = 0, frees = 0, sent = 0, received = 0;
    for (unsigned id = 0; id < cores; id++) {
        const struct ng_core_stats *s = &ng_stats[id];
        EXPECT(s->failed == 0);
        allocs += s->allocs;
        frees += s->frees;
        sent += s->sent;
        received += s->received;
        if (!ng_has_timer)
            continue;
        board_printf("  core %u timer: %u interrupts, %u NOGROW allocations, %u frees, %u failed, %u broken\n",
                     id, s->ticks, s->timer_allocs, s->timer_frees, s->timer_failed, s->timer_broken);
        EXPECT(s->timer_allocs >= NG_TIMER_QUOTA);
        EXPECT(s->timer_allocs == s->timer_frees);
        EXPECT(s->timer_failed == 0);
        EXPECT(s->timer_broken == 0);
    }
    board_printf("  NOGROW: %u cores, %lu allocations (%lu freed by another core)%s\n", cores, allocs,
                 received, ng_has_timer ? ", and in each core's timer interrupt"
                                        : "; no timer interrupt this guest can use on this board");
    EXPECT(allocs == frees);
    EXPECT(sent == received);
    if (cores > 1) /* a quarter of the churn's frees go to the next core */
        EXPECT(received * 8 >= frees);
    EXPECT(granted_bytes() == granted); /* no page source grew */
    EXPECT(grow_calls() == calls);
    EXPECT(bm_check() == 0);
}
