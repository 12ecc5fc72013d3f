/* cpu_csr: control and status registers, trap entry with medeleg/mideleg delegation, interrupt
 * selection (priority MEI, MSI, MTI, SEI, SSI, STI), and the xRET instructions. Anything that can
 * change which interrupt is deliverable sets c->attn so the run loop re-checks at the next
 * instruction boundary. */
#include "cpu_int.h"

#define MSTATUS_WMASK (MS_SIE | MS_MIE | MS_SPIE | MS_MPIE | MS_SPP | MS_MPP | MS_FS | MS_MPRV | \
                       MS_SUM | MS_MXR | MS_TVM | MS_TW | MS_TSR)
#define SSTATUS_MASK (MS_SIE | MS_SPIE | MS_SPP | MS_FS | MS_SUM | MS_MXR | MS_UXL | MS_SD)
#define S_INTS 0x222ull
#define ALL_INTS 0xaaaull
/* Delegable exceptions as QEMU has them (ECALL from M included: writable, never taken from
 * below M, so it can never delegate). */
#define MEDELEG_MASK 0xbbffull

/* mip as read: the software-writable bits (SSIP, STIP, SEIP) OR the lines that devices and the Sstc
 * comparator drive. With menvcfg.STCE set, STIP is the comparator's alone. */
uint64_t cpu_mip(const cpu *c) {
  uint64_t sw = c->mip_sw;
  if (c->menvcfg & MENVCFG_STCE) sw &= ~(uint64_t)CPU_IRQ_STIP;
  return sw | c->mip_dev | (c->sstc_level ? CPU_IRQ_STIP : 0);
}

/* Which mip bits a CSR write may change. */
static uint64_t mip_writable(const cpu *c) {
  return (c->menvcfg & MENVCFG_STCE) ? S_INTS & ~(uint64_t)CPU_IRQ_STIP : S_INTS;
}

void cpu_update_data_priv(cpu *c) {
  int p = c->priv;
  if (p == PRV_M && (c->mstatus & MS_MPRV)) p = (c->mstatus >> MS_MPP_SHIFT) & 3;
  c->data_priv = p;
  c->dt = &c->tlbs[p == PRV_M ? 3 : p == PRV_S ? ((c->mstatus & MS_SUM) ? 2 : 1) : 0];
  c->ft = &c->tlbs[c->priv == PRV_M ? 3 : c->priv];
}

static void set_priv(cpu *c, int p) {
  c->priv = p;
  cpu_update_data_priv(c);
}

void cpu_trap(cpu *c, uint64_t cause, uint64_t tval) {
  int irq = (cause >> 63) != 0;
  uint64_t code = cause & ~CAUSE_INT;
  uint64_t deleg = irq ? c->mideleg : c->medeleg;
  c->resv_valid = 0;
  c->wfi = 0;
  c->attn = 1;
  if (c->priv <= PRV_S && code < 64 && ((deleg >> code) & 1)) {
    c->scause = cause;
    c->sepc = c->pc;
    c->stval = tval;
    uint64_t s = c->mstatus;
    s = (s & ~MS_SPIE) | ((s & MS_SIE) ? MS_SPIE : 0);
    s = (s & ~MS_SPP) | (c->priv == PRV_S ? MS_SPP : 0);
    s &= ~MS_SIE;
    c->mstatus = s;
    uint64_t base = c->stvec & ~3ull;
    c->pc = (irq && (c->stvec & 1)) ? base + 4 * code : base;
    set_priv(c, PRV_S);
  } else {
    c->mcause = cause;
    c->mepc = c->pc;
    c->mtval = tval;
    uint64_t s = c->mstatus;
    s = (s & ~MS_MPIE) | ((s & MS_MIE) ? MS_MPIE : 0);
    s = (s & ~MS_MPP) | ((uint64_t)c->priv << MS_MPP_SHIFT);
    s &= ~MS_MIE;
    c->mstatus = s;
    uint64_t base = c->mtvec & ~3ull;
    c->pc = (irq && (c->mtvec & 1)) ? base + 4 * code : base;
    set_priv(c, PRV_M);
  }
}

