/*
 * preload_check: is build/host/libbaremalloc.so safe to load into any program? Run as
 *     LD_PRELOAD=build/host/libbaremalloc.so build/host/preload/preload_check
 * (tools/run-preload-tests.sh does). Each named check prints "ok <name>" or
 * "FAIL <name>: why"; the last line is "N passed, N failed" (printed by the linked
 * libpreload_ctor_lib.so's destructor, after the after-main checks) and the exit status is
 * non-zero on any failure. See preload.h for PRELOAD_CHECK_ONLY / _FAIL.
 *
 * What it covers: the process's allocator really is baremalloc; allocation before main (the
 * library's and the program's constructors, a thread and stdio in a constructor) and after it
 * (atexit handler, destructors); dlopen/dlsym/dlerror/dlclose cycles and dlsym(RTLD_NEXT);
 * short-lived joined and detached threads, more threads alive than cache slots, pthread key
 * destructors, blocks outliving their thread, cache slots given back by ended threads; fork
 * while other threads allocate (child hangs end in SIGALRM), fork+exec, posix_spawn, popen,
 * system; the standard API's contracts (calloc, realloc, the aligned family, errors and errno,
 * usable size); malloc_trim giving a burst of small blocks back to the system; bm_check() clean
 * at the end and no error report from the allocator anywhere. Under an address-space limit
 * (ulimit -v, as the runner sets for PRELOAD_CHECK_ONLY=address_space_limit) the allocator must
 * serve most of the space the limit allows.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"

extern char **environ;
#define NOT_FOUND ((size_t)-1)
#define MIB ((size_t)1 << 20)

static volatile size_t size_max = SIZE_MAX; /* volatile: keep GCC's size warnings quiet */

/* Runs check function fn (which reports `name` itself) if PRELOAD_CHECK_ONLY selects it. */
#define RUN(name, fn)                                                                    \
    do {                                                                                 \
        if (pc_wanted(name))                                                             \
            fn(name);                                                                    \
    } while (0)

static const char *object_of(const void *addr) {
    Dl_info info;
    if (addr && dladdr(addr, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}

/* Verifies a pattern-filled block, is it ours, then frees it. */
static void verify_and_free(struct pc_why *w, const char *what, void *p, size_t size, unsigned seed) {
    if (!p) {
        PC_EXPECT(w, 0, "%s: NULL block", what);
        return;
    }
    size_t bad = pc_verify(p, size, seed);
    PC_EXPECT(w, bad == NOT_FOUND, "%s: block %p of %zu bytes changed at offset %zu", what, p, size, bad);
    PC_EXPECT(w, pc_is_ours(p, size), "%s: block %p of %zu bytes is not a live baremalloc block", what, p, size);
    free(p);
}

/* Threads of this process (entries of /proc/self/task). */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Waits (up to 10 s) until only the main thread is left: detached threads and joined ones
 * still in the kernel's exit are gone. Returns the count last seen. */
static int wait_single_thread(void) {
    int n = thread_count();
    for (int i = 0; i < 10000 && n != 1; i++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        n = thread_count();
    }
    return n;
}

static int thread_core(unsigned *core) {
    if (!pc_bm.ctl)
        return -1;
    size_t len = sizeof *core;
    return pc_bm.ctl("thread.core", core, &len, NULL, 0);
}

/* ---- before main ------------------------------------------------------------------------- */

#define PROG_BLOCKS 16
static struct pc_block prog_blocks[PROG_BLOCKS];
static unsigned prog_nblocks;
static struct pc_why prog_ctor_why;
static int prog_ctor_ran, prog_ctor_saw_preload, prog_ctor_lib_first;

static void prog_keep(void *p, size_t size, unsigned seed) {
    PC_EXPECT(&prog_ctor_why, p != NULL, "program constructor: allocation of %zu bytes returned NULL", size);
    if (p && prog_nblocks < PROG_BLOCKS)
        prog_blocks[prog_nblocks++] = (struct pc_block){p, size, seed};
}

static void *ctor_thread(void *arg) {
    (void)arg;
    static const size_t sizes[3] = {100, 50000, 5 * MIB + 1};
    struct pc_block *b = malloc(3 * sizeof *b);
    if (!b)
        return NULL;
    for (unsigned i = 0; i < 3; i++) {
        b[i] = (struct pc_block){malloc(sizes[i]), sizes[i], 160 + i};
        if (b[i].p)
            pc_fill(b[i].p, b[i].size, b[i].seed);
    }
    return b;
}

__attribute__((constructor)) static void prog_ctor(void) {
    struct pc_why *w = &prog_ctor_why;
    prog_ctor_lib_first = pc_lib_ctor_ran;
    static const size_t sizes[] = {8, 48, 512, 4096, 20000, 200000, 5 * MIB + 1};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = malloc(sizes[i]);
        if (p)
            pc_fill(p, sizes[i], 140 + i);
        prog_keep(p, sizes[i], 140 + i);
    }
    /* a thread started and ended before main; its blocks are freed by main */
    pthread_t t;
    void *got = NULL;
    PC_EXPECT(w, pthread_create(&t, NULL, ctor_thread, NULL) == 0, "program constructor: pthread_create failed");
    if (!w->text[0])
        pthread_join(t, &got);
    struct pc_block *b = got;
    PC_EXPECT(w, b != NULL, "program constructor: its thread could not allocate");
    if (b) {
        for (unsigned i = 0; i < 3; i++)
            prog_keep(b[i].p, b[i].size, b[i].seed);
        free(b);
    }
    /* stdio allocates too: read our own map and see the allocator in it */
    FILE *f = fopen("/proc/self/maps", "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0)
        if (strstr(line, "libbaremalloc.so"))
            prog_ctor_saw_preload = 1;
    free(line);
    if (f)
        fclose(f);
    prog_ctor_ran = 1;
}

static void check_before_main_lib(const char *name) {
    struct pc_why w = {{0}};
    PC_EXPECT(&w, pc_lib_ctor_ran, "the library's constructor did not run");
    PC_EXPECT(&w, !pc_lib_ctor_why.text[0], "%s", pc_lib_ctor_why.text);
    PC_EXPECT(&w, pc_lib_nblocks >= 14, "the library's constructor kept %u blocks, expected 14", pc_lib_nblocks);
    for (unsigned i = 0; i < pc_lib_nblocks; i++) {
        struct pc_block *b = &pc_lib_blocks[i];
        if (b->size == 0) { /* the strdup'd string */
            PC_EXPECT(&w, strcmp(b->p, "allocated by strdup in a constructor") == 0, "strdup'd string changed");
            PC_EXPECT(&w, pc_is_ours(b->p, 1), "strdup'd string from before main is not a baremalloc block");
            free(b->p);
        } else {
            verify_and_free(&w, "block from the library's constructor", b->p, b->size, b->seed);
        }
    }
    pc_report(name, w.text);
}

static void check_before_main_prog(const char *name) {
    struct pc_why w = {{0}};
    PC_EXPECT(&w, prog_ctor_ran, "the program's constructor did not run");
    PC_EXPECT(&w, prog_ctor_lib_first, "the program's constructor ran before its library's");
    PC_EXPECT(&w, !prog_ctor_why.text[0], "%s", prog_ctor_why.text);
    PC_EXPECT(&w, prog_ctor_saw_preload, "libbaremalloc.so was not mapped before main (/proc/self/maps)");
    PC_EXPECT(&w, prog_nblocks == 10, "the program's constructor kept %u blocks, expected 10", prog_nblocks);
    for (unsigned i = 0; i < prog_nblocks; i++)
        verify_and_free(&w, "block from the program's constructor", prog_blocks[i].p, prog_blocks[i].size,
                        prog_blocks[i].seed);
    pc_report(name, w.text);
}

/* ---- the allocator is baremalloc ---------------------------------------------------------- */

static void check_allocator_identity(const char *name) {
    static const char *const names[] = {"malloc",        "free",     "calloc", "realloc", "posix_memalign",
                                        "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
                                        "malloc_trim"};
    struct pc_why w = {{0}};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        /* dlsym(RTLD_DEFAULT) searches in the order the program's own calls bind */
        const char *obj = object_of(dlsym(RTLD_DEFAULT, names[i]));
        PC_EXPECT(&w, strstr(obj, "libbaremalloc.so") != NULL,
                  "%s resolves to %s, not libbaremalloc.so: the preload is not in effect (run with "
                  "LD_PRELOAD=build/host/libbaremalloc.so); every other result is then about that allocator",
                  names[i], obj);
    }
    PC_EXPECT(&w, (void *)malloc == dlsym(RTLD_DEFAULT, "malloc") && (void *)free == dlsym(RTLD_DEFAULT, "free"),
              "the program's own malloc/free (%s) are not the ones dlsym finds", object_of((void *)malloc));
    PC_EXPECT(&w, pc_bm.check && pc_bm.usable_size && pc_bm.ctl && pc_bm.set_error_hook,
              "baremalloc's API (bm_check, bm_usable_size, bm_ctl, bm_set_error_hook) is not in the process");
    void *p = malloc(100);
    PC_EXPECT(&w, pc_is_ours(p, 100), "malloc(100) = %p is not a baremalloc block", p);
    free(p);
    if (w.text[0])
        fprintf(stderr, "\n*** preload_check: THE ALLOCATOR UNDER TEST IS NOT BAREMALLOC: %s ***\n\n", w.text);
    pc_report(name, w.text);
}

static void check_libc_internal_allocations(const char *name) {
    struct pc_why w = {{0}};
    char *s = strdup("strdup");
    PC_EXPECT(&w, pc_is_ours(s, 7), "strdup's block is not baremalloc's");
    free(s);
    s = strndup("strndup and more", 7);
    PC_EXPECT(&w, pc_is_ours(s, 8) && strcmp(s, "strndup") == 0, "strndup's block is not baremalloc's");
    free(s);
    s = NULL;
    PC_EXPECT(&w, asprintf(&s, "%s %d", "asprintf", 42) == 11 && pc_is_ours(s, 12),
              "asprintf's block is not baremalloc's");
    free(s);
    char *cwd = getcwd(NULL, 0);
    PC_EXPECT(&w, cwd && pc_is_ours(cwd, strlen(cwd) + 1), "getcwd(NULL, 0)'s block is not baremalloc's");
    free(cwd);
    char *real = realpath("/proc/self/exe", NULL);
    PC_EXPECT(&w, real && pc_is_ours(real, strlen(real) + 1), "realpath(..., NULL)'s block is not baremalloc's");
    free(real);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    for (int i = 0; m && i < 2000; i++)
        fprintf(m, "line %d of a memstream that grows its buffer with realloc\n", i);
    if (m)
        fclose(m);
    PC_EXPECT(&w, buf && len > 100000 && pc_is_ours(buf, len + 1), "open_memstream's buffer is not baremalloc's");
    free(buf);
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    PC_EXPECT(&w, f && getline(&line, &cap, f) > 0 && pc_is_ours(line, cap), "getline's buffer is not baremalloc's");
    free(line);
    if (f)
        fclose(f);
    pc_report(name, w.text);
}

/* ---- the API through the standard names -------------------------------------------------- */

static const size_t api_sizes[] = {1, 8, 16, 24, 100, 1000, 4096, 5000, 40000, 300000, MIB + 3, 3 * MIB};
#define NAPI_SIZES (sizeof api_sizes / sizeof api_sizes[0])

static void check_api_calloc(const char *name) {
    struct pc_why w = {{0}};
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < NAPI_SIZES; i++) {
            size_t n = api_sizes[i];
            /* dirty blocks of this size and free them: calloc must not hand their bytes back */
            void *dirty[8];
            for (unsigned k = 0; k < 8; k++) {
                dirty[k] = malloc(n);
                if (dirty[k])
                    memset(dirty[k], 0xA5, n);
            }
            for (unsigned k = 0; k < 8; k++)
                free(dirty[k]);
            for (unsigned k = 0; k < 8; k++) {
                dirty[k] = k & 1 ? calloc(n, 1) : calloc(1, n);
                PC_EXPECT(&w, dirty[k] && pc_all_zero(dirty[k], n), "calloc of %zu bytes (round %u) not zeroed", n,
                          round);
                if (dirty[k])
                    memset(dirty[k], 0x5A, n);
            }
            for (unsigned k = 0; k < 8; k++)
                free(dirty[k]);
        }
    }
    void *z = calloc(0, 16);
    PC_EXPECT(&w, z != NULL, "calloc(0, 16) returned NULL");
    free(z);
    errno = 0;
    PC_EXPECT(&w, calloc(size_max / 2, 3) == NULL && errno == ENOMEM, "calloc overflow: no NULL/ENOMEM");
    pc_report(name, w.text);
}

