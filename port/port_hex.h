/*
 * The one hex formatter of the ports' error reports (port/host.c, port/defaults.c): "0x" and
 * 2 * sizeof(uintptr_t) lower-case digits, leading zeros kept. Static inline, so it defines no
 * symbol and costs a link only where a report is compiled in. Not part of the port contract.
 */
#ifndef BM_PORT_HEX_H
#define BM_PORT_HEX_H

#include <stdint.h>

#define BM_PORT_HEX_SIZE (2 + 2 * sizeof(uintptr_t) + 1) /* "0x", the digits, the NUL */

/* O(digits). Writes value into out (BM_PORT_HEX_SIZE bytes) and returns out; every value is
 * valid. No lock, no call: any context, the error paths under allocator locks included. */
static inline const char *bm_port_hex(char out[BM_PORT_HEX_SIZE], uintptr_t value) {
    unsigned n = 2 + 2 * sizeof value;
    out[0] = '0';
    out[1] = 'x';
    out[n] = 0;
    for (unsigned i = n; i > 2; i--, value >>= 4)
        out[i - 1] = "0123456789abcdef"[value & 15];
    return out;
}

#endif /* BM_PORT_HEX_H */
