/*
 * Typed bm_ctl readers for the host tests: the name is a printf format, a failed read or a
 * length that differs from the type's counts as a failed CHECK and returns zero.
 * Header-only (static): each test program that reads statistics includes it.
 */
#ifndef BM_TEST_CTL_READ_H
#define BM_TEST_CTL_READ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "test.h"

static int ctl_read(void *out, size_t size, const char *fmt, va_list ap) {
    char name[128];
    vsnprintf(name, sizeof name, fmt, ap);
    size_t len = size;
    int rc = bm_ctl(name, out, &len, NULL, 0);
    if (rc != 0 || len != size)
        fprintf(stderr, "  bm_ctl(\"%s\") = %d (len %zu)\n", name, rc, len);
    return rc != 0 ? rc : (len != size ? -1 : 0);
}

#define DEFINE_READER(fn, type)                                                      \
    __attribute__((format(printf, 1, 2), unused)) static type fn(const char *fmt, ...) { \
        type v;                                                                      \
        memset(&v, 0, sizeof v);                                                     \
        va_list ap;                                                                  \
        va_start(ap, fmt);                                                           \
        CHECK_EQ(ctl_read(&v, sizeof v, fmt, ap), 0);                                \
        va_end(ap);                                                                  \
        return v;                                                                    \
    }
DEFINE_READER(rq, uint64_t)
DEFINE_READER(rz, size_t)
DEFINE_READER(ru, unsigned)
DEFINE_READER(rb, bool)

/* An action name (no value in or out), e.g. "arena.%u.purge". */
__attribute__((format(printf, 1, 2), unused)) static int act(const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return bm_ctl(name, NULL, NULL, NULL, 0);
}

#endif
