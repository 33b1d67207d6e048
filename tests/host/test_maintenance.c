/*
 * Purging, bm_maintenance and memory nodes, on two static arrays handed to bm_init as two
 * page sources on nodes 0 and 1 (as a board with SRAM and SDRAM would), with
 * "arena_rule:node" and a port hook that puts odd cores on node 1. The release hooks zero what
 * they are given (as a platform that takes pages back would) and count it, so a purge of live
 * memory would show as corrupted blocks.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "ext.h"
#include "test.h"
#include "ctl_read.h"

#ifdef BM_GEOMETRY_SMALL
#define NODE_BYTES ((size_t)1 << 20)
#else
#define NODE_BYTES ((size_t)24 << 20)
#endif
static unsigned char node0[NODE_BYTES] __attribute__((aligned(4096)));
static unsigned char node1[NODE_BYTES] __attribute__((aligned(4096)));

/* Must match bm_maintenance's per-call budgets (core/maintenance.c). */
#define MAINT_RUNS 32
#define MAINT_SPANS 8

typedef struct node_ctx {
    size_t bytes;
    unsigned calls;
} node_ctx_t;
static node_ctx_t node_ctx[2];

static bool release_zero(void *ctx, void *addr, size_t len) {
    node_ctx_t *n = ctx;
    BM_UNPOISON(addr, len);
    memset(addr, 0, len);
    BM_POISON(addr, len);
    __atomic_fetch_add(&n->bytes, len, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n->calls, 1, __ATOMIC_RELAXED);
    return true;
}

/* The port hook arena_rule:node asks: odd cores sit on node 1. */
unsigned bm_port_core_node(unsigned core) { return core & 1; }

static unsigned release_calls(unsigned node) { return __atomic_load_n(&node_ctx[node].calls, __ATOMIC_RELAXED); }

static size_t released_bytes(void) {
    return __atomic_load_n(&node_ctx[0].bytes, __ATOMIC_RELAXED) + __atomic_load_n(&node_ctx[1].bytes, __ATOMIC_RELAXED);
}

/* ---- bm_ctl helpers (the typed readers are in ctl_read.h) ---- */

static void epoch_advance(void) {
    uint64_t e = 0;
    CHECK_EQ(bm_ctl("epoch", NULL, NULL, &e, sizeof e), 0);
}

static void set_purge_age(unsigned age) {
    CHECK_EQ(bm_ctl("arenas.purge_age", NULL, NULL, &age, sizeof age), 0);
    CHECK_EQ(ru("arenas.purge_age"), age);
}

static void set_purge(const char *mode, unsigned dirty_max, size_t dirty_min) {
    CHECK_EQ(bm_ctl("arenas.purge", NULL, NULL, &mode, sizeof mode), 0);
    CHECK_EQ(bm_ctl("arenas.dirty_max", NULL, NULL, &dirty_max, sizeof dirty_max), 0);
    CHECK_EQ(bm_ctl("arenas.dirty_min", NULL, NULL, &dirty_min, sizeof dirty_min), 0);
}

static unsigned my_core(void) {
    bm_free(bm_malloc(1));
    return ru("thread.core");
}

/* Bytes the region over [base, base + NODE_BYTES) covers: whole chunks on the grid the first
 * source starts (node0, page aligned), then a partial chunk of whole pages if they hold more
 * than a chunk header (core/region.c). */
static size_t region_bytes(const unsigned char *base) {
    uintptr_t phase = (uintptr_t)node0 & BM_CHUNK_MASK, end = (uintptr_t)base + NODE_BYTES;
    uintptr_t first = (((uintptr_t)base - phase + BM_CHUNK_MASK) & ~(uintptr_t)BM_CHUNK_MASK) + phase;
    uintptr_t last = ((end - phase) & ~(uintptr_t)BM_CHUNK_MASK) + phase;
    size_t tail = (end - last) >> BM_LG_PAGE;
    return (last - first) + (tail > BM_CHUNK_HEADER_PAGES ? tail << BM_LG_PAGE : 0);
}

static bool inside(const void *p, const unsigned char *base) {
    return (const unsigned char *)p >= base && (const unsigned char *)p < base + NODE_BYTES;
}

