/* cpu: the hart's public interface and its run loop. The loop fetches a decoded instruction from
 * the current page's decode cache (decoding on first use), and dispatches with computed goto.
 * Loads, stores and fetches hit the software TLB inline; everything else (TLB misses, MMIO,
 * traps, CSRs, atomics, FP) is a call into the other cpu_*.c files. pc and the remaining budget
 * live in locals and are synced to the struct around such calls (SYNC/RELOAD). Interrupts are
 * checked only when c->attn says something changed. */
#include <stdlib.h>
#include <string.h>

#include "cpu_int.h"

#define MISA_RV64GC ((2ull << 62) | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | \
                     (1 << 12) | (1 << 18) | (1 << 20))

cpu *cpu_new(bus *b, int hartid, const cpu_hooks *hooks) {
  cpu *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->bus = b;
  c->hartid = hartid;
  if (hooks) c->hooks = *hooks;
  cpu_cc_attach(c);
  cpu_reset(c, 0x1000);
  return c;
}

void cpu_free(cpu *c) {
  if (!c) return;
  cpu_cc_detach(c);
  free(c);
}

void cpu_reset(cpu *c, uint64_t pc) {
  memset(c->x, 0, sizeof(c->x));
  memset(c->f, 0, sizeof(c->f));
  c->pc = pc;
  c->priv = PRV_M;
  c->mstatus = (2ull << 32) | (2ull << 34);
  c->misa = MISA_RV64GC;
  c->medeleg = c->mideleg = c->mie = c->mip_sw = c->mip_dev = 0;
  c->mtvec = c->mscratch = c->mepc = c->mcause = c->mtval = 0;
  c->stvec = c->sscratch = c->sepc = c->scause = c->stval = c->satp = 0;
  c->mcounteren = c->scounteren = c->menvcfg = c->senvcfg = c->mcountinhibit = 0;
  c->instret = 0;
  c->stimecmp = 0;
  c->sstc_armed = c->sstc_level = 0;
  cpu_trig_reset(c);
  c->fflags = c->frm = 0;
  memset(c->hpm, 0, sizeof(c->hpm));
  memset(c->hpmevent, 0, sizeof(c->hpmevent));
  memset(c->pmpcfg, 0, sizeof(c->pmpcfg));
  memset(c->pmpaddr, 0, sizeof(c->pmpaddr));
  c->resv_valid = 0;
  c->wfi = c->halt_req = 0;
  c->attn = 1;
  cpu_update_data_priv(c);
  cpu_tlb_flush(c);
}

void cpu_set_irq(cpu *c, uint32_t mask, int level) {
  if (level) c->mip_dev |= mask;
  else c->mip_dev &= ~(uint64_t)mask;
  c->attn = 1;
  if (c->wfi && (cpu_mip(c) & c->mie)) c->wfi = 0;
}

void cpu_set_soft_irq(cpu *c, uint32_t mask, int level) {
  mask &= CPU_IRQ_SSIP | CPU_IRQ_STIP | CPU_IRQ_SEIP;
  if (level) c->mip_sw |= mask;
  else c->mip_sw &= ~(uint64_t)mask;
  c->attn = 1;
  if (c->wfi && (cpu_mip(c) & c->mie)) c->wfi = 0;
}

void cpu_halt(cpu *c) {
  c->halt_req = 1;
  c->attn = 1;
}

void cpu_invalidate(cpu *c, uint64_t pa, uint64_t len) { cpu_cc_invalidate(c->cc, pa, len); }

uint64_t cpu_get_x(const cpu *c, int r) { return (r > 0 && r < 32) ? c->x[r] : 0; }
void cpu_set_x(cpu *c, int r, uint64_t v) { if (r > 0 && r < 32) c->x[r] = v; }
uint64_t cpu_get_pc(const cpu *c) { return c->pc; }
void cpu_set_pc(cpu *c, uint64_t pc) { c->pc = pc & ~1ull; c->attn = 1; }
int cpu_get_priv(const cpu *c) { return c->priv; }
void cpu_set_priv(cpu *c, int priv) {
  c->priv = priv == PRV_M || priv == PRV_S ? priv : PRV_U;
  cpu_update_data_priv(c);
  c->attn = 1;
}
uint64_t cpu_instret(const cpu *c) { return cpu_cur_instret(c); }
int cpu_hartid(const cpu *c) { return c->hartid; }

/* LR/SC and AMOs go through the bus (so stores to code pages and MMIO stay right); they are
 * rare enough that the slow path costs nothing measurable. */