static void check_api_realloc(const char *name) {
    struct pc_why w = {{0}};
    /* grow from 1 byte to 8 MiB and shrink back, the contents following */
    size_t n = 1;
    unsigned char *p = malloc(n);
    pc_fill(p, n, 1);
    for (size_t next = 3; next <= 8 * MIB; next = next * 3 + 1) {
        unsigned char *q = realloc(p, next);
        PC_EXPECT(&w, q != NULL, "realloc(%zu -> %zu) returned NULL", n, next);
        if (!q)
            break;
        size_t bad = pc_verify(q, n, 1);
        PC_EXPECT(&w, bad == NOT_FOUND, "realloc(%zu -> %zu) lost the contents at %zu", n, next, bad);
        pc_fill(q, next, 1);
        p = q;
        n = next;
    }
    while (p && n >= 5) { /* down to 1 byte: realloc(p, 0) is another contract */
        size_t next = n / 5;
        unsigned char *q = realloc(p, next);
        PC_EXPECT(&w, q != NULL, "realloc(%zu -> %zu) returned NULL", n, next);
        if (!q)
            break;
        size_t bad = pc_verify(q, next, 1);
        PC_EXPECT(&w, bad == NOT_FOUND, "shrinking realloc(%zu -> %zu) lost the contents at %zu", n, next, bad);
        PC_EXPECT(&w, malloc_usable_size(q) >= next, "realloc(%zu) usable size %zu", next, malloc_usable_size(q));
        p = q;
        n = next;
    }
    free(p);
    p = realloc(NULL, 300);
    PC_EXPECT(&w, p && pc_is_ours(p, 300), "realloc(NULL, 300) is not a block");
    pc_fill(p, 300, 2);
    errno = 0;
    PC_EXPECT(&w, realloc(p, size_max) == NULL && errno == ENOMEM, "realloc(p, SIZE_MAX): no NULL/ENOMEM");
    PC_EXPECT(&w, pc_verify(p, 300, 2) == NOT_FOUND && pc_is_ours(p, 300), "a failed realloc damaged the block");
    void *z = realloc(p, 0); /* frees p; a minimum-size block or NULL */
    free(z);
    unsigned char *volatile ra = reallocarray(NULL, 1000, 3); /* volatile: it stays live after the failure */
    PC_EXPECT(&w, ra && pc_is_ours(ra, 3000), "reallocarray(NULL, 1000, 3) is not a block");
    errno = 0;
    PC_EXPECT(&w, reallocarray(ra, size_max / 2, 3) == NULL && errno == ENOMEM, "reallocarray overflow: no ENOMEM");
    free(ra);
    pc_report(name, w.text);
}