static size_t uncached_large(void) { return BM_LARGE_MAX / 4; }

/* ---- memory nodes ---- */

typedef struct peer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int step, done;
    unsigned core, arena, node;
    void *large, *small[32];
    size_t node_allocated_before;
} peer_t;

static void wait_for(peer_t *p, int *field, int value) {
    pthread_mutex_lock(&p->mu);
    while (*field < value)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void signal_to(peer_t *p, int *field, int value) {
    pthread_mutex_lock(&p->mu);
    *field = value;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *node_peer(void *arg) {
    peer_t *p = arg;
    p->core = my_core();
    p->arena = ru("thread.arena");
    p->node = ru("stats.arenas.%u.node", p->arena);
    CHECK_EQ(act("thread.tcache.flush"), 0);
    epoch_advance();
    p->node_allocated_before = rz("stats.nodes.%u.allocated", p->node);
    p->large = bm_malloc(uncached_large());
    for (int i = 0; i < 32; i++)
        p->small[i] = bm_malloc(64);
    signal_to(p, &p->done, 1);
    wait_for(p, &p->step, 1);
    bm_free(p->large);
    for (int i = 0; i < 32; i++)
        bm_free(p->small[i]);
    return NULL;
}

TEST(nodes_bind_cores_to_the_arena_of_their_node) {
    epoch_advance();
    CHECK_EQ(ru("arenas.nnodes"), 2);
    CHECK_EQ(ru("arenas.narenas"), 2);
    CHECK_EQ(ru("stats.arenas.0.node"), 0);
    CHECK_EQ(ru("stats.arenas.1.node"), 1);
    for (unsigned n = 0; n < 2; n++) {
        CHECK_EQ(ru("stats.nodes.%u.nregions", n), 1);
        CHECK_EQ(ru("stats.nodes.%u.narenas", n), 1);
        CHECK_EQ(rz("stats.nodes.%u.size", n), region_bytes(n ? node1 : node0));
        CHECK_EQ(rz("stats.nodes.%u.mapped", n) + rz("stats.nodes.%u.retained", n), rz("stats.nodes.%u.size", n));
    }
    CHECK_EQ(rz("stats.nodes.0.mapped") + rz("stats.nodes.1.mapped"), rz("stats.mapped"));
    CHECK_EQ(rz("stats.nodes.0.allocated") + rz("stats.nodes.1.allocated"), rz("stats.allocated"));
    for (unsigned core = 0; core < 16; core++)
        CHECK_EQ(bm_state.core_arena[core], core & 1); /* one arena per node here */

    unsigned me = my_core(), mine = ru("thread.arena");
    CHECK_EQ(ru("stats.arenas.%u.node", mine), me & 1);
    static peer_t p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, NULL, {NULL}, 0};
    pthread_t t;
    pthread_create(&t, NULL, node_peer, &p);
    wait_for(&p, &p.done, 1);
    CHECK(p.core != me);
    CHECK_EQ(p.node, p.core & 1);
    CHECK((me & 1) != (p.core & 1)); /* two threads, the two lowest slots: one per node */
    /* the peer's blocks come from its node's array */
    const unsigned char *home = p.node ? node1 : node0;
    CHECK(inside(p.large, home));
    for (int i = 0; i < 32; i++)
        CHECK(inside(p.small[i], home));
    void *here = bm_malloc(uncached_large());
    CHECK(inside(here, (me & 1) ? node1 : node0));
    bm_free(here);
    /* per-node use */
    epoch_advance();
    size_t large = bm_classes[bm_size_to_class(uncached_large())].size;
    CHECK(rz("stats.nodes.%u.allocated", p.node) - p.node_allocated_before >= large + 32 * 64);
    CHECK(rz("stats.nodes.%u.mapped", p.node) >= BM_CHUNK);
    signal_to(&p, &p.step, 1);
    pthread_join(t, NULL);
    epoch_advance();
    CHECK_EQ(rz("stats.nodes.%u.allocated", p.node), p.node_allocated_before); /* exit flushed its cache */
    CHECK_EQ(bm_check(), 0);
}

/* ---- purging ---- */

/* A fragmented burst: n blocks of a 3-page large class, every other one freed, so about n/2
 * separate dirty runs remain between live blocks (n odd: the last block stays, so the chunk's
 * free tail does not merge with a freed one). Returns the run length in pages. */
static size_t burst(void **blocks, unsigned n) {
    unsigned cls = BM_NSMALL + 2;
    for (unsigned i = 0; i < n; i++) {
        blocks[i] = bm_malloc(bm_classes[cls].size);
        test_fill(blocks[i], bm_classes[cls].size, i);
    }
    for (unsigned i = 1; i < n; i += 2)
        bm_free(blocks[i]);
    CHECK_EQ(act("thread.tcache.flush"), 0);
    return bm_classes[cls].run_pages;
}

static void burst_free(void **blocks, unsigned n) {
    unsigned cls = BM_NSMALL + 2;
    for (unsigned i = 0; i < n; i += 2) {
        CHECK(test_verify(blocks[i], bm_classes[cls].size, i)); /* purges never touch live blocks */
        bm_free(blocks[i]);
    }
    CHECK_EQ(act("thread.tcache.flush"), 0);
}

TEST(maintenance_purges_a_burst_to_the_bound) {
    my_core();
    unsigned a = ru("thread.arena");
    set_purge("idle", 10, 0);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    enum { N = 201 };
    static void *blocks[N];
    size_t pages = burst(blocks, N);
    size_t dirty = rz("stats.arenas.%u.pdirty", a), bound = rz("stats.arenas.%u.dirty_bound", a);
    unsigned node = ru("stats.arenas.%u.node", a);
    CHECK_EQ(bound, rz("stats.arenas.%u.pactive", a) / 10);
    CHECK(dirty >= (N / 2 - 2) * pages);
    CHECK(dirty > bound);
    printf("  burst: %zu dirty pages, bound %zu\n", dirty, bound);

    /* The arena stays in use (a lock between calls): each call purges toward the bound,
     * visiting at most MAINT_RUNS free runs (so at most that many release calls, plus the
     * pooled spans it may release), and stops as soon as the arena is under it. */
    size_t released = released_bytes();
    unsigned calls = 0;
    while (calls < 100) {
        bm_free(bm_malloc(16));
        CHECK_EQ(act("thread.tcache.flush"), 0);
        size_t before = rz("stats.arenas.%u.pdirty", a);
        bound = rz("stats.arenas.%u.dirty_bound", a);
        if (before <= bound)
            break;
        unsigned hooks = release_calls(node);
        bm_maintenance();
        calls++;
        size_t after = rz("stats.arenas.%u.pdirty", a);
        CHECK(after < before);
        CHECK(release_calls(node) - hooks <= MAINT_RUNS + MAINT_SPANS); /* bounded work per call */
    }
    size_t at_bound = rz("stats.arenas.%u.pdirty", a);
    CHECK(at_bound <= bound);
    CHECK(calls <= (dirty / pages) / MAINT_RUNS + 2);
    /* busy and under the bound: nothing more is purged */
    bm_free(bm_malloc(16));
    CHECK_EQ(act("thread.tcache.flush"), 0);
    bm_maintenance();
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), at_bound);
    CHECK(released_bytes() > released);
    printf("  busy arena: %u calls to reach %zu dirty pages (bound %zu)\n", calls, at_bound, bound);

    /* Idle (no lock since the previous call): the decay takes it to zero. */
    uint64_t purged = rq("stats.maintenance.purged");
    calls = 0;
    while (calls < 100 && rz("stats.arenas.%u.pdirty", a) > 0) {
        bm_maintenance();
        calls++;
    }
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    CHECK_EQ(rq("stats.maintenance.purged") - purged, at_bound);
    printf("  idle arena: %u more calls to reach 0\n", calls);
    burst_free(blocks, N);
    CHECK_EQ(bm_check(), 0);
}