/* The pending interrupts the hart would take now: M-level ones first, then S-level ones. */
static uint64_t takeable(const cpu *c) {
  uint64_t pend = cpu_mip(c) & c->mie;
  if (!pend) return 0;
  uint64_t m = pend & ~c->mideleg, s = pend & c->mideleg;
  int menable = c->priv < PRV_M || (c->mstatus & MS_MIE);
  int senable = c->priv < PRV_S || (c->priv == PRV_S && (c->mstatus & MS_SIE));
  uint64_t take = menable ? m : 0;
  if (!take && senable) take = s;
  return take;
}

int cpu_irq_takeable(const cpu *c) { return takeable(c) != 0; }

int cpu_check_irq(cpu *c) {
  uint64_t take = takeable(c);
  if (!take) return 0;
  static const int order[6] = {11, 3, 7, 9, 1, 5};
  for (int i = 0; i < 6; i++)
    if (take & (1ull << order[i])) {
      cpu_trap(c, CAUSE_INT | order[i], 0);
      return 1;
    }
  return 0;
}

int cpu_mret(cpu *c) {
  if (c->priv != PRV_M) return -1;
  uint64_t s = c->mstatus;
  int mpp = (s >> MS_MPP_SHIFT) & 3;
  s = (s & ~MS_MIE) | ((s & MS_MPIE) ? MS_MIE : 0);
  s |= MS_MPIE;
  s &= ~MS_MPP;
  if (mpp != PRV_M) s &= ~MS_MPRV;
  c->mstatus = s;
  c->pc = c->mepc;
  c->resv_valid = 0;
  set_priv(c, mpp);
  c->attn = 1;
  return 0;
}

int cpu_sret(cpu *c) {
  if (c->priv < PRV_S || (c->priv == PRV_S && (c->mstatus & MS_TSR))) return -1;
  uint64_t s = c->mstatus;
  int spp = (s & MS_SPP) ? PRV_S : PRV_U;
  s = (s & ~MS_SIE) | ((s & MS_SPIE) ? MS_SIE : 0);
  s |= MS_SPIE;
  s &= ~MS_SPP;
  s &= ~MS_MPRV;
  c->mstatus = s;
  c->pc = c->sepc;
  c->resv_valid = 0;
  set_priv(c, spp);
  c->attn = 1;
  return 0;
}

static uint64_t read_mstatus(const cpu *c) {
  uint64_t s = c->mstatus;
  if ((s & MS_FS) == MS_FS) s |= MS_SD;
  return s;
}

static void write_mstatus(cpu *c, uint64_t v) {
  uint64_t old = c->mstatus;
  uint64_t s = (old & ~MSTATUS_WMASK) | (v & MSTATUS_WMASK);
  if (((s >> MS_MPP_SHIFT) & 3) == 2) s &= ~MS_MPP;   /* MPP is WARL: no H-mode */
  s = (s & ~(MS_UXL | MS_SXL | MS_SD)) | (2ull << 32) | (2ull << 34);
  c->mstatus = s;
  if ((old ^ s) & (MS_MPRV | MS_MPP | MS_SUM)) cpu_update_data_priv(c);
  if ((old ^ s) & MS_MXR) cpu_tlb_flush(c);
  c->attn = 1;
}

/* Counter access from S/U: mcounteren (and scounteren for U) gate cycle/time/instret/hpm. */
static int counter_ok(const cpu *c, int csr) {
  int bit = csr & 31;
  if (c->priv == PRV_M) return 1;
  if (!((c->mcounteren >> bit) & 1)) return 0;
  if (c->priv == PRV_U && !((c->scounteren >> bit) & 1)) return 0;
  return 1;
}

