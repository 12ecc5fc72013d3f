/* plic: gateways (one per source, level-triggered: a source pends while its line is high and it is
 * not claimed) and the per-context targets that pick the highest-priority pending, enabled source
 * above the threshold (ties to the lowest id). */
#include "plic.h"

#include <stdlib.h>
#include <string.h>

#define NWORDS ((PLIC_SOURCES + 1 + 31) / 32)
enum { PRIO = 0x0, PENDING = 0x1000, ENABLE = 0x2000, ENABLE_STRIDE = 0x80,
       CONTEXT = 0x200000, CONTEXT_STRIDE = 0x1000 };

typedef struct plic_ctx {
  uint32_t enable[NWORDS];
  uint32_t threshold;
  int level;
} plic_ctx;

struct plic {
  plic_hooks h;
  int nctx;
  uint32_t prio[PLIC_SOURCES + 1];
  uint32_t pending[NWORDS];
  uint32_t claimed[NWORDS];
  uint32_t line[NWORDS];
  plic_ctx *ctx;
};

static int bit(const uint32_t *w, int i) { return (w[i / 32] >> (i % 32)) & 1; }
static void setbit(uint32_t *w, int i, int v) {
  if (v) w[i / 32] |= 1u << (i % 32);
  else w[i / 32] &= ~(1u << (i % 32));
}

int plic_ctx_open(const plic *p, int ctx) {
  if (ctx < 0 || ctx >= p->nctx) return 0;
  const plic_ctx *x = &p->ctx[ctx];
  for (int i = 1; i <= PLIC_SOURCES; i++)
    if (bit(x->enable, i) && p->prio[i] > x->threshold) return 1;
  return 0;
}

/* The source context c would claim now, or 0. */
static int best(const plic *p, int c) {
  const plic_ctx *x = &p->ctx[c];
  int id = 0;
  uint32_t prio = x->threshold;
  for (int w = 0; w < NWORDS; w++) {
    uint32_t cand = p->pending[w] & x->enable[w] & ~p->claimed[w];
    while (cand) {
      int i = w * 32 + __builtin_ctz(cand);
      cand &= cand - 1;
      if (i == 0 || i > PLIC_SOURCES) continue;
      if (p->prio[i] > prio) { prio = p->prio[i]; id = i; }
    }
  }
  return id;
}

static void update(plic *p) {
  for (int c = 0; c < p->nctx; c++) {
    int level = best(p, c) != 0;
    if (level != p->ctx[c].level) {
      p->ctx[c].level = level;
      p->h.eip(p->h.ud, c, level);
    }
  }
}

plic *plic_new(int nharts, const plic_hooks *h) {
  plic *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->h = *h;
  p->nctx = 2 * nharts;
  p->ctx = calloc((size_t)p->nctx, sizeof *p->ctx);
  if (!p->ctx) { free(p); return NULL; }
  return p;
}

void plic_free(plic *p) {
  if (!p) return;
  free(p->ctx);
  free(p);
}

void plic_reset(plic *p) {
  memset(p->prio, 0, sizeof p->prio);
  memset(p->pending, 0, sizeof p->pending);
  memset(p->claimed, 0, sizeof p->claimed);
  for (int c = 0; c < p->nctx; c++) {
    memset(p->ctx[c].enable, 0, sizeof p->ctx[c].enable);
    p->ctx[c].threshold = 0;
  }
  /* Lines still high pend again, as a level-triggered gateway would see them. */
  memcpy(p->pending, p->line, sizeof p->pending);
  update(p);
}

void plic_set_irq(plic *p, int irq, int level) {
  if (irq <= 0 || irq > PLIC_SOURCES) return;
  setbit(p->line, irq, level);
  if (!bit(p->claimed, irq)) setbit(p->pending, irq, level);
  update(p);
}

static uint64_t plic_read(void *dev, uint64_t off, int size) {
  (void)size;
  plic *p = dev;
  if (off < PENDING) {
    uint64_t i = off / 4;
    return i <= PLIC_SOURCES ? p->prio[i] : 0;
  }
  if (off < ENABLE) {
    uint64_t w = (off - PENDING) / 4;
    return w < NWORDS ? p->pending[w] : 0;
  }
  if (off < CONTEXT) {
    uint64_t c = (off - ENABLE) / ENABLE_STRIDE, w = (off - ENABLE) % ENABLE_STRIDE / 4;
    return c < (uint64_t)p->nctx && w < NWORDS ? p->ctx[c].enable[w] : 0;
  }
  uint64_t c = (off - CONTEXT) / CONTEXT_STRIDE, r = (off - CONTEXT) % CONTEXT_STRIDE;
  if (c >= (uint64_t)p->nctx) return 0;
  if (r == 0) return p->ctx[c].threshold;
  if (r == 4) {  /* claim */
    int id = best(p, (int)c);
    if (id) {
      setbit(p->claimed, id, 1);
      setbit(p->pending, id, 0);
      update(p);
    }
    return (uint64_t)id;
  }
  return 0;
}

static void plic_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)size;
  plic *p = dev;
  uint32_t v = (uint32_t)val;
  if (off < PENDING) {
    uint64_t i = off / 4;
    if (i >= 1 && i <= PLIC_SOURCES) { p->prio[i] = v & PLIC_PRIO_MAX; update(p); }
    return;
  }
  if (off < ENABLE) return;  /* pending bits are read-only */
  if (off < CONTEXT) {
    uint64_t c = (off - ENABLE) / ENABLE_STRIDE, w = (off - ENABLE) % ENABLE_STRIDE / 4;
    if (c < (uint64_t)p->nctx && w < NWORDS) {
      if (w == 0) v &= ~1u;  /* source 0 does not exist */
      if (w == NWORDS - 1 && (PLIC_SOURCES + 1) % 32) v &= (1u << ((PLIC_SOURCES + 1) % 32)) - 1;
      p->ctx[c].enable[w] = v;
      update(p);
    }
    return;
  }
  uint64_t c = (off - CONTEXT) / CONTEXT_STRIDE, r = (off - CONTEXT) % CONTEXT_STRIDE;
  if (c >= (uint64_t)p->nctx) return;
  if (r == 0) {
    p->ctx[c].threshold = v & PLIC_PRIO_MAX;
    update(p);
  } else if (r == 4) {  /* complete: a source not enabled for this context is ignored */
    if (v >= 1 && v <= PLIC_SOURCES && bit(p->ctx[c].enable, (int)v) && bit(p->claimed, (int)v)) {
      setbit(p->claimed, (int)v, 0);
      if (bit(p->line, (int)v)) setbit(p->pending, (int)v, 1);
      update(p);
    }
  }
}

const bus_dev_ops plic_ops = {plic_read, plic_write};