TEST(sync_purge_works_from_the_slow_paths) {
    my_core();
    unsigned a = ru("thread.arena");
    enum { N = 101 };
    static void *blocks[N];
    /* idle: the burst leaves its dirty pages and nothing purges them */
    set_purge("idle", 0, 0);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    uint64_t purged = rq("stats.arenas.%u.purged", a);
    size_t pages = burst(blocks, N);
    size_t idle_dirty = rz("stats.arenas.%u.pdirty", a);
    CHECK(idle_dirty >= (N / 2 - 2) * pages);
    CHECK_EQ(rq("stats.arenas.%u.purged", a), purged);
    burst_free(blocks, N);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    /* sync, bound 0, no age: every unlock over the bound runs one bounded pass, so the burst's
     * own lock holds purge part of it and a few more holds finish the sweep */
    set_purge("sync", 0, 0);
    unsigned old_age = ru("arenas.purge_age");
    set_purge_age(0);
    purged = rq("stats.arenas.%u.purged", a);
    pages = burst(blocks, N);
    size_t dirty = rz("stats.arenas.%u.pdirty", a);
    CHECK(rq("stats.arenas.%u.purged", a) > purged);
    CHECK(dirty < idle_dirty);
    int holds = 0;
    for (; holds < 200 && rz("stats.arenas.%u.pdirty", a) > 0; holds++) {
        bm_free(bm_malloc(16));
        CHECK_EQ(act("thread.tcache.flush"), 0);
    }
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    printf("  sync: %zu dirty pages right after the burst (idle: %zu), 0 after %d more lock-hold pairs\n",
           dirty, idle_dirty, holds);
    burst_free(blocks, N);
    set_purge("idle", 10, 0);
    set_purge_age(old_age);
    CHECK_EQ(bm_check(), 0);
}

