/*
 * The spinlock the core uses for base_lock, the arena locks, pool_lock and the statistics
 * snapshot lock (and the boards for their console). Built on compiler __atomic builtins and
 * the arch relax hint, so every port gets it unless it brings its own. port/bm_port.h includes
 * this header at its end, after the declarations it relies on (bm_port_cpu_relax,
 * bm_port_core_id, bm_port_error, and bm_port_core_local where the port has it).
 *
 * Kinds:
 *   - test-and-test-and-set (default): waiters spin on a read and retry the exchange when
 *     the lock looks free. Whoever runs next gets it, so a waiter never queues behind a core
 *     that is not running, which matters wherever cores can be descheduled (host threads,
 *     vCPUs under a hypervisor or QEMU with more vCPUs than host CPUs: a ticket lock there
 *     stalls every waiter behind one descheduled ticket holder, measured on the QEMU boards).
 *     Between reads a waiter runs BM_LOCK_BACKOFF(&spins), by default the relax hint; a port
 *     header may define it first (the host port yields the CPU after a short spin).
 *   - sleeping lock (the Linux host port, unless -DBM_LOCK_SPIN): the same test-and-set word
 *     with a third state, "held, and a waiter may sleep". A waiter spins briefly
 *     (BM_HOST_LOCK_SPINS relax hints), then sleeps in the kernel (futex) until the holder
 *     lets go, and the release wakes one sleeper. A host thread holding a lock can be
 *     preempted for a whole time slice; waiters that yielded in a loop instead burnt the CPU
 *     the holder needed (xmalloc-test on a loaded 2-core machine: hundreds of thousands of
 *     sched_yield calls per second).
 *   - ticket lock (-DBM_LOCK_TICKET): FIFO, no core starves; for dedicated cores on real
 *     hardware with many cores contending.
 *   - plain flag: a bare-metal build for one core (BM_MAX_CORES == 1, not BM_LOCK_TICKET)
 *     holds every lock with interrupts masked, so nothing can contend; no exclusive
 *     load/store, no barrier instruction, compiler fences keep the held section inside.
 *   - the port's own (-DBM_PORT_CUSTOM_LOCK): the port defines bm_lock_t,
 *     BM_LOCK_INITIALIZER, bm_lock_init, bm_lock_acquire and bm_lock_release before this
 *     header is read (in its arch header), and optionally bm_lock_try_acquire (a plain
 *     acquisition otherwise), bm_lock_assert_held / bm_lock_assert_not_held (no-ops otherwise).
 * Arena locks see one acquisition per cache refill or flush, so contention is low either way.
 * bm_lock_acquire returns true if it had to wait (counted as contention in statistics);
 * bm_lock_try_acquire takes the lock only if that needs no wait and says whether it did (a
 * cache flush then leaves its blocks in the arena's inbox instead of waiting, arena.c).
 *
 * Debug locks (-DBM_DEBUG_LOCKS; the host's `debug` test variant): every built-in kind also
 * records its holder (the calling core, see BM_LOCK_SELF) and traps, after
 * bm_port_error("lock assertion failed: ...", lock), when
 *   - a core acquires a lock it already holds (a self-deadlock: an allocator call from a hook
 *     that runs under the lock, or an interrupt handler on a port that does not mask);
 *   - a core releases a lock it does not hold;
 *   - bm_lock_assert_held(lock) / bm_lock_assert_not_held(lock) find otherwise.
 * Without the define the two asserts compile to nothing and the lock is as above.
 */
#ifndef BM_LOCK_H
#define BM_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#ifndef BM_LOCK_BACKOFF
#define BM_LOCK_BACKOFF(spins) ((void)(spins), bm_port_cpu_relax())
#endif

#ifndef BM_PORT_CUSTOM_LOCK

/* ---- holder tracking (BM_DEBUG_LOCKS) ------------------------------------------------------ */
#ifdef BM_DEBUG_LOCKS
/* Who the caller is, never 0: the address of its private slot where the port has one (a host
 * thread's own, cheap, and free of the port's first-call work), else its core index + 1. */
