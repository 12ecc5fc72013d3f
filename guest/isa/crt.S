# crt: entry for lemu's bare-metal ISA tests. Sets the stack and M-mode trap vector, enables the
# FPU, calls main and reports its result through the sifive_test finisher at 0x100000.
  .section .text.init
  .globl _start
_start:
  la sp, _stack_top
  la t0, mtrap_entry
  csrw mtvec, t0
  li t0, 0x2000            # mstatus.FS = Initial
  csrs mstatus, t0
  call main
  call exit

# Saves all registers in a frame, calls mtrap(frame) (C), restores, mret. The frame holds x1..x31
# at index 1..31; the handler may change them and mepc.
  .align 4
  .globl mtrap_entry
mtrap_entry:
  csrrw sp, mscratch, sp
  bnez sp, 1f
  csrr sp, mscratch        # mscratch was 0: trap on the current stack
1:
  addi sp, sp, -256
  .irp r,1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  sd x\r, \r*8(sp)
  .endr
  csrr t0, mscratch
  sd t0, 2*8(sp)
  mv a0, sp
  call mtrap
  ld t0, 2*8(sp)
  csrw mscratch, t0
  .irp r,1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ld x\r, \r*8(sp)
  .endr
  addi sp, sp, 256
  csrrw sp, mscratch, sp
  bnez sp, 2f
  csrr sp, mscratch
2:
  mret

  .align 4
  .globl strap_entry
strap_entry:
  addi sp, sp, -256
  .irp r,1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  sd x\r, \r*8(sp)
  .endr
  addi t0, sp, 256
  sd t0, 2*8(sp)
  mv a0, sp
  call strap
  .irp r,1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ld x\r, \r*8(sp)
  .endr
  addi sp, sp, 256
  sret
