/* jit: translates hot guest blocks to x86-64 from templates (x86-64 hosts only; elsewhere every
 * call says "no block" and the interpreter runs everything).
 *
 * A block starts where the run loop looks an instruction up through its page (the targets of
 * branches and jumps, the next instruction after anything the interpreter ran) and has run
 * JIT_HOT times. It holds integer ALU (RV64I, M, Zba/Zbb/Zbc/Zbs, the rare ones through a C
 * helper with the interpreter's expressions), loads and stores, branches and jumps, and ends at a
 * branch or jump, the page's end, or before any other instruction, which the interpreter runs.
 * Blocks never trap: a load or store probes the data TLB inline exactly as the interpreter does,
 * and anything else (a miss, MMIO, a misaligned or page-crossing access, a debug trigger's slow
 * path) leaves the block before that instruction with pc and the count exact. So registers, pc,
 * instret and memory on every exit are what the interpreter would have left.
 *
 * Between blocks guest registers live in c->x (rbx = c); inside one, its most used ones live in
 * rbp, r8-r11, rsi and rdi (see translate), stored back before every exit. r12 holds the block's
 * entry pc (blocks keep no virtual address, so one page mapped twice or a new satp needs no
 * invalidation), r13 the data TLB set, r14 the budget left, r15 the page's block table. A block
 * first checks that the budget covers all its instructions; exits subtract what ran. Branches
 * and jumps to the same page go straight to a block that existed when they were translated, else
 * through the page's table (a load and an indirect jump); jumps out of the page through the
 * hart's fetch TLB to the target page's table. So hot code stays in translated code until the
 * budget runs out; nothing inside translated code can change what the interrupt check at the run
 * loop's top looks at, so interrupts are taken at the same instruction boundaries as in the
 * interpreter.
 *
 * Code memory belongs to one decoded-code cache (per machine, so per thread running it) and is
 * never mapped writable and executable at once: a new block is assembled in a scratch buffer and
 * copied in through a second, read+write view of the same memory (or, where there is no memfd,
 * through mprotect around the copy). When it is full every table is dropped (a generation count)
 * and it starts over. */
#define _GNU_SOURCE             /* memfd_create */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jit.h"

#define JIT_HOT 64              /* lookups before a block is translated */
#define JIT_NOBLOCK 0xff       /* table value: the first instruction is the interpreter's */
#define JIT_MAXN 96            /* instructions per block */

/* ent[i]: the block starting at halfword i: below 0x100 a lookup count (or JIT_NOBLOCK),
 * otherwise its code. [lo, hi): the bytes translated blocks cover. */
typedef struct jit_page {
  uint64_t gen;
  uint32_t lo, hi;
  uintptr_t ent[2048];
} jit_page;

void jit_page_invalidate(dpage *dp, uint32_t lo, uint32_t hi) {
  jit_page *jp = dp->jit;
  if (!jp || hi <= jp->lo || lo >= jp->hi) return;
  memset(jp->ent, 0, sizeof(jp->ent));
  jp->lo = 4096;
  jp->hi = 0;
}

void jit_page_free(dpage *dp) {
  free(dp->jit);
  dp->jit = NULL;
}

#if defined(__x86_64__)

#include <sys/mman.h>
#include <unistd.h>

/* Per machine; the memory starts over whenever the decoded-code cache drops every page (FENCE.I,
 * cache full) and when full. Under make soak a default guest fills about 7 MiB of it. */
#define CODE_SIZE (8u << 20)
#define SCRATCH (64u << 10)

typedef int (*enter_fn)(cpu *c, uintptr_t block, uint64_t pc, tlbset *dt, uintptr_t *table);
typedef struct em em;

/* One machine's code memory (one per decoded-code cache, so per bus): only the thread running
 * that machine's harts touches it, and machines on other worker threads have their own. */
typedef struct jit_code {
  uint8_t *code;               /* the read+execute mapping */
  uint8_t *rw;                 /* the same memory, read+write (NULL: code_write uses mprotect) */
  uint32_t used, stubs;
  uint64_t gen;                /* bumped when the mapping starts over: older tables are stale */
  uintptr_t a_leave, a_cont, a_interp0, a_xpage;
  enter_fn enter;
  em *scratch;
} jit_code;

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* A block being emitted: main code, then its cold exits; fixups patched once both are known. */
typedef struct fix { int cold, pos, to_cold; uintptr_t target; } fix;
struct em {
  const jit_code *j;
  uint8_t m[2 * SCRATCH], cd[SCRATCH];   /* m gets cd appended */
  int mn, cn, cold;            /* cold: emitting into cd */
  fix f[2 * JIT_MAXN + 8];
  int nf;
  int over;                    /* ran out of room: give the block up */
  uint32_t start, end;         /* the block's page offsets, and where its code will be */
  uintptr_t base;
  const uintptr_t *ent;        /* the page's table */
  int rax;                     /* the guest register rax holds (straight-line code), or -1 */
  /* Register allocation: a first pass counts each guest register's uses and whether the block
   * reads it before writing it; the second keeps the most used ones in host registers. */
  int8_t host[33];             /* the host register holding guest register i, or -1 */
  uint32_t dirty;              /* guest registers whose host copy is newer than c->x */
  uint16_t uses[33];
  uint8_t first[33];           /* 0 not seen, 1 read first, 2 written first */
};

