/*
 * A newlib program as an integrator writes one: printf (whose stdio buffers newlib allocates
 * through _malloc_r), strdup and malloc. tools/check-link.sh links it with `make lib`'s
 * baremalloc_newlib.o and libbaremalloc.a and proves with tools/check-newlib-malloc.sh, on the
 * map and on the ELF, that newlib's own allocator was not linked.
 */
#define _DEFAULT_SOURCE /* strdup under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *copy = strdup("baremalloc");
    void *block = malloc(100);
    printf("%s %p\n", copy, block);
    free(block);
    free(copy);
    return 0;
}
