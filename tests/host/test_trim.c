/*
 * Memory given back to the system (issue 11), on the host port's own page source (the
 * reserved range, madvise to release) with the default options, measured as the process's
 * resident set (/proc/self/statm). A burst of small blocks is allocated, written and freed;
 * then
 *  - with the default sync purging, the program going on allocating a little must bring the
 *    resident set back near where it was before the burst with no call at all: the chunks the
 *    burst emptied went back to the pool, and the pool decays by age on the slow paths (its
 *    pages used to stay backed for good). First, while the baseline is a fresh process's;
 *  - with slow-path purging off, arena.<i>.purge on every arena must do the same (it now
 *    releases pooled chunks' pages too);
 *  - bm_trim (glibc's malloc_trim in the drop-in library) must do it in one call and return 1,
 *    and 0 when called again with nothing left to give back.
 * The block pointers live in an mmap'd array, outside the allocator, touched before the
 * baseline is read.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "ext.h"
#include "test.h"
#include "ctl_read.h"

#if defined(BM_GEOMETRY_SMALL)
#define BURST ((size_t)16 << 20) /* the small geometry's host reservation is 48 MiB */
#elif defined(BM_ASAN)
#define BURST ((size_t)64 << 20)
#else
#define BURST ((size_t)256 << 20)
#endif
/* What may stay resident after a purge, of the burst: ASan's shadow of the touched range (an
 * eighth) stays; the small geometry's 256 B pages leave part of each 4 KiB OS page backed. */
#if defined(BM_ASAN) || defined(BM_GEOMETRY_SMALL)
#define RESIDUAL_SHARE 4
#else
#define RESIDUAL_SHARE 16
#endif
#define LO 16
#define HI 256

static unsigned char **blocks;
static size_t blocks_cap;

/* Resident bytes of the process (second field of /proc/self/statm), 0 if unreadable. */
static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void set_purge_mode(const char *mode) {
    CHECK_EQ(bm_ctl("arenas.purge", NULL, NULL, &mode, sizeof mode), 0);
}

static void purge_every_arena(void) {
    unsigned narenas = ru("arenas.narenas");
    for (unsigned a = 0; a < narenas; a++)
        CHECK_EQ(act("arena.%u.purge", a), 0);
}

/* Allocates bytes in blocks of LO-HI bytes, each written in full, into blocks[]; returns the
 * count. */
static size_t burst_alloc(size_t bytes, unsigned seed) {
    size_t n = 0, total = 0;
    while (total < bytes && n < blocks_cap) {
        seed = seed * 1103515245u + 12345u;
        size_t size = LO + (seed >> 8) % (HI - LO + 1);
        unsigned char *p = bm_malloc(size);
        CHECK(p != NULL);
        if (!p)
            break;
        memset(p, (int)(size & 0xff), size);
        blocks[n++] = p;
        total += size;
    }
    return n;
}

static void burst_free(size_t n) {
    for (size_t i = 0; i < n; i++)
        bm_free(blocks[i]);
}

/* Resident growth over base, printed in MiB (base may exceed the current figure). */
static size_t growth(size_t now, size_t base) { return now > base ? now - base : 0; }

#if !BM_REALTIME /* the real-time profile's arenas keep their chunks: see the #else */
/* The program goes on with a little work: rounds of 1 MiB (1/16 of the small geometry's
 * burst) allocated in small blocks and freed again. */
static void allocate_a_little(unsigned rounds) {
    for (unsigned r = 0; r < rounds; r++)
        burst_free(burst_alloc(BURST / 16 < ((size_t)1 << 20) ? BURST / 16 : (size_t)1 << 20, r + 7));
}