static void b1(em *e, uint8_t v) {
  uint8_t *buf = e->cold ? e->cd : e->m;
  int *n = e->cold ? &e->cn : &e->mn;
  if (*n >= (int)SCRATCH - 16) { e->over = 1; return; }
  buf[(*n)++] = v;
}
static void b4(em *e, uint32_t v) { for (int i = 0; i < 4; i++) b1(e, (uint8_t)(v >> (8 * i))); }
static void b8(em *e, uint64_t v) { b4(e, (uint32_t)v); b4(e, (uint32_t)(v >> 32)); }
static void opc(em *e, uint32_t op) {    /* 1-3 opcode bytes, first in the lowest byte */
  do { b1(e, (uint8_t)op); op >>= 8; } while (op);
}
static void rex(em *e, int w, int reg, int rm) {
  int r = (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);
  if (r) b1(e, (uint8_t)(0x40 | r));
}
/* op reg, [base + disp32] */
static void op_m(em *e, int w, uint32_t op, int reg, int base, int32_t disp) {
  rex(e, w, reg, base);
  opc(e, op);
  b1(e, (uint8_t)(0x80 | (reg & 7) << 3 | (base & 7)));
  if ((base & 7) == RSP) b1(e, 0x24);
  b4(e, (uint32_t)disp);
}
/* op reg, [base + index + disp32] */
static void op_mx(em *e, int w, uint32_t op, int reg, int base, int index, int32_t disp) {
  int r = (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) | ((base & 8) ? 1 : 0);
  if (r) b1(e, (uint8_t)(0x40 | r));
  opc(e, op);
  b1(e, (uint8_t)(0x84 | (reg & 7) << 3));
  b1(e, (uint8_t)((index & 7) << 3 | (base & 7)));
  b4(e, (uint32_t)disp);
}
/* op reg, rm (both registers); for group opcodes reg is the /digit */
static void op_r(em *e, int w, uint32_t op, int reg, int rm) {
  rex(e, w, reg, rm);
  opc(e, op);
  b1(e, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7)));
}
static void op_ri(em *e, int w, int digit, int rm, int32_t imm) {    /* 81 /digit id */
  op_r(e, w, 0x81, digit, rm);
  b4(e, (uint32_t)imm);
}
static void shift_i(em *e, int w, int digit, int rm, int n) {        /* C1 /digit ib */
  op_r(e, w, 0xc1, digit, rm);
  b1(e, (uint8_t)n);
}

#define XO(i) ((int32_t)(offsetof(cpu, x) + 8 * (i)))

/* Every access to a guest register goes through these three, which count it (first pass) and
 * use its host register if it has one (second pass). */
static void use(em *e, int i, int write) {
  if (i == 0 || i == 32) return;
  if (e->uses[i] < 0xffff) e->uses[i]++;
  if (!e->first[i]) e->first[i] = (uint8_t)(write ? 2 : 1);
  if (write && e->host[i] >= 0) e->dirty |= 1u << i;
}
/* op reg, guest register i: the same opcode takes a memory or a register operand. */
static void opg(em *e, int w, uint32_t op, int reg, int i) {
  use(e, i, 0);
  if (e->host[i] >= 0) op_r(e, w, op, reg, e->host[i]);
  else op_m(e, w, op, reg, RBX, XO(i));
}
/* Loads of a register the previous instruction left in rax are skipped: whatever an
 * instruction does to rax after loading it, rax only holds a guest register again once it has
 * been stored from it. */
static void ldx(em *e, int w, int reg, int i) {
  if (reg == RAX) {
    if (e->rax == i) { e->rax = -1; use(e, i, 0); return; }
    e->rax = -1;
  }
  opg(e, w, 0x8b, reg, i);
}
static void stx(em *e, int reg, int i) {
  if (reg == RAX) e->rax = i == 32 ? -1 : i;
  else if (e->rax == i) e->rax = -1;
  use(e, i, 1);
  if (e->host[i] >= 0) op_r(e, 1, 0x89, reg, e->host[i]);   /* mov host, reg */
  else op_m(e, 1, 0x89, reg, RBX, XO(i));
}
/* Before anything leaves the block (or calls out): c->x gets every host copy that is newer. */
static void writeback(em *e) {
  for (int i = 1; i < 32; i++)
    if (e->dirty >> i & 1) op_m(e, 1, 0x89, e->host[i], RBX, XO(i));
}
static void sext32(em *e, int reg) { op_r(e, 1, 0x63, reg, reg); }   /* movsxd reg, reg32 */

/* A rel32 at the current position to an absolute address or to an offset in the cold code. */
static void rel32(em *e, int to_cold, uintptr_t target) {
  if (e->nf < (int)(sizeof(e->f) / sizeof(e->f[0])))
    e->f[e->nf++] = (fix){e->cold, e->cold ? e->cn : e->mn, to_cold, target};
  else
    e->over = 1;
  b4(e, 0);
}
static void jmp_abs(em *e, uintptr_t t) { b1(e, 0xe9); rel32(e, 0, t); }
static void jcc_abs(em *e, int cc, uintptr_t t) { b1(e, 0x0f); b1(e, (uint8_t)(0x80 | cc)); rel32(e, 0, t); }
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_L = 0xc, CC_GE = 0xd };

/* Leaves the block: pc = entry + rel, k instructions ran, the run loop's reason. */
static void exit_to(em *e, int32_t rel, int k, int reason) {
  writeback(e);
  if (rel) op_ri(e, 1, 0, R12, rel);
  b1(e, 0xb9); b4(e, (uint32_t)k);
  b1(e, 0xb8); b4(e, (uint32_t)reason);
  jmp_abs(e, e->j->a_leave);
}
/* A jump out of main code to a cold exit before the instruction at rel, k having run. */
static void jcc_cold_exit(em *e, int cc, int32_t rel, int k) {
  b1(e, 0x0f); b1(e, (uint8_t)(0x80 | cc));
  rel32(e, 1, (uintptr_t)e->cn);
  e->cold = 1;
  exit_to(e, rel, k, JIT_INTERP);
  e->cold = 0;
}
/* After k instructions, continue at entry + rel, which is page offset toff: chain to that
 * block when it exists, else back to the run loop. */
