/* bus: the guest-physical address space — a small sorted array of regions (RAM with host backing,
 * MMIO served by devices). Lookups remember the last region hit, since accesses cluster; the CPU's
 * TLB keeps RAM pointers itself, so the bus is only on the slow path. Assumes a little-endian host,
 * as RISC-V is little-endian. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bus.h"

typedef struct region {
  uint64_t base, size;
  uint8_t *ram;                 /* NULL for MMIO */
  const bus_dev_ops *ops;
  void *dev;
  char name[32];
} region;

struct bus {
  region *r;
  int n, cap;
  region *last;
  void (*code_hook)(void *ud, uint64_t pa, uint64_t len);
  void *code_ud;
};

bus *bus_new(void) { return calloc(1, sizeof(bus)); }

/* Guest RAM is an anonymous mapping (zero pages until touched, never swapped in reserve) with an
 * inaccessible page after it, so a host bug that runs past the end of RAM faults at once. */
static uint8_t *ram_map(uint64_t size) {
  if (size > SIZE_MAX - 8192) return NULL;
  size_t len = (size_t)((size + 4095) & ~4095ull);
  uint8_t *p = mmap(NULL, len + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  mprotect(p + len, 4096, PROT_NONE);
  return p;
}

static void ram_unmap(uint8_t *p, uint64_t size) {
  if (p) munmap(p, (size_t)((size + 4095) & ~4095ull) + 4096);
}

void bus_free(bus *b) {
  if (!b) return;
  for (int i = 0; i < b->n; i++) ram_unmap(b->r[i].ram, b->r[i].size);
  free(b->r);
  free(b);
}

static region *add_region(bus *b, uint64_t base, uint64_t size, const char *name) {
  if (size == 0 || base + size < base) return NULL;
  for (int i = 0; i < b->n; i++)
    if (base < b->r[i].base + b->r[i].size && b->r[i].base < base + size) return NULL;
  if (b->n == b->cap) {
    int cap = b->cap ? b->cap * 2 : 8;
    region *r = realloc(b->r, cap * sizeof(region));
    if (!r) return NULL;
    b->r = r;
    b->cap = cap;
  }
  int i = b->n;
  while (i > 0 && b->r[i - 1].base > base) { b->r[i] = b->r[i - 1]; i--; }
  b->n++;
  b->last = NULL;
  region *r = &b->r[i];
  memset(r, 0, sizeof(*r));
  r->base = base;
  r->size = size;
  strncpy(r->name, name ? name : "?", sizeof(r->name) - 1);
  return r;
}

uint8_t *bus_add_ram(bus *b, uint64_t base, uint64_t size, const char *name) {
  uint8_t *mem = ram_map(size);
  if (!mem) return NULL;
  region *r = add_region(b, base, size, name);
  if (!r) { ram_unmap(mem, size); return NULL; }
  r->ram = mem;
  return mem;
}

int bus_add_mmio(bus *b, uint64_t base, uint64_t size, const bus_dev_ops *ops, void *dev,
                 const char *name) {
  region *r = add_region(b, base, size, name);
  if (!r) return -1;
  r->ops = ops;
  r->dev = dev;
  return 0;
}

static region *find(bus *b, uint64_t pa) {
  region *r = b->last;
  if (r && pa - r->base < r->size) return r;
  int lo = 0, hi = b->n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    r = &b->r[mid];
    if (pa < r->base) hi = mid - 1;
    else if (pa - r->base >= r->size) lo = mid + 1;
    else return b->last = r;
  }
  return NULL;
}

uint8_t *bus_ram_ptr(bus *b, uint64_t pa, uint64_t len) {
  region *r = find(b, pa);
  if (!r || !r->ram) return NULL;
  uint64_t off = pa - r->base;
  if (len > r->size - off) return NULL;
  return r->ram + off;
}

int bus_ram_read(bus *b, uint64_t pa, void *dst, uint64_t len) {
  if (len == 0) return 0;
  uint8_t *p = bus_ram_ptr(b, pa, len);
  if (!p) return -1;
  memcpy(dst, p, len);
  return 0;
}

int bus_ram_write(bus *b, uint64_t pa, const void *src, uint64_t len) {
  if (len == 0) return 0;
  uint8_t *p = bus_ram_ptr(b, pa, len);
  if (!p) return -1;
  memcpy(p, src, len);
  if (b->code_hook) b->code_hook(b->code_ud, pa, len);
  return 0;
}

int bus_read(bus *b, uint64_t pa, int size, uint64_t *val) {
  region *r = find(b, pa);
  if (!r) return -1;
  uint64_t off = pa - r->base;
  if ((uint64_t)size > r->size - off) return -1;
  if (r->ram) {
    uint64_t v = 0;
    memcpy(&v, r->ram + off, size);
    *val = v;
    return 0;
  }
  *val = r->ops->read ? r->ops->read(r->dev, off, size) : 0;
  if (size < 8) *val &= (1ull << (size * 8)) - 1;
  return 0;
}

int bus_write(bus *b, uint64_t pa, int size, uint64_t val) {
  region *r = find(b, pa);
  if (!r) return -1;
  uint64_t off = pa - r->base;
  if ((uint64_t)size > r->size - off) return -1;
  if (r->ram) {
    memcpy(r->ram + off, &val, size);
    if (b->code_hook) b->code_hook(b->code_ud, pa, size);
    return 0;
  }
  if (size < 8) val &= (1ull << (size * 8)) - 1;
  if (r->ops->write) r->ops->write(r->dev, off, val, size);
  return 0;
}

void bus_dma_written(bus *b, uint64_t pa, uint64_t len) {
  if (b->code_hook && len) b->code_hook(b->code_ud, pa, len);
}

void bus_set_code_write_hook(bus *b, void (*fn)(void *ud, uint64_t pa, uint64_t len), void *ud) {
  b->code_hook = fn;
  b->code_ud = ud;
}
