/* cpu_run: runs a bare-metal ELF on one lemu hart through the CPU test harness (RAM, sifive_test,
 * console, CLINT-like timer) and prints retired instructions and the console output. Used by
 * scripts/bench/cpu.sh until the virt machine can run the same binary. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu_harness.h"

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: cpu_run FILE.elf\n"); return 2; }
  tmach *m = tm_new(128 << 20);
  if (tm_load_elf(m, argv[1]) < 0) { fprintf(stderr, "cpu_run: cannot load %s\n", argv[1]); return 2; }
  struct timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  uint32_t r = tm_run(m, ~0ull >> 1);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  m->out[m->outn] = 0;
  fputs(m->out, stdout);
  printf("instructions %llu cpu %.3f s %.1f MIPS\n", (unsigned long long)m->executed, s,
         m->executed / s / 1e6);
  int code = r == 0x5555 ? 0 : 1;
  tm_free(m);
  return code;
}
