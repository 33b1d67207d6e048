/*
 * The API test cases shared by the host test (tests/host/test_api.c) and the guest program
 * every QEMU board runs (tests/guest): written once in tests/common/api_cases.c against this
 * small interface, which each side implements (test_api.c over tests/host/test.h,
 * tests/guest/guest_support.c over boards/board.h). Freestanding: no libc.
 */
#ifndef BM_TEST_CASES_H
#define BM_TEST_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "baremalloc.h"

#ifndef GUEST_RANDOM_OPS
#define GUEST_RANDOM_OPS 30000 /* operations in the single-core randomized sequence */
#endif
#ifndef GUEST_RANDOM_SLOTS
#define GUEST_RANDOM_SLOTS 256 /* blocks live at once in the randomized sequence */
#endif

/* ASan builds of the core expose only the requested bytes of a block (core/internal.h). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CASES_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CASES_ASAN 1
#endif

/* ---- what the program running the cases provides ---- */

/* A false expectation prints where it failed and counts against the running case; returns ok. */
#define EXPECT(cond) case_expect((cond), __FILE__, __LINE__, #cond)
bool case_expect(bool ok, const char *file, int line, const char *what);
unsigned case_failure_count(void); /* failures so far (a broken heap stops long loops) */
void case_note(const char *format, ...) __attribute__((format(printf, 1, 2))); /* a detail line */
/* What request sizes scale with (a guest's whole heap; on the host a nominal 64 MiB or the
 * region, whichever is smaller), and the size no request can get (the heap or the region). */
size_t case_heap_size(void);
size_t case_heap_limit(void);
/* A window in which the allocator's error hook is expected to be called: end returns true if
 * exactly `expected` reports arrived since begin. */
void case_errors_begin(void);
bool case_errors_end(unsigned expected);

/* ---- tests/common/pattern.c ---- */

/* Block contents. The seed mixes the block's address with a per-allocation tag, so two owners
 * handed the same memory write different patterns. Dense fills every byte; sparse fills the
 * first and last 8 words and every 8th word between (it still catches any overlap of more
 * than 8 words, and keeps the SMP stress fast under TCG). */
uintptr_t case_pattern_seed(const void *block, uint32_t tag);
void case_pattern_fill(void *block, size_t size, uintptr_t seed, bool dense);
/* True if intact; otherwise reports the first wrong byte offset through EXPECT. */
bool case_pattern_check(const void *block, size_t size, uintptr_t seed, bool dense);
bool case_all_zero(const void *block, size_t size);

/* ---- tests/common/api_cases.c ---- */

struct api_case {
    const char *name;
    void (*fn)(void);
};
extern const struct api_case api_cases[];
extern const unsigned api_case_count;

#endif