TEST(slow_paths_release_pooled_chunks_by_age) {
    bm_trim(); /* start from nothing to give back */
    size_t base = rss_bytes();
    uint64_t decayed = rq("stats.maintenance.decayed");
    size_t n = burst_alloc(BURST, 2);
    size_t peak = rss_bytes();
    burst_free(n);
    allocate_a_little(16);
    size_t after = rss_bytes();
    printf("  resident +%zu MiB at the peak, +%zu MiB after freeing it and 16 small rounds (no call); "
           "%llu MiB decayed\n",
           growth(peak, base) >> 20, growth(after, base) >> 20,
           (unsigned long long)((rq("stats.maintenance.decayed") - decayed) >> 20));
    CHECK(growth(peak, base) >= BURST / 2);
    CHECK(growth(after, base) <= BURST / RESIDUAL_SHARE);
    CHECK(rq("stats.maintenance.decayed") - decayed >= BURST / 2);
    CHECK_EQ(bm_check(), 0);
}

#else
/* Real-time profile: a chunk an arena took stays its own when its blocks are freed (no call
 * pays for releasing or setting it up again); purging still gives its pages back. */
TEST(arenas_keep_their_chunks_in_the_real_time_profile) {
    uint64_t chunks_before = rq("stats.arenas.0.nchunks");
    size_t n = burst_alloc(BURST / 4, 2);
    uint64_t chunks_peak = rq("stats.arenas.0.nchunks");
    burst_free(n);
    bm_cache_flush();
    CHECK(chunks_peak > chunks_before);
    CHECK_EQ(rq("stats.arenas.0.nchunks"), chunks_peak);
    CHECK_EQ(bm_check(), 0);
}
#endif

TEST(purge_releases_the_chunks_a_burst_emptied) {
    set_purge_mode("idle"); /* nothing but the purge below gives pages back */
    bm_trim(); /* start from nothing to give back */
    size_t base = rss_bytes();
    size_t n = burst_alloc(BURST, 1);
    size_t peak = rss_bytes();
    burst_free(n);
    bm_cache_flush();
    size_t freed = rss_bytes();
    purge_every_arena();
    size_t purged = rss_bytes();
    printf("  %zu blocks: resident +%zu MiB at the peak, +%zu MiB freed, +%zu MiB after arena.<i>.purge\n", n,
           growth(peak, base) >> 20, growth(freed, base) >> 20, growth(purged, base) >> 20);
    CHECK(growth(peak, base) >= BURST / 2);
    CHECK(growth(freed, base) >= BURST / 2); /* purge:idle kept them */
    CHECK(growth(purged, base) <= BURST / RESIDUAL_SHARE);
    set_purge_mode("sync");
    CHECK_EQ(bm_check(), 0);
}

TEST(trim_returns_a_burst_and_says_whether_it_did) {
    set_purge_mode("idle");
    bm_trim(); /* start from nothing to give back */
    size_t base = rss_bytes();
    size_t n = burst_alloc(BURST, 3);
    size_t peak = rss_bytes();
    burst_free(n); /* some of it still in this core's cache: bm_trim flushes it */
    CHECK(rz("stats.cores.%u.ncached", ru("thread.core")) > 0);
    CHECK_EQ(bm_trim(), 1);
    size_t trimmed = rss_bytes();
    CHECK_EQ(rz("stats.cores.%u.ncached", ru("thread.core")), 0);
    CHECK_EQ(bm_trim(), 0); /* nothing left to give back */
    printf("  resident +%zu MiB at the peak, +%zu MiB after bm_trim\n", growth(peak, base) >> 20,
           growth(trimmed, base) >> 20);
    CHECK(growth(trimmed, base) <= BURST / RESIDUAL_SHARE);
    set_purge_mode("sync");
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    blocks_cap = BURST / 128 + 1024;
    blocks = mmap(NULL, blocks_cap * sizeof *blocks, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED) {
        printf("mmap failed\n0 passed, 1 failed\n");
        return 1;
    }
    memset(blocks, 1, blocks_cap * sizeof *blocks); /* resident before every baseline */
    bm_config_t config = {.error_hook = test_count_error};
    if (bm_init(&config) != 0) {
        printf("bm_init failed\n0 passed, 1 failed\n");
        return 1;
    }
    return test_main();
}
