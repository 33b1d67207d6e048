/*
 * boards/common/print.c, the printf subset every board program prints with, checked on the
 * host against the C library's snprintf for each conversion, flag and length it supports,
 * and its unformatted board_puts and board_put_hex.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "test.h"

static char captured[512];
static size_t captured_len;

void board_putc(char c) { /* the console print.c writes to */
    if (captured_len + 1 < sizeof captured)
        captured[captured_len++] = c;
    captured[captured_len] = '\0';
}

/* board_printf's output for the same call equals snprintf's. */
#define CHECK_PRINTS_LIKE_LIBC(...)                                                  \
    do {                                                                             \
        char expected[512];                                                          \
        snprintf(expected, sizeof expected, __VA_ARGS__);                            \
        captured_len = 0;                                                            \
        captured[0] = '\0';                                                          \
        board_printf(__VA_ARGS__);                                                   \
        if (strcmp(captured, expected) != 0)                                         \
            fprintf(stderr, "  got \"%s\", expected \"%s\"\n", captured, expected);  \
        CHECK(strcmp(captured, expected) == 0);                                      \
    } while (0)

TEST(print_integers_match_libc) {
    CHECK_PRINTS_LIKE_LIBC("%d %i %d %d", 0, 42, -7, INT_MIN);
    CHECK_PRINTS_LIKE_LIBC("%u %x %u", 0u, 0xdeadbeefu, UINT_MAX);
    CHECK_PRINTS_LIKE_LIBC("%ld %lu %lx", LONG_MIN, ULONG_MAX, 0x123456789abcdeful);
    CHECK_PRINTS_LIKE_LIBC("%zu %zx", (size_t)SIZE_MAX, (size_t)4096);
}

TEST(print_width_and_flags_match_libc) {
    CHECK_PRINTS_LIKE_LIBC("[%5d] [%-5d] [%05d] [%05u] [%8x] [%08x]", 42, 42, 42, 7u, 0xabcu, 0xabcu);
    CHECK_PRINTS_LIKE_LIBC("[%3d] [%2u]", 12345, 123456u); /* wider than the width */
    CHECK_PRINTS_LIKE_LIBC("[%-10s] [%10s] [%c] [%3c] [%-3c]", "left", "right", 'x', 'y', 'z');
    CHECK_PRINTS_LIKE_LIBC("[%12zu] [%-12lu]", (size_t)99, 100ul);
}

TEST(print_strings_pointers_and_percent_match_libc) {
    CHECK_PRINTS_LIKE_LIBC("%s|%s|%%|100%%", "", "text");
    int object;
    CHECK_PRINTS_LIKE_LIBC("%p", (void *)&object);
    CHECK_PRINTS_LIKE_LIBC("%p", (void *)(uintptr_t)0x1000);
}

/* board_vprintf through a variadic call that the compiler does not format-check. */
static void print_unchecked(const char *format, ...) {
    va_list args;
    va_start(args, format);
    board_vprintf(format, args);
    va_end(args);
}

TEST(print_null_string_and_unknown_conversion) {
    captured_len = 0;
    print_unchecked("[%s]", (const char *)NULL);
    CHECK(strcmp(captured, "[(null)]") == 0);
    captured_len = 0;
    print_unchecked("a%qb"); /* unknown conversion: shown as written, no argument read */
    CHECK(strcmp(captured, "a%qb") == 0);
    captured_len = 0;
    print_unchecked("end%"); /* a lone '%' at the end stops the output there */
    CHECK(strcmp(captured, "end%") == 0);
}

/* The fault reports' helpers: board_put_hex keeps every digit of a uintptr_t. */
TEST(puts_and_put_hex_write_unformatted) {
    char expected[64];
    captured_len = 0;
    board_puts("core ");
    board_put_hex(0x2a);
    board_puts(" at ");
    board_put_hex(UINTPTR_MAX);
    snprintf(expected, sizeof expected, "core 0x%0*jx at 0x%0*jx", (int)(2 * sizeof(uintptr_t)),
             (uintmax_t)0x2a, (int)(2 * sizeof(uintptr_t)), (uintmax_t)UINTPTR_MAX);
    if (strcmp(captured, expected) != 0)
        fprintf(stderr, "  got \"%s\", expected \"%s\"\n", captured, expected);
    CHECK(strcmp(captured, expected) == 0);
}

int main(void) { return test_main(); }
