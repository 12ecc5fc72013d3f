/* test_cpu: runs lemu's bare-metal ISA tests (guest/isa, built with gcc-riscv64-unknown-elf and
 * committed as ELFs) on one hart; each reports through the sifive_test finisher which check
 * failed. */
#include "cpu_harness.h"
#include "ctest.h"

#define ISA(name) TEST(isa_##name) { CHECK_EQ(tm_run_isa(#name, 50000000), 0x5555); }
ISA(rv64i)
ISA(rv64m)
ISA(rv64a)
ISA(rv64c)
ISA(priv)
ISA(mmu)
ISA(irq)
ISA(fp)