static void check_api_aligned(const char *name) {
    struct pc_why w = {{0}};
    static const size_t sizes[] = {1, 100, 5000, 70000, 3 * MIB};
    for (size_t align = 1; align <= 65536; align *= 2) {
        for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *a = aligned_alloc(align, n);
            PC_EXPECT(&w, a && ((uintptr_t)a & (align - 1)) == 0 && malloc_usable_size(a) >= n,
                      "aligned_alloc(%zu, %zu) = %p (usable %zu)", align, n, a, a ? malloc_usable_size(a) : 0);
            void *m = memalign(align, n);
            PC_EXPECT(&w, m && ((uintptr_t)m & (align - 1)) == 0 && malloc_usable_size(m) >= n,
                      "memalign(%zu, %zu) = %p", align, n, m);
            void *pm = NULL;
            int err = align >= sizeof(void *) ? posix_memalign(&pm, align, n) : 0;
            PC_EXPECT(&w, err == 0 && ((uintptr_t)pm & (align - 1)) == 0,
                      "posix_memalign(%zu, %zu) = %d, %p", align, n, err, pm);
            if (a)
                pc_fill(a, n, 3);
            if (m)
                pc_fill(m, n, 4);
            if (pm)
                pc_fill(pm, n, 5);
            verify_and_free(&w, "aligned_alloc block", a, n, 3);
            verify_and_free(&w, "memalign block", m, n, 4);
            if (pm)
                verify_and_free(&w, "posix_memalign block", pm, n, 5);
        }
    }
    for (size_t align = MIB; align <= 16 * MIB; align *= 2) { /* beyond the 2 MiB chunk */
        void *a = aligned_alloc(align, 100), *pm = NULL;
        int err = posix_memalign(&pm, align, 3 * MIB);
        PC_EXPECT(&w, a && ((uintptr_t)a & (align - 1)) == 0 && err == 0 && ((uintptr_t)pm & (align - 1)) == 0,
                  "aligned_alloc(%zu, 100) = %p, posix_memalign(%zu, 3 MiB) = %d, %p", align, a, align, err, pm);
        if (a)
            pc_fill(a, 100, 8);
        if (!err)
            pc_fill(pm, 3 * MIB, 9);
        verify_and_free(&w, "block with a huge alignment", a, 100, 8);
        if (!err)
            verify_and_free(&w, "block with a huge alignment", pm, 3 * MIB, 9);
    }
    void *v = valloc(100);
    PC_EXPECT(&w, v && ((uintptr_t)v & 4095) == 0, "valloc(100) = %p not page aligned", v);
    free(v);
    void *pv = pvalloc(5000);
    PC_EXPECT(&w, pv && ((uintptr_t)pv & 4095) == 0 && malloc_usable_size(pv) >= 8192, "pvalloc(5000) = %p, usable %zu",
              pv, pv ? malloc_usable_size(pv) : 0);
    free(pv);
    /* bad alignments: EINVAL, *memptr untouched, errno untouched by posix_memalign */
    static const size_t bad[] = {0, 3, 4, 24, 65537, 3u << 20};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *keep = (void *)&w;
        errno = 1234;
        int err = posix_memalign(&keep, bad[i], 64);
        PC_EXPECT(&w, err == EINVAL && keep == (void *)&w && errno == 1234,
                  "posix_memalign(alignment %zu) = %d (expected EINVAL), memptr %s, errno %d", bad[i], err,
                  keep == (void *)&w ? "untouched" : "changed", errno);
    }
    for (size_t al = 0; al < 8; al += 3) { /* 0, 3, 6 */
        errno = 0;
        void *p = aligned_alloc(al, 64);
        PC_EXPECT(&w, p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64) = %p, errno %d (expected NULL, EINVAL)",
                  al, p, errno);
        free(p);
    }
    void *keep = (void *)&w;
    int err = posix_memalign(&keep, 64, size_max - 4096);
    PC_EXPECT(&w, err == ENOMEM && keep == (void *)&w, "posix_memalign(64, SIZE_MAX - 4096) = %d, memptr %s", err,
              keep == (void *)&w ? "untouched" : "changed");
    pc_report(name, w.text);
}

static void check_api_errors(const char *name) {
    struct pc_why w = {{0}};
    static const size_t too_big[] = {SIZE_MAX, SIZE_MAX / 2, SIZE_MAX - 4095, (size_t)1 << 62};
    for (unsigned i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
        errno = 0;
        volatile size_t n = too_big[i];
        void *p = malloc(n);
        PC_EXPECT(&w, p == NULL && errno == ENOMEM, "malloc(%zu) = %p, errno %d (expected NULL, ENOMEM)", (size_t)n, p,
                  errno);
    }
    errno = 0;
    PC_EXPECT(&w, calloc(size_max, size_max) == NULL && errno == ENOMEM, "calloc(SIZE_MAX, SIZE_MAX): no ENOMEM");
    /* malloc(0) gives distinct live blocks */
    void *z1 = malloc(0), *z2 = malloc(0);
    PC_EXPECT(&w, z1 && z2 && z1 != z2, "malloc(0) twice = %p, %p", z1, z2);
    free(z1);
    free(z2);
    /* success leaves errno alone; free leaves errno alone */
    errno = 4321;
    void *p = malloc(64), *q = malloc(3 * MIB);
    free(p);
    free(q);
    free(NULL);
    PC_EXPECT(&w, errno == 4321, "errno changed to %d by successful malloc/free", errno);
    PC_EXPECT(&w, malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
    pc_report(name, w.text);
}

static void check_api_usable_size(const char *name) {
    struct pc_why w = {{0}};
    /* fill whole usable sizes of neighbours: an overstated usable size overwrites the next */
    enum { N = 64 };
    void *p[N];
    size_t u[N];
    for (unsigned i = 0; i < N; i++) {
        size_t n = i < 48 ? (size_t)i * 37 + 1 : (size_t)(i - 47) * 9000;
        p[i] = malloc(n);
        u[i] = p[i] ? malloc_usable_size(p[i]) : 0;
        PC_EXPECT(&w, p[i] && u[i] >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u[i]);
        if (p[i])
            pc_fill(p[i], u[i], 20 + i);
    }
    for (unsigned i = 0; i < N; i++)
        if (p[i])
            verify_and_free(&w, "block filled to its usable size", p[i], u[i], 20 + i);
    /* free_sized and cfree, looked up (older headers do not declare them) */
    void (*free_sized_fn)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    PC_EXPECT(&w, free_sized_fn && strstr(object_of((void *)free_sized_fn), "libbaremalloc.so"),
              "free_sized is not baremalloc's");
    PC_EXPECT(&w, cfree_fn && strstr(object_of((void *)cfree_fn), "libbaremalloc.so"), "cfree is not baremalloc's");
    unsigned before = pc_error_reports();
    for (size_t n = 1; free_sized_fn && n < 10 * MIB; n = n * 5 + 3)
        free_sized_fn(malloc(n), n);
    if (cfree_fn)
        cfree_fn(malloc(77));
    PC_EXPECT(&w, pc_error_reports() == before, "free_sized/cfree of good blocks reported: %s", pc_first_error());
    pc_report(name, w.text);
}

/* ---- dlopen, dlsym, dlerror --------------------------------------------------------------- */

static int cos_ok(double (*cos_fn)(double)) {
    double d = cos_fn(0.5) - 0.87758256189037276;
    return d < 1e-15 && d > -1e-15;
}

static void check_dl_cycles(const char *name) {
    struct pc_why w = {{0}};
    for (int i = 0; i < 200; i++) {
        void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        PC_EXPECT(&w, h != NULL, "dlopen(libm.so.6) failed: %s", dlerror());
        if (!h)
            break;
        double (*cos_fn)(double) = (double (*)(double))dlsym(h, "cos");
        PC_EXPECT(&w, cos_fn && cos_ok(cos_fn), "dlsym(cos) failed or cos(0.5) is wrong");
        dlerror();
        void *none = dlsym(h, "preload_check_no_such_symbol");
        const char *e = dlerror(); /* the message is a malloc'd string */
        PC_EXPECT(&w, !none && e && strstr(e, "preload_check_no_such_symbol"), "dlsym of a missing symbol: %p, %s",
                  none, e ? e : "no dlerror message");
        PC_EXPECT(&w, !e || pc_is_ours(e, strlen(e) + 1), "dlerror's message %p is not a baremalloc block",
                  (const void *)e);
        char *copy = e ? strdup(e) : NULL; /* allocate while the loader's block is live */
        free(copy);
        PC_EXPECT(&w, dlclose(h) == 0, "dlclose failed: %s", dlerror());
    }
    void *h = dlopen("libpreload_check_no_such_library.so.7", RTLD_NOW);
    const char *e = dlerror();
    PC_EXPECT(&w, !h && e && strstr(e, "no_such_library"), "dlopen of a missing library: %p, %s", h, e ? e : "-");
    pc_report(name, w.text);
}

static void check_dlsym_rtld_next(const char *name) {
    struct pc_why w = {{0}};
    /* from the program, RTLD_NEXT finds the preloaded malloc (or libc's): either way a
     * consistent pair, and the lookup must not recurse into itself or hang (alarm in main) */
    void *(*next_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    void (*next_free)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    void *(*next_calloc)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    PC_EXPECT(&w, next_malloc && next_free && next_calloc, "dlsym(RTLD_NEXT, malloc/free/calloc) returned NULL");
    if (next_malloc && next_free && next_calloc) {
        const char *mo = object_of((void *)next_malloc), *fo = object_of((void *)next_free);
        PC_EXPECT(&w, strcmp(mo, fo) == 0, "RTLD_NEXT malloc from %s but free from %s", mo, fo);
        PC_EXPECT(&w, strstr(mo, "libbaremalloc.so"), "RTLD_NEXT malloc from %s, expected the preloaded library", mo);
        for (int i = 0; i < 100; i++) {
            size_t n = (size_t)i * 1000 + 1;
            void *p = next_malloc(n), *c = next_calloc(n, 1);
            PC_EXPECT(&w, p && c && pc_all_zero(c, n), "RTLD_NEXT malloc/calloc(%zu) failed", n);
            if (p)
                pc_fill(p, n, 6);
            PC_EXPECT(&w, !p || pc_verify(p, n, 6) == NOT_FOUND, "RTLD_NEXT block changed");
            next_free(p);
            next_free(c);
        }
    }
    dlerror();
    PC_EXPECT(&w, dlsym(RTLD_NEXT, "preload_check_no_such_symbol") == NULL && dlerror() != NULL,
              "dlsym(RTLD_NEXT) of a missing symbol did not fail");
    pc_report(name, w.text);
}

struct dl_thread_arg {
    struct pc_why w;
};

static void *dl_thread(void *arg) {
    struct pc_why *w = &((struct dl_thread_arg *)arg)->w;
    for (int i = 0; i < 50; i++) {
        void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        PC_EXPECT(w, h != NULL, "dlopen in a thread failed");
        if (!h)
            break;
        double (*cos_fn)(double) = (double (*)(double))dlsym(h, "cos");
        PC_EXPECT(w, cos_fn && cos_ok(cos_fn), "dlsym(cos) in a thread failed");
        size_t n = (size_t)(i % 7) * 3000 + 50;
        void *p = malloc(n);
        if (p)
            pc_fill(p, n, 7);
        dlclose(h);
        verify_and_free(w, "block around dlopen in a thread", p, n, 7);
    }
    return NULL;
}

static void check_dl_threads(const char *name) {
    struct pc_why w = {{0}};
    struct dl_thread_arg args[4];
    pthread_t t[4];
    memset(args, 0, sizeof args);
    int started[4];
    for (int i = 0; i < 4; i++) {
        started[i] = pthread_create(&t[i], NULL, dl_thread, &args[i]) == 0;
        PC_EXPECT(&w, started[i], "pthread_create failed");
    }
    for (int i = 0; i < 4; i++)
        if (started[i])
            pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        PC_EXPECT(&w, !args[i].w.text[0], "thread %d: %s", i, args[i].w.text);
    pc_report(name, w.text);
}

/* ---- threads ----------------------------------------------------------------------------- */

static size_t churn_size(unsigned id, unsigned it) {
    unsigned h = (id * 2654435761u) ^ (it * 40503u);
    h ^= h >> 13;
    if (it % 97 == 96)
        return 100000 + h % 200000; /* large */
    if (it % 61 == 60)
        return (h & 3) ? 8 + h % 32 : 1000 + h % 20000;
    return 1 + h % 1500;
}

/* Allocates and frees `iters` blocks through a ring of 16 live ones, every byte checked;
 * leaves the 4 blocks it hands back in out[0..3]. */
static void churn(struct pc_why *w, unsigned id, unsigned iters, struct pc_block out[4]) {
    struct pc_block ring[16];
    memset(ring, 0, sizeof ring);
    for (unsigned it = 0; it < iters; it++) {
        struct pc_block *b = &ring[it % 16];
        if (b->p)
            verify_and_free(w, "thread block", b->p, b->size, b->seed);
        size_t n = churn_size(id, it);
        unsigned char *p = it % 7 == 3 ? calloc(1, n) : malloc(n);
        PC_EXPECT(w, p != NULL, "thread %u: allocation of %zu returned NULL", id, n);
        PC_EXPECT(w, !p || it % 7 != 3 || pc_all_zero(p, n), "thread %u: calloc(1, %zu) not zeroed", id, n);
        if (p)
            pc_fill(p, n, id + it);
        *b = (struct pc_block){p, n, id + it};
    }
    for (unsigned i = 0; i < 16; i++) {
        if (i < 4 && out)
            out[i] = ring[i];
        else if (ring[i].p)
            verify_and_free(w, "thread block", ring[i].p, ring[i].size, ring[i].seed);
    }
}

struct handback {
    struct pc_block b[5];
    struct pc_why w;
};

static void *joined_worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    struct handback *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    churn(&h->w, id, 300, h->b);
    size_t huge = id % 10 == 0 ? 3 * MIB + id : 0; /* some threads hand back a huge block */
    if (huge) {
        h->b[4] = (struct pc_block){malloc(huge), huge, id};
        if (h->b[4].p)
            pc_fill(h->b[4].p, huge, id);
    }
    return h;
}

static void check_threads_joined(const char *name) {
    struct pc_why w = {{0}};
    enum { WAVES = 8, PER_WAVE = 25 };
    for (unsigned wave = 0; wave < WAVES; wave++) {
        pthread_t t[PER_WAVE];
        unsigned started = 0;
        for (unsigned i = 0; i < PER_WAVE; i++) {
            if (pthread_create(&t[i], NULL, joined_worker, (void *)(uintptr_t)(wave * PER_WAVE + i)) != 0) {
                PC_EXPECT(&w, 0, "pthread_create failed in wave %u", wave);
                break;
            }
            started++;
        }
        for (unsigned i = 0; i < started; i++) {
            void *ret = NULL;
            pthread_join(t[i], &ret);
            struct handback *h = ret;
            PC_EXPECT(&w, h != NULL, "a thread could not allocate its hand-back record");
            if (!h)
                continue;
            PC_EXPECT(&w, !h->w.text[0], "in a thread: %s", h->w.text);
            for (unsigned k = 0; k < 5; k++) /* the thread has exited: its blocks outlive it */
                if (h->b[k].p)
                    verify_and_free(&w, "block handed back by an ended thread", h->b[k].p, h->b[k].size,
                                    h->b[k].seed);
            free(h);
        }
    }
    pc_report(name, w.text);
}

static pthread_mutex_t detached_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t detached_cond = PTHREAD_COND_INITIALIZER;
static unsigned detached_done;
static struct handback detached_results[40];

static void *detached_worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    struct handback local;
    memset(&local, 0, sizeof local);
    churn(&local.w, 1000 + id, 200, local.b);
    pthread_mutex_lock(&detached_lock);
    detached_results[id] = local;
    detached_done++;
    pthread_cond_signal(&detached_cond);
    pthread_mutex_unlock(&detached_lock);
    return NULL; /* and exits while main frees what it handed over */
}

