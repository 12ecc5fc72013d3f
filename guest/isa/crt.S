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
  # PMP: with entries implemented and none matching, S and U may access nothing (as on QEMU).
  # Open everything, as firmware does before entering S-mode.
  li t0, -1
  srli t0, t0, 10
  csrw pmpaddr0, t0
  li t0, 0x1f              # NAPOT, RWX
  csrw pmpcfg0, t0
  call main
  call exit

# Trap entries: save x1..x31 in a frame on the current stack (tests keep one identity-mapped
# stack in every mode), call mtrap/strap(frame) in C, restore — including sp from its slot, so a
# handler may redirect execution — and return.
  .macro TRAP_ENTRY name, handler, ret
  .align 4
  .globl \name
\name:
  addi sp, sp, -256
  .irp r,1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  sd x\r, \r*8(sp)
  .endr
  addi t0, sp, 256
  sd t0, 2*8(sp)
  mv a0, sp
  call \handler
  .irp r,1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  ld x\r, \r*8(sp)
  .endr
  ld sp, 2*8(sp)
  \ret
  .endm

  TRAP_ENTRY mtrap_entry, mtrap, mret
  TRAP_ENTRY strap_entry, strap, sret
