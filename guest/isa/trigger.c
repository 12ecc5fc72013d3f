/* trigger: the debug trigger CSRs as QEMU 7.2 offers them — two triggers behind tselect, tinfo
 * naming types 2 and 6, tdata1 keeping only the mode and access bits of those types, and the
 * breakpoint exception they raise: before an instruction at tdata2 executes (tval 0), or before a
 * load or store that overlaps the 8 bytes at tdata2, in the modes selected; QEMU leaves tval 0. */
#include "lib.h"

#define T_TYPE2 (2ul << 60)
#define T_M (1ul << 6)
#define T_U (1ul << 3)
#define T_X (1ul << 2)
#define T_W (1ul << 1)
#define T_R (1ul << 0)

/* The watched words live apart from everything the trap handler touches: a watch on them must
 * not fire inside the handler. */
static volatile u64 watched[8] __attribute__((aligned(64)));
extern char bp_site[];
__asm__(".text\n.globl bp_site\n.align 2\nbp_site_fn:\nbp_site:\n  addi a0, a0, 1\n  ret\n");
extern void bp_site_fn(void);
static u64 call_site(void) {
  register u64 a0 __asm__("a0") = 0;
  __asm__ volatile("call bp_site_fn" : "+r"(a0) : : "ra", "memory");
  return a0;
}
static void u_fn(void) {
  call_site();
  __asm__ volatile("ecall");
  for (;;) ;
}

int main(void) {
  /* 1-5: the registers */
  csr_write(0x7a0, 0);
  CHECK(1, csr_read(0x7a0) == 0);
  csr_write(0x7a0, 1);
  CHECK(2, csr_read(0x7a0) == 1);
  csr_write(0x7a0, 2);                         /* no third trigger: the write is ignored */
  CHECK(3, csr_read(0x7a0) == 1);
  CHECK(4, csr_read(0x7a4) == 0x44);
  csr_write(0x7a0, 0);
  CHECK(5, csr_read(0x7a1) == T_TYPE2 && csr_read(0x7a3) == 0);
  /* 6-8: what tdata1 keeps */
  csr_write(0x7a1, T_TYPE2 | (1ul << 59) | (1ul << 19) | (1ul << 12) | (1ul << 11) | (1ul << 7) |
                   T_M | T_X);
  CHECK(6, csr_read(0x7a1) == (T_TYPE2 | T_M | T_X));
  csr_write(0x7a1, 3ul << 60 | 1);             /* type 3 (icount): not offered, ignored */
  CHECK(7, csr_read(0x7a1) == (T_TYPE2 | T_M | T_X));
  csr_write(0x7a1, T_TYPE2);
  csr_write(0x7a2, 0x12345678);
  CHECK(8, csr_read(0x7a2) == 0x12345678);
  /* 9-11: an execute breakpoint in M */
  csr_write(0x7a2, (u64)bp_site);
  csr_write(0x7a1, T_TYPE2 | T_M | T_X);
  mt.count = 0;
  u64 r = call_site();
  CHECK(9, mt.count == 1 && mt.cause == 3 && mt.epc == (u64)bp_site && mt.tval == 0);
  CHECK(10, r == 0);                           /* the handler skipped the instruction */
  csr_write(0x7a1, T_TYPE2);
  mt.count = 0;
  CHECK(11, call_site() == 1 && mt.count == 0);
  /* 12-16: load and store watches */
  csr_write(0x7a2, (u64)&watched[2]);
  csr_write(0x7a1, T_TYPE2 | T_M | T_R);
  mt.count = 0;
  u64 v = watched[1];                          /* [1] does not overlap [2] */
  CHECK(12, mt.count == 0);
  v = *(volatile u32 *)((char *)&watched[2] + 4);
  CHECK(13, mt.count == 1 && mt.cause == 3 && mt.tval == 0);
  watched[2] = 7;                              /* a load watch lets stores through */
  CHECK(14, mt.count == 1 && watched[3] == 0);
  csr_write(0x7a1, T_TYPE2 | T_M | T_W);
  mt.count = 0;
  watched[2] = 9;                              /* skipped by the handler: 7 stays */
  csr_write(0x7a1, T_TYPE2);
  CHECK(15, mt.count == 1 && mt.cause == 3 && mt.tval == 0);
  CHECK(16, watched[2] == 7);
  (void)v;
  /* 17-19: modes, and the second trigger on its own */
  csr_write(0x7a0, 1);
  csr_write(0x7a2, (u64)bp_site);
  csr_write(0x7a1, T_TYPE2 | T_U | T_X);
  mt.count = 0;
  CHECK(17, call_site() == 1 && mt.count == 0);  /* U-only: not in M */
  run_in_mode(0, u_fn);
  CHECK(18, mt.count == 1 && mt.cause == 3 && mt.epc == (u64)bp_site);
  csr_write(0x7a1, T_TYPE2);
  csr_write(0x7a0, 0);
  CHECK(19, csr_read(0x7a1) == T_TYPE2 && csr_read(0x7a2) == (u64)&watched[2]);
  return 0;
}
