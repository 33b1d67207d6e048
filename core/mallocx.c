/*
 * Per-call flags: bm_mallocx, bm_rallocx, bm_sdallocx (jemalloc's names, Linux's gfp flags in
 * spirit). A layer beside alloc.c at the top of the core: a firmware that never calls these does
 * not link this file.
 *
 * Design:
 *  - Flags are decoded once into a request (decode): alignment, the arena (from ARENA(i) or
 *    NODE(n)), ZERO, NOCACHE, NOGROW. Any bad flag refuses the call before anything is touched.
 *  - Without ARENA, NODE and NOCACHE the call is the plain API's (bm_malloc, bm_alloc_slow for an
 *    alignment, bm_realloc, bm_free_sized): the core's cache serves it as usual.
 *  - With ARENA, NODE or NOCACHE the block comes from the arena through the cache layer's
 *    bm_alloc_uncached (one region, a large run or a huge span, and the cache layer's own
 *    failed-allocation retry), never through a core's cache; NOCACHE frees go straight to the
 *    block's arena.
 *  - NOGROW sets this core's no-grow mark (region.c) around the call; bm_region_grant_locked,
 *    the one place a grow hook is called, refuses while it is set. The mark is saved and
 *    restored, so an interrupt handler's NOGROW call inside another call on the same core
 *    nests. Before initialisation a NOGROW call fails (initialising may grow the first region).
 * Everything here reaches the layers below through internal.h only.
 */
#include "internal.h"

#define MX_KNOWN_BITS \
    (BM_MALLOCX_LG_ALIGN_MASK | BM_MALLOCX_ZERO | BM_MALLOCX_NOCACHE | BM_MALLOCX_NOGROW | 0xff000u | 0xff00000u)

typedef struct mx_req {
    size_t align;       /* 0: natural */
    bm_arena_t *arena;  /* NULL: the core's choice (cache or its arena) */
    bool zero, nocache, nogrow;
    unsigned arena_field, node_field; /* encoded index + 1, 0: none */
} mx_req_t;

/* O(1). The bits of flags that need no initialised allocator (everything but which arena);
 * false for an unknown bit, an alignment marked bad or too large. Any context. */
static bool decode_bits(int flags, mx_req_t *r) {
    unsigned f = (unsigned)flags;
    *r = (mx_req_t){0, NULL, false, false, false, 0, 0};
    if (f & ~(unsigned)MX_KNOWN_BITS)
        return false;
    unsigned lg = f & BM_MALLOCX_LG_ALIGN_MASK;
    if (lg == BM_MALLOCX_LG_ALIGN_MASK || lg > sizeof(size_t) * 8 - 1)
        return false;
    r->align = lg ? (size_t)1 << (lg - 1) : 0;
    r->zero = (f & BM_MALLOCX_ZERO) != 0;
    r->nocache = (f & BM_MALLOCX_NOCACHE) != 0;
    r->nogrow = (f & BM_MALLOCX_NOGROW) != 0;
    r->arena_field = (f >> 12) & 0xffu;
    r->node_field = (f >> 20) & 0xffu;
    return true;
}

/* O(arenas). The arena ARENA/NODE name, once initialised; false when it does not exist (an index
 * past arenas.narenas, a node no plain arena draws from, an arena not
 * on the node given with it). Any context (no lock: arenas are only ever appended). */
static bool decode_arena(mx_req_t *r) {
    unsigned narenas = __atomic_load_n(&bm_state.narenas, __ATOMIC_ACQUIRE);
    if (r->arena_field) {
        unsigned i = r->arena_field - 1;
        if (i >= narenas)
            return false;
        r->arena = bm_state.arenas[i];
        if (r->node_field && r->arena->node != r->node_field - 1)
            return false;
        return true;
    }
    if (r->node_field) {
        unsigned node = r->node_field - 1;
        bm_arena_t *own = bm_arena_for_core(bm_this_core());
        if (own->node == node) {
            r->arena = own;
            return true;
        }
        for (unsigned i = 0; i < narenas; i++) {
            bm_arena_t *a = bm_state.arenas[i];
            if (a->node == node) {
                r->arena = a;
                return true;
            }
        }
        return false;
    }
    return true;
}

/* O(1) + bm_ensure_init the first time. Decodes flags completely; false with the error code set
 * (BM_EINVAL for a bad flag, BM_ENOMEM when the allocator cannot be initialised, or a NOGROW call
 * would have to initialise it). Any context once initialised. */
static bool decode(int flags, mx_req_t *r) {
    if (!decode_bits(flags, r)) {
        bm_set_error(BM_EINVAL);
        return false;
    }
    if (r->nogrow && !bm_is_ready()) {
        bm_set_error(BM_ENOMEM);
        return false;
    }
    if (!bm_ensure_init()) {
        bm_set_error(BM_ENOMEM);
        return false;
    }
    if (!decode_arena(r)) {
        bm_set_error(BM_EINVAL);
        return false;
    }
    return true;
}

/* ---- the arena path ----------------------------------------------------------------------- */

/* O(1). The usable bytes of p, a block just taken (class known for small and large). */
static size_t block_usable(void *p) {
    bm_ptr_info_t info;
    return bm_ptr_classify(p, &info) == BM_PTR_BAD ? 0 : info.usable;
}

