/* cpu_int: the hart's internals shared by cpu.c (run loop), cpu_decode.c, cpu_csr.c (CSRs, traps,
 * interrupts), cpu_mmu.c (TLB, page walks, slow memory path, decoded-code cache) and cpu_fp.c. */
#ifndef LEMU_CPU_INT_H
#define LEMU_CPU_INT_H

#include <stdint.h>

#include "cpu.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Decoded operations. Everything from OP_FMADD_S on is executed by cpu_fp_op. */
enum {
  OP_NONE, OP_ILLEGAL, OP_STRADDLE, OP_PAGEX, OP_LUI, OP_AUIPC, OP_JAL, OP_JALR, OP_BEQ, OP_BNE, OP_BLT,
  OP_BGE, OP_BLTU, OP_BGEU, OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_SB, OP_SH,
  OP_SW, OP_SD, OP_ADDI, OP_SLTI, OP_SLTIU, OP_XORI, OP_ORI, OP_ANDI, OP_SLLI, OP_SRLI, OP_SRAI,
  OP_ADD, OP_SUB, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_SRA, OP_OR, OP_AND, OP_ADDIW,
  OP_SLLIW, OP_SRLIW, OP_SRAIW, OP_ADDW, OP_SUBW, OP_SLLW, OP_SRLW, OP_SRAW, OP_FENCE, OP_FENCE_I,
  OP_ECALL, OP_EBREAK, OP_MRET, OP_SRET, OP_WFI, OP_SFENCE_VMA, OP_CSRRW, OP_CSRRS, OP_CSRRC,
  OP_CSRRWI, OP_CSRRSI, OP_CSRRCI, OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM,
  OP_REMU, OP_MULW, OP_DIVW, OP_DIVUW, OP_REMW, OP_REMUW, OP_LR_W, OP_SC_W, OP_LR_D, OP_SC_D,
  OP_AMOSWAP_W, OP_AMOADD_W, OP_AMOXOR_W, OP_AMOAND_W, OP_AMOOR_W, OP_AMOMIN_W, OP_AMOMAX_W,
  OP_AMOMINU_W, OP_AMOMAXU_W, OP_AMOSWAP_D, OP_AMOADD_D, OP_AMOXOR_D, OP_AMOAND_D, OP_AMOOR_D,
  OP_AMOMIN_D, OP_AMOMAX_D, OP_AMOMINU_D, OP_AMOMAXU_D, OP_FLW, OP_FLD, OP_FSW, OP_FSD,
  /* Zba, Zbb, Zbc, Zbs */
  OP_ADD_UW, OP_SH1ADD, OP_SH2ADD, OP_SH3ADD, OP_SH1ADD_UW, OP_SH2ADD_UW, OP_SH3ADD_UW,
  OP_SLLI_UW, OP_ANDN, OP_ORN, OP_XNOR, OP_CLZ, OP_CLZW, OP_CTZ, OP_CTZW, OP_CPOP, OP_CPOPW,
  OP_MAX, OP_MAXU, OP_MIN, OP_MINU, OP_SEXT_B, OP_SEXT_H, OP_ZEXT_H, OP_ROL, OP_ROLW, OP_ROR,
  OP_RORW, OP_RORI, OP_RORIW, OP_ORC_B, OP_REV8, OP_CLMUL, OP_CLMULH, OP_CLMULR, OP_BCLR,
  OP_BCLRI, OP_BEXT, OP_BEXTI, OP_BINV, OP_BINVI, OP_BSET, OP_BSETI,
  OP_FMADD_S, OP_FMSUB_S, OP_FNMSUB_S, OP_FNMADD_S, OP_FADD_S, OP_FSUB_S, OP_FMUL_S, OP_FDIV_S,
  OP_FSQRT_S, OP_FSGNJ_S, OP_FSGNJN_S, OP_FSGNJX_S, OP_FMIN_S, OP_FMAX_S, OP_FCVT_W_S,
  OP_FCVT_WU_S, OP_FCVT_L_S, OP_FCVT_LU_S, OP_FMV_X_W, OP_FEQ_S, OP_FLT_S, OP_FLE_S, OP_FCLASS_S,
  OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_S_L, OP_FCVT_S_LU, OP_FMV_W_X, OP_FMADD_D, OP_FMSUB_D,
  OP_FNMSUB_D, OP_FNMADD_D, OP_FADD_D, OP_FSUB_D, OP_FMUL_D, OP_FDIV_D, OP_FSQRT_D, OP_FSGNJ_D,
  OP_FSGNJN_D, OP_FSGNJX_D, OP_FMIN_D, OP_FMAX_D, OP_FCVT_W_D, OP_FCVT_WU_D, OP_FCVT_L_D,
  OP_FCVT_LU_D, OP_FMV_X_D, OP_FEQ_D, OP_FLT_D, OP_FLE_D, OP_FCLASS_D, OP_FCVT_D_W, OP_FCVT_D_WU,
  OP_FCVT_D_L, OP_FCVT_D_LU, OP_FMV_D_X, OP_FCVT_S_D, OP_FCVT_D_S, OP_COUNT
};
#define OP_FP_FIRST OP_FMADD_S