TEST(sync_purge_spares_recently_dirtied_runs) {
    my_core();
    unsigned a = ru("thread.arena");
    enum { N = 101, AGE = 400 };
    static void *blocks[N];
    unsigned old_age = ru("arenas.purge_age");
    set_purge("idle", 0, 0);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    set_purge_age(AGE);
    set_purge("sync", 0, 0);
    uint64_t purged = rq("stats.arenas.%u.purged", a);
    size_t pages = burst(blocks, N); /* about N / 2 dirty runs, all younger than AGE */
    size_t dirty = rz("stats.arenas.%u.pdirty", a);
    CHECK(dirty >= (N / 2 - 2) * pages);
    CHECK_EQ(rq("stats.arenas.%u.purged", a), purged); /* over the bound, but too young */
    /* run operations age them: each uncached large malloc/free pair takes and gives back a run */
    size_t large = bm_classes[BM_NCLASSES - 1].size;
    unsigned pairs = 0;
    for (; pairs < AGE && rq("stats.arenas.%u.purged", a) == purged; pairs++)
        bm_free(bm_malloc(large));
    CHECK(rq("stats.arenas.%u.purged", a) > purged);
    /* the burst took at most 2N run operations: the oldest run needed the rest from the pairs */
    CHECK(pairs >= (AGE - 2 * N) / 2);
    printf("  %zu dirty pages kept until %u large malloc/free pairs had passed (age %u)\n", dirty, pairs, AGE);
    burst_free(blocks, N);
    set_purge("idle", 10, 0);
    set_purge_age(old_age);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    CHECK_EQ(bm_check(), 0);
}

/* A freed run that merges with a purged neighbour counts only its own pages dirty: counting
 * the neighbour again made purging release pages that were already released, over and over. */
