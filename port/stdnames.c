/*
 * The standard allocator names on top of bm_*, for a hosted build that replaces the C
 * library's allocator (build/host/libbaremalloc.so, LD_PRELOAD). errno gets the error code of
 * a failed call, as POSIX asks. newlib targets use port/newlib.c instead (it also provides the
 * reentrant _malloc_r family).
 */
#include <errno.h>
#include <stddef.h>

#include "baremalloc.h"

#define STD_API __attribute__((visibility("default")))

/* Cold and out of line, so the wrappers' success path stays a call and a return. */
__attribute__((cold, noinline)) static void *std_fail(void) {
    errno = bm_last_error() ? bm_last_error() : ENOMEM;
    return NULL;
}

static inline void *std_result(void *p) { return __builtin_expect(p != NULL, 1) ? p : std_fail(); }

STD_API void *malloc(size_t size) { return std_result(bm_malloc(size)); }
STD_API void free(void *ptr) { bm_free(ptr); } /* a tail jump: bm_free is local to the library */
STD_API void *calloc(size_t n, size_t size) { return std_result(bm_calloc(n, size)); }
STD_API void *realloc(void *ptr, size_t size) {
    void *p = bm_realloc(ptr, size);
    return ptr && size == 0 ? p : std_result(p);
}
STD_API void *aligned_alloc(size_t alignment, size_t size) { return std_result(bm_aligned_alloc(alignment, size)); }
STD_API void *memalign(size_t alignment, size_t size) { return std_result(bm_aligned_alloc(alignment, size)); }
STD_API int posix_memalign(void **memptr, size_t alignment, size_t size) {
    return bm_posix_memalign(memptr, alignment, size);
}
STD_API void *valloc(size_t size) { return std_result(bm_aligned_alloc(4096, size)); }
STD_API void *pvalloc(size_t size) { return std_result(bm_aligned_alloc(4096, (size + 4095) & ~(size_t)4095)); }
STD_API size_t malloc_usable_size(void *ptr) { return bm_usable_size(ptr); }
STD_API void free_sized(void *ptr, size_t size) { bm_free_sized(ptr, size); }
STD_API void cfree(void *ptr) { bm_free(ptr); }
