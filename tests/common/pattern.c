/* Block patterns for the shared API cases and the guest SMP stress (tests/common/cases.h). */
#include "cases.h"

#define WORD sizeof(uintptr_t)
#define SPARSE_EDGE_WORDS 8
#define SPARSE_STRIDE_WORDS 8
#define DENSE_LIMIT 512 /* small blocks are always filled whole */

uintptr_t case_pattern_seed(const void *block, uint32_t tag) {
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

void case_pattern_fill(void *block, size_t size, uintptr_t seed, bool dense) {
    uintptr_t *words = block;
    size_t nwords = size / WORD;
    dense = dense || size <= DENSE_LIMIT;
    for (size_t i = 0; i < nwords; i = next_filled_word(i, nwords, dense))
        words[i] = word_value(seed, i);
    unsigned char *tail = (unsigned char *)block + nwords * WORD;
    for (size_t i = 0; i < size % WORD; i++)
        tail[i] = tail_byte(seed, nwords, i);
}

bool case_pattern_check(const void *block, size_t size, uintptr_t seed, bool dense) {
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
    case_note("  block %p of %zu bytes corrupted at offset %zu\n", block, size, bad);
    EXPECT(!"block contents intact");
    return false;
}

bool case_all_zero(const void *block, size_t size) {
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
