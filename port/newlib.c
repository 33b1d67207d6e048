/*
 * newlib glue: baremalloc becomes the C library's allocator.
 *
 * newlib's own code (stdio buffers, strdup, asprintf, dtoa) calls the reentrant _malloc_r
 * family directly, and programs call malloc & co., so both sets are defined here on top of
 * bm_*. Every entry point that newlib's allocator objects (mallocr.o and its siblings, or
 * nano-mallocr.o) would otherwise provide is defined, so the linker never pulls them in: a
 * second heap on sbrk would silently take memory, and a half-pulled one clashes at link time.
 * tools/check-newlib-malloc.sh verifies this on the link map.
 *
 * errno: bm_* record why they failed (bm_last_error); the wrappers copy it into the errno of
 * the reent structure they were handed, as newlib's allocator does, and the core's errno hook
 * sets the calling context's. newlib's lock hooks
 * (__malloc_lock) are not needed: baremalloc masks interrupts itself.
 */
#define _DEFAULT_SOURCE /* memalign, posix_memalign, malloc_usable_size prototypes */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/reent.h>

#include "baremalloc.h"

/* bm_* error codes use Linux errno values; newlib's may differ, so translate by name. O(1),
 * any context. */
static int errno_from_bm(int bm_error) {
    switch (bm_error) {
    case BM_EINVAL:
        return EINVAL;
    case BM_ENOMEM:
    default: /* a failed allocation with no recorded reason is still "out of memory" */
        return ENOMEM;
    }
}

/* A failed call's code goes to the errno of the reent the wrapper was handed. The core's hook
 * (bm_port_set_errno, below) has already set the calling context's errno: put that one back
 * when the reent is another context's. O(1), any context. */
static void *errno_if_null(struct _reent *reent, int caller_errno, void *block) {
    if (block == NULL) {
        int code = errno_from_bm(bm_last_error());
        if (reent != _REENT)
            errno = caller_errno;
        reent->_errno = code;
    }
    return block;
}

/* Reentrant entry points, called by newlib itself. */

/* bm_malloc: O(1) on a cache hit, else bounded; NULL with reent->_errno ENOMEM. Any context, as
 * bm_malloc (include/baremalloc.h). */
void *_malloc_r(struct _reent *reent, size_t size) {
    int caller_errno = errno;
    void *block = bm_malloc(size);
    return errno_if_null(reent, caller_errno, block);
}

/* bm_free: O(1) on a cache hit, else bounded; a bad pointer is reported and ignored; reent
 * unused. Any context. */
void _free_r(struct _reent *reent, void *ptr) {
    (void)reent;
    bm_free(ptr);
}

/* bm_calloc: bounded plus the zeroing; NULL with reent->_errno ENOMEM on overflow or exhaustion.
 * Any context. */
void *_calloc_r(struct _reent *reent, size_t n, size_t size) {
    int caller_errno = errno;
    void *block = bm_calloc(n, size);
    return errno_if_null(reent, caller_errno, block);
}

/* bm_realloc: bounded plus the copy; NULL with reent->_errno (ENOMEM, or EINVAL for a bad ptr,
 * which is reported), ptr untouched. Any context. */
void *_realloc_r(struct _reent *reent, void *ptr, size_t size) {
    int caller_errno = errno;
    void *block = bm_realloc(ptr, size);
    return errno_if_null(reent, caller_errno, block);
}

/* bm_memalign: bounded; NULL with reent->_errno (EINVAL: no power of two that large; ENOMEM).
 * Any context. */
void *_memalign_r(struct _reent *reent, size_t alignment, size_t size) {
    int caller_errno = errno;
    void *block = bm_memalign(alignment, size);
    return errno_if_null(reent, caller_errno, block);
}

/* bm_usable_size: O(1); 0 for NULL, and for a bad pointer, which is reported; reent unused.
 * Any context. */
size_t _malloc_usable_size_r(struct _reent *reent, void *ptr) {
    (void)reent;
    return bm_usable_size(ptr);
}

/* Standard names, for programs: the same functions on the calling context's reent. */

/* The core records every failure through this hook: errno of the calling context. O(1); a
 * code other than BM_EINVAL becomes ENOMEM. Any context. */
void bm_port_set_errno(int code) { errno = errno_from_bm(code); }

#ifndef BM_EXPORT_STD_NAMES
/* Built with -DBM_EXPORT_STD_NAMES (as the mps2-an385 board is), malloc, calloc and free are
 * instead aliases of bm_malloc, bm_calloc and bm_free in core/alloc.c: no wrapper call on the
 * hot pair (8 Cortex-M3 instructions a malloc), errno from the hook above. */
/* _malloc_r on the calling context's reent: O(1) on a cache hit, else bounded, NULL with errno
 * ENOMEM. Any context. */
void *malloc(size_t size) { return _malloc_r(_REENT, size); }

/* bm_free: O(1) on a cache hit, else bounded; a bad pointer is reported and ignored. Any
 * context. */
void free(void *ptr) { bm_free(ptr); }

/* _calloc_r on the calling context's reent: bounded plus the zeroing, NULL with errno ENOMEM.
 * Any context. */
void *calloc(size_t n, size_t size) { return _calloc_r(_REENT, n, size); }
#endif

/* _realloc_r on the calling context's reent: bounded plus the copy, NULL with errno. Any
 * context. */
void *realloc(void *ptr, size_t size) { return _realloc_r(_REENT, ptr, size); }

/* _memalign_r on the calling context's reent: bounded, NULL with errno. Any context. */
void *memalign(size_t alignment, size_t size) { return _memalign_r(_REENT, alignment, size); }

/* bm_aligned_alloc: bounded; NULL with errno EINVAL (alignment 0 or not a power of two) or
 * ENOMEM. Any context. */
void *aligned_alloc(size_t alignment, size_t size) {
    void *block = bm_aligned_alloc(alignment, size);
    return errno_if_null(_REENT, errno, block);
}

/* POSIX: reports through the return value and leaves errno alone. bm_posix_memalign: bounded,
 * its code as newlib's EINVAL or ENOMEM. Any context. */
int posix_memalign(void **memptr, size_t alignment, size_t size) {
    int bm_error = bm_posix_memalign(memptr, alignment, size);
    return bm_error == 0 ? 0 : errno_from_bm(bm_error);
}

/* bm_usable_size: O(1); 0 for NULL, and for a bad pointer, which is reported. Any context. */
size_t malloc_usable_size(void *ptr) { return bm_usable_size(ptr); }
