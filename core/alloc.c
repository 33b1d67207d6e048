/*
 * The public API: fast paths, slow paths, initialisation.
 *
 * malloc fast path: size -> class by table, pop the class's stack in this core's cache.
 * free fast path: pointer -> chunk (mask) -> page map entry -> class, checks, push.
 * Both run with interrupts masked (a no-op on the host port) and take no lock.
 */
#include "internal.h"

const bm_class_info_t bm_classes[BM_NCLASSES + 1] = {BM_SIZE_CLASS_TABLE, {0, 0, 0, 0, 0, 0, 0, 0}};
const uint8_t bm_size_lookup[BM_LOOKUP_MAX / 8 + 1] = {BM_SIZE_LOOKUP_TABLE};

bm_state_t bm_state;
bm_cache_t bm_cache_unset; /* all zero: every bin empty and full, so every access goes slow */
uintptr_t bm_fast_region_base;
size_t bm_fast_region_span;
const bm_pagemap_t **bm_fast_region_maps;
bm_ctentry_t *bm_fast_region_table;
__attribute__((weak)) const char *bm_malloc_conf = NULL;
static int bm_core_error[BM_MAX_CORES];

#ifdef BM_PORT_HAS_CORE_LOCAL
BM_INLINE bm_cache_t **core_local(void) { return bm_port_core_local(); }
#else
static bm_cache_t *bm_core_local_table[BM_MAX_CORES] = {[0 ... BM_MAX_CORES - 1] = &bm_cache_unset};
BM_INLINE bm_cache_t **core_local(void) { return &bm_core_local_table[bm_this_core()]; }
#endif
bm_cache_t **bm_core_local(void) { return core_local(); }

/* Large classes by length in pages: built at initialisation, so sizing a large request is a
 * table read rather than a search. */
static uint8_t large_class_by_pages[BM_CHUNK_PAGES + 1];
_Static_assert(BM_LOOKUP_MAX >= BM_SMALL_MAX, "every small class must be in the lookup table");
_Static_assert(BM_LARGE_MAX >> BM_LG_PAGE <= BM_CHUNK_PAGES, "large classes longer than a chunk");

static void large_class_table_init(void) {
    size_t pages = 1;
    for (unsigned cls = BM_NSMALL; cls < BM_NCLASSES; cls++)
        for (; pages <= bm_classes[cls].run_pages; pages++)
            large_class_by_pages[pages] = (uint8_t)cls;
}

unsigned bm_size_to_class(size_t size) {
    if (size <= BM_LOOKUP_MAX)
        return bm_lookup_class(size);
    return large_class_by_pages[(size + BM_PAGE_MASK) >> BM_LG_PAGE];
}

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

void bm_set_error(int code) {
    unsigned core = bm_this_core();
    if (core < BM_MAX_CORES)
        bm_core_error[core] = code;
    bm_port_set_errno(code);
}

int bm_last_error(void) {
    unsigned core = bm_this_core();
    return core < BM_MAX_CORES ? bm_core_error[core] : 0;
}

bm_arena_t *bm_arena_for_core(unsigned core) {
    return bm_state.arenas[bm_state.core_arena[core < BM_MAX_CORES ? core : 0]];
}

/* ---- initialisation ----------------------------------------------------------------------- */

static int init_run(const bm_config_t *config) {
    large_class_table_init();
    bm_options_defaults(&bm_state.opt);
    bm_options_parse(&bm_state.opt, bm_malloc_conf);
    bm_options_parse(&bm_state.opt, bm_port_env_options());
    if (config && config->options)
        bm_options_parse(&bm_state.opt, config->options);
    if (config && config->error_hook)
        bm_state.error_hook = config->error_hook;

    const bm_page_source_t *sources;
    unsigned nsources;
    if (config && config->sources) {
        sources = config->sources;
        nsources = config->nsources;
    } else {
        nsources = bm_port_default_sources(&sources);
    }
    unsigned ncores = bm_port_core_count();
    bm_state.ncores = ncores < 1 ? 1 : ncores > BM_MAX_CORES ? BM_MAX_CORES : ncores;
    unsigned narenas = bm_state.opt.narenas ? bm_state.opt.narenas : bm_state.ncores;
    if (narenas > BM_MAX_ARENAS)
        narenas = BM_MAX_ARENAS;
    bm_lock_init(&bm_state.pool_lock);
    bm_lock_init(&bm_state.base_lock);
    int err = bm_bootstrap(sources, nsources, narenas);
    if (err)
        return err;
    bm_policies_init(narenas); /* core -> arena rule, purge policy (maintenance.c) */
    bm_region_t *r0 = &bm_state.regions[0];
    bm_fast_region_maps = r0->maps;
    bm_fast_region_table = r0->table;
    bm_fast_region_base = r0->base;
    bm_fast_region_span = r0->nchunks << BM_LG_CHUNK;
    return 0;
}

