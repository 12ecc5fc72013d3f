/* reboot: counts its boots in RAM beyond its image (which a reset keeps, as QEMU's does), reboots
 * once through sifive_test's 0x7777, and powers off on the second boot. */
#include "common.h"

#define UART ((volatile uint8_t *)0x10000000)
#define TEST ((volatile uint32_t *)0x100000)
#define COUNTER ((volatile uint64_t *)0x80400000)

void putc_(char c) {
  while (!(UART[5] & 0x20)) {}
  UART[0] = (uint8_t)c;
}

int main(void) {
  if (COUNTER[0] != 0x626f6f74) { COUNTER[0] = 0x626f6f74; COUNTER[1] = 0; }
  COUNTER[1]++;
  puts_("boot ");
  putdec(COUNTER[1]);
  puts_("\n");
  *TEST = COUNTER[1] < 2 ? 0x7777 : 0x5555;
  for (;;) {}
}