/* Decoded instruction (16 bytes): op and handler; rd is 32 (a scratch register) when the
 * instruction names x0, so handlers write rd unconditionally. The raw bits are not kept: an
 * illegal instruction re-reads them for mtval (cpu_insn_bits). */
typedef struct dinsn {
  void *h;                      /* handler in cpu_run, which also encodes the length */
  uint8_t op, rd, rs1, rs2;
  int32_t imm;                  /* F/D arithmetic: rm | rs3 << 8 */
} dinsn;

/* Decoded instructions of one guest-physical page, one slot per halfword; op 0 = not decoded.
 * d[2048] is a sentinel (OP_PAGEX) that sends straight-line execution running off the page
 * back to the page lookup. */
typedef struct dpage {
  uint64_t ppn;
  struct dpage *next;
  struct jit_page *jit;         /* translated blocks starting in this page (core/jit.c), or NULL */
  dinsn d[2049];
} dpage;

#define TLB_BITS 8
#define TLB_SIZE (1 << TLB_BITS)
/* A TLB entry maps one 4 KiB guest-virtual page to host RAM: host = va + add. tag is the page's
 * va, or TLB_NONE. A probe compares the tag with va & (~0xfff | (size - 1)), which keeps at most
 * bits 0..2 of the page offset, so TLB_NONE (bit 11) never matches (a value of 1 did match an
 * access of 2 bytes at va 1, which then used an empty entry's host offset). */
typedef struct tlb_ent { uint64_t tag; uintptr_t add; } tlb_ent;
#define TLB_NONE 0x800ull

typedef struct tlbset {
  tlb_ent r[TLB_SIZE], w[TLB_SIZE], x[TLB_SIZE];
  dpage *xd[TLB_SIZE];
} tlbset;

typedef struct ccache ccache;

/* Exception causes. */
enum {
  EXC_INSN_MISALIGNED = 0, EXC_INSN_ACCESS = 1, EXC_ILLEGAL = 2, EXC_BREAKPOINT = 3,
  EXC_LOAD_MISALIGNED = 4, EXC_LOAD_ACCESS = 5, EXC_STORE_MISALIGNED = 6, EXC_STORE_ACCESS = 7,
  EXC_ECALL_U = 8, EXC_ECALL_S = 9, EXC_ECALL_M = 11, EXC_INSN_PAGE = 12, EXC_LOAD_PAGE = 13,
  EXC_STORE_PAGE = 15,
};
#define CAUSE_INT (1ull << 63)

/* mstatus bits */
#define MS_SIE  (1ull << 1)
#define MS_MIE  (1ull << 3)
#define MS_SPIE (1ull << 5)
#define MS_MPIE (1ull << 7)
#define MS_SPP  (1ull << 8)
#define MS_MPP_SHIFT 11
#define MS_MPP  (3ull << 11)
#define MS_FS   (3ull << 13)
#define MS_MPRV (1ull << 17)
#define MS_SUM  (1ull << 18)
#define MS_MXR  (1ull << 19)
#define MS_TVM  (1ull << 20)
#define MS_TW   (1ull << 21)
#define MS_TSR  (1ull << 22)
#define MS_UXL  (3ull << 32)
#define MS_SXL  (3ull << 34)
#define MS_SD   (1ull << 63)

#define MENVCFG_STCE (1ull << 63)

enum { ACC_R = 0, ACC_W = 1, ACC_X = 2 };
enum { PRV_U = 0, PRV_S = 1, PRV_M = 3 };

#define NPMP 16
#define NTRIG 2

struct cpu {
  uint64_t x[33];               /* x[32] swallows writes to x0 */
  uint64_t f[32];               /* NaN-boxed */
  uint64_t pc;
  int priv;
  int hartid;
  bus *bus;
  cpu_hooks hooks;

  /* Run state. left: instructions still to run in this cpu_run (kept in sync around slow ops). */
  uint64_t left, budget;
  volatile int attn;            /* something changed: re-check interrupts / halt at a boundary */
  int halt_req, wfi;

