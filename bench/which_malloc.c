/*
 * Prints the shared object that the process's malloc and free resolve to, so the runner can
 * confirm that LD_PRELOAD really replaced the allocator (a missing or broken preload falls
 * back to glibc silently).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* dlsym(RTLD_DEFAULT) searches in the same order as the program's own symbol binding, so it
 * finds the definition the program's calls go to. */
static const char *object_defining(const char *symbol)
{
    void *address = dlsym(RTLD_DEFAULT, symbol);
    Dl_info info;
    if (address && dladdr(address, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}

int main(void)
{
    free(malloc(32)); /* the allocator has initialised itself, as in any workload */
    printf("malloc=%s free=%s\n", object_defining("malloc"), object_defining("free"));
    return 0;
}