#ifndef BM_LOCK_SELF
#if defined(BM_PORT_HAS_CORE_LOCAL)
#define BM_LOCK_SELF() ((uintptr_t)bm_port_core_local())
#elif BM_MAX_CORES == 1
#define BM_LOCK_SELF() ((uintptr_t)1)
#else
#define BM_LOCK_SELF() ((uintptr_t)bm_port_core_id() + 1)
#endif
#endif
#define BM_LOCK_OWNER_FIELD uintptr_t owner; /* BM_LOCK_SELF() of the holder, 0 when free */
#else
#define BM_LOCK_OWNER_FIELD
#endif

#if defined(BM_LOCK_TICKET)
typedef struct bm_lock {
    uint32_t next;    /* ticket handed to the next arrival */
    uint32_t serving; /* ticket allowed in */
    BM_LOCK_OWNER_FIELD
} bm_lock_t;
#elif BM_MAX_CORES == 1 && !defined(BM_PORT_HOST)
#define BM_LOCK_PLAIN_FLAG 1
typedef struct bm_lock {
    volatile uint32_t locked;
    BM_LOCK_OWNER_FIELD
} bm_lock_t;
#else
typedef struct bm_lock {
    uint32_t locked;
    BM_LOCK_OWNER_FIELD
} bm_lock_t;
#endif
#define BM_LOCK_INITIALIZER {0}

#ifdef BM_DEBUG_LOCKS
__attribute__((unused, noreturn, cold, noinline)) static void bm_lock_assert_failed(const char *msg, const bm_lock_t *lock) {
    bm_port_error(msg, lock);
    __builtin_trap();
}
static inline bool bm_lock_held_by_me(const bm_lock_t *lock) {
    return __atomic_load_n(&lock->owner, __ATOMIC_RELAXED) == BM_LOCK_SELF();
}
/* Only the holder writes owner, so this core reads its own value back exactly: held by me
 * means owner == me, whatever other cores are doing. */
static inline void bm_lock_debug_before_acquire(bm_lock_t *lock) {
    if (bm_lock_held_by_me(lock))
        bm_lock_assert_failed("lock assertion failed: acquiring a lock this core already holds (self-deadlock)", lock);
}
static inline void bm_lock_debug_after_acquire(bm_lock_t *lock) {
    __atomic_store_n(&lock->owner, BM_LOCK_SELF(), __ATOMIC_RELAXED);
}
static inline void bm_lock_debug_before_release(bm_lock_t *lock) {
    if (!bm_lock_held_by_me(lock))
        bm_lock_assert_failed("lock assertion failed: releasing a lock this core does not hold", lock);
    __atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
}
#define bm_lock_assert_held(lock)                                                               \
    (bm_lock_held_by_me(lock) ? (void)0                                                         \
                              : bm_lock_assert_failed("lock assertion failed: lock is not held by this core", (lock)))
#define bm_lock_assert_not_held(lock)                                                           \
    (!bm_lock_held_by_me(lock) ? (void)0                                                        \
                               : bm_lock_assert_failed("lock assertion failed: lock is held by this core", (lock)))
#define BM_LOCK_DEBUG_INIT(lock) __atomic_store_n(&(lock)->owner, 0, __ATOMIC_RELAXED)
#else
#define bm_lock_debug_before_acquire(lock) ((void)0)
#define bm_lock_debug_after_acquire(lock) ((void)0)
#define bm_lock_debug_before_release(lock) ((void)0)
#define bm_lock_assert_held(lock) ((void)sizeof(lock))
#define bm_lock_assert_not_held(lock) ((void)sizeof(lock))
#define BM_LOCK_DEBUG_INIT(lock) ((void)0)
#endif