/* O(1) plus the pool's tree for a huge block. A live block (classified in info) straight back to
 * its arena, which checks it again under its lock; level 2: into its quarantine. Any context. */
static void arena_free(void *ptr, const bm_ptr_info_t *info) {
    bm_irq_state_t irq = bm_port_irq_save();
    if (info->kind == BM_PTR_HUGE) {
        bm_huge_free(ptr, info->region, info->entry);
    } else {
        bm_chunk_t *chunk = bm_chunk_of(ptr);
        bm_arena_t *arena = chunk->arena;
#if BM_HARDENING >= 2
        if (!bm_harden_canary_intact(ptr, bm_classes[info->cls].size))
            bm_report("write past the end of a block (its canary was overwritten); freed all the same", ptr);
        bm_arena_lock(arena);
        bm_quarantine_locked(arena, ptr, bm_classes[info->cls].size);
#else
        bm_arena_lock(arena);
        bm_block_dalloc_locked(arena, chunk, ptr);
#endif
        bm_arena_unlock(arena);
    }
    bm_port_irq_restore(irq);
}

/* ---- the no-grow mark ------------------------------------------------------------------------ */

BM_INLINE unsigned nogrow_enter(bool on) { return on ? bm_nogrow_set(1) : 0; }
BM_INLINE void nogrow_leave(bool on, unsigned saved) {
    if (on)
        bm_nogrow_set(saved);
}

/* ---- the API ------------------------------------------------------------------------------- */

/* Bounded; see the header. The zeroing covers the whole usable size (so that a later in-place
 * bm_rallocx with ZERO finds zeros past the old size). */
static void *mallocx_req(size_t size, const mx_req_t *r) {
    void *p;
    if (r->arena || r->nocache) {
        bm_arena_t *arena = r->arena ? r->arena : bm_arena_for_core(bm_this_core());
        p = bm_alloc_uncached(arena, size, r->align);
    } else if (r->align) {
        p = bm_alloc_slow(size, r->align);
    } else {
        p = bm_malloc(size);
    }
    if (p && r->zero) {
        size_t usable = block_usable(p);
        BM_UNPOISON(p, usable);
        __builtin_memset(p, 0, usable);
        BM_EXPOSE(p, size, usable);
    }
    return p;
}

void *bm_mallocx(size_t size, int flags) {
    mx_req_t r;
    if (!decode(flags, &r))
        return NULL;
    unsigned saved = nogrow_enter(r.nogrow);
    void *p = mallocx_req(size, &r);
    nogrow_leave(r.nogrow, saved);
    return p;
}

/* Classifies ptr for rallocx/sdallocx, or reports it (false). */
static bool classify_or_report(const void *ptr, bm_ptr_info_t *info) {
    if (bm_ptr_classify_live(ptr, info) == BM_PTR_BAD) {
        bm_report(info->why, ptr);
        return false;
    }
    return true;
}

/* Bounded + the copy. The old block stays where it is when the new size has its class (small
 * and large), its address has the alignment asked for and its arena is the one asked for. */
static void *rallocx_req(void *ptr, size_t size, const mx_req_t *r) {
    bm_ptr_info_t old;
    if (!classify_or_report(ptr, &old)) {
        bm_set_error(BM_EINVAL);
        return NULL;
    }
    if (size == 0)
        size = 1;
    size_t req = bm_request_size(size);
    if (old.kind != BM_PTR_HUGE && req <= BM_LARGE_MAX && bm_size_to_class(req) == old.cls &&
        (!r->align || ((uintptr_t)ptr & (r->align - 1)) == 0) &&
        (!r->arena || bm_chunk_of(ptr)->arena == r->arena)) {
        BM_EXPOSE(ptr, size, old.usable);
        return ptr;
    }
    void *p = mallocx_req(size, r);
    if (!p)
        return NULL;
    bm_copy_block(p, ptr, old.usable < size ? old.usable : size);
    if (r->nocache)
        arena_free(ptr, &old);
    else
        bm_free(ptr);
    return p;
}

void *bm_rallocx(void *ptr, size_t size, int flags) {
    mx_req_t r;
    if (!decode(flags, &r))
        return NULL;
    if (!ptr)
        return bm_mallocx(size, flags);
    unsigned saved = nogrow_enter(r.nogrow);
    void *p;
    if (!r.arena && !r.nocache && !r.align && !r.zero)
        p = size ? bm_realloc(ptr, size) : bm_realloc(ptr, 1); /* the plain path, in place when it can */
    else
        p = rallocx_req(ptr, size, &r);
    nogrow_leave(r.nogrow, saved);
    return p;
}

void bm_sdallocx(void *ptr, size_t size, int flags) {
    mx_req_t r;
    if (!decode_bits(flags, &r) || (bm_is_ready() && !decode_arena(&r))) {
        bm_set_error(BM_EINVAL);
        return;
    }
    if (!ptr)
        return;
    if (!r.nocache) {
        bm_free_sized(ptr, size);
        return;
    }
    if (!bm_is_ready()) {
        bm_report("free before the allocator was initialised (pointer not from this allocator)", ptr);
        return;
    }
    bm_ptr_info_t info;
    if (!classify_or_report(ptr, &info))
        return;
    if (size > info.usable)
        bm_report("sized free with a size larger than the block", ptr);
    arena_free(ptr, &info);
}
