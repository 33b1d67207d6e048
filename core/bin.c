/*
 * Small runs and bins: a small run is a span of pages cut into equal regions of one class,
 * with its header and free bitmap at its start; each arena keeps, per small class, a bin of
 * the run regions come from now and the other non-full runs by address, so regions come from
 * the lowest-address run that has room. Calls the arena below for pages.
 *
 * Invariants (checked by bm_check):
 *  - every page of a SMALL run holds its class (BM_BIN_INVALID in an object cache's run, whose
 *    header names the class and the cache), its distance to the head and its phase;
 *  - a small run's nfree equals the set bits of its bitmap; a run with free regions that is
 *    not its bin's current run is in the bin's non-full tree, and a full run is in no tree.
 *
 * Every function here needs the arena lock held (hence _locked), interrupts masked.
 */
#include "internal.h"

/* ---- a bin's non-full runs ---------------------------------------------------------------- */
#if BM_REALTIME
/* Real-time profile: a doubly linked list (node.left: previous, node.right: next, root: the
 * head), O(1) to add, remove and take, where the general profile's tree keeps the lowest
 * address first at O(log runs) rebalancing (up to 200 Cortex-M3 instructions per call). */
static void nonfull_add(bm_bin_t *bin, bm_run_t *run) {
    bm_rbnode_t *head = bin->nonfull;
    run->node.left = NULL;
    run->node.right = head;
    if (head)
        head->left = &run->node;
    bin->nonfull = &run->node;
}

static void nonfull_remove(bm_bin_t *bin, bm_run_t *run) {
    bm_rbnode_t *prev = run->node.left, *next = run->node.right;
    if (prev)
        prev->right = next;
    else
        bin->nonfull = next;
    if (next)
        next->left = prev;
}

static bm_run_t *nonfull_take(bm_bin_t *bin) {
    bm_run_t *run = (bm_run_t *)bin->nonfull;
    if (run)
        nonfull_remove(bin, run);
    return run;
}

long bm_bin_nonfull_count(const bm_bin_t *bin) {
    long n = 0;
    const bm_rbnode_t *prev = NULL;
    for (const bm_rbnode_t *node = bin->nonfull; node; prev = node, node = node->right, n++)
        if (node->left != prev)
            return -1; /* a broken back link */
    return n;
}
#else
/* By address, so that regions come from the lowest-address run with room. O(log runs). */
static void nonfull_add(bm_bin_t *bin, bm_run_t *run) { bm_rb_insert(&bin->nonfull, &run->node, bm_rb_addr_cmp); }
static void nonfull_remove(bm_bin_t *bin, bm_run_t *run) { bm_rb_remove(&bin->nonfull, &run->node); }
static bm_run_t *nonfull_take(bm_bin_t *bin) {
    bm_rbnode_t *lowest = bm_rb_first(&bin->nonfull);
    if (lowest)
        bm_rb_remove(&bin->nonfull, lowest);
    return (bm_run_t *)lowest;
}
long bm_bin_nonfull_count(const bm_bin_t *bin) { return bm_rb_validate(&bin->nonfull, bm_rb_addr_cmp); }
#endif

/* ---- a bin's retained empty runs (real-time profile) ---------------------------------------- */
#if BM_REALTIME
/* With -DBM_RETAIN_DIVISOR=n (off by default, bm_config.h), an emptied run may stay formatted
 * on its bin (a list through node.right, newest first): the class's next run is then a pop
 * instead of a page run taken and set up, and the free that emptied it a push instead of a
 * merge. small_run_emptied says which runs are kept (a page budget, busy chunks only); the
 * retry, bm_trim, arena.<i>.purge and an idle arena's bm_maintenance give them back
 * (bm_bin_release_retained_locked). The counts of kept pages, per arena and per chunk, are
 * what those rules read; bm_check recounts both. */
