/*
 * A firmware that hands bm_init its own heap and defines no __bm_heap_start/__bm_heap_end:
 * it must link against `make lib`'s archive (tools/check-link.sh), and it works.
 */
#include <stddef.h>

#include "baremalloc.h"

static unsigned char heap[48 * 1024]; /* any alignment */

int main(void) {
    bm_page_source_t source = {.base = heap, .size = sizeof heap};
    bm_config_t config = {.sources = &source, .nsources = 1};
    if (bm_init(&config) != 0)
        return 1;
    void *p = bm_malloc(100);
    if (!p || (unsigned char *)p < heap || (unsigned char *)p >= heap + sizeof heap)
        return 2;
    bm_free(p);
    return 0;
}
