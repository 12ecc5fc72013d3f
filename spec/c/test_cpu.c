/* test_cpu: runs lemu's bare-metal ISA tests (guest/isa, built with gcc-riscv64-unknown-elf and
 * committed as ELFs) on one hart; each reports through the sifive_test finisher which check
 * failed. */
#include <stdio.h>

#include "cpu_harness.h"
#include "ctest.h"

#define ISA(name) TEST(isa_##name) { CHECK_EQ(tm_run_isa(#name, 50000000), 0x5555); }
ISA(rv64i)
ISA(rv64m)
ISA(rv64a)
ISA(rv64c)
ISA(rv64b)
ISA(priv)
ISA(mmu)
ISA(irq)
ISA(minstret)   /* mip needs the PLIC and UART: spec/isa_machine_spec.lua runs it on the virt board */
ISA(fp)

/* The same programs with the block translator (x86-64 hosts). */
#define ISA_JIT(name)                                                         \
  TEST(isa_jit_##name) {                                                      \
    if (!cpu_accel_available(CPU_ACCEL_JIT)) { ctest_skip("no translator"); return; } \
    tm_accel = CPU_ACCEL_JIT;                                                 \
    CHECK_EQ(tm_run_isa(#name, 50000000), 0x5555);                            \
    tm_accel = CPU_ACCEL_INTERP;                                              \
  }
ISA_JIT(rv64i)
ISA_JIT(rv64m)
ISA_JIT(rv64a)
ISA_JIT(rv64c)
ISA_JIT(rv64b)
ISA_JIT(priv)
ISA_JIT(mmu)
ISA_JIT(irq)
ISA_JIT(minstret)
ISA_JIT(fp)

/* Garbage code: random words as instructions, trap vectors pointing into the garbage, random
 * CSR writes, loads and stores anywhere. The hart must keep taking architectural exceptions
 * (and never crash lemu: ASan/UBSan in `make asan`). */
TEST(cpu_survives_random_code) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int round = 0; round < 8; round++) {
    tmach *m = tm_new(1 << 20);
    for (uint64_t off = 0; off < (1 << 16); off += 4) {
      seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
      uint32_t w = (uint32_t)seed;
      /* bias towards real opcodes so decoding goes deep, and some system instructions */
      if ((seed >> 40) % 4 == 0) w = (w & ~0x7fu) | 0x73;
      bus_ram_write(m->b, 0x80000000 + off, &w, 4);
    }
    cpu_reset(m->c, 0x80000000 + (round * 0x1000));
    cpu_set_csr(m->c, 0x305, 0x80000000 + 0x800 * round);   /* mtvec into the garbage */
    uint64_t total = 0;
    for (int i = 0; i < 200 && !m->finished; i++) {
      uint64_t n = 0;
      enum cpu_stop r = cpu_run(m->c, 5000, &n);
      total += n;
      CHECK(n <= 5000);
      if (r == CPU_WFI) cpu_set_irq(m->c, CPU_IRQ_MSIP, 1);   /* wake it; maybe enabled */
      cpu_set_irq(m->c, CPU_IRQ_MSIP, 0);
    }
    uint64_t mcause = 0;
    CHECK(cpu_get_csr(m->c, 0x342, &mcause) == 0);
    int p = cpu_get_priv(m->c);
    CHECK(p == 0 || p == 1 || p == 3);
    CHECK(total > 0);
    tm_free(m);
  }
}

/* A hart whose trap vector is unmapped faults forever; each fault uses budget, so cpu_run
 * still returns and the machine keeps control. */
TEST(cpu_trap_loop_returns) {
  tmach *m = tm_new(1 << 20);
  cpu_reset(m->c, 0x40000000);                 /* nothing mapped there */
  cpu_set_csr(m->c, 0x305, 0x50000000);        /* nor there */
  uint64_t n = 0;
  CHECK_EQ(cpu_run(m->c, 1000, &n), CPU_BUDGET);
  CHECK_EQ(n, 1000);
  uint64_t mcause = 0, mtval = 0;
  cpu_get_csr(m->c, 0x342, &mcause);
  cpu_get_csr(m->c, 0x343, &mtval);
  CHECK_EQ(mcause, 1);                          /* instruction access fault */
  CHECK_EQ(mtval, 0x50000000);
  tm_free(m);
}

/* Runs a differential test program and compares its console output with what QEMU printed for
 * the same binary; reports the first line that differs. */