static int do_amo(cpu *c, const dinsn *d) {
  int op = d->op;
  int w = op == OP_LR_W || op == OP_SC_W || (op >= OP_AMOSWAP_W && op <= OP_AMOMAXU_W);
  int size = w ? 4 : 8;
  uint64_t va = c->x[d->rs1], pa, old;
  int is_lr = op == OP_LR_W || op == OP_LR_D;
  if (op == OP_SC_W || op == OP_SC_D) {
    if (cpu_amo_addr(c, va, size, 0, &pa) < 0) return -1;
    uint64_t cur;
    int ok = c->resv_valid && c->resv_addr == pa && bus_read(c->bus, pa, size, &cur) == 0 &&
             cur == c->resv_val;
    c->resv_valid = 0;
    if (ok) {
      if (bus_write(c->bus, pa, size, c->x[d->rs2]) < 0) {
        cpu_trap(c, EXC_STORE_ACCESS, va);
        return -1;
      }
    }
    c->x[d->rd] = !ok;
    c->x[32] = 0;
    return 0;
  }
  if (cpu_amo_addr(c, va, size, is_lr, &pa) < 0) return -1;
  if (bus_read(c->bus, pa, size, &old) < 0) {
    cpu_trap(c, is_lr ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS, va);
    return -1;
  }
  if (is_lr) {
    c->resv_valid = 1;
    c->resv_addr = pa;
    c->resv_val = old;
  } else {
    uint64_t b = c->x[d->rs2], n;
    int64_t so = w ? (int32_t)old : (int64_t)old, sb = w ? (int32_t)b : (int64_t)b;
    uint64_t uo = w ? (uint32_t)old : old, ub = w ? (uint32_t)b : b;
    int k = w ? op - OP_AMOSWAP_W : op - OP_AMOSWAP_D;
    switch (k) {
    case 0: n = b; break;
    case 1: n = old + b; break;
    case 2: n = old ^ b; break;
    case 3: n = old & b; break;
    case 4: n = old | b; break;
    case 5: n = so < sb ? old : b; break;
    case 6: n = so > sb ? old : b; break;
    case 7: n = uo < ub ? old : b; break;
    default: n = uo > ub ? old : b; break;
    }
    if (bus_write(c->bus, pa, size, n) < 0) {
      cpu_trap(c, EXC_STORE_ACCESS, va);
      return -1;
    }
  }
  c->x[d->rd] = w ? (uint64_t)(int64_t)(int32_t)old : old;
  c->x[32] = 0;
  return 0;
}

/* Zbc: the 128-bit carry-less product; clmul, clmulh and clmulr are its bits 63..0, 127..64
 * and 126..63. One shift-xor per set bit of b. */
static inline unsigned __int128 clmul128(uint64_t a, uint64_t b) {
  unsigned __int128 p = 0;
  for (; b; b &= b - 1) p ^= (unsigned __int128)a << __builtin_ctzll(b);
  return p;
}

/* Zbb rotates right by n mod the width (left by n is right by -n); shifting the other way by
 * -n & mask keeps a rotate by 0 defined. The W form sign-extends its 32-bit result. */
static inline uint64_t ror64(uint64_t v, unsigned n) { return v >> (n & 63) | v << (-n & 63); }
static inline uint64_t rorw(uint64_t v, unsigned n) {
  uint32_t w = (uint32_t)v;
  return (uint64_t)(int64_t)(int32_t)(w >> (n & 31) | w << (-n & 31));
}

/* orc.b: 0xff for each nonzero byte. (b & 0x7f) + 0x7f sets bit 7 iff the low 7 bits are
 * nonzero and never carries into the next byte; or-ing in b covers its bit 7. */
static inline uint64_t orc_b(uint64_t v) {
  const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full;
  return ((((v & lo7) + lo7) | v) >> 7 & 0x0101010101010101ull) * 0xff;
}

static inline uint64_t ld8(uintptr_t p) { uint8_t v; memcpy(&v, (void *)p, 1); return v; }
static inline uint64_t ld16(uintptr_t p) { uint16_t v; memcpy(&v, (void *)p, 2); return v; }
static inline uint64_t ld32(uintptr_t p) { uint32_t v; memcpy(&v, (void *)p, 4); return v; }
static inline uint64_t ld64(uintptr_t p) { uint64_t v; memcpy(&v, (void *)p, 8); return v; }

/* Handler addresses the decode cache needs outside cpu_run (computed-goto labels are local). */
void *cpu_lbl_none, *cpu_lbl_pagex;

