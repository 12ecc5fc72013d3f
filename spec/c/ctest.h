/* ctest: a minimal C unit-test harness. TEST(name) defines a test that registers itself; CHECK
 * records a failure and carries on; results are printed as TAP lines for scripts/test.sh. */
#ifndef LEMU_CTEST_H
#define LEMU_CTEST_H

#include <stdio.h>

typedef struct ctest { const char *name; void (*fn)(void); struct ctest *next; } ctest;
void ctest_register(ctest *t);
extern int ctest_failed;
void ctest_skip(const char *why);

#define TEST(id)                                                        \
  static void id(void);                                                 \
  static ctest ctest_##id = {#id, id, 0};                               \
  __attribute__((constructor)) static void reg_##id(void) { ctest_register(&ctest_##id); } \
  static void id(void)

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ctest_failed = 1;                                                 \
    }                                                                   \
  } while (0)

#define CHECK_EQ(a, b)                                                  \
  do {                                                                  \
    long long a_ = (long long)(a), b_ = (long long)(b);                 \
    if (a_ != b_) {                                                     \
      printf("# %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); \
      ctest_failed = 1;                                                 \
    }                                                                   \
  } while (0)

#endif
