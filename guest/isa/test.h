/* test.h: assembler macros for the instruction tests. Each check sets gp to its number, so a
 * failure reports WHICH check failed (exit code = check number). */
#define TEST_RR(id, inst, res, v1, v2) \
  li gp, id; li a1, v1; li a2, v2; inst a0, a1, a2; li t6, res; bne a0, t6, fail_gp;
#define TEST_RI(id, inst, res, v1, imm) \
  li gp, id; li a1, v1; inst a0, a1, imm; li t6, res; bne a0, t6, fail_gp;
#define TEST_EQ(id, reg, res) li gp, id; li t6, res; bne reg, t6, fail_gp;

  .text
fail_gp:
  mv a0, gp
  call exit
