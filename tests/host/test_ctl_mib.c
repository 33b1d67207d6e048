/*
 * bm_ctl_nametomib / bm_ctl_bymib and arenas.create: a MIB read equals the name read for every
 * kind of name (table, statistics group, option), changing a MIB's indices reaches another
 * arena or bin, every bad MIB and bad call gets its documented code, and arenas created at run
 * time (on the caller's node or a node written) serve BM_MALLOCX_ARENA and object caches, also
 * while other threads allocate. A program of its own: it creates arenas, which test_ctl's fixed
 * three-arena checks must not see.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include "ctl_read.h"
#include "ext.h"
#include "test.h"

/* Room for every arena the table takes, each drawing chunks of its own (several in the small
 * geometry, whose arenas keep their chunks in the real-time profile): 4 chunks an arena and 64
 * more, at least 16 MiB. */
#define HEAP_CHUNKS ((BM_MAX_ARENAS * 4 + 64) * BM_CHUNK > ((size_t)16 << 20) ? BM_MAX_ARENAS * 4 + 64 : ((size_t)16 << 20) / BM_CHUNK)
static unsigned char heap0[HEAP_CHUNKS * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));

/* epoch written through bm_ctl: the statistics snapshot refreshed. */
static int epoch_refresh(void) {
    uint64_t e = 1;
    size_t len = sizeof e;
    return bm_ctl("epoch", &e, &len, &e, sizeof e);
}

/* The MIB of name; a failed lookup is a failed CHECK. */
static void mib_of(const char *name, size_t mib[BM_CTL_MIB_LEN]) {
    size_t len = BM_CTL_MIB_LEN;
    int err = bm_ctl_nametomib(name, mib, &len);
    if (err)
        fprintf(stderr, "  bm_ctl_nametomib(\"%s\") = %d\n", name, err);
    CHECK_EQ(err, 0);
    CHECK_EQ(len, (size_t)BM_CTL_MIB_LEN);
}

/* The value (up to 8 bytes) of name read by name and by MIB, compared; size its length. */
static void check_mib_equals_name(const char *name, size_t size) {
    size_t mib[BM_CTL_MIB_LEN];
    mib_of(name, mib);
    uint64_t by_name = 0, by_mib = 0;
    size_t len_name = size, len_mib = size;
    CHECK_EQ(bm_ctl(name, &by_name, &len_name, NULL, 0), 0);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &by_mib, &len_mib, NULL, 0), 0);
    CHECK_EQ(len_mib, len_name);
    if (by_mib != by_name)
        fprintf(stderr, "  %s: by name %llu, by MIB %llu\n", name, (unsigned long long)by_name,
                (unsigned long long)by_mib);
    CHECK_EQ(by_mib, by_name);
}

TEST(mib_reads_equal_name_reads) {
    void *keep[40];
    for (int i = 0; i < 40; i++)
        keep[i] = bm_malloc(16 + 24 * (size_t)i); /* counters that are not all zero */
    CHECK_EQ(epoch_refresh(), 0);
    unsigned core = ru("thread.core");
    char name[96];
    static const struct {
        const char *name;
        size_t size;
    } names[] = {
        {"arenas.narenas", sizeof(unsigned)},
        {"arenas.chunk", sizeof(size_t)},
        {"arenas.bin.3.size", sizeof(size_t)},
        {"stats.allocated", sizeof(size_t)},
        {"stats.arenas.0.bins.2.curregs", sizeof(size_t)},
        {"stats.arenas.1.bins.5.nmalloc", sizeof(uint64_t)},
        {"opt.narenas", sizeof(unsigned)},
        {"objcache.max", sizeof(unsigned)},
        {"thread.arena", sizeof(unsigned)},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_mib_equals_name(names[i].name, names[i].size);
    snprintf(name, sizeof name, "stats.cores.%u.nfilled", core);
    check_mib_equals_name(name, sizeof(uint64_t));
    /* a string value: the same pointer both ways */
    size_t mib[BM_CTL_MIB_LEN];
    mib_of("version", mib);
    const char *s1 = NULL, *s2 = NULL;
    size_t len = sizeof s1;
    CHECK_EQ(bm_ctl("version", &s1, &len, NULL, 0), 0);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &s2, &len, NULL, 0), 0);
    CHECK(s1 && s2 && strcmp(s1, s2) == 0);
    for (int i = 0; i < 40; i++)
        bm_free(keep[i]);
}