/* The run loop. Every handler exists twice, for 2- and 4-byte encodings (H), so stepping to the
 * next slot is a constant add and each dinsn carries its handler's address: dispatch is one
 * load and an indirect jump, each handler with its own jump (no tail merging), which branch
 * predictors like. */
__attribute__((optimize("no-crossjumping", "no-gcse")))
static enum cpu_stop run_fast(cpu *c, uint64_t budget, uint64_t *executed);

/* While a debug trigger watches execution, instructions run one at a time, each checked first. */
static enum cpu_stop run_stepping(cpu *c, uint64_t budget, uint64_t *executed) {
  uint64_t used = 0, retired = 0, n;
  enum cpu_stop r = CPU_BUDGET;
  while (used < budget && c->trig_x) {
    used++;
    if (!c->halt_req && !c->wfi && cpu_trig_hit(c, 0, 0, ACC_X)) continue;
    r = run_fast(c, 1, &n);
    retired += n;
    if (r != CPU_BUDGET) break;
  }
  if (r == CPU_BUDGET && used < budget) {
    r = run_fast(c, budget - used, &n);
    retired += n;
  }
  *executed = retired;
  return r;
}

enum cpu_stop cpu_run(cpu *c, uint64_t budget, uint64_t *executed) {
  if (unlikely(c->trig_x)) return run_stepping(c, budget, executed);
  enum cpu_stop r = run_fast(c, budget, executed);
  if (unlikely(c->trig_x) && r == CPU_BUDGET && *executed < budget) {
    uint64_t more;
    r = run_stepping(c, budget - *executed, &more);
    *executed += more;
  }
  return r;
}

static enum cpu_stop run_fast(cpu *c, uint64_t budget, uint64_t *executed) {
#define HL(o) [0][OP_##o] = &&L_##o##_4, [1][OP_##o] = &&L_##o##_2
#define H1(o) [0][OP_##o] = &&L_##o, [1][OP_##o] = &&L_##o
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
  static void *const labels[2][OP_COUNT] = {
    [0][0 ... OP_COUNT - 1] = &&L_FP_4, [1][0 ... OP_COUNT - 1] = &&L_FP_2,
    H1(NONE), H1(STRADDLE), H1(PAGEX), HL(ILLEGAL), HL(LUI), HL(AUIPC), HL(JAL), HL(JALR),
    HL(BEQ), HL(BNE), HL(BLT), HL(BGE), HL(BLTU), HL(BGEU), HL(LB), HL(LH), HL(LW), HL(LD),
    HL(LBU), HL(LHU), HL(LWU), HL(SB), HL(SH), HL(SW), HL(SD), HL(ADDI), HL(SLTI), HL(SLTIU),
    HL(XORI), HL(ORI), HL(ANDI), HL(SLLI), HL(SRLI), HL(SRAI), HL(ADD), HL(SUB), HL(SLL),
    HL(SLT), HL(SLTU), HL(XOR), HL(SRL), HL(SRA), HL(OR), HL(AND), HL(ADDIW), HL(SLLIW),
    HL(SRLIW), HL(SRAIW), HL(ADDW), HL(SUBW), HL(SLLW), HL(SRLW), HL(SRAW), HL(FENCE),
    HL(FENCE_I), HL(ECALL), HL(EBREAK), HL(MRET), HL(SRET), HL(WFI), HL(SFENCE_VMA),
    HL(CSRRW), HL(CSRRS), HL(CSRRC), HL(CSRRWI), HL(CSRRSI), HL(CSRRCI), HL(MUL), HL(MULH),
    HL(MULHSU), HL(MULHU), HL(DIV), HL(DIVU), HL(REM), HL(REMU), HL(MULW), HL(DIVW),
    HL(DIVUW), HL(REMW), HL(REMUW), HL(FLW), HL(FLD), HL(FSW), HL(FSD),
    HL(ADD_UW), HL(SH1ADD), HL(SH2ADD), HL(SH3ADD), HL(SH1ADD_UW), HL(SH2ADD_UW),
    HL(SH3ADD_UW), HL(SLLI_UW), HL(ANDN), HL(ORN), HL(XNOR), HL(CLZ), HL(CLZW), HL(CTZ),
    HL(CTZW), HL(CPOP), HL(CPOPW), HL(MAX), HL(MAXU), HL(MIN), HL(MINU), HL(SEXT_B),
    HL(SEXT_H), HL(ZEXT_H), HL(ROL), HL(ROLW), HL(ROR), HL(RORW), HL(RORI), HL(RORIW),
    HL(ORC_B), HL(REV8), HL(CLMUL), HL(CLMULH), HL(CLMULR), HL(BCLR), HL(BCLRI), HL(BEXT),
    HL(BEXTI), HL(BINV), HL(BINVI), HL(BSET), HL(BSETI),
    [0][OP_LR_W ... OP_AMOMAXU_D] = &&L_AMO_4, [1][OP_LR_W ... OP_AMOMAXU_D] = &&L_AMO_2,
  };
#pragma GCC diagnostic pop
#undef HL
#undef H1
  uint64_t *const x = c->x;
  uint64_t pc, left, page = ~0ull;
  tlb_ent *tr, *tw;             /* the data TLBs of the current privilege */
  dpage *dp = NULL;
  uint8_t *host = NULL;
  const dinsn *d;
  /* Instructions fetched outside the decode cache run from tmp[0]; tmp[1..2] are sentinels. */
  dinsn tmp[3];
  enum cpu_stop why = CPU_BUDGET;

