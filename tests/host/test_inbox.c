/*
 * Remote frees through the arenas' inboxes (BM_REMOTE_INBOX, arena.c): blocks that one thread
 * flushes into an arena whose lock another thread holds wait in that arena's inbox (the flush
 * does not wait), are not counted as allocated, pass bm_check, and go back to their runs when
 * the lock is next taken; with the lock free they go straight back; a double free of a block
 * in an inbox is reported and nothing is handed out twice; the validator catches a block that
 * is both cached and in an inbox, and a write after free on a block in an inbox. Where the
 * inbox is compiled out (the real-time profile), the same remote frees go straight to their
 * runs and the inbox statistics stay 0.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ctl_read.h"
#include "ext.h"
#include "test.h"

static unsigned char heap0[64 * BM_CHUNK] __attribute__((aligned(BM_CHUNK)));

enum { NBLOCKS = 200, BLOCK = 64 };

/* This thread's arena binding: a failed write is a failed CHECK. */
static void bind_arena(unsigned a) { CHECK_EQ(bm_ctl("thread.arena", NULL, NULL, &a, sizeof a), 0); }

/* Runs fn(arg) on a new thread bound to arena 1, which then flushes its cache, and waits for it.
 * With hold_arena_0, this thread holds arena 0's lock meanwhile (the inbox's case: the flush
 * must finish without it, within 2 s, or the CHECK fails). */
struct remote_job {
    void (*fn)(void *);
    void *arg;
    int ready, go, done;
    unsigned arena;
};
static void *remote_main(void *p) {
    struct remote_job *job = p;
    bind_arena(job->arena);
    bm_free(bm_malloc(BLOCK)); /* this thread's cache exists before arena 0's lock is taken */
    __atomic_store_n(&job->ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&job->go, __ATOMIC_ACQUIRE))
        usleep(100);
    job->fn(job->arg);
    bm_cache_flush(); /* the remote blocks leave this thread's cache */
    __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
    return NULL;
}
static void on_arena(unsigned arena, void (*fn)(void *), void *arg, bool hold_arena_0) {
    struct remote_job job = {fn, arg, 0, 0, 0, arena};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, remote_main, &job), 0);
    while (!__atomic_load_n(&job.ready, __ATOMIC_ACQUIRE))
        usleep(100);
    if (hold_arena_0)
        bm_arena_lock(bm_state.arenas[0]);
    __atomic_store_n(&job.go, 1, __ATOMIC_RELEASE);
    for (unsigned waits = 0; hold_arena_0 && waits < 4000 && !__atomic_load_n(&job.done, __ATOMIC_ACQUIRE); waits++)
        usleep(500);
    int done = __atomic_load_n(&job.done, __ATOMIC_ACQUIRE);
    if (hold_arena_0)
        bm_arena_unlock(bm_state.arenas[0]);
    pthread_join(t, NULL);
    CHECK(!hold_arena_0 || done); /* the flush did not wait for the lock held here */
}
static void on_arena_1(void (*fn)(void *), void *arg, bool hold_arena_0) { on_arena(1, fn, arg, hold_arena_0); }

static void free_all(void *arg) {
    void **blocks = arg;
    for (unsigned i = 0; i < NBLOCKS; i++)
        bm_free(blocks[i]);
}

/* Statistics as the epoch snapshot has them (stats.arenas.* are read from it). */
static void refresh(void) {
    uint64_t e = 1;
    size_t len = sizeof e;
    CHECK_EQ(bm_ctl("epoch", &e, &len, &e, sizeof e), 0);
}