/* With lock held: waits on cond until *count reaches target or seconds pass; returns *count. */
static unsigned wait_count_locked(pthread_mutex_t *lock, pthread_cond_t *cond, const unsigned *count,
                                  unsigned target, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    while (*count < target)
        if (pthread_cond_timedwait(cond, lock, &deadline) == ETIMEDOUT)
            break;
    return *count;
}

static void check_threads_detached(const char *name) {
    struct pc_why w = {{0}};
    enum { N = 40 };
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    unsigned started = 0;
    for (unsigned i = 0; i < N; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, detached_worker, (void *)(uintptr_t)i) != 0) {
            PC_EXPECT(&w, 0, "pthread_create (detached) failed");
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&detached_lock);
    unsigned done = wait_count_locked(&detached_lock, &detached_cond, &detached_done, started, 20);
    pthread_mutex_unlock(&detached_lock);
    PC_EXPECT(&w, done == started, "only %u of %u detached threads finished within 20 s", done, started);
    for (unsigned i = 0; i < done; i++) {
        PC_EXPECT(&w, !detached_results[i].w.text[0], "in a detached thread: %s", detached_results[i].w.text);
        for (unsigned k = 0; k < 5; k++)
            if (detached_results[i].b[k].p)
                verify_and_free(&w, "block handed over by a detached thread", detached_results[i].b[k].p,
                                detached_results[i].b[k].size, detached_results[i].b[k].seed);
    }
    int left = wait_single_thread();
    PC_EXPECT(&w, left == 1, "%d threads still alive 10 s after the detached threads finished", left);
    pc_report(name, w.text);
}

/* More threads alive at once than there are cache slots (BM_MAX_CORES = 256): the ones without
 * a slot are served from arena 0 without a cache, beside the cached ones. */
struct many {
    pthread_t t;
    unsigned id, core;
    struct handback h;
};
static pthread_mutex_t many_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t many_cond = PTHREAD_COND_INITIALIZER;
static unsigned many_arrived;
static int many_go;

static void *many_worker(void *arg) {
    struct many *m = arg;
    void *first = malloc(48); /* takes a slot, or finds none */
    thread_core(&m->core);
    pthread_mutex_lock(&many_lock);
    many_arrived++;
    pthread_cond_broadcast(&many_cond);
    while (!many_go)
        pthread_cond_wait(&many_cond, &many_lock);
    pthread_mutex_unlock(&many_lock);
    free(first);
    churn(&m->h.w, m->id, 100, m->h.b);
    return NULL;
}

