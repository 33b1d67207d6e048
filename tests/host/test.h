/*
 * A minimal test harness for the host tests: TEST(name) { ... } registers a case; CHECK(cond)
 * records a failure (with file:line) and goes on; each binary prints "N passed, N failed" and
 * exits non-zero if any case failed. The error hook counts reports so tests can assert that a
 * bad call was reported (and that a good one was not).
 */
#ifndef BM_TEST_H
#define BM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baremalloc.h"

typedef void (*test_fn)(void);
struct test_case {
    const char *name;
    test_fn fn;
};

#define TEST_MAX 256
extern struct test_case test_cases[TEST_MAX];
extern unsigned test_count;
extern unsigned test_failures_in_case;
extern unsigned test_error_reports;
extern const char *test_last_error;

#define TEST(name)                                                                   \
    static void name(void);                                                          \
    __attribute__((constructor)) static void register_##name(void) {                 \
        if (test_count < TEST_MAX)                                                   \
            test_cases[test_count++] = (struct test_case){#name, name};              \
    }                                                                                \
    static void name(void)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            test_failures_in_case++;                                                 \
            fprintf(stderr, "  FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                               \
    do {                                                                             \
        long long check_a = (long long)(a), check_b = (long long)(b);                \
        if (check_a != check_b) {                                                    \
            test_failures_in_case++;                                                 \
            fprintf(stderr, "  FAILED %s:%d: %s == %s (%lld vs %lld)\n", __FILE__,   \
                    __LINE__, #a, #b, check_a, check_b);                             \
        }                                                                            \
    } while (0)

/* Counts error reports; tests read and reset the counter. */
void test_count_error(const char *msg, const void *addr);
/* Runs every registered case; returns the process exit status. */
int test_main(void);

/* Builds tests/host/<test>.c again with the core and the host port, gcc -O1 plus flags, in
 * build/host/<dir>/, runs it with env (e.g. "BM_TEST_ONLY=case", or "") and deletes it; the
 * build's log tail goes to stderr on failure. 0 when it built and every case passed. For
 * options that change the fast path or the core's layout, which a variant's archive cannot
 * have. O(one build). */
int test_rebuild_and_run(const char *test, const char *dir, const char *flags, const char *env);

/* Fills/verifies a block with a pattern derived from its address and a seed. */
void test_fill(void *p, size_t n, unsigned seed);
int test_verify(const void *p, size_t n, unsigned seed);
/* The same without the address, for contents that move (realloc). */
void test_fill_seq(void *p, size_t n, unsigned seed);
int test_verify_seq(const void *p, size_t n, unsigned seed);

#ifdef BM_INTERNAL_H
/* The slots per small (large: per large) class this build's defaults give the heap bm_init
 * set up: the option's default, or where that is 0 the documented scaling (bm_config.h) of
 * the heap over the square of the core count, one small slot per 8 KiB within 8-32 and one
 * large slot per 32 KiB within 2-8. */
static inline unsigned test_default_slots(int large) {
    unsigned fixed = large ? BM_DEFAULT_TCACHE_SLOTS_LARGE : BM_DEFAULT_TCACHE_SLOTS;
    if (fixed)
        return fixed;
    size_t heap = 0;
    for (unsigned i = 0; i < bm_state.nregions; i++)
        heap += (size_t)bm_state.regions[i].nchunks * BM_CHUNK;
    size_t n = heap / bm_state.ncores / bm_state.ncores / (large ? 32768u : 8192u);
    unsigned lo = large ? 2 : 8, hi = large ? 8 : 32;
    return n < lo ? lo : n > hi ? hi : (unsigned)n;
}
#endif

#endif
