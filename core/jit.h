/* jit: the block translator's interface to the run loop (core/cpu.c) and the decoded-code cache
 * (core/cpu_mmu.c). Blocks are translated per guest-physical page from the page's bytes, start
 * at an instruction the run loop reaches through its page lookup, and end at a branch, a jump,
 * the page's end or before an instruction the translator leaves to the interpreter. They keep
 * no virtual address: the entry pc is an argument, so satp and SFENCE.VMA need not drop them. */
#ifndef LEMU_JIT_H
#define LEMU_JIT_H

#include <stdint.h>

#include "cpu_int.h"

enum {
  JIT_NONE = -1,   /* no block at this pc: the interpreter runs it */
  JIT_CONT = 0,    /* ran; c->pc and c->left updated: continue at the run loop's top */
  JIT_INTERP = 1,  /* ran (maybe nothing); the instruction at c->pc (blocks chain, so maybe in
                      another page) is the interpreter's (untranslated, a TLB miss, or too
                      little budget left) */
};

int jit_available(void);
/* Runs the block at pc (c->pc and c->left synced), the instruction at page offset pc & 0xfff of
 * dp, whose host bytes are at host; translates it once it is hot. */
int jit_exec(cpu *c, dpage *dp, const uint8_t *host, uint64_t pc);
/* The decoded-code cache dropped bytes [lo, hi) of dp's page, or the whole page (free). */
void jit_page_invalidate(dpage *dp, uint32_t lo, uint32_t hi);
void jit_page_free(dpage *dp);
/* A decoded-code cache's code memory (cpu_cc_jit), freed with the cache. */
void jit_code_free(struct jit_code *j);
/* The cache dropped every page (FENCE.I, cache full), so no table points into the code memory
 * any more: it starts over, so that what it holds is what ran since (never while a block runs). */
void jit_code_reset(struct jit_code *j);

#endif
