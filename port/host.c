/*
 * Linux host port: for tests, benchmarks and LD_PRELOAD use.
 *
 * A "core" is a thread slot: a thread takes the lowest free slot on its first call and gives
 * it back when it exits, after flushing its cache (the cache itself stays with the slot for
 * the next thread). Memory comes from one address range reserved at start-up (PROT_NONE,
 * nothing committed) and made usable chunk by chunk, sbrk-style; purged pages are returned
 * with madvise(MADV_DONTNEED). Under an address-space limit (ulimit -v, valgrind) the
 * reservation is the largest range the limit allows, found by bisection, less a share left
 * for the program's other mappings (stacks, libraries, files).
 *
 * Reports are written with write(2): this port may be the process's malloc, so stdio (which
 * allocates) is off limits here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "baremalloc.h"
#include "bm_port.h"
#include "port_hex.h"

#ifndef BM_HOST_RESERVE
#ifdef BM_GEOMETRY_SMALL
#define BM_HOST_RESERVE ((size_t)48 << 20) /* what 16 KiB chunks' table can cover in one chunk */
#else
#define BM_HOST_RESERVE ((size_t)64 << 30) /* address space only; committed as used */
#endif
#endif
/* The bisection's resolution, and the part of the largest possible range left to the
 * program's other mappings when the full reservation is refused (1/16, at least the minimum). */
#define HOST_RESERVE_STEP ((size_t)1 << 20)
#define HOST_RESERVE_HEADROOM_MIN ((size_t)8 << 20)
#define HOST_RESERVE_HEADROOM_SHIFT 4

__thread struct bm_cache *bm_host_core_local = &bm_cache_unset;
__thread int bm_host_last_error;
static __thread int host_slot = -1;
/* Set once the thread's exit destructor ran: glibc may still free memory for it afterwards (a
 * dlerror message in __libc_thread_freeres, a detached thread's TLS vectors), and a slot taken
 * then would never be given back. */
static __thread bool host_thread_gone;
static uint64_t host_slots_taken[(BM_MAX_CORES + 63) / 64];
static pthread_key_t host_exit_key;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* O(length). text to stderr through write(2), resumed after short writes; a failed write ends it
 * silently (nowhere to report). No lock, no allocation: any context, signal handlers included. */
