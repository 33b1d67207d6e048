/*
 * memcpy, memmove, memset and memcmp for targets linked without a libc. The compiler may
 * lower __builtin_memcpy/memset (and plain copy loops) to these calls. Weak, so that linking
 * them beside a C library's strong definitions is not a duplicate-symbol error; builds with a
 * C library (newlib) simply leave this file out.
 */
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__)
/* Stop GCC from recognising the loops below as memcpy/memset and calling themselves. */
#define LIBC_MINI_NO_PATTERNS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define LIBC_MINI_NO_PATTERNS
#endif

#define WORD sizeof(uintptr_t)
#define BOTH_ALIGNED(a, b) ((((uintptr_t)(a) | (uintptr_t)(b)) & (WORD - 1)) == 0)

/* O(n), a word at a time when both are word aligned. Overlapping ranges: undefined, as in C
 * (memmove copes). No lock, any context. */
__attribute__((weak)) LIBC_MINI_NO_PATTERNS void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (BOTH_ALIGNED(d, s)) {
        for (; n >= WORD; n -= WORD, d += WORD, s += WORD)
            *(uintptr_t *)(void *)d = *(const uintptr_t *)(const void *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

/* O(n). Any overlap: memcpy when dst is below src or clear of it (a forward copy is safe then),
 * else backwards a byte at a time. No lock, any context. */
__attribute__((weak)) LIBC_MINI_NO_PATTERNS void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--) /* overlapping with dst above src: copy backwards */
        d[n] = s[n];
    return dst;
}

/* O(n), a word at a time when dst is word aligned; value's low byte only, as in C. No lock, any
 * context. */
__attribute__((weak)) LIBC_MINI_NO_PATTERNS void *memset(void *dst, int value, size_t n) {
    unsigned char *d = dst;
    unsigned char byte = (unsigned char)value;
    if (BOTH_ALIGNED(d, 0)) {
        uintptr_t word = (uintptr_t)-1 / 255 * byte;
        for (; n >= WORD; n -= WORD, d += WORD)
            *(uintptr_t *)(void *)d = word;
    }
    while (n--)
        *d++ = byte;
    return dst;
}

/* O(n). -1, 0 or 1 by the first differing byte, compared unsigned. No lock, any context. */
__attribute__((weak)) LIBC_MINI_NO_PATTERNS int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}
