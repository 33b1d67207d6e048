/*
 * The port contract: everything core/ needs from the platform, and nothing more.
 *
 * core/ includes this header and compiler headers only. A port supplies:
 *   - page sources: address ranges the core carves chunks from (bm_port_default_sources);
 *   - the calling core's index and the core count (bm_port_core_id, bm_port_core_count);
 *   - a per-core pointer slot the core keeps its cache pointer in (bm_port_core_local);
 *   - interrupt/preemption masking and a CPU relax hint (inline, per architecture, port/arch/);
 *   - the error and log hooks (bm_port_error, bm_port_log), optionally errno (bm_port_set_errno).
 * The spinlock below is built on compiler __atomic builtins and the arch relax hint, so every
 * port gets it unless it defines BM_PORT_CUSTOM_LOCK.
 *
 * The core also calls memcpy/memset (through __builtin_memcpy/__builtin_memset, which the
 * compiler may lower to calls): a libc, or port/libc_mini.c, provides them.
 */
#ifndef BM_PORT_H
#define BM_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bm_arch.h" /* picked by compiler-defined arch macros, see port/bm_arch.h */

#ifndef BM_MAX_CORES
#define BM_MAX_CORES 64 /* slots for per-core caches; a compile-time bound, not a runtime count */
#endif

/* ---------------------------------------------------------------------------------------
 * Page sources. A page source is an address range [base, base + size) that the core may carve
 * into chunks. Two kinds:
 *   - static region (grow == NULL): the whole range is usable from the start (linker symbols
 *     or an array the caller hands to bm_init);
 *   - growing region (grow != NULL): like sbrk, grow(ctx, n) makes the next n bytes past what
 *     was granted so far usable and returns where they start, or NULL when it cannot. The core
 *     only asks for whole chunks, and the range never moves.
 * release(ctx, addr, len) is optional: the core calls it for whole free pages (its own page
 * size, which may be smaller than the platform's: release only platform pages wholly inside
 * the range) it no longer
 * needs (purge); it returns true if the platform took the pages back (they read as zero when
 * next touched) and false if nothing happened (static RAM). The core keeps using the address
 * range either way.
 * ------------------------------------------------------------------------------------- */
typedef struct bm_page_source {
    void *base;
    size_t size;
    void *(*grow)(void *ctx, size_t incr);
    bool (*release)(void *ctx, void *addr, size_t len);
    void *ctx;
    unsigned node; /* memory node (SRAM bank, NUMA node) this range belongs to */
} bm_page_source_t;

/* The page sources used when the allocator initialises itself lazily (no bm_init call).
 * Returns how many entries *sources points to (0: none, every allocation fails). */
unsigned bm_port_default_sources(const bm_page_source_t **sources);

/* Options string from the platform's environment (the host port reads the BM_MALLOC_CONF
 * variable), or NULL. Read once at initialisation, after the application's bm_malloc_conf. */
const char *bm_port_env_options(void);

/* ---------------------------------------------------------------------------------------
 * Cores.
 * bm_port_core_id(): index of the calling core, 0 <= id < BM_MAX_CORES, stable while the
 * caller runs with interrupts masked. On a hosted port a "core" is a thread slot.
 * bm_port_core_count(): how many cores may call the allocator (sizes the default arena count).
 * ------------------------------------------------------------------------------------- */
unsigned bm_port_core_id(void);
unsigned bm_port_core_count(void);

/* Optional: the memory node (bm_page_source_t.node) nearest to a core, used by the option
 * arena_rule:node to bind the core to an arena drawing from that node. The core defines a weak
 * default returning 0; a port with several nodes defines its own. */
unsigned bm_port_core_node(unsigned core);

/* Optional: called with the error code (BM_ENOMEM, BM_EINVAL) whenever an API call fails and
 * records it for bm_last_error, so that a hosted port can set errno on the failure path
 * without wrapping the fast paths (port/stdnames.c). The core defines a weak default that
 * does nothing. */
void bm_port_set_errno(int code);

/* A pointer-sized slot private to the calling core, where the core keeps its cache pointer.
 * Before the core first stores into it, it must hold &bm_cache_unset (defined by the core).
 * A port with fast thread-local storage defines BM_PORT_HAS_CORE_LOCAL and provides
 * bm_port_core_local() inline in its arch or port header; otherwise the core keeps a table
 * indexed by bm_port_core_id(). */
struct bm_cache;
extern struct bm_cache bm_cache_unset;
#ifdef BM_PORT_HOST
#define BM_PORT_HAS_CORE_LOCAL 1
extern __thread struct bm_cache *bm_host_core_local;
static inline struct bm_cache **bm_port_core_local(void) { return &bm_host_core_local; }
#endif

