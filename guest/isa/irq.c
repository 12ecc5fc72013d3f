/* irq: interrupts — machine timer through the CLINT-like device, software interrupt, priority
 * (MSI before MTI), masking by mstatus.MIE and mie, M interrupts always taken from lower modes,
 * delegated supervisor interrupts, WFI waking on a pending enabled interrupt with MIE clear, and
 * vectored mtvec. */
#include "lib.h"

#define MSIP ((volatile u32 *)0x2000000)
#define MTIMECMP ((volatile u64 *)0x2004000)
#define MTIME ((volatile u64 *)0x200bff8)
#define MIE_MTIE (1ul << 7)
#define MIE_MSIE (1ul << 3)
#define MIE_STIE (1ul << 5)
#define MIE_SSIE (1ul << 1)
#define MSTATUS_MIE (1ul << 3)

/* A vectored mtvec table: interrupt 3 (MSI) lands on its own entry, which counts itself and
 * continues into the common handler; everything else goes straight there. */
volatile u32 vec_msi_hits;
__asm__(
    "  .text\n"
    "  .option push\n"
    "  .option norvc\n"
    "  .balign 64\n"
    "vtable:\n"
    "  j mtrap_entry\n j mtrap_entry\n j mtrap_entry\n j vec_msi\n"
    "  .rept 12\n j mtrap_entry\n .endr\n"
    "vec_msi:\n"
    "  csrw mscratch, t0\n"
    "  la t0, vec_msi_hits\n"
    "  csrw sscratch, t1\n"
    "  lw t1, 0(t0)\n"
    "  addi t1, t1, 1\n"
    "  sw t1, 0(t0)\n"
    "  csrr t1, sscratch\n"
    "  csrr t0, mscratch\n"
    "  j mtrap_entry\n"
    "  .option pop\n");
static volatile u64 order[8];
static volatile int norder;
static u64 m_hook(u64 *regs, u64 cause) {
  (void)regs;
  if ((i64)cause >= 0) return 0;
  if (norder < 8) order[norder++] = cause & 0xff;
  if ((cause & 0xff) == 7) *MTIMECMP = ~0ul;
  if ((cause & 0xff) == 3) *MSIP = 0;
  return 1;
}
static u64 s_hook(u64 *regs, u64 cause) {
  (void)regs;
  if ((i64)cause >= 0) return 0;
  if (norder < 8) order[norder++] = 0x100 | (cause & 0xff);
  csr_clear(sie, MIE_STIE | MIE_SSIE);
  csr_clear(sip, MIE_SSIE);
  return 1;
}
static void s_wait(void) {
  csr_set(sie, MIE_STIE);
  csr_set(sstatus, 2);
  for (volatile int i = 0; i < 100; i++) ;
  csr_clear(sstatus, 2);
  __asm__ volatile("ecall");
  for (;;) ;
}
static void u_spin(void) {
  while (norder == 0) ;
  __asm__ volatile("ecall");
  for (;;) ;
}

int main(void) {
  mtrap_hook = m_hook;
  strap_hook = s_hook;
  csr_write(stvec, (u64)strap_entry);
  /* 1-2: timer interrupt taken when enabled */
  norder = 0;
  *MTIMECMP = *MTIME + 50;
  csr_set(mie, MIE_MTIE);
  csr_set(mstatus, MSTATUS_MIE);
  /* wait on real time: QEMU's timer runs at 10 MHz wall clock, lemu's on retired instructions */
  for (u64 t0 = *MTIME; norder == 0 && *MTIME - t0 < 10000000; ) ;
  csr_clear(mstatus, MSTATUS_MIE);
  CHECK(1, norder == 1 && order[0] == 7);
  CHECK(2, csr_read(mcause) == (1ul << 63 | 7));
  /* 3: masked by MIE: pending but not taken */
  norder = 0;
  *MTIMECMP = 0;
  for (volatile int i = 0; i < 1000; i++) ;
  CHECK(3, norder == 0 && (csr_read(mip) & MIE_MTIE));
  /* 4: masked by mie */
  csr_clear(mie, MIE_MTIE);
  csr_set(mstatus, MSTATUS_MIE);
  for (volatile int i = 0; i < 1000; i++) ;
  csr_clear(mstatus, MSTATUS_MIE);
  CHECK(4, norder == 0);
  /* 5: priority: software before timer */
  *MSIP = 1;
  csr_set(mie, MIE_MTIE | MIE_MSIE);
  csr_set(mstatus, MSTATUS_MIE);
  __asm__ volatile("nop");
  csr_clear(mstatus, MSTATUS_MIE);
  CHECK(5, norder == 2 && order[0] == 3 && order[1] == 7);
  /* 6: WFI with MIE clear wakes on a pending enabled interrupt and does not trap */
  norder = 0;
  *MTIMECMP = *MTIME + 1000;
  __asm__ volatile("wfi");
  CHECK(6, norder == 0 && (csr_read(mip) & MIE_MTIE) && *MTIME >= *MTIMECMP);
  *MTIMECMP = ~0ul;
  /* 7: M interrupts are taken in U-mode even with MIE clear */
  norder = 0;
  *MTIMECMP = *MTIME + 100;
  run_in_mode(0, u_spin);
  CHECK(7, norder == 1 && order[0] == 7);
  /* 8-9: delegated STIP goes to S; it is not taken while in M */
  csr_write(mideleg, MIE_STIE | MIE_SSIE);
  csr_set(mie, MIE_STIE);
  csr_set(mip, MIE_STIE);
  csr_set(mstatus, MSTATUS_MIE);
  norder = 0;
  for (volatile int i = 0; i < 100; i++) ;
  CHECK(8, norder == 0);
  csr_clear(mstatus, MSTATUS_MIE);
  run_in_mode(1, s_wait);
  CHECK(9, norder == 1 && order[0] == 0x105);
  csr_clear(mip, MIE_STIE);
  /* 10: sip.SSIP written by S... here by M through mip, delegated, taken in S */
  norder = 0;
  csr_set(mie, MIE_SSIE);
  csr_set(mip, MIE_SSIE);
  run_in_mode(1, s_wait);   /* s_wait enables STIE only; SSIE already set in mie */
  CHECK(10, norder == 1 && order[0] == 0x101);
  /* 11-12: vectored mtvec: the software interrupt enters at base + 4 * 3 */
  {
    extern char vtable[];
    csr_write(mideleg, 0);
    csr_write(mie, MIE_MSIE);
    csr_write(mtvec, (u64)vtable | 1);
    CHECK(11, csr_read(mtvec) == ((u64)vtable | 1));
    norder = 0;
    *MSIP = 1;
    csr_set(mstatus, MSTATUS_MIE);
    for (volatile int i = 0; i < 100 && norder == 0; i++) ;
    csr_clear(mstatus, MSTATUS_MIE);
    csr_write(mtvec, (u64)mtrap_entry);
    CHECK(12, norder == 1 && order[0] == 3 && vec_msi_hits == 1);
    /* exceptions still enter at the base in vectored mode */
    csr_write(mtvec, (u64)vtable | 1);
    mt.count = 0;
    __asm__ volatile("ecall");
    csr_write(mtvec, (u64)mtrap_entry);
    CHECK(13, mt.count == 1 && mt.cause == 11 && vec_msi_hits == 1);
  }
  return 0;
}
