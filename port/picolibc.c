/*
 * picolibc glue: baremalloc becomes the C library's allocator. picolibc calls the standard
 * names directly (no reentrant _malloc_r family); every allocator entry point its malloc
 * objects would provide is defined here, so the linker never takes picolibc's own allocator
 * (its free list on sbrk, a second heap). `make lib` ships this as an object,
 * build/<cortex target>/baremalloc_picolibc.o, compiled against picolibc's headers;
 * tools/check-newlib-malloc.sh on the ELF proves no second allocator was linked (picolibc's
 * allocator is newlib-nano's, with the same state names).
 *
 * errno: the core reports every failure through bm_port_set_errno; picolibc's ENOMEM and EINVAL
 * are the values the core uses (12, 22). Each function: bounded as its bm_* counterpart
 * (docs/REALTIME.md), NULL with errno on failure, and as interrupt-safe as the core.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "baremalloc.h"

void bm_port_set_errno(int code) { errno = code == BM_EINVAL ? EINVAL : ENOMEM; }

void *malloc(size_t size) { return bm_malloc(size); }
void free(void *ptr) { bm_free(ptr); }
void cfree(void *ptr) { bm_free(ptr); } /* picolibc keeps the old name as an alias of free */
void *calloc(size_t n, size_t size) { return bm_calloc(n, size); }
void *realloc(void *ptr, size_t size) { return bm_realloc(ptr, size); }
void *memalign(size_t alignment, size_t size) { return bm_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { return bm_aligned_alloc(alignment, size); }
/* POSIX: the error as the return value, errno untouched. */
int posix_memalign(void **memptr, size_t alignment, size_t size) {
    int saved = errno, bm_error = bm_posix_memalign(memptr, alignment, size);
    errno = saved;
    return bm_error == 0 ? 0 : bm_error == BM_EINVAL ? EINVAL : ENOMEM;
}
size_t malloc_usable_size(void *ptr) { return bm_usable_size(ptr); }
/* Page-aligned forms (picolibc defines them beside malloc): baremalloc's page is its own. */
void *valloc(size_t size) { return bm_memalign(4096, size); }
void *pvalloc(size_t size) { return size > SIZE_MAX - 4095 ? NULL : bm_memalign(4096, (size + 4095) & ~(size_t)4095); }
/* reallocarray: realloc of n x size, NULL with ENOMEM on overflow. */
void *reallocarray(void *ptr, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return bm_realloc(ptr, total);
}
