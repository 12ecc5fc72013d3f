/* cpu_mmu: address translation (bare, Sv39, Sv48, Sv57) with hardware A/D updates, the software TLB
 * from guest-virtual pages to host RAM, the slow load/store/fetch paths (TLB misses, MMIO,
 * misaligned and page-crossing accesses), PMP checks, and the decoded-code cache shared by the
 * harts of one bus.
 *
 * Code pages never get write-TLB entries: stores to them take the slow path, which goes through
 * bus_write, whose code-write hook drops just the decoded slots the store covers. So
 * self-modifying code, loaders and DMA through bus_ram_write all stay coherent. */
#include <stdlib.h>
#include <string.h>

#include "cpu_int.h"
#include "jit.h"

#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PPN_MASK ((1ull << 44) - 1)

/* ---- decoded-code cache: one per bus, shared by its harts ---- */

#define CC_BUCKETS 4096
#define CC_MAX_PAGES 2048

struct ccache {
  bus *bus;
  cpu *cpus;
  dpage *hash[CC_BUCKETS];
  int npages;
  struct jit_code *jit;         /* translated blocks of these pages (-accel jit) */
  ccache *next;
};

static ccache *all_caches;

static dpage *cc_find(ccache *cc, uint64_t ppn) {
  for (dpage *p = cc->hash[ppn & (CC_BUCKETS - 1)]; p; p = p->next)
    if (p->ppn == ppn) return p;
  return NULL;
}

static void cc_free_pages(ccache *cc) {
  for (int i = 0; i < CC_BUCKETS; i++) {
    dpage *p = cc->hash[i];
    while (p) { dpage *n = p->next; jit_page_free(p); free(p); p = n; }
    cc->hash[i] = NULL;
  }
  cc->npages = 0;
  jit_code_reset(cc->jit);
}

struct jit_code **cpu_cc_jit(ccache *cc) { return &cc->jit; }

static void code_hook(void *ud, uint64_t pa, uint64_t len) { cpu_cc_invalidate(ud, pa, len); }

void cpu_cc_invalidate(ccache *cc, uint64_t pa, uint64_t len) {
  if (!cc || cc->npages == 0 || len == 0) return;
  /* A 4-byte instruction starting 2 bytes before pa covers pa too. */
  uint64_t start = pa >= 2 ? pa - 2 : 0, end = pa + len;
  for (uint64_t page = start & ~0xfffull; page < end; page += 4096) {
    dpage *p = cc_find(cc, page >> 12);
    if (p) {
      uint64_t lo = start > page ? start - page : 0;
      uint64_t hi = end - page < 4096 ? end - page : 4096;
      for (uint64_t o = lo >> 1; o < (hi + 1) >> 1; o++) {
        p->d[o].op = OP_NONE;
        p->d[o].h = __atomic_load_n(&cpu_lbl_none, __ATOMIC_RELAXED);
      }
      jit_page_invalidate(p, (uint32_t)lo, (uint32_t)hi);
    }
    if (page + 4096 < page) break;
  }
}

void cpu_cc_attach(cpu *c) {
  ccache *cc;
  for (cc = all_caches; cc; cc = cc->next)
    if (cc->bus == c->bus) break;
  if (!cc) {
    cc = calloc(1, sizeof(*cc));
    if (!cc) abort();
    cc->bus = c->bus;
    cc->next = all_caches;
    all_caches = cc;
    bus_set_code_write_hook(c->bus, code_hook, cc);
  }
  c->cc = cc;
  c->cc_next = cc->cpus;
  cc->cpus = c;
}

void cpu_cc_detach(cpu *c) {
  ccache *cc = c->cc;
  for (cpu **pp = &cc->cpus; *pp; pp = &(*pp)->cc_next)
    if (*pp == c) { *pp = c->cc_next; break; }
  if (cc->cpus) return;
  for (ccache **pp = &all_caches; *pp; pp = &(*pp)->next)
    if (*pp == cc) { *pp = cc->next; break; }
  bus_set_code_write_hook(cc->bus, NULL, NULL);
  cc_free_pages(cc);
  jit_code_free(cc->jit);
  free(cc);
}

static void flush_fetch_tlb(cpu *c) {
  for (int m = 0; m < 4; m++)
    for (int i = 0; i < TLB_SIZE; i++) { c->tlbs[m].x[i].tag = TLB_NONE; c->tlbs[m].xd[i] = NULL; }
}

