#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

int test_rebuild_and_run(const char *test, const char *dir, const char *flags, const char *env) {
    char cmd[1536], bin[128];
    snprintf(bin, sizeof bin, "build/host/%s/%s.%d", dir, test, (int)getpid()); /* runs may overlap */
    snprintf(cmd, sizeof cmd,
             "mkdir -p build/host/%s && "
             "gcc -std=c11 -g -Wall -Wextra -Werror -O1 %s -DBM_PORT_HOST -DBM_MAX_CORES=256 -D_GNU_SOURCE "
             "-Iinclude -Iport -Icore -Icore/ext -Itests/host -Itests/common -o %s core/*.c core/ext/*.c "
             "port/host.c port/defaults.c tests/host/test_main.c tests/host/%s.c -lpthread && %s %s > %s.log 2>&1",
             dir, flags, bin, test, env, bin, bin);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "tail -n 20 %s.log >&2", bin);
        if (system(cmd) != 0)
            fprintf(stderr, "  (no log of %s)\n", bin);
    }
    snprintf(cmd, sizeof cmd, "rm -f %s %s.log", bin, bin);
    return system(cmd) != 0 ? -1 : rc;
}
