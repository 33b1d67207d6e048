/*
 * The port contract: everything core/ needs from the platform, and nothing more.
 *
 * core/ includes this header and compiler headers only. A port supplies:
 *   - page sources: address ranges the core carves chunks from (bm_port_default_sources);
 *   - the calling core's index and the core count (bm_port_core_id, bm_port_core_count);
 *   - optionally a per-core pointer slot the core keeps its cache pointer in
 *     (bm_port_core_local), and a per-context slot for bm_last_error's code
 *     (bm_port_error_local);
 *   - interrupt/preemption masking and a CPU relax hint (inline, per architecture, port/arch/);
 *   - the error and log hooks (bm_port_error, bm_port_log), optionally errno
 *     (bm_port_set_errno) and memory nodes (bm_port_core_node).
 * The core also calls memcpy/memset (through __builtin_memcpy/__builtin_memset, which the
 * compiler may lower to calls): a libc, or port/libc_mini.c, provides them.
 *
 * Where the rest lives:
 *   port/bm_lock.h     the spinlock (included at the end of this header);
 *   port/defaults.c    weak defaults of the optional hooks (and of the bare-metal board hooks),
 *                      linked into every build;
 *   port/baremetal.h   what a bare-metal board provides to port/baremetal.c;
 *   port/host.h        the Linux host port's inline pieces (included here under BM_PORT_HOST).
 *
 * ---------------------------------------------------------------------------------------
 * Calling contexts. Each hook below says when the core calls it, which allocator lock is
 * held and whether interrupts are masked then, and so what it must not do. The facts behind
 * those statements:
 *
 *   Locks, in the only order they are ever nested:
 *     init        not a lock but the same in effect: the first caller moves
 *                 bm_state.init_state from 0 to 1 and initialises with interrupts masked;
 *                 every other caller (any core, or an interrupt handler) spins until it is
 *                 done. Hooks called during initialisation run in this state.
 *     base_lock   the metadata bump allocator (cache slot arrays, chunk tables).
 *     arena lock  one per arena. A core holds one arena lock at a time, except bm_check and
 *                 bm_prefork, which take all of them in index order (base_lock before,
 *                 pool_lock after).
 *     pool_lock   the chunk pool, huge blocks, growing a region.
 *   Order: base -> arena -> pool (each may be held alone; an inner one is taken with the
 *   outer ones possibly held). A fifth lock guards the statistics snapshot; it is taken alone
 *   and no hook runs under it.
 *
 *   Masking: every lock hold and every per-core cache update runs with interrupts masked
 *   (bm_port_irq_save), so an interrupt handler on the same core never finds a lock held or a
 *   cache half updated (the one exception, bm_prefork/bm_postfork, is for hosted ports, where
 *   masking is a no-op).
 *
 *   Hence the rule for every hook that can run under an allocator lock: it must not call
 *   baremalloc (malloc, free, realloc, bm_check, bm_ctl, bm_stats_print...): the lock it
 *   would need may be the one its own core holds, and spinlocks do not nest (a deadlock; a
 *   -DBM_DEBUG_LOCKS build traps there instead). It must not block or sleep either: other
 *   cores spin on the lock meanwhile, and with interrupts masked a sleep never wakes.
 * ------------------------------------------------------------------------------------- */
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
 * the range) it no longer needs (purge); it returns true if the platform took the pages back
 * (they read as zero when next touched) and false if nothing happened (static RAM). The core
 * keeps using the address range either way.
 *
 * Calling context:
 *   grow     under pool_lock, interrupts masked, from any allocating call that needs a new
 *            chunk (an arena's lock, and base_lock above it, may be held too); also once
 *            during initialisation (init in progress, masked, no lock). It must not allocate
 *            from baremalloc, must not block or sleep, and should be short. It may take a
 *            lock of its own that is never held around an allocator call (the RISC-V
 *            board's break lock).
 *   release  under an arena's lock (purging its dirty runs, also at the end of any hold of
 *            that lock, so possibly with base_lock above it) or under pool_lock (purging
 *            pooled chunks: bm_maintenance, arena.<i>.purge), interrupts masked. Same rules
 *            as grow.
 * ------------------------------------------------------------------------------------- */
/* bm_page_source_t is defined in include/baremalloc.h, so that a program handing bm_init its
 * own heap needs that one header. */
#include "baremalloc.h"

/* The page sources used when the allocator initialises itself lazily (no bm_init call, or
 * bm_init without sources). Returns how many entries *sources points to (0: none, every
 * allocation fails). The core copies the entries; what their ctx points to must stay valid.
 * Context: once, during initialisation (init in progress, interrupts masked, no lock). Must
 * not allocate from baremalloc: the allocating call would wait for this very initialisation
 * for ever. */
unsigned bm_port_default_sources(const bm_page_source_t **sources);

/* Options string from the platform's environment (the host port reads the BM_MALLOC_CONF
 * variable), or NULL. Read once at initialisation, after the application's bm_malloc_conf
 * and before bm_config.options.
 * Context: during initialisation (init in progress, interrupts masked, no lock); must not
 * allocate from baremalloc. The string is parsed at once and not kept. */
const char *bm_port_env_options(void);

/* Optional: a value that differs from boot to boot (a hardware random number, a unique id
 * mixed with a timer), or 0 for none. It seeds the secret that marks freed blocks, so that a
 * program cannot forge a freed block's mark by accident or on purpose (with none, the mark
 * is fixed per build: still an accident-proof check, no longer a secret). port/defaults.c has
 * a weak default returning 0; the host port reads the kernel's random bytes.
 * Context: once, during initialisation (init in progress, interrupts masked, no lock); must
 * not allocate. */
uintptr_t bm_port_entropy(void);

/* ---------------------------------------------------------------------------------------
 * Cores.
 * ------------------------------------------------------------------------------------- */

/* Index of the calling core.
 * Contract: 0 <= id < BM_MAX_CORES, dense from 0 (core i uses arena i mod narenas and cache
 * slot i, so gaps waste slots and unbalance arenas), stable while the caller runs with
 * interrupts masked, and never the same for two contexts that can be inside the allocator at
 * once (they would share a cache that has no lock). On a hosted port a "core" is a thread
 * slot. Not called at all in a BM_MAX_CORES == 1 build (the core is always 0).
 * Out of range (>= BM_MAX_CORES, e.g. a raw hardware id): the caller is reported once through
 * the error hook and served without a cache, from the arena core 0 is bound to; nothing is
 * corrupted (the core's own table has a spare slot for such ids). bm_last_error is right for
 * it when the port also keeps the error code per context (BM_PORT_HAS_ERROR_LOCAL, as the
 * host port does), and reads 0 otherwise.
 * Context: from every allocator entry point: on the fast and slow paths with interrupts
 * masked and no lock held, and unmasked (bm_set_error on a failure path and bm_last_error,
 * unless the port keeps the error code per context; bm_ctl's thread.* names); with
 * -DBM_DEBUG_LOCKS also inside every lock acquire and release.
 * Must not allocate, take a lock, or block; it should be a few instructions (a register read,
 * a per-CPU variable). */
unsigned bm_port_core_id(void);

/* How many cores may call the allocator: sizes the default arena count (one per core) and
 * is clamped to 1..BM_MAX_CORES. Context: once, during initialisation (init in progress,
 * interrupts masked, no lock). */
unsigned bm_port_core_count(void);

/* Optional: the memory node (bm_page_source_t.node) nearest to a core, used by the option
 * arena_rule:node to bind the core to an arena drawing from that node. port/defaults.c has a
 * weak default returning 0; a port with several nodes defines its own.
 * Context: during initialisation, for every core 0 .. BM_MAX_CORES-1, and only with
 * arena_rule:node (init in progress, interrupts masked, no lock); must not allocate. */
unsigned bm_port_core_node(unsigned core);

/* A pointer-sized slot private to the calling core, where the core keeps its cache pointer.
 * Before the core first stores into it, it must hold &bm_cache_unset (defined by the core).
 * A port with fast thread-local storage defines BM_PORT_HAS_CORE_LOCAL and provides
 * bm_port_core_local() inline in its own header (as port/host.h does); otherwise the core
 * keeps a table indexed by bm_port_core_id().
 * Context: every fast path, interrupts masked, no lock; inline, no call. */
struct bm_cache;
extern struct bm_cache bm_cache_unset;

/* Optional: an int slot private to the calling context (a thread, on a hosted port), where the
 * core records the code bm_last_error returns. A port whose contexts can outnumber the core
 * slots or move between them (hosted threads) defines BM_PORT_HAS_ERROR_LOCAL and provides
 * bm_port_error_local() inline in its own header (port/host.h: a thread-local); otherwise the
 * core keeps one code per core, indexed by bm_port_core_id(), which is right on bare metal
 * (an interrupt handler's failed call records on its core's).
 * Context: the failure path of any API call, after its masked section, and bm_last_error: no
 * lock held, interrupts as the caller had them; inline, no call, no allocation. */
#ifdef BM_PORT_HOST
#include "host.h" /* BM_PORT_HAS_CORE_LOCAL, bm_port_core_local, bm_port_error_local, the lock
                     backoff */
#endif

/* ---------------------------------------------------------------------------------------
 * Interrupt/preemption masking, provided inline by bm_arch.h:
 *   bm_irq_state_t bm_port_irq_save(void);   mask, return the previous state
 *   void bm_port_irq_restore(bm_irq_state_t); put the previous state back
 *   void bm_port_cpu_relax(void);             spin-wait hint (pause, yield, ...)
 * The core masks around every per-core cache critical section and every lock hold, so an
 * interrupt handler that allocates on the same core never sees a half-done update. Saves
 * nest (restore puts back what that save found, masked or not). A hosted port (threads own
 * their slot exclusively) defines them as no-ops.
 * Context: anywhere, any lock held; bm_port_cpu_relax runs in every spin-wait loop (a busy
 * lock, a first call waiting for initialisation).
 * ------------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------
 * Reports.
 * ------------------------------------------------------------------------------------- */

/* Detected heap corruption or a bad pointer (double free, foreign or interior pointer, a page
 * source that grew elsewhere, a bm_check violation); msg is a readable sentence, addr the
 * offending address. It may return: the core then ignores the bad request and carries on.
 * The core calls it only when no error hook is set (bm_set_error_hook, bm_config.error_hook:
 * the same rules apply to the hook); the debug lock assertions (port/bm_lock.h) call it
 * directly, then trap.
 * Context: any. Typically from free/realloc/usable_size paths, often with an arena's lock
 * held (a bad pointer found while a cache flushes or the arena frees it), under pool_lock (a
 * grow answer out of place), under every lock at once (bm_check), during initialisation,
 * and with interrupts masked in all those cases. It must not call baremalloc (a deadlock on
 * the lock its core holds) and should be short (other cores spin on that lock); buffered
 * output that allocates (stdio) is out. */
void bm_port_error(const char *msg, const void *addr);

/* Configuration warnings and statistics text; msg is one line without a newline.
 * Context: during initialisation (rejected options, a page source larger than the chunk
 * table covers: init in progress, interrupts masked, no lock), from bm_init refusing its page
 * sources (before initialisation starts: no lock, not masked), and from bm_stats_print
 * without a write callback (the caller's context, between lock holds: no lock, not masked).
 * Must not allocate from baremalloc (at initialisation the allocating call would wait for
 * the initialisation for ever). */
void bm_port_log(const char *msg);

/* Optional: called with the error code (BM_ENOMEM, BM_EINVAL) whenever an API call fails and
 * records it for bm_last_error, so that a hosted port can set errno on the failure path
 * without wrapping the fast paths (port/stdnames.c, port/newlib.c). port/defaults.c has a
 * weak default that does nothing.
 * Context: on the failure path of the failing call, after its masked section: no lock held,
 * interrupts as the caller had them (an interrupt handler's failed allocation calls it from
 * the handler). Must not allocate from baremalloc (a failed call may be the heap running
 * out). */
void bm_port_set_errno(int code);

/* The spinlock (test-and-test-and-set, ticket, single-core flag or the port's own) and, with
 * -DBM_DEBUG_LOCKS, holder checks: port/bm_lock.h. */
#include "bm_lock.h"

#endif /* BM_PORT_H */