  /* Label addresses are code addresses, valid for the program's life: no dangling pointer. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wdangling-pointer"
  /* Set once; atomically, since harts of different machines run on worker threads. */
  if (__atomic_load_n(&cpu_lbl_pagex, __ATOMIC_RELAXED) != &&L_PAGEX) {
    __atomic_store_n(&cpu_lbl_none, &&L_NONE, __ATOMIC_RELAXED);
    __atomic_store_n(&cpu_lbl_pagex, &&L_PAGEX, __ATOMIC_RELAXED);
  }
#pragma GCC diagnostic pop
  tmp[1].h = tmp[2].h = &&L_PAGEX;
  c->budget = c->left = budget;
  if (c->halt_req) {           /* halted while parked or between slices */
    c->halt_req = 0;
    c->budget = c->left = 0;
    *executed = 0;
    return CPU_HALT;
  }
  if (c->wfi) {
    if (!(cpu_mip(c) & c->mie)) {
      c->budget = c->left = 0;
      *executed = 0;
      return CPU_WFI;
    }
    c->wfi = 0;
  }
  c->attn = 1;

#define H(name, ...)                                                                          \
  L_##name##_4: { enum { LEN = 4 }; __VA_ARGS__ }                                             \
  L_##name##_2: { enum { LEN = 2 }; __VA_ARGS__ }
#define SYNC() (c->pc = pc, c->left = left)
#define RELOAD() (pc = c->pc, left = c->left, page = ~0ull, tr = c->dt->r, tw = c->dt->w)
#define DISPATCH() goto *d->h
/* Straight-line flow steps d along the page's slots (the sentinel catches the page end); taken
 * branches within the current page index from d, others go through the page lookup. */
#define NEXT()                                                                                \
  do {                                                                                        \
    pc += LEN;                                                                                \
    if (unlikely(--left == 0)) goto out;                                                      \
    d += LEN / 2;                                                                             \
    DISPATCH();                                                                               \
  } while (0)
#define JUMP(target)                                                                          \
  do {                                                                                        \
    uint64_t t_ = (target);                                                                   \
    if (unlikely(--left == 0)) { pc = t_; goto out; }                                         \
    if (likely((t_ & ~0xfffull) == page)) {                                                   \
      d = (const dinsn *)((const char *)d + (int64_t)(t_ - pc) * (int64_t)(sizeof(dinsn) / 2)); \
      pc = t_;                                                                                \
      DISPATCH();                                                                             \
    }                                                                                         \
    pc = t_;                                                                                  \
    goto loop;                                                                                \
  } while (0)
#define NEXT_CHECK() do { pc += LEN; left--; goto top; } while (0)
/* A trapping instruction does not retire but uses budget, so a trap loop (a vector pointing
 * at unmapped memory, say) still returns to the machine. */
#define TRAPPED() do { RELOAD(); left--; goto top; } while (0)
#define RAISE(cause, tval) do { SYNC(); cpu_trap(c, (cause), (tval)); TRAPPED(); } while (0)
#define RD x[d->rd]
#define RS1 x[d->rs1]
#define RS2 x[d->rs2]
#define IMM ((int64_t)d->imm)
#define LOAD(type, size, ld)                                                                  \
  do {                                                                                        \
    uint64_t a_ = RS1 + IMM;                                                                  \
    tlb_ent *t_ = &tr[(a_ >> 12) & (TLB_SIZE - 1)];                                         \
    if (likely(t_->tag == (a_ & (~0xfffull | (size - 1))))) {                                 \
      RD = (uint64_t)(type)ld(a_ + t_->add);                                                  \
      NEXT();                                                                                 \
    }                                                                                         \
    uint64_t v_;                                                                              \
    SYNC();                                                                                   \
    if (cpu_load_slow(c, a_, size, &v_) < 0) TRAPPED();                                       \
    RD = (uint64_t)(type)v_;                                                                  \
    NEXT_CHECK();                                                                             \
  } while (0)
#define STORE(size, val)                                                                      \
  do {                                                                                        \
    uint64_t a_ = RS1 + IMM, v_ = (val);                                                      \
    tlb_ent *t_ = &tw[(a_ >> 12) & (TLB_SIZE - 1)];                                         \
    if (likely(t_->tag == (a_ & (~0xfffull | (size - 1))))) {                                 \
      memcpy((void *)(a_ + t_->add), &v_, size);                                              \
      NEXT();                                                                                 \
    }                                                                                         \
    SYNC();                                                                                   \
    if (cpu_store_slow(c, a_, size, v_) < 0) TRAPPED();                                       \
    NEXT_CHECK();                                                                             \
  } while (0)
#define BRANCH(cond)                                                                          \
  do {                                                                                        \
    if (cond) JUMP(pc + IMM);                                                                 \
    NEXT();                                                                                   \
  } while (0)
#define FS_OFF() (!(c->mstatus & MS_FS))

