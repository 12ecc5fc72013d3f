/* cpu_harness: a minimal machine for the CPU's unit tests — RAM at 0x80000000, a sifive_test
 * finisher at 0x100000, a console byte register at 0x10000000 and a CLINT-like timer at
 * 0x2000000 — that loads an ELF from guest/isa/bin and runs one hart until the finisher is
 * written. Time advances with retired instructions, so runs are deterministic. */
#ifndef CPU_HARNESS_H
#define CPU_HARNESS_H

#include <stdint.h>

#include "bus.h"
#include "cpu.h"

typedef struct tmach {
  bus *b;
  cpu *c;
  uint8_t *ram;
  uint64_t ramsize;
  uint32_t finish;          /* value written to the finisher, 0 if none */
  int finished;
  char out[8192];
  int outn;
  uint64_t time, mtimecmp;
  uint32_t msip;
  uint64_t entry;
  uint64_t executed;
} tmach;

/* The engine tm_new gives its hart (CPU_ACCEL_INTERP unless a test sets it). */
extern int tm_accel;
tmach *tm_new(uint64_t ramsize);
void tm_free(tmach *m);
int tm_load_elf(tmach *m, const char *path);       /* 0 or -1 */
/* Runs until the finisher is written or max instructions ran; returns the finisher value, or
 * 0 on timeout (or 1 if the hart parked in WFI with nothing to wake it). */
uint32_t tm_run(tmach *m, uint64_t max);
/* Loads and runs guest/isa/bin/<name>.elf; prints the console output and a readable verdict
 * ("check N failed") on failure. Returns the finisher value. */
uint32_t tm_run_isa(const char *name, uint64_t max);

#endif