TEST(remote_frees_wait_in_the_owner_inbox_until_it_locks) {
    bind_arena(0);
    bm_cache_flush();
    size_t baseline = bm_stats_allocated();
    refresh();
    uint64_t drained0 = rq("stats.arenas.0.inbox.drained"), pushes0 = rq("stats.arenas.0.inbox.pushes");
    (void)drained0;
    void *blocks[NBLOCKS];
    for (unsigned i = 0; i < NBLOCKS; i++) {
        blocks[i] = bm_malloc(BLOCK);
        CHECK(blocks[i] && bm_chunk_of(blocks[i])->arena == bm_state.arenas[0]);
        memset(blocks[i], 0x5c, BLOCK);
    }
    size_t with_blocks = bm_stats_allocated(); /* the blocks and the rest of the refill's batch */
    CHECK(with_blocks >= baseline + NBLOCKS * BLOCK);
    on_arena_1(free_all, blocks, BM_REMOTE_INBOX); /* without the inbox the flush would wait */
    /* freed: not allocated any more, wherever they wait */
    CHECK_EQ(bm_stats_allocated(), with_blocks - NBLOCKS * BLOCK);
    CHECK_EQ(bm_check(), 0);
    refresh();
#if BM_REMOTE_INBOX
    CHECK_EQ(rz("stats.arenas.0.inbox.bytes"), (size_t)NBLOCKS * BLOCK);
    CHECK(rq("stats.arenas.0.inbox.pushes") > pushes0);
    CHECK_EQ(rq("stats.arenas.0.inbox.drained"), drained0);
#else
    CHECK_EQ(rz("stats.arenas.0.inbox.bytes"), 0);
    CHECK_EQ(rq("stats.arenas.0.inbox.pushes"), pushes0);
#endif
    CHECK_EQ(rz("stats.arenas.0.allocated"), rz("stats.arenas.0.small.allocated") - rz("stats.arenas.0.inbox.bytes"));
    /* the owner takes its lock (a flush of its own cache): the inbox empties into the runs */
    void *own = bm_malloc(BLOCK);
    bm_free(own);
    bm_cache_flush();
    refresh();
    CHECK_EQ(rz("stats.arenas.0.inbox.bytes"), 0);
#if BM_REMOTE_INBOX
    CHECK_EQ(rq("stats.arenas.0.inbox.drained"), drained0 + NBLOCKS);
#endif
    CHECK_EQ(bm_stats_allocated(), baseline);
    CHECK_EQ(bm_check(), 0);
}

TEST(remote_frees_to_a_free_lock_go_straight_back) {
    bind_arena(0);
    bm_cache_flush();
    refresh();
    uint64_t pushes0 = rq("stats.arenas.0.inbox.pushes");
    size_t with_blocks_before = bm_stats_allocated();
    void *blocks[NBLOCKS];
    for (unsigned i = 0; i < NBLOCKS; i++) {
        blocks[i] = bm_malloc(BLOCK);
        CHECK(blocks[i] != NULL);
    }
    size_t with_blocks = bm_stats_allocated();
    CHECK(with_blocks >= with_blocks_before + NBLOCKS * BLOCK);
    on_arena_1(free_all, blocks, false); /* arena 0's lock is free: the flush takes it */
    CHECK_EQ(bm_stats_allocated(), with_blocks - NBLOCKS * BLOCK);
    refresh();
    CHECK_EQ(rz("stats.arenas.0.inbox.bytes"), 0);
    CHECK_EQ(rq("stats.arenas.0.inbox.pushes"), pushes0);
    CHECK_EQ(bm_check(), 0);
}

#if BM_REMOTE_INBOX
/* A thread of arena 0 flushing its own arena's blocks while another holds arena 0's lock. */
static void *own_blocks[NBLOCKS];
static void free_own_blocks(void *arg) {
    (void)arg;
    for (unsigned i = 0; i < NBLOCKS; i++)
        bm_free(own_blocks[i]);
}

TEST(a_flush_never_waits_for_its_own_arena_lock) {
    bind_arena(0);
    for (unsigned i = 0; i < NBLOCKS; i++) {
        own_blocks[i] = bm_malloc(BLOCK);
        CHECK(own_blocks[i] != NULL);
    }
    bm_cache_flush(); /* nothing of arena 0 cached here: the worker's flush is all that moves */
    bm_arena_t *arena = bm_state.arenas[0];
    size_t before = bm_arena_inbox_bytes(arena);
    on_arena(0, free_own_blocks, NULL, true); /* fails unless the flush finished without the lock */
    /* the blocks, and what the worker's own refill had cached besides */
    CHECK(bm_arena_inbox_bytes(arena) >= before + NBLOCKS * BLOCK);
    CHECK_EQ(bm_check(), 0); /* bm_check reads the inbox as it is (its raw locks do not drain it) */
    bm_free(bm_malloc(BLOCK));
    bm_cache_flush(); /* takes arena 0's lock: the inbox empties */
    CHECK_EQ(bm_arena_inbox_bytes(arena), 0);
    CHECK_EQ(bm_check(), 0);
}
#endif

