/* crt0: entry for the board's test programs: a stack, then main(a0 hartid, a1 dtb, a2 fw_dynamic
 * info). M-mode programs enter on every hart and only hart 0 goes on (the others park in WFI); an
 * S-mode payload (ANY_HART) runs on whichever hart the firmware hands over. */
  .section .text.start
  .globl _start
_start:
  la sp, stack_top
#ifndef ANY_HART
  bnez a0, park
#endif
  call main
park:
  wfi
  j park

  .bss
  .align 4
  .space 8192
stack_top:
  .space 8192
  .globl stack2_top
stack2_top:
