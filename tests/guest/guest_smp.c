/*
 * SMP stress: every core allocates and frees at random, checks each block's pattern before
 * freeing it, and hands most of the blocks it frees to another core, which checks and
 * frees them there (the cross-core free path). At the end every core flushes its cache and
 * core 0 validates the heap.
 *
 * The secondaries are started once (a board may release a core only once per boot) and then
 * serve guest_on_every_core: the later SMP cases (guest_kernel.c) run on them the same way, until
 * guest_smp_finish lets them return to the board.
 */
#include "baremalloc.h"
#include "bm_port.h"
#include "board.h"
#include "guest.h"

#define RING_SLOTS_MAX 128u /* power of two */
#define BLOCKS_IN_FLIGHT 1024u /* shared out among the n * (n - 1) rings: bounds heap use */
#define NO_SLOT ((unsigned)-1)

struct block_ref {
    void *ptr;
    size_t size;
    uint32_t tag;
    bool sized_free_ok; /* from bm_malloc: a sized free may give the request size */
    bool remote;        /* to be freed by another core */
};

/* Single-producer single-consumer ring from one core to another: lock-free, so a sender never
 * waits for a receiver and the test adds no lock of its own to the allocator's. */
struct ring {
    _Alignas(64) unsigned head; /* next slot to read; written by the receiver only */
    _Alignas(64) unsigned tail; /* next slot to write; written by the sender only */
    _Alignas(64) struct block_ref slots[RING_SLOTS_MAX];
};

static struct ring rings[GUEST_MAX_CORES][GUEST_MAX_CORES]; /* [sender][receiver] */

struct core_stats {
    _Alignas(64) unsigned long mallocs;
    unsigned long frees;    /* by this core: its own blocks and the ones it received */
    unsigned long sent;     /* blocks handed to another core to free */
    unsigned long received; /* blocks another core allocated and this core freed */
    unsigned long huge;     /* huge-ish blocks allocated */
    unsigned long deferred; /* sends put off because every receiver's ring was full */
    unsigned long failed_allocations;
};

static struct core_stats stats[GUEST_MAX_CORES];

static unsigned active_cores;
static unsigned ring_slots; /* power of two <= RING_SLOTS_MAX */
static unsigned senders_done;

static struct {
    size_t medium, large, huge_min, huge_max;
} tiers;

struct worker {
    unsigned id;
    uint32_t rng;
    uint32_t next_tag;
    unsigned huge_slot; /* at most one huge-ish block live per core bounds the heap use */
    struct core_stats *stats;
    struct block_ref live[GUEST_SMP_SLOTS];
};

/* ------------------------------------------------------------------------------------- */

static unsigned barrier_arrived, barrier_generation;

/* O(active cores) spinning: returns once every active core has called it (one round per call). */
static void barrier(void) {
    unsigned generation = __atomic_load_n(&barrier_generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&barrier_arrived, 1, __ATOMIC_ACQ_REL) == active_cores) {
        __atomic_store_n(&barrier_arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&barrier_generation, generation + 1, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&barrier_generation, __ATOMIC_ACQUIRE) == generation)
            bm_port_cpu_relax();
    }
}

/* ------------------------------------------------------------------------------------- */

static size_t in_tier(struct worker *w, size_t low, size_t high) {
    return high > low ? low + guest_random_below(&w->rng, high - low + 1) : low;
}

static void free_checked(struct worker *w, const struct block_ref *block) {
    case_pattern_check(block->ptr, block->size, case_pattern_seed(block->ptr, block->tag), false);
    if (block->sized_free_ok && (guest_random(&w->rng) & 3) == 0)
        bm_free_sized(block->ptr, block->size);
    else
        bm_free(block->ptr);
    w->stats->frees++;
}

/* Hands the block to another core, starting the search at a random one; false if every
 * other core's ring from this one is full. */