/* Sstc: stimecmp is reachable below M only while menvcfg.STCE and mcounteren.TM allow it. */
static int sstc_ok(const cpu *c) {
  if (c->priv == PRV_M) return 1;
  return (c->menvcfg & MENVCFG_STCE) && (c->mcounteren & 2);
}

/* The comparator's level: STIP while STCE is set and time has reached stimecmp. As on QEMU,
 * nothing is raised before the first write to stimecmp (its reset value is unspecified). */
static void sstc_update(cpu *c) {
  int level = (c->menvcfg & MENVCFG_STCE) && c->sstc_armed && c->hooks.time &&
              c->hooks.time(c->hooks.ud) >= c->stimecmp;
  if (level == c->sstc_level) return;
  c->sstc_level = level;
  c->attn = 1;
  if (level && (cpu_mip(c) & c->mie)) c->wfi = 0;
}

uint64_t cpu_timer_poll(cpu *c, int *rose) {
  int was = c->sstc_level;
  sstc_update(c);
  *rose = c->sstc_level && !was;
  if (!(c->menvcfg & MENVCFG_STCE) || !c->sstc_armed || c->sstc_level) return UINT64_MAX;
  return c->stimecmp;
}

/* ---- debug triggers ---- */

#define TD_TYPE(v)  ((v) >> 60)
#define TD_M        (1ull << 6)
#define TD_S        (1ull << 4)
#define TD_U        (1ull << 3)
#define TD_EXEC     (1ull << 2)
#define TD_STORE    (1ull << 1)
#define TD_LOAD     (1ull << 0)
#define TD_KEPT     (TD_M | TD_S | TD_U | TD_EXEC | TD_STORE | TD_LOAD)

static void trig_rearm(cpu *c) {
  int x = 0, rw = 0;
  for (int i = 0; i < NTRIG; i++) {
    uint64_t t = c->tdata1[i];
    if (!(t & (TD_M | TD_S | TD_U))) continue;
    x |= (t & TD_EXEC) != 0;
    rw |= (t & (TD_LOAD | TD_STORE)) != 0;
  }
  if (rw && !c->trig_rw) cpu_tlb_flush(c);   /* watched accesses must reach the slow paths */
  c->trig_x = x;
  c->trig_rw = rw;
  c->attn = 1;
}

/* QEMU 7.2 keeps only the mode and access bits of a type 2 (mcontrol) or type 6 (mcontrol6)
 * trigger and ignores writes of other types; the action is always a breakpoint exception and
 * the match always equality (loads and stores: any overlap with the 8 bytes at tdata2). */
static void trig_write_tdata1(cpu *c, uint64_t v) {
  if (TD_TYPE(v) != 2 && TD_TYPE(v) != 6) return;
  c->tdata1[c->tselect] = (v & (15ull << 60)) | (v & TD_KEPT);
  trig_rearm(c);
}

int cpu_trig_hit(cpu *c, uint64_t va, int size, int acc) {
  uint64_t mode = c->priv == PRV_M ? TD_M : c->priv == PRV_S ? TD_S : TD_U;
  uint64_t kind = acc == ACC_X ? TD_EXEC : acc == ACC_W ? TD_STORE : TD_LOAD;
  if (acc == ACC_X) va = c->pc;
  for (int i = 0; i < NTRIG; i++) {
    uint64_t t = c->tdata1[i], a = c->tdata2[i];
    if (!(t & mode) || !(t & kind)) continue;
    if (acc == ACC_X ? va != a : va + (uint64_t)size <= a || va >= a + 8) continue;
    cpu_trap(c, EXC_BREAKPOINT, 0);   /* QEMU 7.2 leaves tval 0 for trigger breakpoints */
    return 1;
  }
  return 0;
}

void cpu_trig_reset(cpu *c) {
  c->tselect = 0;
  for (int i = 0; i < NTRIG; i++) { c->tdata1[i] = 2ull << 60; c->tdata2[i] = 0; }
  c->trig_x = c->trig_rw = 0;
}