TEST(merging_with_a_purged_run_counts_only_the_freed_pages) {
    my_core();
    unsigned a = ru("thread.arena");
    set_purge("idle", 0, 0);
    enum { N = 8 };
    void *blocks[N];
    size_t size = uncached_large();
    for (unsigned i = 0; i < N; i++)
        blocks[i] = bm_malloc(size);
    size_t usable = bm_usable_size(blocks[0]), pages = usable / BM_PAGE;
    int first = -1, second = -1; /* two blocks side by side */
    for (unsigned i = 0; i < N && first < 0; i++)
        for (unsigned j = 0; j < N; j++)
            if ((char *)blocks[j] == (char *)blocks[i] + usable) {
                first = (int)i, second = (int)j;
                break;
            }
    CHECK(first >= 0);
    if (first < 0)
        return;
    CHECK_EQ(act("arena.%u.purge", a), 0);
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    bm_free(blocks[first]);
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), pages);
    CHECK_EQ(act("arena.%u.purge", a), 0);
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), 0);
    bm_free(blocks[second]); /* merges with the purged run of the first */
    CHECK_EQ(rz("stats.arenas.%u.pdirty", a), pages);
    CHECK_EQ(bm_check(), 0);
    for (unsigned i = 0; i < N; i++)
        if ((int)i != first && (int)i != second)
            bm_free(blocks[i]);
    set_purge("idle", 10, 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(maintenance_releases_pooled_chunks_unless_retain) {
    my_core();
    CHECK_EQ(rb("opt.retain"), false);
    CHECK_EQ(act("arena.%u.purge", ru("arenas.narenas")), 0); /* only the span below is dirty */
    size_t size = 3 * BM_CHUNK;
    char *h = bm_malloc(size);
    CHECK(h != NULL);
    memset(h, 0x5a, size);
    epoch_advance();
    size_t retained = rz("stats.retained");
    bm_free(h);
    epoch_advance();
    CHECK_EQ(rz("stats.retained") - retained, size);
    size_t bytes = released_bytes();
    uint64_t released = rq("stats.maintenance.released");
    for (int i = 0; i < 8 && released_bytes() - bytes < size - BM_PAGE; i++)
        bm_maintenance();
    CHECK(released_bytes() - bytes >= size - BM_PAGE); /* all but the span's first page */
    CHECK_EQ(rq("stats.maintenance.released") - released, released_bytes() - bytes);
    /* the span is clean now: once every dirty span is done, calls release nothing */
    for (int i = 0; i < 8; i++)
        bm_maintenance();
    bytes = released_bytes();
    bm_maintenance();
    CHECK_EQ(released_bytes(), bytes);
    /* the chunks still serve allocations (the hook zeroed them) */
    char *again = bm_malloc(size);
    CHECK(again != NULL);
    memset(again, 1, size);
    bm_free(again);
    CHECK_EQ(bm_check(), 0);
}

/* Pooled chunks decay on the slow paths: three separate dirty spans (one-chunk huge blocks
 * freed between live ones) stay backed until the arenas have taken and given back purge_age
 * page runs, then go back at most BM_POOL_SYNC_SPANS per arena unlock, oldest first. */
TEST(sync_purge_releases_pooled_chunks_by_age_a_span_at_a_time) {
    my_core();
    enum { NHUGE = 7, AGE = 64 };
    unsigned old_age = ru("arenas.purge_age");
    CHECK_EQ(act("arena.%u.purge", ru("arenas.narenas")), 0); /* nothing dirty anywhere */
    epoch_advance();
    CHECK_EQ(rz("stats.retained_dirty"), 0);
    size_t size = BM_LARGE_MAX + 1; /* one chunk each, consecutive from the pool */
    char *h[NHUGE];
    for (unsigned i = 0; i < NHUGE; i++) {
        h[i] = bm_malloc(size);
        CHECK(h[i] != NULL);
        if (!h[i])
            return;
        test_fill(h[i], size, 300 + i);
    }
    set_purge_age(AGE);
    set_purge("sync", 10, 0);
    for (unsigned i = 1; i < NHUGE; i += 2)
        bm_free(h[i]);
    epoch_advance();
    CHECK_EQ(rz("stats.retained_dirty"), 3 * BM_CHUNK);
    /* each uncached large malloc/free pair: two unlocks, two run operations */
    uint64_t decayed = rq("stats.maintenance.decayed");
    size_t large = uncached_large();
    unsigned pairs = 0, max_calls = 0;
    for (; pairs < 4 * AGE; pairs++) {
        unsigned calls = release_calls(0) + release_calls(1);
        uint64_t before = rq("stats.maintenance.decayed");
        bm_free(bm_malloc(large));
        unsigned now = release_calls(0) + release_calls(1) - calls;
        max_calls = now > max_calls ? now : max_calls;
        /* at most one span per unlock (and the arena's own runs, BM_PURGE_SYNC_RUNS each) */
        CHECK(rq("stats.maintenance.decayed") - before <= 2 * BM_POOL_SYNC_SPANS * BM_CHUNK);
        CHECK(now <= 2 * (BM_PURGE_SYNC_RUNS + BM_POOL_SYNC_SPANS));
        if (pairs < AGE / 4)
            CHECK_EQ(rq("stats.maintenance.decayed"), decayed); /* too young */
        epoch_advance();
        if (rz("stats.retained_dirty") == 0)
            break;
    }
    epoch_advance();
    CHECK_EQ(rz("stats.retained_dirty"), 0);
    CHECK_EQ(rq("stats.maintenance.decayed") - decayed, 3 * (BM_CHUNK - BM_PAGE)); /* all but headers */
    printf("  3 pooled spans released after %u large malloc/free pairs (age %u), at most %u release calls per pair\n",
           pairs, AGE, max_calls);
    for (unsigned i = 0; i < NHUGE; i += 2) {
        CHECK(test_verify(h[i], size, 300 + i));
        bm_free(h[i]);
    }
    set_purge("idle", 10, 0);
    set_purge_age(old_age);
    CHECK_EQ(act("arena.%u.purge", ru("arenas.narenas")), 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(maintenance_trims_an_idle_cache) {
    unsigned core = my_core();
    CHECK_EQ(act("thread.tcache.flush"), 0);
    void *p[32];
    for (int i = 0; i < 32; i++)
        p[i] = bm_malloc(160);
    for (int i = 0; i < 32; i++)
        bm_free(p[i]);
    size_t n0 = rz("stats.cores.%u.ncached", core);
    CHECK(n0 > 0);
    uint64_t trimmed = rq("stats.maintenance.trimmed");
    for (int i = 0; i < 3; i++)
        bm_maintenance();
    size_t n3 = rz("stats.cores.%u.ncached", core);
    CHECK(n3 < n0);
    CHECK_EQ(rq("stats.maintenance.trimmed") - trimmed, n0 - n3);
    printf("  cache: %zu objects, %zu after three idle calls\n", n0, n3);
    CHECK_EQ(bm_check(), 0);
}

static void *flush_peer(void *arg) {
    peer_t *p = arg;
    p->core = my_core();
    void *q[32];
    for (int i = 0; i < 32; i++)
        q[i] = bm_malloc(320);
    for (int i = 0; i < 32; i++)
        bm_free(q[i]);
    signal_to(p, &p->done, 1);
    wait_for(p, &p->step, 1);
    bm_maintenance(); /* the owning core honours the request here */
    signal_to(p, &p->done, 2);
    wait_for(p, &p->step, 2);
    return NULL;
}

TEST(maintenance_honours_a_flush_request_on_its_core) {
    my_core();
    static peer_t p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, NULL, {NULL}, 0};
    pthread_t t;
    pthread_create(&t, NULL, flush_peer, &p);
    wait_for(&p, &p.done, 1);
    CHECK(rz("stats.cores.%u.ncached", p.core) > 0);
    uint64_t honoured = rq("stats.maintenance.flushes_honoured");
    CHECK_EQ(act("tcache.flush_all"), 0);
    CHECK_EQ(rb("stats.cores.%u.flush_pending", p.core), true);
    signal_to(&p, &p.step, 1);
    wait_for(&p, &p.done, 2);
    CHECK_EQ(rb("stats.cores.%u.flush_pending", p.core), false);
    CHECK_EQ(rz("stats.cores.%u.ncached", p.core), 0);
    CHECK_EQ(rq("stats.maintenance.flushes_honoured"), honoured + 1);
    signal_to(&p, &p.step, 2);
    pthread_join(t, NULL);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_page_source_t sources[2] = {
        {node0, NODE_BYTES, NULL, release_zero, &node_ctx[0], 0},
        {node1, NODE_BYTES, NULL, release_zero, &node_ctx[1], 1},
    };
    bm_config_t config = {.sources = sources,
                          .nsources = 2,
                          .options = "narenas:2,arena_rule:node,purge:idle,dirty_max:10,dirty_min:0,retain:false",
                          .error_hook = test_count_error};
    if (bm_init(&config) != 0) {
        printf("bm_init failed\n0 passed, 1 failed\n");
        return 1;
    }
    return test_main();
}
