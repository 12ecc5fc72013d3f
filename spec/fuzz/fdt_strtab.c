/* fdt_strtab: the comparison libfdt's strings-table search uses in the opts target's build.
 * fdt_find_string_ (libfdt's fdt.o) looks for a property name at every byte offset of the table,
 * one memcmp each; a machine's device tree, built at every machine and reset, made half of opts'
 * time there, in ASan's memcmp interceptor and libFuzzer's comparison hook, on names that are
 * lemu's own constants. The Makefile links opts against a copy of Debian's libfdt.a whose fdt.o
 * calls this instead (objcopy --redefine-sym); no other libfdt object and no other target does. */
#include <stddef.h>

int fuzz_fdt_memcmp(const void *a, const void *b, size_t n);

__attribute__((no_sanitize("address", "undefined", "coverage")))
int fuzz_fdt_memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}