/* Reads csr into *v; -1 if it does not exist or may not be read at this privilege (the caller
 * decides; `checked` enforces privilege and FS rules). */
static int csr_read(cpu *c, int csr, uint64_t *v, int checked) {
  if (checked && c->priv < ((csr >> 8) & 3)) return -1;
  switch (csr) {
  case 0x001: case 0x002: case 0x003:
    if (checked && !(c->mstatus & MS_FS)) return -1;
    *v = csr == 1 ? c->fflags : csr == 2 ? c->frm : (c->frm << 5 | c->fflags);
    return 0;
  case 0xc00: case 0xc02:
    if (checked && !counter_ok(c, csr)) return -1;
    *v = cpu_cur_instret(c);
    return 0;
  case 0xc01:
    if (checked && !counter_ok(c, csr)) return -1;
    *v = c->hooks.time ? c->hooks.time(c->hooks.ud) : 0;
    return 0;
  case 0x100: *v = read_mstatus(c) & SSTATUS_MASK; return 0;
  case 0x104: *v = c->mie & c->mideleg; return 0;
  case 0x105: *v = c->stvec; return 0;
  case 0x106: *v = c->scounteren; return 0;
  case 0x10a: *v = c->senvcfg; return 0;
  case 0x140: *v = c->sscratch; return 0;
  case 0x141: *v = c->sepc; return 0;
  case 0x142: *v = c->scause; return 0;
  case 0x143: *v = c->stval; return 0;
  case 0x14d:
    if (checked && !sstc_ok(c)) return -1;
    *v = c->stimecmp;
    return 0;
  case 0x144: *v = cpu_mip(c) & c->mideleg; return 0;
  case 0x180:
    if (checked && c->priv == PRV_S && (c->mstatus & MS_TVM)) return -1;
    *v = c->satp;
    return 0;
  case 0x300: *v = read_mstatus(c); return 0;
  case 0x301: *v = c->misa; return 0;
  case 0x302: *v = c->medeleg; return 0;
  case 0x303: *v = c->mideleg; return 0;
  case 0x304: *v = c->mie; return 0;
  case 0x305: *v = c->mtvec; return 0;
  case 0x306: *v = c->mcounteren; return 0;
  case 0x30a: *v = c->menvcfg; return 0;
  case 0x320: *v = c->mcountinhibit; return 0;
  case 0x340: *v = c->mscratch; return 0;
  case 0x341: *v = c->mepc; return 0;
  case 0x342: *v = c->mcause; return 0;
  case 0x343: *v = c->mtval; return 0;
  case 0x344: *v = cpu_mip(c); return 0;
  case 0xb00: case 0xb02: *v = cpu_cur_instret(c); return 0;
  case 0x7a0: *v = c->tselect; return 0;
  case 0x7a1: *v = c->tdata1[c->tselect]; return 0;
  case 0x7a2: *v = c->tdata2[c->tselect]; return 0;
  case 0x7a3: *v = 0; return 0;                        /* tdata3: no context matching */
  case 0x7a4: *v = (1u << 2) | (1u << 6); return 0;    /* tinfo: types 2 and 6 */
  case 0xf11: case 0xf12: case 0xf13: case 0xf15: *v = 0; return 0;
  case 0xf14: *v = c->hartid; return 0;
  }
  if (csr >= 0x3a0 && csr < 0x3a0 + NPMP / 4) {
    if (csr & 1) return -1;     /* RV64 has only the even pmpcfg registers */
    int base = (csr - 0x3a0) * 4;
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) r |= (uint64_t)c->pmpcfg[base + i] << (8 * i);
    *v = r;
    return 0;
  }
  if (csr >= 0x3b0 && csr < 0x3b0 + NPMP) { *v = c->pmpaddr[csr - 0x3b0]; return 0; }
  /* 16 programmable counters as on QEMU (firmware counts them); they hold what is written. */
  if (csr >= 0xb03 && csr <= 0xb1f) { *v = csr <= 0xb12 ? c->hpm[csr - 0xb03] : 0; return 0; }
  if (csr >= 0x323 && csr <= 0x33f) { *v = csr <= 0x332 ? c->hpmevent[csr - 0x323] : 0; return 0; }
  if (csr >= 0xc03 && csr <= 0xc1f) {
    if (checked && !counter_ok(c, csr)) return -1;
    *v = csr <= 0xc12 ? c->hpm[csr - 0xc03] : 0;
    return 0;
  }
  return -1;
}