static bool send(struct worker *w, const struct block_ref *block) {
    unsigned first = (unsigned)guest_random_below(&w->rng, active_cores - 1);
    for (unsigned i = 0; i < active_cores - 1; i++) {
        unsigned target = (w->id + 1 + (first + i) % (active_cores - 1)) % active_cores;
        struct ring *ring = &rings[w->id][target];
        unsigned tail = ring->tail;
        if (tail - __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) == ring_slots)
            continue;
        ring->slots[tail % ring_slots] = *block;
        __atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
        w->stats->sent++;
        return true;
    }
    w->stats->deferred++;
    return false;
}

static void receive(struct worker *w) {
    for (unsigned sender = 0; sender < active_cores; sender++) {
        if (sender == w->id)
            continue;
        struct ring *ring = &rings[sender][w->id];
        unsigned head = ring->head;
        unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
        if (head == tail)
            continue;
        for (; head != tail; head++) {
            free_checked(w, &ring->slots[head % ring_slots]);
            w->stats->received++;
        }
        __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    }
}

static void allocate(struct worker *w, unsigned slot) {
    size_t size;
    bool huge = false;
    unsigned pick = (unsigned)guest_random_below(&w->rng, 1000);
    if (pick < 800) {
        size = in_tier(w, 1, 256);
    } else if (pick < 950) {
        size = in_tier(w, 257, tiers.medium);
    } else if (pick < 995 || w->huge_slot != NO_SLOT) {
        size = in_tier(w, tiers.medium + 1, tiers.large);
    } else {
        size = in_tier(w, tiers.huge_min, tiers.huge_max);
        huge = true;
    }
    void *p;
    if (pick % 8 == 0) { /* some aligned blocks: they take other paths through the core */
        size_t alignment = (size_t)16 << guest_random_below(&w->rng, 5);
        p = bm_aligned_alloc(alignment, size);
        EXPECT(((uintptr_t)p & (alignment - 1)) == 0);
    } else {
        p = bm_malloc(size);
    }
    if (!p) {
        if (w->stats->failed_allocations++ == 0)
            board_printf("  core %u: allocation of %zu bytes failed\n", w->id, size);
        EXPECT(!"SMP allocation succeeds");
        return;
    }
    w->stats->mallocs++;
    w->stats->huge += huge;
    if (huge)
        w->huge_slot = slot;
    struct block_ref *block = &w->live[slot];
    block->ptr = p;
    block->size = size;
    block->tag = w->id << 24 | (w->next_tag++ & 0xFFFFFF);
    block->sized_free_ok = pick % 8 != 0;
    /* Three in four go to another core; huge blocks stay home so the cores' combined peak use
     * stays bounded. */
    block->remote = !huge && active_cores > 1 && (guest_random(&w->rng) & 3) != 0;
    case_pattern_fill(p, size, case_pattern_seed(p, block->tag), false);
}

static void release(struct worker *w, unsigned slot) {
    struct block_ref *block = &w->live[slot];
    bool huge = slot == w->huge_slot;
    if (block->remote) {
        if (!send(w, block))
            return; /* receivers are behind (descheduled vCPUs): try again in a later round */
    } else {
        free_checked(w, block);
    }
    if (huge)
        w->huge_slot = NO_SLOT;
    block->ptr = NULL;
}

static void run_worker(unsigned id) {
    struct worker w = {.id = id, .rng = 0x9E3779B9u ^ (id * 0x85EBCA6Bu), .huge_slot = NO_SLOT,
                       .stats = &stats[id]};
    barrier(); /* start together so the cores really contend */

    for (unsigned long round = 0; w.stats->mallocs + w.stats->frees < GUEST_SMP_OPS; round++) {
        if (round % 2 == 0)
            receive(&w);
        unsigned slot = (unsigned)guest_random_below(&w.rng, GUEST_SMP_SLOTS);
        if (w.live[slot].ptr)
            release(&w, slot);
        else
            allocate(&w, slot);
        if (guest_failure_count() > 100)
            break; /* the heap is broken; stop before the output drowns */
    }
    for (unsigned slot = 0; slot < GUEST_SMP_SLOTS; slot++)
        if (w.live[slot].ptr)
            free_checked(&w, &w.live[slot]);

    /* Keep freeing what others send until every core has sent its last block. */
    __atomic_add_fetch(&senders_done, 1, __ATOMIC_RELEASE);
    for (;;) {
        bool all_sent = __atomic_load_n(&senders_done, __ATOMIC_ACQUIRE) == active_cores;
        receive(&w);
        if (all_sent)
            break;
        bm_port_cpu_relax();
    }

    barrier();
}

