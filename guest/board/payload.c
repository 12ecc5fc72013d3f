/* payload: an S-mode kernel stand-in, linked at 0x80200000. It talks to whatever SBI is below it
 * (OpenSBI or lemu's built-in one): prints with the legacy console call, reads the SBI version,
 * takes a supervisor timer interrupt set through SBI TIME, starts a second hart through HSM when
 * there is one, and powers off with SRST. */
#include "common.h"

struct sbiret { long error; long value; };

static struct sbiret sbi(long ext, long fid, long a0, long a1, long a2) {
  register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2;
  register long r6 __asm__("a6") = fid, r7 __asm__("a7") = ext;
  __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
  return (struct sbiret){r0, r1};
}

void putc_(char c) { sbi(0x01, 0, c, 0, 0); }

static volatile int ticks;
static volatile int second_up, ipis;

void strap_entry(void);
__asm__(".align 4\n strap_entry:\n"
        " addi sp, sp, -128\n sd ra, 0(sp)\n sd a0, 8(sp)\n sd a1, 16(sp)\n sd a2, 24(sp)\n"
        " sd a3, 32(sp)\n sd a4, 40(sp)\n sd a5, 48(sp)\n sd t0, 56(sp)\n sd t1, 64(sp)\n"
        " sd t2, 72(sp)\n sd a6, 80(sp)\n sd a7, 88(sp)\n sd t3, 96(sp)\n sd t4, 104(sp)\n"
        " sd t5, 112(sp)\n sd t6, 120(sp)\n"
        " call strap\n"
        " ld ra, 0(sp)\n ld a0, 8(sp)\n ld a1, 16(sp)\n ld a2, 24(sp)\n ld a3, 32(sp)\n"
        " ld a4, 40(sp)\n ld a5, 48(sp)\n ld t0, 56(sp)\n ld t1, 64(sp)\n ld t2, 72(sp)\n"
        " ld a6, 80(sp)\n ld a7, 88(sp)\n ld t3, 96(sp)\n ld t4, 104(sp)\n ld t5, 112(sp)\n"
        " ld t6, 120(sp)\n addi sp, sp, 128\n sret\n");

void strap(void) {
  uint64_t cause = csrr(scause);
  if (cause == ((1ull << 63) | 1)) {   /* supervisor software interrupt: an IPI */
    csrc(sip, 1u << 1);
    ipis++;
    return;
  }
  if (cause == ((1ull << 63) | 5)) {
    ticks++;
    sbi(0x54494d45, 0, -1, 0, 0);     /* no next timer: clears STIP */
    return;
  }
  puts_("unexpected S-mode trap ");
  puthex(cause);
  puts_("\n");
  sbi(0x53525354, 0, 0, 1, 0);         /* shutdown, system failure */
}

void second(uint64_t hartid) {
  (void)hartid;
  csrw(stvec, (uint64_t)strap_entry);
  csrs(sie, 1u << 1);
  csrs(sstatus, 1u << 1);
  second_up = 1;
  for (;;) __asm__ volatile("wfi");
}

void second_entry(void);
__asm__(".align 2\n second_entry:\n la sp, stack2_top\n call second\n");

int main(uint64_t hartid, const void *dtb) {
  puts_("payload: S-mode on hart ");
  putdec(hartid);
  puts_(", device tree magic ");
  puthex(be32(dtb));
  puts_("\n");
  struct sbiret v = sbi(0x10, 0, 0, 0, 0);
  puts_("payload: SBI spec ");
  putdec((uint64_t)v.value >> 24);
  puts_(".");
  putdec((uint64_t)v.value & 0xffffff);
  puts_(", TIME ");
  puts_(sbi(0x10, 3, 0x54494d45, 0, 0).value ? "present" : "missing");
  puts_(", SRST ");
  puts_(sbi(0x10, 3, 0x53525354, 0, 0).value ? "present" : "missing");
  puts_("\n");

  csrw(stvec, (uint64_t)strap_entry);
  csrs(sie, 1u << 5);
  csrs(sstatus, 1u << 1);
  uint64_t now = csrr(time);
  sbi(0x54494d45, 0, (long)(now + 20000), 0, 0);   /* 2 ms */
  while (!ticks) __asm__ volatile("wfi");
  puts_("payload: timer interrupt via SBI\n");

  /* Another hart stopped in HSM (the firmware may have booted on any hart): start it. */
  uint64_t other = hartid ^ 1;
  struct sbiret st = sbi(0x48534d, 2, (long)other, 0, 0);
  /* A firmware on a loaded host may not have parked that hart yet: wait (boundedly) for STOPPED. */
  for (long i = 0; i < 10000000 && st.error == 0 && st.value != 1; i++) st = sbi(0x48534d, 2, (long)other, 0, 0);
  if (st.error == 0 && st.value == 1) {
    sbi(0x48534d, 0, (long)other, (long)second_entry, 0);
    while (!second_up) {}
    puts_("payload: another hart started through HSM\n");
    struct sbiret r = sbi(0x735049, 0, 1, (long)other, 0);       /* IPI to it */
    while (r.error == 0 && !ipis) {}
    puts_("payload: IPI delivered, error ");
    putdec((uint64_t)r.error);
    r = sbi(0x52464e43, 1, 1, (long)other, 0);                  /* remote sfence.vma, all */
    puts_(", remote sfence.vma error ");
    putdec((uint64_t)r.error);
    puts_("\n");
  } else {
    puts_("payload: no other hart\n");
  }
  puts_("payload: powering off\n");
  sbi(0x53525354, 0, 0, 0, 0);
  puts_("payload: still running after SRST\n");
  for (;;) {}
}
