/*
 * Worker threads for the multi-threaded workloads (threads.c, larson.c, handoff.c): start them, let the
 * clock start only once every worker is ready, then collect their counts.
 */
#ifndef BENCH_THREADS_H
#define BENCH_THREADS_H

#include "bench_util.h" /* first: it sets _POSIX_C_SOURCE */

#include <pthread.h>

typedef struct bench_worker {
    pthread_t thread;
    unsigned id;    /* 0 .. n-1 */
    uint64_t work;  /* steps or turns the worker does */
    uint64_t ops;   /* results, written by the worker */
    uint64_t check;
} bench_worker_t;

static pthread_barrier_t bench_start_barrier;

/* The threads=<n> argument (default 2), 1..max; anything else exits with status 2 and says so. */
static inline int bench_threads_arg(int argc, char **argv, const char *workload, int max) {
    int n = (int)bench_arg(argc, argv, "threads", 2);
    if (n < 1 || n > max) {
        fprintf(stderr, "%s: threads=1..%d\n", workload, max);
        exit(2);
    }
    return n;
}

/* A worker calls this once its untimed set-up is done; it returns when all have. */
static inline void bench_worker_ready(void) { pthread_barrier_wait(&bench_start_barrier); }

/* Starts n workers running fn(&workers[i]); returns the timer, started when every worker is
 * ready. Exits with status 2 if a thread cannot be created. */
static inline bench_timer_t bench_workers_start(const char *name, bench_worker_t *workers, int n,
                                                uint64_t work, void *(*fn)(void *))
{
    pthread_barrier_init(&bench_start_barrier, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        workers[i].id = (unsigned)i;
        workers[i].work = work;
        if (pthread_create(&workers[i].thread, NULL, fn, &workers[i]) != 0) {
            fprintf(stderr, "%s: pthread_create failed\n", name);
            exit(2);
        }
    }
    pthread_barrier_wait(&bench_start_barrier);
    return bench_timer_start();
}

/* Waits for the n workers and adds up their counts. */
static inline void bench_workers_join(bench_worker_t *workers, int n, uint64_t *ops, uint64_t *check)
{
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        *ops += workers[i].ops;
        *check += workers[i].check;
    }
}

#endif