/* A double free across cores: core 0 frees a block (it stays in core 0's cache), core 1 frees
 * it again and must get a report; then both draw blocks of the class and no block may come
 * out on both. Interrupts stay masked until core 1's free: an interrupt on core 0 that
 * allocates (mps2-an521's SysTick) could otherwise take the block from core 0's cache first,
 * making core 1's free a legitimate one. */
#define CROSS_DRAWN 64
static void *cross_block;
static void *cross_drawn[2][CROSS_DRAWN];
static unsigned cross_reports;

static void cross_core_double_free(unsigned id) {
    bm_irq_state_t irq = bm_port_irq_save();
    if (id == 0) {
        cross_block = bm_malloc(40);
        bm_free(cross_block);
    }
    barrier();
    if (id == 1) {
        case_errors_begin();
        bm_free(cross_block);
        cross_reports = case_errors_end(1);
    }
    barrier();
    bm_port_irq_restore(irq);
    if (id < 2)
        for (unsigned i = 0; i < CROSS_DRAWN; i++)
            cross_drawn[id][i] = bm_malloc(40);
    barrier();
    if (id == 0) {
        unsigned twice = 0;
        for (unsigned i = 0; i < CROSS_DRAWN; i++)
            for (unsigned j = 0; j < CROSS_DRAWN; j++)
                twice += cross_drawn[0][i] == cross_drawn[1][j];
        EXPECT(cross_reports == 1);
        EXPECT(twice == 0);
    }
    barrier();
    if (id < 2)
        for (unsigned i = 0; i < CROSS_DRAWN; i++)
            bm_free(cross_drawn[id][i]);
    barrier();
}

static void run_core(unsigned id) {
    run_worker(id);
    if (active_cores > 1)
        cross_core_double_free(id);
    bm_cache_flush();
    barrier(); /* every cache is back in the arenas: core 0 may validate */
}

/* ------------------------------------------------------------------------------------- */

/* The work core 0 posted last (NULL: return to the board) and how many posts there were. */
static void (*posted_work)(unsigned id);
static unsigned posted_count;
static bool secondaries_started;
static unsigned secondaries_left; /* active secondaries that returned to the board */

/* O(1). Publishes fn to the secondaries: the count's release store carries the pointer. */
static void post_work(void (*fn)(unsigned id)) {
    __atomic_store_n(&posted_work, fn, __ATOMIC_RELAXED);
    __atomic_add_fetch(&posted_count, 1, __ATOMIC_RELEASE);
}

/* A secondary's life: each posted work item, then the barrier that ends it, until the NULL post.
 * Between work items it waits with its interrupts masked, from before that barrier on: when core
 * 0 leaves the barrier to check the heap alone (bm_check needs a heap no one changes), no
 * interrupt of another core allocates (mps2-an521's SysTick does). Cores past active_cores
 * return at once (the board parks them). */
static void secondary_entry(unsigned core_id) {
    if (core_id >= active_cores)
        return;
    unsigned seen = 0;
    bm_irq_state_t irq = bm_port_irq_save();
    for (;;) {
        unsigned count;
        while ((count = __atomic_load_n(&posted_count, __ATOMIC_ACQUIRE)) == seen)
            bm_port_cpu_relax();
        seen = count;
        void (*fn)(unsigned) = __atomic_load_n(&posted_work, __ATOMIC_RELAXED);
        if (!fn)
            break;
        bm_port_irq_restore(irq);
        fn(core_id);
        irq = bm_port_irq_save();
        barrier();
    }
    bm_port_irq_restore(irq);
    __atomic_add_fetch(&secondaries_left, 1, __ATOMIC_RELEASE);
}

