/*
 * Blocks handed between threads (the shape of rpmalloc's rptest as mimalloc-bench runs it,
 * written from that description only): threads=<n> workers (default 2), each with a working
 * set of SLOTS slots. A step picks a random slot; a block already there is released -- freed
 * by this thread, or one time in HANDOFF_ONE_IN handed to another thread -- and replaced
 * by a new block of a random size, 16 B to 16 KiB log-uniform (each power-of-two band equally
 * likely, so most blocks are small and most bytes are in large ones), its first and last byte
 * written. Handed blocks are collected in a batch (itself a malloc, BATCH entries); a full
 * batch goes onto the inbox of a thread picked at random among the others (a lock-free stack
 * per thread), and every worker empties its own inbox, reading and freeing what it received,
 * every POLL_EVERY steps. So about a quarter of the frees are remote ones, arriving in bursts
 * and mixed with the thread's own frees of every size. A worker whose target already has
 * MAX_PENDING batches waiting empties its own inbox until the target catches up, so that a
 * slow or descheduled receiver bounds the blocks in flight instead of letting them pile up.
 *
 * Fixed work: every worker does the same number of steps (scale= multiplies it), then frees
 * its working set and hands on its last partial batch; the main thread frees what is still in
 * the inboxes, inside the timing. Sizes and decisions come from each worker's own random
 * stream and never from what arrived when, so the calls made and the checksum (the marks of
 * every block, read just before its free) do not depend on thread interleaving.
 */
#include "bench_threads.h"

#include <sched.h>
#include <stdatomic.h>

enum {
    SLOTS = 1024,
    HANDOFF_ONE_IN = 4,
    BATCH = 32,
    POLL_EVERY = 16,
    MAX_PENDING = 16,
    SPINS_BEFORE_YIELD = 64,
    BASE_STEPS_PER_THREAD = 2000000,
    MAX_THREADS = 64,
    MIN_SIZE = 16,
    MAX_SIZE = 16384
};

typedef struct batch {
    struct batch *next;
    unsigned count;
    uint16_t sizes[BATCH];
    void *blocks[BATCH];
} batch_t;

/* One inbox per worker, each on its own cache line: any thread pushes, only its owner (and
 * the main thread after the join) takes the whole list at once, so there is no ABA. pending
 * counts the batches pushed and not yet taken; done is set once the owner looks no more. */
static struct {
    _Alignas(64) _Atomic(struct batch *) head;
    _Atomic unsigned pending;
    _Atomic int done;
} inbox[MAX_THREADS];

static int nthreads;

/* Reads and frees every block of every batch in the list, and the batches; returns the calls.
 * *batches (if not NULL) gets the number of batches. */
static uint64_t free_batches(batch_t *b, uint64_t *check, unsigned *batches)
{
    uint64_t ops = 0;
    unsigned n = 0;
    while (b) {
        batch_t *next = b->next;
        for (unsigned i = 0; i < b->count; i++) {
            *check += bench_read(b->blocks[i], b->sizes[i]);
            free(b->blocks[i]);
        }
        ops += b->count + 1;
        free(b);
        b = next;
        n++;
    }
    if (batches)
        *batches = n;
    return ops;
}

static uint64_t drain_inbox(unsigned id, uint64_t *check)
{
    if (!atomic_load_explicit(&inbox[id].head, memory_order_relaxed))
        return 0;
    unsigned n;
    uint64_t ops = free_batches(atomic_exchange_explicit(&inbox[id].head, NULL, memory_order_acquire),
                                check, &n);
    atomic_fetch_sub_explicit(&inbox[id].pending, n, memory_order_relaxed);
    return ops;
}

/* Pushes b onto worker to's inbox; while to has MAX_PENDING batches waiting (and still takes
 * them), worker from empties its own inbox (so two workers waiting on each other both move)
 * and yields now and then. Returns the calls made meanwhile. */
