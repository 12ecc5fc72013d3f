# rv64m: multiply and divide, including the division-by-zero and overflow results the spec fixes.
#include "test.h"
  .globl main
main:
  TEST_RR(1, mul, 42, 6, 7)
  TEST_RR(2, mul, -42, -6, 7)
  TEST_RR(3, mulh, -1, -1, 1)
  TEST_RR(4, mulh, 0x3fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff)
  TEST_RR(5, mulhu, 0xfffffffffffffffe, -1, -1)
  TEST_RR(6, mulhsu, -1, -1, -1)
  TEST_RR(7, mulhsu, 0, 1, -1)
  TEST_RR(8, div, -3, 7, -2)
  TEST_RR(9, div, -1, 7, 0)
  TEST_RR(10, div, 0x8000000000000000, 0x8000000000000000, -1)
  TEST_RR(11, divu, -1, 7, 0)
  TEST_RR(12, divu, 0x7fffffffffffffff, -1, 2)
  TEST_RR(13, rem, 1, 7, -2)
  TEST_RR(14, rem, -1, -7, 2)
  TEST_RR(15, rem, 7, 7, 0)
  TEST_RR(16, rem, 0, 0x8000000000000000, -1)
  TEST_RR(17, remu, 7, 7, 0)
  TEST_RR(18, remu, 1, -1, 2)
  TEST_RR(19, mulw, -2147483648, 0x40000000, 2)
  TEST_RR(20, divw, -2147483648, 0x80000000, -1)
  TEST_RR(21, divw, -1, 5, 0)
  TEST_RR(22, divuw, -1, 5, 0)
  TEST_RR(23, divuw, 0x7fffffff, 0xfffffffe, 2)
  TEST_RR(24, remw, 0, 0x80000000, -1)
  TEST_RR(25, remw, -1, -7, 2)
  TEST_RR(26, remuw, -2, 0xfffffffe, 0)
  TEST_RR(27, remw, 5, 5, 0)
  li a0, 0
  ret