TEST(mib_follows_a_counter_as_it_changes) {
    size_t mib[BM_CTL_MIB_LEN];
    unsigned arena = 1; /* named, not the calling core's: the host's threads move between cores */
    char name[96];
    /* small.nmalloc: the count at any hardening level (level 2's canary moves a size's class) */
    snprintf(name, sizeof name, "stats.arenas.%u.small.nmalloc", arena);
    mib_of(name, mib);
    size_t bin4 = rz("arenas.bin.4.size");
    uint64_t before = 0, after = 0, len = sizeof before;
    CHECK_EQ(epoch_refresh(), 0);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &before, &len, NULL, 0), 0);
    void *blocks[200];
    for (int i = 0; i < 200; i++)
        blocks[i] = bm_mallocx(bin4, BM_MALLOCX_ARENA(arena)); /* straight from the arena's bin */
    CHECK_EQ(epoch_refresh(), 0);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &after, &len, NULL, 0), 0);
    CHECK_EQ(after, before + 200);
    for (int i = 0; i < 200; i++)
        bm_sdallocx(blocks[i], bin4, BM_MALLOCX_NOCACHE);
}

TEST(mib_indices_reach_other_arenas_and_bins) {
    size_t mib[BM_CTL_MIB_LEN];
    mib_of("stats.arenas.0.bins.2.nmalloc", mib);
    CHECK_EQ(mib[2], 0u);
    CHECK_EQ(mib[3], 2u);
    void *p = bm_mallocx(rz("arenas.bin.7.size"), BM_MALLOCX_ARENA(1) | BM_MALLOCX_NOCACHE);
    CHECK(p != NULL);
    CHECK_EQ(epoch_refresh(), 0);
    unsigned narenas = ru("arenas.narenas"), nbins = ru("arenas.nbins");
    for (unsigned a = 0; a < narenas; a++) {
        for (unsigned b = 0; b < nbins; b += 3) {
            mib[2] = a;
            mib[3] = b;
            uint64_t v = 0;
            size_t len = sizeof v;
            CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &v, &len, NULL, 0), 0);
            CHECK_EQ(v, rq("stats.arenas.%u.bins.%u.nmalloc", a, b));
        }
    }
    /* an index past what exists: the code the name gets */
    mib[2] = narenas + 5;
    uint64_t v = 0;
    size_t len = sizeof v;
    char name[96];
    snprintf(name, sizeof name, "stats.arenas.%u.bins.2.nmalloc", narenas + 5);
    int by_name = bm_ctl(name, &v, &len, NULL, 0);
    CHECK(by_name != 0);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &v, &len, NULL, 0), by_name);
    bm_free(p);
}

TEST(mib_writes_as_names_do) {
    size_t mib[BM_CTL_MIB_LEN];
    mib_of("thread.arena", mib);
    unsigned old = 99, now = ru("thread.arena"), other = (now + 1) % ru("arenas.narenas");
    size_t len = sizeof old;
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &old, &len, &other, sizeof other), 0);
    CHECK_EQ(old, now);
    CHECK_EQ(ru("thread.arena"), other);
    /* a read-only name by MIB: BM_EPERM, as by name */
    size_t ro[BM_CTL_MIB_LEN];
    mib_of("arenas.narenas", ro);
    unsigned n = 7;
    CHECK_EQ(bm_ctl_bymib(ro, BM_CTL_MIB_LEN, NULL, NULL, &n, sizeof n), BM_EPERM);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, NULL, NULL, &now, sizeof now), 0);
    CHECK_EQ(ru("thread.arena"), now);
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, NULL, NULL, &now, 1), BM_EINVAL); /* wrong length */
}