/* ---- the kinds ----------------------------------------------------------------------------- */
#if defined(BM_LOCK_TICKET)
static inline void bm_lock_init(bm_lock_t *lock) {
    BM_LOCK_DEBUG_INIT(lock);
    __atomic_store_n(&lock->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&lock->serving, 0, __ATOMIC_RELEASE);
}
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    uint32_t ticket = __atomic_fetch_add(&lock->next, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&lock->serving, __ATOMIC_ACQUIRE) == ticket) {
        bm_lock_debug_after_acquire(lock);
        return false;
    }
    while (__atomic_load_n(&lock->serving, __ATOMIC_ACQUIRE) != ticket)
        bm_port_cpu_relax();
    bm_lock_debug_after_acquire(lock);
    return true;
}
/* Takes the lock only if it is free and nobody waits; true if taken. */
static inline bool bm_lock_try_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    uint32_t serving = __atomic_load_n(&lock->serving, __ATOMIC_ACQUIRE), ticket = serving;
    if (!__atomic_compare_exchange_n(&lock->next, &ticket, serving + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    bm_lock_debug_after_acquire(lock);
    return true;
}
static inline void bm_lock_release(bm_lock_t *lock) {
    bm_lock_debug_before_release(lock);
    /* Only the holder writes serving, so a plain load + release store is enough. */
    uint32_t now = __atomic_load_n(&lock->serving, __ATOMIC_RELAXED);
    __atomic_store_n(&lock->serving, now + 1, __ATOMIC_RELEASE);
}

#elif defined(BM_LOCK_PLAIN_FLAG)
/* One core, and every lock hold runs with interrupts masked: nothing can contend, so a plain
 * flag is the whole lock. Compiler fences keep the held section's accesses inside. */
static inline void bm_lock_init(bm_lock_t *lock) {
    BM_LOCK_DEBUG_INIT(lock);
    lock->locked = 0;
}
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    lock->locked = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    bm_lock_debug_after_acquire(lock);
    return false;
}
static inline bool bm_lock_try_acquire(bm_lock_t *lock) { return !bm_lock_acquire(lock); }
static inline void bm_lock_release(bm_lock_t *lock) {
    bm_lock_debug_before_release(lock);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock->locked = 0;
}

#elif defined(BM_PORT_HOST) && !defined(BM_LOCK_SPIN)
/* The sleeping lock: 0 free, 1 held, 2 held and a waiter may be asleep on the word (futex).
 * port/host.c has the waiting and the waking (system calls, kept out of line). */
void bm_host_lock_wait(uint32_t *word); /* returns holding the word (left at 2) */
void bm_host_lock_wake(uint32_t *word); /* wakes one waiter asleep on the word */
static inline void bm_lock_init(bm_lock_t *lock) {
    BM_LOCK_DEBUG_INIT(lock);
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    uint32_t free_word = 0;
    bool waited = !__atomic_compare_exchange_n(&lock->locked, &free_word, 1, false, __ATOMIC_ACQUIRE,
                                               __ATOMIC_RELAXED);
    if (waited)
        bm_host_lock_wait(&lock->locked);
    bm_lock_debug_after_acquire(lock);
    return waited;
}
/* Takes the lock only if it is free; true if taken. */
static inline bool bm_lock_try_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    uint32_t free_word = 0;
    if (!__atomic_compare_exchange_n(&lock->locked, &free_word, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    bm_lock_debug_after_acquire(lock);
    return true;
}
static inline void bm_lock_release(bm_lock_t *lock) {
    bm_lock_debug_before_release(lock);
    if (__atomic_exchange_n(&lock->locked, 0, __ATOMIC_RELEASE) == 2)
        bm_host_lock_wake(&lock->locked);
}

#else /* test-and-test-and-set */
static inline void bm_lock_init(bm_lock_t *lock) {
    BM_LOCK_DEBUG_INIT(lock);
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    if (!__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE)) {
        bm_lock_debug_after_acquire(lock);
        return false;
    }
    unsigned spins = 0;
    do {
        while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
            BM_LOCK_BACKOFF(&spins);
    } while (__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE));
    bm_lock_debug_after_acquire(lock);
    return true;
}
/* Takes the lock only if it is free; true if taken. */
static inline bool bm_lock_try_acquire(bm_lock_t *lock) {
    bm_lock_debug_before_acquire(lock);
    if (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED) || __atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
        return false;
    bm_lock_debug_after_acquire(lock);
    return true;
}
static inline void bm_lock_release(bm_lock_t *lock) {
    bm_lock_debug_before_release(lock);
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}
#endif

#else /* BM_PORT_CUSTOM_LOCK */
/* A port's own lock may offer no try: then a try is a plain acquisition (it succeeds, perhaps
 * after waiting), and remote frees wait for their own arena's lock as before the inbox. */
#ifndef bm_lock_try_acquire
#define bm_lock_try_acquire(lock) (bm_lock_acquire(lock), true)
#endif
#ifndef bm_lock_assert_held
#define bm_lock_assert_held(lock) ((void)sizeof(lock))
#endif
#ifndef bm_lock_assert_not_held
#define bm_lock_assert_not_held(lock) ((void)sizeof(lock))
#endif
#endif /* BM_PORT_CUSTOM_LOCK */

#endif /* BM_LOCK_H */