  RELOAD();
top:
  if (c->attn) {
    SYNC();
    c->attn = 0;
    if (c->halt_req) {
      c->halt_req = 0;
      why = CPU_HALT;
      goto out;
    }
    /* A trigger on execution was just armed: the rest of the budget runs stepping. */
    if (unlikely(c->trig_x) && budget > 1) goto out;
    cpu_check_irq(c);
    RELOAD();
  }
loop:
  if (unlikely(left == 0)) goto out;
  if (unlikely((pc & ~0xfffull) != page)) {
    SYNC();
    if (cpu_fetch_page(c, pc, &dp, &host) < 0) TRAPPED();
    if (!dp) {
      uint32_t raw;
      int compressed;
      if (cpu_fetch_slow(c, pc, &raw) < 0) TRAPPED();
      compressed = (raw & 3) != 3;
      if (compressed) {
        uint32_t e = cpu_rvc_expand(raw);
        cpu_decode(e, &tmp[0]);
        if (!e) tmp[0].op = OP_ILLEGAL;
      } else {
        cpu_decode(raw, &tmp[0]);
      }
      tmp[0].h = labels[compressed][tmp[0].op];
      d = &tmp[0];
      page = ~0ull;
      DISPATCH();
    }
    page = pc & ~0xfffull;
  }
  d = &dp->d[(pc >> 1) & 2047];
  DISPATCH();

L_NONE: {
    uint32_t off = pc & 0xfff;
    dinsn *w = &dp->d[off >> 1];
    uint32_t lo = (uint32_t)ld16((uintptr_t)host + off);
    int compressed = (lo & 3) != 3;
    if (compressed) {
      uint32_t e = cpu_rvc_expand(lo);
      cpu_decode(e, w);
      if (!e) w->op = OP_ILLEGAL;
    } else if (off == 0xffe) {
      w->op = OP_STRADDLE;
    } else {
      cpu_decode(lo | (uint32_t)ld16((uintptr_t)host + off + 2) << 16, w);
    }
    w->h = labels[compressed][w->op];
    d = w;
    DISPATCH();
  }
L_STRADDLE: {
    uint32_t raw;
    SYNC();
    if (cpu_fetch_slow(c, pc, &raw) < 0) TRAPPED();
    cpu_decode(raw, &tmp[0]);
    tmp[0].h = labels[0][tmp[0].op];
    d = &tmp[0];
    page = ~0ull;
    DISPATCH();
  }
L_PAGEX: goto loop;
H(ILLEGAL, RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));)
H(LUI, RD = IMM; NEXT();)
H(AUIPC, RD = pc + IMM; NEXT();)
H(JAL, RD = pc + LEN; JUMP(pc + IMM);)
H(JALR, uint64_t t = (RS1 + IMM) & ~1ull; RD = pc + LEN; JUMP(t);)
H(BEQ, BRANCH(RS1 == RS2);)
H(BNE, BRANCH(RS1 != RS2);)
H(BLT, BRANCH((int64_t)RS1 < (int64_t)RS2);)
H(BGE, BRANCH((int64_t)RS1 >= (int64_t)RS2);)
H(BLTU, BRANCH(RS1 < RS2);)
H(BGEU, BRANCH(RS1 >= RS2);)
H(LB, LOAD(int8_t, 1, ld8);)
H(LH, LOAD(int16_t, 2, ld16);)
H(LW, LOAD(int32_t, 4, ld32);)
H(LD, LOAD(uint64_t, 8, ld64);)
H(LBU, LOAD(uint8_t, 1, ld8);)
H(LHU, LOAD(uint16_t, 2, ld16);)
H(LWU, LOAD(uint32_t, 4, ld32);)
H(SB, STORE(1, RS2);)
H(SH, STORE(2, RS2);)
H(SW, STORE(4, RS2);)
H(SD, STORE(8, RS2);)
H(ADDI, RD = RS1 + IMM; NEXT();)
H(SLTI, RD = (int64_t)RS1 < IMM; NEXT();)
H(SLTIU, RD = RS1 < (uint64_t)IMM; NEXT();)
H(XORI, RD = RS1 ^ IMM; NEXT();)
H(ORI, RD = RS1 | IMM; NEXT();)
H(ANDI, RD = RS1 & IMM; NEXT();)
H(SLLI, RD = RS1 << d->imm; NEXT();)
H(SRLI, RD = RS1 >> d->imm; NEXT();)
H(SRAI, RD = (uint64_t)((int64_t)RS1 >> d->imm); NEXT();)
H(ADD, RD = RS1 + RS2; NEXT();)
H(SUB, RD = RS1 - RS2; NEXT();)
H(SLL, RD = RS1 << (RS2 & 63); NEXT();)
H(SLT, RD = (int64_t)RS1 < (int64_t)RS2; NEXT();)
H(SLTU, RD = RS1 < RS2; NEXT();)
H(XOR, RD = RS1 ^ RS2; NEXT();)
H(SRL, RD = RS1 >> (RS2 & 63); NEXT();)
H(SRA, RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63)); NEXT();)
H(OR, RD = RS1 | RS2; NEXT();)
H(AND, RD = RS1 & RS2; NEXT();)
H(ADDIW, RD = (uint64_t)(int64_t)(int32_t)(uint32_t)(RS1 + IMM); NEXT();)
H(SLLIW, RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 << d->imm); NEXT();)
H(SRLIW, RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 >> d->imm); NEXT();)
H(SRAIW, RD = (uint64_t)(int64_t)((int32_t)(uint32_t)RS1 >> d->imm); NEXT();)
H(ADDW, RD = (uint64_t)(int64_t)(int32_t)(uint32_t)(RS1 + RS2); NEXT();)
H(SUBW, RD = (uint64_t)(int64_t)(int32_t)(uint32_t)(RS1 - RS2); NEXT();)
H(SLLW, RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 << (RS2 & 31)); NEXT();)
H(SRLW, RD = (uint64_t)(int64_t)(int32_t)((uint32_t)RS1 >> (RS2 & 31)); NEXT();)
H(SRAW, RD = (uint64_t)(int64_t)((int32_t)(uint32_t)RS1 >> (RS2 & 31)); NEXT();)
H(MUL, RD = RS1 * RS2; NEXT();)
H(MULH, RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >> 64); NEXT();)
H(MULHSU,
  RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(unsigned __int128)RS2) >> 64);
  NEXT();)
