/*
 * A program that calls every allocation entry point and nothing of the observability layer
 * (statistics, bm_ctl, bm_maintenance, bm_check). tools/check-link.sh links it against
 * libbaremalloc.a and checks that none of core/ext/ came along. With -DMALLOC_FREE_ONLY it
 * calls only malloc and free, the figure firmware size budgets are written against.
 */
#include <stddef.h>

#include "baremalloc.h"

static void on_error(const char *msg, const void *addr) { (void)msg, (void)addr; }

int main(void) {
    void *p = bm_malloc(24);
#ifndef MALLOC_FREE_ONLY
    bm_set_error_hook(on_error);
    void *q = bm_calloc(4, 8), *r = bm_aligned_alloc(64, 100), *s = bm_memalign(32, 10), *t = NULL;
    if (bm_posix_memalign(&t, 16, 40) != 0)
        t = NULL;
    p = bm_realloc(p, 200);
    size_t n = bm_usable_size(p);
    bm_free_sized(q, 32);
    bm_free(r);
    bm_free(s);
    bm_free(t);
    bm_cache_flush();
    if (bm_last_error() != 0 || n < 200)
        return 1;
#endif
#ifdef CALL_VALIDATOR /* tools/check-link.sh's self-test: this must be caught */
    if (bm_check() != 0)
        return 1;
#endif
    bm_free(p);
    return 0;
}
