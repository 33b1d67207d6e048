/*
 * Initialisation: reads the options, runs bootstrap once (whichever core calls first), binds
 * cores to arenas and, in the real-time profile, gives every chunk to an arena and builds every
 * core's cache, so that no later call does work that grows with the heap or the classes. The
 * top of the core below the API: it calls bootstrap (base.c), the arenas and the caches.
 */
#include "internal.h"

__attribute__((weak)) const char *bm_malloc_conf = NULL;

/* ---- initialisation ------------------------------------------------------------------------- */

/* O(cores x arenas), once. Fills bm_state.core_arena by the arena_rule option. */
static void core_arena_rule_init(unsigned narenas) {
    /* arena_rule:node: the least loaded arena of the core's node; core mod narenas when the
     * rule is "core" or no arena draws from that node. */
    unsigned load[BM_MAX_ARENAS] = {0};
    for (unsigned core = 0; core < BM_MAX_CORES; core++) {
        unsigned pick = core % narenas;
        if (bm_state.opt.arena_rule == 1) {
            unsigned node = bm_port_core_node(core), best = narenas;
            for (unsigned a = 0; a < narenas; a++)
                if (bm_state.arenas[a]->node == node && (best == narenas || load[a] < load[best]))
                    best = a;
            if (best < narenas)
                pick = best;
        }
        load[pick]++;
        bm_state.core_arena[core] = pick;
    }
}

static int init_run(const bm_config_t *config) {
    bm_size_classes_init();
    bm_freed_secret_init();
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
    size_t heap_bytes = 0;
    for (unsigned i = 0; i < bm_state.nregions; i++)
        heap_bytes += (size_t)bm_state.regions[i].nchunks << BM_LG_CHUNK;
    bm_options_resolve(&bm_state.opt, heap_bytes, bm_state.ncores); /* before any cache exists */
    core_arena_rule_init(narenas);
    bm_purge_policy_init();
#if BM_REALTIME
    /* The caches first: their metadata then sits in the first chunk's spare pages. */
    err = bm_caches_prepare();
    if (err)
        return err;
    bm_arenas_take_pool();
#endif
    bm_region_t *r0 = &bm_state.regions[0];
    bm_fast_region_maps = r0->maps;
    bm_fast_region_table = r0->table;
    bm_fast_region_base = r0->base;
    bm_fast_region_span = r0->nchunks << BM_LG_CHUNK;
    return 0;
}

/* Exactly one caller runs init_run; the others wait for it (lock 1 of the contract). A failed
 * initialisation may be retried by bm_init, never by the lazy path. */
static int init_once(const bm_config_t *config, bool explicit_call) {
    int state = __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE);
    for (;;) {
        if (state == BM_INIT_READY)
            return explicit_call ? BM_EBUSY : 0;
        if (state == BM_INIT_RUNNING) {
            bm_port_cpu_relax();
            state = __atomic_load_n(&bm_state.init_state, __ATOMIC_ACQUIRE);
            continue;
        }
        if (state == BM_INIT_FAILED && !explicit_call)
            return BM_ENOMEM;
        if (__atomic_compare_exchange_n(&bm_state.init_state, &state, BM_INIT_RUNNING, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
            break;
    }
    /* Masked: an interrupt on this core that allocated now would wait for this very
     * initialisation for ever. */
    bm_irq_state_t irq = bm_port_irq_save();
    int err = init_run(config);
    __atomic_store_n(&bm_state.init_state, err ? BM_INIT_FAILED : BM_INIT_READY, __ATOMIC_RELEASE);
    bm_port_irq_restore(irq);
    return err;
}

/* O(n^2) in n = nsources (a handful): every pair is compared, no sort, no memory needed. Any
 * context; reads config only. NULL when config's page sources can be used, else why not: a
 * NULL array with a count, an array with none, a source with a NULL base, size 0 or a range
 * past the end of the address space, or two sources sharing a byte (the same region twice
 * would be carved twice). */
static const char *sources_refused(const bm_config_t *config) {
    const bm_page_source_t *src = config->sources;
    unsigned n = config->nsources;
    if (!src)
        return n ? "baremalloc: bm_init: sources is NULL but nsources is not 0; nothing initialised" : NULL;
    if (n == 0)
        return "baremalloc: bm_init: sources given but nsources is 0; nothing initialised";
    for (unsigned i = 0; i < n; i++) {
        uintptr_t base = (uintptr_t)src[i].base;
        if (!base)
            return "baremalloc: bm_init: a page source has a NULL base; nothing initialised";
        if (src[i].size == 0)
            return "baremalloc: bm_init: a page source has size 0; nothing initialised";
        if (src[i].size - 1 > UINTPTR_MAX - base)
            return "baremalloc: bm_init: a page source wraps past the end of the address space; nothing initialised";
        for (unsigned j = 0; j < i; j++) {
            uintptr_t other = (uintptr_t)src[j].base; /* [other, other + size) checked above */
            if (base - other < src[j].size || other - base < src[i].size)
                return "baremalloc: bm_init: two page sources overlap; nothing initialised";
        }
    }
    return NULL;
}

/* O(n^2) in page sources to check them, then O(chunk-table size) once. Bad config (see
 * sources_refused): BM_EINVAL, the reason logged through bm_port_log like a bad option, and
 * nothing changed, so a correct bm_init may follow. Not from an interrupt handler. */
int bm_init(const bm_config_t *config) {
    const char *refused = config ? sources_refused(config) : NULL;
    if (refused) {
        bm_port_log(refused);
        return BM_EINVAL;
    }
    return init_once(config, true);
}

/* O(1) once initialised. False when initialisation failed. */
bool bm_ensure_init(void) {
    if (BM_LIKELY(bm_is_ready()))
        return true;
    return init_once(NULL, false) == 0;
}