/* Drops every decoded page (FENCE.I, cache full); every hart of the bus refetches. */
void cpu_cc_flush(cpu *c) {
  cc_free_pages(c->cc);
  for (cpu *h = c->cc->cpus; h; h = h->cc_next) flush_fetch_tlb(h);
}

static dpage *cc_get(cpu *c, uint64_t ppn, uint8_t *host) {
  ccache *cc = c->cc;
  dpage *p = cc_find(cc, ppn);
  if (p) return p;
  if (cc->npages >= CC_MAX_PAGES) cpu_cc_flush(c);
  p = calloc(1, sizeof(*p));
  if (!p) abort();
  p->ppn = ppn;
  void *none = __atomic_load_n(&cpu_lbl_none, __ATOMIC_RELAXED);
  for (int i = 0; i < 2048; i++) p->d[i].h = none;
  p->d[2048].op = OP_PAGEX;
  p->d[2048].h = __atomic_load_n(&cpu_lbl_pagex, __ATOMIC_RELAXED);
  p->next = cc->hash[ppn & (CC_BUCKETS - 1)];
  cc->hash[ppn & (CC_BUCKETS - 1)] = p;
  cc->npages++;
  /* From now on stores to this page must take the slow path. */
  for (cpu *h = cc->cpus; h; h = h->cc_next)
    for (int m = 0; m < 4; m++)
      for (int i = 0; i < TLB_SIZE; i++) {
        tlb_ent *e = &h->tlbs[m].w[i];
        if (e->tag != TLB_NONE && (uint8_t *)(e->tag + e->add) == host) e->tag = TLB_NONE;
      }
  return p;
}

/* ---- TLB ---- */

void cpu_tlb_flush(cpu *c) {
  for (int m = 0; m < 4; m++)
    for (int i = 0; i < TLB_SIZE; i++) {
      c->tlbs[m].r[i].tag = TLB_NONE;
      c->tlbs[m].w[i].tag = TLB_NONE;
    }
  flush_fetch_tlb(c);
  c->tlb_maxlvl = 0;
}

/* SFENCE.VMA va: drops the translations the leaf PTE for va may have produced. Entries are 4 KiB
 * granules, so with superpages cached every granule of the largest such page around va goes. */
void cpu_tlb_flush_va(cpu *c, uint64_t va) {
  if (c->tlb_maxlvl >= 3) { cpu_tlb_flush(c); return; }
  uint64_t mask = ~((1ull << (12 + 9 * c->tlb_maxlvl)) - 1);
  for (int m = 0; m < 4; m++) {
    tlbset *t = &c->tlbs[m];
    if (c->tlb_maxlvl == 0) {
      int i = (va >> 12) & (TLB_SIZE - 1);
      uint64_t page = va & ~0xfffull;
      if (t->r[i].tag == page) t->r[i].tag = TLB_NONE;
      if (t->w[i].tag == page) t->w[i].tag = TLB_NONE;
      if (t->x[i].tag == page) { t->x[i].tag = TLB_NONE; t->xd[i] = NULL; }
      continue;
    }
    for (int i = 0; i < TLB_SIZE; i++) {
      if ((t->r[i].tag & mask) == (va & mask)) t->r[i].tag = TLB_NONE;
      if ((t->w[i].tag & mask) == (va & mask)) t->w[i].tag = TLB_NONE;
      if ((t->x[i].tag & mask) == (va & mask)) { t->x[i].tag = TLB_NONE; t->xd[i] = NULL; }
    }
  }
}

/* ---- PMP ---- */

/* Checks [pa, pa+size) against PMP for privilege priv. Returns 1 if allowed; *whole is set to 1 if
 * the verdict holds for the whole 4 KiB page (so a TLB entry may cache it). */
