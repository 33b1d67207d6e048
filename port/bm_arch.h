/*
 * Per-architecture inline pieces of the port: interrupt masking and the spin-wait hint.
 * Chosen by the compiler's own target macros, so no board or build flag is needed. A hosted
 * port (BM_PORT_HOST) never masks: each thread owns its core slot, and signal handlers that
 * allocate are outside the contract, as with any libc malloc.
 */
#ifndef BM_ARCH_H
#define BM_ARCH_H

#include <stdint.h>

#if defined(BM_PORT_HOST)
#include "arch/host.h"
#elif defined(__aarch64__)
#include "arch/aarch64.h"
#elif defined(__arm__) && defined(__ARM_ARCH_PROFILE) && (__ARM_ARCH_PROFILE == 'M')
#include "arch/armv7m.h"
#elif defined(__arm__)
#include "arch/armv7a.h"
#elif defined(__x86_64__)
#include "arch/x86_64.h"
#elif defined(__riscv)
#include "arch/riscv64.h"
#else
#error "baremalloc: no port/arch header for this architecture"
#endif

#endif /* BM_ARCH_H */
