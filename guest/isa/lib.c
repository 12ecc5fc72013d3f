/* lib: see lib.h. */
#include "lib.h"

struct trap mt, st;
u64 (*mtrap_hook)(u64 *regs, u64 cause);
u64 (*strap_hook)(u64 *regs, u64 cause);

void exit(int code) {
  *FINISHER = code == 0 ? 0x5555 : ((u32)code << 16) | 0x3333;
  for (;;) __asm__ volatile("wfi");
}

void puts_(const char *s) { while (*s) *UART = *s++; }

void puthex(u64 v) {
  char b[19];
  b[0] = '0'; b[1] = 'x';
  for (int i = 0; i < 16; i++) b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
  b[18] = 0;
  puts_(b);
}

void fail(int id, const char *what) {
  puts_("FAIL check ");
  puthex(id);
  puts_(": ");
  puts_(what);
  puts_("\n");
  exit(id);
}

int insn_len(u64 epc) { return (*(volatile unsigned short *)epc & 3) == 3 ? 4 : 2; }

/* run_in_mode's M-mode context (sp, resume pc, s0..s11), restored by the ecall that ends it. */
static u64 ctx[14];
static volatile int in_mode;

u64 mtrap(u64 *regs) {
  u64 cause = csr_read(mcause);
  mt.count++;
  mt.cause = cause;
  mt.epc = csr_read(mepc);
  mt.tval = csr_read(mtval);
  mt.priv = (csr_read(mstatus) >> 11) & 3;
  if (mtrap_hook && mtrap_hook(regs, cause)) return 0;
  if ((i64)cause < 0) fail(0xfff0, "unexpected M interrupt");
  if ((cause == 8 || cause == 9 || cause == 3) && in_mode) {
    in_mode = 0;
    regs[2] = ctx[0];
    regs[8] = ctx[2];
    regs[9] = ctx[3];
    for (int i = 0; i < 10; i++) regs[18 + i] = ctx[4 + i];
    csr_write(mepc, ctx[1]);
    csr_set(mstatus, 3 << 11);   /* MPP = M */
    return 0;
  }
  csr_write(mepc, mt.epc + insn_len(mt.epc));
  return 0;
}

u64 strap(u64 *regs) {
  u64 cause = csr_read(scause);
  st.count++;
  st.cause = cause;
  st.epc = csr_read(sepc);
  st.tval = csr_read(stval);
  st.priv = (csr_read(sstatus) >> 8) & 1;
  if (strap_hook && strap_hook(regs, cause)) return 0;
  if ((i64)cause < 0) fail(0xfff1, "unexpected S interrupt");
  csr_write(sepc, st.epc + insn_len(st.epc));
  return 0;
}

void run_in_mode(int mode, void (*fn)(void)) {
  in_mode = 1;
  csr_clear(mstatus, 3 << 11);
  csr_set(mstatus, (u64)mode << 11);
  csr_write(mepc, (u64)fn);
  __asm__ volatile(
      "la t0, 1f\n"
      "sd sp, 0(%0)\n sd t0, 8(%0)\n sd s0, 16(%0)\n sd s1, 24(%0)\n"
      "sd s2, 32(%0)\n sd s3, 40(%0)\n sd s4, 48(%0)\n sd s5, 56(%0)\n sd s6, 64(%0)\n"
      "sd s7, 72(%0)\n sd s8, 80(%0)\n sd s9, 88(%0)\n sd s10, 96(%0)\n sd s11, 104(%0)\n"
      "mret\n1:\n"
      :: "r"(ctx) : "memory", "ra", "t0", "t1", "t2", "a0", "a1", "a2", "a3", "a4", "a5", "a6",
      "a7", "t3", "t4", "t5", "t6");
}
