/* clint: software interrupts, the per-hart comparators and mtime. mtime is not stored: it is the
 * owner's clock plus an offset that guest writes to mtime adjust. */
#include "clint.h"

#include <stdlib.h>

enum { MSIP = 0x0, MTIMECMP = 0x4000, MTIME = 0xbff8 };

struct clint {
  clint_hooks h;
  int n;
  int64_t offset;          /* mtime = now + offset */
  uint32_t *msip;
  uint64_t *cmp;
  uint8_t *mtip;
};

clint *clint_new(int nharts, const clint_hooks *h) {
  clint *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->h = *h;
  c->n = nharts;
  c->msip = calloc((size_t)nharts, sizeof *c->msip);
  c->cmp = calloc((size_t)nharts, sizeof *c->cmp);
  c->mtip = calloc((size_t)nharts, 1);
  if (!c->msip || !c->cmp || !c->mtip) { clint_free(c); return NULL; }
  clint_reset(c);
  return c;
}

void clint_free(clint *c) {
  if (!c) return;
  free(c->msip);
  free(c->cmp);
  free(c->mtip);
  free(c);
}

static uint64_t mtime(const clint *c) { return c->h.now(c->h.ud) + (uint64_t)c->offset; }

void clint_reset(clint *c) {
  c->offset = 0;
  for (int i = 0; i < c->n; i++) {
    if (c->msip[i]) c->h.msip(c->h.ud, i, 0);
    c->msip[i] = 0;
    c->cmp[i] = UINT64_MAX;  /* no timer until the guest sets one */
  }
  clint_update(c);
}

uint64_t clint_update(clint *c) {
  uint64_t t = mtime(c), next = UINT64_MAX;
  for (int i = 0; i < c->n; i++) {
    int level = t >= c->cmp[i];
    if (level != c->mtip[i]) {
      c->mtip[i] = (uint8_t)level;
      c->h.mtip(c->h.ud, i, level);
    }
    if (!level && c->cmp[i] < next) next = c->cmp[i];
  }
  /* Report the deadline in the owner's clock, not in guest mtime. */
  return next == UINT64_MAX ? next : next - (uint64_t)c->offset;
}

void clint_set_mtimecmp(clint *c, int hart, uint64_t v) {
  if (hart < 0 || hart >= c->n) return;
  c->cmp[hart] = v;
  clint_update(c);
  if (c->h.deadline) c->h.deadline(c->h.ud);
}

uint64_t clint_get_mtimecmp(const clint *c, int hart) {
  return hart >= 0 && hart < c->n ? c->cmp[hart] : 0;
}

/* 8-byte registers also take 4-byte accesses to either half, as RV32 software does. */
static uint64_t merge(uint64_t old, uint64_t off, uint64_t val, int size) {
  if (size == 8) return val;
  int shift = (int)(off & 4) * 8;
  uint64_t mask = (size == 4 ? 0xffffffffull : (1ull << (size * 8)) - 1) << shift;
  return (old & ~mask) | ((val << shift) & mask);
}

static uint64_t clint_read(void *dev, uint64_t off, int size) {
  clint *c = dev;
  uint64_t v;
  if (off < MTIMECMP) {
    uint64_t h = off / 4;
    return h < (uint64_t)c->n ? c->msip[h] : 0;
  }
  if (off >= MTIMECMP && off < MTIMECMP + 8ull * (uint64_t)c->n) v = c->cmp[(off - MTIMECMP) / 8];
  else if (off >= MTIME && off < MTIME + 8) v = mtime(c);
  else return 0;
  if (size == 8) return v;
  v >>= (off & 4) * 8;
  return size == 4 ? (v & 0xffffffffull) : v & ((1ull << (size * 8)) - 1);
}

static void clint_write(void *dev, uint64_t off, uint64_t val, int size) {
  clint *c = dev;
  if (off < MTIMECMP) {
    uint64_t h = off / 4;
    if (h >= (uint64_t)c->n || (off & 3)) return;
    uint32_t bit = val & 1;
    /* Setting an already set MSIP still tells the owner: it is an event for a parked hart. */
    if (bit != c->msip[h] || bit) {
      c->msip[h] = bit;
      c->h.msip(c->h.ud, (int)h, (int)bit);
    }
    return;
  }
  if (off >= MTIMECMP && off < MTIMECMP + 8ull * (uint64_t)c->n) {
    int h = (int)((off - MTIMECMP) / 8);
    clint_set_mtimecmp(c, h, merge(c->cmp[h], off, val, size));
    return;
  }
  if (off >= MTIME && off < MTIME + 8) {
    uint64_t now = c->h.now(c->h.ud);
    uint64_t want = merge(now + (uint64_t)c->offset, off, val, size);
    c->offset = (int64_t)(want - now);
    clint_update(c);
    if (c->h.deadline) c->h.deadline(c->h.ud);
  }
}

const bus_dev_ops clint_ops = {clint_read, clint_write};