H(MULHU, RD = (uint64_t)(((unsigned __int128)RS1 * RS2) >> 64); NEXT();)
H(DIV,
  int64_t a = RS1; int64_t b = RS2;
  RD = b == 0 ? ~0ull : (a == INT64_MIN && b == -1) ? (uint64_t)a : (uint64_t)(a / b);
  NEXT();)
H(DIVU, RD = RS2 == 0 ? ~0ull : RS1 / RS2; NEXT();)
H(REM,
  int64_t a = RS1; int64_t b = RS2;
  RD = b == 0 ? (uint64_t)a : (a == INT64_MIN && b == -1) ? 0 : (uint64_t)(a % b);
  NEXT();)
H(REMU, RD = RS2 == 0 ? RS1 : RS1 % RS2; NEXT();)
H(MULW, RD = (uint64_t)(int64_t)(int32_t)(uint32_t)(RS1 * RS2); NEXT();)
H(DIVW,
  int32_t a = RS1; int32_t b = RS2;
  RD = (uint64_t)(int64_t)(b == 0 ? -1 : (a == INT32_MIN && b == -1) ? a : a / b);
  NEXT();)
H(DIVUW,
  uint32_t a = RS1; uint32_t b = RS2;
  RD = (uint64_t)(int64_t)(int32_t)(b == 0 ? ~0u : a / b);
  NEXT();)
