/*
 * bm_init's page sources: overlapping ones (the same region twice, overlapping halves, one
 * inside another), a NULL base, size 0, a range that wraps, and a NULL array with a count are
 * refused with BM_EINVAL and a log line, before anything changes, so that a correct bm_init
 * afterwards still works. Each refusal compares the whole allocator state before and after, so
 * the cases hold in any order, before or after the one that initialises.
 */
#include <stdint.h>
#include <unistd.h>

#include "ext.h"
#include "test.h"

#define HEAP_BYTES ((size_t)16 << 20)
static unsigned char heap[HEAP_BYTES] __attribute__((aligned(BM_CHUNK)));
static char logged[1024];

/* bm_init(config) with fd 2 (where the host port's bm_port_log writes) sent to a temporary
 * file, whose text ends up in logged. */
static int init_logged(const bm_config_t *config) {
    fflush(stderr);
    FILE *log = tmpfile();
    int saved = dup(2);
    if (!log || saved < 0) {
        fprintf(stderr, "  cannot capture stderr\n");
        return -1;
    }
    dup2(fileno(log), 2);
    int err = bm_init(config);
    dup2(saved, 2);
    close(saved);
    rewind(log);
    size_t n = fread(logged, 1, sizeof logged - 1, log);
    logged[n] = 0;
    fclose(log);
    return err;
}

static bm_state_t state_before;

/* bm_init refuses config with BM_EINVAL, logs a line containing words, reports nothing
 * through the error hook and leaves the allocator's state as it was. */
static void expect_refused(const bm_config_t *config, const char *words) {
    memcpy(&state_before, &bm_state, sizeof state_before);
    unsigned reports = test_error_reports;
    CHECK_EQ(init_logged(config), BM_EINVAL);
    CHECK(memcmp(&state_before, &bm_state, sizeof state_before) == 0);
    CHECK_EQ(test_error_reports, reports);
    if (!strstr(logged, words)) {
        test_failures_in_case++;
        fprintf(stderr, "  FAILED: log \"%s\" does not say \"%s\"\n", logged, words);
    }
}

static void refuse_two(void *base_a, size_t size_a, void *base_b, size_t size_b, const char *words) {
    bm_page_source_t sources[2] = {{.base = base_a, .size = size_a}, {.base = base_b, .size = size_b}};
    bm_config_t config = {.sources = sources, .nsources = 2};
    expect_refused(&config, words);
}

TEST(init_refuses_the_same_source_twice) {
    refuse_two(heap, HEAP_BYTES, heap, HEAP_BYTES, "overlap");
}

TEST(init_refuses_overlapping_sources) {
    size_t half = HEAP_BYTES / 2, chunk = BM_CHUNK;
    refuse_two(heap, half + chunk, heap + half - chunk, half, "overlap");      /* halves */
    refuse_two(heap + half, half, heap, half + 1, "overlap");                 /* by one byte */
    refuse_two(heap, HEAP_BYTES, heap + 3 * chunk, chunk, "overlap");         /* one inside */
    size_t eighth = HEAP_BYTES / 8;
    bm_page_source_t three[3] = {{.base = heap, .size = 2 * eighth},
                                 {.base = heap + 4 * eighth, .size = 2 * eighth},
                                 {.base = heap + 5 * eighth, .size = eighth}}; /* 2nd and 3rd */
    bm_config_t config = {.sources = three, .nsources = 3};
    expect_refused(&config, "overlap");
}

TEST(init_refuses_a_null_base) {
    bm_page_source_t one = {.base = NULL, .size = HEAP_BYTES};
    bm_config_t config = {.sources = &one, .nsources = 1};
    expect_refused(&config, "NULL base");
    refuse_two(heap, HEAP_BYTES / 2, NULL, BM_CHUNK * 4, "NULL base");
}

TEST(init_refuses_a_zero_size) {
    refuse_two(heap, HEAP_BYTES / 2, heap + HEAP_BYTES / 2, 0, "size 0");
}

TEST(init_refuses_a_source_that_wraps) {
    bm_page_source_t one = {.base = (void *)(UINTPTR_MAX - 4095), .size = 8192};
    bm_config_t config = {.sources = &one, .nsources = 1};
    expect_refused(&config, "wraps");
}

TEST(init_refuses_a_null_source_array_with_a_count) {
    bm_config_t config = {.sources = NULL, .nsources = 2};
    expect_refused(&config, "sources is NULL");
    bm_page_source_t one = {.base = heap, .size = HEAP_BYTES};
    bm_config_t none = {.sources = &one, .nsources = 0};
    expect_refused(&none, "nsources is 0");
}

/* After every refusal (made again here, so the order of the cases does not matter), the same
 * memory in two touching halves initialises and serves blocks from both. */
TEST(init_works_after_refused_sources) {
    refuse_two(heap, HEAP_BYTES, heap, HEAP_BYTES, "overlap");
    refuse_two(heap, HEAP_BYTES / 2, NULL, HEAP_BYTES / 2, "NULL base");
    size_t half = HEAP_BYTES / 2;
    bm_page_source_t halves[2] = {{.base = heap, .size = half}, {.base = heap + half, .size = half}};
    bm_config_t config = {.sources = halves, .nsources = 2};
    CHECK_EQ(bm_init(&config), 0);
    CHECK_EQ(bm_state.nregions, 2);
    void *small = bm_malloc(100), *large = bm_malloc(20000), *huge = bm_malloc(2 * BM_CHUNK);
    void *whole = bm_malloc(half); /* the first half lost a chunk to metadata: the second one */
    CHECK(small && large && huge && whole);
    void *blocks[] = {small, large, huge, whole};
    for (unsigned i = 0; i < 4; i++)
        CHECK((unsigned char *)blocks[i] >= heap && (unsigned char *)blocks[i] < heap + HEAP_BYTES);
    CHECK((unsigned char *)whole == heap + half);
    for (unsigned i = 0; i < 4; i++)
        bm_free(blocks[i]);
    CHECK_EQ(bm_check(), 0);
    CHECK_EQ(bm_init(&config), BM_EBUSY);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