static void chain(em *e, int32_t rel, int k, uint32_t toff) {
  writeback(e);
  op_ri(e, 1, 5, R14, k);                      /* sub r14, k */
  if (rel) op_ri(e, 1, 0, R12, rel);           /* add r12, rel */
  if (toff >= 4096) { jmp_abs(e, e->j->a_xpage); return; }
  /* A block of this page that exists now (or this one) is jumped to directly: a page's blocks
   * are only ever dropped all together. */
  uintptr_t t = toff == e->start ? e->base : e->ent[toff / 2];
  if (t >= 0x100) { jmp_abs(e, t); return; }
  op_m(e, 1, 0x8b, RAX, R15, (int32_t)(toff / 2 * 8));
  op_ri(e, 1, 7, RAX, 0x100);                  /* cmp rax, 0x100 */
  jcc_abs(e, CC_B, e->j->a_cont);
  b1(e, 0xff); b1(e, 0xe0);                    /* jmp rax */
}

/* The interpreter's expressions for the operations translated as a call (rare or long in x86). */
static inline uint64_t ror64(uint64_t v, unsigned n) { return v >> (n & 63) | v << (-n & 63); }
static inline uint64_t rorw(uint64_t v, unsigned n) {
  uint32_t w = (uint32_t)v;
  return (uint64_t)(int64_t)(int32_t)(w >> (n & 31) | w << (-n & 31));
}
static inline unsigned __int128 clmul128(uint64_t a, uint64_t b) {
  unsigned __int128 p = 0;
  for (; b; b &= b - 1) p ^= (unsigned __int128)a << __builtin_ctzll(b);
  return p;
}
#define UW(v) ((uint64_t)(uint32_t)(v))
static uint64_t helper(uint64_t a, uint64_t b, int op) {
  switch (op) {
  case OP_MULHSU: return (uint64_t)(((__int128)(int64_t)a * (__int128)(unsigned __int128)b) >> 64);
  case OP_DIV: {
    int64_t x = (int64_t)a, y = (int64_t)b;
    return y == 0 ? ~0ull : (x == INT64_MIN && y == -1) ? (uint64_t)x : (uint64_t)(x / y);
  }
  case OP_DIVU: return b == 0 ? ~0ull : a / b;
  case OP_REM: {
    int64_t x = (int64_t)a, y = (int64_t)b;
    return y == 0 ? (uint64_t)x : (x == INT64_MIN && y == -1) ? 0 : (uint64_t)(x % y);
  }
  case OP_REMU: return b == 0 ? a : a % b;
  case OP_DIVW: {
    int32_t x = (int32_t)a, y = (int32_t)b;
    return (uint64_t)(int64_t)(y == 0 ? -1 : (x == INT32_MIN && y == -1) ? x : x / y);
  }
  case OP_DIVUW: {
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return (uint64_t)(int64_t)(int32_t)(y == 0 ? ~0u : x / y);
  }
  case OP_REMW: {
    int32_t x = (int32_t)a, y = (int32_t)b;
    return (uint64_t)(int64_t)(y == 0 ? x : (x == INT32_MIN && y == -1) ? 0 : x % y);
  }
  case OP_REMUW: {
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return (uint64_t)(int64_t)(int32_t)(y == 0 ? x : x % y);
  }
  case OP_ADD_UW: return b + UW(a);
  case OP_SH1ADD: return b + (a << 1);
  case OP_SH2ADD: return b + (a << 2);
  case OP_SH3ADD: return b + (a << 3);
  case OP_SH1ADD_UW: return b + (UW(a) << 1);
  case OP_SH2ADD_UW: return b + (UW(a) << 2);
  case OP_SH3ADD_UW: return b + (UW(a) << 3);
  case OP_SLLI_UW: return UW(a) << b;
  case OP_ANDN: return a & ~b;
  case OP_ORN: return a | ~b;
  case OP_XNOR: return ~(a ^ b);
  case OP_CLZ: return a ? (uint64_t)__builtin_clzll(a) : 64;
  case OP_CLZW: return (uint32_t)a ? (uint64_t)__builtin_clz((uint32_t)a) : 32;
  case OP_CTZ: return a ? (uint64_t)__builtin_ctzll(a) : 64;
  case OP_CTZW: return (uint32_t)a ? (uint64_t)__builtin_ctz((uint32_t)a) : 32;
  case OP_CPOP: return (uint64_t)__builtin_popcountll(a);
  case OP_CPOPW: return (uint64_t)__builtin_popcount((uint32_t)a);
  case OP_MAX: return (int64_t)a > (int64_t)b ? a : b;
  case OP_MAXU: return a > b ? a : b;
  case OP_MIN: return (int64_t)a < (int64_t)b ? a : b;
  case OP_MINU: return a < b ? a : b;
  case OP_SEXT_B: return (uint64_t)(int64_t)(int8_t)a;
  case OP_SEXT_H: return (uint64_t)(int64_t)(int16_t)a;
  case OP_ZEXT_H: return (uint16_t)a;
  case OP_ROL: return ror64(a, -(unsigned)b);
  case OP_ROLW: return rorw(a, -(unsigned)b);
  case OP_ROR: case OP_RORI: return ror64(a, (unsigned)b);
  case OP_RORW: case OP_RORIW: return rorw(a, (unsigned)b);
  case OP_ORC_B: {
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full;
    return ((((a & lo7) + lo7) | a) >> 7 & 0x0101010101010101ull) * 0xff;
  }
  case OP_REV8: return __builtin_bswap64(a);
  case OP_CLMUL: return (uint64_t)clmul128(a, b);
  case OP_CLMULH: return (uint64_t)(clmul128(a, b) >> 64);
  case OP_CLMULR: return (uint64_t)(clmul128(a, b) >> 63);
  case OP_BCLR: case OP_BCLRI: return a & ~(1ull << (b & 63));
  case OP_BEXT: case OP_BEXTI: return a >> (b & 63) & 1;
  case OP_BINV: case OP_BINVI: return a ^ (1ull << (b & 63));
  case OP_BSET: case OP_BSETI: return a | (1ull << (b & 63));
  default: abort();            /* translate() only emits calls for the ops above */
  }
}
#undef UW