#if BM_RETAIN_DIVISOR
BM_INLINE void retained_push(bm_arena_t *arena, bm_bin_t *bin, bm_run_t *run) {
    run->node.right = (bm_rbnode_t *)bin->empty;
    bin->empty = run;
    arena->nretained_pages += bm_classes[run->cls].run_pages;
    bm_chunk_of(run)->nretained += bm_classes[run->cls].run_pages;
}
#endif

static bm_run_t *retained_pop(bm_arena_t *arena, bm_bin_t *bin) {
    bm_run_t *run = bin->empty;
    if (run) {
        bin->empty = (bm_run_t *)run->node.right;
        arena->nretained_pages -= bm_classes[run->cls].run_pages;
        bm_chunk_of(run)->nretained -= bm_classes[run->cls].run_pages;
    }
    return run;
}

/* O(1). Whether run's chunk holds pages in use by anything but kept runs. */
static bool retained_chunk_busy(const bm_run_t *run) {
    const bm_chunk_t *chunk = bm_chunk_of(run);
    return BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES - chunk->nfree - chunk->nretained > 0;
}

long bm_bin_empty_count(const bm_bin_t *bin) {
    long n = 0;
    for (const bm_run_t *run = bin->empty; run; run = (const bm_run_t *)run->node.right, n++)
        if (run->nfree != bm_classes[run->cls].nregs)
            return -1; /* a run in it that is not empty */
    return n;
}
#else
long bm_bin_empty_count(const bm_bin_t *bin) { return (void)bin, 0; }
#endif

#if BM_FREE_CHECKS
/* O(n), one store per region. Marks the n regions of `size` bytes from reg freed (internal.h)
 * and returns the end of the last. The key of the next region is the last one's plus size:
 * no load of the secret per region (a store could alias it). */
static char *mark_regions_freed(char *reg, unsigned n, uint32_t size) {
#if BM_HARDENING >= 2 || defined(BM_ASAN)
    for (; n; n--, reg += size)
        bm_block_retire(reg, size); /* the fill too, and ASan's unpoisoned store */
    return reg;
#else
    /* The address as the key plus a constant: one register-offset store and one add per
     * region on ARM (3.5 instructions a region with both stepped, 31 regions a run). */
    uintptr_t key = bm_freed_key(reg), to_addr = (uintptr_t)reg - key;
    __asm__("" : "+r"(to_addr)); /* opaque, or the compiler steps the address again */
#pragma GCC unroll 4
    for (unsigned i = n; i; i--, key += size)
        *(uintptr_t *)(key + to_addr) = key;
    return reg + (size_t)n * size;
#endif
}
#endif

/* O(run pages + regions). A new run of class cls for bin (owner: its object cache, 0 for plain
 * malloc's bin); NULL when the arena has no pages for it. */
