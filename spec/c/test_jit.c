/* test_jit: the block translator against the interpreter. Random instruction streams (integer
 * ALU, M, Zba/Zbb/Zbc/Zbs, compressed, loads and stores that hit, miss, fault, straddle pages or
 * write into code, branches and jumps, CSR reads, ECALL/EBREAK/illegal traps, FP moves) run on
 * two harness machines, one per engine, in M, U and S mode (Sv39, the code run through a second
 * virtual mapping of its pages), in the same random slices; after every slice the registers,
 * pc, instret, the trap CSRs and the slice's stop reason must be equal, and at the end all of
 * RAM. The translator must also have run most of the instructions, or the test proves nothing.
 * The ISA programs also run under the translator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_harness.h"
#include "ctest.h"

#define RAM 0x80000000ull
#define CODE (RAM + 0x1000)          /* the random program; the trap handler is at RAM */
#define DATA (RAM + 0xff800)         /* x27: 2 KiB below the end of RAM, so accesses straddle
                                        a page and the end of RAM (access faults) */
#define PT (RAM + 0xf0000)           /* Sv39 root table */
#define ALIAS 0x40000000ull          /* S mode runs the code through this second mapping */
#define NINSN 3000

static uint64_t rs = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static uint32_t below(uint32_t n) { return (uint32_t)(rnd() % n); }

