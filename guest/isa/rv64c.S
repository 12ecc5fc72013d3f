# rv64c: every RV64C instruction against its expected effect, a 32-bit instruction straddling a
# page boundary, illegal/ebreak compressed encodings, and code modified at run time (FENCE.I).
#include "test.h"
  .option rvc
  .globl main
main:
  mv s11, ra
  la s0, cbuf
  li gp, 1
  c.li a0, -3
  li t6, -3
  bne a0, t6, fail_gp
  li gp, 2
  c.addi a0, 5
  li t6, 2
  bne a0, t6, fail_gp
  li gp, 3
  li a0, 0x7fffffff
  c.addiw a0, 1
  li t6, -2147483648
  bne a0, t6, fail_gp
  li gp, 4
  c.lui a1, 0x1f
  li t6, 0x1f000
  bne a1, t6, fail_gp
  li gp, 5
  mv t0, sp
  c.addi16sp sp, -64
  addi t1, t0, -64
  bne sp, t1, fail_gp
  c.addi4spn a2, sp, 16
  addi t1, sp, 16
  li gp, 6
  bne a2, t1, fail_gp
  c.addi16sp sp, 64
  li gp, 7
  li a0, -16
  mv a1, a0
  c.srli a1, 60
  li t6, 15
  bne a1, t6, fail_gp
  li gp, 8
  mv a1, a0
  c.srai a1, 2
  li t6, -4
  bne a1, t6, fail_gp
  li gp, 9
  li a1, 0x3f
  c.andi a1, -4
  li t6, 0x3c
  bne a1, t6, fail_gp
  li gp, 10
  li a0, 10
  li a1, 3
  c.sub a0, a1
  li t6, 7
  bne a0, t6, fail_gp
  li gp, 11
  c.xor a0, a1
  li t6, 4
  bne a0, t6, fail_gp
  li gp, 12
  c.or a0, a1
  li t6, 7
  bne a0, t6, fail_gp
  li gp, 13
  c.and a0, a1
  li t6, 3
  bne a0, t6, fail_gp
  li gp, 14
  li a0, 0x80000000
  li a1, 1
  c.subw a0, a1
  li t6, 0x7fffffff
  bne a0, t6, fail_gp
  li gp, 15
  c.addw a0, a1
  li t6, -2147483648
  bne a0, t6, fail_gp
  li gp, 16
  li a1, 3
  c.slli a1, 62
  li t6, 0xc000000000000000
  bne a1, t6, fail_gp
  li gp, 17
  c.mv a2, a1
  bne a2, a1, fail_gp
  li gp, 18
  li a2, 5
  c.add a2, a2
  li t6, 10
  bne a2, t6, fail_gp
  # loads/stores
  li gp, 19
  li a0, -2
  c.sw a0, 4(s0)
  c.lw a1, 4(s0)
  bne a1, a0, fail_gp
  li gp, 20
  li a0, 0x123456789
  c.sd a0, 8(s0)
  c.ld a1, 8(s0)
  bne a1, a0, fail_gp
  li gp, 21
  addi sp, sp, -32
  c.swsp a0, 4(sp)
  c.lwsp a1, 4(sp)
  sext.w t6, a0
  bne a1, t6, fail_gp
  li gp, 22
  c.sdsp a0, 8(sp)
  c.ldsp a1, 8(sp)
  bne a1, a0, fail_gp
  li gp, 23
  c.fsdsp ft0, 16(sp)
  c.fldsp ft1, 16(sp)
  fmv.x.d t0, ft0
  fmv.x.d t1, ft1
  bne t0, t1, fail_gp
  fmv.d fs0, ft0
  c.fsd fs0, 16(s0)
  c.fld fs1, 16(s0)
  fmv.x.d t1, fs1
  bne t0, t1, fail_gp
  addi sp, sp, 32
  # control flow
  li gp, 24
  c.j 1f
  j fail_gp
1: li a0, 0
  c.beqz a0, 2f
  j fail_gp
2: li a0, 1
  c.bnez a0, 3f
  j fail_gp
3: c.beqz a0, fail_gp_far
  li gp, 25
  la t0, 4f
  c.jr t0
  j fail_gp
4: la t0, 5f
  c.jalr t0
6: j fail_gp
5: la t1, 6b
  bne ra, t1, fail_gp
  # ebreak and the all-zero illegal encoding
  li gp, 26
  c.ebreak
  la t0, mt
  ld t1, 8(t0)
  li t6, 3
  bne t1, t6, fail_gp
  li gp, 27
  .2byte 0
  ld t1, 8(t0)
  li t6, 2
  bne t1, t6, fail_gp
  ld t1, 24(t0)       # mtval: the (zero) instruction bits
  bnez t1, fail_gp
  # a 32-bit instruction across a page boundary
  li gp, 28
  li a0, 0
  call straddle
  li t6, 2047 + 100
  bne a0, t6, fail_gp
  # code written at run time, then FENCE.I
  li gp, 29
  call smc
  li t6, 1
  bne a0, t6, fail_gp
  la t0, smc
  li t1, 0x02a00513        # addi a0, zero, 42
  sw t1, 0(t0)
  fence.i
  call smc
  li t6, 42
  bne a0, t6, fail_gp
  li a0, 0
  mv ra, s11
  ret
fail_gp_far:
  j fail_gp

  .option norvc
  .p2align 12
straddle:
  .rept 2047
  .2byte 0x0505        # c.addi a0, 1
  .endr
  addi a0, a0, 100        # starts at page offset 0xffe
  ret
  .p2align 2
smc:
  addi a0, zero, 1
  ret

  .data
  .align 4
cbuf: .space 64
