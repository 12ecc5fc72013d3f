/* mip: interrupt-pending semantics against the board's real devices (so it needs the virt
 * machine's PLIC and UART, not the C harness): csrs/csrc on mip and sip read-modify-write only
 * the software-writable bits, never latching a device line (the UART's IRQ 10 through the PLIC's
 * S-mode context drives SEIP); what only sip may write; Sstc (menvcfg.STCE, stimecmp, its access
 * rules from S-mode and the supervisor timer interrupt it raises). Runs on lemu and on
 * qemu-system-riscv64 alike; minstret write semantics are in minstret.c. Every wait is bounded
 * by mtime (10 MHz), so a failing check reports instead of hanging. */
#include "lib.h"

#define MTIME ((volatile u64 *)0x200bff8)
#define PLIC_PRIO(n) ((volatile u32 *)(0x0c000000ul + 4 * (n)))
#define PLIC_S_ENABLE ((volatile u32 *)0x0c002080)      /* context 1: hart 0, S-mode */
#define PLIC_S_THRESHOLD ((volatile u32 *)0x0c201000)
#define PLIC_S_CLAIM ((volatile u32 *)0x0c201004)
#define UART_IER ((volatile unsigned char *)0x10000001)
#define UART_IRQ 10

#define SSIP (1ul << 1)
#define STIP (1ul << 5)
#define SEIP (1ul << 9)
#define MSTATUS_MIE (1ul << 3)
#define SSTATUS_SIE (1ul << 1)
#define MENVCFG_STCE (1ul << 63)
#define MCOUNTEREN_TM (1ul << 1)
#define CAUSE_STI (1ul << 63 | 5)
#define TIMEOUT 10000000ul         /* 1 s of mtime on QEMU */

/* Waits (bounded) until mip & bits reads want; returns mip as last read. */
static u64 wait_mip(u64 bits, u64 want) {
  u64 t0 = *MTIME, v;
  while (((v = csr_read(mip)) & bits) != want && *MTIME - t0 < TIMEOUT) ;
  return v;
}

/* The UART's THR-empty interrupt raises its line (source 10) while IER.ETBEI is set. */
static void uart_line(int high) { *UART_IER = high ? 0x02 : 0x00; }

/* Claims whatever the S context has (0 if the line's drop already took the pending bit away,
 * as both boards' level-triggered gateways do) and completes it. */
static void plic_claim_complete(void) {
  u32 id = *PLIC_S_CLAIM;
  if (id) *PLIC_S_CLAIM = id;
}

/* Exceptions other than the ecall that ends run_in_mode: count and cause. */
static volatile u64 ex_count, ex_cause;
static u64 m_hook(u64 *regs, u64 cause) {
  (void)regs;
  if ((i64)cause >= 0 && cause != 8 && cause != 9) { ex_count++; ex_cause = cause; }
  return 0;
}

static volatile u64 s_val, s_val2;
static void s_read_stimecmp(void) {
  s_val = csr_read(0x14d);
  __asm__ volatile("ecall");
  for (;;) ;
}
static void s_sip(void) {
  csr_set(sip, SSIP | STIP | SEIP);
  s_val = csr_read(sip);
  csr_clear(sip, SSIP | STIP | SEIP);
  s_val2 = csr_read(sip);
  __asm__ volatile("ecall");
  for (;;) ;
}

/* The supervisor timer interrupt: recorded, and cleared by moving stimecmp ahead from S. */
static volatile u64 sti_count, sti_mip_in_handler;
static u64 s_hook(u64 *regs, u64 cause) {
  (void)regs;
  if (cause != CAUSE_STI) return 0;
  sti_count++;
  sti_mip_in_handler = csr_read(sip);
  csr_write(0x14d, ~0ul);
  return 1;
}
static void s_wait_sti(void) {
  csr_set(sstatus, SSTATUS_SIE);
  for (u64 t0 = *MTIME; sti_count == 0 && *MTIME - t0 < TIMEOUT; ) ;
  csr_clear(sstatus, SSTATUS_SIE);
  __asm__ volatile("ecall");
  for (;;) ;
}

