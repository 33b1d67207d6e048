/*
 * A picolibc program (printf, strdup, malloc, calloc, realloc) that hands baremalloc its own
 * heap: tools/check-link.sh links it with `make lib`'s baremalloc_picolibc.o and
 * libbaremalloc.a (--specs=picolibc.specs), proves picolibc's allocator is not in the ELF and
 * runs it under QEMU mps2-an386 (semihosting), where its exit status must be 0.
 */
#define _DEFAULT_SOURCE /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baremalloc.h"

static unsigned char heap[64 * 1024];

int main(void) {
    bm_page_source_t source = {.base = heap, .size = sizeof heap};
    bm_config_t config = {.sources = &source, .nsources = 1};
    int status = bm_init(&config) != 0;
    char *copy = strdup("baremalloc");
    int *zeroed = calloc(16, sizeof *zeroed);
    char *grown = realloc(malloc(10), 5000);
    status |= !copy || !zeroed || !grown || zeroed[15] != 0;
    status |= (unsigned char *)copy < heap || (unsigned char *)copy >= heap + sizeof heap;
    printf("%s %p %s\n", copy, (void *)grown, status ? "FAIL" : "ok");
    free(copy);
    free(zeroed);
    free(grown);
    fflush(stdout);
    _Exit(status); /* picolibc's exit path does not end QEMU's semihosting run: straight out */
}
