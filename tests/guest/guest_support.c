/* Expectations, the counting error hook and heap facts for the guest tests: the guest side of
 * tests/common/cases.h. */
#include "baremalloc.h"
#include "board.h"
#include "guest.h"

#define MAX_REPORTED_FAILURES 30 /* after this many, failures are only counted */

extern char __bm_heap_start[], __bm_heap_end[];

static unsigned failures;

bool case_expect(bool ok, const char *file, int line, const char *what) {
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

void case_errors_begin(void) {
    window_start = __atomic_load_n(&hook_calls, __ATOMIC_RELAXED);
    __atomic_store_n(&hook_expected, true, __ATOMIC_RELAXED);
}

bool case_errors_end(unsigned expected) {
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

size_t guest_heap_size(void) { return (size_t)(__bm_heap_end - __bm_heap_start); }

size_t case_heap_size(void) { return guest_heap_size(); }

size_t case_heap_limit(void) { return guest_heap_size(); }

unsigned case_failure_count(void) { return guest_failure_count(); }

/* Serialised among themselves (the SMP stress reports corruption from any core). */
static bm_lock_t note_lock = BM_LOCK_INITIALIZER;

void case_note(const char *format, ...) {
    va_list args;
    va_start(args, format);
    bm_irq_state_t irq = bm_port_irq_save();
    bm_lock_acquire(&note_lock);
    board_vprintf(format, args);
    bm_lock_release(&note_lock);
    bm_port_irq_restore(irq);
    va_end(args);
}
