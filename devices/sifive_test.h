/* sifive_test: the test finisher at 0x100000. A 32-bit write of 0x5555 powers off (pass), 0x7777
 * reboots, (code << 16) | 0x3333 fails with code; anything else is ignored. A 16-bit write of the
 * status alone is accepted, as on QEMU (OpenSBI does that). */
#ifndef LEMU_SIFIVE_TEST_H
#define LEMU_SIFIVE_TEST_H

#include "bus.h"

enum sifive_test_kind { SIFIVE_TEST_PASS, SIFIVE_TEST_FAIL, SIFIVE_TEST_RESET };

typedef struct sifive_test {
  void *ud;
  void (*finish)(void *ud, enum sifive_test_kind kind, int code);
} sifive_test;

extern const bus_dev_ops sifive_test_ops;   /* dev is a sifive_test the owner keeps */
#define SIFIVE_TEST_SIZE 0x1000

#endif
