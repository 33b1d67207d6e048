/*
 * The real-time profile's documented bounds (docs/REALTIME.md), in instructions from the
 * call to its return, for the default Cortex-M3 build: the small geometry, BM_REALTIME=1,
 * hardening level 1, the board's -O2, one core. bench/guest/run.py fails when a measured
 * maximum exceeds one, and tests/firmware/isr_stress.c fails when interrupts stay masked
 * longer than BM_RT_BOUND_MASKED. docs/REALTIME.md derives each from its formula.
 */
#ifndef BM_REALTIME_BOUNDS_H
#define BM_REALTIME_BOUNDS_H

/* Any malloc, aligned allocation, or the allocation inside calloc or realloc, that does not
 * fail and asks for at most BM_LARGE_MAX bytes (14 KiB): a large or aligned block whose arena
 * takes a chunk back from the pool and sets it up (only after huge blocks were freed: their
 * chunks go back to the pool); without huge blocks, the refill that creates a small run (850). */
#define BM_RT_BOUND_MALLOC 1100u
/* Any free (bm_free, free, bm_free_sized) of a block of at most BM_LARGE_MAX bytes: a sized
 * free the fast path cannot finish, into a full bin, emptying the block's run and merging it
 * with both neighbours. */
#define BM_RT_BOUND_FREE 600u
/* calloc zeroes, realloc copies: instructions per 16 bytes on top of the bounds above. */
#define BM_RT_BOUND_ZERO_PER_16_BYTES 6u
#define BM_RT_BOUND_COPY_PER_16_BYTES 12u
/* The longest stretch with interrupts masked, any call (huge blocks and the failed-allocation
 * retry included: they unmask between chunks and between batches). */
#define BM_RT_BOUND_MASKED 1100u

#endif