H(REMW,
  int32_t a = RS1; int32_t b = RS2;
  RD = (uint64_t)(int64_t)(b == 0 ? a : (a == INT32_MIN && b == -1) ? 0 : a % b);
  NEXT();)
H(REMUW,
  uint32_t a = RS1; uint32_t b = RS2;
  RD = (uint64_t)(int64_t)(int32_t)(b == 0 ? a : a % b);
  NEXT();)
/* Zba: address generation; .uw zero-extends the low word of rs1 first. */
#define UW(v) ((uint64_t)(uint32_t)(v))
H(ADD_UW, RD = RS2 + UW(RS1); NEXT();)
H(SH1ADD, RD = RS2 + (RS1 << 1); NEXT();)
H(SH2ADD, RD = RS2 + (RS1 << 2); NEXT();)
H(SH3ADD, RD = RS2 + (RS1 << 3); NEXT();)
H(SH1ADD_UW, RD = RS2 + (UW(RS1) << 1); NEXT();)
H(SH2ADD_UW, RD = RS2 + (UW(RS1) << 2); NEXT();)
H(SH3ADD_UW, RD = RS2 + (UW(RS1) << 3); NEXT();)
H(SLLI_UW, RD = UW(RS1) << d->imm; NEXT();)
/* Zbb. The builtins are undefined for 0, which counts as all bits. */
H(ANDN, RD = RS1 & ~RS2; NEXT();)
H(ORN, RD = RS1 | ~RS2; NEXT();)
H(XNOR, RD = ~(RS1 ^ RS2); NEXT();)
H(CLZ, uint64_t v = RS1; RD = v ? (uint64_t)__builtin_clzll(v) : 64; NEXT();)
H(CLZW, uint32_t v = RS1; RD = v ? (uint64_t)__builtin_clz(v) : 32; NEXT();)
H(CTZ, uint64_t v = RS1; RD = v ? (uint64_t)__builtin_ctzll(v) : 64; NEXT();)
H(CTZW, uint32_t v = RS1; RD = v ? (uint64_t)__builtin_ctz(v) : 32; NEXT();)
H(CPOP, RD = (uint64_t)__builtin_popcountll(RS1); NEXT();)
H(CPOPW, RD = (uint64_t)__builtin_popcount((uint32_t)RS1); NEXT();)
H(MAX, RD = (int64_t)RS1 > (int64_t)RS2 ? RS1 : RS2; NEXT();)
H(MAXU, RD = RS1 > RS2 ? RS1 : RS2; NEXT();)
H(MIN, RD = (int64_t)RS1 < (int64_t)RS2 ? RS1 : RS2; NEXT();)
H(MINU, RD = RS1 < RS2 ? RS1 : RS2; NEXT();)
H(SEXT_B, RD = (uint64_t)(int64_t)(int8_t)RS1; NEXT();)
H(SEXT_H, RD = (uint64_t)(int64_t)(int16_t)RS1; NEXT();)
H(ZEXT_H, RD = (uint16_t)RS1; NEXT();)
H(ROL, RD = ror64(RS1, -(unsigned)RS2); NEXT();)
H(ROLW, RD = rorw(RS1, -(unsigned)RS2); NEXT();)
H(ROR, RD = ror64(RS1, (unsigned)RS2); NEXT();)
H(RORW, RD = rorw(RS1, (unsigned)RS2); NEXT();)
H(RORI, RD = ror64(RS1, (unsigned)d->imm); NEXT();)
H(RORIW, RD = rorw(RS1, (unsigned)d->imm); NEXT();)
H(ORC_B, RD = orc_b(RS1); NEXT();)
H(REV8, RD = __builtin_bswap64(RS1); NEXT();)
/* Zbc */
H(CLMUL, RD = (uint64_t)clmul128(RS1, RS2); NEXT();)
H(CLMULH, RD = (uint64_t)(clmul128(RS1, RS2) >> 64); NEXT();)
H(CLMULR, RD = (uint64_t)(clmul128(RS1, RS2) >> 63); NEXT();)
/* Zbs: the bit index is rs2 or the shamt, mod 64. */
H(BCLR, RD = RS1 & ~(1ull << (RS2 & 63)); NEXT();)
H(BCLRI, RD = RS1 & ~(1ull << d->imm); NEXT();)
H(BEXT, RD = RS1 >> (RS2 & 63) & 1; NEXT();)
H(BEXTI, RD = RS1 >> d->imm & 1; NEXT();)
H(BINV, RD = RS1 ^ (1ull << (RS2 & 63)); NEXT();)
H(BINVI, RD = RS1 ^ (1ull << d->imm); NEXT();)
H(BSET, RD = RS1 | (1ull << (RS2 & 63)); NEXT();)
H(BSETI, RD = RS1 | (1ull << d->imm); NEXT();)
#undef UW
H(FENCE, NEXT();)
/* Stores already drop the code they overwrite; DMA through bus_ram_ptr does not, so FENCE.I
 * forgets every decoded page (d itself is freed by the flush). */
