# rv64b: Zba, Zbb, Zbc and Zbs (bit-manipulation 1.0.0, RV64 forms) with known answers at the
# edges (counts of 0, rotates by 0 and by 31/63, .uw and W forms ignoring rs1's upper word),
# x0 and rs1 == rd, Zihintpause's pause as a no-op, and neighbouring encodings that must stay
# illegal (RV32-only forms and Zbkb/Zbkx, which QEMU 7.2's default CPU lacks).
  .option arch, +zba, +zbb, +zbc, +zbs, +zihintpause
#include "test.h"
#define TEST_R(id, inst, res, v1) \
  li gp, id; li a1, v1; inst a0, a1; li t6, res; bne a0, t6, fail_gp;
/* The word raises illegal instruction, with its bits in mtval. */
#define TEST_ILLEGAL(id, bits) \
  li gp, id; la t0, mt; ld t2, 0(t0); .word bits; ld t1, 0(t0); addi t2, t2, 1; \
  bne t1, t2, fail_gp; ld t1, 8(t0); li t6, 2; bne t1, t6, fail_gp; ld t1, 24(t0); \
  li t6, bits; bne t1, t6, fail_gp;
  .globl main
main:
  mv s11, ra
  # Zba: add.uw and shNadd(.uw) zero-extend only rs1's low word; slli.uw
  TEST_RR(1, add.uw, 0x80000001, 0xffffffff80000000, 1)
  TEST_RR(2, add.uw, 0xfffffffe, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_RR(3, sh1add, 37, 16, 5)
  TEST_RR(4, sh2add, 0xfffffffffffffffc, 0xffffffffffffffff, 0)
  TEST_RR(5, sh3add, 9, 0x2000000000000001, 1)
  TEST_RR(6, sh1add.uw, 0x100000001, 0xdeadbeef80000000, 1)
  TEST_RR(7, sh2add.uw, 0x400000000, 0xffffffffffffffff, 4)
  TEST_RR(8, sh3add.uw, 8, 0x100000001, 0)
  TEST_RI(9, slli.uw, 0xffffffff, 0xffffffffffffffff, 0)
  TEST_RI(10, slli.uw, 0x8000000000000000, 0xffffffffffffffff, 63)
  TEST_RI(11, slli.uw, 0x9abcdef000000000, 0x123456789abcdef0, 32)
  TEST_RI(12, slli.uw, 0x100000000, 0x80000000, 1)
  # Zbb logic with negate
  TEST_RR(13, andn, 0xf000f000f000f000, 0xff00ff00ff00ff00, 0xff00ff00ff00ff0)
  TEST_RR(14, orn, 0xffffffffffffffff, 0, 0)
  TEST_RR(15, orn, 0x1200, 0x1200, 0xffffffffffffffff)
  TEST_RR(16, xnor, 0xffffffffffff0000, 0x5555, 0xaaaa)
  TEST_RR(17, xnor, 0xffffffffffffffff, 0x123456789, 0x123456789)
  # counts: 0 counts as all bits; the W forms look at the low word only
  TEST_R(18, clz, 64, 0)
  TEST_R(19, clz, 63, 1)
  TEST_R(20, clz, 0, 0xffffffffffffffff)
  TEST_R(21, clz, 8, 0xf0000000000000)
  TEST_R(22, clzw, 32, 0)
  TEST_R(23, clzw, 32, 0xffffffff00000000)
  TEST_R(24, clzw, 31, 1)
  TEST_R(25, clzw, 0, 0x80000000)
  TEST_R(26, clzw, 15, 0x100010000)
  TEST_R(27, ctz, 64, 0)
  TEST_R(28, ctz, 63, 0x8000000000000000)
  TEST_R(29, ctz, 0, 1)
  TEST_R(30, ctz, 32, 0x100000000)
  TEST_R(31, ctzw, 32, 0)
  TEST_R(32, ctzw, 32, 0x100000000)
  TEST_R(33, ctzw, 31, 0x80000000)
  TEST_R(34, ctzw, 6, 0xffffffff00000040)
  TEST_R(35, cpop, 0, 0)
  TEST_R(36, cpop, 64, 0xffffffffffffffff)
  TEST_R(37, cpop, 32, 0x5555555555555555)
  TEST_R(38, cpop, 2, 0x8000000000000001)
  TEST_R(39, cpopw, 32, 0xffffffffffffffff)
  TEST_R(40, cpopw, 0, 0xffffffff00000000)
  TEST_R(41, cpopw, 2, 0xf00000101)
  # min/max, signed and unsigned
  TEST_RR(42, max, 1, 0xffffffffffffffff, 1)
  TEST_RR(43, maxu, 0xffffffffffffffff, 0xffffffffffffffff, 1)
  TEST_RR(44, min, 0xffffffffffffffff, 0xffffffffffffffff, 1)
  TEST_RR(45, minu, 1, 0xffffffffffffffff, 1)
  TEST_RR(46, max, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_RR(47, minu, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_RR(48, min, 5, 5, 5)
  # sign and zero extension
  TEST_R(49, sext.b, 0xffffffffffffff80, 128)
  TEST_R(50, sext.b, 127, 127)
  TEST_R(51, sext.b, 0xffffffffffffff80, 0x12345680)
  TEST_R(52, sext.b, 1, 0xff01)
  TEST_R(53, sext.h, 0xffffffffffff8000, 0x8000)
  TEST_R(54, sext.h, 0x7fff, 0xffff7fff)
  TEST_R(55, sext.h, 0xffffffffffffffff, 0xffff)
  TEST_R(56, zext.h, 0xffff, 0xffffffffffffffff)
  TEST_R(57, zext.h, 0x8765, 0x12348765)
  # rotates by 0, 1, 31/63, and amounts taken mod the width
  TEST_RR(58, rol, 3, 0x8000000000000001, 1)
  TEST_RR(59, rol, 0x123456789abcdef, 0x123456789abcdef, 0)
  TEST_RR(60, rol, 0x8091a2b3c4d5e6f7, 0x123456789abcdef, 63)
  TEST_RR(61, rol, 0x123456789abcdef, 0x123456789abcdef, 64)
  TEST_RR(62, rol, 0x123456789abcdef0, 0x123456789abcdef, 68)
  TEST_RR(63, ror, 0x8000000000000000, 1, 1)
  TEST_RR(64, ror, 0x123456789abcdef, 0x123456789abcdef, 0)
  TEST_RR(65, ror, 3, 0x8000000000000001, 63)
  TEST_RR(66, ror, 0xf0123456789abcde, 0x123456789abcdef, 68)
  TEST_RR(67, rolw, 3, 0x80000001, 1)
  TEST_RR(68, rolw, 0xffffffff80000000, 0x40000000, 1)
  TEST_RR(69, rolw, 1, 0xffffffff00000001, 0)
  TEST_RR(70, rolw, 0xffffffff80000001, 3, 31)
  TEST_RR(71, rolw, 0x12345678, 0x12345678, 32)
  TEST_RR(72, rolw, 0x23456781, 0x12345678, 36)
  TEST_RR(73, rorw, 0xffffffff80000000, 1, 1)
  TEST_RR(74, rorw, 0x7ffffff0, 0x123456777ffffff0, 0)
  TEST_RR(75, rorw, 1, 0x80000000, 31)
  TEST_RR(76, rorw, 0xffffffff81234567, 0x12345678, 0xffffffffffffffe4)
  TEST_RI(77, rori, 0xf0123456789abcde, 0x123456789abcdef, 4)
  TEST_RI(78, rori, 0x123456789abcdef, 0x123456789abcdef, 0)
  TEST_RI(79, rori, 3, 0x8000000000000001, 63)
  TEST_RI(80, roriw, 0xffffffff81234567, 0x12345678, 4)
  TEST_RI(81, roriw, 1, 0xffffffff00000001, 0)
  TEST_RI(82, roriw, 2, 0xffffffff00000001, 31)
  TEST_RI(83, roriw, 0x7fffffff, 0xfffffffe, 1)
  # orc.b and rev8
  TEST_R(84, orc.b, 0xff00ff00ff, 0x1008000ff)
  TEST_R(85, orc.b, 0, 0)
  TEST_R(86, orc.b, 0xffffffffffffffff, 0x102030405060708)
  TEST_R(87, orc.b, 0xff00000000000000, 0x8000000000000000)
  TEST_R(88, orc.b, 0xffff0000ff0000, 0xff7f0000010000)
  TEST_R(89, rev8, 0xefcdab8967452301, 0x123456789abcdef)
  TEST_R(90, rev8, 0x8000000000000000, 128)
  TEST_R(91, rev8, 0xffffffffffffffff, 0xffffffffffffffff)
  # Zbc: carry-less products; clmulh/clmulr are bits 127..64 / 126..63 of the 128-bit product
  TEST_RR(92, clmul, 5, 3, 3)
  TEST_RR(93, clmul, 0, 0x8000000000000000, 2)
  TEST_RR(94, clmul, 0x5555555555555555, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_RR(95, clmul, 0x40a0789828c810f0, 0x123456789abcdef, 0xfedcba9876543210)
  TEST_RR(96, clmulh, 0x5555555555555555, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_RR(97, clmulh, 1, 0x8000000000000000, 2)
  TEST_RR(98, clmulh, 0, 3, 3)
  TEST_RR(99, clmulh, 0xe038d8688850b0, 0x123456789abcdef, 0xfedcba9876543210)
  TEST_RR(100, clmulr, 0xaaaaaaaaaaaaaaaa, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_RR(101, clmulr, 2, 0x8000000000000000, 2)
  TEST_RR(102, clmulr, 0, 3, 3)
  TEST_RR(103, clmulr, 0x1c071b0d110a160, 0x123456789abcdef, 0xfedcba9876543210)
  TEST_RR(104, clmul, 0, 0, 0xffffffffffffffff)
  TEST_RR(105, clmulh, 0, 1, 0xffffffffffffffff)
  TEST_RR(106, clmulr, 1, 1, 0x8000000000000000)
  # Zbs: the bit index is rs2 (mod 64) or the shamt
  TEST_RR(107, bclr, 0x7fffffffffffffff, 0xffffffffffffffff, 63)
  TEST_RR(108, bclr, 0xfffffffffffffff7, 0xffffffffffffffff, 67)
  TEST_RI(109, bclri, 0xfffffffffffffffe, 0xffffffffffffffff, 0)
  TEST_RI(110, bclri, 0, 0x8000000000000000, 63)
  TEST_RR(111, bext, 1, 0x8000000000000000, 63)
  TEST_RR(112, bext, 1, 1, 64)
  TEST_RR(113, bext, 0, 1, 1)
  TEST_RI(114, bexti, 1, 16, 4)
  TEST_RI(115, bexti, 0, 16, 5)
  TEST_RI(116, bexti, 1, 0xffffffffffffffff, 63)
  TEST_RR(117, binv, 0x8000000000000000, 0, 63)
  TEST_RR(118, binv, 0, 0x100, 72)
  TEST_RI(119, binvi, 0xfffffffffffffffd, 0xffffffffffffffff, 1)
  TEST_RI(120, binvi, 1, 0, 0)
  TEST_RR(121, bset, 0x100000000, 0, 32)
  TEST_RR(122, bset, 1, 1, 0)
  TEST_RI(123, bseti, 0x8000000000000000, 0, 63)
  TEST_RI(124, bseti, 16, 16, 4)
  # zext.w is add.uw with rs2 = x0
  li gp, 125
  li a1, -2
  zext.w a0, a1
  li t6, 0xfffffffe
  bne a0, t6, fail_gp
  # rd == rs1 == rs2
  li gp, 126
  li a1, 5
  sh3add a1, a1, a1
  li t6, 45
  bne a1, t6, fail_gp
  li gp, 127
  li a1, 0x80
  rev8 a1, a1
  li t6, 0x8000000000000000
  bne a1, t6, fail_gp
  li gp, 128
  li a1, 0x8000000000000003
  clmulr a1, a1, a1
  li t6, 0x8000000000000000
  bne a1, t6, fail_gp
  # x0 stays zero
  li gp, 129
  li a1, 0
  clz zero, a1
  li a2, -1
  rev8 zero, a2
  bseti zero, zero, 5
  mv a0, zero
  bnez a0, fail_gp
  # pause (fence w, 0) is a hint: nothing happens, nothing traps
  li gp, 130
  li a0, 7
  pause
  .word 0x0100000f
  li t6, 7
  bne a0, t6, fail_gp
  la t0, mt
  ld t0, 0(t0)
  bnez t0, fail_gp
  # encodings next to the new ones that stay illegal
  TEST_ILLEGAL(131, 0x60359513)   /* clz's group with rs2 = 3 */
  TEST_ILLEGAL(132, 0x6045951b)   /* clzw's group with rs2 = 4 (no sext.b in W) */
  TEST_ILLEGAL(133, 0x6985d513)   /* rev8's RV32 encoding */
  TEST_ILLEGAL(134, 0x6875d513)   /* brev8 (Zbkb) */
  TEST_ILLEGAL(135, 0x6215d51b)   /* roriw with imm[5] set */
  TEST_ILLEGAL(136, 0x0805c533)   /* zext.h's RV32 encoding (pack rd, rs1, x0) */
  TEST_ILLEGAL(137, 0x08c5c53b)   /* packw: zext.h's encoding with rs2 != 0 (Zbkb) */
  TEST_ILLEGAL(138, 0x28c5c533)   /* xperm8 (Zbkx) */
  TEST_ILLEGAL(139, 0x62c5953b)   /* rolw with funct7 0x31 */
  # no other traps
  li gp, 140
  la t0, mt
  ld t0, 0(t0)
  li t6, 9
  bne t0, t6, fail_gp
  # last, as QEMU 7.2 fails it (its ctzw counts all 64 bits unless the register is 0): ctzw of
  # a value whose low word is 0 is 32, whatever the upper word holds
  TEST_R(141, ctzw, 32, 0x6800000000000000)
  li a0, 0
  mv ra, s11
  ret
