/*
 * Stand-in for core/ while it is being written: the public bm_* API on a binary buddy
 * allocator over the board heap, masked with the port's PRIMASK helpers exactly as the real
 * core masks. It lets the newlib glue, the link-map check and the SysTick machinery be proven
 * before core/ exists. board.mk links it only while core/ has no sources.
 */
#include <stdint.h>

#include "baremalloc.h"
#include "bm_port.h"

#define STUB_USED 0xB10Cu
#define STUB_FREE 0xF4EEu
#define STUB_LG_MIN 4  /* 16 bytes: a free block holds its header and two links */
#define STUB_LG_MAX 18 /* the whole 256 KiB heap */
#define STUB_HEADER 8u /* keeps user blocks 8-byte aligned */

/* At the start of every block, and again just before an over-aligned user pointer. */
typedef struct stub_header {
    uint16_t magic;
    uint16_t lg_size;  /* the block is 1 << lg_size bytes */
    uint32_t to_start; /* bytes from this header back to the block start */
} stub_header_t;

typedef struct stub_free {
    stub_header_t header;
    struct stub_free *next, *prev;
} stub_free_t;

extern char __bm_heap_start[], __bm_heap_end[];
static stub_free_t *stub_free_lists[STUB_LG_MAX + 1];
static bool stub_ready;
static int stub_error;

int bm_last_error(void) { return stub_error; }

static void list_push(stub_free_t *block, unsigned lg) {
    block->header = (stub_header_t){STUB_FREE, (uint16_t)lg, 0};
    block->prev = NULL;
    block->next = stub_free_lists[lg];
    if (block->next != NULL)
        block->next->prev = block;
    stub_free_lists[lg] = block;
}

static void list_remove(stub_free_t *block, unsigned lg) {
    if (block->prev != NULL)
        block->prev->next = block->next;
    else
        stub_free_lists[lg] = block->next;
    if (block->next != NULL)
        block->next->prev = block->prev;
}

static unsigned lg_for(size_t bytes) {
    unsigned lg = STUB_LG_MIN;
    while (((size_t)1 << lg) < bytes)
        lg++;
    return lg;
}

/* A block of 1 << lg bytes, split from the smallest larger free one, or NULL. Masked. */
static char *take_block(unsigned lg) {
    if (!stub_ready) {
        stub_ready = true;
        list_push((stub_free_t *)(void *)__bm_heap_start, lg_for((size_t)(__bm_heap_end - __bm_heap_start)));
    }
    unsigned have = lg;
    while (have <= STUB_LG_MAX && stub_free_lists[have] == NULL)
        have++;
    if (have > STUB_LG_MAX)
        return NULL;
    stub_free_t *block = stub_free_lists[have];
    list_remove(block, have);
    while (have > lg) { /* keep the upper halves free */
        have--;
        list_push((stub_free_t *)(void *)((char *)block + ((size_t)1 << have)), have);
    }
    block->header = (stub_header_t){STUB_USED, (uint16_t)lg, 0};
    return (char *)block;
}

/* Give a block back, merging it with its free buddy as far as possible. Masked. */
static void give_block(char *start, unsigned lg) {
    while (lg < STUB_LG_MAX) {
        size_t offset = (size_t)(start - __bm_heap_start);
        stub_free_t *buddy = (stub_free_t *)(void *)(__bm_heap_start + (offset ^ ((size_t)1 << lg)));
        if ((char *)buddy >= __bm_heap_end || buddy->header.magic != STUB_FREE || buddy->header.lg_size != lg)
            break;
        list_remove(buddy, lg);
        buddy->header.magic = 0;
        if ((char *)buddy < start)
            start = (char *)buddy;
        lg++;
    }
    list_push((stub_free_t *)(void *)start, lg);
}