static void host_write(const char *text) {
    size_t len = strlen(text);
    while (len) {
        ssize_t n = write(2, text, len);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* The thread-exit key's destructor: flushes the thread's cache (O(cached objects), arena locks
 * one at a time) and gives its slot back; without a slot it only marks the thread gone. */
static void host_thread_exit(void *unused) {
    (void)unused;
    host_thread_gone = true;
    if (host_slot < 0)
        return;
    bm_cache_flush();
    int slot = host_slot;
    host_slot = -1;
    bm_host_core_local = &bm_cache_unset;
    __atomic_fetch_and(&host_slots_taken[slot / 64], ~(1ull << (slot % 64)), __ATOMIC_RELEASE);
}

/* pthread_atfork prepare: bm_prefork takes every lock (base, arenas, pool). O(arenas). */
static void host_prefork(void) { bm_prefork(); }
/* pthread_atfork parent (and first step of the child): bm_postfork releases them. O(arenas). */
static void host_postfork(void) { bm_postfork(); }

/* The child runs only the forking thread: every other slot is free again (their caches are
 * dropped, not reused: see bm_postfork_child). Without this a child lost the slots of all its
 * parent's other threads, for good and for its own children. O(arenas + BM_MAX_CORES). */
static void host_postfork_child(void) {
    bm_postfork();
    bm_postfork_child(host_slot >= 0 ? (unsigned)host_slot : BM_MAX_CORES);
    for (unsigned w = 0; w < sizeof host_slots_taken / sizeof host_slots_taken[0]; w++)
        host_slots_taken[w] = host_slot >= 0 && (unsigned)host_slot / 64 == w ? 1ull << (host_slot % 64) : 0;
}

/* Once per process (pthread_once): the thread-exit key and the fork handlers. O(1); their
 * failures are not checked (a thread's slot would then stay taken after it exits). */
static void host_setup_once(void) {
    pthread_key_create(&host_exit_key, host_thread_exit);
    pthread_atfork(host_prefork, host_postfork, host_postfork_child);
}

/* O(BM_MAX_CORES / 64) plus compare-exchange retries. Takes the lowest free slot atomically;
 * -1 when all BM_MAX_CORES are taken. No lock, any thread. */
static int host_take_slot(void) {
    for (unsigned w = 0; w < sizeof host_slots_taken / sizeof host_slots_taken[0]; w++) {
        uint64_t taken = __atomic_load_n(&host_slots_taken[w], __ATOMIC_RELAXED);
        while (~taken) {
            unsigned bit = (unsigned)__builtin_ctzll(~taken);
            if (w * 64 + bit >= BM_MAX_CORES)
                break;
            if (__atomic_compare_exchange_n(&host_slots_taken[w], &taken, taken | (1ull << bit), false,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return (int)(w * 64 + bit);
        }
    }
    return -1;
}

/* O(1) once the thread has a slot; its first call takes one (host_take_slot, host_setup_once).
 * BM_MAX_CORES, the "no slot" answer, when slots run out or the thread has exited. No lock. */
unsigned bm_port_core_id(void) {
    if (__builtin_expect(host_slot >= 0, 1))
        return (unsigned)host_slot;
    pthread_once(&host_once, host_setup_once);
    if (host_thread_gone)
        return BM_MAX_CORES; /* served without a cache, as when slots run out */
    int slot = host_take_slot();
    if (slot < 0)
        return BM_MAX_CORES; /* no slot: the core serves this thread without a cache */
    host_slot = slot;
    /* Any non-NULL value makes the key's destructor run at thread exit. */
    pthread_setspecific(host_exit_key, &host_slot);
    return (unsigned)slot;
}

/* O(1). Online CPUs (sysconf), 1 if unknown; the core clamps it. Once, at initialisation. */
unsigned bm_port_core_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* A spinlock waiter's pause (the spinning lock, -DBM_LOCK_SPIN): the relax hint for 99 spins,
 * then sched_yield each time (the holder is probably preempted). O(1); spins is the waiter's
 * counter. Any lock may be held. */
void bm_host_lock_backoff(unsigned *spins) {
    if (++*spins < 100)
        bm_port_cpu_relax();
    else
        sched_yield(); /* the holder is probably preempted: let it run */
}

#ifndef BM_HOST_LOCK_SPINS
#define BM_HOST_LOCK_SPINS 128 /* relax hints before sleeping: a few microseconds */
#endif

/* The sleeping lock's wait (port/bm_lock.h), after a failed first try: spins up to
 * BM_HOST_LOCK_SPINS relax hints while the holder may be about to let go (taking the word at 1
 * if it frees), then marks the word 2 and sleeps on it (FUTEX_WAIT, private) until it is free,
 * leaving it at 2 so that the release wakes the next waiter. O(1) plus the wait; no bad input
 * (word is a lock's word). Any lock may be held (it sleeps only on this one); not from a
 * signal handler that interrupted this lock's holder (nor is any allocator call). */
void bm_host_lock_wait(uint32_t *word) {
    for (unsigned spins = 0; spins < BM_HOST_LOCK_SPINS; spins++) {
        uint32_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
        if (seen == 2)
            break; /* others already sleep: queue behind them rather than barge */
        if (seen == 0 && __atomic_compare_exchange_n(word, &seen, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        bm_port_cpu_relax();
    }
    while (__atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0); /* returns at once unless 2 */
}

/* The sleeping lock's release found the word at 2: wakes one waiter asleep on it
 * (FUTEX_WAKE, private; none may be, which costs the call only). O(1) system calls; no bad
 * input. Any context a release may run in. */
void bm_host_lock_wake(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* The grow hook: makes the next incr bytes of the reservation usable (mprotect) and returns
 * them; NULL, the break unmoved, when mprotect refuses. O(1) system calls. Under pool_lock (or
 * at initialisation): no allocation. */
static void *host_grow(void *ctx, size_t incr) {
    char **brk = ctx;
    char *old = *brk;
    if (mprotect(old, incr, PROT_READ | PROT_WRITE) != 0)
        return NULL;
    *brk = old + incr;
    return old;
}

/* The core's pages can be smaller than the OS's (256 B in the small geometry): only OS pages
 * wholly inside the range may go, or live neighbours would read back as zero; false when none
 * is (or madvise fails). O(1) system calls. Under an arena lock or pool_lock: no allocation. */
static bool host_release(void *ctx, void *addr, size_t len) {
    (void)ctx;
    uintptr_t os_page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)addr + os_page - 1) & ~(os_page - 1);
    uintptr_t end = ((uintptr_t)addr + len) & ~(os_page - 1);
    if (end <= start)
        return false;
    return madvise((void *)start, end - start, MADV_DONTNEED) == 0;
}

static char *host_break;
static bm_page_source_t host_source;

/* O(1) system calls. size bytes of address space, PROT_NONE and nothing committed, or
 * MAP_FAILED. Once per probe at initialisation (no allocation). */
static void *host_map_reserve(size_t size) {
    return mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

/* O(log2(BM_HOST_RESERVE / HOST_RESERVE_STEP)) mmap/munmap pairs, about 16. The largest size,
 * to HOST_RESERVE_STEP, below refused (a size the kernel refused) that it maps, by bisection
 * between a size known to work and one known to fail (the limit is RLIMIT_AS less what the
 * process has mapped, or valgrind's own); 0 if not even a step maps. Once, at initialisation. */
static size_t host_largest_reservation(size_t refused) {
    size_t works = 0;
    while (refused - works > HOST_RESERVE_STEP) {
        size_t mid = works + ((refused - works) / 2 & ~(HOST_RESERVE_STEP - 1));
        if (mid == works)
            mid += HOST_RESERVE_STEP;
        void *probe = host_map_reserve(mid);
        if (probe == MAP_FAILED) {
            refused = mid;
        } else {
            munmap(probe, mid);
            works = mid;
        }
    }
    return works;
}

/* Reserves the range (PROT_NONE, nothing committed): BM_HOST_RESERVE, or when that is refused
 * (ulimit -v, valgrind) the largest range that maps less a sixteenth (at least 8 MiB) for the
 * program's other mappings, halved while another thread's mapping takes it first; 0 sources
 * when nothing maps (a range under a chunk gives the core no region either). O(about 20 mmap
 * calls). Once, at initialisation, no allocation. */
unsigned bm_port_default_sources(const bm_page_source_t **sources) {
    size_t size = BM_HOST_RESERVE;
    void *base = host_map_reserve(size);
    if (base == MAP_FAILED) {
        size_t largest = host_largest_reservation(size);
        size_t headroom = largest >> HOST_RESERVE_HEADROOM_SHIFT;
        if (headroom < HOST_RESERVE_HEADROOM_MIN)
            headroom = HOST_RESERVE_HEADROOM_MIN;
        size = largest > headroom ? largest - headroom : 0;
        for (; size >= HOST_RESERVE_STEP; size /= 2) {
            base = host_map_reserve(size);
            if (base != MAP_FAILED)
                break;
        }
    }
    if (base == MAP_FAILED)
        return 0;
    host_break = base;
    host_source.base = base;
    host_source.size = size;
    host_source.grow = host_grow;
    host_source.release = host_release;
    host_source.ctx = &host_break;
    *sources = &host_source;
    return 1;
}

/* BM_MALLOC_CONF, or NULL. O(environment), no allocation. Once, at initialisation. */
const char *bm_port_env_options(void) { return getenv("BM_MALLOC_CONF"); }

/* The 16 random bytes the kernel gives every process (AT_RANDOM): no system call, no file.
 * O(1), no allocation. Once, at initialisation. */
uintptr_t bm_port_entropy(void) {
    const void *random = (const void *)getauxval(AT_RANDOM);
    uintptr_t words[2] = {0, 0};
    if (random)
        memcpy(words, random, sizeof words); /* the bytes need not be word aligned */
    return words[0] ^ words[1];
}

/* O(msg). One line on stderr through write(2), not stdio (this may be the process's malloc); msg
 * must not be NULL. Any context, any allocator lock held: no lock, no allocation. */
void bm_port_error(const char *msg, const void *addr) {
    char hex[BM_PORT_HEX_SIZE];
    host_write("baremalloc: error: ");
    host_write(msg);
    host_write(" (address ");
    host_write(bm_port_hex(hex, (uintptr_t)addr));
    host_write(")\n");
}

/* O(msg). msg and a newline on stderr (msg must not be NULL). Any context: write(2) only. */
void bm_port_log(const char *msg) {
    host_write(msg);
    host_write("\n");
}
