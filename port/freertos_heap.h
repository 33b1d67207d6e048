/*
 * FreeRTOS heap interface for port/freertos.c, the baremalloc heap that replaces heap_4.c or
 * heap_5.c.
 *
 * A real FreeRTOS build has these declarations in portable.h: build with
 * -DBM_FREERTOS_HAVE_PORTABLE_H and this header includes FreeRTOS.h (which includes
 * portable.h) instead of declaring them itself. Without it (no FreeRTOS sources, as in the host
 * test), the types and functions are declared here exactly as FreeRTOS documents them.
 */
#ifndef BM_FREERTOS_HEAP_H
#define BM_FREERTOS_HEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef BM_FREERTOS_HAVE_PORTABLE_H
#include "FreeRTOS.h" /* FreeRTOSConfig.h, then portable.h: HeapRegion_t, HeapStats_t, the heap API */
#else

#ifdef __cplusplus
extern "C" {
#endif

/* One memory region of the heap (heap_5): an array of them ends with { NULL, 0 }. */
typedef struct HeapRegion {
    uint8_t *pucStartAddress;
    size_t xSizeInBytes;
} HeapRegion_t;

/* What vPortGetHeapStats reports (port/freertos.c says how each field maps onto baremalloc). */
typedef struct xHeapStats {
    size_t xAvailableHeapSpaceInBytes;
    size_t xSizeOfLargestFreeBlockInBytes;
    size_t xSizeOfSmallestFreeBlockInBytes;
    size_t xNumberOfFreeBlocks;
    size_t xMinimumEverFreeBytesRemaining;
    size_t xNumberOfSuccessfulAllocations;
    size_t xNumberOfSuccessfulFrees;
} HeapStats_t;

void vPortDefineHeapRegions(const HeapRegion_t *const pxHeapRegions);
void vPortGetHeapStats(HeapStats_t *pxHeapStats);
void *pvPortMalloc(size_t xWantedSize);
void *pvPortCalloc(size_t xNum, size_t xSize);
void vPortFree(void *pv);
void vPortInitialiseBlocks(void);
size_t xPortGetFreeHeapSize(void);
size_t xPortGetMinimumEverFreeHeapSize(void);
void xPortResetHeapMinimumEverFreeHeapSize(void);
void vPortHeapResetState(void);

#ifdef __cplusplus
}
#endif

#endif /* BM_FREERTOS_HAVE_PORTABLE_H */

#ifdef __cplusplus
extern "C" {
#endif

/* Not FreeRTOS API: what the last vPortDefineHeapRegions did, since heap_5's configASSERT has
 * no counterpart here. 0: its regions are the heap; BM_ENOENT: never called; BM_EBUSY: refused,
 * the heap already existed (a second call, or a call after the first allocation); BM_EINVAL:
 * refused, a bad list (NULL, no region, more than BM_FREERTOS_MAX_REGIONS, a region bm_init
 * refuses); BM_ENOMEM: the regions cannot hold the allocator's metadata. Any context. */
int bm_freertos_regions_status(void);

#ifdef __cplusplus
}
#endif

#endif /* BM_FREERTOS_HEAP_H */
