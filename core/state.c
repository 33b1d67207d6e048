/*
 * Global state: the size class tables, the allocator's one state structure, the per-core
 * cache pointers, error reporting and the live-bytes counter. Every other layer reads these;
 * this file calls nothing but the port.
 */
#include "internal.h"

const bm_class_info_t bm_classes[BM_NCLASSES + 1] = {BM_SIZE_CLASS_TABLE, {0, 0, 0, 0, 0, 0, 0, 0}};
const uint8_t bm_size_lookup[BM_LOOKUP_MAX / 8 + 1] = {BM_SIZE_LOOKUP_TABLE};

bm_state_t bm_state;
bm_maint_stats_t bm_maint_stats;
bm_cache_t bm_cache_unset; /* all zero: every bin empty and full, so every access goes slow */
uintptr_t bm_fast_region_base;
uintptr_t bm_grid_phase;
uintptr_t bm_freed_secret = BM_FREED_KEY; /* seeded by bm_freed_secret_init */
size_t bm_fast_region_span;
const bm_pagemap_t **bm_fast_region_maps;
bm_ctentry_t *bm_fast_region_table;
bm_objcache_t *bm_objcache_table[BM_MAX_OBJCACHES + 1];
const bm_bin_t bm_objcache_no_bin;

#ifndef BM_PORT_HAS_CORE_LOCAL
bm_cache_t *bm_core_local_table[BM_MAX_CORES + 1] = {[0 ... BM_MAX_CORES] = &bm_cache_unset};
#endif

/* O(1), once, from bm_init, before any block exists. Any odd value works; entropy makes it
 * unguessable. */
void bm_freed_secret_init(void) { bm_freed_secret = (BM_FREED_KEY ^ bm_port_entropy()) | 1; }

/* ---- hardening level 2 ---------------------------------------------------------------------- */

#if BM_HARDENING >= 2
#define FILL_WORD (~(uintptr_t)0 / 0xff * 0xdb)

/* Words of a block of class size `size` that the fill covers (the first is the freed mark). */
static size_t fill_words(size_t size) {
    return (size < BM_HARDEN_FILL_MAX ? size : BM_HARDEN_FILL_MAX) / sizeof(uintptr_t);
}

/* O(min(size, BM_HARDEN_FILL_MAX)). Any context (no lock). */
void bm_harden_fill(void *ptr, size_t size) {
    uintptr_t *word = ptr;
    for (size_t i = 1, n = fill_words(size); i < n; i++)
        word[i] = FILL_WORD;
}

bool bm_harden_fill_intact(const void *ptr, size_t size) {
    const uintptr_t *word = ptr;
    for (size_t i = 1, n = fill_words(size); i < n; i++)
        if (word[i] != FILL_WORD)
            return false;
    return true;
}

/* O(min(size, BM_HARDEN_FILL_MAX)). Reports once if the fill changed since the free. */
void bm_harden_check_fill(const void *ptr, size_t size) {
    if (!bm_harden_fill_intact(ptr, size))
        bm_report("block written after it was freed (its fill pattern changed before it was handed out again)", ptr);
}

/* The canary: the last word of the class size, derived from the secret and the address. */
static uintptr_t *canary_slot(const void *ptr, size_t size) {
    return (uintptr_t *)((char *)ptr + size - sizeof(uintptr_t));
}

void bm_harden_canary_set(void *ptr, size_t size) { *canary_slot(ptr, size) = ~bm_freed_key(ptr); }

bool bm_harden_canary_intact(const void *ptr, size_t size) {
    return *canary_slot(ptr, size) == ~bm_freed_key(ptr);
}
#endif

/* ---- size classes ------------------------------------------------------------------------ */

/* Large classes by length in pages, built at initialisation, so sizing a large request is a
 * table read rather than a search. */
static uint8_t large_class_by_pages[BM_CHUNK_PAGES + 1];
_Static_assert(BM_LOOKUP_MAX >= BM_SMALL_MAX, "every small class must be in the lookup table");
_Static_assert(BM_LARGE_MAX >> BM_LG_PAGE <= BM_CHUNK_PAGES, "large classes longer than a chunk");

/* O(classes), once, from bm_init. */
void bm_size_classes_init(void) {
    size_t pages = 1;
    for (unsigned cls = BM_NSMALL; cls < BM_NCLASSES; cls++)
        for (; pages <= bm_classes[cls].run_pages; pages++)
            large_class_by_pages[pages] = (uint8_t)cls;
}

/* O(1). size <= BM_LARGE_MAX, after initialisation. Any context. */
unsigned bm_size_to_class(size_t size) {
    if (size <= BM_LOOKUP_MAX)
        return bm_lookup_class(size);
    return large_class_by_pages[(size + BM_PAGE_MASK) >> BM_LG_PAGE];
}

/* ---- errors -------------------------------------------------------------------------------- */

/* O(1) plus the hook. Called with locks held and interrupts masked (see the lock contract in
 * internal.h): the hook must not allocate. */
void bm_report(const char *msg, const void *addr) {
    bm_error_hook_t hook = __atomic_load_n(&bm_state.error_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook(msg, addr);
    else
        bm_port_error(msg, addr);
}

bm_error_hook_t bm_set_error_hook(bm_error_hook_t hook) {
    return __atomic_exchange_n(&bm_state.error_hook, hook, __ATOMIC_ACQ_REL);
}

/* Where the calling context's last error code lives: the port's per-context slot (a thread's
 * own on the host port, slot or not), or this core's entry; NULL for a core id past the table
 * (a port breaking bm_port_core_id's contract). O(1), any context. */
#ifdef BM_PORT_HAS_ERROR_LOCAL
BM_INLINE int *error_slot(void) { return bm_port_error_local(); }
#else
static int core_error[BM_MAX_CORES];
BM_INLINE int *error_slot(void) {
    unsigned core = bm_this_core();
    return core < BM_MAX_CORES ? &core_error[core] : NULL;
}
#endif

/* O(1) plus the errno hook. Records code for the caller's bm_last_error and hands it to
 * bm_port_set_errno. Any context (an interrupt handler's failure records on its core). */
void bm_set_error(int code) {
    int *slot = error_slot();
    if (slot)
        *slot = code;
    bm_port_set_errno(code);
}

/* O(1), any context; 0 when the caller has no error recorded. */
int bm_last_error(void) {
    int *slot = error_slot();
    return slot ? *slot : 0;
}

/* ---- arenas by core -------------------------------------------------------------------------- */

bm_arena_t *bm_arena_for_core(unsigned core) {
    return bm_state.arenas[bm_state.core_arena[core < BM_MAX_CORES ? core : 0]];
}

/* ---- live bytes and their peak ---------------------------------------------------------------- */

/* O(1) unless racing another core raising the peak. */
void bm_live_peak_raise(size_t now) {
    size_t peak = __atomic_load_n(&bm_state.peak_allocated, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&bm_state.peak_allocated, &peak, now, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