/* state: 0 never initialised, 1 in progress, 2 ready, 3 failed (bm_init may retry) */
static int init_once(const bm_config_t *config, bool explicit_call) {
    int state = __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE);
    for (;;) {
        if (state == 2)
            return explicit_call ? BM_EBUSY : 0;
        if (state == 1) {
            bm_port_cpu_relax();
            state = __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE);
            continue;
        }
        if (state == 3 && !explicit_call)
            return BM_ENOMEM;
        if (__atomic_compare_exchange_n(&bm_state.init_state, &state, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_ACQUIRE))
            break;
    }
    /* Masked: an interrupt on this core that allocated now would wait for this very
     * initialisation for ever. */
    bm_irq_state_t irq = bm_port_irq_save();
    int err = init_run(config);
    __atomic_store_n(&bm_state.init_state, err ? 3 : 2, __ATOMIC_RELEASE);
    bm_port_irq_restore(irq);
    return err;
}

int bm_init(const bm_config_t *config) {
    if (config && config->sources && config->nsources == 0)
        return BM_EINVAL;
    return init_once(config, true);
}

bool bm_ensure_init(void) {
    if (BM_LIKELY(__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) == 2))
        return true;
    return init_once(NULL, false) == 0;
}

/* ---- slow paths --------------------------------------------------------------------------- */

/* This core's cache, created on first use; NULL if there is no memory for it. Interrupts
 * masked by the caller. */
static bm_cache_t *current_cache(void) {
    bm_cache_t **slot = core_local();
    bm_cache_t *cache = *slot;
    if (BM_LIKELY(cache != &bm_cache_unset))
        return cache;
    unsigned core = bm_this_core();
    if (core >= BM_MAX_CORES)
        return NULL;
    cache = bm_state.caches[core];
    if (!cache) {
        cache = bm_cache_create(core);
        __atomic_store_n(&bm_state.caches[core], cache, __ATOMIC_RELEASE);
    }
    if (cache)
        *core_local() = cache;
    return cache;
}

static void *alloc_class(bm_cache_t *cache, bm_arena_t *arena, unsigned cls) {
    if (cache) {
        bm_cache_bin_t *bin = &cache->bins[cls];
        if ((uint16_t)(uintptr_t)bin->head != bin->low_empty) {
            BM_STATS_FAST_HIT(cache);
            return *bin->head++;
        }
        return bm_cache_alloc_slow(cache, cls);
    }
    if (!bm_class_is_small(cls))
        return bm_arena_large_alloc(arena, cls, BM_PAGE);
    void *p = NULL;
    bm_arena_lock(arena);
    unsigned got = bm_arena_bin_fill(arena, cls, &p, 1);
    bm_arena_unlock(arena);
    return got ? p : NULL;
}

/* One attempt at a block of any size and power-of-two alignment; interrupts masked. */
static void *alloc_attempt(bm_cache_t *cache, bm_arena_t *arena, size_t size, size_t align) {
    void *p = NULL;
    if (size <= BM_LARGE_MAX && align <= BM_PAGE) {
        /* Every large class is page aligned, so the search always ends on a class. */
        unsigned cls = bm_size_to_class(size);
        while (bm_classes[cls].align < align)
            cls++;
        p = alloc_class(cache, arena, cls);
    } else if (size <= BM_LARGE_MAX && align < BM_CHUNK) {
        unsigned cls = bm_size_to_class(size);
        p = bm_arena_large_alloc(arena, cls < BM_NSMALL ? BM_NSMALL : cls, align);
    }
    if (!p && (size > BM_LARGE_MAX || align > BM_PAGE))
        p = bm_huge_alloc(arena, size, align > BM_CHUNK ? align : BM_CHUNK);
    return p;
}

