/* hello: a bare-metal M-mode program for QEMU's virt board (-bios none -kernel hello.elf, or
 * -bios hello.elf). It checks what the reset ROM hands over, prints through the NS16550A, takes a
 * CLINT timer interrupt out of WFI and a UART interrupt through the PLIC, then powers off through
 * sifive_test. Its output is meant to be byte-identical on QEMU and lemu. */
#include "common.h"

#define UART ((volatile uint8_t *)0x10000000)
#define PLIC ((volatile uint32_t *)0x0c000000)
#define CLINT_MTIMECMP ((volatile uint64_t *)0x02004000)
#define CLINT_MTIME ((volatile uint64_t *)0x0200bff8)
#define TEST ((volatile uint32_t *)0x100000)

void putc_(char c) {
  while (!(UART[5] & 0x20)) {}
  UART[0] = (uint8_t)c;
}

static volatile int timer_hits, uart_claims;
static volatile uint32_t claimed_id;

void trap_entry(void);
__asm__(".align 4\n trap_entry:\n"
        " addi sp, sp, -128\n sd ra, 0(sp)\n sd a0, 8(sp)\n sd a1, 16(sp)\n sd a2, 24(sp)\n"
        " sd a3, 32(sp)\n sd a4, 40(sp)\n sd a5, 48(sp)\n sd t0, 56(sp)\n sd t1, 64(sp)\n"
        " sd t2, 72(sp)\n sd a6, 80(sp)\n sd a7, 88(sp)\n sd t3, 96(sp)\n sd t4, 104(sp)\n"
        " sd t5, 112(sp)\n sd t6, 120(sp)\n"
        " call trap\n"
        " ld ra, 0(sp)\n ld a0, 8(sp)\n ld a1, 16(sp)\n ld a2, 24(sp)\n ld a3, 32(sp)\n"
        " ld a4, 40(sp)\n ld a5, 48(sp)\n ld t0, 56(sp)\n ld t1, 64(sp)\n ld t2, 72(sp)\n"
        " ld a6, 80(sp)\n ld a7, 88(sp)\n ld t3, 96(sp)\n ld t4, 104(sp)\n ld t5, 112(sp)\n"
        " ld t6, 120(sp)\n addi sp, sp, 128\n mret\n");

void trap(void) {
  uint64_t cause = csrr(mcause);
  if (cause == ((1ull << 63) | 7)) {          /* machine timer */
    timer_hits++;
    *CLINT_MTIMECMP = ~0ull;
  } else if (cause == ((1ull << 63) | 11)) {  /* machine external, through the PLIC */
    uint32_t id = PLIC[0x200004 / 4];
    claimed_id = id;
    uart_claims++;
    UART[1] = 0;                              /* THR-empty interrupt off */
    PLIC[0x200004 / 4] = id;                  /* complete */
  } else {
    puts_("unexpected trap ");
    puthex(cause);
    puts_(" at ");
    puthex(csrr(mepc));
    puts_("\n");
    *TEST = (1u << 16) | 0x3333;
    for (;;) {}
  }
}

int main(uint64_t hartid, const void *dtb, const uint64_t *fw_dyn) {
  puts_("hello from a bare-metal program on the virt board\n");
  puts_("hart ");
  putdec(hartid);
  puts_(", device tree magic ");
  puthex(be32(dtb));
  puts_(", fw_dynamic magic ");
  puthex(fw_dyn[0]);
  puts_(" version ");
  putdec(fw_dyn[1]);
  puts_("\n");

  csrw(mtvec, (uint64_t)trap_entry);
  /* A timer interrupt wakes WFI. */
  *CLINT_MTIMECMP = *CLINT_MTIME + 10000;     /* 1 ms at 10 MHz */
  csrs(mie, 1u << 7);
  csrs(mstatus, 1u << 3);
  while (!timer_hits) __asm__ volatile("wfi");
  csrc(mie, 1u << 7);
  puts_("timer interrupt: ");
  putdec(timer_hits);
  puts_("\n");

  /* The UART's THR-empty interrupt arrives through the PLIC on source 10. */
  PLIC[10] = 1;                               /* priority */
  PLIC[0x2000 / 4] = 1u << 10;                /* enable for hart 0 M-mode */
  PLIC[0x200000 / 4] = 0;                     /* threshold */
  csrs(mie, 1u << 11);
  csrc(mie, 1u << 11);
  UART[1] = 0x02;
  uint8_t i1 = UART[2], i2 = UART[2], l = UART[5];  /* THR empty, then acknowledged */
  puts_("uart iir after enabling ier: "); puthex(i1); puts_(" "); puthex(i2); puts_(" lsr "); puthex(l); puts_("\n");
  csrs(mie, 1u << 11);
  puts_("waiting for the uart interrupt\n");   /* the THR writes raise it again */
  while (!uart_claims) __asm__ volatile("wfi");
  csrc(mie, 1u << 11);
  puts_("plic claimed source ");
  putdec(claimed_id);
  puts_("\n");

  puts_("powering off\n");
  *TEST = 0x5555;
  for (;;) {}
}