static void write_pmpcfg(cpu *c, int idx, uint8_t v) {
  if (c->pmpcfg[idx] & 0x80) return;          /* locked */
  if ((v & 3) == 2) v &= ~3;                  /* W without R is reserved */
  c->pmpcfg[idx] = v & 0x9f;
}

/* Writes csr; -1 if it does not exist or is read-only/forbidden. */
static int csr_write(cpu *c, int csr, uint64_t v, int checked) {
  if (checked && (c->priv < ((csr >> 8) & 3) || (csr >> 10) == 3)) return -1;
  switch (csr) {
  case 0x001: case 0x002: case 0x003:
    if (checked && !(c->mstatus & MS_FS)) return -1;
    if (csr == 1) c->fflags = v & 31;
    else if (csr == 2) c->frm = v & 7;
    else { c->fflags = v & 31; c->frm = (v >> 5) & 7; }
    c->mstatus |= MS_FS;
    return 0;
  case 0x100:
    write_mstatus(c, (c->mstatus & ~SSTATUS_MASK) | (v & SSTATUS_MASK));
    return 0;
  case 0x104: c->mie = (c->mie & ~c->mideleg) | (v & c->mideleg); c->attn = 1; return 0;
  case 0x105: c->stvec = (v & 3) >= 2 ? v & ~3ull : v; return 0;
  case 0x106: c->scounteren = v & 0xffffffff; return 0;
  case 0x10a: c->senvcfg = v & 1; return 0;
  case 0x140: c->sscratch = v; return 0;
  case 0x141: c->sepc = v & ~1ull; return 0;
  case 0x142: c->scause = v; return 0;
  case 0x143: c->stval = v; return 0;
  case 0x14d:
    if (checked && !sstc_ok(c)) return -1;
    c->stimecmp = v;
    c->sstc_armed = 1;
    sstc_update(c);
    return 0;
  case 0x144: {
    uint64_t m = c->mideleg & (1ull << 1);       /* only SSIP is writable through sip */
    c->mip_sw = (c->mip_sw & ~m) | (v & m);
    c->attn = 1;
    return 0;
  }
  case 0x180: {
    if (checked && c->priv == PRV_S && (c->mstatus & MS_TVM)) return -1;
    uint64_t mode = v >> 60;
    if (mode != 0 && mode != 8 && mode != 9 && mode != 10) return 0;   /* WARL: ignore others */
    c->satp = v;
    cpu_tlb_flush(c);
    return 0;
  }
  case 0x300: write_mstatus(c, v); return 0;
  case 0x301: return 0;
  case 0x302: c->medeleg = v & MEDELEG_MASK; return 0;
  case 0x303: c->mideleg = v & S_INTS; c->attn = 1; return 0;
  case 0x304: c->mie = v & ALL_INTS; c->attn = 1; return 0;
  case 0x305: c->mtvec = (v & 3) >= 2 ? v & ~3ull : v; return 0;
  case 0x306: c->mcounteren = v & 0xffffffff; return 0;
  case 0x30a:
    c->menvcfg = v & (MENVCFG_STCE | 1);    /* STCE and FIOM */
    sstc_update(c);
    return 0;
  case 0x320: c->mcountinhibit = v & 0xfffffffd; return 0;
  case 0x340: c->mscratch = v; return 0;
  case 0x7a0: if (v < NTRIG) c->tselect = v; return 0;
  case 0x7a1: trig_write_tdata1(c, v); return 0;
  case 0x7a2: c->tdata2[c->tselect] = v; trig_rearm(c); return 0;
  case 0x7a3: return 0;
  case 0x7a4: return 0;
  case 0x341: c->mepc = v & ~1ull; return 0;
  case 0x342: c->mcause = v; return 0;
  case 0x343: c->mtval = v; return 0;
  case 0x344: {
    uint64_t m = mip_writable(c);
    c->mip_sw = (c->mip_sw & ~m) | (v & m);
    c->attn = 1;
    return 0;
  }
  case 0xb00: case 0xb02:
    /* cycle and instret are one counter here: writing moves its base. The writing instruction
     * does not count itself after its write, so the next instruction reads exactly v. */
    c->instret = v - (c->budget - c->left) - 1;
    return 0;
  }
  if (csr >= 0x3a0 && csr < 0x3a0 + NPMP / 4) {
    if (csr & 1) return -1;
    int base = (csr - 0x3a0) * 4;
    for (int i = 0; i < 8; i++) write_pmpcfg(c, base + i, v >> (8 * i));
    cpu_tlb_flush(c);
    return 0;
  }
  if (csr >= 0x3b0 && csr < 0x3b0 + NPMP) {
    int i = csr - 0x3b0;
    if (c->pmpcfg[i] & 0x80) return 0;
    if (i + 1 < NPMP && (c->pmpcfg[i + 1] & 0x80) && ((c->pmpcfg[i + 1] >> 3) & 3) == 1) return 0;
    c->pmpaddr[i] = v & 0x003fffffffffffffull;
    cpu_tlb_flush(c);
    return 0;
  }
  if (csr >= 0xb03 && csr <= 0xb1f) { if (csr <= 0xb12) c->hpm[csr - 0xb03] = v; return 0; }
  if (csr >= 0x323 && csr <= 0x33f) { if (csr <= 0x332) c->hpmevent[csr - 0x323] = v; return 0; }
  return -1;
}