static bm_run_t *small_run_new(bm_arena_t *arena, bm_bin_t *bin, unsigned cls, unsigned owner) {
    const bm_class_info_t *ci = &bm_classes[cls];
    bm_chunk_t *chunk;
    size_t head;
    if (!bm_arena_run_alloc_locked(arena, ci->run_pages, 1, &chunk, &head))
        return NULL;
    /* phase: the offset of each page's first region boundary; the head page's is region 0's
     * (the header is below it), and each later page's is the last one's minus a page, mod size. */
    uint32_t size = ci->size, step = (uint32_t)(BM_PAGE % size), phase = ci->reg0 % size;
    /* An object cache's pages name no class: every size-class path (the caches' fast free
     * included) then sees the never-usable bin and leaves them to the classifier. */
    unsigned pm_cls = owner ? BM_BIN_INVALID : cls;
    chunk->map[head] = bm_pm_make(BM_PAGE_SMALL, true, ci->reg0, 0, pm_cls);
    /* The other entries step the packed fields of one word (distance +1, phase -step mod size)
     * instead of packing each afresh: a 10-page run's set-up was most of the worst-case
     * malloc on the Cortex-M3. */
    bm_pagemap_t entry = bm_pm_make(BM_PAGE_SMALL, false, phase, 0, pm_cls);
    const bm_pagemap_t next = (bm_pagemap_t)1 << BM_PM_VALUE_SHIFT;
    for (size_t j = 1; j < ci->run_pages; j++) {
        /* phase - step, adding the size first when it would go below 0 (no borrow between fields) */
        uint32_t up = phase < step ? size : 0;
        phase += up - step;
        entry += next + ((bm_pagemap_t)(up - step) << BM_PM_PHASE_SHIFT);
        chunk->map[head + j] = entry;
    }
    bm_run_t *run = bm_page_addr(chunk, head);
    BM_POISON(run, ci->run_pages << BM_LG_PAGE);
    BM_UNPOISON(run, ci->reg0);
    run->cls = (uint8_t)cls;
    run->owner = (uint8_t)owner;
    run->nfree = (uint16_t)ci->nregs;
#if BM_FREE_CHECKS
    /* Every region not handed out holds the freed mark (internal.h): these pages may hold
     * anything (zeros after a purge, an old block's data), and a stale free of a region here
     * must not pass for a live one. O(regions) once per run, one store each. */
    char *reg = mark_regions_freed((char *)run + ci->reg0, ci->nregs, ci->size);
    /* The slack after the last region starts where region nregs would: marked too, so a wild
     * free there leaves the fast path (alloc.c's free_fast) and the classifier refuses it. */
    if ((char *)run + (ci->run_pages << BM_LG_PAGE) - reg >= (ptrdiff_t)sizeof(uintptr_t))
        bm_mark_freed(reg);
#endif
    size_t words = BM_BITMAP_WORDS(ci->nregs);
    for (size_t w = 0; w < words; w++) {
        size_t bits = ci->nregs - w * BM_BITMAP_BITS;
        run->bitmap[w] = bits >= BM_BITMAP_BITS ? ~(uintptr_t)0 : (((uintptr_t)1 << bits) - 1);
    }
    BM_STAT_ADD(bin->stats.nruns, 1);
    BM_STAT_ADD(bin->stats.curruns, 1);
    return run;
}

/* The run to take regions from: the current one if it has room, else the lowest-address
 * non-full run, else a new one. */
static bm_run_t *bin_current_run(bm_arena_t *arena, bm_bin_t *bin, unsigned cls, unsigned owner) {
    bm_run_t *run = bin->current;
    if (run && run->nfree)
        return run;
    run = nonfull_take(bin);
#if BM_REALTIME
    /* A kept run is reused where something else lives in its chunk (see small_run_emptied):
     * else a new run is formed where the page index finds room, and the kept one waits for
     * the retry, bm_trim or bm_maintenance to give it back. */
    if (BM_RETAIN_DIVISOR && !run && bin->empty && retained_chunk_busy(bin->empty))
        run = retained_pop(arena, bin);
#endif
    if (!run)
        run = small_run_new(arena, bin, cls, owner);
    bin->current = run;
    return run;
}

#if BM_REALTIME
_Static_assert(BM_RUN_MAX_REGS <= BM_BITMAP_BITS, "a real-time run's bitmap is one word");

/* O(n), n <= BM_TCACHE_BATCH_MAX, plus a new run's set-up. The real-time fill takes from one
 * run only (fewer than n when its run has fewer free), so a call visits at most one run: the
 * worst refill is a new run, not a walk over non-full runs with a region or two each (55
 * Cortex-M3 instructions a run). */
static unsigned run_take(const bm_class_info_t *ci, bm_run_t *run, void **out, unsigned n) {
    uintptr_t bits = run->bitmap[0];
    char *reg0 = (char *)run + ci->reg0;
    unsigned got = 0;
    while (bits && got < n) {
        out[got++] = reg0 + bm_ctz(bits) * ci->size;
        bits &= bits - 1;
    }
    run->bitmap[0] = bits;
    run->nfree = (uint16_t)(run->nfree - got);
    return got;
}
#endif