static uint64_t push_batch(unsigned from, unsigned to, batch_t *b, uint64_t *check)
{
    uint64_t ops = 0;
    unsigned spins = 0;
    while (atomic_load_explicit(&inbox[to].pending, memory_order_relaxed) >= MAX_PENDING &&
           !atomic_load_explicit(&inbox[to].done, memory_order_acquire)) {
        ops += drain_inbox(from, check);
        if (++spins >= SPINS_BEFORE_YIELD) {
            spins = 0;
            sched_yield();
        }
    }
    atomic_fetch_add_explicit(&inbox[to].pending, 1, memory_order_relaxed);
    batch_t *head = atomic_load_explicit(&inbox[to].head, memory_order_relaxed);
    do
        b->next = head;
    while (!atomic_compare_exchange_weak_explicit(&inbox[to].head, &head, b, memory_order_release,
                                                  memory_order_relaxed));
    return ops;
}

/* Another worker, from this worker's own stream (itself when running alone). */
static unsigned pick_target(bench_rng_t *rng, unsigned id)
{
    if (nthreads == 1)
        return id;
    return (id + 1 + bench_rng_below(rng, (uint32_t)nthreads - 1)) % (unsigned)nthreads;
}

static void *worker_main(void *arg)
{
    bench_worker_t *w = arg;
    void *blocks[SLOTS] = {0};
    uint16_t sizes[SLOTS] = {0};
    bench_rng_t rng;
    bench_rng_seed(&rng, 300 + w->id);
    uint64_t ops = 0, check = 0;
    batch_t *out = NULL;
    bench_worker_ready();
    for (uint64_t s = 0; s < w->work; s++) {
        uint64_t r = bench_rng_next(&rng);
        unsigned slot = (unsigned)(r >> 54) & (SLOTS - 1);
        if (blocks[slot]) {
            if ((r & 0xffff) < 0x10000 / HANDOFF_ONE_IN) {
                if (!out) {
                    out = bench_xmalloc(sizeof *out);
                    out->count = 0;
                    ops++;
                }
                out->blocks[out->count] = blocks[slot];
                out->sizes[out->count] = sizes[slot];
                if (++out->count == BATCH) {
                    ops += push_batch(w->id, pick_target(&rng, w->id), out, &check);
                    out = NULL;
                }
            } else {
                check += bench_read(blocks[slot], sizes[slot]);
                free(blocks[slot]);
                ops++;
            }
        }
        size_t size = bench_size_log(&rng, MIN_SIZE, MAX_SIZE);
        void *p = bench_xmalloc(size);
        bench_fill(p, size);
        blocks[slot] = p;
        sizes[slot] = (uint16_t)size;
        ops++;
        if (s % POLL_EVERY == POLL_EVERY - 1)
            ops += drain_inbox(w->id, &check);
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        if (blocks[i]) {
            check += bench_read(blocks[i], sizes[i]);
            free(blocks[i]);
            ops++;
        }
    }
    if (out)
        ops += push_batch(w->id, pick_target(&rng, w->id), out, &check);
    ops += drain_inbox(w->id, &check);
    atomic_store_explicit(&inbox[w->id].done, 1, memory_order_release);
    w->ops = ops;
    w->check = check;
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = bench_threads_arg(argc, argv, "handoff", MAX_THREADS);
    static bench_worker_t workers[MAX_THREADS];
    uint64_t steps = bench_scaled(argc, argv, BASE_STEPS_PER_THREAD);
    bench_timer_t timer = bench_workers_start("handoff", workers, nthreads, steps, worker_main);
    uint64_t ops = 0, check = 0;
    bench_workers_join(workers, nthreads, &ops, &check);
    /* Batches pushed after their receiver's last look: more remote frees, inside the timing. */
    for (int i = 0; i < nthreads; i++)
        ops += free_batches(atomic_exchange_explicit(&inbox[i].head, NULL, memory_order_acquire),
                            &check, NULL);
    bench_timer_stop(&timer);
    bench_report("handoff", nthreads, ops, &timer, check, "");
    return 0;
}
