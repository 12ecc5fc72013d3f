/* mmu: Sv39, Sv48 and Sv57 page walks from S and U privilege (data accesses through MPRV, fetches in
 * real S-mode): leaf permissions, U/SUM, MXR, hardware A/D updates, page faults with mtval, non-
 * canonical addresses, misaligned superpages, SFENCE.VMA, satp WARL, and PMP on S-mode. */
#include "lib.h"

#define V 1ul
#define R 2ul
#define W 4ul
#define X 8ul
#define U 16ul
#define A 64ul
#define D 128ul
#define PTE(pa, f) ((((u64)(pa)) >> 12) << 10 | (f))
#define VA(i) (0x40000000ul + (i) * 4096ul)

static u64 root39[512] __attribute__((aligned(4096)));
static u64 root48[512] __attribute__((aligned(4096)));
static u64 root57[512] __attribute__((aligned(4096)));
static u64 l1[512] __attribute__((aligned(4096)));
static u64 l0[512] __attribute__((aligned(4096)));
static u64 pg[4][512] __attribute__((aligned(4096)));

#define MPRV (1ul << 17)
#define NOVAL 0xdeadbeefdeadbeeful

static u64 load_as(int mode, u64 va) {
  u64 v = NOVAL;
  __asm__ volatile(
      "li t0, 0x1800\n csrc mstatus, t0\n"
      "slli t1, %2, 11\n csrs mstatus, t1\n"
      "li t0, 0x20000\n csrs mstatus, t0\n"
      "ld %0, 0(%1)\n"
      "csrc mstatus, t0\n"
      : "+r"(v) : "r"(va), "r"((u64)mode) : "t0", "t1", "memory");
  return v;
}
static void store_as(int mode, u64 va, u64 v) {
  __asm__ volatile(
      "li t0, 0x1800\n csrc mstatus, t0\n"
      "slli t1, %2, 11\n csrs mstatus, t1\n"
      "li t0, 0x20000\n csrs mstatus, t0\n"
      "sd %0, 0(%1)\n"
      "csrc mstatus, t0\n"
      :: "r"(v), "r"(va), "r"((u64)mode) : "t0", "t1", "memory");
}
static void sfence(void) { __asm__ volatile("sfence.vma" ::: "memory"); }
static void sfence_va(u64 va) { __asm__ volatile("sfence.vma %0" :: "r"(va) : "memory"); }

/* exec tests run in S-mode: a fetch page fault returns to the caller */
static u64 exec_hook(u64 *regs, u64 cause) {
  if (cause != 12) return 0;
  csr_write(mepc, regs[1]);
  regs[10] = 0xbad;
  return 1;
}
static volatile u64 exec_result;
__attribute__((aligned(4096))) static u64 exec_target(void) { return 0x1234; }
static void s_exec(void) {
  u64 (*ok)(void) = (u64 (*)(void))(VA(7) + ((u64)exec_target & 0xfff));
  u64 (*nx)(void) = (u64 (*)(void))(VA(8) + ((u64)exec_target & 0xfff));
  exec_result = ok();
  exec_result += nx() == 0x1234 ? 0x10000 : 0;
  __asm__ volatile("ecall");
  for (;;) ;
}
/* A U-executable page whose code only ends run_in_mode (U code may not touch S pages). */
__attribute__((naked, aligned(4096))) static void u_ecall_page(void) { __asm__ volatile("ecall"); }
static volatile u64 u_fault_tval;
static u64 u_hook(u64 *regs, u64 cause) {
  (void)regs;
  if (cause != 12) return 0;
  u_fault_tval = csr_read(mtval);
  csr_write(mepc, VA(9));
  return 1;
}

