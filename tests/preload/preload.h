/*
 * Shared by preload_check (the program) and libpreload_ctor_lib.so (a shared library it links,
 * whose constructor runs before the program's): one tally of named checks, so constructors,
 * main, atexit handlers and destructors all report into it, and helpers both sides use.
 *
 * The tally lives in the library because the library's destructor is the last user code to
 * run at exit: it prints the closing "N passed, N failed" and turns any failure found after
 * main returned into a non-zero exit status.
 *
 * Environment:
 *   PRELOAD_CHECK_ONLY=a,b   run and report only these checks (the runner's self-tests)
 *   PRELOAD_CHECK_FAIL=a     report check a as failed whatever it found (proves that a failure
 *                            there reaches the summary and the exit status)
 */
#ifndef PRELOAD_H
#define PRELOAD_H

#include <stddef.h>
#include <stdio.h>

#include "baremalloc.h"

/* baremalloc's own API, looked up with dlsym in the preloaded allocator (NULL when it is not
 * preloaded): the program does not link libbaremalloc.so, it only finds it in the process. */
struct pc_bm {
    unsigned (*check)(void);
    size_t (*usable_size)(const void *);
    int (*ctl)(const char *, void *, size_t *, const void *, size_t);
    bm_error_hook_t (*set_error_hook)(bm_error_hook_t);
};
extern struct pc_bm pc_bm;

/* Is check `name` selected (PRELOAD_CHECK_ONLY)? */
int pc_wanted(const char *name);
/* Reports check `name`: why == NULL or "" prints "ok name", else "FAIL name: why". */
void pc_report(const char *name, const char *why);
unsigned pc_failed(void);

/* The allocator's error hook (installed by the library's constructor) counts reports; a
 * report means a free or size query got a pointer that is not a live baremalloc block. */
unsigned pc_error_reports(void);
const char *pc_first_error(void);

/* Collects the first problem of a check. */
struct pc_why {
    char text[512];
};
#define PC_EXPECT(w, cond, ...)                                                          \
    do {                                                                                 \
        if (!(cond) && !(w)->text[0])                                                    \
            snprintf((w)->text, sizeof (w)->text, __VA_ARGS__);                          \
    } while (0)

/* Pattern helpers: byte i of a block filled with seed s. pc_verify returns the offset of the
 * first wrong byte, or (size_t)-1 if every byte is right. */
void pc_fill(void *p, size_t n, unsigned seed);
size_t pc_verify(const void *p, size_t n, unsigned seed);
/* All n bytes zero? */
int pc_all_zero(const void *p, size_t n);
/* Is p a live baremalloc block of at least n bytes (asked without error reports)? */
int pc_is_ours(const void *p, size_t n);

/* What the library's constructor allocated before main: blocks to check and free in main,
 * and the first problem it saw itself ("" if none). */
struct pc_block {
    void *p;
    size_t size;
    unsigned seed;
};
#define PC_LIB_BLOCKS 16
extern struct pc_block pc_lib_blocks[PC_LIB_BLOCKS];
extern unsigned pc_lib_nblocks;
extern struct pc_why pc_lib_ctor_why;
extern int pc_lib_ctor_ran;
/* Set by main on entry: a constructor that sees it set did not run before main. */
extern int pc_main_started;

#endif