static int pmp_ok(cpu *c, uint64_t pa, int size, int acc, int priv, int *whole) {
  uint64_t prev = 0;
  uint64_t page = pa & ~0xfffull;
  *whole = 1;
  for (int i = 0; i < NPMP; i++) {
    uint8_t cfg = c->pmpcfg[i];
    int a = (cfg >> 3) & 3;
    uint64_t lo, hi;   /* [lo, hi) */
    uint64_t addr = c->pmpaddr[i];
    uint64_t this_prev = prev;
    prev = addr << 2;
    if (a == 0) continue;
    if (a == 1) { lo = this_prev; hi = addr << 2; }
    else if (a == 2) { lo = addr << 2; hi = lo + 4; }
    else {
      int t = __builtin_ctzll(~addr);
      if (t >= 54) { lo = 0; hi = ~0ull; }
      else { lo = (addr & ~((1ull << t) - 1)) << 2; hi = lo + (1ull << (t + 3)); }
    }
    if (lo >= hi) continue;
    /* Does this entry touch the page at all? Then a cached page-wide verdict would be wrong
     * unless the entry covers the whole page. */
    int touches_page = lo < page + 4096 && page < hi;
    if (touches_page && !(lo <= page && hi >= page + 4096)) *whole = 0;
    int any = pa < hi && lo < pa + size;
    if (!any) continue;
    if (!(lo <= pa && pa + size <= hi)) return 0;    /* partial match fails */
    if (priv == PRV_M && !(cfg & 0x80)) return 1;
    int need = acc == ACC_R ? 1 : acc == ACC_W ? 2 : 4;
    return (cfg & need) != 0;
  }
  /* No match: M-mode is allowed, S and U are not (PMP entries are implemented), as in the
   * privileged spec and QEMU: firmware must open memory before entering S-mode. */
  return priv == PRV_M;
}

/* ---- translation ---- */

static int page_fault(int acc) {
  return acc == ACC_X ? EXC_INSN_PAGE : acc == ACC_W ? EXC_STORE_PAGE : EXC_LOAD_PAGE;
}
static int access_fault(int acc) {
  return acc == ACC_X ? EXC_INSN_ACCESS : acc == ACC_W ? EXC_STORE_ACCESS : EXC_LOAD_ACCESS;
}

/* Translates va for acc at privilege priv. Returns -1 on success (with *pa and *perm, the access
 * kinds the same translation allows: bit ACC_R/ACC_W set when a TLB entry may cache them), or
 * the exception cause. */
static int translate(cpu *c, uint64_t va, int acc, int priv, uint64_t *pa, int *perm,
                     int *level) {
  uint64_t mode = c->satp >> 60;
  *level = 0;
  if (priv == PRV_M || mode == 0) {
    *pa = va;
    *perm = 3;
    return -1;
  }
  int levels = mode == 8 ? 3 : mode == 9 ? 4 : 5;
  int vabits = 12 + 9 * levels;
  if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va) return page_fault(acc);
  uint64_t a = (c->satp & PPN_MASK) << 12;
  for (int lvl = levels - 1; lvl >= 0; lvl--) {
    uint64_t pte_addr = a + ((va >> (12 + 9 * lvl)) & 511) * 8, pte;
    int whole;
    if (!pmp_ok(c, pte_addr, 8, ACC_R, PRV_S, &whole) || bus_read(c->bus, pte_addr, 8, &pte) < 0)
      return access_fault(acc);
    if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
      return page_fault(acc);
    if (!(pte & (PTE_R | PTE_X))) {
      if (pte & (PTE_A | PTE_D | PTE_U)) return page_fault(acc);
      a = ((pte >> 10) & PPN_MASK) << 12;
      continue;
    }
    if (priv == PRV_U && !(pte & PTE_U)) return page_fault(acc);
    if (priv == PRV_S && (pte & PTE_U) && (acc == ACC_X || !(c->mstatus & MS_SUM)))
      return page_fault(acc);
    int can_r = (pte & PTE_R) || ((c->mstatus & MS_MXR) && (pte & PTE_X));
    if (acc == ACC_R && !can_r) return page_fault(acc);
    if (acc == ACC_W && !(pte & PTE_W)) return page_fault(acc);
    if (acc == ACC_X && !(pte & PTE_X)) return page_fault(acc);
    uint64_t ppn = (pte >> 10) & PPN_MASK;
    uint64_t span = 1ull << (12 + 9 * lvl);
    if (lvl > 0 && (ppn & ((1ull << (9 * lvl)) - 1))) return page_fault(acc);
    uint64_t npte = pte | PTE_A | (acc == ACC_W ? PTE_D : 0);
    if (npte != pte) {
      if (!pmp_ok(c, pte_addr, 8, ACC_W, PRV_S, &whole) ||
          bus_write(c->bus, pte_addr, 8, npte) < 0)
        return access_fault(acc);
    }
    *pa = ((ppn << 12) & ~(span - 1)) | (va & (span - 1));
    *level = lvl;
    *perm = (can_r ? 1 : 0) | (((npte & PTE_W) && (npte & PTE_D)) ? 2 : 0);
    if (acc == ACC_X) *perm = 0;
    return -1;
  }
  return page_fault(acc);
}

