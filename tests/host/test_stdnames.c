/* The standard names (port/stdnames.c) replace the C library's allocator in this program:
 * the C library's own allocations (strdup, stdio) come from baremalloc, errno is set on
 * failure, and threads and fork keep working. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ext.h"
#include "test.h"

void *memalign(size_t alignment, size_t size);

/* A pointer is baremalloc's if it lies in one of its regions and names a live block. */
static int is_ours(void *p) {
    unsigned before = test_error_reports;
    return p && bm_region_of(p) && bm_usable_size(p) > 0 && test_error_reports == before;
}

TEST(stdnames_route_to_baremalloc) {
    void *m = malloc(100), *c = calloc(3, 7), *r = realloc(NULL, 50), *a = aligned_alloc(64, 64);
    void *mm = memalign(256, 10), *pm = NULL;
    CHECK_EQ(posix_memalign(&pm, 128, 300), 0);
    CHECK(is_ours(m) && is_ours(c) && is_ours(r) && is_ours(a) && is_ours(mm) && is_ours(pm));
    CHECK_EQ(malloc_usable_size(m), bm_usable_size(m));
    CHECK(((uintptr_t)a & 63) == 0 && ((uintptr_t)mm & 255) == 0 && ((uintptr_t)pm & 127) == 0);
    free(m), free(c), free(r), free(a), free(mm), free(pm);
    CHECK_EQ(test_error_reports, 0);
}

TEST(stdnames_libc_internal_allocations_are_ours) {
    char *s = strdup("baremalloc");
    CHECK(is_ours(s));
    free(s);
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fmemopen("one line\n", 9, "r");
    CHECK(getline(&line, &cap, f) > 0);
    CHECK(is_ours(line));
    free(line);
    fclose(f);
}

static volatile size_t too_big = SIZE_MAX; /* volatile: hide the constant from GCC's checks */

TEST(stdnames_set_errno) {
    errno = 0;
    CHECK(malloc(too_big) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(calloc(too_big / 2, 4) == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK(aligned_alloc(3, 16) == NULL);
    CHECK_EQ(errno, EINVAL);
    void *p = (void *)1;
    CHECK_EQ(posix_memalign(&p, 3, 16), EINVAL);
    /* memalign, as glibc's, rounds any alignment up to a power of two */
    void *m3 = memalign(3, 10), *m24 = memalign(24, 100), *m0 = memalign(0, 5);
    CHECK(is_ours(m3) && is_ours(m24) && is_ours(m0));
    CHECK(((uintptr_t)m3 & 3) == 0 && ((uintptr_t)m24 & 31) == 0);
    free(m3), free(m24), free(m0);
    errno = 0;
    CHECK(memalign(SIZE_MAX, 16) == NULL);
    CHECK_EQ(errno, EINVAL);
}

/* Sizes whose page rounding, or any other size arithmetic in the wrappers, would wrap past
 * SIZE_MAX: NULL with ENOMEM, never a small block (pvalloc(SIZE_MAX - 10) was one page). */
TEST(stdnames_size_arithmetic_does_not_wrap) {
    size_t sizes[] = {too_big, too_big - 10, too_big - 4094, too_big - 4095, too_big / 2 + 1};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        errno = 0;
        CHECK(pvalloc(size) == NULL);
        CHECK_EQ(errno, ENOMEM);
        errno = 0;
        CHECK(valloc(size) == NULL);
        CHECK_EQ(errno, ENOMEM);
        errno = 0;
        CHECK(memalign(4096, size) == NULL);
        CHECK_EQ(errno, ENOMEM);
        errno = 0;
        CHECK(aligned_alloc(4096, size) == NULL);
        CHECK_EQ(errno, ENOMEM);
        errno = 0;
        CHECK(calloc(size, 2) == NULL && calloc(2, size) == NULL);
        CHECK_EQ(errno, ENOMEM);
        void *p = malloc(10);
        errno = 0;
        CHECK(realloc(p, size) == NULL);
        CHECK_EQ(errno, ENOMEM);
        free(p);
        p = (void *)1;
        CHECK_EQ(posix_memalign(&p, 4096, size), ENOMEM);
        CHECK(p == (void *)1);
    }
    void *page = pvalloc(too_big - too_big + 1); /* the rounding still rounds: one page */
    CHECK(is_ours(page) && ((uintptr_t)page & 4095) == 0 && malloc_usable_size(page) >= 4096);
    free(page);
    CHECK_EQ(test_error_reports, 0);
}

/* realloc of a bad pointer, to 0 as to any size: NULL, EINVAL, one report; of a good one to 0:
 * a block, errno untouched. */
TEST(stdnames_realloc_of_a_bad_pointer) {
    static char not_heap[64];
    void *volatile bad = not_heap + 16; /* volatile: hide it from GCC's -Wfree-nonheap-object */
    unsigned start = test_error_reports;
    size_t sizes[] = {0, 16, 100000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned before = test_error_reports;
        errno = 0;
        CHECK(realloc(bad, sizes[i]) == NULL);
        CHECK_EQ(errno, EINVAL);
        CHECK_EQ(test_error_reports, before + 1);
    }
    errno = 0;
    void *p = realloc(malloc(100), 0);
    CHECK(is_ours(p));
    CHECK_EQ(errno, 0);
    free(p);
    CHECK_EQ(test_error_reports, start + 3);
    test_error_reports = start; /* the other cases count from 0 and expect none */
}

static void *thread_body(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++)
        free(malloc((size_t)(i % 700) + 1));
    return NULL;
}

TEST(stdnames_threads_and_fork) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, thread_body, NULL);
    pid_t child = fork(); /* while other threads allocate: the atfork handlers hold the locks */
    if (child == 0) {
        void *p = malloc(1000);
        free(p);
        _exit(p && bm_check() == 0 ? 0 : 1);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    int status = -1;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}
