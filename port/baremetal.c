/*
 * Bare-metal port: the heap is the linker script's [__bm_heap_start, __bm_heap_end), either
 * used whole from the start (static region) or grown chunk by chunk through the board's
 * sbrk-like hook (BOARD_HEAP_SBRK). Cores come from the board through the hooks of
 * port/baremetal.h; the reports (bm_port_error, bm_port_log) and single-core defaults of those
 * hooks, all weak, are in port/defaults.c.
 */
#include "bm_port.h"
#include "baremetal.h"

static bm_page_source_t baremetal_heap;

/* O(1). The linker script's heap, the one source (grown through board_sbrk under
 * BOARD_HEAP_SBRK); the linker symbols are trusted when defined. None when the firmware does
 * not define them (bm_init then fails with BM_EINVAL and says why). Once, at initialisation
 * (masked, no lock). */
unsigned bm_port_default_sources(const bm_page_source_t **sources) {
    uintptr_t start = (uintptr_t)__bm_heap_start, end = (uintptr_t)__bm_heap_end;
    if (!start || end <= start) {
        bm_port_log("baremalloc: no heap: the linker script defines no __bm_heap_start/__bm_heap_end "
                    "and bm_init was given no page sources");
        *sources = NULL;
        return 0;
    }
    baremetal_heap.base = __bm_heap_start;
    baremetal_heap.size = (size_t)(end - start);
#ifdef BOARD_HEAP_SBRK
    baremetal_heap.grow = (void *(*)(void *, size_t))board_sbrk;
#endif
    *sources = &baremetal_heap;
    return 1;
}

/* O(1). No environment on bare metal: NULL. Any context. */
const char *bm_port_env_options(void) { return NULL; }

/* O(1): board_core_id (an id >= BM_MAX_CORES is reported and served without a cache, bm_port.h).
 * Any context, masked or not, any lock held: board_core_id takes none. */
unsigned bm_port_core_id(void) { return board_core_id(); }
/* O(1): board_core_count (the core clamps it to 1..BM_MAX_CORES). Once, at initialisation. */
unsigned bm_port_core_count(void) { return board_core_count(); }