static void matches_qemu(const char *elf, const char *expected) {
  char want[8192];
  FILE *f = fopen(expected, "r");
  CHECK(f != NULL);
  if (!f) return;
  size_t n = fread(want, 1, sizeof want - 1, f);
  fclose(f);
  want[n] = 0;
  tmach *m = tm_new(16 << 20);
  CHECK_EQ(tm_load_elf(m, elf), 0);
  CHECK_EQ(tm_run(m, 200000000), 0x5555);
  m->out[m->outn] = 0;
  const char *a = want, *b = m->out;
  while (*a && *a == *b) a++, b++;
  if (*a || *b) {
    while (a > want && a[-1] != '\n') a--;
    while (b > m->out && b[-1] != '\n') b--;
    printf("# %s: qemu printed: %.60s\n# %s: lemu printed: %.60s\n", elf, a, elf, b);
    CHECK(!"output differs from QEMU's");
  }
  tm_free(m);
}

/* guest/isa/fpdiff runs 105000 random F/D operations under random rounding modes; its
 * per-operation hashes of results and flags must equal QEMU 7.2's (softfloat). */
TEST(isa_fp_matches_qemu) {
  matches_qemu("guest/isa/bin/fpdiff.elf", "guest/isa/fpdiff.expected");
}

/* guest/isa/intdiff is 9000 random RV64IMC and Zba/Zbb/Zbc/Zbs instructions (every ALU, M,
 * compressed ALU and bit-manipulation encoding, loads and stores); the registers and a running
 * sum of them must equal QEMU's. */
TEST(isa_int_matches_qemu) {
  matches_qemu("guest/isa/bin/intdiff.elf", "guest/isa/intdiff.expected");
}

TEST(isa_jit_fp_int_match_qemu) {
  if (!cpu_accel_available(CPU_ACCEL_JIT)) { ctest_skip("no translator"); return; }
  tm_accel = CPU_ACCEL_JIT;
  matches_qemu("guest/isa/bin/fpdiff.elf", "guest/isa/fpdiff.expected");
  matches_qemu("guest/isa/bin/intdiff.elf", "guest/isa/intdiff.expected");
  tm_accel = CPU_ACCEL_INTERP;
}

/* WFI parks the hart: cpu_run returns CPU_WFI at once until an enabled interrupt is pending,
 * then resumes after the WFI; cpu_halt stops even a parked hart. */
TEST(cpu_wfi_parks_until_interrupt) {
  tmach *m = tm_new(1 << 20);
  static const uint32_t prog[] = {
    0x08000293,   /* li t0, 0x80 (MTIE) */
    0x30429073,   /* csrw mie, t0 */
    0x10500073,   /* wfi */
    0x00100513,   /* li a0, 1 */
    0x10500073,   /* wfi */
    0x0000006f,   /* j . */
  };
  bus_ram_write(m->b, 0x80000000, prog, sizeof prog);
  cpu_reset(m->c, 0x80000000);
  uint64_t n = 0;
  CHECK_EQ(cpu_run(m->c, 100, &n), CPU_WFI);
  CHECK_EQ(n, 3);
  CHECK_EQ(cpu_run(m->c, 100, &n), CPU_WFI);     /* still parked, nothing ran */
  CHECK_EQ(n, 0);
  cpu_set_irq(m->c, CPU_IRQ_MSIP, 1);             /* pending but not enabled in mie */
  CHECK_EQ(cpu_run(m->c, 100, &n), CPU_WFI);
  CHECK_EQ(n, 0);
  cpu_set_irq(m->c, CPU_IRQ_MTIP, 1);             /* enabled (MIE clear: no trap, just wake) */
  /* The second WFI finds the interrupt still pending and untakeable: a wait loop, so the hart
   * gives up its turn right after it. */
  CHECK_EQ(cpu_run(m->c, 100, &n), CPU_YIELD);
  CHECK_EQ(n, 2);
  CHECK_EQ(cpu_get_x(m->c, 10), 1);
  CHECK_EQ(cpu_get_pc(m->c), 0x80000014);
  CHECK_EQ(cpu_run(m->c, 100, &n), CPU_BUDGET);
  CHECK_EQ(cpu_get_pc(m->c), 0x80000014);
  cpu_halt(m->c);
  CHECK_EQ(cpu_run(m->c, 100, &n), CPU_HALT);
  CHECK_EQ(n, 0);
  tm_free(m);
}
