/* echo: console input through the UART's receive interrupt. Prints a prompt, then sleeps in WFI
 * until the PLIC delivers UART data, echoes each line upper-cased, and powers off on "quit". The
 * hart spends its waiting time in WFI, so an idle machine should cost the host no CPU. */
#include "common.h"

#define UART ((volatile uint8_t *)0x10000000)
#define PLIC ((volatile uint32_t *)0x0c000000)
#define TEST ((volatile uint32_t *)0x100000)

void putc_(char c) {
  while (!(UART[5] & 0x20)) {}
  UART[0] = (uint8_t)c;
}

int main(void) {
  PLIC[10] = 1;
  PLIC[0x2000 / 4] = 1u << 10;
  PLIC[0x200000 / 4] = 0;
  /* FCR stays 0: turning the FIFO on would drop input that arrived before this point. */
  UART[1] = 0x01;          /* receive interrupt */
  csrs(mie, 1u << 11);     /* MEIE; MIE stays off: WFI wakes, no trap is taken */
  char line[80];
  int n = 0;
  puts_("echo> ");
  for (;;) {
    if (!(UART[5] & 1)) {
      __asm__ volatile("wfi");
      uint32_t id = PLIC[0x200004 / 4];
      if (id) PLIC[0x200004 / 4] = id;
      continue;
    }
    char c = (char)UART[0];
    if (c == '\r' || c == '\n') {
      line[n] = 0;
      if (n == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't') {
        puts_("bye\n");
        *TEST = 0x5555;
      }
      for (int i = 0; i < n; i++) putc_(line[i] >= 'a' && line[i] <= 'z' ? line[i] - 32 : line[i]);
      puts_("\necho> ");
      n = 0;
    } else if (n < 79) {
      line[n++] = c;
    }
  }
}
