/*
 * Typed object caches: bm_objcache_create/alloc/free/destroy. A layer beside alloc.c at the top
 * of the core: a program that never calls these does not link this file.
 *
 * Design:
 *  - A cache is a size class (the smallest small class that holds its size and alignment) with
 *    bins of its own, one per arena (bins[a], under arena a's lock), whose runs carry the cache's
 *    id in their header (bm_run_t.owner) and class BM_BIN_INVALID in every page map entry (bin.c).
 *    So its objects never share a run with another cache's or with malloc's blocks; malloc's
 *    fast paths see the never-usable bin for them and the classifier refuses them to free,
 *    realloc and usable_size.
 *  - Each core has a stack of the cache's free objects (bm_objcache_stack_t), popped and pushed
 *    with interrupts masked and no lock, as the size-class caches are; an empty stack refills half
 *    its slots from the core's arena in one lock hold, a full one flushes half to the objects'
 *    own arenas (one lock hold per run of objects of the same arena). Cross-core frees enter the
 *    freeing core's stack and go back to the owner arena when it flushes.
 *  - A free is checked before it is taken: the object must be the start of a block of this
 *    cache (its run's owner byte), and not already free (the freed mark, internal.h; the run's
 *    bitmap when it reaches the arena). Everything else is reported and ignored.
 *  - Destroy counts what is live (objects out of their runs minus objects in the stacks); if any
 *    is, it reports and refuses. Otherwise every stack is emptied into the runs, each arena's
 *    bin gives back its (now empty) runs, and the id is kept for reuse with its metadata.
 * Lock order: objcache_lock (create, destroy, the table) -> base -> arena, and nothing is taken
 * inside an arena lock but the pool lock, as everywhere else.
 */
#include "internal.h"

static bm_lock_t objcache_lock = BM_LOCK_INITIALIZER;

/* O(1). Slots per core for objects of class cls: at most two runs' worth (as the size-class
 * caches), none at hardening level 2 (every free then reaches its run's bitmap). */
static unsigned stack_slots(unsigned cls) {
    if (BM_HARDENING >= 2)
        return 0;
    unsigned limit = 2 * bm_classes[cls].nregs;
    return BM_OBJCACHE_SLOTS < limit ? BM_OBJCACHE_SLOTS : limit;
}

/* O(small classes). The smallest small class whose regions hold size bytes and are aligned to
 * align; BM_BIN_INVALID if none. */
static unsigned class_for(size_t size, size_t align) {
    for (unsigned cls = 0; cls < BM_NSMALL; cls++)
        if (bm_classes[cls].size >= size && bm_classes[cls].align >= align)
            return cls;
    return BM_BIN_INVALID;
}

/* O(1). This core's stack of oc, or NULL for a core without one (an id past the cores the
 * allocator was set up for). Interrupts masked by the caller. */
BM_INLINE bm_objcache_stack_t *core_stack(bm_objcache_t *oc) {
    unsigned core = bm_this_core();
    return core < bm_state.ncores && oc->stacks[core].nmax ? &oc->stacks[core] : NULL;
}

/* O(1). A cache handle the API may act on; reports (and records BM_EINVAL) otherwise. */
static bool usable_cache(const bm_objcache_t *oc, const char *what) {
    if (BM_LIKELY(oc && bm_is_ready() && oc->id && oc->id <= BM_MAX_OBJCACHES &&
                  bm_objcache_table[oc->id] == oc && oc->live))
        return true;
    bm_report(what, oc);
    bm_set_error(BM_EINVAL);
    return false;
}

/* ---- create ----------------------------------------------------------------------------------- */

/* O(1) plus base metadata. oc's bin in arena a, made (zeroed) if a was created after oc; NULL
 * when base metadata runs out. Two cores making it at once both succeed: the first published
 * wins and the other's ~40 bytes stay unused in base metadata. Interrupts masked, no lock held. */
