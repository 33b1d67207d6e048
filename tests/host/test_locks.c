/* The debug lock checks (-DBM_DEBUG_LOCKS, port/bm_lock.h) fire on every misuse they promise
 * to catch, each in a child process that must die by the trap after printing the assertion,
 * and stay silent on correct use. Built in the Makefile's debug variant only. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

#ifndef BM_DEBUG_LOCKS
#error "test_locks checks -DBM_DEBUG_LOCKS: build it in the debug variant (TESTS_debug)"
#endif

/* Runs misuse() in a child with stderr captured; true if the child was killed by the trap
 * (SIGILL from ud2 on x86-64, SIGTRAP from brk on AArch64) after writing a report that
 * contains expect. A child that returns, hangs (alarm) or dies otherwise is a failure. */
static int child_traps(void (*misuse)(void), const char *expect) {
    int fds[2];
    if (pipe(fds) != 0)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        alarm(10); /* an undetected self-deadlock spins for ever */
        misuse();
        _exit(0);
    }
    close(fds[1]);
    char out[1024];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int trapped = WIFSIGNALED(status) && (WTERMSIG(status) == SIGILL || WTERMSIG(status) == SIGTRAP);
    int said = strstr(out, "lock assertion failed") != NULL && strstr(out, expect) != NULL;
    if (!trapped || !said)
        fprintf(stderr, "  child: %s %d, wrote \"%s\"\n", WIFSIGNALED(status) ? "signal" : "exit",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out);
    return trapped && said;
}

static bm_lock_t test_lock = BM_LOCK_INITIALIZER;

static void release_unheld(void) { bm_lock_release(&test_lock); }

static void acquire_twice(void) {
    bm_lock_acquire(&test_lock);
    bm_lock_acquire(&test_lock);
}

static void *hold_and_leave(void *arg) {
    (void)arg;
    bm_lock_acquire(&test_lock);
    return NULL;
}

static void release_another_threads(void) {
    pthread_t t;
    pthread_create(&t, NULL, hold_and_leave, NULL);
    pthread_join(t, NULL);
    bm_lock_release(&test_lock); /* held, but by the thread that left */
}

static void assert_held_unheld(void) { bm_lock_assert_held(&test_lock); }

static void assert_not_held_held(void) {
    bm_lock_acquire(&test_lock);
    bm_lock_assert_not_held(&test_lock);
}

TEST(debug_lock_traps_release_by_non_holder) {
    CHECK(child_traps(release_unheld, "does not hold"));
    CHECK(child_traps(release_another_threads, "does not hold"));
}

TEST(debug_lock_traps_self_deadlock) { CHECK(child_traps(acquire_twice, "already holds")); }

TEST(debug_lock_asserts_trap) {
    CHECK(child_traps(assert_held_unheld, "is not held by this core"));
    CHECK(child_traps(assert_not_held_held, "is held by this core"));
}

static void *hold_until_told(void *arg) {
    volatile int *go = arg;
    bm_lock_acquire(&test_lock);
    *go = 1;
    while (*go != 2)
        sched_yield();
    bm_lock_release(&test_lock);
    return NULL;
}

TEST(debug_lock_silent_on_correct_use) {
    bm_lock_assert_not_held(&test_lock);
    CHECK(!bm_lock_acquire(&test_lock));
    bm_lock_assert_held(&test_lock);
    bm_lock_release(&test_lock);
    bm_lock_assert_not_held(&test_lock);
    /* Held by another thread: not held by this one, and this one waits its turn. */
    volatile int go = 0;
    pthread_t t;
    pthread_create(&t, NULL, hold_until_told, (void *)&go);
    while (go != 1)
        sched_yield();
    bm_lock_assert_not_held(&test_lock);
    go = 2;
    bm_lock_acquire(&test_lock);
    bm_lock_assert_held(&test_lock);
    bm_lock_release(&test_lock);
    pthread_join(t, NULL);
}

/* The contract's rule for the error hook (include/baremalloc.h, port/bm_port.h): it must not
 * call the allocator, because it may run with a lock held. This one does, from a report the
 * validator makes with every lock held (a cache bin's constant corrupted on purpose): the
 * nested bm_check then tries to take base_lock again. A plain build spins there for ever; the
 * debug build names the self-deadlock. (Bad frees are classified before any lock is taken, so
 * they no longer serve as the example.) */
static void hook_calls_allocator(const char *msg, const void *addr) {
    (void)msg, (void)addr;
    bm_check();
}

static void validator_report_with_allocating_hook(void) {
    bm_free(bm_malloc(8)); /* this thread's cache exists, class 0 has slots */
    (*bm_core_local())->bins[0].div_magic ^= 1;
    bm_set_error_hook(hook_calls_allocator);
    bm_check(); /* reports the corrupt constant with every lock held */
}

TEST(debug_lock_catches_error_hook_calling_allocator) {
    CHECK(child_traps(validator_report_with_allocating_hook, "already holds"));
    /* And in this process, with the counting hook, the same bad free is only reported. */
    char *large = bm_malloc(BM_DEFAULT_TCACHE_MAX * 2);
    unsigned before = test_error_reports;
    bm_free(large + BM_PAGE);
    CHECK_EQ(test_error_reports, before + 1);
    bm_free(large);
    CHECK_EQ(bm_check(), 0);
}

int main(void) {
    bm_set_error_hook(test_count_error);
    return test_main();
}

/* Every function named _locked asserts its lock in this build: a bin fill without the arena
 * lock is caught at the call, not by the corruption it would cause later. */
static void bin_fill_without_lock(void) {
    void *p;
    bm_free(bm_malloc(8)); /* initialised, this core's arena exists */
    bm_bin_fill_locked(bm_arena_for_core(bm_this_core()), 0, &p, 1);
}

TEST(debug_lock_catches_locked_function_called_unlocked) {
    CHECK(child_traps(bin_fill_without_lock, "lock is not held by this core"));
}
