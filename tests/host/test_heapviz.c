/*
 * tools/heapviz.py on a dump from a real run: two memory nodes (two static arrays, as a board
 * with SRAM and SDRAM), a workload that leaves small runs of several classes, large blocks,
 * holes of dirty pages, a huge block and a pooled span; the JSON is written the way a serial
 * console would capture it (among boot messages, with CR LF line ends). tests/host/
 * heapviz_check.py parses it with Python's json module, checks it against what this test
 * did, runs heapviz and checks the SVG.
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "ext.h"
#include "test.h"

#ifdef BM_GEOMETRY_SMALL
#define NODE_BYTES ((size_t)1 << 20)
#else
#define NODE_BYTES ((size_t)16 << 20)
#endif
static unsigned char node0[NODE_BYTES] __attribute__((aligned(4096)));
static unsigned char node1[NODE_BYTES] __attribute__((aligned(4096)));

unsigned bm_port_core_node(unsigned core) { return core & 1; }

static size_t rz(const char *name) {
    size_t v = 0, len = sizeof v;
    CHECK_EQ(bm_ctl(name, &v, &len, NULL, 0), 0);
    return v;
}

static void console(void *opaque, const char *text) {
    /* a serial console turns each LF into CR LF */
    for (; *text; text++) {
        if (*text == '\n')
            fputc('\r', opaque);
        fputc(*text, opaque);
    }
}

/* Several small classes with every third block freed, large blocks with holes. */
static void workload(void **keep, unsigned *nkeep, unsigned *large_live) {
    static const size_t small[] = {16, 48, 96, 200};
    for (unsigned c = 0; c < 4; c++) {
        void *p[300];
        for (unsigned i = 0; i < 300; i++)
            p[i] = bm_malloc(small[c]);
        for (unsigned i = 0; i < 300; i++) {
            if (i % 3 == 0)
                bm_free(p[i]);
            else
                keep[(*nkeep)++] = p[i];
        }
    }
    size_t sizes[] = {3 * BM_PAGE, 5 * BM_PAGE, BM_LARGE_MAX / 8};
    for (unsigned i = 0; i < 30; i++) {
        void *p = bm_malloc(sizes[i % 3]);
        if (i % 2) {
            bm_free(p);
        } else {
            keep[(*nkeep)++] = p;
            ++*large_live;
        }
    }
    bm_cache_flush(); /* cached blocks would show as allocated runs */
}

static void *keep_peer[2000];
static unsigned npeer, peer_large;

static void *peer(void *arg) {
    (void)arg;
    workload(keep_peer, &npeer, &peer_large);
    return NULL;
}

TEST(heapviz_draws_a_real_dump) {
    static void *keep[2000];
    unsigned nkeep = 0, large_live = 0;
    pthread_t t;
    workload(keep, &nkeep, &large_live);
    pthread_create(&t, NULL, peer, NULL); /* the other node */
    pthread_join(t, NULL);
    void *huge = bm_malloc(2 * BM_CHUNK);
    bm_free(bm_malloc(3 * BM_CHUNK)); /* a pooled span */
    bm_cache_flush();

    char log[96], svg[96], cmd[512];
    snprintf(log, sizeof log, "build/host/heapviz.%d.log", (int)getpid());
    snprintf(svg, sizeof svg, "build/host/heapviz.%d.svg", (int)getpid());
    FILE *f = fopen(log, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("U-Boot 2024.01 (board)\r\nbooting...\r\n[    0.001] heap: two banks\r\n", f);
    bm_stats_print(console, f, NULL); /* a text dump first: heapviz must skip it */
    fputs("app> stats json\r\n", f);
    bm_stats_print(console, f, "J");
    fputs("app> \r\n", f);
    fclose(f);
    size_t dirty = 0;
    for (unsigned a = 0; a < 2; a++) {
        char name[64];
        snprintf(name, sizeof name, "stats.arenas.%u.pdirty", a);
        dirty += rz(name);
    }
    snprintf(cmd, sizeof cmd,
             "python3 tests/host/heapviz_check.py %s %s nodes=2 regions=2 huge=1 allocated=%zu dirty_pages=%zu "
             "large_live=%u small_size=48",
             log, svg, rz("stats.allocated"), dirty, large_live + peer_large);
    int rc = system(cmd);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        remove(log);
        remove(svg);
    }
    for (unsigned i = 0; i < nkeep; i++)
        bm_free(keep[i]);
    for (unsigned i = 0; i < npeer; i++)
        bm_free(keep_peer[i]);
    bm_free(huge);
    CHECK_EQ(bm_check(), 0);
}

/* Static arrays cannot give pages back; a release hook that takes them all the same makes the
 * arenas count dirty pages (a heap without one has none), so the picture shows both kinds. */
static bool keep_pages(void *ctx, void *addr, size_t len) {
    (void)ctx, (void)addr, (void)len;
    return true;
}

int main(void) {
    bm_page_source_t sources[2] = {
        {node0, NODE_BYTES, NULL, keep_pages, NULL, 0},
        {node1, NODE_BYTES, NULL, keep_pages, NULL, 1},
    };
    bm_config_t config = {.sources = sources,
                          .nsources = 2,
                          .options = "narenas:2,arena_rule:node,purge:idle",
                          .error_hook = test_count_error};
    if (bm_init(&config) != 0) {
        printf("bm_init failed\n0 passed, 1 failed\n");
        return 1;
    }
    return test_main();
}