int cpu_csr_op(cpu *c, const dinsn *d) {
  int csr = d->imm & 0xfff;
  uint64_t src = (d->op >= OP_CSRRWI) ? d->rs1 : c->x[d->rs1];
  int do_write = d->op == OP_CSRRW || d->op == OP_CSRRWI || d->rs1 != 0;
  int do_read = !((d->op == OP_CSRRW || d->op == OP_CSRRWI) && d->rd == 32);
  uint64_t old = 0;
  if (do_write && (csr >> 10) == 3) goto illegal;
  if (do_read || d->op != OP_CSRRW) {
    if (csr_read(c, csr, &old, 1) < 0) goto illegal;
  } else if (c->priv < ((csr >> 8) & 3)) {
    goto illegal;
  }
  if (do_write) {
    /* Only mip's software-writable bits take part in a set or clear: the device lines OR'd into
     * what rd reads are never written back into them (privileged spec, mip). */
    uint64_t base = csr == 0x344 ? c->mip_sw : csr == 0x144 ? c->mip_sw & c->mideleg : old;
    uint64_t nv;
    switch (d->op) {
    case OP_CSRRW: case OP_CSRRWI: nv = src; break;
    case OP_CSRRS: case OP_CSRRSI: nv = base | src; break;
    default: nv = base & ~src; break;
    }
    if (csr_write(c, csr, nv, 1) < 0) goto illegal;
  }
  c->x[d->rd] = old;
  c->x[32] = 0;
  return 0;
illegal:
  cpu_trap(c, EXC_ILLEGAL, cpu_insn_bits(c, c->pc));
  return -1;
}

int cpu_get_csr(cpu *c, int csr, uint64_t *v) { return csr_read(c, csr & 0xfff, v, 0); }
int cpu_set_csr(cpu *c, int csr, uint64_t v) { return csr_write(c, csr & 0xfff, v, 0); }