int main(void) {
  for (int i = 0; i < 4; i++) pg[i][0] = 0x1000 + i;
  root39[0] = PTE(0, V | R | W | A | D);                 /* MMIO, identity */
  root39[2] = PTE(0x80000000, V | R | W | X | A | D);    /* RAM, identity */
  root39[1] = PTE(l1, V);
  l1[0] = PTE(l0, V);
  l0[0] = PTE(pg[0], V | R | W | A | D);
  l0[1] = PTE(pg[1], V | R | A);
  l0[2] = PTE(pg[2], V | R | W);
  l0[3] = PTE(pg[3], V | R | W | U | A | D);
  l0[4] = PTE(pg[0], V | X | A);
  l0[6] = PTE(pg[0], V | W | A | D);                     /* W without R: reserved */
  l0[7] = PTE(exec_target, V | R | X | A);
  l0[8] = PTE(exec_target, V | R | A);
  l0[9] = PTE(u_ecall_page, V | R | X | U | A);
  l1[1] = PTE(pg[0], V | R | W | A | D);                 /* misaligned 2 MiB superpage */
  root48[0] = PTE(root39, V);
  root57[0] = PTE(root48, V);

  csr_write(satp, (8ul << 60) | ((u64)root39 >> 12));
  sfence();
  CHECK(1, (csr_read(satp) >> 60) == 8);
  CHECK(2, load_as(1, VA(0)) == 0x1000);
  CHECK(3, load_as(1, VA(1)) == 0x1001);
  /* 4-5: store to a read-only page: store page fault with mtval */
  mt.count = 0;
  store_as(1, VA(1) + 8, 5);
  CHECK(4, mt.count == 1 && mt.cause == 15);
  CHECK(5, mt.tval == VA(1) + 8);
  /* 6-8: A then D set by hardware */
  CHECK(6, !(l0[2] & (A | D)));
  CHECK(7, load_as(1, VA(2)) == 0x1002 && (l0[2] & A) && !(l0[2] & D));
  store_as(1, VA(2) + 8, 7);
  CHECK(8, (l0[2] & D) && pg[2][1] == 7);
  /* 9-10: unmapped: load page fault */
  mt.count = 0;
  CHECK(9, load_as(1, VA(5)) == NOVAL);
  CHECK(10, mt.count == 1 && mt.cause == 13 && mt.tval == VA(5));
  /* 11-13: S access to a U page needs SUM; U access to an S page faults */
  mt.count = 0;
  load_as(1, VA(3));
  CHECK(11, mt.count == 1 && mt.cause == 13);
  csr_set(mstatus, 1ul << 18);
  CHECK(12, load_as(1, VA(3)) == 0x1003);
  csr_clear(mstatus, 1ul << 18);
  CHECK(13, load_as(0, VA(3)) == 0x1003);
  mt.count = 0;
  load_as(0, VA(0));
  CHECK(14, mt.count == 1 && mt.cause == 13);
  /* 15-16: execute-only page readable only with MXR */
  mt.count = 0;
  load_as(1, VA(4));
  CHECK(15, mt.count == 1 && mt.cause == 13);
  csr_set(mstatus, 1ul << 19);
  CHECK(16, load_as(1, VA(4)) == 0x1000);
  csr_clear(mstatus, 1ul << 19);
  /* 17: W without R is reserved: page fault */
  mt.count = 0;
  load_as(1, VA(6));
  CHECK(17, mt.count == 1 && mt.cause == 13);
  /* 18: misaligned superpage */
  mt.count = 0;
  load_as(1, 0x40200000);
  CHECK(18, mt.count == 1 && mt.cause == 13);
  /* 19: non-canonical Sv39 address */
  mt.count = 0;
  load_as(1, 0x0000004000000000ul);
  CHECK(19, mt.count == 1 && mt.cause == 13);
  /* 20-21: remap, and SFENCE.VMA makes it visible */
  CHECK(20, load_as(1, VA(0)) == 0x1000);
  l0[0] = PTE(pg[1], V | R | W | A | D);
  sfence();
  CHECK(21, load_as(1, VA(0)) == 0x1001);
  l0[0] = PTE(pg[0], V | R | W | A | D);
  sfence();
  /* 36-38: SFENCE.VMA with an address: a 4 KiB page, and a 2 MiB superpage fenced through
   * another of its granules */
  l0[0] = PTE(pg[2], V | R | W | A | D);
  sfence_va(VA(0));
  CHECK(36, load_as(1, VA(0)) == pg[2][0]);
  l0[0] = PTE(pg[0], V | R | W | A | D);
  sfence_va(VA(0));
  {
    u64 off = (u64)pg[0] - 0x80000000ul, sva = 0x40400000ul;
    l1[2] = PTE(0x80000000ul, V | R | W | A | D);
    sfence();
    CHECK(37, load_as(1, sva + off) == 0x1000);
    l1[2] = PTE(0x80200000ul, V | R | W | A | D);
    sfence_va(sva + ((off + 0x1000) & 0x1fffff));
    CHECK(38, load_as(1, sva + off) == *(volatile u64 *)(0x80200000ul + off));
  }
  /* 22-24: fetches in S-mode: X page runs, non-X page faults (cause 12) */
  mtrap_hook = exec_hook;
  mt.count = 0;
  run_in_mode(1, s_exec);
  CHECK(22, (exec_result & 0xffff) == 0x1234);
  CHECK(23, !(exec_result & 0x10000));
  CHECK(24, mt.count == 2);   /* the fault and the final ecall */
  /* 25: U may not execute an S page */
  mtrap_hook = u_hook;
  run_in_mode(0, (void (*)(void))(VA(7) + ((u64)exec_target & 0xfff)));
  CHECK(25, u_fault_tval == VA(7) + ((u64)exec_target & 0xfff) && mt.cause == 8);
  mtrap_hook = 0;
  /* 26-27: Sv48 through a 4-level table */
  csr_write(satp, (9ul << 60) | ((u64)root48 >> 12));
  sfence();
  CHECK(26, (csr_read(satp) >> 60) == 9);
  CHECK(27, load_as(1, VA(1)) == 0x1001);
  /* 28: Sv48 address with bit 47 set but not sign-extended */
  mt.count = 0;
  load_as(1, 0x0000800000000000ul);
  CHECK(28, mt.count == 1 && mt.cause == 13);
  /* 29: Sv57 through a 5-level table; satp is WARL: mode 11 (Sv64) is not supported */
  csr_write(satp, (10ul << 60) | ((u64)root57 >> 12));
  sfence();
  CHECK(29, (csr_read(satp) >> 60) == 10 && load_as(1, VA(1)) == 0x1001);
  csr_write(satp, (11ul << 60) | 5);
  CHECK(35, (csr_read(satp) >> 60) == 10);
  csr_write(satp, 0);
  sfence();
  /* 30-34: PMP: S-mode stores to a read-only NAPOT page fault; M-mode ignores unlocked entries */
  {
    /* entry 0: TOR up to pg[1] (RW), entry 1: NAPOT 4K at pg[1] read-only, entry 2: all RWX */
    csr_write(pmpaddr0, (u64)pg[1] >> 2);
    csr_write(pmpaddr1, ((u64)pg[1] >> 2) | 0x1ff);
    csr_write(pmpaddr2, ~0ul >> 10);
    u64 cfg = (0x0bul) | (0x19ul << 8) | (0x1ful << 16);   /* TOR RW / NAPOT R / NAPOT RWX */
    csr_write(pmpcfg0, cfg);
    CHECK(30, csr_read(pmpcfg0) == cfg);
    CHECK(31, load_as(1, (u64)pg[1]) == 0x1001);
    mt.count = 0;
    store_as(1, (u64)pg[1], 9);
    CHECK(32, mt.count == 1 && mt.cause == 7 && pg[1][0] == 0x1001);
    store_as(1, (u64)pg[2], 9);
    CHECK(33, pg[2][0] == 9);
    /* M-mode ignores unlocked entries */
    pg[1][0] = 0x77;
    CHECK(34, pg[1][0] == 0x77);
    csr_write(pmpcfg0, 0);
  }
  return 0;
}
