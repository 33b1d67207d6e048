#include "test.h"

struct test_case test_cases[TEST_MAX];
unsigned test_count;
unsigned test_failures_in_case;
unsigned test_error_reports;
const char *test_last_error;

void test_count_error(const char *msg, const void *addr) {
    (void)addr;
    test_error_reports++;
    test_last_error = msg;
    if (getenv("BM_TEST_VERBOSE"))
        fprintf(stderr, "  (reported: %s at %p)\n", msg, addr);
}

static unsigned char pattern_byte(const void *base, size_t i, unsigned seed) {
    size_t x = ((size_t)base >> 4) * 2654435761u + i * 40503u + seed;
    return (unsigned char)(x ^ (x >> 13));
}

void test_fill(void *p, size_t n, unsigned seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(p, i, seed);
}

int test_verify(const void *p, size_t n, unsigned seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(p, i, seed))
            return 0;
    return 1;
}

void test_fill_seq(void *p, size_t n, unsigned seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 131 + seed + (i >> 8));
}

int test_verify_seq(const void *p, size_t n, unsigned seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(i * 131 + seed + (i >> 8)))
            return 0;
    return 1;
}

int test_main(void) {
    unsigned passed = 0, failed = 0;
    const char *only = getenv("BM_TEST_ONLY");
    for (unsigned i = 0; i < test_count; i++) {
        if (only && strcmp(only, test_cases[i].name) != 0)
            continue;
        test_failures_in_case = 0;
        test_cases[i].fn();
        if (getenv("BM_TEST_CHECK_EACH") && bm_check() != 0)
            fprintf(stderr, "  heap inconsistent after %s\n", test_cases[i].name);
        if (test_failures_in_case) {
            failed++;
            fprintf(stderr, "FAIL %s\n", test_cases[i].name);
        } else {
            passed++;
            printf("ok   %s\n", test_cases[i].name);
        }
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