H(FENCE_I,
  SYNC();
  cpu_cc_flush(c);
  page = ~0ull;
  pc += LEN;
  left--;
  goto loop;)
H(ECALL,
  SYNC();
  if (c->priv == PRV_S && c->hooks.sbi && c->hooks.sbi(c->hooks.ud, c)) {
    RELOAD();
    pc += 4;
    left--;
    goto top;
  }
  RAISE(EXC_ECALL_U + c->priv, 0);)
H(EBREAK, RAISE(EXC_BREAKPOINT, pc);)
H(MRET,
  SYNC();
  if (cpu_mret(c) < 0) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  RELOAD();
  left--;
  goto top;)
H(SRET,
  SYNC();
  if (cpu_sret(c) < 0) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  RELOAD();
  left--;
  goto top;)
H(WFI,
  if (c->priv == PRV_U || (c->priv == PRV_S && (c->mstatus & MS_TW))) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  pc += LEN;
  left--;
  /* An enabled interrupt already pending makes WFI a no-op. One the hart cannot take yet
   * (firmware waiting for a flag with interrupts masked) means it spins: give the other harts
   * the rest of the slice (WFI is a hint, so nothing architectural changes). */
  if (cpu_mip(c) & c->mie) {
    if (cpu_irq_takeable(c)) { c->attn = 1; goto top; }
    why = CPU_YIELD;
    SYNC();
    goto out;
  }
  c->wfi = 1;
  why = CPU_WFI;
  SYNC();
  goto out;)
H(SFENCE_VMA,
  if (c->priv == PRV_U || (c->priv == PRV_S && (c->mstatus & MS_TVM)))
    RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  if (d->rs1) cpu_tlb_flush_va(c, RS1);
  else cpu_tlb_flush(c);
  page = ~0ull;
  pc += LEN;
  left--;
  goto loop;)
/* A CSR write can flush the TLB, change privilege-relevant state or enable interrupts. */
#define CSR_OP()                                                                              \
  SYNC();                                                                                     \
  if (cpu_csr_op(c, d) < 0) TRAPPED();                                                        \
  RELOAD();                                                                                   \
  pc += LEN;                                                                                  \
  left--;                                                                                     \
  goto top;
H(CSRRW, CSR_OP())
H(CSRRS, CSR_OP())
H(CSRRC, CSR_OP())
H(CSRRWI, CSR_OP())
H(CSRRSI, CSR_OP())
H(CSRRCI, CSR_OP())
H(AMO,
  SYNC();
  if (do_amo(c, d) < 0) TRAPPED();
  NEXT_CHECK();)
H(FLW,
  if (FS_OFF()) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  uint64_t a = RS1 + IMM; uint64_t v;
  tlb_ent *t = &tr[(a >> 12) & (TLB_SIZE - 1)];
  if (likely(t->tag == (a & (~0xfffull | 3)))) v = ld32(a + t->add);
  else {
    SYNC();
    if (cpu_load_slow(c, a, 4, &v) < 0) TRAPPED();
  }
  c->f[d->rd] = 0xffffffff00000000ull | (uint32_t)v;
  c->mstatus |= MS_FS;
  NEXT_CHECK();)
H(FLD,
  if (FS_OFF()) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  uint64_t a = RS1 + IMM; uint64_t v;
  tlb_ent *t = &tr[(a >> 12) & (TLB_SIZE - 1)];
  if (likely(t->tag == (a & (~0xfffull | 7)))) v = ld64(a + t->add);
  else {
    SYNC();
    if (cpu_load_slow(c, a, 8, &v) < 0) TRAPPED();
  }
  c->f[d->rd] = v;
  c->mstatus |= MS_FS;
  NEXT_CHECK();)
H(FSW,
  if (FS_OFF()) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  STORE(4, c->f[d->rs2]);)
H(FSD,
  if (FS_OFF()) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  STORE(8, c->f[d->rs2]);)
H(FP,
  if (cpu_fp_op(c, d) < 0) RAISE(EXC_ILLEGAL, cpu_insn_bits(c, pc));
  NEXT();)

out:
  SYNC();
  *executed = budget - c->left;
  c->instret += budget - c->left;
  c->budget = c->left = 0;
  return why;
}
