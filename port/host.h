/*
 * The Linux host port's own inline pieces (port/host.c implements the rest). Not part of the
 * port contract: port/bm_port.h includes this header only when BM_PORT_HOST is defined, because
 * the core needs the host's per-thread slot inline on its fast paths.
 *
 * The fork handlers port/host.c installs call bm_prefork, bm_postfork and bm_postfork_child,
 * which the core defines and include/baremalloc.h declares (any hosted port with fork needs
 * them, so they stay with the public API).
 */
#ifndef BM_PORT_HOST_H
#define BM_PORT_HOST_H

/* A thread's slot for its cache pointer: thread-local storage, no table lookup. */
#define BM_PORT_HAS_CORE_LOCAL 1
struct bm_cache;
extern __thread struct bm_cache *bm_host_core_local;
static inline struct bm_cache **bm_port_core_local(void) { return &bm_host_core_local; }

/* A thread's last error code (bm_last_error): thread-local too, so that a thread beyond the
 * BM_MAX_CORES slots has one, and a thread taking over a slot does not read the previous
 * holder's. O(1), inline, any context. */
#define BM_PORT_HAS_ERROR_LOCAL 1
extern __thread int bm_host_last_error;
static inline int *bm_port_error_local(void) { return &bm_host_last_error; }

/* A waiter on a busy spinlock spins a little, then yields the CPU (the holder is probably a
 * preempted thread): port/bm_lock.h's test-and-test-and-set lock calls it between reads. */
void bm_host_lock_backoff(unsigned *spins);
#define BM_LOCK_BACKOFF(spins) bm_host_lock_backoff(spins)

#endif /* BM_PORT_HOST_H */