int main(void) {
  mtrap_hook = m_hook;
  strap_hook = s_hook;
  csr_write(stvec, (u64)strap_entry);
  csr_write(mie, 0);
  csr_write(mideleg, 0);
  csr_clear(mstatus, MSTATUS_MIE);
  csr_clear(mip, SSIP | STIP | SEIP);

  /* The PLIC routes source 10 to hart 0's S-mode context only. */
  *PLIC_PRIO(UART_IRQ) = 1;
  *PLIC_S_THRESHOLD = 0;
  *PLIC_S_ENABLE = 1u << UART_IRQ;

  /* 1-5: the probe. While the line is high mip reads SEIP, and csrc cannot clear it; a csrs of
   * STIP meanwhile must not latch SEIP into the software bit, so once the line drops and the
   * PLIC has been claimed and completed, SEIP reads clear and the written STIP is still set. */
  uart_line(1);
  CHECK(1, wait_mip(SEIP, SEIP) & SEIP);
  csr_clear(mip, SEIP);
  CHECK(2, csr_read(mip) & SEIP);
  csr_set(mip, STIP);
  CHECK(3, (csr_read(mip) & (STIP | SEIP)) == (STIP | SEIP));
  uart_line(0);
  plic_claim_complete();
  CHECK(4, !(wait_mip(SEIP, 0) & SEIP));
  CHECK(5, csr_read(mip) & STIP);
  csr_clear(mip, STIP);
  CHECK(6, !(csr_read(mip) & STIP));

  /* 7-9: the software SEIP is writable and ORs with the line: set by csrs with the line low,
   * it survives the line rising and falling, and csrc then clears it. */
  csr_set(mip, SEIP);
  CHECK(7, csr_read(mip) & SEIP);
  uart_line(1);
  wait_mip(SEIP, SEIP);
  uart_line(0);
  plic_claim_complete();
  CHECK(8, csr_read(mip) & SEIP);
  csr_clear(mip, SEIP);
  CHECK(9, !(wait_mip(SEIP, 0) & SEIP));

  /* 10-17: sip. Undelegated, sip reads 0 and a write through it changes nothing. */
  csr_set(sip, SSIP);
  CHECK(10, csr_read(sip) == 0 && !(csr_read(mip) & SSIP));
  csr_write(mideleg, SSIP | STIP | SEIP);
  /* Delegated, only SSIP is writable through sip: STIP and SEIP stay as they were. */
  csr_set(sip, SSIP | STIP | SEIP);
  CHECK(11, (csr_read(mip) & (SSIP | STIP | SEIP)) == SSIP && csr_read(sip) == SSIP);
  csr_set(mip, STIP);
  csr_clear(sip, SSIP | STIP);
  CHECK(12, (csr_read(mip) & (SSIP | STIP | SEIP)) == STIP);
  csr_clear(mip, STIP);
  /* The same from S-mode. */
  run_in_mode(1, s_sip);
  CHECK(13, (s_val & (SSIP | STIP | SEIP)) == SSIP && s_val2 == 0);
  /* A device SEIP shows through sip; csrs/csrc of sip while it is high do not latch it. */
  uart_line(1);
  CHECK(14, wait_mip(SEIP, SEIP) & SEIP);
  CHECK(15, csr_read(sip) & SEIP);
  csr_set(sip, SSIP);
  csr_clear(sip, SEIP);
  CHECK(16, (csr_read(sip) & (SSIP | SEIP)) == (SSIP | SEIP));
  uart_line(0);
  plic_claim_complete();
  wait_mip(SEIP, 0);
  CHECK(17, (csr_read(sip) & (SSIP | SEIP)) == SSIP && !(csr_read(mip) & SEIP));
  csr_clear(sip, SSIP);
  csr_write(mideleg, 0);
  *PLIC_S_ENABLE = 0;

  /* 20-22: Sstc access from S: illegal with STCE clear, illegal with STCE set and
   * mcounteren.TM clear, allowed with both. */
  csr_write(0x30a, 0);
  csr_write(mcounteren, MCOUNTEREN_TM);
  ex_count = 0;
  run_in_mode(1, s_read_stimecmp);
  CHECK(20, ex_count == 1 && ex_cause == 2);
  csr_write(0x30a, MENVCFG_STCE);
  CHECK(21, csr_read(0x30a) & MENVCFG_STCE);
  u64 far = *MTIME + (1ul << 40);      /* about 30 hours at 10 MHz */
  csr_write(0x14d, far);
  csr_write(mcounteren, 0);
  ex_count = 0;
  run_in_mode(1, s_read_stimecmp);
  CHECK(22, ex_count == 1 && ex_cause == 2);
  csr_write(mcounteren, MCOUNTEREN_TM);
  ex_count = 0;
  s_val = 0;
  run_in_mode(1, s_read_stimecmp);
  CHECK(23, ex_count == 0 && s_val == far);

  /* 24-29: with STCE set, STIP is stimecmp's: read-only in mip, 1 once time reaches it. */
  CHECK(24, !(csr_read(mip) & STIP));
  csr_set(mip, STIP);
  CHECK(25, !(csr_read(mip) & STIP));
  csr_write(0x14d, *MTIME / 2);    /* in the past */
  CHECK(26, wait_mip(STIP, STIP) & STIP);
  csr_clear(mip, STIP);
  CHECK(27, csr_read(mip) & STIP);
  csr_write(0x14d, ~0ul);
  CHECK(28, !(csr_read(mip) & STIP));
  csr_write(0x14d, *MTIME + 1000);     /* 100 us on QEMU */
  CHECK(29, wait_mip(STIP, STIP) & STIP);
  csr_write(0x14d, far);
  CHECK(30, !(csr_read(mip) & STIP));

  /* 31-34: delegated, the comparator's interrupt is taken in S (from S, SIE set), and the
   * handler clears it by moving stimecmp ahead. */
  csr_write(mideleg, STIP);
  csr_write(mie, STIP);
  sti_count = 0;
  st.count = 0;
  csr_write(0x14d, *MTIME + 1000);
  run_in_mode(1, s_wait_sti);
  CHECK(31, sti_count == 1 && st.count == 1);
  CHECK(32, st.cause == CAUSE_STI && csr_read(scause) == CAUSE_STI && st.priv == 1);
  CHECK(33, sti_mip_in_handler & STIP);
  CHECK(34, !(csr_read(mip) & STIP) && csr_read(0x14d) == ~0ul);

  csr_write(mie, 0);
  csr_write(mideleg, 0);
  csr_write(0x30a, 0);
  return 0;
}
