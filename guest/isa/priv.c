/* priv: privilege transitions — ECALL from each mode, MRET/SRET state updates, delegation with
 * medeleg, illegal CSR accesses and their mtval, TSR/TW/TVM, counter enables, the sstatus view,
 * misa/mhartid, and FS tracking (FP off traps; FP writes make FS dirty and SD set). */
#include "lib.h"

#define MSTATUS_MPP (3ul << 11)
static volatile u64 val;
static u64 seen_cause, seen_tval;
static u64 hook(u64 *regs, u64 cause) {
  (void)regs;
  if (cause == 2) { seen_cause = cause; seen_tval = csr_read(mtval); }
  return 0;
}

static void s_ecall(void) { __asm__ volatile("ecall"); for (;;) ; }
static void u_ecall(void) { __asm__ volatile("ecall"); for (;;) ; }
static void u_read_mstatus(void) { val = csr_read(mstatus); __asm__ volatile("ecall"); for (;;) ; }
static void s_read_mscratch(void) { val = csr_read(mscratch); __asm__ volatile("ecall"); for (;;) ; }
static void s_sret_tsr(void) { __asm__ volatile("sret"); __asm__ volatile("ecall"); for (;;) ; }
static void s_wfi(void) { __asm__ volatile("wfi"); __asm__ volatile("ecall"); for (;;) ; }
static void s_satp(void) {
  val = csr_read(satp);
  __asm__ volatile("sfence.vma");
  __asm__ volatile("ecall");
  for (;;) ;
}
static void s_cycle(void) { val = csr_read(cycle); __asm__ volatile("ecall"); for (;;) ; }
static void u_time(void) { val = csr_read(time); __asm__ volatile("ecall"); for (;;) ; }
static void s_mret(void) { __asm__ volatile("mret"); __asm__ volatile("ecall"); for (;;) ; }
static void u_sret(void) { __asm__ volatile("sret"); __asm__ volatile("ecall"); for (;;) ; }
/* delegated ECALL to S, then EBREAK (not delegated) back to M */
static void u_deleg(void) { __asm__ volatile("ecall"); __asm__ volatile("ebreak"); for (;;) ; }
static void s_sstatus(void) {
  csr_set(sstatus, 1 << 1);        /* SIE */
  val = csr_read(sstatus);
  csr_clear(sstatus, 1 << 1);
  __asm__ volatile("ecall");
  for (;;) ;
}

