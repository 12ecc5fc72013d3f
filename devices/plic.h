/* plic: the SiFive PLIC as QEMU's virt board lays it out: priorities at 0x0, pending bits at
 * 0x1000, enables at 0x2000 (0x80 per context), threshold and claim/complete at 0x200000 (0x1000
 * per context). Context 2h is hart h's M-mode, 2h+1 its S-mode. Sources are level-triggered. */
#ifndef LEMU_PLIC_H
#define LEMU_PLIC_H

#include <stdint.h>

#include "bus.h"

typedef struct plic plic;

typedef struct plic_hooks {
  void *ud;
  /* The external interrupt line of a context (2h: MEIP of hart h, 2h+1: SEIP). */
  void (*eip)(void *ud, int ctx, int level);
} plic_hooks;

#define PLIC_SOURCES 96        /* riscv,ndev of QEMU virt: sources 1..96 */
#define PLIC_SIZE 0x600000     /* QEMU sizes the region for its maximum of harts */
#define PLIC_PRIO_MAX 7

plic *plic_new(int nharts, const plic_hooks *h);
void plic_free(plic *p);
void plic_reset(plic *p);
/* A device drives source irq (1..PLIC_SOURCES) high or low. */
void plic_set_irq(plic *p, int irq, int level);
/* 1 if a source is enabled for context ctx with a priority above its threshold: a device raising
 * that source would interrupt the context. */
int plic_ctx_open(const plic *p, int ctx);

extern const bus_dev_ops plic_ops;

#endif
