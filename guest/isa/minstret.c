/* minstret: write semantics of the instructions-retired counter (privileged spec, "Machine
 * Counter/Timers" and Zicsr: a CSR instruction that writes instret does the write instead of its
 * own increment, and reads the value from before it executes). So after `csrwi minstret, 0`
 * the very next instruction reads 0, and `csrrwi rd, minstret, 3` returns the count as it was
 * (one more than the read just before it) while the next read sees exactly 3.
 * Runs on lemu only. QEMU 7.2 counts host ticks for minstret without -icount; with -icount
 * shift=0 it counts instructions but also counts the writing one, so check 1 reads 1 there
 * (checks 2 and 5, differences between reads, pass on it). */
#include "lib.h"

int main(void) {
  u64 a, b, c, d, e, f;
  /* 1: a written 0 is what the next instruction reads */
  __asm__ volatile("csrwi minstret, 0\n csrr %0, minstret" : "=r"(a));
  CHECK(1, a == 0);
  /* 2-3: csrrwi returns the old count; the next read sees exactly the written value */
  __asm__ volatile("csrr %0, minstret\n csrrwi %1, minstret, 3\n csrr %2, minstret"
                   : "=r"(b), "=r"(c), "=r"(d));
  CHECK(2, c == b + 1);
  CHECK(3, d == 3);
  /* 4: a register write, then counting resumes: one nop and a read later it is v + 2 */
  __asm__ volatile("csrw minstret, %2\n csrr %0, minstret\n nop\n csrr %1, minstret"
                   : "=&r"(e), "=&r"(f) : "r"(1000ul));
  CHECK(4, e == 1000 && f == 1002);
  /* 5: reading minstret counts every retired instruction in between */
  __asm__ volatile("csrr %0, minstret\n nop\n nop\n nop\n csrr %1, minstret" : "=r"(a), "=r"(b));
  CHECK(5, b - a == 4);
  return 0;
}