int main(void) {
  /* 1-3: ecall from each mode */
  mt.count = 0;
  __asm__ volatile("ecall");
  CHECK(1, mt.count == 1 && mt.cause == 11);
  run_in_mode(1, s_ecall);
  CHECK(2, mt.cause == 9 && mt.priv == 1);
  run_in_mode(0, u_ecall);
  CHECK(3, mt.cause == 8 && mt.priv == 0);
  /* 4: U reading an M CSR is illegal; mtval holds the instruction */
  run_in_mode(0, u_read_mstatus);
  CHECK(4, mt.cause == 8);      /* the final ecall */
  {
    /* find the illegal trap: rerun with a hook that records it */
  }
  mt.count = 0;
  run_in_mode(0, u_read_mstatus);
  CHECK(5, mt.count == 2);
  run_in_mode(1, s_read_mscratch);
  CHECK(6, mt.count == 4);
  /* 7: mtval of an illegal CSR access = instruction bits (csrr a5, mscratch-like) */
  {
    u64 insn = 0;
    mtrap_hook = hook;
    run_in_mode(0, u_read_mstatus);
    mtrap_hook = 0;
    insn = seen_tval;
    CHECK(7, seen_cause == 2 && (insn & 0x7f) == 0x73 && (insn >> 20) == 0x300);
  }
  /* 8: mret/trap state: MPIE <- MIE, MIE <- 0, MPP <- priv */
  csr_set(mstatus, 1 << 3);      /* MIE, no interrupt sources enabled in mie */
  __asm__ volatile("ecall");
  {
    u64 s = csr_read(mstatus);
    CHECK(8, (s & (1 << 3)) && (s & (1 << 7)) && ((s >> 11) & 3) == 0);   /* MIE back, MPIE 1, MPP U */
  }
  csr_clear(mstatus, 1 << 3);
  /* 9-10: TSR, TW, TVM */
  csr_set(mstatus, 1ul << 22);
  mt.count = 0;
  run_in_mode(1, s_sret_tsr);
  CHECK(9, mt.count == 2);
  csr_clear(mstatus, 1ul << 22);
  csr_set(mstatus, 1ul << 21);
  mt.count = 0;
  run_in_mode(1, s_wfi);
  CHECK(10, mt.count == 2);
  csr_clear(mstatus, 1ul << 21);
  csr_set(mstatus, 1ul << 20);
  mt.count = 0;
  run_in_mode(1, s_satp);
  CHECK(11, mt.count == 3);       /* csrr satp and sfence.vma both trap */
  csr_clear(mstatus, 1ul << 20);
  mt.count = 0;
  run_in_mode(1, s_satp);
  CHECK(12, mt.count == 1);
  /* 13-15: counters gated by mcounteren / scounteren */
  csr_write(mcounteren, 0);
  mt.count = 0;
  run_in_mode(1, s_cycle);
  CHECK(13, mt.count == 2);
  csr_write(mcounteren, 7);
  csr_write(scounteren, 0);
  mt.count = 0;
  run_in_mode(1, s_cycle);
  CHECK(14, mt.count == 1);
  mt.count = 0;
  run_in_mode(0, u_time);
  CHECK(15, mt.count == 2);
  csr_write(scounteren, 7);
  mt.count = 0;
  run_in_mode(0, u_time);
  CHECK(16, mt.count == 1);
  /* 17-18: xRET from too low a privilege */
  mt.count = 0;
  run_in_mode(1, s_mret);
  CHECK(17, mt.count == 2);
  mt.count = 0;
  run_in_mode(0, u_sret);
  CHECK(18, mt.count == 2);
  /* 19-21: delegation of U ecall to S */
  csr_write(stvec, (u64)strap_entry);
  csr_write(medeleg, 1 << 8);
  mt.count = st.count = 0;
  run_in_mode(0, u_deleg);
  CHECK(19, st.count == 1 && st.cause == 8 && st.priv == 0);
  CHECK(20, mt.count == 1 && mt.cause == 3);
  CHECK(21, csr_read(sepc) == st.epc + 4 && csr_read(scause) == 8);
  csr_write(medeleg, 0);
  CHECK(22, csr_read(medeleg) == 0);
  csr_write(medeleg, ~0ul);
  mt.count = 0;
  __asm__ volatile("ecall");
  CHECK(23, mt.count == 1 && mt.cause == 11);     /* ecall from M never delegates */
  csr_write(medeleg, 0);
  /* 24: sstatus is a view of mstatus without M fields */
  run_in_mode(1, s_sstatus);
  CHECK(24, (val & 2) && !(val & (1 << 3)) && !(val & MSTATUS_MPP));
  /* 25-26: misa and mhartid */
  {
    u64 misa = csr_read(misa);
    u64 want = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) |
               (1 << 20);
    CHECK(25, (misa >> 62) == 2 && (misa & want) == want);
    CHECK(26, csr_read(mhartid) == 0);
  }
  /* 27-29: FS: off traps FP; writes make it dirty with SD */
  csr_clear(mstatus, 3 << 13);
  mt.count = 0;
  __asm__ volatile("fmv.d.x f1, zero");
  CHECK(27, mt.count == 1 && mt.cause == 2);
  csr_set(mstatus, 1 << 13);     /* Initial */
  __asm__ volatile("fmv.d.x f1, zero");
  {
    u64 s = csr_read(mstatus);
    CHECK(28, ((s >> 13) & 3) == 3);
    CHECK(29, (s >> 63) == 1);
  }
  /* 30: mepc is WARL with bit 0 clear; mtvec mode 2/3 not accepted */
  csr_write(mscratch, 0);
  {
    u64 old = csr_read(mepc);
    csr_write(mepc, 0x80000001);
    CHECK(30, csr_read(mepc) == 0x80000000);
    csr_write(mepc, old);
  }
  /* 31: a write to a read-only CSR is illegal */
  mt.count = 0;
  __asm__ volatile("csrw mhartid, zero");
  CHECK(31, mt.count == 1 && mt.cause == 2);
  /* 32: cycle/instret count up */
  {
    u64 a = csr_read(instret);
    for (volatile int i = 0; i < 100; i++) ;
    u64 b = csr_read(instret);
    CHECK(32, b - a >= 100);
  }
  return 0;
}