/* Translates and checks PMP for an access of size bytes; fills the TLBs for RAM pages.
 * Returns -1 or the exception cause. */
static int xlate(cpu *c, uint64_t va, int size, int acc, uint64_t *pa) {
  int priv = acc == ACC_X ? c->priv : c->data_priv;
  int perm = 0, whole = 0, level = 0;
  int e = translate(c, va, acc, priv, pa, &perm, &level);
  if (e >= 0) return e;
  if (!pmp_ok(c, *pa, size, acc, priv, &whole)) return access_fault(acc);
  /* the caller may cache this translation in a TLB (fetch TLB included) */
  if (level > c->tlb_maxlvl) c->tlb_maxlvl = level;
  if (!whole || acc == ACC_X || c->trig_rw) return -1;
  uint64_t ppage = *pa & ~0xfffull;
  uint8_t *host = bus_ram_ptr(c->bus, ppage, 4096);
  if (!host) return -1;
  /* A page-wide PMP verdict was computed for acc only; check the other kind too. */
  int idx = (va >> 12) & (TLB_SIZE - 1);
  uintptr_t add = (uintptr_t)host - (uintptr_t)(va & ~0xfffull);
  if ((perm & 1) && (acc == ACC_R || pmp_ok(c, ppage, 4096, ACC_R, priv, &whole))) {
    c->dt->r[idx].tag = va & ~0xfffull;
    c->dt->r[idx].add = add;
  }
  if ((perm & 2) && !cc_find(c->cc, ppage >> 12) &&
      (acc == ACC_W || pmp_ok(c, ppage, 4096, ACC_W, priv, &whole))) {
    c->dt->w[idx].tag = va & ~0xfffull;
    c->dt->w[idx].add = add;
  }
  return -1;
}

static int load_one(cpu *c, uint64_t va, int size, uint64_t *v) {
  uint64_t pa;
  int e = xlate(c, va, size, ACC_R, &pa);
  if (e >= 0) { cpu_trap(c, e, va); return -1; }
  if ((pa & (size - 1)) == 0 || bus_ram_ptr(c->bus, pa, size)) {
    if (bus_read(c->bus, pa, size, v) < 0) { cpu_trap(c, EXC_LOAD_ACCESS, va); return -1; }
    return 0;
  }
  /* misaligned MMIO: byte by byte */
  uint64_t r = 0;
  for (int i = 0; i < size; i++) {
    uint64_t b;
    if (bus_read(c->bus, pa + i, 1, &b) < 0) { cpu_trap(c, EXC_LOAD_ACCESS, va); return -1; }
    r |= b << (8 * i);
  }
  *v = r;
  return 0;
}

int cpu_load_slow(cpu *c, uint64_t va, int size, uint64_t *v) {
  if (unlikely(c->trig_rw) && cpu_trig_hit(c, va, size, ACC_R)) return -1;
  if ((va & 0xfff) + size <= 4096) return load_one(c, va, size, v);
  /* Crosses a page: QEMU's virt CPU performs misaligned accesses, so load byte by byte. */
  uint64_t r = 0;
  for (int i = 0; i < size; i++) {
    uint64_t b;
    if (load_one(c, va + i, 1, &b) < 0) return -1;
    r |= b << (8 * i);
  }
  *v = r;
  return 0;
}

static int store_pa(cpu *c, uint64_t va, uint64_t pa, int size, uint64_t v) {
  if ((pa & (size - 1)) == 0 || bus_ram_ptr(c->bus, pa, size)) {
    if (bus_write(c->bus, pa, size, v) < 0) { cpu_trap(c, EXC_STORE_ACCESS, va); return -1; }
    return 0;
  }
  for (int i = 0; i < size; i++)
    if (bus_write(c->bus, pa + i, 1, (v >> (8 * i)) & 0xff) < 0) {
      cpu_trap(c, EXC_STORE_ACCESS, va);
      return -1;
    }
  return 0;
}

