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
#include <stdint.h>

#include "baremalloc.h"
#include "bm_port.h"

#ifndef BM_EXPORT_STD_NAMES
#error "compile every source with -DBM_EXPORT_STD_NAMES: malloc, calloc and free come from core/alloc.c"
#endif

#define STD_API __attribute__((visibility("default")))

/* bm_* error codes are Linux errno values (BM_ENOMEM 12, BM_EINVAL 22): passed on as they are.
 * O(1), any thread (errno is the thread's). */
void bm_port_set_errno(int code) { errno = code; }

/* bm_realloc: bounded plus the copy; NULL with errno (a bad ptr, whatever the size: EINVAL,
 * reported, nothing freed). Any thread; not from a signal handler (host masking is a no-op:
 * its thread may hold the lock). */
STD_API void *realloc(void *ptr, size_t size) {
    if (ptr && size == 0) {
        int saved = errno;
        void *p = bm_realloc(ptr, size);
        if (p || bm_last_error() != BM_EINVAL)
            errno = saved;
        return p;
    }
    return bm_realloc(ptr, size);
}
/* bm_aligned_alloc: bounded; NULL with errno EINVAL (alignment 0 or not a power of two) or
 * ENOMEM. Any thread, not from a signal handler. */
STD_API void *aligned_alloc(size_t alignment, size_t size) { return bm_aligned_alloc(alignment, size); }
/* bm_memalign: bounded; NULL with errno EINVAL (no power of two that large) or ENOMEM. Any
 * thread, not from a signal handler. */
STD_API void *memalign(size_t alignment, size_t size) { return bm_memalign(alignment, size); }
/* bm_posix_memalign: bounded; the error code is the result (EINVAL, ENOMEM), errno stays. Any
 * thread, not from a signal handler. */
STD_API int posix_memalign(void **memptr, size_t alignment, size_t size) {
    int saved = errno; /* its result is the error code; errno stays as it was */
    int err = bm_posix_memalign(memptr, alignment, size);
    errno = saved;
    return err;
}
/* 4096-aligned bm_aligned_alloc: bounded; NULL with errno ENOMEM. Any thread, not from a
 * signal handler. */
STD_API void *valloc(size_t size) { return bm_aligned_alloc(4096, size); }
/* valloc of size rounded up to 4096: bounded; NULL with errno ENOMEM. A size within 4095 of
 * SIZE_MAX, whose rounding would wrap (to a minimum block), saturates to SIZE_MAX instead,
 * which the core refuses as any size too large (errno and bm_last_error as for every failure).
 * Any thread, not from a signal handler. */
STD_API void *pvalloc(size_t size) {
    size_t pages = size > SIZE_MAX - 4095 ? SIZE_MAX : (size + 4095) & ~(size_t)4095;
    return bm_aligned_alloc(4096, pages);
}
/* bm_usable_size: O(1); 0 for NULL, and for a bad pointer, which is reported. Any thread. */
STD_API size_t malloc_usable_size(void *ptr) { return bm_usable_size(ptr); }
/* bm_free_sized: O(1) on a cache hit, else bounded; a size over the block's is reported, the
 * block freed all the same. Any thread, not from a signal handler. */
STD_API void free_sized(void *ptr, size_t size) { bm_free_sized(ptr, size); }
/* bm_free: O(1) on a cache hit, else bounded; a bad pointer is reported and ignored. Any
 * thread, not from a signal handler. */
STD_API void cfree(void *ptr) { bm_free(ptr); }
/* glibc's malloc_trim: bm_trim (the calling thread's cache, every arena's dirty pages, every
 * dirty pooled chunk), 1 if any memory went back to the system, else 0. pad, the bytes glibc
 * leaves at the top of its heap, has no counterpart and is ignored. Unbounded (O(free memory
 * to give back)); any thread, not from a signal handler. */
STD_API int malloc_trim(size_t pad) {
    (void)pad;
    return bm_trim();
}