static int helper_op(int op) {
  return op == OP_MULHSU || (op >= OP_DIV && op <= OP_REMU) || (op >= OP_DIVW && op <= OP_REMUW) ||
         (op >= OP_ADD_UW && op <= OP_BSETI);
}
static int helper_imm(int op) {
  return op == OP_SLLI_UW || op == OP_RORI || op == OP_RORIW || op == OP_BCLRI ||
         op == OP_BEXTI || op == OP_BINVI || op == OP_BSETI;
}

/* Emits one instruction (at entry + rel, page offset off, k instructions before it in the block).
 * Returns 1 if it ended the block, 0 if the block goes on, -1 if the interpreter must run it. */
static int emit_insn(em *e, const dinsn *d, int len, int32_t rel, uint32_t off, int k) {
  int op = d->op, rd = d->rd, rs1 = d->rs1, rs2 = d->rs2;
  int32_t imm = d->imm;
  switch (op) {
  case OP_LUI:                                 /* mov qword rd, simm32 */
    if (e->rax == rd) e->rax = -1;
    use(e, rd, 1);
    if (e->host[rd] >= 0) op_r(e, 1, 0xc7, 0, e->host[rd]);
    else op_m(e, 1, 0xc7, 0, RBX, XO(rd));
    b4(e, (uint32_t)imm);
    return 0;
  case OP_AUIPC:
    b1(e, 0x48); b1(e, 0xb8); b8(e, (uint64_t)((int64_t)rel + imm));   /* mov rax, imm64 */
    op_r(e, 1, 0x01, R12, RAX);                /* add rax, r12 */
    stx(e, RAX, rd);
    return 0;
  case OP_ADD: case OP_SUB: case OP_AND: case OP_OR: case OP_XOR: {
    uint32_t o = op == OP_ADD ? 0x03 : op == OP_SUB ? 0x2b : op == OP_AND ? 0x23 : op == OP_OR ? 0x0b : 0x33;
    ldx(e, 1, RAX, rs1);
    opg(e, 1, o, RAX, rs2);
    stx(e, RAX, rd);
    return 0;
  }
  case OP_ADDW: case OP_SUBW: case OP_MULW:
    ldx(e, 0, RAX, rs1);
    opg(e, 0, op == OP_ADDW ? 0x03 : op == OP_SUBW ? 0x2b : 0xaf0f, RAX, rs2);
    sext32(e, RAX);
    stx(e, RAX, rd);
    return 0;
  case OP_MUL:
    ldx(e, 1, RAX, rs1);
    opg(e, 1, 0xaf0f, RAX, rs2);              /* imul rax, rs2 */
    stx(e, RAX, rd);
    return 0;
  case OP_MULH: case OP_MULHU:
    ldx(e, 1, RAX, rs1);
    opg(e, 1, 0xf7, op == OP_MULH ? 5 : 4, rs2);   /* imul/mul qword rs2 */
    stx(e, RDX, rd);
    return 0;
  case OP_SLL: case OP_SRL: case OP_SRA: case OP_SLLW: case OP_SRLW: case OP_SRAW: {
    int w = op == OP_SLL || op == OP_SRL || op == OP_SRA;
    int dg = (op == OP_SLL || op == OP_SLLW) ? 4 : (op == OP_SRL || op == OP_SRLW) ? 5 : 7;
    ldx(e, w, RAX, rs1);
    ldx(e, 0, RCX, rs2);
    op_r(e, w, 0xd3, dg, RAX);                 /* x86 masks the count as RISC-V does */
    if (!w) sext32(e, RAX);
    stx(e, RAX, rd);
    return 0;
  }
  case OP_SLT: case OP_SLTU:
    ldx(e, 1, RAX, rs1);
    opg(e, 1, 0x3b, RAX, rs2);
    goto setcc;
  case OP_SLTI: case OP_SLTIU:
    ldx(e, 1, RAX, rs1);
    op_ri(e, 1, 7, RAX, imm);                  /* cmp rax, simm32 */
  setcc:
    op_r(e, 0, op == OP_SLT || op == OP_SLTI ? 0x9c0f : 0x920f, 0, RAX);   /* setl/setb al */
    op_r(e, 0, 0xb60f, RAX, RAX);              /* movzx eax, al */
    stx(e, RAX, rd);
    return 0;
  case OP_ADDI: case OP_XORI: case OP_ORI: case OP_ANDI:
    ldx(e, 1, RAX, rs1);
    op_ri(e, 1, op == OP_ADDI ? 0 : op == OP_XORI ? 6 : op == OP_ORI ? 1 : 4, RAX, imm);
    stx(e, RAX, rd);
    return 0;
  case OP_ADDIW:
    ldx(e, 0, RAX, rs1);
    op_ri(e, 0, 0, RAX, imm);
    sext32(e, RAX);
    stx(e, RAX, rd);
    return 0;
  case OP_SLLI: case OP_SRLI: case OP_SRAI: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW: {
    int w = op == OP_SLLI || op == OP_SRLI || op == OP_SRAI;
    int dg = (op == OP_SLLI || op == OP_SLLIW) ? 4 : (op == OP_SRLI || op == OP_SRLIW) ? 5 : 7;
    ldx(e, w, RAX, rs1);
    shift_i(e, w, dg, RAX, imm & (w ? 63 : 31));
    if (!w) sext32(e, RAX);
    stx(e, RAX, rd);
    return 0;
  }
  case OP_FENCE:
    return 0;
  case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
  case OP_SB: case OP_SH: case OP_SW: case OP_SD: {
    int store = op >= OP_SB;
    int size = (op == OP_LB || op == OP_LBU || op == OP_SB) ? 1
               : (op == OP_LH || op == OP_LHU || op == OP_SH) ? 2
               : (op == OP_LW || op == OP_LWU || op == OP_SW) ? 4 : 8;
    int32_t t = store ? (int32_t)offsetof(tlbset, w) : (int32_t)offsetof(tlbset, r);
    ldx(e, 1, RAX, rs1);
    if (imm) op_ri(e, 1, 0, RAX, imm);
    _Static_assert(TLB_SIZE == 256 && sizeof(tlb_ent) == 16, "the probe's index arithmetic");
    op_r(e, 0, 0x8b, RCX, RAX);                /* the entry: ((a >> 12) & 255) * 16 */
    shift_i(e, 0, 5, RCX, 8);
    op_ri(e, 0, 4, RCX, 0xff0);
    op_r(e, 1, 0x8b, RDX, RAX);                /* a & (~0xfff | (size - 1)) == tag */
    op_ri(e, 1, 4, RDX, (int32_t)(~0xfffu | (uint32_t)(size - 1)));
    op_mx(e, 1, 0x3b, RDX, R13, RCX, t);
    jcc_cold_exit(e, CC_NE, rel, k);
    op_mx(e, 1, 0x03, RAX, R13, RCX, t + 8);   /* host address */
    if (store) {
      ldx(e, 1, RDX, rs2);
      if (size == 2) b1(e, 0x66);
      op_m(e, size == 8, size == 1 ? 0x88 : 0x89, RDX, RAX, 0);
      return 0;
    }
    switch (op) {
    case OP_LB: op_m(e, 1, 0xbe0f, RAX, RAX, 0); break;
    case OP_LH: op_m(e, 1, 0xbf0f, RAX, RAX, 0); break;
    case OP_LW: op_m(e, 1, 0x63, RAX, RAX, 0); break;
    case OP_LD: op_m(e, 1, 0x8b, RAX, RAX, 0); break;
    case OP_LBU: op_m(e, 0, 0xb60f, RAX, RAX, 0); break;
    case OP_LHU: op_m(e, 0, 0xb70f, RAX, RAX, 0); break;
    default: op_m(e, 0, 0x8b, RAX, RAX, 0); break;
    }
    stx(e, RAX, rd);
    return 0;
  }
  case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU: {
    int cc = op == OP_BEQ ? CC_E : op == OP_BNE ? CC_NE : op == OP_BLT ? CC_L
             : op == OP_BGE ? CC_GE : op == OP_BLTU ? CC_B : CC_AE;
    ldx(e, 1, RAX, rs1);
    opg(e, 1, 0x3b, RAX, rs2);
    b1(e, 0x0f); b1(e, (uint8_t)(0x80 | cc));
    int at = e->mn;
    b4(e, 0);
    chain(e, rel + len, k + 1, off + len);
    if (!e->over) {
      int32_t d32 = e->mn - (at + 4);
      memcpy(&e->m[at], &d32, 4);
    }
    chain(e, rel + imm, k + 1, off + imm);     /* off + imm wraps above 4096 if below 0 */
    return 1;
  }
  case OP_JAL:
    op_r(e, 1, 0x8b, RCX, R12);                /* rd = pc + len */
    op_ri(e, 1, 0, RCX, rel + len);
    stx(e, RCX, rd);
    chain(e, rel + imm, k + 1, off + imm);
    return 1;
  case OP_JALR:
    ldx(e, 1, RAX, rs1);                       /* the target, before rd is written */
    if (imm) op_ri(e, 1, 0, RAX, imm);
    op_r(e, 1, 0x83, 4, RAX); b1(e, 0xfe);     /* and rax, -2 */
    op_r(e, 1, 0x8b, RCX, R12);
    op_ri(e, 1, 0, RCX, rel + len);
    stx(e, RCX, rd);
    writeback(e);
    op_ri(e, 1, 5, R14, k + 1);                /* sub r14, k + 1 */
    op_r(e, 1, 0x8b, RDX, R12);                /* same page as the entry? */
    op_r(e, 1, 0x33, RDX, RAX);
    shift_i(e, 1, 5, RDX, 12);
    op_r(e, 1, 0x8b, R12, RAX);                /* r12 = target (mov keeps the flags) */
    jcc_abs(e, CC_NE, e->j->a_xpage);
    op_ri(e, 0, 4, RAX, 0xfff);                /* and eax, 0xfff; rax = ent[eax / 2] */
    rex(e, 1, RAX, R15); b1(e, 0x8b); b1(e, 0x04); b1(e, (uint8_t)(0x80 | (RAX & 7) << 3 | (R15 & 7)));
    op_ri(e, 1, 7, RAX, 0x100);
    jcc_abs(e, CC_B, e->j->a_cont);
    b1(e, 0xff); b1(e, 0xe0);
    return 1;
  default:
    if (!helper_op(op)) return -1;
    /* The call may clobber the caller-saved host registers that hold guest registers: they are
     * pushed around it, keeping the stack 16-byte aligned. The operands are read into rax and
     * rcx first, since rdi and rsi may be guest registers. */
    ldx(e, 1, RAX, rs1);
    if (!helper_imm(op)) ldx(e, 1, RCX, rs2);
    int saved[8], ns = 0;
    for (int i = 1; i < 32; i++)
      if (e->host[i] >= 0 && e->host[i] != RBP) saved[ns++] = e->host[i];
    for (int i = 0; i < ns; i++) { if (saved[i] & 8) b1(e, 0x41); b1(e, (uint8_t)(0x50 | (saved[i] & 7))); }
    if (ns & 1) op_ri(e, 1, 5, RSP, 8);        /* sub rsp, 8 */
    op_r(e, 1, 0x89, RAX, RDI);                /* mov rdi, rax */
    if (helper_imm(op)) { op_r(e, 1, 0xc7, 0, RSI); b4(e, (uint32_t)imm); }
    else op_r(e, 1, 0x89, RCX, RSI);
    b1(e, 0xba); b4(e, (uint32_t)op);          /* mov edx, op */
    b1(e, 0x48); b1(e, 0xb8); b8(e, (uint64_t)(uintptr_t)helper);
    b1(e, 0xff); b1(e, 0xd0);                  /* call rax */
    if (ns & 1) op_ri(e, 1, 0, RSP, 8);        /* add rsp, 8 */
    for (int i = ns - 1; i >= 0; i--) { if (saved[i] & 8) b1(e, 0x41); b1(e, (uint8_t)(0x58 | (saved[i] & 7))); }
    e->rax = -1;
    stx(e, RAX, rd);
    return 0;
  }
}