static void check_threads_beyond_slots(const char *name) {
    struct pc_why w = {{0}};
    enum { N = 300 };
    struct many *m = calloc(N, sizeof *m);
    if (!m) {
        pc_report(name, "calloc failed");
        return;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    unsigned started = 0;
    for (unsigned i = 0; i < N; i++) {
        m[i].id = 5000 + i;
        m[i].core = ~0u;
        if (pthread_create(&m[i].t, &attr, many_worker, &m[i]) != 0) {
            PC_EXPECT(&w, 0, "pthread_create failed after %u threads", i);
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&many_lock);
    wait_count_locked(&many_lock, &many_cond, &many_arrived, started, 20);
    PC_EXPECT(&w, many_arrived == started, "only %u of %u threads started within 20 s", many_arrived, started);
    many_go = 1; /* every thread holds its slot (or has none) until now */
    pthread_cond_broadcast(&many_cond);
    pthread_mutex_unlock(&many_lock);
    unsigned uncached = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(m[i].t, NULL);
        uncached += m[i].core == 256;
        PC_EXPECT(&w, m[i].core <= 256, "thread %u could not read its slot", i);
        PC_EXPECT(&w, !m[i].h.w.text[0], "in a thread: %s", m[i].h.w.text);
        for (unsigned k = 0; k < 4; k++)
            if (m[i].h.b[k].p)
                verify_and_free(&w, "block handed back", m[i].h.b[k].p, m[i].h.b[k].size, m[i].h.b[k].seed);
    }
    PC_EXPECT(&w, started < 256 || uncached > 0,
              "%u threads alive at once and every one had a cache slot: the no-slot path was not exercised", started);
    free(m);
    pc_report(name, w.text);
}

static pthread_key_t key_a, key_b;
static unsigned key_a_runs, key_b_runs, key_problems;

/* key_a's destructor frees its block and allocates key_b's, whose destructor frees that (and
 * allocates and frees a huge block): allocation during thread teardown, in two rounds. */
static void key_a_destructor(void *v) {
    if (pc_verify(v, 5000, 70) != NOT_FOUND || !pc_is_ours(v, 5000))
        __atomic_fetch_add(&key_problems, 1, __ATOMIC_RELAXED);
    free(v);
    void *next = malloc(100000);
    if (next) {
        pc_fill(next, 100000, 71);
        pthread_setspecific(key_b, next);
    }
    __atomic_fetch_add(&key_a_runs, 1, __ATOMIC_RELAXED);
}

static void key_b_destructor(void *v) {
    if (pc_verify(v, 100000, 71) != NOT_FOUND || !pc_is_ours(v, 100000))
        __atomic_fetch_add(&key_problems, 1, __ATOMIC_RELAXED);
    free(v);
    void *huge = malloc(3 * MIB);
    if (huge)
        memset(huge, 1, 3 * MIB);
    free(huge);
    __atomic_fetch_add(&key_b_runs, 1, __ATOMIC_RELAXED);
}

static void *key_worker(void *arg) {
    (void)arg;
    void *v = malloc(5000);
    if (v) {
        pc_fill(v, 5000, 70);
        pthread_setspecific(key_a, v);
    }
    churn(&(struct pc_why){{0}}, 7, 50, NULL);
    return NULL;
}

static void check_thread_key_destructors(const char *name) {
    struct pc_why w = {{0}};
    PC_EXPECT(&w, pthread_key_create(&key_a, key_a_destructor) == 0 &&
                      pthread_key_create(&key_b, key_b_destructor) == 0,
              "pthread_key_create failed");
    enum { N = 100 };
    for (unsigned i = 0; i < N; i += 10) {
        pthread_t t[10];
        int started[10];
        for (unsigned k = 0; k < 10; k++) {
            started[k] = pthread_create(&t[k], NULL, key_worker, NULL) == 0;
            PC_EXPECT(&w, started[k], "pthread_create failed");
        }
        for (unsigned k = 0; k < 10; k++)
            if (started[k])
                pthread_join(t[k], NULL);
    }
    PC_EXPECT(&w, key_a_runs == N && key_b_runs == N, "key destructors ran %u and %u times, expected %u each",
              key_a_runs, key_b_runs, N);
    PC_EXPECT(&w, key_problems == 0, "%u key values were damaged or not baremalloc blocks", key_problems);
    pthread_key_delete(key_a);
    pthread_key_delete(key_b);
    pc_report(name, w.text);
}

static void *thread_allocates_and_exits(void *arg) {
    struct pc_block *b = arg;
    static const size_t sizes[4] = {40, 60000, 5 * MIB + 7, 3000};
    for (unsigned i = 0; i < 4; i++) {
        b[i] = (struct pc_block){i == 3 ? calloc(1, sizes[i]) : malloc(sizes[i]), sizes[i], 90 + i};
        if (b[i].p)
            pc_fill(b[i].p, sizes[i], 90 + i);
    }
    return NULL;
}

struct outliving {
    struct pc_block b[4];
    struct pc_why w; /* the second thread's problem */
};

static void *thread_frees(void *arg) {
    struct outliving *s = arg;
    for (unsigned i = 0; i < 2; i++)
        verify_and_free(&s->w, "block of an ended thread, freed by another thread", s->b[i].p, s->b[i].size,
                        s->b[i].seed);
    return NULL;
}

static void check_block_outlives_thread(const char *name) {
    struct pc_why w = {{0}};
    for (unsigned round = 0; round < 20; round++) {
        struct outliving s;
        memset(&s, 0, sizeof s);
        pthread_t t;
        if (pthread_create(&t, NULL, thread_allocates_and_exits, s.b) != 0) {
            PC_EXPECT(&w, 0, "pthread_create failed");
            break;
        }
        pthread_join(t, NULL); /* returns once the thread is gone, TSD destructors and all */
        /* two of its blocks are freed by main, two by another, new thread */
        for (unsigned i = 2; i < 4; i++)
            verify_and_free(&w, "block of an ended thread, freed by main", s.b[i].p, s.b[i].size, s.b[i].seed);
        if (pthread_create(&t, NULL, thread_frees, &s) != 0) {
            PC_EXPECT(&w, 0, "pthread_create failed");
            break;
        }
        pthread_join(t, NULL);
        PC_EXPECT(&w, !s.w.text[0], "%s", s.w.text);
    }
    pc_report(name, w.text);
}

/* Cache slots: port/host.c gives each thread the lowest free slot ("core", bm_ctl
 * thread.core) on its first allocator call and takes it back in a TSD destructor at thread
 * exit; 256 (BM_MAX_CORES) means no slot was free and the thread runs without a cache, every
 * call on arena 0 behind its lock. A new thread's slot is therefore the lowest free one: if it
 * climbs after threads ended, those threads kept theirs. */
enum { SLOT_PLAIN, SLOT_DLERROR, SLOT_BARRIER };
static pthread_barrier_t slot_barrier;

static void *report_slot(void *arg) {
    free(malloc(64)); /* takes a slot */
    if ((uintptr_t)arg == SLOT_BARRIER)
        pthread_barrier_wait(&slot_barrier);
    if ((uintptr_t)arg == SLOT_DLERROR) {
        /* leaves a malloc'd dlerror message, which glibc frees at thread exit */
        dlerror();
        (void)dlsym(RTLD_DEFAULT, "preload_check_no_such_symbol");
    }
    unsigned core = ~0u;
    thread_core(&core);
    return (void *)(uintptr_t)core;
}

static unsigned new_thread_slot(void) {
    pthread_t t;
    void *ret = (void *)(uintptr_t)~0u;
    if (pthread_create(&t, NULL, report_slot, (void *)(uintptr_t)SLOT_PLAIN) == 0)
        pthread_join(t, &ret);
    return (unsigned)(uintptr_t)ret;
}

static void check_thread_slots_recycled(const char *name) {
    struct pc_why w = {{0}};
    unsigned base = new_thread_slot(), max_seen = 0;
    PC_EXPECT(&w, base < 256, "a new thread gets no cache slot (thread.core = %u)", base);
    for (int i = 0; i < 300; i++) {
        pthread_t t;
        void *ret = NULL;
        if (pthread_create(&t, NULL, report_slot, (void *)(uintptr_t)SLOT_PLAIN) != 0)
            break;
        pthread_join(t, &ret);
        if ((unsigned)(uintptr_t)ret > max_seen)
            max_seen = (unsigned)(uintptr_t)ret;
    }
    unsigned after = new_thread_slot();
    PC_EXPECT(&w, max_seen <= base + 2 && after <= base + 2,
              "300 threads run one after another took slots up to %u, a new thread then gets %u (first free slot "
              "was %u): ended threads keep their slot",
              max_seen, after, base);
    pc_report(name, w.text);
}

/* Reports a slot check, unless the slot readings themselves make it meaningless. */
static void report_slot_check(const char *name, unsigned base, unsigned after, const char *why) {
    if (base == ~0u || after == ~0u)
        pc_report(name, "cannot read the cache slot through bm_ctl(\"thread.core\")");
    else if (base >= 256)
        pc_report(name, "no cache slot was free before the check began (thread.core = 256)");
    else
        pc_report(name, why);
}

/* Regression (port/host.c, fixed): a detached thread frees memory after its TSD destructors
 * ran (glibc frees the cached stacks' DTVs, _dl_deallocate_tls, when the stack cache is over its 40 MiB limit);
 * that free takes a slot again, and nothing gives it back. 16 MiB stacks make every exit
 * overflow the cache. */
static void check_thread_slots_after_detached(const char *name) {
    struct pc_why w = {{0}};
    unsigned base = new_thread_slot();
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 16 * MIB);
    for (int batch = 0; batch < 6; batch++) {
        /* all 10 alive at once, so their stacks cannot be reused one by one from the cache */
        pthread_barrier_init(&slot_barrier, NULL, 11);
        for (int i = 0; i < 10; i++) {
            pthread_t t;
            if (pthread_create(&t, &attr, report_slot, (void *)(uintptr_t)SLOT_BARRIER) != 0) {
                PC_EXPECT(&w, 0, "pthread_create (detached) failed");
                abort(); /* the barrier would wait for ever */
            }
        }
        pthread_barrier_wait(&slot_barrier);
        wait_single_thread();
        pthread_barrier_destroy(&slot_barrier);
    }
    pthread_attr_destroy(&attr);
    unsigned after = new_thread_slot();
    PC_EXPECT(&w, after <= base + 2,
              "60 detached threads ended, and a new thread's cache slot went from %u to %u (256 = no cache): %u "
              "of them kept their slot. glibc frees memory in an ending detached thread after the TSD destructors "
              "(stacks over the stack cache's limit: _dl_deallocate_tls frees their DTVs); port/host.c's "
              "host_thread_exit gave the slot back already, so that free takes a new one for good",
              base, after, after - base);
    report_slot_check(name, base, after, w.text);
}