/* ---------------------------------------------------------------------------------------
 * Interrupt/preemption masking, provided inline by bm_arch.h:
 *   bm_irq_state_t bm_port_irq_save(void);   mask, return the previous state
 *   void bm_port_irq_restore(bm_irq_state_t); put the previous state back
 *   void bm_port_cpu_relax(void);             spin-wait hint (pause, yield, ...)
 * The core masks around every per-core cache critical section and every arena lock hold,
 * so an interrupt handler that allocates on the same core never sees a half-done update.
 * A hosted port (threads own their slot exclusively) defines them as no-ops.
 * ------------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------
 * Reports. bm_port_error: detected heap corruption or a bad pointer (double free, foreign
 * pointer); msg is a readable sentence, addr the offending address. It may return: the core
 * then ignores the bad request and carries on. bm_port_log: configuration warnings and
 * statistics text; msg is one line without a newline.
 * ------------------------------------------------------------------------------------- */
void bm_port_error(const char *msg, const void *addr);
void bm_port_log(const char *msg);

/* ---------------------------------------------------------------------------------------
 * Spinlock, on __atomic builtins and the arch relax hint. Two kinds:
 *   - test-and-test-and-set (default): waiters spin on a read and retry the exchange when
 *     the lock looks free. Whoever runs next gets it, so a waiter never queues behind a core
 *     that is not running, which matters wherever cores can be descheduled (host threads,
 *     vCPUs under a hypervisor or QEMU with more vCPUs than host CPUs: a ticket lock there
 *     stalls every waiter behind one descheduled ticket holder, measured on the QEMU boards).
 *   - ticket lock (-DBM_LOCK_TICKET): FIFO, no core starves; for dedicated cores on real
 *     hardware with many cores contending.
 * A bare-metal build for one core (BM_MAX_CORES == 1) gets a plain flag instead: the core
 * holds every lock with interrupts masked, so nothing can contend.
 * Arena locks see one acquisition per cache refill or flush, so contention is low either way.
 * A port can bring its own with BM_PORT_CUSTOM_LOCK (same four names).
 * bm_lock_acquire returns true if it had to wait (counted as contention in statistics).
 * ------------------------------------------------------------------------------------- */
#if !defined(BM_PORT_CUSTOM_LOCK) && !defined(BM_LOCK_TICKET) && BM_MAX_CORES == 1 && !defined(BM_PORT_HOST)
/* One core, and every lock hold runs with interrupts masked: nothing can contend, so a plain
 * flag is the whole lock (no exclusive load/store, no barrier instruction). Compiler fences
 * keep the held section's accesses inside. */
typedef struct bm_lock {
    volatile uint32_t locked;
} bm_lock_t;
#define BM_LOCK_INITIALIZER {0}
static inline void bm_lock_init(bm_lock_t *lock) { lock->locked = 0; }
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    lock->locked = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return false;
}
static inline void bm_lock_release(bm_lock_t *lock) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lock->locked = 0;
}
#elif !defined(BM_PORT_CUSTOM_LOCK) && !defined(BM_LOCK_TICKET)
typedef struct bm_lock {
    uint32_t locked;
} bm_lock_t;
#define BM_LOCK_INITIALIZER {0}

#ifdef BM_PORT_HOST
void bm_host_lock_backoff(unsigned *spins); /* spins a little, then yields the CPU */
#define BM_LOCK_BACKOFF(spins) bm_host_lock_backoff(spins)
#else
#define BM_LOCK_BACKOFF(spins) ((void)(spins), bm_port_cpu_relax())
#endif

static inline void bm_lock_init(bm_lock_t *lock) { __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE); }
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    if (!__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
        return false;
    unsigned spins = 0;
    do {
        while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
            BM_LOCK_BACKOFF(&spins);
    } while (__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE));
    return true;
}
static inline void bm_lock_release(bm_lock_t *lock) { __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE); }
#endif

#if !defined(BM_PORT_CUSTOM_LOCK) && defined(BM_LOCK_TICKET)
typedef struct bm_lock {
    uint32_t next;    /* ticket handed to the next arrival */
    uint32_t serving; /* ticket allowed in */
} bm_lock_t;
#define BM_LOCK_INITIALIZER {0, 0}

static inline void bm_lock_init(bm_lock_t *lock) {
    __atomic_store_n(&lock->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&lock->serving, 0, __ATOMIC_RELEASE);
}
static inline bool bm_lock_acquire(bm_lock_t *lock) {
    uint32_t ticket = __atomic_fetch_add(&lock->next, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&lock->serving, __ATOMIC_ACQUIRE) == ticket)
        return false;
    while (__atomic_load_n(&lock->serving, __ATOMIC_ACQUIRE) != ticket)
        bm_port_cpu_relax();
    return true;
}
static inline void bm_lock_release(bm_lock_t *lock) {
    /* Only the holder writes serving, so a plain load + release store is enough. */
    uint32_t now = __atomic_load_n(&lock->serving, __ATOMIC_RELAXED);
    __atomic_store_n(&lock->serving, now + 1, __ATOMIC_RELEASE);
}
#endif

#endif /* BM_PORT_H */
