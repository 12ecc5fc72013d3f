/* htif: a bare-metal test in the riscv-tests convention — prints through HTIF's console and ends by
 * writing (code << 1) | 1 to tohost. Built twice: HTIF_CODE 0 (pass) and 3 (fail). */
#include "common.h"

volatile uint64_t tohost __attribute__((section(".tohost"), aligned(8)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(8)));

void putc_(char c) {
  tohost = (1ull << 56) | (1ull << 48) | (uint8_t)c;
  while (!fromhost) {}
  fromhost = 0;
}

int main(void) {
  puts_("htif test, code ");
  putdec(HTIF_CODE);
  puts_("\n");
  tohost = ((uint64_t)HTIF_CODE << 1) | 1;
  for (;;) {}
}