unsigned bm_bin_fill_owned_locked(bm_arena_t *arena, bm_bin_t *bin, unsigned cls, unsigned owner,
                                  void **out, unsigned n) {
    bm_lock_assert_held(&arena->lock);
    const bm_class_info_t *ci = &bm_classes[cls];
    unsigned got = 0;
#if BM_REALTIME
    bm_run_t *run = bin_current_run(arena, bin, cls, owner);
    if (run)
        got = run_take(ci, run, out, n);
#else
    while (got < n) {
        bm_run_t *run = bin_current_run(arena, bin, cls, owner);
        if (!run)
            break;
        char *reg0 = (char *)run + ci->reg0;
        size_t words = BM_BITMAP_WORDS(ci->nregs);
        for (size_t w = 0; w < words && got < n && run->nfree; w++) {
            uintptr_t bits = run->bitmap[w];
            while (bits && got < n) {
                unsigned bit = bm_ctz(bits);
                bits &= bits - 1;
                out[got++] = reg0 + (w * BM_BITMAP_BITS + bit) * ci->size;
                run->nfree--;
            }
            run->bitmap[w] = bits;
        }
    }
#endif
    BM_STAT_ADD(bin->stats.nmalloc, got);
    BM_STAT_ADD(bin->stats.curregs, got);
    BM_STAT_ADD(arena->stats.small_allocated, (size_t)got * ci->size);
    BM_STAT_ADD(bin->stats.nrequests, 1);
    return got;
}

unsigned bm_bin_fill_locked(bm_arena_t *arena, unsigned cls, void **out, unsigned n) {
    return bm_bin_fill_owned_locked(arena, &arena->bins[cls], cls, 0, out, n);
}

/* An empty small run (not current, in no tree) gives its pages back. */
static void small_run_dalloc(bm_arena_t *arena, bm_bin_t *bin, bm_run_t *run) {
    bm_chunk_t *chunk = bm_chunk_of(run);
    size_t head = bm_page_index(run), npages = bm_classes[run->cls].run_pages;
    BM_STAT_SUB(bin->stats.curruns, 1);
    bm_pages_mark_free(chunk, head, npages);
    bm_arena_run_dalloc_locked(arena, chunk, head, npages);
}

/* O(1) in the real-time profile (kept on the bin), O(run pages) otherwise (pages given back).
 * A run that just emptied and is in no list. */
static void small_run_emptied(bm_arena_t *arena, bm_bin_t *bin, bm_run_t *run) {
#if BM_REALTIME && BM_RETAIN_DIVISOR
    size_t pages = bm_classes[run->cls].run_pages;
    size_t budget = arena->nchunks * BM_CHUNK_PAGES / BM_RETAIN_DIVISOR;
    bm_chunk_t *chunk = bm_chunk_of(run);
    /* Pages of the chunk in use by anything but kept runs, this run included. */
    size_t used = BM_CHUNK_PAGES - BM_CHUNK_HEADER_PAGES - chunk->nfree - chunk->nretained;
    /* Kept only where something else lives: a run kept in an otherwise empty chunk would later
     * draw a class's blocks back into it, and the chunk would no longer come free for a huge
     * block (two cores at once on mps2-an521 then failed 14 KiB requests). */
    if (arena->nretained_pages + pages <= budget && used > pages) {
        retained_push(arena, bin, run);
        return;
    }
#endif
    small_run_dalloc(arena, bin, run);
}

/* O(1). The region index of ptr in run (small class ci), or false if ptr starts no region. */
static bool small_region_index(const bm_class_info_t *ci, const bm_run_t *run, const void *ptr, size_t *index) {
    uintptr_t offset = (uintptr_t)ptr - ((uintptr_t)run + ci->reg0);
    /* For a multiple of the size, the divisibility test's rotated product is the exact
     * quotient (size = odd * 2^shift, inverse = odd^-1 mod 2^32): no division instruction. */
    uint32_t r = (uint32_t)offset * ci->div_inverse;
    *index = (r >> ci->div_shift) | (r << ((32 - ci->div_shift) & 31));
    return offset < (uintptr_t)ci->nregs * ci->size && *index <= ci->div_limit && *index < ci->nregs;
}