/* Resolves the rel32 fixups of code that will be at base (main code, then cold code in m). */
static void patch(em *e, uintptr_t base) {
  for (int i = 0; i < e->nf; i++) {
    fix *f = &e->f[i];
    uintptr_t at = base + (uintptr_t)(f->cold ? e->mn + f->pos : f->pos);
    uintptr_t to = f->to_cold ? base + (uintptr_t)e->mn + f->target : f->target;
    int32_t r = (int32_t)(to - (at + 4));
    memcpy(&e->m[at - base], &r, 4);
  }
}

/* Makes [at, at+n) of the code hold buf: through the writable view, or, with one mapping, by
 * making its pages writable only while it is copied. */
static int code_write(jit_code *J, uint32_t at, const void *buf, uint32_t n) {
  if (J->rw) { memcpy(J->rw + at, buf, n); return 0; }
  uint8_t *code = J->code;
  uintptr_t lo = (uintptr_t)(code + at) & ~(uintptr_t)4095;
  uintptr_t hi = ((uintptr_t)(code + at + n) + 4095) & ~(uintptr_t)4095;
  if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) < 0) return -1;
  memcpy(code + at, buf, n);
  if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_EXEC) < 0) abort();   /* never left W+X */
  return 0;
}

/* The shared entry and exits at the start of the mapping. */
static jit_code *jit_code_new(void) {
  jit_code *J = calloc(1, sizeof(*J));
  em *e = calloc(1, sizeof(*e));
  /* Two views of one memfd: read+execute, where blocks run, and read+write, where they are
   * written; neither is ever both. Without memfd, one read+execute mapping that code_write
   * makes writable around each copy (two mprotect calls a block: 100,000 of them, 0.4 s of
   * system time, in one boot of the default guest, whose FENCE.Is drop all blocks). */
  void *p = MAP_FAILED, *rw = MAP_FAILED;
  int fd = memfd_create("lemu-jit", MFD_CLOEXEC);
  if (fd >= 0 && ftruncate(fd, CODE_SIZE) == 0) {
    p = mmap(NULL, CODE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    rw = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || rw == MAP_FAILED) {
      if (p != MAP_FAILED) munmap(p, CODE_SIZE);
      if (rw != MAP_FAILED) munmap(rw, CODE_SIZE);
      p = rw = MAP_FAILED;
    }
  }
  if (fd >= 0) close(fd);
  if (p == MAP_FAILED) p = mmap(NULL, CODE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!J || !e || p == MAP_FAILED) {
    if (p != MAP_FAILED) munmap(p, CODE_SIZE);
    if (rw != MAP_FAILED) munmap(rw, CODE_SIZE);
    free(J);
    free(e);
    return NULL;
  }
  uint8_t *code = p;
  J->code = code;
  J->rw = rw == MAP_FAILED ? NULL : rw;
  J->gen = 1;
  e->j = J;
  /* push rbp, rbx, r12-r15; sub rsp, 8: blocks' helper calls find the stack 16-byte aligned */
  static const uint8_t push[] = {0x55, 0x53, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57,
                                 0x48, 0x83, 0xec, 0x08};
  for (unsigned i = 0; i < sizeof push; i++) b1(e, push[i]);
  op_r(e, 1, 0x89, RDI, RBX);                  /* mov rbx, rdi */
  op_r(e, 1, 0x89, RDX, R12);
  op_r(e, 1, 0x89, RCX, R13);
  op_r(e, 1, 0x89, R8, R15);
  op_m(e, 1, 0x8b, R14, RBX, (int32_t)offsetof(cpu, left));
  b1(e, 0xff); b1(e, 0xe6);                    /* jmp rsi */
  J->a_leave = (uintptr_t)code + e->mn;
  op_r(e, 1, 0x29, RCX, R14);                  /* sub r14, rcx */
  op_m(e, 1, 0x89, R14, RBX, (int32_t)offsetof(cpu, left));
  op_m(e, 1, 0x89, R12, RBX, (int32_t)offsetof(cpu, pc));
  static const uint8_t pop[] = {0x48, 0x83, 0xc4, 0x08, 0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d,
                                0x41, 0x5c, 0x5b, 0x5d, 0xc3};
  for (unsigned i = 0; i < sizeof pop; i++) b1(e, pop[i]);
  J->a_cont = (uintptr_t)code + e->mn;
  b1(e, 0x31); b1(e, 0xc9); b1(e, 0x31); b1(e, 0xc0);   /* xor ecx, ecx; xor eax, eax */
  int j1 = e->mn + 1;
  b1(e, 0xe9); b4(e, 0);
  J->a_interp0 = (uintptr_t)code + e->mn;
  b1(e, 0x31); b1(e, 0xc9); b1(e, 0xb8); b4(e, JIT_INTERP);
  int j2 = e->mn + 1;
  b1(e, 0xe9); b4(e, 0);
  int32_t r1 = (int32_t)(J->a_leave - ((uintptr_t)code + j1 + 4));
  int32_t r2 = (int32_t)(J->a_leave - ((uintptr_t)code + j2 + 4));
  memcpy(&e->m[j1], &r1, 4);
  memcpy(&e->m[j2], &r2, 4);
  /* Jumps out of the page: r12 is the target. Through the fetch TLB of the hart's current
   * privilege (what the run loop's page lookup would find) to the target page's table; anything
   * missing goes back to the run loop. */
  J->a_xpage = (uintptr_t)code + e->mn;
  op_r(e, 1, 0x8b, RAX, R12);
  op_r(e, 0, 0x8b, RCX, RAX);                  /* ((pc >> 12) & 255) * 16 */
  shift_i(e, 0, 5, RCX, 8);
  op_ri(e, 0, 4, RCX, 0xff0);
  op_m(e, 1, 0x8b, RDX, RBX, (int32_t)offsetof(cpu, ft));
  op_r(e, 1, 0x8b, RSI, RAX);
  op_ri(e, 1, 4, RSI, -4096);
  op_mx(e, 1, 0x3b, RSI, RDX, RCX, (int32_t)offsetof(tlbset, x));
  jcc_abs(e, CC_NE, e->j->a_cont);
  shift_i(e, 0, 5, RCX, 1);                    /* the page's dpage: xd[index] */
  op_mx(e, 1, 0x8b, RDX, RDX, RCX, (int32_t)offsetof(tlbset, xd));
  op_m(e, 1, 0x8b, RDX, RDX, (int32_t)offsetof(dpage, jit));
  op_r(e, 1, 0x85, RDX, RDX);
  jcc_abs(e, CC_E, e->j->a_cont);
  b1(e, 0x48); b1(e, 0xbe); b8(e, (uint64_t)(uintptr_t)&J->gen);  /* mov rsi, &gen */
  op_m(e, 1, 0x8b, RSI, RSI, 0);
  op_m(e, 1, 0x3b, RSI, RDX, (int32_t)offsetof(jit_page, gen));
  jcc_abs(e, CC_NE, e->j->a_cont);
  op_m(e, 1, 0x8d, R15, RDX, (int32_t)offsetof(jit_page, ent));  /* lea r15, the table */
  op_ri(e, 0, 4, RAX, 0xfff);
  rex(e, 1, RAX, R15); b1(e, 0x8b); b1(e, 0x04); b1(e, (uint8_t)(0x80 | (RAX & 7) << 3 | (R15 & 7)));
  op_ri(e, 1, 7, RAX, 0x100);
  jcc_abs(e, CC_B, e->j->a_cont);
  b1(e, 0xff); b1(e, 0xe0);
  patch(e, (uintptr_t)code);
  J->stubs = J->used = (uint32_t)((e->mn + 63) & ~63);
  if (code_write(J, 0, e->m, (uint32_t)e->mn) < 0) {
    munmap(code, CODE_SIZE);
    if (J->rw) munmap(J->rw, CODE_SIZE);
    free(J);
    free(e);
    return NULL;
  }
  J->enter = (enter_fn)(void *)code;
  J->scratch = e;              /* reused for every block */
  return J;
}