#if BM_FREE_CHECKS /* without them the allocator trusts the caller: a double free is undefined */
static void *victim;
static unsigned reports_on_remote;
static void free_twice(void *arg) {
    (void)arg;
    bm_free(victim);
    bm_cache_flush(); /* into arena 0's inbox */
    unsigned before = test_error_reports;
    bm_free(victim); /* again, while it waits there */
    reports_on_remote = test_error_reports - before;
}

TEST(a_double_free_of_a_block_in_an_inbox_is_reported_and_nothing_has_two_owners) {
    bind_arena(0);
    victim = bm_malloc(BLOCK);
    CHECK(victim != NULL);
    on_arena_1(free_twice, NULL, BM_REMOTE_INBOX);
    CHECK_EQ(reports_on_remote, 1);
    CHECK_EQ(bm_check(), 0);
    bm_cache_flush(); /* the owner drains */
    CHECK_EQ(bm_check(), 0);
    /* every block of the class handed out now is distinct, the victim at most once */
    void *got[2 * NBLOCKS];
    unsigned seen = 0;
    for (unsigned i = 0; i < 2 * NBLOCKS; i++) {
        got[i] = bm_malloc(BLOCK);
        CHECK(got[i] != NULL);
        seen += got[i] == victim;
        for (unsigned j = 0; j < i; j++)
            if (got[j] == got[i])
                CHECK(!"a block handed out twice");
    }
    CHECK(seen <= 1);
    for (unsigned i = 0; i < 2 * NBLOCKS; i++)
        bm_free(got[i]);
    CHECK_EQ(bm_check(), 0);
}
#endif

#if BM_REMOTE_INBOX
TEST(the_validator_sees_a_block_both_cached_and_in_an_inbox) {
    bind_arena(0);
    void *p = bm_malloc(BLOCK);
    CHECK(p != NULL);
    bm_free(p); /* in this thread's cache */
    bm_arena_t *arena = bm_chunk_of(p)->arena;
    unsigned reports = test_error_reports;
    /* the bug the inbox must never have: the same block also pushed as a remote free */
    BM_UNPOISON(bm_inbox_link(p), sizeof(void *));
    bm_arena_inbox_push(arena, p, p, BLOCK);
    CHECK(bm_check() > 0);
    CHECK(test_error_reports > reports);
    /* undone by hand (taking the lock would give it back a second time) */
    __atomic_store_n(&arena->inbox, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&arena->inbox_bytes, 0, __ATOMIC_RELAXED);
    CHECK_EQ(bm_check(), 0);
}

#if BM_FREE_CHECKS && !defined(BM_ASAN) /* no mark to lose without the checks; ASan stops the use after free */
static void *remote_block;
static void free_remote_block(void *arg) {
    (void)arg;
    bm_free(remote_block);
}

TEST(the_validator_sees_a_write_after_free_on_a_block_in_an_inbox) {
    bind_arena(0);
    remote_block = bm_malloc(BLOCK);
    CHECK(remote_block != NULL);
    on_arena_1(free_remote_block, NULL, BM_REMOTE_INBOX);
    uintptr_t saved = *(volatile uintptr_t *)remote_block;
    *(volatile uintptr_t *)remote_block = 0x1234; /* the freed mark overwritten */
    unsigned reports = test_error_reports;
    CHECK(bm_check() > 0);
    CHECK(test_error_reports > reports);
    *(volatile uintptr_t *)remote_block = saved;
    CHECK_EQ(bm_check(), 0);
    bm_cache_flush();
    CHECK_EQ(bm_check(), 0);
}
#endif
#endif

int main(void) {
    bm_set_error_hook(test_count_error);
    bm_page_source_t sources[1] = {{.base = heap0, .size = sizeof heap0}};
    bm_config_t config = {.sources = sources, .nsources = 1, .options = "narenas:2"};
    int err = bm_init(&config);
    if (err) {
        fprintf(stderr, "bm_init: %d\n", err);
        return 1;
    }
    return test_main();
}