  /* One TLB set per kind of access rights (U, S, S with SUM, M); dt/ft point at the sets of the
   * current data (MPRV and SUM applied) and fetch privilege, so traps, xRET and the SUM toggling
   * around kernel user-copies flush nothing. */
  tlbset tlbs[4];
  tlbset *dt, *ft;
  int tlb_maxlvl;               /* largest page level cached since the last full flush */
  int data_priv;                /* effective privilege of loads/stores (MPRV) */

  ccache *cc;
  cpu *cc_next;
  int accel;                    /* CPU_ACCEL_INTERP or CPU_ACCEL_JIT */
  uint64_t jit_insns;           /* instructions run in translated blocks */

  /* LR/SC: SC succeeds if the reserved address still holds the value LR read. */
  uint64_t resv_addr, resv_val;
  int resv_valid;

  /* CSRs */
  uint64_t mstatus, misa, medeleg, mideleg, mie, mip_sw, mip_dev, mtvec, mscratch, mepc, mcause,
      mtval, stvec, sscratch, sepc, scause, stval, satp, mcounteren, scounteren, menvcfg,
      senvcfg, mcountinhibit, instret;
  uint64_t stimecmp;            /* Sstc */
  int sstc_armed, sstc_level;   /* written since reset; the comparator's STIP, apart from mip's */
  /* Debug triggers (Sdtrig as QEMU 7.2 has it: NTRIG address-match triggers of type 2 or 6).
   * trig_x / trig_rw: some trigger watches execution / loads and stores, which then take the
   * slow paths (cpu_run steps one instruction at a time; no TLB entries are made). */
  uint64_t tselect, tdata1[NTRIG], tdata2[NTRIG];
  int trig_x, trig_rw;
  uint64_t hpm[16], hpmevent[16];    /* mhpmcounter3..18 / mhpmevent3..18: stored, not counting */
  uint32_t fflags, frm;
  uint8_t pmpcfg[NPMP];
  uint64_t pmpaddr[NPMP];
};

/* cpu_decode.c */
void cpu_decode(uint32_t insn, dinsn *d);
uint32_t cpu_rvc_expand(uint16_t c);   /* 0 if illegal */

/* cpu_csr.c */
void cpu_trap(cpu *c, uint64_t cause, uint64_t tval);
int cpu_check_irq(cpu *c);             /* takes a pending enabled interrupt; 1 if it did */
int cpu_irq_takeable(const cpu *c);    /* 1 if cpu_check_irq would take one now */
int cpu_csr_op(cpu *c, const dinsn *d);        /* 0 ok, -1 trapped */
int cpu_mret(cpu *c);
int cpu_sret(cpu *c);
uint64_t cpu_mip(const cpu *c);
/* Debug triggers: 1 (breakpoint exception raised) if one matches an access of size bytes at va
 * (acc ACC_R/ACC_W) or, with acc ACC_X, the instruction at c->pc. */
int cpu_trig_hit(cpu *c, uint64_t va, int size, int acc);
void cpu_trig_reset(cpu *c);
void cpu_update_data_priv(cpu *c);

/* cpu_mmu.c */
void cpu_tlb_flush(cpu *c);
void cpu_tlb_flush_va(cpu *c, uint64_t va);   /* SFENCE.VMA with an address */
/* Slow paths: return 0, or -1 after raising the exception. */
int cpu_load_slow(cpu *c, uint64_t va, int size, uint64_t *v);
int cpu_store_slow(cpu *c, uint64_t va, int size, uint64_t v);
/* Atomics: checks alignment and translates (for write unless LR); 0 with *pa, or -1 raised. */
int cpu_amo_addr(cpu *c, uint64_t va, int size, int is_lr, uint64_t *pa);
/* Fetch: fills *dp (NULL if the page is not RAM) and returns 0, or -1 after raising. */
int cpu_fetch_page(cpu *c, uint64_t va, dpage **dp, uint8_t **host);
int cpu_fetch_slow(cpu *c, uint64_t va, uint32_t *insn);
uint32_t cpu_insn_bits(cpu *c, uint64_t va);    /* the instruction at va, 0 if unreadable */
void cpu_cc_attach(cpu *c);
void cpu_cc_detach(cpu *c);
void cpu_cc_flush(cpu *c);
void cpu_cc_invalidate(ccache *cc, uint64_t pa, uint64_t len);
struct jit_code **cpu_cc_jit(ccache *cc);      /* the cache's translated code (core/jit.c) */

/* cpu_fp.c: executes an F/D op; 0 ok, -1 illegal (caller raises). */
int cpu_fp_op(cpu *c, const dinsn *d);

/* cpu.c: handler addresses for slots the cache resets (not decoded, page end). */
extern void *cpu_lbl_none, *cpu_lbl_pagex;

static inline uint64_t cpu_cur_instret(const cpu *c) { return c->instret + (c->budget - c->left); }

#endif