int cpu_store_slow(cpu *c, uint64_t va, int size, uint64_t v) {
  if (unlikely(c->trig_rw) && cpu_trig_hit(c, va, size, ACC_W)) return -1;
  uint64_t pa;
  int e = xlate(c, va, size, ACC_W, &pa);
  if (e >= 0) { cpu_trap(c, e, va); return -1; }
  if ((va & 0xfff) + size <= 4096) return store_pa(c, va, pa, size, v);
  /* Crosses a page: translate both halves before writing anything. */
  int n1 = 4096 - (va & 0xfff);
  uint64_t pa2, va2 = va + n1;
  e = xlate(c, va2, size - n1, ACC_W, &pa2);
  if (e >= 0) { cpu_trap(c, e, va2); return -1; }
  for (int i = 0; i < size; i++) {
    uint64_t p = i < n1 ? pa + i : pa2 + (i - n1);
    if (store_pa(c, va + i, p, 1, (v >> (8 * i)) & 0xff) < 0) return -1;
  }
  return 0;
}

int cpu_amo_addr(cpu *c, uint64_t va, int size, int is_lr, uint64_t *pa) {
  if (va & (size - 1)) {
    cpu_trap(c, is_lr ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
    return -1;
  }
  if (unlikely(c->trig_rw) && cpu_trig_hit(c, va, size, is_lr ? ACC_R : ACC_W)) return -1;
  int e = xlate(c, va, size, is_lr ? ACC_R : ACC_W, pa);
  if (e >= 0) { cpu_trap(c, e, va); return -1; }
  return 0;
}

int cpu_fetch_page(cpu *c, uint64_t va, dpage **dp, uint8_t **host) {
  int idx = (va >> 12) & (TLB_SIZE - 1);
  uint64_t page = va & ~0xfffull;
  tlbset *t = c->ft;
  if (t->x[idx].tag == page) {
    *dp = t->xd[idx];
    *host = (uint8_t *)(page + t->x[idx].add);
    return 0;
  }
  uint64_t pa;
  int e = xlate(c, va, 2, ACC_X, &pa);
  if (e >= 0) { cpu_trap(c, e, va); return -1; }
  uint64_t ppage = pa & ~0xfffull;
  uint8_t *h = bus_ram_ptr(c->bus, ppage, 4096);
  int whole;
  if (!h || !pmp_ok(c, ppage, 4096, ACC_X, c->priv, &whole) || !whole) {
    uint64_t tmp;
    if (bus_read(c->bus, pa, 2, &tmp) < 0) { cpu_trap(c, EXC_INSN_ACCESS, va); return -1; }
    *dp = NULL;     /* not cacheable (MMIO/ROM device or PMP-split page): fetch each time */
    *host = NULL;
    return 0;
  }
  dpage *p = cc_get(c, ppage >> 12, h);
  t->x[idx].tag = page;
  t->x[idx].add = (uintptr_t)h - (uintptr_t)page;
  t->xd[idx] = p;
  *dp = p;
  *host = h;
  return 0;
}

static int fetch16(cpu *c, uint64_t va, uint32_t *v) {
  uint64_t pa, x;
  int e = xlate(c, va, 2, ACC_X, &pa);
  if (e >= 0) { cpu_trap(c, e, va); return -1; }
  if (bus_read(c->bus, pa, 2, &x) < 0) { cpu_trap(c, EXC_INSN_ACCESS, va); return -1; }
  *v = (uint32_t)x;
  return 0;
}

int cpu_fetch_slow(cpu *c, uint64_t va, uint32_t *insn) {
  uint32_t lo, hi;
  if (fetch16(c, va, &lo) < 0) return -1;
  if ((lo & 3) != 3) { *insn = lo; return 0; }
  if (fetch16(c, va + 2, &hi) < 0) return -1;
  *insn = lo | hi << 16;
  return 0;
}

uint32_t cpu_insn_bits(cpu *c, uint64_t va) {
  uint64_t pa, lo, hi;
  if (xlate(c, va, 2, ACC_X, &pa) >= 0 || bus_read(c->bus, pa, 2, &lo) < 0) return 0;
  if ((lo & 3) != 3) return (uint32_t)lo;
  if (xlate(c, va + 2, 2, ACC_X, &pa) >= 0 || bus_read(c->bus, pa, 2, &hi) < 0) return 0;
  return (uint32_t)(lo | hi << 16);
}