/* Any size, any power-of-two alignment (0: the natural alignment of the size). */
static void *alloc_aligned(size_t size, size_t align) {
    if (!bm_ensure_init()) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    if (size == 0)
        size = 1;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = current_cache();
    bm_arena_t *arena = cache ? cache->arena : bm_arena_for_core(bm_this_core());
    void *p = alloc_attempt(cache, arena, size, align);
    if (BM_UNLIKELY(!p) && cache) {
        /* Blocks this core holds in its cache may be what is missing (on a small heap they
         * can be a real share of it): give them back, with the arena's spare chunk, and retry. */
        bm_cache_flush_all(cache);
        bm_arena_release_spare(arena);
        p = alloc_attempt(cache, arena, size, align);
    }
    bm_port_irq_restore(irq);
    if (!p) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
#if BM_FREE_CHECKS
    bm_mark_allocated(p);
#endif
    BM_EXPOSE(p, size, bm_usable_size(p));
    return p;
}

/* The class has no slots in this core's cache (a large class above tcache_max). */
BM_INLINE bool cache_skips_class(const bm_cache_t *cache, unsigned cls) {
    return cls >= cache->ncached || cache->info[cls].nmax == 0;
}

BM_NOINLINE static void *malloc_slow(size_t size) {
    /* Up to the largest class, once this core has its cache: its bin (a size past the lookup
     * table was not tried by the fast path), a refill, or the arena for a class it does not
     * cache. The general path does the same after more set-up (about 70 Cortex-M3
     * instructions); it also handles failure (flush and retry), size 0, huge sizes and a
     * core's first call. */
    if (size - 1 < BM_LARGE_MAX && __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) == 2) {
        unsigned cls = bm_size_to_class(size);
        bm_irq_state_t irq = bm_port_irq_save();
        bm_cache_t *cache = *core_local();
        void *p = NULL;
        if (cache != &bm_cache_unset) {
            if (!bm_class_is_small(cls) && cache_skips_class(cache, cls)) {
                bm_cache_check_flush_request(cache);
                p = bm_arena_large_alloc(cache->arena, cls, BM_PAGE);
            } else {
                p = alloc_class(cache, cache->arena, cls);
            }
        }
        bm_port_irq_restore(irq);
        if (p) {
#if BM_FREE_CHECKS
            bm_mark_allocated(p);
#endif
            BM_EXPOSE(p, size, bm_classes[cls].size);
            return p;
        }
    }
    return alloc_aligned(size, 0);
}

BM_NOINLINE static void free_slow(void *ptr) {
    if (!ptr)
        return;
    if (__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2) {
        bm_report("free before the allocator was initialised (pointer not from this allocator)", ptr);
        return;
    }
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_free_slow(current_cache(), ptr);
    bm_port_irq_restore(irq);
}

/* ---- fast paths ---------------------------------------------------------------------------- */

void *bm_malloc(size_t size) {
    if (BM_LIKELY(size <= BM_LOOKUP_MAX)) {
        unsigned cls = bm_lookup_class(size);
        bm_irq_state_t irq = bm_port_irq_save();
        bm_cache_bin_t *bin = &(*core_local())->bins[cls];
        void **head = bin->head;
        if (BM_LIKELY((uint16_t)(uintptr_t)head != bin->low_empty)) {
            bin->head = head + 1;
            BM_STATS_FAST_HIT(*core_local()); /* compiled out unless BM_STATS_FAST */
            void *p = *head;
            bm_port_irq_restore(irq);
#if BM_FREE_CHECKS
            bm_mark_allocated(p);
#endif
            BM_EXPOSE(p, size, bm_classes[cls].size);
            return p;
        }
        bm_port_irq_restore(irq);
    }
    return malloc_slow(size);
}

/* Pushes ptr (of the class of page map entry pm) onto this core's cache if every check
 * passes; false sends the caller to the slow path. */
BM_INLINE bool free_fast(void *ptr, bm_pagemap_t pm, unsigned cls) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_bin_t *bin = &(*core_local())->bins[cls];
#if BM_FREE_CHECKS
    if (BM_UNLIKELY(!bm_bin_region_start(bin, ptr, pm))) {
        bm_port_irq_restore(irq);
        return false;
    }
#else
    (void)pm;
#endif
    void **head = bin->head;
    if (BM_UNLIKELY((uint16_t)(uintptr_t)head == bin->low_full) ||
        (BM_FREE_CHECKS && BM_UNLIKELY(bm_first_word(ptr) == bm_freed_key(ptr)))) {
        bm_port_irq_restore(irq);
        return false;
    }
