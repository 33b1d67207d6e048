/*
 * Many threads freeing each other's small blocks (the shape of xmalloc-test, Lever & Boreham,
 * as mimalloc-bench runs it with -s 64): workers=<w> allocating threads and as many freeing
 * threads. An allocating thread fills a batch (a block holding BATCH pointers, itself a
 * malloc) with BATCH blocks of size=<s> bytes (default 64), writes each, and pushes the batch
 * onto one shared stack (a mutex and two condition variables; at most STACK_LIMIT batches
 * wait); a freeing thread pops whichever batch is on top, reads and frees its blocks, then the
 * batch. So every block dies on a thread other than the one that made it, and each freeing
 * thread frees blocks of every allocating thread, mixed. Each allocating thread makes the same
 * number of batches (fixed work, not a fixed time as in the original); throughput is
 * allocator calls (the batches' own included) over wall time.
 */
#include "bench_threads.h"

enum { BATCH = 4096, STACK_LIMIT = 100, BASE_BATCHES = 4000, MAX_WORKERS = 32 };

typedef struct batch {
    struct batch *next;
    void *blocks[BATCH];
} batch_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    batch_t *top;
    unsigned count;
    unsigned producers_left; /* allocating threads still running */
} stack = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

static size_t block_size;

/* Pushes b, waiting while STACK_LIMIT batches are waiting. */
static void push_batch(batch_t *b)
{
    pthread_mutex_lock(&stack.lock);
    while (stack.count >= STACK_LIMIT)
        pthread_cond_wait(&stack.not_full, &stack.lock);
    b->next = stack.top;
    stack.top = b;
    stack.count++;
    pthread_cond_signal(&stack.not_empty);
    pthread_mutex_unlock(&stack.lock);
}

/* The top batch, waiting while there is none; NULL once the stack is empty and every
 * allocating thread has finished. */
static batch_t *pop_batch(void)
{
    pthread_mutex_lock(&stack.lock);
    while (!stack.top && stack.producers_left)
        pthread_cond_wait(&stack.not_empty, &stack.lock);
    batch_t *b = stack.top;
    if (b) {
        stack.top = b->next;
        stack.count--;
        pthread_cond_signal(&stack.not_full);
    }
    pthread_mutex_unlock(&stack.lock);
    return b;
}

static void *allocator_main(void *arg)
{
    bench_worker_t *w = arg;
    bench_worker_ready();
    for (uint64_t n = 0; n < w->work; n++) {
        batch_t *b = bench_xmalloc(sizeof *b);
        for (unsigned i = 0; i < BATCH; i++) {
            b->blocks[i] = bench_xmalloc(block_size);
            bench_fill(b->blocks[i], block_size);
        }
        push_batch(b);
    }
    w->ops = w->work * (BATCH + 1);
    pthread_mutex_lock(&stack.lock);
    if (--stack.producers_left == 0)
        pthread_cond_broadcast(&stack.not_empty);
    pthread_mutex_unlock(&stack.lock);
    return NULL;
}

static void *releaser_main(void *arg)
{
    bench_worker_t *w = arg;
    bench_worker_ready();
    uint64_t check = 0, ops = 0;
    for (batch_t *b; (b = pop_batch()) != NULL;) {
        for (unsigned i = 0; i < BATCH; i++) {
            check += bench_read(b->blocks[i], block_size);
            free(b->blocks[i]);
        }
        free(b);
        ops += BATCH + 1;
    }
    w->ops = ops;
    w->check = check;
    return NULL;
}

/* One thread function for bench_workers_start: the first half allocate, the rest free. */
static unsigned nworkers;
static void *worker_main(void *arg)
{
    bench_worker_t *w = arg;
    return w->id < nworkers ? allocator_main(w) : releaser_main(w);
}

int main(int argc, char **argv)
{
    nworkers = (unsigned)bench_arg(argc, argv, "workers", 2);
    block_size = (size_t)bench_arg(argc, argv, "size", 64);
    if (nworkers < 1 || nworkers > MAX_WORKERS || block_size < 2) {
        fprintf(stderr, "xmalloc: workers must be 1..%d and size at least 2\n", MAX_WORKERS);
        return 2;
    }
    uint64_t per_thread = bench_scaled(argc, argv, BASE_BATCHES) / nworkers;
    if (!per_thread)
        per_thread = 1;
    stack.producers_left = nworkers;
    static bench_worker_t workers[2 * MAX_WORKERS];
    bench_timer_t timer = bench_workers_start("xmalloc", workers, (int)(2 * nworkers), per_thread, worker_main);
    uint64_t ops = 0, check = 0;
    bench_workers_join(workers, (int)(2 * nworkers), &ops, &check);
    bench_timer_stop(&timer);
    bench_report("xmalloc", (int)(2 * nworkers), ops, &timer, check, "");
    return 0;
}