static bm_bin_t *bin_for_arena(bm_objcache_t *oc, unsigned a) {
    bm_bin_t *bin = __atomic_load_n(&oc->bins[a], __ATOMIC_ACQUIRE);
    if (BM_LIKELY(bin != NULL))
        return bin;
    bm_bin_t *made = bm_base_alloc(sizeof(bm_bin_t));
    if (!made)
        return NULL;
    if (__atomic_compare_exchange_n(&oc->bins[a], &bin, made, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return made;
    return bin;
}

/* O(cores + arenas). Metadata for a new id: the cache, a bin per arena that exists now (later
 * arenas get theirs on first use: bin_for_arena), its stacks and their slots; NULL when base
 * metadata runs out (what was taken stays with base metadata: never freed). Sized by the arenas
 * and cores there are, not by BM_MAX_ARENAS: a two-core microcontroller pays for two bins. */
static bm_objcache_t *cache_new(unsigned id) {
    bm_objcache_t *oc = bm_base_alloc(sizeof *oc);
    unsigned narenas = __atomic_load_n(&bm_state.narenas, __ATOMIC_ACQUIRE);
    bm_bin_t *bins = bm_base_alloc(narenas * sizeof(bm_bin_t));
    bm_objcache_stack_t *stacks = bm_base_alloc(bm_state.ncores * sizeof(bm_objcache_stack_t));
    void **slots = bm_base_alloc((size_t)bm_state.ncores * BM_OBJCACHE_SLOTS * sizeof(void *));
    if (!oc || !bins || !stacks || !slots)
        return NULL;
    oc->id = (uint8_t)id;
    for (unsigned a = 0; a < narenas; a++)
        oc->bins[a] = &bins[a];
    oc->stacks = stacks;
    for (unsigned core = 0; core < bm_state.ncores; core++)
        stacks[core].slots = &slots[core * BM_OBJCACHE_SLOTS];
    return oc;
}

bm_objcache_t *bm_objcache_create(const char *name, size_t size, size_t align, int flags) {
    size_t len = name ? bm_text_len(name) : 0;
    size_t want = bm_request_size(size); /* room for the level-2 canary */
    unsigned cls = class_for(want, align);
    if (!len || len >= BM_OBJCACHE_NAME_MAX || size == 0 || (align & (align - 1)) ||
        ((unsigned)flags & ~(unsigned)BM_OBJCACHE_ZERO) || cls == BM_BIN_INVALID) {
        bm_set_error(BM_EINVAL);
        return NULL;
    }
    if (!bm_ensure_init()) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&objcache_lock);
    bm_objcache_t *oc = NULL;
    unsigned id = 1;
    for (; id <= BM_MAX_OBJCACHES; id++) { /* a destroyed cache's id first, then a new one */
        oc = bm_objcache_table[id];
        if (!oc || !oc->live)
            break;
    }
    if (id <= BM_MAX_OBJCACHES && !oc)
        oc = cache_new(id);
    if (oc) {
        __builtin_memcpy(oc->name, name, len + 1);
        oc->cls = (uint8_t)cls;
        oc->size = size;
        oc->align = align ? align : bm_classes[cls].align;
        oc->zero = ((unsigned)flags & BM_OBJCACHE_ZERO) != 0;
        oc->nalloc_direct = oc->nfree_direct = 0;
        for (unsigned core = 0; core < bm_state.ncores; core++) {
            bm_objcache_stack_t *st = &oc->stacks[core];
            st->count = 0;
            st->nmax = (uint16_t)stack_slots(cls);
            st->nalloc = st->nfree = 0;
        }
        /* A reused id's bins are empty (destroy gave every run back); their counters restart. */
        for (unsigned a = 0; a < BM_MAX_ARENAS; a++)
            if (oc->bins[a])
                __builtin_memset(oc->bins[a], 0, sizeof(bm_bin_t));
        oc->live = true;
        /* Published last: the validator and the statistics read the table without this lock. */
        __atomic_store_n(&bm_objcache_table[id], oc, __ATOMIC_RELEASE);
    }
    bm_lock_release(&objcache_lock);
    bm_port_irq_restore(irq);
    if (!oc)
        bm_set_error(BM_ENOMEM);
    return oc;
}

/* ---- alloc ------------------------------------------------------------------------------------ */

/* O(1). obj handed out: the freed mark cleared (level 2: fill checked, canary set), ASan told,
 * zeroed if the cache says so. */
static void *hand_out(bm_objcache_t *oc, void *obj) {
#if BM_FREE_CHECKS
    bm_block_handout(obj, bm_classes[oc->cls].size);
#endif
    BM_EXPOSE(obj, oc->size, bm_classes[oc->cls].size);
    if (oc->zero)
        __builtin_memset(obj, 0, oc->size);
    return obj;
}

/* O(batch). Refills st (empty) from the core's arena and pops one object; without a stack one
 * object straight from the arena. NULL when the arena has no memory for a run. Interrupts
 * masked by the caller. */
static void *alloc_refill(bm_objcache_t *oc, bm_objcache_stack_t *st) {
    bm_arena_t *arena = bm_arena_for_core(bm_this_core());
    void *one = NULL;
    void **out = st ? st->slots : &one;
    unsigned want = st ? (st->nmax + 1u) / 2u : 1u;
    if (want > BM_TCACHE_BATCH_MAX)
        want = BM_TCACHE_BATCH_MAX;
    bm_bin_t *bin = bin_for_arena(oc, arena->index);
    if (!bin)
        return NULL;
    bm_arena_lock(arena);
    unsigned got = bm_bin_fill_owned_locked(arena, bin, oc->cls, oc->id, out, want);
    bm_arena_unlock(arena);
    if (!got)
        return NULL;
    if (!st)
        return one;
    /* Regions arrive in ascending address order: the lowest is handed out first. */
    for (unsigned i = 0; i < got / 2; i++) {
        void *t = out[i];
        out[i] = out[got - 1 - i];
        out[got - 1 - i] = t;
    }
    st->count = (uint16_t)(got - 1);
    return out[got - 1];
}

/* O(1), O(batch) for a refill. One object from this core's stack or a refill, counted; NULL
 * when the core's arena has no room for a run. Masks interrupts itself. */
static void *alloc_attempt(bm_objcache_t *oc) {
    bm_irq_state_t irq = bm_port_irq_save();
    bm_objcache_stack_t *st = core_stack(oc);
    void *obj;
    if (BM_LIKELY(st && st->count))
        obj = st->slots[--st->count];
    else
        obj = alloc_refill(oc, st);
    if (BM_LIKELY(obj != NULL)) {
        if (st)
            BM_STAT_ADD(st->nalloc, 1);
        else
            __atomic_fetch_add(&oc->nalloc_direct, 1, __ATOMIC_RELAXED);
    }
    bm_port_irq_restore(irq);
    return obj;
}

void *bm_objcache_alloc(bm_objcache_t *oc) {
    if (BM_UNLIKELY(!usable_cache(oc, "bm_objcache_alloc on a cache that does not exist (NULL, destroyed or never created)")))
        return NULL;
    void *obj = alloc_attempt(oc);
    /* The core's arena is full: other arenas' free chunks go back to the pool one at a time
     * (in the real-time profile arenas keep every chunk, so an arena made later starts with
     * none) and the attempt is made again after each, as malloc's retry does. */
    for (int released; BM_UNLIKELY(!obj) && (released = bm_release_lowest_free_chunk()) >= 0;)
        if (released)
            obj = alloc_attempt(oc);
    if (BM_UNLIKELY(!obj)) {
        bm_set_error(BM_ENOMEM);
        return NULL;
    }
    return hand_out(oc, obj);
}

/* ---- free ------------------------------------------------------------------------------------- */

/* O(n). Objects objs[0..n) (live or cached objects of some cache, marked freed) back to their
 * runs, each arena's lock held once per stretch of objects of that arena. Interrupts masked. */
static void give_back(void **objs, unsigned n) {
    bm_arena_t *held = NULL;
    for (unsigned i = 0; i < n; i++) {
        bm_chunk_t *chunk = bm_chunk_of(objs[i]);
        if (chunk->arena != held) {
            if (held)
                bm_arena_unlock(held);
            held = chunk->arena;
            bm_arena_lock(held);
        }
        bm_block_dalloc_locked(held, chunk, objs[i]);
    }
    if (held)
        bm_arena_unlock(held);
}

/* O(regions). Whether obj may be given back to oc; what is wrong is reported. */
static bool free_acceptable(const bm_objcache_t *oc, const void *obj) {
    bm_ptr_info_t info;
    bm_ptr_kind_t kind = bm_ptr_classify(obj, &info);
    const char *why = NULL;
    if (kind != BM_PTR_BAD)
        why = "bm_objcache_free of a block from bm_malloc, not from an object cache";
    else if (!info.owner)
        why = info.why;
    else if (info.owner != oc->id)
        why = "bm_objcache_free of an object of another object cache (freed to the wrong cache)";
    else if (BM_FREE_CHECKS && bm_first_word(obj) == bm_freed_key(obj))
        why = "double free of an object-cache object (it is in a core's stack or free in its run)";
#if BM_HARDENING >= 2
    else if (bm_harden_block_is_free(obj, info.cls))
        why = "double free of an object-cache object (free in its run)";
    else if (!bm_harden_canary_intact(obj, bm_classes[info.cls].size))
        bm_report("write past the end of an object-cache object (its canary was overwritten); freed all the same", obj);
#endif
    if (why) {
        bm_report(why, obj);
        bm_set_error(BM_EINVAL);
        return false;
    }
    return true;
}

void bm_objcache_free(bm_objcache_t *oc, void *obj) {
    if (!obj)
        return;
    if (!usable_cache(oc, "bm_objcache_free on a cache that does not exist (NULL, destroyed or never created)") ||
        !free_acceptable(oc, obj))
        return;
    size_t size = bm_classes[oc->cls].size;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_objcache_stack_t *st = core_stack(oc);
    if (!st) {
        /* Poisoned by its run under the lock: once given back another core may hand it out,
         * so nothing here may touch it (or its ASan shadow) any more. */
        give_back(&obj, 1); /* the run's bitmap catches a double free that raced the check */
        __atomic_fetch_add(&oc->nfree_direct, 1, __ATOMIC_RELAXED);
        bm_port_irq_restore(irq);
        return;
    }
    if (st->count == st->nmax) { /* full: the older half goes back to the runs */
        unsigned n = st->nmax / 2u ? st->nmax / 2u : 1u;
        give_back(st->slots, n);
        __builtin_memmove(st->slots, st->slots + n, (st->count - n) * sizeof(void *));
        st->count = (uint16_t)(st->count - n);
    }
#if BM_FREE_CHECKS
    bm_block_retire(obj, size);
#endif
    BM_POISON(obj, size); /* before it is on the stack, from which this core's next alloc (an
                           * interrupt handler's too) may take it */
    st->slots[st->count++] = obj;
    BM_STAT_ADD(st->nfree, 1);
    bm_port_irq_restore(irq);
    (void)size;
}

/* ---- destroy ---------------------------------------------------------------------------------- */

/* O(cores + arenas). Objects of oc allocated and not freed: out of their runs (the bins' live
 * regions) minus those sitting in the cores' stacks. Interrupts masked; each arena's lock
 * taken in turn. A momentary figure while other cores use oc. */
static bm_stat_t live_objects(bm_objcache_t *oc) {
    bm_stat_t out_of_runs = 0, stacked = 0;
    unsigned narenas = __atomic_load_n(&bm_state.narenas, __ATOMIC_ACQUIRE);
    for (unsigned a = 0; a < narenas; a++) {
        bm_arena_lock(bm_state.arenas[a]);
        out_of_runs += BM_STAT_GET(bm_objcache_bin(oc, a)->stats.curregs);
        bm_arena_unlock(bm_state.arenas[a]);
    }
    for (unsigned core = 0; core < bm_state.ncores; core++)
        stacked += __atomic_load_n(&oc->stacks[core].count, __ATOMIC_RELAXED);
    return out_of_runs - stacked;
}

int bm_objcache_destroy(bm_objcache_t *oc) {
    if (!usable_cache(oc, "bm_objcache_destroy of a cache that does not exist (NULL, destroyed or never created)"))
        return BM_EINVAL;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&objcache_lock);
    int err = 0;
    if (live_objects(oc) != 0) {
        bm_report("bm_objcache_destroy of a cache with live objects: refused (free them first)", oc);
        err = BM_EBUSY;
    } else {
        for (unsigned core = 0; core < bm_state.ncores; core++) {
            bm_objcache_stack_t *st = &oc->stacks[core];
            give_back(st->slots, st->count);
            st->count = 0;
        }
        unsigned narenas = __atomic_load_n(&bm_state.narenas, __ATOMIC_ACQUIRE);
        bool empty = true;
        for (unsigned a = 0; a < narenas; a++) {
            bm_arena_t *arena = bm_state.arenas[a];
            bm_bin_t *bin = __atomic_load_n(&oc->bins[a], __ATOMIC_ACQUIRE);
            if (!bin)
                continue; /* the cache never had a run in this arena */
            bm_arena_lock(arena);
            empty &= bm_bin_release_empty_locked(arena, bin);
            bm_arena_unlock(arena);
        }
        if (empty) {
            oc->live = false;
        } else { /* an object came back or left while we looked: another core still uses oc */
            bm_report("bm_objcache_destroy while another core uses the cache: refused", oc);
            err = BM_EBUSY;
        }
    }
    bm_lock_release(&objcache_lock);
    bm_port_irq_restore(irq);
    if (err)
        bm_set_error(err);
    return err;
}