#if BM_FREE_CHECKS
    bm_mark_freed(ptr);
#endif
    head[-1] = ptr;
#if defined(__x86_64__) || defined(__i386__)
    bin->head--; /* read again after the stores above, as one subtract from memory on x86 */
#else
    bin->head = head - 1; /* reading it again would cost a load-store machine a load */
#endif
    bm_port_irq_restore(irq);
    BM_POISON(ptr, bm_classes[cls].size);
    return true;
}

/* The page map entry for ptr (BM_BIN_INVALID's if ptr is in region 0 but not in an arena
 * chunk), or false if ptr is outside region 0. */
BM_INLINE bool free_lookup(void *ptr, bm_pagemap_t *pm) {
    uintptr_t addr = (uintptr_t)ptr;
#if BM_FREE_CHECKS && BM_CHUNK_MAPS
    /* Inside region 0, one load gives the chunk's page map: an arena chunk's own, or
     * bm_no_pages for a chunk in the pool, a huge block or not yet granted. */
    uintptr_t offset = addr - bm_fast_region_base;
    if (BM_UNLIKELY(offset >= bm_fast_region_span))
        return false;
    *pm = bm_fast_region_maps[offset >> BM_LG_CHUNK][(addr & BM_CHUNK_MASK) >> BM_LG_PAGE];
    return true;
#elif BM_FREE_CHECKS
    uintptr_t offset = addr - bm_fast_region_base;
    if (BM_UNLIKELY(offset >= bm_fast_region_span) ||
        BM_UNLIKELY(bm_ct_type(bm_fast_region_table[offset >> BM_LG_CHUNK]) != BM_CT_ARENA))
        return false;
    *pm = bm_chunk_of(ptr)->map[(addr & BM_CHUNK_MASK) >> BM_LG_PAGE];
    return true;
#else
    /* Trusting the caller still needs one test: a huge block starts at a chunk boundary,
     * where an arena chunk has its header, so its page map must not be read. */
    if (BM_UNLIKELY((addr & BM_CHUNK_MASK) == 0))
        return false;
    *pm = ((bm_chunk_t *)(addr & ~(uintptr_t)BM_CHUNK_MASK))->map[(addr & BM_CHUNK_MASK) >> BM_LG_PAGE];
    return true;
#endif
}

/* A block in one of region 0's arena chunks that the fast path did not cache. A full bin
 * flushes and takes it when the block passes the fast path's checks; a large run of a class
 * this core does not cache goes straight to its arena; anything else (a failed check, a
 * possible double free) takes the general slow path, which classifies it from scratch. */
BM_NOINLINE static void free_uncached(void *ptr, bm_pagemap_t pm) {
    unsigned cls = bm_pm_class(pm);
    if (cls != BM_BIN_INVALID) {
        bm_irq_state_t irq = bm_port_irq_save();
        bm_cache_t *cache = *core_local();
        if (cache != &bm_cache_unset) {
            bm_cache_bin_t *bin = &cache->bins[cls];
            if (!cache_skips_class(cache, cls)) {
                if (BM_FREE_CHECKS && (uint16_t)(uintptr_t)bin->head == bin->low_full &&
                    bm_bin_region_start(bin, ptr, pm) && bm_first_word(ptr) != bm_freed_key(ptr)) {
                    bm_cache_check_flush_request(cache);
                    bm_cache_push(cache, cls, ptr);
                    bm_port_irq_restore(irq);
                    return;
                }
            } else if (bm_pm_kind(pm) == BM_PAGE_LARGE && bm_pm_head(pm)) {
                bm_cache_check_flush_request(cache);
                bm_chunk_t *chunk = bm_chunk_of(ptr);
                bm_arena_t *arena = chunk->arena;
                bm_arena_lock(arena);
                bm_arena_dalloc_locked(arena, chunk, ptr); /* checks ptr is the run's start */
                bm_arena_unlock(arena);
                bm_port_irq_restore(irq);
                return;
            }
        }
        bm_port_irq_restore(irq);
    }
    free_slow(ptr);
}

void bm_free(void *ptr) {
    bm_pagemap_t pm;
    if (BM_LIKELY(free_lookup(ptr, &pm))) {
        if (BM_LIKELY(free_fast(ptr, pm, bm_pm_class(pm))))
            return;
        free_uncached(ptr, pm);
        return;
    }
    free_slow(ptr);
}