static bool small_dalloc(bm_arena_t *arena, bm_chunk_t *chunk, size_t page, bm_pagemap_t entry,
                         void *ptr) {
    size_t head = page - bm_pm_value(entry);
    bm_run_t *run = bm_page_addr(chunk, head);
    unsigned cls = run->cls; /* the page map names no class in an object cache's run */
    const bm_class_info_t *ci = &bm_classes[cls];
    size_t index;
    if (!small_region_index(ci, run, ptr, &index)) {
        bm_report("free of a pointer that is not the start of a block (inside a small run)", ptr);
        return false;
    }
    uintptr_t mask = (uintptr_t)1 << (index % BM_BITMAP_BITS);
    if (run->bitmap[index / BM_BITMAP_BITS] & mask) {
        bm_report("double free of a small block", ptr);
        return false;
    }
#if BM_FREE_CHECKS
    /* Marked already when a cache flushes it (and its fill, at level 2, is evidence to keep);
     * not when freed straight here. */
    if (bm_first_word(ptr) != bm_freed_key(ptr))
        bm_block_retire(ptr, ci->size);
#endif
    BM_POISON(ptr, ci->size);
    run->bitmap[index / BM_BITMAP_BITS] |= mask;
    run->nfree++;
    bm_bin_t *bin = bm_run_bin(arena, run);
    BM_STAT_ADD(bin->stats.ndalloc, 1);
    BM_STAT_SUB(bin->stats.curregs, 1);
    BM_STAT_SUB(arena->stats.small_allocated, ci->size);
    if (run == bin->current)
        return true;
    if (run->nfree == ci->nregs) {
        /* Empty: its pages go back to the arena. It sat in the non-full tree unless it was
         * full until this free (possible only with one region per run). */
        if (ci->nregs > 1)
            nonfull_remove(bin, run);
        small_run_emptied(arena, bin, run);
    } else if (run->nfree == 1) {
        /* Was full, so in no tree. Prefer the lower address as the current run. */
        if (bin->current && (uintptr_t)run < (uintptr_t)bin->current) {
            bm_run_t *old = bin->current;
            bin->current = run;
            if (old->nfree == ci->nregs)
                small_run_emptied(arena, bin, old);
            else if (old->nfree)
                nonfull_add(bin, old);
        } else {
            nonfull_add(bin, run);
        }
    }
    return true;
}

bool bm_bin_release_empty_locked(bm_arena_t *arena, bm_bin_t *bin) {
    bm_lock_assert_held(&arena->lock);
    bm_run_t *run = bin->current;
    if (run && run->nfree == bm_classes[run->cls].nregs) {
        bin->current = NULL;
        small_run_dalloc(arena, bin, run);
    }
#if BM_REALTIME
    while ((run = retained_pop(arena, bin)) != NULL)
        small_run_dalloc(arena, bin, run);
#endif
    return !bin->current && bm_bin_nonfull_count(bin) == 0 && BM_STAT_GET(bin->stats.curruns) == 0;
}

size_t bm_bin_release_retained_locked(bm_arena_t *arena, size_t max) {
    bm_lock_assert_held(&arena->lock);
    size_t released = 0;
#if BM_REALTIME
    for (unsigned cls = 0; cls < BM_NSMALL && arena->nretained_pages && released < max; cls++) {
        bm_run_t *run;
        while (released < max && (run = retained_pop(arena, &arena->bins[cls])) != NULL) {
            small_run_dalloc(arena, &arena->bins[cls], run);
            released++;
        }
    }
    for (unsigned id = 1; id <= BM_MAX_OBJCACHES && arena->nretained_pages && released < max; id++) {
        bm_objcache_t *oc = __atomic_load_n(&bm_objcache_table[id], __ATOMIC_ACQUIRE);
        bm_bin_t *bin = oc ? __atomic_load_n(&oc->bins[arena->index], __ATOMIC_ACQUIRE) : NULL;
        bm_run_t *run;
        while (bin && released < max && (run = retained_pop(arena, bin)) != NULL) {
            small_run_dalloc(arena, bin, run);
            released++;
        }
    }
#else
    (void)arena, (void)max;
#endif
    return released;
}