void *bm_aligned_alloc(size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        stub_error = BM_EINVAL;
        return NULL;
    }
    if (alignment < STUB_HEADER)
        alignment = STUB_HEADER;
    if (alignment > ((size_t)1 << STUB_LG_MAX) || size > ((size_t)1 << STUB_LG_MAX) - alignment) {
        stub_error = BM_ENOMEM;
        return NULL;
    }
    /* The user block starts at most alignment bytes into the block (header included). */
    unsigned lg = lg_for(size + alignment);
    bm_irq_state_t irq = bm_port_irq_save();
    char *start = take_block(lg);
    bm_port_irq_restore(irq);
    if (start == NULL) {
        stub_error = BM_ENOMEM;
        return NULL;
    }
    uintptr_t user = ((uintptr_t)start + STUB_HEADER + alignment - 1) & ~(uintptr_t)(alignment - 1);
    stub_header_t *header = (stub_header_t *)(user - STUB_HEADER);
    *header = (stub_header_t){STUB_USED, (uint16_t)lg, (uint32_t)((char *)header - start)};
    return (void *)user;
}

void *bm_malloc(size_t size) { return bm_aligned_alloc(STUB_HEADER, size); }

static stub_header_t *header_of(const void *ptr) {
    stub_header_t *header = (stub_header_t *)((uintptr_t)ptr - STUB_HEADER);
    if ((char *)ptr < __bm_heap_start || (char *)ptr >= __bm_heap_end || header->magic != STUB_USED) {
        bm_port_error("stub: not a live block", ptr);
        return NULL;
    }
    return header;
}

void bm_free(void *ptr) {
    if (ptr == NULL)
        return;
    stub_header_t *header = header_of(ptr);
    if (header == NULL)
        return;
    char *start = (char *)header - header->to_start;
    unsigned lg = header->lg_size;
    header->magic = 0;
    bm_irq_state_t irq = bm_port_irq_save();
    give_block(start, lg);
    bm_port_irq_restore(irq);
}

void bm_free_sized(void *ptr, size_t size) {
    (void)size;
    bm_free(ptr);
}

size_t bm_usable_size(const void *ptr) {
    if (ptr == NULL)
        return 0;
    stub_header_t *header = header_of(ptr);
    if (header == NULL)
        return 0;
    return ((size_t)1 << header->lg_size) - header->to_start - STUB_HEADER;
}

void *bm_calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) {
        stub_error = BM_ENOMEM;
        return NULL;
    }
    char *block = bm_malloc(n * size);
    if (block != NULL)
        __builtin_memset(block, 0, n * size);
    return block;
}

void *bm_realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return bm_malloc(size);
    size_t old = bm_usable_size(ptr);
    if (old == 0)
        return NULL;
    char *block = bm_malloc(size);
    if (block == NULL)
        return NULL;
    __builtin_memcpy(block, ptr, old < size ? old : size);
    bm_free(ptr);
    return block;
}

int bm_posix_memalign(void **memptr, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return BM_EINVAL;
    void *block = bm_aligned_alloc(alignment, size);
    if (block == NULL)
        return BM_ENOMEM;
    *memptr = block;
    return 0;
}

/* Every free block lies in the heap, on its size's boundary, and is marked free. */
unsigned bm_check(void) {
    unsigned violations = 0;
    for (unsigned lg = STUB_LG_MIN; lg <= STUB_LG_MAX; lg++)
        for (stub_free_t *block = stub_free_lists[lg]; block != NULL; block = block->next) {
            size_t offset = (size_t)((char *)block - __bm_heap_start);
            if ((char *)block < __bm_heap_start || (offset & (((size_t)1 << lg) - 1)) != 0 ||
                block->header.magic != STUB_FREE || block->header.lg_size != lg) {
                bm_port_error("stub: free list corrupt", block);
                violations++;
                break;
            }
        }
    return violations;
}

int bm_init(const bm_config_t *config) {
    (void)config;
    return BM_EBUSY;
}

void bm_cache_flush(void) {}

bm_error_hook_t bm_set_error_hook(bm_error_hook_t hook) {
    (void)hook;
    return NULL;
}