/* Classifies ptr: its usable size, or 0 (after a report) if it is not a live block's start.
 * *cls_out gets the class (BM_NCLASSES for huge). */
static size_t block_size_quiet(const void *ptr, unsigned *cls_out) {
    bm_region_t *region = bm_region_of(ptr);
    if (!region || __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2)
        return 0;
    bm_ctentry_t entry = *bm_region_entry(region, ptr);
    if (bm_ct_type(entry) == BM_CT_HUGE && bm_ct_head(entry) && ((uintptr_t)ptr & BM_CHUNK_MASK) == 0) {
        *cls_out = BM_NCLASSES;
        return bm_huge_usable(entry);
    }
    if (bm_ct_type(entry) == BM_CT_ARENA) {
        bm_pagemap_t pm = bm_chunk_of(ptr)->map[bm_page_index(ptr)];
        unsigned cls = bm_pm_class(pm);
        if (cls != BM_BIN_INVALID &&
            bm_class_divides(&bm_classes[cls], (uint32_t)(((uintptr_t)ptr & BM_PAGE_MASK) + bm_pm_phase(pm)))) {
            *cls_out = cls;
            return bm_classes[cls].size;
        }
    }
    return 0;
}

static size_t block_size(const void *ptr, unsigned *cls_out) {
    size_t size = block_size_quiet(ptr, cls_out);
    if (!size)
        bm_report(bm_region_of(ptr) ? "pointer is not the start of a live block"
                                    : "pointer outside every heap region (not from this allocator)",
                  ptr);
    return size;
}

/* A sized free the fast path did not take: check the size against the block, then free. */
BM_NOINLINE static void free_sized_slow(void *ptr, size_t size) {
    if (ptr && __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) == 2 && bm_region_of(ptr)) {
        unsigned real_cls;
        size_t real = block_size_quiet(ptr, &real_cls);
        /* Any size from the one requested up to the usable size is right; only a larger one
         * is detectably wrong (aligned_alloc and realloc may hand out a bigger class). */
        (void)real_cls;
        if (real && size > real)
            bm_report("sized free with a size larger than the block", ptr);
    }
    free_slow(ptr);
}

void bm_free_sized(void *ptr, size_t size) {
    bm_pagemap_t pm = 0;
    if (BM_LIKELY(size <= BM_LOOKUP_MAX) && BM_LIKELY(free_lookup(ptr, &pm))) {
        unsigned cls = bm_lookup_class(size);
        if ((!BM_FREE_CHECKS || BM_LIKELY(bm_pm_class(pm) == cls)) && BM_LIKELY(free_fast(ptr, pm, cls)))
            return;
    }
    free_sized_slow(ptr, size);
}

/* ---- the rest of the API --------------------------------------------------------------------- */

void *bm_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    void *p = bm_malloc(total);
    if (p)
        __builtin_memset(p, 0, total);
    return p;
}

void *bm_aligned_alloc(size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1))) {
        bm_set_error(BM_EINVAL);
        return NULL;
    }
    return alloc_aligned(size, alignment);
}

void *bm_memalign(size_t alignment, size_t size) {
    size_t power = 1;
    while (power < alignment) {
        power <<= 1;
        if (power == 0) {
            bm_set_error(BM_EINVAL);
            return NULL;
        }
    }
    return alloc_aligned(size, power);
}

int bm_posix_memalign(void **memptr, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
        return BM_EINVAL;
    void *p = alloc_aligned(size, alignment);
    if (!p)
        return BM_ENOMEM;
    *memptr = p;
    return 0;
}

size_t bm_usable_size(const void *ptr) {
    unsigned cls;
    return ptr ? block_size(ptr, &cls) : 0;
}

