/* intdiff_report: prints the registers intdiff.S stored, for comparison with QEMU. */
#include "lib.h"
extern u64 regs[27];
void report(void) {
  for (int i = 0; i < 27; i++) { puthex(regs[i]); puts_(i % 4 == 3 ? "\n" : " "); }
  puts_("\n");
}
