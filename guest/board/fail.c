/* fail: ends the machine through sifive_test with failure code 42 (QEMU exits with status 42). */
#include "common.h"

void putc_(char c) {
  volatile uint8_t *uart = (volatile uint8_t *)0x10000000;
  while (!(uart[5] & 0x20)) {}
  uart[0] = (uint8_t)c;
}

int main(void) {
  puts_("failing with 42\n");
  *(volatile uint32_t *)0x100000 = (42u << 16) | 0x3333;
  for (;;) {}
}
