# rv64i: the base integer instructions — arithmetic, shifts, compares, W forms, LUI/AUIPC,
# branches, jumps, loads and stores with sign extension, misaligned accesses (handled, as on
# QEMU virt), and x0 staying zero.
#include "test.h"
  .globl main
main:
  mv s11, ra
  TEST_RR(1, add, 5, 2, 3)
  TEST_RR(2, add, 0, -1, 1)
  TEST_RR(3, sub, -1, 2, 3)
  TEST_RR(4, sll, 0x100, 1, 8)
  TEST_RR(5, sll, 0x8000000000000000, 1, 63)
  TEST_RR(6, sll, 2, 1, 65)
  TEST_RR(7, slt, 1, -5, 3)
  TEST_RR(8, slt, 0, 3, -5)
  TEST_RR(9, sltu, 0, -5, 3)
  TEST_RR(10, sltu, 1, 3, -5)
  TEST_RR(11, xor, 0xff0, 0xf0f, 0x0ff)
  TEST_RR(12, srl, 0x7fffffffffffffff, -1, 1)
  TEST_RR(13, sra, -1, -1, 1)
  TEST_RR(14, sra, -4, -16, 2)
  TEST_RR(15, or, 0xfff, 0xf0f, 0x0ff)
  TEST_RR(16, and, 0x00f, 0xf0f, 0x0ff)
  TEST_RI(17, addi, 1, 3, -2)
  TEST_RI(18, slti, 1, -3, -2)
  TEST_RI(19, sltiu, 1, 3, -1)
  TEST_RI(20, xori, -2, 1, -1)
  TEST_RI(21, ori, 0x7ff, 0x700, 0xff)
  TEST_RI(22, andi, 0x0f0, 0xff0, 0x0ff)
  TEST_RI(23, slli, 0x8000000000000000, 1, 63)
  TEST_RI(24, srli, 1, 0x8000000000000000, 63)
  TEST_RI(25, srai, -1, 0x8000000000000000, 63)
  TEST_RI(26, addiw, -2147483648, 0x7fffffff, 1)
  TEST_RI(27, slliw, -2147483648, 1, 31)
  TEST_RI(28, srliw, 1, 0x80000000, 31)
  TEST_RI(29, sraiw, -1, 0x80000000, 31)
  TEST_RR(30, addw, -2147483648, 0x7fffffff, 1)
  TEST_RR(31, subw, 0x7fffffff, 0x80000000, 1)
  TEST_RR(32, sllw, -2147483648, 1, 63)
  TEST_RR(33, srlw, 1, 0xffffffff80000000, 31)
  TEST_RR(34, sraw, -1, 0x80000000, 31)
  # lui/auipc
  li gp, 35
  lui a0, 0x80000
  li t6, 0xffffffff80000000
  bne a0, t6, fail_gp
  li gp, 36
1: auipc a0, 0
  la a1, 1b
  bne a0, a1, fail_gp
  # branches
  li gp, 37
  li a1, -1
  li a2, 1
  blt a2, a1, fail_gp
  bge a1, a2, fail_gp
  bltu a1, a2, fail_gp
  bgeu a2, a1, fail_gp
  beq a1, a2, fail_gp
  bne a1, a1, fail_gp
  li gp, 38
  blt a1, a2, 2f
  j fail_gp
2: bgeu a1, a2, 3f
  j fail_gp
3:
  # jal/jalr link values
  li gp, 39
  jal ra, 4f
5: j fail_gp
4: la t0, 5b
  bne ra, t0, fail_gp
  li gp, 40
  la t0, 6f
  addi t0, t0, 1          # jalr clears bit 0
  jalr a0, 0(t0)
  j fail_gp
  .align 2
6: 
  # loads and stores
  la s0, buf
  li t0, 0x8182838485868788
  sd t0, 0(s0)
  li gp, 41
  lb a0, 0(s0)
  li t6, 0xffffffffffffff88
  bne a0, t6, fail_gp
  li gp, 42
  lbu a0, 0(s0)
  li t6, 0x88
  bne a0, t6, fail_gp
  li gp, 43
  lh a0, 2(s0)
  li t6, 0xffffffffffff8586
  bne a0, t6, fail_gp
  li gp, 44
  lhu a0, 2(s0)
  li t6, 0x8586
  bne a0, t6, fail_gp
  li gp, 45
  lw a0, 4(s0)
  li t6, 0xffffffff81828384
  bne a0, t6, fail_gp
  li gp, 46
  lwu a0, 4(s0)
  li t6, 0x81828384
  bne a0, t6, fail_gp
  li gp, 47
  sb zero, 1(s0)
  sh zero, 4(s0)
  ld a0, 0(s0)
  li t6, 0x8182000085860088
  bne a0, t6, fail_gp
  # misaligned: QEMU virt's CPU performs them; so does lemu
  li gp, 48
  li t0, 0x1122334455667788
  sd t0, 3(s0)
  ld a0, 3(s0)
  bne a0, t0, fail_gp
  li gp, 49
  lw a0, 5(s0)
  li t6, 0x33445566
  bne a0, t6, fail_gp
  # misaligned across a page boundary
  li gp, 50
  la s1, pagebuf
  li t1, 4093
  add s1, s1, t1
  sd t0, 0(s1)
  ld a0, 0(s1)
  bne a0, t0, fail_gp
  # x0 stays zero
  li gp, 51
  addi zero, zero, 5
  bnez zero, fail_gp
  li gp, 52
  li a1, 7
  add x0, a1, a1
  mv a0, x0
  bnez a0, fail_gp
  # no traps happened
  li gp, 53
  la t0, mt
  ld t0, 0(t0)
  bnez t0, fail_gp
  li a0, 0
  mv ra, s11
  ret

  .data
  .align 3
buf: .space 64
  .align 12
pagebuf: .space 8192