TEST(bad_mibs_and_calls_get_their_codes) {
    size_t mib[BM_CTL_MIB_LEN], len = BM_CTL_MIB_LEN;
    CHECK_EQ(bm_ctl_nametomib("no.such.name", mib, &len), BM_ENOENT);
    CHECK_EQ(bm_ctl_nametomib("stats.arenas.x.bins.0.nmalloc", mib, &len), BM_ENOENT);
    CHECK_EQ(bm_ctl_nametomib(NULL, mib, &len), BM_EINVAL);
    CHECK_EQ(bm_ctl_nametomib("version", NULL, &len), BM_EINVAL);
    CHECK_EQ(bm_ctl_nametomib("version", mib, NULL), BM_EINVAL);
    len = 3;
    CHECK_EQ(bm_ctl_nametomib("version", mib, &len), BM_EINVAL);
    CHECK_EQ(len, (size_t)BM_CTL_MIB_LEN); /* told how long a MIB is */
    mib_of("stats.allocated", mib);
    size_t v = 0, vlen = sizeof v;
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN - 1, &v, &vlen, NULL, 0), BM_ENOENT);
    CHECK_EQ(bm_ctl_bymib(NULL, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_ENOENT);
    size_t good[BM_CTL_MIB_LEN];
    memcpy(good, mib, sizeof good);
    mib[0] = 0; /* no kind */
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_ENOENT);
    mib[0] = 77;
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_ENOENT);
    memcpy(mib, good, sizeof mib);
    mib[1] = (size_t)1 << 40; /* no such entry */
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_ENOENT);
    memcpy(mib, good, sizeof mib);
    mib[4] = 1000000000u; /* an index no decimal name of nine digits gives */
    CHECK_EQ(bm_ctl_bymib(mib, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_ENOENT);
    /* the good MIB still works, and a wrong output length is refused as by name */
    CHECK_EQ(bm_ctl_bymib(good, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), 0);
    vlen = 1;
    CHECK_EQ(bm_ctl_bymib(good, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_EINVAL);
    CHECK_EQ(vlen, sizeof(size_t));
    /* an option kind whose index is past the options */
    size_t opt[BM_CTL_MIB_LEN];
    mib_of("opt.narenas", opt);
    opt[1] = 100000;
    CHECK_EQ(bm_ctl_bymib(opt, BM_CTL_MIB_LEN, &v, &vlen, NULL, 0), BM_ENOENT);
    CHECK_EQ(bm_check(), 0);
}

/* ---- arenas.create ---- */

static unsigned create_arena(const unsigned *node) {
    unsigned index = 9999;
    size_t len = sizeof index;
    CHECK_EQ(bm_ctl("arenas.create", &index, &len, node, node ? sizeof *node : 0), 0);
    return index;
}

TEST(arenas_create_adds_an_arena_that_serves_blocks) {
    unsigned before = ru("arenas.narenas");
    unsigned a = create_arena(NULL);
    CHECK_EQ(a, before);
    CHECK_EQ(ru("arenas.narenas"), before + 1);
    unsigned node = 0;
    unsigned b = create_arena(&node);
    CHECK_EQ(b, before + 1);
    CHECK_EQ(ru("stats.arenas.%u.node", b), 0u);
    /* small, large and aligned blocks from the new arenas */
    size_t sizes[] = {24, 700, 3000, BM_LARGE_MAX / 4};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = bm_mallocx(sizes[i], BM_MALLOCX_ARENA(a));
        void *q = bm_mallocx(sizes[i], BM_MALLOCX_ARENA(b) | BM_MALLOCX_ZERO);
        CHECK(p && q);
        CHECK(bm_chunk_of(p)->arena == bm_state.arenas[a]);
        CHECK(bm_chunk_of(q)->arena == bm_state.arenas[b]);
        CHECK_EQ(((unsigned char *)q)[0], 0);
        memset(p, 0x5a, sizes[i]);
        CHECK_EQ(bm_check(), 0);
        bm_free(p);
        bm_sdallocx(q, sizes[i], 0);
    }
    /* the new arena's statistics exist and count what it served */
    CHECK_EQ(epoch_refresh(), 0);
    CHECK(rq("stats.arenas.%u.bins.0.nmalloc", a) + rq("stats.arenas.%u.large.nmalloc", a) > 0);
    /* a core bound to it allocates there through its cache, and an object cache follows */
    unsigned old = ru("thread.arena");
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &a, sizeof a), 0);
    bm_objcache_t *oc = bm_objcache_create("new-arena", 40, 0, 0);
    CHECK(oc != NULL);
    void *obj = bm_objcache_alloc(oc);
    void *blk = bm_malloc(100);
    CHECK(obj && blk);
    CHECK(bm_chunk_of(obj)->arena == bm_state.arenas[a]);
    CHECK(bm_chunk_of(blk)->arena == bm_state.arenas[a]);
    CHECK_EQ(bm_check(), 0);
    bm_objcache_free(oc, obj);
    bm_free(blk);
    CHECK_EQ(bm_objcache_destroy(oc), 0);
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &old, sizeof old), 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(arenas_create_refuses_bad_nodes_and_calls) {
    unsigned before = ru("arenas.narenas"), index = 9999, node = 77;
    size_t len = sizeof index;
    CHECK_EQ(bm_ctl("arenas.create", &index, &len, &node, sizeof node), BM_EINVAL);
    CHECK_EQ(index, 9999u);
    CHECK_EQ(bm_ctl("arenas.create", &index, &len, &node, 2), BM_EINVAL); /* wrong length */
    len = 2;
    CHECK_EQ(bm_ctl("arenas.create", &index, &len, NULL, 0), BM_EINVAL);
    CHECK_EQ(ru("arenas.narenas"), before);
    /* an arena past narenas is still refused by mallocx */
    CHECK(bm_mallocx(64, BM_MALLOCX_ARENA(before)) == NULL);
    CHECK_EQ(bm_last_error(), BM_EINVAL);
    CHECK_EQ(bm_check(), 0);
}

