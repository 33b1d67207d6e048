/*
 * Object caches (bm_objcache_*): bad arguments refused, alignment and zeroing, type isolation
 * (no run holds objects of two caches or of a cache and malloc: the validator checks every run's
 * owner and the test checks the pages), every wrong free reported and ignored, destroy refused
 * while objects live, statistics through bm_ctl and the report, and two threads allocating and
 * freeing each other's objects.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ctl_read.h"
#include "ext.h"
#include "test.h"

static unsigned char heap0[64 * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));

static size_t size_max(void) { return rz("objcache.size_max"); }

/* The index bm_ctl shows oc under (its id - 1): found by name. */
static unsigned index_of(const char *name) {
    unsigned max = ru("objcache.max");
    for (unsigned i = 0; i < max; i++) {
        const char *s = NULL;
        size_t len = sizeof s;
        char key[64];
        snprintf(key, sizeof key, "objcache.%u.name", i);
        if (bm_ctl(key, &s, &len, NULL, 0) == 0 && s && strcmp(s, name) == 0)
            return i;
    }
    return max;
}

TEST(bad_arguments_are_refused) {
    struct {
        const char *name;
        size_t size, align;
        int flags;
    } bad[] = {
        {NULL, 32, 0, 0},
        {"", 32, 0, 0},
        {"a-name-that-is-far-too-long-for-a-cache", 32, 0, 0},
        {"zero", 0, 0, 0},
        {"big", 0, 0, 0}, /* size set below: past the largest small class */
        {"align3", 32, 3, 0},
        {"flag", 32, 0, 0x100},
    };
    bad[4].size = size_max() + 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bm_objcache_t *oc = bm_objcache_create(bad[i].name, bad[i].size, bad[i].align, bad[i].flags);
        CHECK(oc == NULL);
        CHECK_EQ(bm_last_error(), BM_EINVAL);
    }
    /* the largest size allowed works */
    bm_objcache_t *oc = bm_objcache_create("largest", size_max(), 0, 0);
    CHECK(oc != NULL);
    void *p = bm_objcache_alloc(oc);
    CHECK(p != NULL);
    memset(p, 0x5a, size_max());
    bm_objcache_free(oc, p);
    CHECK_EQ(bm_objcache_destroy(oc), 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(objects_are_aligned_zeroed_and_reused) {
    bm_objcache_t *oc = bm_objcache_create("aligned", 40, 64, BM_OBJCACHE_ZERO);
    CHECK(oc != NULL);
    void *objs[300];
    for (unsigned i = 0; i < 300; i++) {
        objs[i] = bm_objcache_alloc(oc);
        CHECK(objs[i] != NULL);
        CHECK_EQ((uintptr_t)objs[i] & 63, 0);
        unsigned char *b = objs[i];
        for (unsigned j = 0; j < 40; j++)
            CHECK_EQ(b[j], 0);
        memset(objs[i], 0xee, 40);
    }
    for (unsigned i = 0; i < 300; i++)
        for (unsigned j = i + 1; j < i + 4 && j < 300; j++)
            CHECK(objs[i] != objs[j]);
    void *last = objs[299];
    for (unsigned i = 0; i < 300; i++)
        bm_objcache_free(oc, objs[i]);
    void *again = bm_objcache_alloc(oc); /* the core's stack gives the last freed back, zeroed */
    CHECK(again == last || BM_HARDENING >= 2); /* level 2 keeps no stack */
    CHECK_EQ(((unsigned char *)again)[0], 0);
    bm_objcache_free(oc, again);
    CHECK_EQ(bm_check(), 0);
    CHECK_EQ(bm_objcache_destroy(oc), 0);
}

/* Pages holding objects of a and of b (and of malloc) never coincide, though all three are the
 * same size class and allocated interleaved. */
TEST(caches_never_share_a_run_with_each_other_or_malloc) {
    bm_objcache_t *a = bm_objcache_create("iso-a", 48, 0, 0), *b = bm_objcache_create("iso-b", 48, 0, 0);
    CHECK(a && b && a != b);
    enum { N = 400 };
    static void *pa[N], *pb[N], *pm[N];
    for (unsigned i = 0; i < N; i++) {
        pa[i] = bm_objcache_alloc(a);
        pm[i] = bm_malloc(48);
        pb[i] = bm_objcache_alloc(b);
        CHECK(pa[i] && pb[i] && pm[i]);
    }
    unsigned shared = 0;
    for (unsigned i = 0; i < N; i++)
        for (unsigned j = 0; j < N; j++) {
            uintptr_t page_a = (uintptr_t)pa[i] >> BM_LG_PAGE, page_b = (uintptr_t)pb[j] >> BM_LG_PAGE,
                      page_m = (uintptr_t)pm[j] >> BM_LG_PAGE;
            shared += page_a == page_b || page_a == page_m || ((uintptr_t)pb[i] >> BM_LG_PAGE) == page_m;
        }
    CHECK_EQ(shared, 0);
    CHECK_EQ(bm_check(), 0); /* every run's owner and every bin's counts */
    for (unsigned i = 0; i < N; i++) {
        bm_objcache_free(a, pa[i]);
        bm_objcache_free(b, pb[i]);
        bm_free(pm[i]);
    }
    CHECK_EQ(bm_check(), 0);
    CHECK_EQ(bm_objcache_destroy(a), 0);
    CHECK_EQ(bm_objcache_destroy(b), 0);
    CHECK_EQ(bm_check(), 0);
}

TEST(every_wrong_free_is_reported_and_ignored) {
    bm_objcache_t *a = bm_objcache_create("wrong-a", 64, 0, 0), *b = bm_objcache_create("wrong-b", 64, 0, 0);
    CHECK(a && b);
    void *x = bm_objcache_alloc(a);
    void *m = bm_malloc(64);
    CHECK(x && m);
    memset(x, 0x11, 64);
    unsigned reports = test_error_reports;
    bm_objcache_free(b, x); /* the wrong cache */
    CHECK_EQ(test_error_reports, reports + 1);
    CHECK_EQ(bm_last_error(), BM_EINVAL);
    bm_free(x); /* the malloc API */
    CHECK_EQ(test_error_reports, reports + 2);
    CHECK(bm_realloc(x, 128) == NULL);
    CHECK_EQ(test_error_reports, reports + 3);
    CHECK_EQ(bm_usable_size(x), 0);
    CHECK_EQ(test_error_reports, reports + 4);
    bm_objcache_free(a, m); /* a malloc block */
    CHECK_EQ(test_error_reports, reports + 5);
    bm_objcache_free(a, (char *)x + 8); /* inside an object */
    CHECK_EQ(test_error_reports, reports + 6);
    bm_objcache_free(NULL, x);
    CHECK_EQ(test_error_reports, reports + 7);
    CHECK_EQ(bm_check(), 0);
    /* none of those took x: it is still live and whole, and frees once to its own cache */
    unsigned char *bx = x;
    CHECK(bx[0] == 0x11 && bx[63] == 0x11);
    bm_objcache_free(a, x);
    CHECK_EQ(test_error_reports, reports + 7);
#if BM_FREE_CHECKS || BM_HARDENING >= 2
    bm_objcache_free(a, x); /* a double free */
    CHECK_EQ(test_error_reports, reports + 8);
    reports++;
#endif
    /* nothing of a was handed to malloc, nothing of malloc to a */
    void *y = bm_objcache_alloc(a);
    CHECK(y == x);
    bm_objcache_free(a, y);
    bm_free(m);
    CHECK_EQ(test_error_reports, reports + 7);
    CHECK_EQ(bm_check(), 0);
    CHECK_EQ(bm_objcache_destroy(a), 0);
    CHECK_EQ(bm_objcache_destroy(b), 0);
}

TEST(destroy_with_live_objects_is_refused) {
    bm_objcache_t *oc = bm_objcache_create("busy", 100, 0, 0);
    CHECK(oc != NULL);
    void *p[50];
    for (unsigned i = 0; i < 50; i++)
        p[i] = bm_objcache_alloc(oc);
    unsigned reports = test_error_reports;
    CHECK_EQ(bm_objcache_destroy(oc), BM_EBUSY);
    CHECK_EQ(test_error_reports, reports + 1);
    for (unsigned i = 1; i < 50; i++)
        bm_objcache_free(oc, p[i]);
    CHECK_EQ(bm_objcache_destroy(oc), BM_EBUSY); /* one still live */
    CHECK_EQ(test_error_reports, reports + 2);
    void *q = bm_objcache_alloc(oc); /* still usable */
    CHECK(q != NULL);
    bm_objcache_free(oc, q);
    bm_objcache_free(oc, p[0]);
    unsigned index = index_of("busy");
    CHECK(index < ru("objcache.max"));
    CHECK(rz("stats.objcaches.%u.curruns", index) > 0);
    CHECK_EQ(bm_objcache_destroy(oc), 0);
    CHECK_EQ(test_error_reports, reports + 2);
    CHECK_EQ(bm_check(), 0); /* and the validator saw no run of it left */
    size_t len = sizeof(size_t);
    size_t v;
    char key[64];
    snprintf(key, sizeof key, "stats.objcaches.%u.curruns", index);
    CHECK_EQ(bm_ctl(key, &v, &len, NULL, 0), BM_ENOENT);
    /* a destroyed cache is refused everywhere */
    CHECK(bm_objcache_alloc(oc) == NULL);
    CHECK_EQ(bm_last_error(), BM_EINVAL);
    CHECK_EQ(bm_objcache_destroy(oc), BM_EINVAL);
    CHECK_EQ(test_error_reports, reports + 4);
    /* its id is reused by the next create */
    bm_objcache_t *again = bm_objcache_create("busy-again", 100, 0, 0);
    CHECK(again == oc);
    CHECK_EQ(bm_objcache_destroy(again), 0);
}

static char report[1 << 16];
static size_t report_used;
static void report_sink(void *opaque, const char *text) {
    (void)opaque;
    size_t n = strlen(text);
    if (report_used + n + 1 < sizeof report) {
        memcpy(report + report_used, text, n + 1);
        report_used += n;
    }
}

TEST(statistics_count_each_cache) {
    bm_objcache_t *oc = bm_objcache_create("counted", 24, 0, 0);
    CHECK(oc != NULL);
    unsigned index = index_of("counted");
    CHECK(index < ru("objcache.max"));
    void *p[70];
    for (unsigned i = 0; i < 70; i++)
        p[i] = bm_objcache_alloc(oc);
    for (unsigned i = 0; i < 30; i++)
        bm_objcache_free(oc, p[i]);
    CHECK_EQ(rq("stats.objcaches.%u.nalloc", index), 70);
    CHECK_EQ(rq("stats.objcaches.%u.nfree", index), 30);
    CHECK_EQ(rz("stats.objcaches.%u.live", index), 40);
    CHECK_EQ(rz("stats.objcaches.%u.size", index), 24);
    size_t cached = rz("stats.objcaches.%u.cached", index);
    CHECK_EQ(rz("stats.objcaches.%u.curregs", index), 40 + cached);
    CHECK(rz("stats.objcaches.%u.class_size", index) >= 24);
    /* the report names it, with its live count, in text and in JSON */
    report_used = 0;
    bm_stats_print(report_sink, NULL, "gnabcm");
    CHECK(strstr(report, "counted") != NULL);
    CHECK(strstr(report, "live objects") != NULL);
    report_used = 0;
    bm_stats_print(report_sink, NULL, "Jgnabcm");
    CHECK(strstr(report, "\"name\": \"counted\"") != NULL);
    CHECK(strstr(report, "\"live\": 40") != NULL);
    CHECK_EQ(bm_check(), 0);
    for (unsigned i = 30; i < 70; i++)
        bm_objcache_free(oc, p[i]);
    CHECK_EQ(rz("stats.objcaches.%u.live", index), 0);
    CHECK_EQ(bm_objcache_destroy(oc), 0);
}

/* A cache's metadata is sized by the arenas and cores there are (not by BM_MAX_ARENAS), and an
 * arena created after the cache gets the cache's bin when a core bound to it first allocates. */
TEST(a_cache_pays_for_existing_arenas_and_reaches_a_later_one) {
    /* Hold caches until one takes a new id (a destroyed id is reused without new metadata). */
    bm_objcache_t *held[BM_MAX_OBJCACHES];
    unsigned nheld = 0;
    size_t cost = 0;
    while (nheld < BM_MAX_OBJCACHES && cost == 0) {
        char name[16];
        snprintf(name, sizeof name, "sized%u", nheld);
        size_t before = bm_state.base_allocated;
        held[nheld] = bm_objcache_create(name, 40, 0, 0);
        CHECK(held[nheld] != NULL);
        if (!held[nheld])
            break;
        cost = bm_state.base_allocated - before;
        nheld++;
    }
    unsigned narenas = ru("arenas.narenas");
    size_t per_core = sizeof(bm_objcache_stack_t) + BM_OBJCACHE_SLOTS * sizeof(void *);
    size_t bound = sizeof(bm_objcache_t) + narenas * sizeof(bm_bin_t) + bm_state.ncores * per_core + 4 * 64;
    CHECK(cost > 0);
    CHECK(cost <= bound);
    bm_objcache_t *oc = held[nheld - 1];
    /* an arena made after the cache: no bin there until a core bound to it allocates */
    unsigned a = 0;
    size_t len = sizeof a;
    CHECK_EQ(bm_ctl("arenas.create", &a, &len, NULL, 0), 0);
    CHECK(oc->bins[a] == NULL);
    CHECK_EQ(bm_check(), 0);
    unsigned old = ru("thread.arena");
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &a, sizeof a), 0);
    void *objs[100];
    for (unsigned i = 0; i < 100; i++) {
        objs[i] = bm_objcache_alloc(oc);
        CHECK(objs[i] != NULL);
        CHECK(objs[i] && bm_chunk_of(objs[i])->arena == bm_state.arenas[a]);
    }
    CHECK(oc->bins[a] != NULL);
    CHECK_EQ(bm_check(), 0);
    char last[16];
    snprintf(last, sizeof last, "sized%u", nheld - 1);
    CHECK_EQ(rz("stats.objcaches.%u.live", index_of(last)), 100);
    CHECK_EQ(bm_objcache_destroy(oc), BM_EBUSY); /* live objects in the later arena count */
    for (unsigned i = 0; i < 100; i++)
        bm_objcache_free(oc, objs[i]);
    CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &old, sizeof old), 0);
    CHECK_EQ(bm_check(), 0);
    for (unsigned i = 0; i < nheld; i++)
        CHECK_EQ(bm_objcache_destroy(held[i]), 0);
    CHECK_EQ(bm_check(), 0);
}