/* O(1) (O(run pages) when a run empties). Gives back the small region or large run at ptr in
 * chunk, an arena chunk of arena. Bad pointers (interior, free, metadata) are reported and
 * ignored: returns false then. Arena lock held, interrupts masked. */
bool bm_block_dalloc_locked(bm_arena_t *arena, bm_chunk_t *chunk, void *ptr) {
    bm_lock_assert_held(&arena->lock);
    size_t page = bm_page_index(ptr);
    bm_pagemap_t entry = chunk->map[page];
    switch (bm_pm_kind(entry)) {
    case BM_PAGE_SMALL:
        return small_dalloc(arena, chunk, page, entry, ptr);
    case BM_PAGE_LARGE:
        return bm_arena_large_dalloc_locked(arena, chunk, ptr);
    case BM_PAGE_META:
        bm_report("free of a pointer into the allocator's own metadata", ptr);
        return false;
    default:
        bm_report("double free, or free of a pointer never allocated (the page is free)", ptr);
        return false;
    }
}

/* ---- level 2: the quarantine ---------------------------------------------------------------- */
#if BM_HARDENING >= 2
bool bm_harden_block_is_free(const void *ptr, unsigned cls) {
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    bm_arena_t *arena = chunk->arena;
    bool is_free = false;
    bm_irq_state_t irq = bm_port_irq_save();
    bm_arena_lock(arena);
    for (unsigned i = 0; i < BM_QUARANTINE_SLOTS; i++)
        is_free |= arena->quarantine[i] == ptr;
    size_t page = bm_page_index(ptr), index;
    bm_pagemap_t entry = chunk->map[page];
    if (!is_free && bm_class_is_small(cls) && bm_pm_kind(entry) == BM_PAGE_SMALL) {
        bm_run_t *run = bm_page_addr(chunk, page - bm_pm_value(entry));
        if (small_region_index(&bm_classes[cls], run, ptr, &index))
            is_free = (run->bitmap[index / BM_BITMAP_BITS] >> (index % BM_BITMAP_BITS)) & 1u;
    } /* a large block's page map entry (classified a large head) already says it is live */
    bm_arena_unlock(arena);
    bm_port_irq_restore(irq);
    return is_free;
}

/* O(fill). A block leaves the quarantine for its run: a write while it sat there (its mark or
 * its fill changed) is reported once, and the block is marked and filled again, so that the
 * check when it is handed out does not report the same write twice. */
static void quarantine_release_locked(bm_arena_t *arena, void *ptr) {
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    size_t size = bm_classes[bm_pm_class(chunk->map[bm_page_index(ptr)])].size;
    if (bm_first_word(ptr) != bm_freed_key(ptr)) {
        bm_report("block written after it was freed (its first word changed in quarantine)", ptr);
        bm_block_retire(ptr, size);
    } else if (!bm_harden_fill_intact(ptr, size)) {
        bm_report("block written after it was freed (its fill pattern changed in quarantine)", ptr);
        bm_block_retire(ptr, size);
    }
    bm_block_dalloc_locked(arena, chunk, ptr);
}

void bm_quarantine_locked(bm_arena_t *arena, void *ptr, size_t size) {
    bm_lock_assert_held(&arena->lock);
    bm_block_retire(ptr, size);
    void *oldest = arena->quarantine[arena->quarantine_next];
    arena->quarantine[arena->quarantine_next] = ptr;
    arena->quarantine_next = (arena->quarantine_next + 1) % BM_QUARANTINE_SLOTS;
    if (oldest)
        quarantine_release_locked(arena, oldest);
}

/* O(quarantine slots x fill). Every quarantined block back to its run: an allocation that
 * failed retries after this, and bm_check sees the arena as the program left it. */
void bm_quarantine_drain_locked(bm_arena_t *arena) {
    for (unsigned i = 0; i < BM_QUARANTINE_SLOTS; i++) {
        void *ptr = arena->quarantine[i];
        arena->quarantine[i] = NULL;
        if (ptr)
            quarantine_release_locked(arena, ptr);
    }
}
#endif

