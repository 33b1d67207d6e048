/*
 * The standard allocator names on top of bm_*, for a hosted build that replaces the C
 * library's allocator (build/host/libbaremalloc.so, LD_PRELOAD). errno gets the error code of
 * a failed call, as POSIX asks. newlib targets use port/newlib.c instead (it also provides the
 * reentrant _malloc_r family).
 *
 * malloc, calloc and free are not here: they are aliases of bm_malloc, bm_calloc and bm_free
 * defined in core/alloc.c under BM_EXPORT_STD_NAMES, so the hot pair costs no wrapper. errno
 * is set on every failure path by bm_port_set_errno below, which the core calls whenever it
 * records an error for bm_last_error.
 */
#include <errno.h>
#include <stddef.h>

#include "baremalloc.h"
#include "bm_port.h"

#ifndef BM_EXPORT_STD_NAMES
#error "compile every source with -DBM_EXPORT_STD_NAMES: malloc, calloc and free come from core/alloc.c"
#endif

#define STD_API __attribute__((visibility("default")))

/* bm_* error codes are Linux errno values (BM_ENOMEM 12, BM_EINVAL 22). */
void bm_port_set_errno(int code) { errno = code; }

STD_API void *realloc(void *ptr, size_t size) {
    /* realloc(p, 0) has freed p whatever it returns: a NULL there (no minimum-size block)
     * does not report a failure through errno. */
    if (ptr && size == 0) {
        int saved = errno;
        void *p = bm_realloc(ptr, size);
        errno = saved;
        return p;
    }
    return bm_realloc(ptr, size);
}
STD_API void *aligned_alloc(size_t alignment, size_t size) { return bm_aligned_alloc(alignment, size); }
STD_API void *memalign(size_t alignment, size_t size) { return bm_memalign(alignment, size); }
STD_API int posix_memalign(void **memptr, size_t alignment, size_t size) {
    int saved = errno; /* its result is the error code; errno stays as it was */
    int err = bm_posix_memalign(memptr, alignment, size);
    errno = saved;
    return err;
}
STD_API void *valloc(size_t size) { return bm_aligned_alloc(4096, size); }
STD_API void *pvalloc(size_t size) { return bm_aligned_alloc(4096, (size + 4095) & ~(size_t)4095); }
STD_API size_t malloc_usable_size(void *ptr) { return bm_usable_size(ptr); }
STD_API void free_sized(void *ptr, size_t size) { bm_free_sized(ptr, size); }
STD_API void cfree(void *ptr) { bm_free(ptr); }