/* Two threads (two cores on the host port) each allocate objects and hand half to the other to
 * free: cross-core frees enter the freeing core's stack and go home when it flushes. */
static bm_objcache_t *shared_cache;
static void *volatile mailbox[2][256];
static volatile int mailbox_full[2];

static void *cross_worker(void *arg) {
    unsigned me = (unsigned)(uintptr_t)arg, other = 1 - me;
    for (unsigned round = 0; round < 200; round++) {
        void *mine[256];
        for (unsigned i = 0; i < 256; i++) {
            mine[i] = bm_objcache_alloc(shared_cache);
            if (mine[i])
                memset(mine[i], (int)me + 1, 56);
        }
        while (__atomic_load_n(&mailbox_full[other], __ATOMIC_ACQUIRE)) /* the other has not emptied it */
            ;
        for (unsigned i = 0; i < 128; i++)
            mailbox[other][i] = mine[i];
        __atomic_store_n(&mailbox_full[other], 1, __ATOMIC_RELEASE);
        for (unsigned i = 128; i < 256; i++)
            bm_objcache_free(shared_cache, mine[i]);
        while (!__atomic_load_n(&mailbox_full[me], __ATOMIC_ACQUIRE))
            ;
        for (unsigned i = 0; i < 128; i++) {
            unsigned char *b = mailbox[me][i];
            if (b && (b[0] != other + 1 || b[55] != other + 1))
                __atomic_fetch_add(&test_failures_in_case, 1, __ATOMIC_RELAXED);
            bm_objcache_free(shared_cache, b);
        }
        __atomic_store_n(&mailbox_full[me], 0, __ATOMIC_RELEASE);
    }
    return NULL;
}

TEST(two_threads_free_each_others_objects) {
    shared_cache = bm_objcache_create("cross", 56, 0, 0);
    CHECK(shared_cache != NULL);
    unsigned reports = test_error_reports;
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, cross_worker, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(test_error_reports, reports);
    unsigned index = index_of("cross");
    CHECK_EQ(rz("stats.objcaches.%u.live", index), 0);
    CHECK_EQ(rq("stats.objcaches.%u.nalloc", index), 2 * 200 * 256);
    CHECK_EQ(bm_check(), 0);
    CHECK_EQ(bm_objcache_destroy(shared_cache), 0);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    bm_page_source_t sources[1] = {{.base = heap0, .size = sizeof heap0}};
    bm_config_t config = {.sources = sources, .nsources = 1};
    int err = bm_init(&config);
    if (err) {
        fprintf(stderr, "bm_init: %d\n", err);
        return 1;
    }
    return test_main();
}
