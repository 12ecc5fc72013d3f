/* cpu: one RISC-V hart, RV64IMAFDC + Zicsr + Zifencei + Zihintpause + Zba/Zbb/Zbc/Zbs + Sstc,
 * M/S/U modes, Sv39/Sv48/Sv57, debug triggers, per the ratified privileged specification. The
 * machine (board/machine.c) owns harts and calls cpu_run in slices on the loop; devices raise
 * interrupts with cpu_set_irq. A hart touches nothing but its bus and the callbacks below, so it
 * can later run on a worker thread with the machine marshalling those. */
#ifndef LEMU_CPU_H
#define LEMU_CPU_H

#include <stdint.h>

#include "bus.h"

typedef struct cpu cpu;

/* mip bits devices drive (privileged spec numbering). */
enum {
  CPU_IRQ_SSIP = 1u << 1, CPU_IRQ_MSIP = 1u << 3,
  CPU_IRQ_STIP = 1u << 5, CPU_IRQ_MTIP = 1u << 7,
  CPU_IRQ_SEIP = 1u << 9, CPU_IRQ_MEIP = 1u << 11,
};

/* Why cpu_run returned. */
enum cpu_stop {
  CPU_BUDGET,       /* executed the whole budget */
  CPU_WFI,          /* parked in WFI with no enabled interrupt pending: run again after cpu_set_irq */
  CPU_HALT,         /* stopped by a hook (poweroff, HTIF exit): see cpu_halt */
  CPU_YIELD,        /* WFI with an enabled interrupt pending that the hart cannot take yet: it
                       is spinning in a wait loop; resumes after the WFI */
};

typedef struct cpu_hooks {
  void *ud;
  /* The value of the time CSR and of CLINT's mtime, in timebase ticks. */
  uint64_t (*time)(void *ud);
  /* ECALL from S-mode when the machine serves SBI itself (no firmware in M-mode). Returns 1 if it
   * handled the call (a0/a1 set, pc advanced by the CPU), 0 to take the architectural trap. */
  int (*sbi)(void *ud, cpu *c);
} cpu_hooks;

cpu *cpu_new(bus *b, int hartid, const cpu_hooks *hooks);
void cpu_free(cpu *c);
/* Reset state: M-mode, pc, everything else as the privileged spec's reset. */
void cpu_reset(cpu *c, uint64_t pc);
/* Executes up to budget instructions; *executed is how many retired. */
enum cpu_stop cpu_run(cpu *c, uint64_t budget, uint64_t *executed);
/* Sets (level 1) or clears (level 0) bits of mip driven by a device; wakes a hart in WFI. */
void cpu_set_irq(cpu *c, uint32_t mask, int level);
/* Sets or clears software-writable mip bits (SSIP, STIP, SEIP) as M-mode software would, for an
 * SBI in C; the device lines are untouched. */
void cpu_set_soft_irq(cpu *c, uint32_t mask, int level);
/* Sstc: re-evaluates the hart's stimecmp comparator against the time hook and returns
 * cpu_timer_next. cpu_timer_next: the time at which the comparator will next raise STIP
 * (UINT64_MAX: not armed, or already raised), without re-evaluating. */
uint64_t cpu_timer_poll(cpu *c);
uint64_t cpu_timer_next(const cpu *c);
/* 1 if an interrupt enabled in mie is pending: what ends a WFI, whatever the global enables. */
int cpu_irq_pending(const cpu *c);
/* Stops the current cpu_run at the next instruction boundary with CPU_HALT. */
void cpu_halt(cpu *c);
/* Execution engine: the interpreter (the reference, every host) or the block translator to
 * x86-64 (core/jit.c; x86-64 hosts only), which runs translated blocks and leaves everything it
 * does not translate to the interpreter. Returns 0, or -1 if this host has no translator. */
enum { CPU_ACCEL_INTERP, CPU_ACCEL_JIT };
int cpu_set_accel(cpu *c, int accel);
int cpu_accel_available(int accel);
uint64_t cpu_jit_insns(const cpu *c);            /* instructions run in translated blocks */
/* Drops decoded instructions covering [pa, pa+len) (code written by DMA or a loader). */
void cpu_invalidate(cpu *c, uint64_t pa, uint64_t len);

/* Register access for SBI, loaders and debugging. x0 reads 0. */
uint64_t cpu_get_x(const cpu *c, int r);
void cpu_set_x(cpu *c, int r, uint64_t v);
uint64_t cpu_get_pc(const cpu *c);
void cpu_set_pc(cpu *c, uint64_t pc);
int cpu_get_priv(const cpu *c);                  /* 0 U, 1 S, 3 M */
void cpu_set_priv(cpu *c, int priv);
/* CSR access without side effects checks (for SBI and reset code); -1 if csr does not exist. */
int cpu_get_csr(cpu *c, int csr, uint64_t *v);
int cpu_set_csr(cpu *c, int csr, uint64_t v);
uint64_t cpu_instret(const cpu *c);
int cpu_hartid(const cpu *c);

#endif