/* Threads allocating on their arenas while this one creates arenas until none is left. */
struct churn {
    volatile int stop;
    unsigned long served, progress; /* progress: blocks served so far, read while running */
};

static void *churn_main(void *arg) {
    struct churn *c = arg;
    void *slots[64] = {0};
    unsigned long n = 0;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        unsigned i = (unsigned)(n % 64);
        bm_free(slots[i]);
        unsigned narenas = __atomic_load_n(&bm_state.narenas, __ATOMIC_ACQUIRE);
        /* every other block from the newest arena: it was created a moment ago */
        slots[i] = n & 1 ? bm_mallocx(32 + n % 500, BM_MALLOCX_ARENA(narenas - 1)) : bm_malloc(32 + n % 900);
        if (!slots[i])
            fprintf(stderr, "  churn: NULL for %lu bytes, error %d\n", 32 + n % 900, bm_last_error());
        CHECK(slots[i] != NULL);
        n++;
        __atomic_fetch_add(&c->progress, 1, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < 64; i++)
        bm_free(slots[i]);
    c->served = n;
    return NULL;
}

TEST(arenas_create_while_threads_allocate) {
    struct churn c = {0, 0, 0};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, churn_main, &c), 0);
    unsigned created = 0, index = 0;
    size_t len = sizeof index;
    int err;
    for (;;) {
        /* each creation lands while the threads are in their loops: wait for them to move on */
        unsigned long seen = __atomic_load_n(&c.progress, __ATOMIC_RELAXED);
        while (__atomic_load_n(&c.progress, __ATOMIC_RELAXED) < seen + 20)
            sched_yield();
        if ((err = bm_ctl("arenas.create", &index, &len, NULL, 0)) != 0)
            break;
        created++;
        void *p = bm_mallocx(200, BM_MALLOCX_ARENA(index));
        CHECK(p != NULL);
        bm_free(p);
    }
    __atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    CHECK_EQ(err, BM_ENOMEM); /* the arena table is full, said so */
    unsigned narenas = ru("arenas.narenas");
    CHECK(narenas == BM_MAX_ARENAS || narenas == 128);
    CHECK(created > 0);
    CHECK(c.served > 0);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_page_source_t sources[] = {{.base = heap0, .size = sizeof heap0}};
    bm_config_t config = {.sources = sources, .nsources = 1, .options = "narenas:2", .error_hook = test_count_error};
    int err = bm_init(&config);
    if (err) {
        fprintf(stderr, "bm_init: %d\n", err);
        return 1;
    }
    return test_main();
}
