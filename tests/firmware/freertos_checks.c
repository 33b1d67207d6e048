/*
 * The FreeRTOS heap API (port/freertos.c) on the Cortex-M firmware, after newlib and the guest
 * have used the allocator: FreeRTOS's documented semantics where a firmware can see them.
 */
#include <stdint.h>
#include <stdio.h>

#include "baremalloc.h"
#include "firmware.h"
#include "freertos_heap.h"

static uint8_t late_region[4096];

void freertos_checks(void) {
    /* heap_5: regions are defined before the first allocation; here the allocator already runs. */
    HeapRegion_t regions[] = {{late_region, sizeof late_region}, {NULL, 0}};
    vPortDefineHeapRegions(regions);
    firmware_check(bm_freertos_regions_status() == BM_EBUSY,
                   "FreeRTOS: vPortDefineHeapRegions after the allocator started is refused (BM_EBUSY)");

    HeapStats_t before, during, after;
    vPortGetHeapStats(&before);
    size_t free_before = xPortGetFreeHeapSize();
    uint8_t *block = pvPortMalloc(1000);
    uint32_t *zeroed = pvPortCalloc(32, sizeof *zeroed);
    bool zero = zeroed != NULL;
    for (unsigned i = 0; zero && i < 32; i++)
        zero = zeroed[i] == 0;
    size_t free_during = xPortGetFreeHeapSize();
    vPortGetHeapStats(&during);
    firmware_check(block != NULL && zero && free_before - free_during >= 1000 + 32 * sizeof *zeroed,
                   "FreeRTOS: pvPortMalloc and pvPortCalloc serve, zeroed, and the free heap falls by their size");
    firmware_check(during.xNumberOfSuccessfulAllocations == before.xNumberOfSuccessfulAllocations + 2 &&
                       during.xAvailableHeapSpaceInBytes == free_during &&
                       xPortGetMinimumEverFreeHeapSize() <= free_during,
                   "FreeRTOS: vPortGetHeapStats counts the allocations, agrees with the free size, minimum ever <= now");
    vPortFree(block);
    vPortFree(zeroed);
    vPortFree(NULL);
    vPortGetHeapStats(&after);
    firmware_check(after.xNumberOfSuccessfulFrees == before.xNumberOfSuccessfulFrees + 2 &&
                       xPortGetFreeHeapSize() >= free_during + 1000,
                   "FreeRTOS: vPortFree gives the bytes back and counts the frees (NULL ignored)");
    firmware_check(pvPortMalloc(0) == NULL, "FreeRTOS: pvPortMalloc(0) is NULL, as heap_4");
    printf("FreeRTOS heap: %lu B free, minimum ever %lu B, %lu allocations, %lu frees\n",
           (unsigned long)xPortGetFreeHeapSize(), (unsigned long)xPortGetMinimumEverFreeHeapSize(),
           (unsigned long)after.xNumberOfSuccessfulAllocations, (unsigned long)after.xNumberOfSuccessfulFrees);
}