unsigned guest_active_cores(void) { return active_cores; }

/* O(fn) on core 0, spinning elsewhere. See guest.h. */
void guest_core0_alone(unsigned id, void (*fn)(void *arg), void *arg) {
    if (id == 0) {
        barrier(); /* every other core waits, masked */
        fn(arg);
        barrier();
        return;
    }
    bm_irq_state_t irq = bm_port_irq_save();
    barrier();
    barrier();
    bm_port_irq_restore(irq);
}

/* O(fn's work on the slowest core). See guest.h. */
void guest_on_every_core(void (*fn)(unsigned id)) {
    if (active_cores == 0)
        active_cores = 1; /* before guest_smp_stress: core 0 alone */
    if (secondaries_started)
        post_work(fn);
    fn(0);
    barrier(); /* every core's fn has returned */
}

/* O(active cores). See guest.h. Waits until every secondary has returned to the board, while
 * core 0's interrupts still run: under -icount QEMU runs the vCPUs round-robin, and once no
 * timer is pending a core that spins (mps2-an521's board, waiting for CPU1 after the guest)
 * keeps the host thread for a very long slice, so the secondaries should be on their way out
 * before core 0 leaves the guest. */
void guest_smp_finish(void) {
    if (!secondaries_started)
        return;
    post_work(NULL);
    while (__atomic_load_n(&secondaries_left, __ATOMIC_ACQUIRE) != active_cores - 1)
        bm_port_cpu_relax();
    secondaries_started = false;
}

/* ------------------------------------------------------------------------------------- */

void guest_smp_stress(void) {
    unsigned cores = board_core_count();
    active_cores = cores < GUEST_MAX_CORES ? cores : GUEST_MAX_CORES;
    size_t heap = guest_heap_size();
    ring_slots = RING_SLOTS_MAX;
    while (ring_slots > 8 && ring_slots * active_cores * (active_cores - 1) > BLOCKS_IN_FLIGHT)
        ring_slots /= 2;
    tiers.medium = heap / 256 < 16384 ? heap / 256 : 16384;
    tiers.large = heap / 128 < 262144 ? heap / 128 : 262144;
    /* One live huge-ish block per core: together at most an eighth of the heap. */
    tiers.huge_min = heap / (16 * active_cores);
    tiers.huge_max = heap / (8 * active_cores);
    board_printf("  SMP stress: %u cores, %u ops each, sizes up to %zu, huge-ish %zu..%zu\n",
                 active_cores, (unsigned)GUEST_SMP_OPS, tiers.large, tiers.huge_min,
                 tiers.huge_max);

    if (cores > 1 && !secondaries_started) {
        secondaries_started = true;
        board_start_secondaries(secondary_entry);
    }
    guest_on_every_core(run_core);

    EXPECT(bm_check() == 0);

    unsigned long mallocs = 0, frees = 0, sent = 0, received = 0;
    for (unsigned id = 0; id < active_cores; id++) {
        const struct core_stats *s = &stats[id];
        board_printf("  core %u: %lu ops (%lu malloc, %lu free), cross-core frees sent %lu, "
                     "received %lu, huge %lu, sends deferred %lu\n",
                     id, s->mallocs + s->frees, s->mallocs, s->frees, s->sent, s->received,
                     s->huge, s->deferred);
        EXPECT(s->mallocs + s->frees >= GUEST_SMP_OPS);
        EXPECT(s->failed_allocations == 0);
        mallocs += s->mallocs;
        frees += s->frees;
        sent += s->sent;
        received += s->received;
    }
    board_printf("  total: %lu malloc, %lu free, %lu freed by another core (%lu%%)\n", mallocs,
                 frees, received, frees ? received * 100 / frees : 0);
    EXPECT(mallocs == frees);
    EXPECT(sent == received);
    if (active_cores > 1)
        EXPECT(received * 4 >= frees); /* at least a quarter of the frees are cross-core */
}