void jit_code_reset(struct jit_code *J) {
  if (!J) return;
  J->used = J->stubs;
  J->gen++;
}

void jit_code_free(struct jit_code *J) {
  if (!J) return;
  munmap(J->code, CODE_SIZE);
  if (J->rw) munmap(J->rw, CODE_SIZE);
  free(J->scratch);
  free(J);
}

static uint16_t ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* One pass over the block at page offset start: its instruction count, or -1 if the first
 * instruction is the interpreter's or the code did not fit. Registers in livein are loaded
 * into their host registers on entry. */
static int emit_block(em *e, const uint8_t *host, uint32_t start, uint32_t livein) {
  e->mn = e->cn = e->cold = e->nf = e->over = 0;
  e->rax = -1;
  e->dirty = 0;
  memset(e->uses, 0, sizeof(e->uses));
  memset(e->first, 0, sizeof(e->first));
  /* The budget check's operand is patched once the count is known. */
  op_ri(e, 1, 7, R14, 0);                      /* cmp r14, n */
  int at_n = e->mn - 4;
  jcc_abs(e, CC_B, e->j->a_interp0);
  for (int i = 1; i < 32; i++)
    if (livein >> i & 1) op_m(e, 1, 0x8b, e->host[i], RBX, XO(i));
  uint32_t off = start;
  int k = 0, ended = 0;
  while (!ended && !e->over) {
    if (off >= 4096) { exit_to(e, (int32_t)(off - start), k, JIT_CONT); break; }
    if (k == JIT_MAXN) { chain(e, (int32_t)(off - start), k, off); break; }
    uint32_t lo = ld16(host + off), w;
    int len = (lo & 3) != 3 ? 2 : 4;
    if (len == 2) w = cpu_rvc_expand(lo);
    else if (off == 4094) w = 0;               /* straddles the page: the interpreter's */
    else w = lo | (uint32_t)ld16(host + off + 2) << 16;
    dinsn d = {0};
    int r = -1;
    if (w) {
      cpu_decode(w, &d);
      r = emit_insn(e, &d, len, (int32_t)(off - start), off, k);
    }
    if (r < 0) {
      if (k == 0) return -1;
      exit_to(e, (int32_t)(off - start), k, JIT_INTERP);
      break;
    }
    k++;
    off += (uint32_t)len;
    ended = r;
  }
  if (e->over) return -1;
  memcpy(&e->m[at_n], &k, 4);
  e->end = off;
  return k;
}