/* ---- the pointer classifier ------------------------------------------------------------------ */

/* O(regions) to find the region, O(1) after. What ptr is, from the chunk table and the page
 * map as they stand, without a lock: the one classifier behind free, usable_size, realloc, the
 * cache's slow path and the validator. A SMALL or LARGE answer means ptr starts a block of
 * its class in an arena chunk; whether that block is live is the arena's to confirm under its
 * lock. Any context. */
bm_ptr_kind_t bm_ptr_classify(const void *ptr, bm_ptr_info_t *out) {
    out->region = bm_region_of(ptr);
    out->cls = BM_BIN_INVALID;
    out->owner = 0;
    out->usable = 0;
    if (!out->region) {
        out->why = "pointer outside every heap region (not from this allocator)";
        return out->kind = BM_PTR_BAD;
    }
    bm_ctentry_t entry = out->entry = *bm_region_entry(out->region, ptr);
    switch (bm_ct_type(entry)) {
    case BM_CT_HUGE:
        if (!bm_ct_head(entry) || !bm_is_chunk_start(ptr)) {
            out->why = "pointer inside a huge block, not its start";
            return out->kind = BM_PTR_BAD;
        }
        out->cls = BM_NCLASSES;
        out->usable = bm_huge_usable(entry);
        return out->kind = BM_PTR_HUGE;
    case BM_CT_ARENA:
        break;
    default:
        out->why = "double free of a huge block, or pointer never allocated (its chunk is free)";
        return out->kind = BM_PTR_BAD;
    }
    bm_chunk_t *chunk = bm_chunk_of(ptr);
    bm_pagemap_t pm = chunk->map[bm_page_index(ptr)];
    unsigned cls = bm_pm_class(pm), owner = 0;
    switch (bm_pm_kind(pm)) {
    case BM_PAGE_SMALL: {
        const bm_run_t *run = bm_page_addr(chunk, bm_page_index(ptr) - bm_pm_value(pm));
        if (cls == BM_BIN_INVALID) { /* an object cache's run: its header says whose */
            cls = run->cls;
            owner = run->owner; /* told only once ptr is known to start an object */
        }
        /* Before region 0 (the run's header) or past the last region (the run's slack): no
         * block (found by the fuzzer); unsigned, so the header wraps above the limit. */
        const bm_class_info_t *ci = &bm_classes[cls];
        uintptr_t reg0 = (uintptr_t)run + ci->reg0;
        uint32_t offset = (uint32_t)((uintptr_t)ptr - reg0);
        if ((uintptr_t)ptr - reg0 >= (uintptr_t)ci->nregs * ci->size) {
            out->why = "pointer into a small run's header or past its last block, not a block";
            return out->kind = BM_PTR_BAD;
        }
        if (!bm_class_divides(ci, offset)) {
            out->why = "pointer inside a small block, not its start";
            return out->kind = BM_PTR_BAD;
        }
        break;
    }
    case BM_PAGE_LARGE:
        /* The phase field of a large head is free for the validator's mark: not read here. */
        if (!bm_pm_head(pm) || ((uintptr_t)ptr & BM_PAGE_MASK) != 0) {
            out->why = "pointer inside a large block, not its start";
            return out->kind = BM_PTR_BAD;
        }
        break;
    case BM_PAGE_META:
        out->why = "pointer into the allocator's own metadata";
        return out->kind = BM_PTR_BAD;
    default:
        out->why = "double free, or pointer never allocated (its page is free)";
        return out->kind = BM_PTR_BAD;
    }
    out->cls = cls;
    out->usable = bm_classes[cls].size - BM_CANARY_BYTES;
    if (owner) {
        out->owner = owner;
        /* Not a malloc block: free, realloc and usable_size refuse it; objcache.c asks owner. */
        out->why = "object of an object cache given to the malloc API (bm_objcache_free gives it back)";
        return out->kind = BM_PTR_BAD;
    }
    return out->kind = bm_class_is_small(cls) ? BM_PTR_SMALL : BM_PTR_LARGE;
}
