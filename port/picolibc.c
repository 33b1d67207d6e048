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
 *
 * Built with -DBM_EXPORT_STD_NAMES (as the mps2-an385 board's LIBC=picolibc build is), malloc,
 * calloc and free are core/alloc.c's aliases of bm_malloc, bm_calloc and bm_free instead (no
 * wrapper call on the hot pair), so this file leaves them out.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "baremalloc.h"

/* The core records every failure through this hook: picolibc's (thread-local) errno, EINVAL
 * for BM_EINVAL and ENOMEM for anything else. O(1), any context. */
void bm_port_set_errno(int code) { errno = code == BM_EINVAL ? EINVAL : ENOMEM; }

#ifndef BM_EXPORT_STD_NAMES
/* bm_malloc: O(1) on a cache hit, else bounded; NULL with errno ENOMEM. Any context. */
void *malloc(size_t size) { return bm_malloc(size); }

/* bm_free: O(1) on a cache hit, else bounded; a bad pointer is reported and ignored. Any
 * context. */
void free(void *ptr) { bm_free(ptr); }

/* bm_calloc: bounded plus the zeroing; NULL with errno ENOMEM on overflow or exhaustion. Any
 * context. */
void *calloc(size_t n, size_t size) { return bm_calloc(n, size); }
#endif

/* free under its old name, which picolibc keeps beside free (the same object in its libc.a):
 * bm_free, O(1) on a cache hit, else bounded. Any context. */
void cfree(void *ptr) { bm_free(ptr); }

/* bm_realloc: bounded plus the copy; NULL with errno (ENOMEM, or EINVAL for a bad ptr, which is
 * reported), ptr untouched. Any context. */
void *realloc(void *ptr, size_t size) { return bm_realloc(ptr, size); }

/* bm_memalign: bounded; NULL with errno (EINVAL: no power of two that large; ENOMEM). Any
 * context. */
void *memalign(size_t alignment, size_t size) { return bm_memalign(alignment, size); }

/* bm_aligned_alloc: bounded; NULL with errno EINVAL (alignment 0 or not a power of two) or
 * ENOMEM. Any context. */
void *aligned_alloc(size_t alignment, size_t size) { return bm_aligned_alloc(alignment, size); }

/* POSIX: the error as the return value (EINVAL, ENOMEM), errno untouched (the core's hook sets
 * it: put the caller's back). bm_posix_memalign: bounded. Any context. */
int posix_memalign(void **memptr, size_t alignment, size_t size) {
    int saved = errno, bm_error = bm_posix_memalign(memptr, alignment, size);
    errno = saved;
    return bm_error == 0 ? 0 : bm_error == BM_EINVAL ? EINVAL : ENOMEM;
}

/* bm_usable_size: O(1); 0 for NULL, and for a bad pointer, which is reported. Any context. */
size_t malloc_usable_size(void *ptr) { return bm_usable_size(ptr); }

/* Page-aligned forms (picolibc defines them beside malloc): baremalloc's page is its own, 4 KiB.
 * valloc: bm_memalign(4096, size), bounded, NULL with errno. Any context. */
void *valloc(size_t size) { return bm_memalign(4096, size); }

/* pvalloc: valloc of size rounded up to whole pages; NULL with errno ENOMEM if the rounding
 * overflows or the heap is exhausted. Bounded. Any context. */
void *pvalloc(size_t size) {
    if (size > SIZE_MAX - 4095) {
        errno = ENOMEM;
        return NULL;
    }
    return bm_memalign(4096, (size + 4095) & ~(size_t)4095);
}

/* reallocarray: bm_realloc of n x size, bounded plus the copy; NULL with errno ENOMEM on
 * overflow, ptr untouched. Any context. */
void *reallocarray(void *ptr, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return bm_realloc(ptr, total);
}