void *bm_realloc(void *ptr, size_t size) {
    if (!ptr)
        return bm_malloc(size);
    if (size == 0) {
        bm_free(ptr);
        return bm_malloc(0);
    }
    unsigned old_cls;
    size_t old_size = block_size(ptr, &old_cls);
    if (!old_size) {
        bm_set_error(BM_EINVAL);
        return NULL;
    }
    /* Keep the alignment the old block may have been asked for. Nothing records it, so the
     * address is the evidence, believed up to what the old block's kind makes plausible: a
     * small block's class alignment; half a chunk for a large run; for a huge block, its chunk
     * alignment while it stays huge, and a page when it shrinks below that (so a huge block
     * realloc'ed to a few bytes does not keep a chunk). */
    uintptr_t addr_align = (uintptr_t)ptr & -(uintptr_t)ptr;
    size_t cap = old_cls == BM_NCLASSES       ? (size > BM_LARGE_MAX ? BM_CHUNK : BM_PAGE)
                 : bm_class_is_small(old_cls) ? bm_classes[old_cls].align
                                              : BM_CHUNK / 2;
    size_t align = addr_align < cap ? addr_align : cap;
    if (size <= BM_LARGE_MAX && old_cls < BM_NCLASSES) {
        unsigned new_cls = bm_size_to_class(size);
        if (align > BM_PAGE && new_cls < BM_NSMALL)
            new_cls = BM_NSMALL; /* over-page alignment: only large runs (or chunks) have it */
        while (bm_classes[new_cls].align < align && align <= BM_PAGE)
            new_cls++; /* ends at a large class at the latest: those are page aligned */
        if (new_cls == old_cls) {
            BM_EXPOSE(ptr, size, old_size);
            return ptr;
        }
        if (!bm_class_is_small(old_cls) && !bm_class_is_small(new_cls)) {
            bm_arena_t *arena = bm_chunk_of(ptr)->arena;
            bm_irq_state_t irq = bm_port_irq_save();
            bool done = true;
            if (new_cls < old_cls)
                bm_arena_large_shrink(arena, ptr, new_cls);
            else
                done = bm_arena_large_grow(arena, ptr, new_cls);
            bm_port_irq_restore(irq);
            if (done) {
                BM_EXPOSE(ptr, size, bm_classes[new_cls].size);
                return ptr;
            }
        }
    } else if (size > BM_LARGE_MAX && old_cls == BM_NCLASSES && size <= old_size) {
        bm_irq_state_t irq = bm_port_irq_save();
        bm_huge_shrink(ptr, bm_region_of(ptr), size);
        bm_port_irq_restore(irq);
        BM_EXPOSE(ptr, size, bm_usable_size(ptr));
        return ptr;
    }
    void *p = alloc_aligned(size, align);
    if (!p)
        return NULL;
    bm_copy_block(p, ptr, old_size < size ? old_size : size);
    bm_free(ptr);
    return p;
}

void bm_cache_flush(void) {
    if (__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2)
        return;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_cache_t *cache = *core_local();
    if (cache != &bm_cache_unset)
        bm_cache_flush_all(cache);
    bm_port_irq_restore(irq);
}

void bm_prefork(void) {
    if (__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2)
        return;
    bm_lock_acquire(&bm_state.base_lock);
    for (unsigned a = 0; a < bm_state.narenas; a++)
        bm_lock_acquire(&bm_state.arenas[a]->lock);
    bm_lock_acquire(&bm_state.pool_lock);
}

void bm_postfork(void) {
    if (__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2)
        return;
    bm_lock_release(&bm_state.pool_lock);
    for (unsigned a = bm_state.narenas; a-- > 0;)
        bm_lock_release(&bm_state.arenas[a]->lock);
    bm_lock_release(&bm_state.base_lock);
}

void bm_postfork_child(unsigned keep_core) {
    if (__atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE) != 2)
        return;
    for (unsigned core = 0; core < BM_MAX_CORES; core++) {
        if (core == keep_core)
            continue;
        __atomic_store_n(&bm_state.caches[core], NULL, __ATOMIC_RELEASE);
#ifndef BM_PORT_HAS_CORE_LOCAL
        bm_core_local_table[core] = &bm_cache_unset;
#endif
    }
}

#ifdef BM_EXPORT_STD_NAMES
/* The standard names of the hot calls are these very functions, not wrappers around them
 * (a wrapper costs malloc a call, a test and a return): errno on failure comes from
 * bm_set_error through bm_port_set_errno, which port/stdnames.c defines. The other names
 * are wrappers in port/stdnames.c. */
#define BM_STD_ALIAS(target) __attribute__((alias(#target), visibility("default")))
void *malloc(size_t size) BM_STD_ALIAS(bm_malloc);
void *calloc(size_t n, size_t size) BM_STD_ALIAS(bm_calloc);
void free(void *ptr) BM_STD_ALIAS(bm_free);
#endif