/* Host registers for guest registers: the one callee-saved register the stubs leave free, then
 * caller-saved ones (pushed around helper calls). rax, rcx and rdx stay the templates' scratch. */
static const int8_t alloc_regs[] = {RBP, R8, R9, R10, R11, RSI, RDI};

/* Translates the block at page offset start; its code's address, or JIT_NOBLOCK. Twice: the
 * first pass only counts register uses, the second keeps the guest registers used at least
 * twice (the most used first) in host registers for the block's length. */
static uintptr_t translate(jit_code *J, jit_page *jp, const uint8_t *host, uint32_t start) {
  em *e = J->scratch;
  e->j = J;
  e->start = start;
  e->base = (uintptr_t)J->code + J->used;
  e->ent = jp->ent;
  memset(e->host, -1, sizeof(e->host));
  if (emit_block(e, host, start, 0) < 0) return JIT_NOBLOCK;
  uint16_t uses[33];
  uint8_t first[33];
  memcpy(uses, e->uses, sizeof(uses));
  memcpy(first, e->first, sizeof(first));
  uint32_t livein = 0;
  for (unsigned n = 0; n < sizeof(alloc_regs); n++) {
    int best = 0;
    for (int i = 1; i < 32; i++)
      if (e->host[i] < 0 && uses[i] >= 2 && uses[i] > uses[best]) best = i;
    if (!best) break;
    e->host[best] = alloc_regs[n];
    if (first[best] == 1) livein |= 1u << best;
  }
  if (emit_block(e, host, start, livein) < 0) return JIT_NOBLOCK;
  uint32_t n = (uint32_t)(e->mn + e->cn);
  if (J->used + n + 64 > CODE_SIZE) return JIT_NOBLOCK;   /* jit_exec flushes and retries */
  uintptr_t base = (uintptr_t)J->code + J->used;
  memcpy(e->m + e->mn, e->cd, (size_t)e->cn);
  patch(e, base);
  if (code_write(J, J->used, e->m, n) < 0) return JIT_NOBLOCK;
  J->used = (J->used + n + 15) & ~15u;
  if (start < jp->lo) jp->lo = start;
  if (e->end > jp->hi) jp->hi = e->end;
  return base;
}

