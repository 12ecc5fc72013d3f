/* ctest_main: runs every registered C test in registration order and prints TAP. */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

int ctest_failed;
static const char *skip_reason;
static ctest *head, **tail = &head;

void ctest_register(ctest *t) { *tail = t; tail = &t->next; }
void ctest_skip(const char *why) { skip_reason = why; }

int main(int argc, char **argv) {
  int n = 0, bad = 0;
  for (ctest *t = head; t; t = t->next) {
    if (argc > 1 && !strstr(t->name, argv[1])) continue;
    ctest_failed = 0;
    skip_reason = NULL;
    t->fn();
    n++;
    if (skip_reason) printf("ok %d - # SKIP c: %s: %s\n", n, t->name, skip_reason);
    else printf("%s %d - c: %s\n", ctest_failed ? "not ok" : "ok", n, t->name);
    bad += ctest_failed;
    fflush(stdout);
  }
  printf("1..%d\n", n);
  return bad ? 1 : 0;
}