static uint32_t R(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t o) {
  return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | o;
}
static uint32_t I(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t o) {
  return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | o;
}
static uint32_t S(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3) {
  uint32_t u = (uint32_t)imm;
  return (u >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | 0x23;
}
static uint32_t B(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3) {
  uint32_t u = (uint32_t)imm;
  return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
         (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63;
}
static uint32_t J(int32_t imm, uint32_t rd) {
  uint32_t u = (uint32_t)imm;
  return (u >> 20 & 1) << 31 | (u >> 1 & 0x3ff) << 21 | (u >> 11 & 1) << 20 |
         (u >> 12 & 0xff) << 12 | rd << 7 | 0x6f;
}

/* Registers the stream writes: x1..x25; x26 points into the code, x27 at the data, x28..x31
 * belong to the trap handler. */
static uint32_t rd_(void) { return 1 + below(25); }
static uint32_t rs_(void) { return below(28); }

static const uint32_t rr[][3] = {   /* funct7, funct3, opcode */
  {0, 0, 0x33}, {0x20, 0, 0x33}, {0, 1, 0x33}, {0, 2, 0x33}, {0, 3, 0x33}, {0, 4, 0x33},
  {0, 5, 0x33}, {0x20, 5, 0x33}, {0, 6, 0x33}, {0, 7, 0x33}, {0, 0, 0x3b}, {0x20, 0, 0x3b},
  {0, 1, 0x3b}, {0, 5, 0x3b}, {0x20, 5, 0x3b},
  {1, 0, 0x33}, {1, 1, 0x33}, {1, 2, 0x33}, {1, 3, 0x33}, {1, 4, 0x33}, {1, 5, 0x33},
  {1, 6, 0x33}, {1, 7, 0x33}, {1, 0, 0x3b}, {1, 4, 0x3b}, {1, 5, 0x3b}, {1, 6, 0x3b},
  {1, 7, 0x3b},
  {0x10, 2, 0x33}, {0x10, 4, 0x33}, {0x10, 6, 0x33}, {0x04, 0, 0x3b}, {0x10, 2, 0x3b},
  {0x10, 4, 0x3b}, {0x10, 6, 0x3b}, {0x20, 7, 0x33}, {0x20, 6, 0x33}, {0x20, 4, 0x33},
  {0x05, 6, 0x33}, {0x05, 7, 0x33}, {0x05, 4, 0x33}, {0x05, 5, 0x33}, {0x30, 1, 0x33},
  {0x30, 5, 0x33}, {0x30, 1, 0x3b}, {0x30, 5, 0x3b}, {0x05, 1, 0x33}, {0x05, 2, 0x33},
  {0x05, 3, 0x33}, {0x24, 1, 0x33}, {0x24, 5, 0x33}, {0x34, 1, 0x33}, {0x14, 1, 0x33},
};

static int64_t imm12(void) {
  static const int64_t edge[] = {0, 1, -1, 2047, -2048, 31, 32, 63, 0x7f, -0x80};
  return below(4) == 0 ? edge[below(10)] : (int64_t)below(4096) - 2048;
}

static uint32_t alu_imm(void) {
  uint32_t rd = rd_(), r1 = rs_(), sh = below(64), sw = below(32);
  switch (below(22)) {
  case 0: case 1: case 2: return I((int32_t)imm12(), r1, 0, rd, 0x13);
  case 3: return I((int32_t)imm12(), r1, 2, rd, 0x13);
  case 4: return I((int32_t)imm12(), r1, 3, rd, 0x13);
  case 5: return I((int32_t)imm12(), r1, 4, rd, 0x13);
  case 6: return I((int32_t)imm12(), r1, 6, rd, 0x13);
  case 7: return I((int32_t)imm12(), r1, 7, rd, 0x13);
  case 8: return I((int32_t)sh, r1, 1, rd, 0x13);
  case 9: return I((int32_t)sh, r1, 5, rd, 0x13);
  case 10: return I((int32_t)(0x400 | sh), r1, 5, rd, 0x13);
  case 11: return I((int32_t)imm12(), r1, 0, rd, 0x1b);
  case 12: return I((int32_t)sw, r1, 1, rd, 0x1b);
  case 13: return I((int32_t)sw, r1, 5, rd, 0x1b);
  case 14: return I((int32_t)(0x400 | sw), r1, 5, rd, 0x1b);
  case 15: return (uint32_t)below(1 << 20) << 12 | rd << 7 | 0x37;             /* lui */
  case 16: return (uint32_t)below(1 << 20) << 12 | rd << 7 | 0x17;             /* auipc */
  case 17: {                                                                   /* Zbb unary */
    static const uint32_t u[] = {0x600, 0x601, 0x602, 0x604, 0x605};
    return I((int32_t)u[below(5)], r1, 1, rd, 0x13);
  }
  case 18: return I((int32_t)(0x600 | below(3)), r1, 1, rd, 0x1b);             /* clzw.. */
  case 19: return below(2) ? I(0x6b8, r1, 5, rd, 0x13) : I(0x287, r1, 5, rd, 0x13);
  case 20: {                                          /* rori, bclri, bexti, binvi, bseti */
    static const uint32_t f[][2] = {{0x600, 5}, {0x480, 1}, {0x480, 5}, {0x680, 1}, {0x280, 1}};
    int i = (int)below(5);
    return I((int32_t)(f[i][0] | sh), r1, f[i][1], rd, 0x13);
  }
  default:                                            /* roriw, slli.uw, zext.h */
    if (below(3) == 0) return R(0x04, 0, r1, 4, rd, 0x3b);
    return below(2) ? R(0x30, sw, r1, 5, rd, 0x1b) : I((int32_t)(0x080 | sh), r1, 1, rd, 0x1b);
  }
}

/* Data addresses: mostly around x27 (some straddle a page or are misaligned), some into the
 * code through x26 (self-modifying), some wherever a random register points (faults). */
static uint32_t base_(void) {
  uint32_t k = below(20);
  return k < 16 ? 27 : k < 17 ? 26 : rs_();
}
static int32_t mem_off(uint32_t base) {
  if (base == 26) return (int32_t)(below(64) * 4);
  if (below(6) == 0) return 0x7f8 + (int32_t)below(8);           /* into the end of RAM */
  if (below(6) == 0) return -0x808 + (int32_t)below(8);          /* across a page */
  return (int32_t)imm12();
}

typedef struct gi { uint32_t w; int len, kind, target; } gi;   /* kind 1: B, 2: JAL */

static void gen(gi *p, int n) {
  for (int i = 0; i < n; i++) {
    gi *g = &p[i];
    g->len = 4;
    g->kind = 0;
    uint32_t k = below(100), rd = rd_(), r1 = rs_(), r2 = rs_();
    if (k < 24) {
      const uint32_t *f = rr[below(sizeof rr / sizeof rr[0])];
      g->w = R(f[0], r2, r1, f[1], rd, f[2]);
    } else if (k < 44) {
      g->w = alu_imm();
    } else if (k < 56) {
      uint32_t b = base_();
      g->w = I(mem_off(b), b, below(7), rd, 0x03);
    } else if (k < 64) {
      uint32_t b = base_();
      g->w = S(mem_off(b), r2, b, below(4));
    } else if (k < 74) {
      static const uint32_t f3[] = {0, 1, 4, 5, 6, 7};
      g->w = B(0, r2, r1, f3[below(6)]);
      g->kind = 1;
      g->target = i + (int)below(40) - 25;
    } else if (k < 77) {
      g->w = J(0, below(2) ? 0 : rd);
      g->kind = 2;
      g->target = i + (int)below(60) - 30;
    } else if (k < 79 && i + 1 < n) {                /* auipc x, 0; jalr rd, off(x) */
      int t = i + 2 + (int)below(20);
      g->w = (rd << 7) | 0x17;
      g->kind = 3;
      g->target = t;
      p[i + 1].w = rd;          /* the jalr's base, encoded once offsets are known */
      p[i + 1].kind = 4;
      p[i + 1].len = 4;
      p[i + 1].target = t;
      i++;
    } else if (k < 90) {                             /* compressed: any word but c.jr/c.jalr */
      uint16_t c;
      do c = (uint16_t)rnd(); while ((c & 3) == 3 ||
                                     ((c & 3) == 2 && (c >> 13) == 4 && ((c >> 2) & 31) == 0));
      g->w = c;
      g->len = 2;
    } else {
      static const uint32_t csr[] = {0xb02, 0xb00, 0x340, 0x341, 0x342, 0xc02, 0xc00};
      switch (below(10)) {
      case 0: g->w = 0x73; break;                                     /* ecall */
      case 1: g->w = 0x100073; break;                                 /* ebreak */
      case 2: g->w = below(2) ? 0 : (uint32_t)rnd(); break;           /* illegal, or anything */
      case 3: case 4: g->w = I((int32_t)csr[below(7)], 0, 2, rd, 0x73); break;   /* csrr */
      case 5: g->w = I(0x340, r1, 1, 0, 0x73); break;                  /* csrw mscratch */
      case 6: g->w = below(4) ? 0x0ff0000f : 0x100f; break;            /* fence, fence.i */
      case 7: g->w = 0xf2000053 | r1 << 15 | below(32) << 7; break;    /* fmv.d.x */
      case 8: g->w = R(0x01, below(32), below(32), 7, below(32), 0x53); break;   /* fadd.d */
      default: g->w = 0xe2000053 | below(32) << 15 | rd << 7; break;   /* fmv.x.d */
      }
    }
  }
}

static uint32_t assemble(gi *p, int n, uint8_t *out) {
  uint32_t *off = malloc(sizeof(uint32_t) * (n + 1)), o = 0;
  for (int i = 0; i < n; i++) { off[i] = o; o += p[i].len; }
  off[n] = o;
  for (int i = 0; i < n; i++) {
    gi *g = &p[i];
    int t = g->target < 0 ? 0 : g->target > n ? n : g->target;
    int32_t d = (int32_t)off[t] - (int32_t)off[i];
    uint32_t w = g->w;
    if (g->kind == 1) w = B(d, w >> 20 & 31, w >> 15 & 31, w >> 12 & 7);
    if (g->kind == 2) w = J(d, w >> 7 & 31);
    if (g->kind == 4) w = I((int32_t)off[t] - (int32_t)off[i - 1], g->w, 0, rd_(), 0x67);
    memcpy(out + off[i], &w, (size_t)g->len);
  }
  uint32_t back = J(-(int32_t)o, 0);                 /* and round again */
  memcpy(out + o, &back, 4);
  free(off);
  return o + 4;
}

/* The trap handler at RAM (M mode, bare): folds mcause and mtval into x29/x28 and skips the
 * instruction (2 or 4 bytes, read through the physical address for the S-mode alias). */
static const uint32_t handler[] = {
  0x34102ff3,   /* csrr x31, mepc */
  0x01ffdf13,   /* srli x30, x31, 31 */
  0x000f1863,   /* bnez x30, +16 */
  0x40000f37,   /* lui x30, 0x40000 */
  0x01ef8f33,   /* add x30, x31, x30 */
  0x0080006f,   /* j +8 */
  0x000f8f13,   /* mv x30, x31 */
  0x000f5f03,   /* lhu x30, 0(x30) */
  0x003f7f13,   /* andi x30, x30, 3 */
  0xffdf0f13,   /* addi x30, x30, -3 */
  0x000f0663,   /* beqz x30, +12 */
  0x002f8f93,   /* addi x31, x31, 2 */
  0x0080006f,   /* j +8 */
  0x004f8f93,   /* addi x31, x31, 4 */
  0x341f9073,   /* csrw mepc, x31 */
  0x34202f73,   /* csrr x30, mcause */
  0x01ee8eb3,   /* add x29, x29, x30 */
  0x34302f73,   /* csrr x30, mtval */
  0x01ee4e33,   /* xor x28, x28, x30 */
  0x30200073,   /* mret */
};

static void setup(tmach *m, const uint8_t *code, uint32_t len, int mode, const uint64_t *regs) {
  bus_ram_write(m->b, RAM, handler, sizeof handler);
  bus_ram_write(m->b, CODE, code, len);
  uint8_t data[0x2000];
  uint64_t s = 0x1234567;
  for (unsigned i = 0; i < sizeof data; i++) { s = s * 6364136223846793005ull + 1; data[i] = (uint8_t)(s >> 56); }
  bus_ram_write(m->b, DATA - 0x1800, data, sizeof data);
  uint64_t entry = CODE;
  cpu_reset(m->c, entry);
  for (int r = 1; r < 26; r++) cpu_set_x(m->c, r, regs[r]);
  cpu_set_x(m->c, 26, CODE + 0x400);
  cpu_set_x(m->c, 27, DATA);
  cpu_set_csr(m->c, 0x305, RAM);                        /* mtvec */
  cpu_set_csr(m->c, 0x300, 1ull << 13);                 /* mstatus.FS: FP moves work */
  if (mode != 3) {
    cpu_set_csr(m->c, 0x3b0, ~0ull >> 10);              /* pmpaddr0: everything, NAPOT RWX */
    cpu_set_csr(m->c, 0x3a0, 0x1f);
    cpu_set_csr(m->c, 0x300, (1ull << 13) | ((uint64_t)mode << 11));   /* MPP */
    cpu_set_csr(m->c, 0x306, ~0ull);                    /* mcounteren: S/U may read counters */
  }
  if (mode == 1) {                                      /* Sv39: two gigapages onto the RAM */
    uint64_t pte = (RAM >> 12) << 10 | 0xcf;            /* V R W X A D */
    bus_ram_write(m->b, PT + 8 * 2, &pte, 8);           /* va 0x80000000: identity */
    bus_ram_write(m->b, PT + 8 * 1, &pte, 8);           /* va 0x40000000: the alias */
    cpu_set_csr(m->c, 0x180, 8ull << 60 | PT >> 12);
    entry = CODE - RAM + ALIAS;
  }
  if (mode != 3) {
    cpu_set_priv(m->c, mode);
  }
  cpu_set_pc(m->c, entry);
}

static int same(tmach *a, tmach *b, int prog, uint64_t at) {
  static const int csrs[] = {0x300, 0x341, 0x342, 0x343, 0x340, 0x001, 0xb02};
  int ok = 1;
  for (int r = 1; r < 32; r++)
    if (cpu_get_x(a->c, r) != cpu_get_x(b->c, r)) {
      printf("# program %d after %llu: x%d %llx (interp) != %llx (jit)\n", prog,
             (unsigned long long)at, r, (unsigned long long)cpu_get_x(a->c, r),
             (unsigned long long)cpu_get_x(b->c, r));
      ok = 0;
    }
  if (cpu_get_pc(a->c) != cpu_get_pc(b->c) || cpu_instret(a->c) != cpu_instret(b->c) ||
      cpu_get_priv(a->c) != cpu_get_priv(b->c)) {
    printf("# program %d after %llu: pc %llx/%llx instret %llu/%llu priv %d/%d\n", prog,
           (unsigned long long)at, (unsigned long long)cpu_get_pc(a->c),
           (unsigned long long)cpu_get_pc(b->c), (unsigned long long)cpu_instret(a->c),
           (unsigned long long)cpu_instret(b->c), cpu_get_priv(a->c), cpu_get_priv(b->c));
    ok = 0;
  }
  for (unsigned i = 0; i < sizeof csrs / sizeof csrs[0]; i++) {
    uint64_t va = 0, vb = 0;
    cpu_get_csr(a->c, csrs[i], &va);
    cpu_get_csr(b->c, csrs[i], &vb);
    if (va != vb) {
      printf("# program %d after %llu: csr %x %llx/%llx\n", prog, (unsigned long long)at,
             csrs[i], (unsigned long long)va, (unsigned long long)vb);
      ok = 0;
    }
  }
  return ok;
}

/* Programs x instructions each, per mode: at least a million per engine in all. */
#define NPROG 48
#define PERPROG 25000

TEST(jit_matches_interpreter_on_random_streams) {
  if (!cpu_accel_available(CPU_ACCEL_JIT)) { ctest_skip("no translator for this host"); return; }
  /* A fixed seed by default; JIT_DIFF_SEED=N runs other streams (stress runs). */
  const char *seed = getenv("JIT_DIFF_SEED");
  if (seed && strtoull(seed, NULL, 0)) rs = strtoull(seed, NULL, 0);
  static uint8_t code[NINSN * 4 + 8];
  static gi prog[NINSN];
  uint64_t total = 0, in_jit = 0;
  int bad = 0;
  for (int p = 0; p < NPROG && !bad; p++) {
    int mode = p % 3 == 0 ? 3 : p % 3 == 1 ? 0 : 1;
    gen(prog, NINSN);
    uint32_t len = assemble(prog, NINSN, code);
    uint64_t regs[32];
    static const uint64_t edge[] = {0, 1, ~0ull, 0x8000000000000000ull, 0x7fffffffffffffffull,
                                    0x80000000ull, 0xffffffff80000000ull, 0xffffffffull};
    for (int r = 0; r < 32; r++) regs[r] = below(3) == 0 ? edge[below(8)] : rnd();
    tmach *a = tm_new(1 << 20), *b = tm_new(1 << 20);
    CHECK(cpu_set_accel(b->c, CPU_ACCEL_JIT) == 0);
    setup(a, code, len, mode, regs);
    setup(b, code, len, mode, regs);
    uint64_t done = 0;
    while (done < PERPROG && !a->finished && !b->finished) {
      uint64_t n = 1 + below(below(4) == 0 ? 8 : 3000), na = 0, nb = 0;
      enum cpu_stop ra = cpu_run(a->c, n, &na), rb = cpu_run(b->c, n, &nb);
      if (ra != rb || na != nb) {
        printf("# program %d: slice of %llu: stop %d/%d executed %llu/%llu\n", p,
               (unsigned long long)n, ra, rb, (unsigned long long)na, (unsigned long long)nb);
        bad = 1;
      }
      if (!same(a, b, p, done + na)) bad = 1;
      if (bad) break;
      if (ra == CPU_WFI) break;
      done += na > 0 ? na : n;
    }
    if (!bad && memcmp(a->ram, b->ram, a->ramsize) != 0) {
      printf("# program %d: RAM differs\n", p);
      bad = 1;
    }
    total += done;
    in_jit += cpu_jit_insns(b->c);
    tm_free(a);
    tm_free(b);
  }
  CHECK(!bad);
  printf("# %llu instructions per engine, %llu (%.0f%%) in translated blocks\n",
         (unsigned long long)total, (unsigned long long)in_jit, 100.0 * in_jit / (total ? total : 1));
  CHECK(total >= 1000000);
  CHECK(in_jit * 2 >= total);
}
