# rv64a: LR/SC (success, failure after a store, failure without reservation), every AMO in W and
# D forms, sign extension of W results, and the misaligned-AMO exception (cause 6).
#include "test.h"
#define AMO(id, inst, init, src, old, new) \
  li gp, id; li t0, init; sd t0, 0(s0); li a1, src; inst a0, a1, (s0); \
  li t6, old; bne a0, t6, fail_gp; ld a2, 0(s0); li t6, new; bne a2, t6, fail_gp;
  .globl main
main:
  addi sp, sp, -16
  sd ra, 0(sp)
  la s0, word
  AMO(1, amoswap.d, 5, 9, 5, 9)
  AMO(2, amoadd.d, 5, 9, 5, 14)
  AMO(3, amoxor.d, 5, 3, 5, 6)
  AMO(4, amoand.d, 6, 3, 6, 2)
  AMO(5, amoor.d, 4, 3, 4, 7)
  AMO(6, amomin.d, -5, 3, -5, -5)
  AMO(7, amomax.d, -5, 3, -5, 3)
  AMO(8, amominu.d, -5, 3, -5, 3)
  AMO(9, amomaxu.d, -5, 3, -5, -5)
  AMO(10, amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0x80000000)
  AMO(11, amoswap.w, 0xffffffff, 2, -1, 2)
  AMO(12, amomin.w, 0x80000000, 1, 0xffffffff80000000, 0x80000000)
  AMO(13, amominu.w, 0x80000000, 1, 0xffffffff80000000, 1)
  AMO(14, amomax.w, 0x80000000, 1, 0xffffffff80000000, 1)
  # LR/SC success
  li gp, 15
  li t0, 10
  sd t0, 0(s0)
  lr.d a0, (s0)
  addi a0, a0, 1
  sc.d a1, a0, (s0)
  bnez a1, fail_gp
  ld a2, 0(s0)
  li t6, 11
  bne a2, t6, fail_gp
  # SC without reservation fails and does not store
  li gp, 16
  li a0, 99
  sc.d a1, a0, (s0)
  beqz a1, fail_gp
  ld a2, 0(s0)
  li t6, 11
  bne a2, t6, fail_gp
  # a store that changes the value between LR and SC makes SC fail
  li gp, 17
  lr.w a0, (s0)
  li t0, 12
  sw t0, 0(s0)
  sc.w a1, a0, (s0)
  beqz a1, fail_gp
  # misaligned AMO takes a store/AMO address-misaligned exception (skipped by the handler)
  li gp, 18
  addi a1, s0, 1
  amoadd.w a0, a2, (a1)
  la t0, mt
  ld t1, 8(t0)         # cause
  li t6, 6
  bne t1, t6, fail_gp
  li gp, 19
  ld t1, 24(t0)        # tval
  bne t1, a1, fail_gp
  # misaligned LR: load address misaligned
  li gp, 20
  lr.d a0, (a1)
  ld t1, 8(t0)
  li t6, 4
  bne t1, t6, fail_gp
  ld ra, 0(sp)
  addi sp, sp, 16
  li a0, 0
  ret
  .data
  .align 3
word: .dword 0, 0
