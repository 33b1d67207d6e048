/* Expectations, the counting error hook, block patterns and heap facts for the guest tests. */
#include "baremalloc.h"
#include "board.h"
#include "guest.h"

#define MAX_REPORTED_FAILURES 30 /* after this many, failures are only counted */

extern char __bm_heap_start[], __bm_heap_end[];

static unsigned failures;

bool guest_expect(bool ok, const char *file, int line, const char *what) {
    if (ok)
        return true;
    unsigned previous = __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    if (previous < MAX_REPORTED_FAILURES)
        board_printf("  FAIL core %u %s:%d: %s\n", board_core_id(), file, line, what);
    return false;
}

unsigned guest_failure_count(void) { return __atomic_load_n(&failures, __ATOMIC_RELAXED); }

/* ------------------------------------------------------------------------------------- */

static unsigned hook_calls;
static unsigned unexpected_hook_calls;
static bool hook_expected;

static void counting_error_hook(const char *msg, const void *addr) {
    __atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&hook_expected, __ATOMIC_RELAXED)) {
        unsigned previous = __atomic_fetch_add(&unexpected_hook_calls, 1, __ATOMIC_RELAXED);
        if (previous < MAX_REPORTED_FAILURES)
            board_printf("  FAIL core %u: allocator reported \"%s\" at %p\n", board_core_id(), msg,
                         addr);
    }
}

void guest_install_error_hook(void) { bm_set_error_hook(counting_error_hook); }

static unsigned window_start;

void guest_expect_allocator_errors_begin(void) {
    window_start = __atomic_load_n(&hook_calls, __ATOMIC_RELAXED);
    __atomic_store_n(&hook_expected, true, __ATOMIC_RELAXED);
}

bool guest_expect_allocator_errors_end(unsigned expected) {
    __atomic_store_n(&hook_expected, false, __ATOMIC_RELAXED);
    unsigned seen = __atomic_load_n(&hook_calls, __ATOMIC_RELAXED) - window_start;
    if (seen != expected)
        board_printf("  allocator error reports: %u, expected %u\n", seen, expected);
    return seen == expected;
}

unsigned guest_unexpected_allocator_errors(void) {
    return __atomic_load_n(&unexpected_hook_calls, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------------------- */

#define WORD sizeof(uintptr_t)
#define SPARSE_EDGE_WORDS 8
#define SPARSE_STRIDE_WORDS 8
#define DENSE_LIMIT 512 /* small blocks are always filled whole */

uintptr_t guest_pattern_seed(const void *block, uint32_t tag) {
    uintptr_t x = (uintptr_t)block ^ ((uintptr_t)tag * (uintptr_t)0x9E3779B97F4A7C15ull);
    x ^= x >> 16;
    x *= (uintptr_t)0x7FEB352D846CA68Bull;
    x ^= x >> 15;
    return x | 1; /* never all-zero, so a zeroed block never passes for a filled one */
}

static inline uintptr_t word_value(uintptr_t seed, size_t index) {
    return seed ^ ((uintptr_t)index * (uintptr_t)0xD6E8FEB86659FD93ull);
}

/* Byte i of the partial word at the end of a block: byte i of the whole word that would sit
 * there, so a prefix of a filled block reads the same as a fill of that prefix. */
static inline unsigned char tail_byte(uintptr_t seed, size_t word_index, size_t i) {
    uintptr_t whole = word_value(seed, word_index);
    return ((const unsigned char *)&whole)[i];
}

/* The next word a fill touches after word `index`: every word, or in a sparse fill the first
 * and last SPARSE_EDGE_WORDS and every SPARSE_STRIDE_WORDS-th between them. */
static inline size_t next_filled_word(size_t index, size_t words, bool dense) {
    if (dense || words <= 2 * SPARSE_EDGE_WORDS || index + 1 < SPARSE_EDGE_WORDS ||
        index + 1 >= words - SPARSE_EDGE_WORDS)
        return index + 1;
    size_t next = (index / SPARSE_STRIDE_WORDS + 1) * SPARSE_STRIDE_WORDS;
    return next < words - SPARSE_EDGE_WORDS ? next : words - SPARSE_EDGE_WORDS;
}

void guest_pattern_fill(void *block, size_t size, uintptr_t seed, bool dense) {
    uintptr_t *words = block;
    size_t nwords = size / WORD;
    dense = dense || size <= DENSE_LIMIT;
    for (size_t i = 0; i < nwords; i = next_filled_word(i, nwords, dense))
        words[i] = word_value(seed, i);
    unsigned char *tail = (unsigned char *)block + nwords * WORD;
    for (size_t i = 0; i < size % WORD; i++)
        tail[i] = tail_byte(seed, nwords, i);
}

bool guest_pattern_check(const void *block, size_t size, uintptr_t seed, bool dense) {
    const uintptr_t *words = block;
    size_t nwords = size / WORD;
    size_t bad = (size_t)-1;
    dense = dense || size <= DENSE_LIMIT;
    for (size_t i = 0; i < nwords; i = next_filled_word(i, nwords, dense))
        if (words[i] != word_value(seed, i)) {
            bad = i * WORD;
            break;
        }
    const unsigned char *tail = (const unsigned char *)block + nwords * WORD;
    for (size_t i = 0; i < size % WORD && bad == (size_t)-1; i++)
        if (tail[i] != tail_byte(seed, nwords, i))
            bad = nwords * WORD + i;
    if (bad == (size_t)-1)
        return true;
    board_printf("  core %u: block %p of %zu bytes corrupted at offset %zu\n", board_core_id(),
                 block, size, bad);
    EXPECT(!"block contents intact");
    return false;
}

bool guest_all_zero(const void *block, size_t size) {
    const unsigned char *bytes = block;
    size_t i = 0;
    for (; i < size && ((uintptr_t)(bytes + i) % WORD); i++)
        if (bytes[i])
            return false;
    for (; i + WORD <= size; i += WORD)
        if (*(const uintptr_t *)(const void *)(bytes + i))
            return false;
    for (; i < size; i++)
        if (bytes[i])
            return false;
    return true;
}

size_t guest_heap_size(void) { return (size_t)(__bm_heap_end - __bm_heap_start); }