/* Regression (port/host.c, fixed): the same through the dlerror message glibc frees in
 * __libc_thread_freeres. */
static void check_thread_slots_after_dlerror(const char *name) {
    struct pc_why w = {{0}};
    unsigned base = new_thread_slot();
    for (int i = 0; i < 60; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, report_slot, (void *)(uintptr_t)SLOT_DLERROR) != 0)
            break;
        pthread_join(t, NULL);
    }
    unsigned after = new_thread_slot();
    PC_EXPECT(&w, after <= base + 2,
              "60 joined threads that each left a dlerror message ended, and a new thread's cache slot went from "
              "%u to %u (256 = no cache): each one kept its slot. glibc frees the message in "
              "__libc_thread_freeres, after the TSD destructors (port/host.c's host_thread_exit gave the slot "
              "back already), so that free takes a new one for good",
              base, after);
    report_slot_check(name, base, after, w.text);
}

/* ---- fork --------------------------------------------------------------------------------- */

struct churner {
    pthread_t t;
    unsigned id;
    int huge;
    unsigned long iterations;
    struct pc_why w;
};
static int churn_stop;

static void *churn_thread(void *arg) {
    struct churner *c = arg;
    for (unsigned it = 0; !__atomic_load_n(&churn_stop, __ATOMIC_RELAXED); it++) {
        /* the last churner takes mostly huge blocks (chunk spans, the pool lock), the others
         * small and large ones (caches, arena locks): a fork lands inside each kind of work */
        size_t n = c->huge ? 2 * MIB + (it % 4) * MIB + 1
                           : it % 500 == 499 ? 3 * MIB : churn_size(c->id, it);
        unsigned char *p = malloc(n);
        if (!p) {
            PC_EXPECT(&c->w, 0, "churn thread: malloc(%zu) returned NULL", n);
            break;
        }
        size_t edge = n < 64 ? n : 64;
        pc_fill(p, edge, it);
        pc_fill(p + n - edge, edge, it + 1);
        if (it % 5 == 0) {
            unsigned char *q = realloc(p, n * 2 + 1);
            PC_EXPECT(&c->w, q && pc_verify(q + n - edge, edge, it + 1) == NOT_FOUND,
                      "churn thread: realloc(%zu -> %zu) lost the contents", n, n * 2 + 1);
            if (q)
                p = q;
        } else {
            PC_EXPECT(&c->w, pc_verify(p + n - edge, edge, it + 1) == NOT_FOUND, "churn thread: block changed");
        }
        free(p);
        __atomic_store_n(&c->iterations, c->iterations + 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static unsigned long churn_total(struct churner *c, unsigned n) {
    unsigned long sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += __atomic_load_n(&c[i].iterations, __ATOMIC_RELAXED);
    return sum;
}

static const char *const child_steps[] = {
    "ok",
    "a block allocated before fork changed in the child",
    "freeing the parent's blocks in the child was reported",
    "small blocks failed in the child",
    "large blocks failed in the child",
    "a huge block failed in the child",
    "calloc did not zero in the child",
    "a thread in the child failed",
    "bm_check() found the child's heap inconsistent",
    "the allocator reported errors in the child",
    "a grandchild failed",
};
#define CHILD_STEPS (sizeof child_steps / sizeof child_steps[0])

static void *child_thread(void *arg) {
    (void)arg;
    struct pc_why w = {{0}};
    churn(&w, 555, 500, NULL);
    return (void *)(uintptr_t)(w.text[0] != 0);
}

static int child_heap_work(void) {
    for (unsigned i = 0; i < 2000; i++) {
        size_t n = churn_size(777, i) % 3000 + 1;
        unsigned char *p = malloc(n);
        if (!p)
            return 3;
        pc_fill(p, n, i);
        if (pc_verify(p, n, i) != NOT_FOUND)
            return 3;
        free(p);
    }
    for (unsigned i = 0; i < 20; i++) {
        unsigned char *p = malloc(200000 + i * 4096);
        if (!p)
            return 4;
        pc_fill(p, 200000, i);
        if (pc_verify(p, 200000, i) != NOT_FOUND)
            return 4;
        free(p);
    }
    unsigned char *h = malloc(6 * MIB);
    if (!h)
        return 5;
    pc_fill(h, 6 * MIB, 9);
    if (pc_verify(h, 6 * MIB, 9) != NOT_FOUND)
        return 5;
    free(h);
    for (unsigned i = 0; i < 10; i++) {
        size_t n = 100 + i * 1000;
        unsigned char *d = malloc(n);
        if (d)
            memset(d, 0xEE, n);
        free(d);
        unsigned char *c = calloc(n, 1);
        if (!c || !pc_all_zero(c, n))
            return 6;
        free(c);
    }
    return 0;
}

static int fork_child(unsigned round, struct pc_block *before) {
    alarm(10); /* a child that deadlocks (a lock held across fork) dies of SIGALRM */
    unsigned reports = pc_error_reports();
    if (pc_verify(before[0].p, before[0].size, before[0].seed) != NOT_FOUND ||
        pc_verify(before[1].p, before[1].size, before[1].seed) != NOT_FOUND)
        return 1;
    free(before[0].p);
    free(before[1].p);
    if (pc_error_reports() != reports)
        return 2;
    int step = child_heap_work();
    if (step)
        return step;
    pthread_t t;
    void *ret = (void *)1;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &ret) != 0 || ret)
        return 7;
    if (round % 5 == 0) { /* a grandchild forked from a child */
        pid_t g = fork();
        if (g == 0)
            _exit(child_heap_work());
        int status = 0;
        if (g < 0 || waitpid(g, &status, 0) != g || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 10;
    }
    if (pc_bm.check && pc_bm.check() != 0) {
        fprintf(stderr, "  child of fork %u: bm_check: %s\n", round, pc_first_error());
        return 8;
    }
    if (pc_error_reports() != reports)
        return 9;
    return 0;
}

static void describe_status(struct pc_why *w, const char *what, int status) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    if (WIFEXITED(status)) {
        unsigned code = WEXITSTATUS(status);
        PC_EXPECT(w, 0, "%s exited with %u (%s)", what, code, code < CHILD_STEPS ? child_steps[code] : "?");
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        PC_EXPECT(w, 0, "%s killed by signal %d (%s)%s", what, sig, strsignal(sig),
                  sig == SIGALRM ? ": it hung, a lock held across fork?" : "");
    }
}

static struct churner churners[3];

static void start_churners(struct pc_why *w) {
    __atomic_store_n(&churn_stop, 0, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < 3; i++) {
        memset(&churners[i], 0, sizeof churners[i]);
        churners[i].id = 3000 + i;
        churners[i].huge = i == 2;
        if (pthread_create(&churners[i].t, NULL, churn_thread, &churners[i]) != 0) {
            PC_EXPECT(w, 0, "pthread_create failed");
            abort(); /* the run cannot go on without them (the summary is then missing: a failure) */
        }
    }
    /* let them get going */
    unsigned long start = churn_total(churners, 3);
    for (int i = 0; i < 1000 && churn_total(churners, 3) < start + 300; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

static void stop_churners(struct pc_why *w) {
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < 3; i++) {
        pthread_join(churners[i].t, NULL);
        PC_EXPECT(w, !churners[i].w.text[0], "churn thread %u: %s", i, churners[i].w.text);
    }
}

enum { FORKS = 20, QUICK_FORKS = 100 };

/* Waits for the child of fork number round and checks how it ended; false if fork failed. */
static bool reap_child(struct pc_why *w, pid_t pid, const char *label, unsigned round) {
    PC_EXPECT(w, pid > 0, "fork failed: %s", strerror(errno));
    if (pid < 0)
        return false;
    int status = 0;
    PC_EXPECT(w, waitpid(pid, &status, 0) == pid, "waitpid failed");
    char what[64];
    snprintf(what, sizeof what, "%s %u", label, round);
    describe_status(w, what, status);
    return true;
}

static void check_fork_while_threads_allocate(const char *name) {
    struct pc_why w = {{0}};
    start_churners(&w);
    unsigned long before_forks = churn_total(churners, 3);
    for (unsigned round = 0; round < FORKS && !w.text[0]; round++) { /* a hung child costs 10 s: stop at one */
        struct pc_block before[2] = {{malloc(70000), 70000, 200 + round}, {malloc(40), 40, 220 + round}};
        if (!before[0].p || !before[1].p) {
            PC_EXPECT(&w, 0, "malloc before fork returned NULL");
            break;
        }
        pc_fill(before[0].p, 70000, 200 + round);
        pc_fill(before[1].p, 40, 220 + round);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(fork_child(round, before));
        if (!reap_child(&w, pid, "child of fork", round))
            break;
        verify_and_free(&w, "block of the parent after fork", before[0].p, 70000, 200 + round);
        verify_and_free(&w, "block of the parent after fork", before[1].p, 40, 220 + round);
        nanosleep(&(struct timespec){0, 500000 + (round % 7) * 300000}, NULL); /* the next fork lands elsewhere in their work */
    }
    /* many quick forks, each child allocating one block of each kind at once: a lock held
     * across fork by any of the threads (cache refill, arena, pool) hangs it */
    for (unsigned round = 0; round < QUICK_FORKS && !w.text[0]; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            static const size_t sizes[3] = {6 * MIB + 1, 200000, 100};
            for (unsigned i = 0; i < 3; i++) {
                unsigned char *p = malloc(sizes[i]);
                if (!p)
                    _exit(3 + i);
                p[0] = p[sizes[i] - 1] = 1;
                free(p);
            }
            _exit(0);
        }
        if (!reap_child(&w, pid, "child of quick fork", round))
            break;
    }
    unsigned long after_forks = churn_total(churners, 3);
    stop_churners(&w);
    PC_EXPECT(&w, after_forks > before_forks + 1000,
              "the other threads hardly allocated during the forks (%lu allocations): not a real test",
              after_forks - before_forks);
    pc_report(name, w.text);
}

/* A fork child runs only the forking thread: the cache slots of the parent's other threads are
 * free again there (port/host.c's child handler), so the child's own threads get low slots. */
enum { SLOT_HOLDERS = 40 };
static unsigned holders_ready;
static pthread_barrier_t holders_release;

static void *slot_holder(void *arg) {
    (void)arg;
    free(malloc(64)); /* takes a slot, kept until the thread ends */
    unsigned core = ~0u;
    thread_core(&core);
    __atomic_add_fetch(&holders_ready, 1, __ATOMIC_RELEASE);
    pthread_barrier_wait(&holders_release);
    return (void *)(uintptr_t)core;
}

static void check_fork_child_frees_other_slots(const char *name) {
    struct pc_why w = {{0}};
    pthread_t holders[SLOT_HOLDERS];
    pthread_barrier_init(&holders_release, NULL, SLOT_HOLDERS + 1);
    for (unsigned i = 0; i < SLOT_HOLDERS; i++)
        if (pthread_create(&holders[i], NULL, slot_holder, NULL) != 0) {
            PC_EXPECT(&w, 0, "pthread_create failed");
            abort(); /* the barrier would wait for ever */
        }
    for (int waited = 0; __atomic_load_n(&holders_ready, __ATOMIC_ACQUIRE) < SLOT_HOLDERS && waited < 10000; waited++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        unsigned slot = new_thread_slot();
        void *big = malloc(3 * MIB), *small = malloc(40);
        int ok = slot < SLOT_HOLDERS / 2 && big && small;
        free(big);
        free(small);
        _exit(ok ? 0 : 10 + (slot > 400 ? 200 : (int)slot / 2)); /* the status carries slot / 2 */
    }
    pthread_barrier_wait(&holders_release);
    int status = 0;
    PC_EXPECT(&w, pid > 0 && waitpid(pid, &status, 0) == pid, "fork or waitpid failed");
    PC_EXPECT(&w, WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "a new thread in the fork child got cache slot %d or so (exit status %d): the slots of the "
              "parent's %d other threads stayed taken there",
              WIFEXITED(status) && WEXITSTATUS(status) >= 10 ? (WEXITSTATUS(status) - 10) * 2 : -1,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, SLOT_HOLDERS);
    unsigned highest = 0;
    for (unsigned i = 0; i < SLOT_HOLDERS; i++) {
        void *ret = NULL;
        pthread_join(holders[i], &ret);
        if ((unsigned)(uintptr_t)ret != ~0u && (unsigned)(uintptr_t)ret > highest)
            highest = (unsigned)(uintptr_t)ret;
    }
    pthread_barrier_destroy(&holders_release);
    PC_EXPECT(&w, highest >= SLOT_HOLDERS / 2, "the holders' slots reached only %u: not a real test", highest);
    pc_report(name, w.text);
}

static void check_fork_exec(const char *name) {
    struct pc_why w = {{0}};
    start_churners(&w);
    for (int i = 0; i < 5; i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int status = 0;
        PC_EXPECT(&w, pid > 0 && waitpid(pid, &status, 0) == pid, "fork/waitpid failed");
        PC_EXPECT(&w, WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork+exec /bin/true: status 0x%x", status);
    }
    pid_t pid;
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    int status = 0;
    PC_EXPECT(&w, posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0 && waitpid(pid, &status, 0) == pid,
              "posix_spawn /bin/sh failed");
    PC_EXPECT(&w, WIFEXITED(status) && WEXITSTATUS(status) == 3, "posix_spawn sh -c 'exit 3': status 0x%x", status);
    FILE *p = popen("echo preload-popen", "r");
    char line[64] = "";
    PC_EXPECT(&w, p && fgets(line, sizeof line, p) && strcmp(line, "preload-popen\n") == 0, "popen read '%s'", line);
    PC_EXPECT(&w, p && pclose(p) == 0, "pclose failed");
    status = system("exit 4");
    PC_EXPECT(&w, WIFEXITED(status) && WEXITSTATUS(status) == 4, "system('exit 4'): status 0x%x", status);
    stop_churners(&w);
    pc_report(name, w.text);
}

/* ---- giving memory back -------------------------------------------------------------------- */

/* Resident bytes of the process (/proc/self/statm), 0 if unreadable. open/read, not stdio:
 * reading must not allocate, or the blocks stdio frees would be the next malloc_trim's work. */
static size_t resident_bytes(void) {
    char text[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    text[n] = 0;
    char *end;
    strtoul(text, &end, 10); /* size */
    return (size_t)strtoul(end, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

/* glibc's malloc_trim, as the drop-in exports it: a burst of small blocks freed, then one call
 * gives it back (1), and a second call has nothing left (0). Slow-path purging is switched off
 * meanwhile (arenas.purge idle) so that the call, not the decay, does the work. */
static void check_malloc_trim(const char *name) {
    enum { BURST = 64 << 20, LO = 16, HI = 256 };
    struct pc_why w = {{0}};
    int left = wait_single_thread(); /* no other thread's frees between the two calls */
    PC_EXPECT(&w, left == 1, "%d threads alive, expected 1", left);
    size_t cap = BURST / 128 + 1024;
    char **blocks = mmap(NULL, cap * sizeof *blocks, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    PC_EXPECT(&w, blocks != MAP_FAILED, "mmap of the pointer array failed");
    const char *idle = "idle", *sync = "sync";
    PC_EXPECT(&w, pc_bm.ctl && pc_bm.ctl("arenas.purge", NULL, NULL, &idle, sizeof idle) == 0,
              "bm_ctl(arenas.purge) failed");
    if (w.text[0]) {
        pc_report(name, w.text);
        return;
    }
    memset(blocks, 1, cap * sizeof *blocks);
    malloc_trim(0);
    size_t base = resident_bytes(), n = 0, bytes = 0;
    unsigned seed = 1;
    while (bytes < BURST && n < cap) {
        seed = seed * 1103515245u + 12345u;
        size_t size = LO + (seed >> 8) % (HI - LO + 1);
        blocks[n] = malloc(size);
        if (!blocks[n])
            break;
        memset(blocks[n++], 7, size);
        bytes += size;
    }
    size_t peak = resident_bytes();
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    size_t freed = resident_bytes();
    int first = malloc_trim(0);
    size_t trimmed = resident_bytes();
    int second = malloc_trim(0);
    PC_EXPECT(&w, bytes >= BURST, "the burst stopped at %zu bytes", bytes);
    PC_EXPECT(&w, peak - base >= BURST / 2, "the burst added only %zu KiB to the resident set", (peak - base) >> 10);
    PC_EXPECT(&w, freed - base >= BURST / 2, "freeing gave %zu KiB back already (purge:idle)",
              (peak - freed) >> 10);
    PC_EXPECT(&w, first == 1, "malloc_trim(0) = %d after the burst, expected 1", first);
    PC_EXPECT(&w, trimmed < base + BURST / 16, "resident %zu KiB above the baseline after malloc_trim (burst %d KiB)",
              (trimmed - base) >> 10, BURST >> 10);
    PC_EXPECT(&w, second == 0, "malloc_trim(0) = %d called again, expected 0", second);
    printf("  malloc_trim: resident +%zu MiB at the peak, +%zu MiB freed, +%zu MiB after malloc_trim (%d, then %d)\n",
           (peak - base) >> 20, (freed - base) >> 20, trimmed > base ? (trimmed - base) >> 20 : 0, first, second);
    pc_bm.ctl("arenas.purge", NULL, NULL, &sync, sizeof sync);
    munmap(blocks, cap * sizeof *blocks);
    pc_report(name, w.text);
}

/* Under an address-space limit (RLIMIT_AS: ulimit -v), malloc serves most of it: 64 KiB blocks
 * until malloc fails (with ENOMEM), at least 80% of the limit, then all of it freed and served
 * again. The host port used to shrink its reservation by fours after each refusal (a quarter
 * of a 976 MiB limit). Without a finite limit it reports nothing: the runner starts it under
 * one (PRELOAD_CHECK_ONLY=address_space_limit). */
static void check_address_space_limit(const char *name) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
        return;
    struct pc_why w = {{0}};
    enum { BLOCK = 64 << 10 };
    size_t total = 0;
    void *head = NULL;
    for (;;) {
        errno = 0;
        void **p = malloc(BLOCK);
        if (!p) {
            PC_EXPECT(&w, errno == ENOMEM, "malloc failed with errno %d, not ENOMEM", errno);
            break;
        }
        *p = head;
        head = p;
        total += BLOCK;
    }
    size_t limit = (size_t)lim.rlim_cur;
    printf("  address space limit %zu MiB: malloc served %zu MiB in 64 KiB blocks\n", limit >> 20, total >> 20);
    PC_EXPECT(&w, total >= limit / 10 * 8, "malloc served %zu MiB of a %zu MiB address-space limit, under 80%%",
              total >> 20, limit >> 20);
    size_t again = 0;
    for (int round = 0; round < 2; round++) {
        while (head) {
            void *next = *(void **)head;
            free(head);
            head = next;
        }
        if (round)
            break;
        for (size_t got = 0; got < total; got += BLOCK) {
            void **p = malloc(BLOCK);
            if (!p)
                break;
            *p = head;
            head = p;
            again += BLOCK;
        }
    }
    PC_EXPECT(&w, again == total, "after freeing everything malloc served %zu MiB again, %zu MiB before",
              again >> 20, total >> 20);
    PC_EXPECT(&w, !pc_bm.check || pc_bm.check() == 0, "bm_check() failed");
    pc_report(name, w.text);
}

/* ---- end of main and after it ------------------------------------------------------------- */

static void check_heap_consistent(const char *name) {
    struct pc_why w = {{0}};
    int left = wait_single_thread();
    PC_EXPECT(&w, left == 1, "%d threads alive, expected 1", left);
    PC_EXPECT(&w, pc_bm.check, "bm_check is not in the process");
    unsigned bad = pc_bm.check ? pc_bm.check() : 0;
    PC_EXPECT(&w, bad == 0, "bm_check() found %u violations (first report: %s)", bad, pc_first_error());
    pc_report(name, w.text);
}

static struct pc_block for_atexit, for_dtor;

static void after_main_common(struct pc_why *w, struct pc_block *kept) {
    if (kept->p)
        verify_and_free(w, "block kept from main", kept->p, kept->size, kept->seed);
    for (unsigned i = 0; i < 40; i++) {
        size_t n = i % 8 == 7 ? 5 * MIB + i : 10 + i * 333u;
        char *p = malloc(n);
        PC_EXPECT(w, p != NULL, "malloc(%zu) after main returned NULL", n);
        if (!p)
            continue;
        pc_fill(p, n, i);
        char *q = realloc(p, n + 5000);
        PC_EXPECT(w, q && pc_verify(q, n, i) == NOT_FOUND, "realloc after main lost the contents");
        free(q ? q : p);
    }
    char *s = NULL;
    PC_EXPECT(w, asprintf(&s, "after main %d", 1) > 0 && pc_is_ours(s, 3), "asprintf after main failed");
    free(s);
}

static void after_main_atexit(void) {
    if (!pc_wanted("after_main_atexit"))
        return;
    struct pc_why w = {{0}};
    after_main_common(&w, &for_atexit);
    pc_report("after_main_atexit", w.text);
}

__attribute__((destructor)) static void prog_dtor(void) {
    if (!pc_wanted("after_main_dtor"))
        return;
    struct pc_why w = {{0}};
    after_main_common(&w, &for_dtor);
    PC_EXPECT(&w, !pc_bm.check || pc_bm.check() == 0, "bm_check() failed in the program's destructor");
    pc_report("after_main_dtor", w.text);
}

int main(void) {
    pc_main_started = 1;
    alarm(120); /* a hang anywhere (a deadlocked lookup, a lost thread) ends the run */
    setvbuf(stdout, NULL, _IOLBF, 0);

    RUN("allocator_is_baremalloc", check_allocator_identity);
    RUN("libc_internal_allocations_are_ours", check_libc_internal_allocations);
    RUN("before_main_lib_ctor", check_before_main_lib);
    RUN("before_main_prog_ctor", check_before_main_prog);
    RUN("api_calloc_zeroes", check_api_calloc);
    RUN("api_realloc", check_api_realloc);
    RUN("api_aligned", check_api_aligned);
    RUN("api_errors_and_errno", check_api_errors);
    RUN("api_usable_size", check_api_usable_size);
    RUN("dlopen_dlsym_dlerror_cycles", check_dl_cycles);
    RUN("dlsym_rtld_next", check_dlsym_rtld_next);
    RUN("dlopen_in_threads", check_dl_threads);
    RUN("threads_joined", check_threads_joined);
    RUN("threads_detached", check_threads_detached);
    RUN("threads_beyond_cache_slots", check_threads_beyond_slots);
    RUN("thread_key_destructors", check_thread_key_destructors);
    RUN("block_outlives_its_thread", check_block_outlives_thread);
    RUN("thread_slots_recycled", check_thread_slots_recycled);
    RUN("fork_while_threads_allocate", check_fork_while_threads_allocate);
    RUN("fork_exec_spawn_popen_system", check_fork_exec);
    RUN("fork_child_frees_other_slots", check_fork_child_frees_other_slots);
    RUN("thread_slots_after_detached", check_thread_slots_after_detached);
    RUN("thread_slots_after_dlerror", check_thread_slots_after_dlerror);
    RUN("malloc_trim_returns_a_burst", check_malloc_trim);
    RUN("address_space_limit", check_address_space_limit);
    RUN("heap_consistent_at_end", check_heap_consistent);

    /* for the checks after main: blocks to find intact there */
    for_atexit = (struct pc_block){malloc(123456), 123456, 240};
    for_dtor = (struct pc_block){malloc(5 * MIB + 3), 5 * MIB + 3, 241};
    if (for_atexit.p)
        pc_fill(for_atexit.p, for_atexit.size, for_atexit.seed);
    if (for_dtor.p)
        pc_fill(for_dtor.p, for_dtor.size, for_dtor.seed);
    atexit(after_main_atexit);
    return pc_failed() ? 1 : 0;
}
