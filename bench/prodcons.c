/*
 * Producer/consumer: one thread allocates small blocks (8-512 B) and passes them through a
 * bounded single-producer single-consumer ring of QUEUE_SLOTS entries; the other thread reads
 * and frees them. Every block is freed by a thread other than the one that allocated it, so
 * this measures the remote-free path and how blocks find their way back to the producer.
 * Throughput is blocks transferred times two (a malloc and a free each) over wall time.
 * Indices are published every PUBLISH_EVERY blocks so that the queue's own cache-line traffic
 * does not swamp the allocator's.
 */
#include "bench_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

enum { QUEUE_SLOTS = 1024, SIZE_TABLE = 1 << 16, BASE_BLOCKS = 8000000, SPINS_BEFORE_YIELD = 64,
       PUBLISH_EVERY = 32 };

/* Producer and consumer indices on separate cache lines so each is written by one side only. */
static struct {
    _Alignas(64) _Atomic uint64_t head; /* next slot the producer fills */
    _Alignas(64) _Atomic uint64_t tail; /* next slot the consumer empties */
    _Alignas(64) void *slots[QUEUE_SLOTS];
} queue;

static uint16_t sizes[SIZE_TABLE]; /* read-only once threads run; both sides index it */
static uint64_t total_blocks;
static uint64_t consumer_check;

/* Spin briefly (the other side is usually about to move), then yield: on a loaded 2-core
 * machine a pure spin would steal the other thread's core. */
static void wait_a_little(unsigned *spins)
{
    if (++*spins < SPINS_BEFORE_YIELD)
        return;
    *spins = 0;
    sched_yield();
}

static void *producer_main(void *arg)
{
    (void)arg;
    uint64_t tail_seen = 0;
    for (uint64_t i = 0; i < total_blocks; i++) {
        size_t size = sizes[i & (SIZE_TABLE - 1)];
        void *p = bench_xmalloc(size);
        bench_fill(p, size);
        unsigned spins = 0;
        while (i - tail_seen >= QUEUE_SLOTS) {
            tail_seen = atomic_load_explicit(&queue.tail, memory_order_acquire);
            if (i - tail_seen >= QUEUE_SLOTS)
                wait_a_little(&spins);
        }
        queue.slots[i & (QUEUE_SLOTS - 1)] = p;
        if ((i + 1) % PUBLISH_EVERY == 0 || i + 1 == total_blocks)
            atomic_store_explicit(&queue.head, i + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    (void)arg;
    uint64_t head_seen = 0, check = 0;
    for (uint64_t i = 0; i < total_blocks; i++) {
        unsigned spins = 0;
        while (i >= head_seen) {
            head_seen = atomic_load_explicit(&queue.head, memory_order_acquire);
            if (i >= head_seen)
                wait_a_little(&spins);
        }
        void *p = queue.slots[i & (QUEUE_SLOTS - 1)];
        check += bench_read(p, sizes[i & (SIZE_TABLE - 1)]);
        free(p);
        if ((i + 1) % PUBLISH_EVERY == 0)
            atomic_store_explicit(&queue.tail, i + 1, memory_order_release);
    }
    consumer_check = check;
    return NULL;
}

int main(int argc, char **argv)
{
    total_blocks = bench_scaled(argc, argv, BASE_BLOCKS);
    bench_rng_t rng;
    bench_rng_seed(&rng, 4);
    for (unsigned i = 0; i < SIZE_TABLE; i++)
        sizes[i] = (uint16_t)bench_size_uniform(&rng, 8, 512);

    pthread_t producer, consumer;
    bench_timer_t timer = bench_timer_start();
    if (pthread_create(&consumer, NULL, consumer_main, NULL) != 0 ||
        pthread_create(&producer, NULL, producer_main, NULL) != 0) {
        fprintf(stderr, "prodcons: pthread_create failed\n");
        return 2;
    }
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
    bench_timer_stop(&timer);
    bench_report("prodcons", 2, total_blocks * 2, &timer, consumer_check, "");
    return 0;
}
