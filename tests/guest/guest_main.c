/* The guest test program every QEMU board runs: single-core cases, then the SMP stress and the
 * kernel API cases on every core. */
#include "baremalloc.h"
#include "board.h"
#include "guest.h"

static unsigned passed, failed;

static unsigned problems(void) {
    return guest_failure_count() + guest_unexpected_allocator_errors();
}

static void run_case(const char *name, void (*test)(void)) {
    unsigned before = problems();
    test();
    bool ok = problems() == before;
    board_printf("%s %s\n", ok ? "ok  " : "FAIL", name);
    if (ok)
        passed++;
    else
        failed++;
}

int guest_main(void) {
    board_printf("baremalloc %s guest tests on %s: %u cores, %zu KiB heap\n", BM_VERSION,
                 board_name(), board_core_count(), guest_heap_size() / 1024);
    guest_install_error_hook();
    for (unsigned i = 0; i < api_case_count; i++) /* tests/common/api_cases.c */
        run_case(api_cases[i].name, api_cases[i].fn);
    run_case("SMP stress", guest_smp_stress);
    run_case("kernel: object caches on every core", guest_kernel_objcaches);
    if (guest_active_cores() > 1) /* one core adds while the others allocate */
        run_case("kernel: bm_add_source while the other cores allocate", guest_kernel_add_source);
    run_case("kernel: BM_MALLOCX_NOGROW on every core", guest_kernel_nogrow);
    guest_smp_finish();
    board_printf("%u passed, %u failed\n", passed, failed);
    return failed != 0;
}