/* Whether this host gives executable memory at all (once; harts of machines on worker threads
 * may ask at the same time and get the same answer). */
int jit_available(void) {
  static int avail;            /* 0 unknown, 1 yes, 2 no */
  int a = __atomic_load_n(&avail, __ATOMIC_RELAXED);
  if (!a) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    a = p != MAP_FAILED && mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 1 : 2;
    if (p != MAP_FAILED) munmap(p, 4096);
    __atomic_store_n(&avail, a, __ATOMIC_RELAXED);
  }
  return a == 1;
}

int jit_exec(cpu *c, dpage *dp, const uint8_t *host, uint64_t pc) {
  jit_code **jc = cpu_cc_jit(c->cc), *J = *jc;
  if (!J && !(J = *jc = jit_code_new())) return JIT_NONE;
  jit_page *jp = dp->jit;
  if (!jp) {
    if (!(jp = calloc(1, sizeof(*jp)))) return JIT_NONE;
    jp->gen = J->gen;
    jp->lo = 4096;
    dp->jit = jp;
  } else if (jp->gen != J->gen) {
    memset(jp->ent, 0, sizeof(jp->ent));
    jp->gen = J->gen;
    jp->lo = 4096;
    jp->hi = 0;
  }
  uint32_t off = (uint32_t)pc & 0xfff;
  uintptr_t b = jp->ent[off >> 1];
  if (b == JIT_NOBLOCK) return JIT_NONE;
  if (b < JIT_HOT - 1) { jp->ent[off >> 1] = b + 1; return JIT_NONE; }
  if (b < 0x100) {                             /* hot: translate */
    if (J->used + 4 * SCRATCH > CODE_SIZE) {   /* room for any block, or start over */
      jit_code_reset(J);
      memset(jp->ent, 0, sizeof(jp->ent));
      jp->gen = J->gen;
      jp->lo = 4096;
      jp->hi = 0;
    }
    b = translate(J, jp, host, off);
    jp->ent[off >> 1] = b;
    if (b == JIT_NOBLOCK) return JIT_NONE;
  }
  return J->enter(c, b, pc, c->dt, jp->ent);
}

#else

int jit_available(void) { return 0; }
void jit_code_free(struct jit_code *J) { (void)J; }
void jit_code_reset(struct jit_code *J) { (void)J; }
int jit_exec(cpu *c, dpage *dp, const uint8_t *host, uint64_t pc) {
  (void)c; (void)dp; (void)host; (void)pc;
  return JIT_NONE;
}

#endif
