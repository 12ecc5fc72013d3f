/* fp: F and D corner cases — the five static rounding modes and the dynamic one, RMM ties,
 * accrued flags (NX, UF, OF, DZ, NV), canonical NaNs, NaN boxing, fmin/fmax NaN and signed-zero
 * rules, quiet vs signaling comparisons, fclass, conversion saturation and invalid flags, fused
 * multiply-add, and reserved rounding modes raising illegal instruction. */
#include "lib.h"

#define BIN(insn, rm, a, b) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n" insn " ft2, ft0, ft1, " rm "\n fmv.x.d %0, ft2" \
    : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b)) : "ft0", "ft1", "ft2"); r_; })
#define BIN_NORM(insn, a, b) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n" insn " ft2, ft0, ft1\n fmv.x.d %0, ft2" \
    : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b)) : "ft0", "ft1", "ft2"); r_; })
#define CMP(insn, a, b) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n" insn " %0, ft0, ft1" \
    : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b)) : "ft0", "ft1"); r_; })
#define UN(insn, rm, a) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n" insn " ft2, ft0, " rm "\n fmv.x.d %0, ft2" \
    : "=r"(r_) : "r"((u64)(a)) : "ft0", "ft2"); r_; })
#define UN1(insn, a) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n" insn " ft2, ft0\n fmv.x.d %0, ft2" \
    : "=r"(r_) : "r"((u64)(a)) : "ft0", "ft2"); r_; })
#define TOINT(insn, rm, a) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n" insn " %0, ft0, " rm : "=r"(r_) : "r"((u64)(a)) : "ft0"); r_; })
#define FROMINT(insn, rm, a) ({ u64 r_; __asm__ volatile( \
    insn " ft2, %1, " rm "\n fmv.x.d %0, ft2" : "=r"(r_) : "r"((u64)(a)) : "ft2"); r_; })
#define FCLASS(insn, a) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n" insn " %0, ft0" : "=r"(r_) : "r"((u64)(a)) : "ft0"); r_; })
#define FMA(insn, rm, a, b, c) ({ u64 r_; __asm__ volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n fmv.d.x ft3, %3\n" insn " ft2, ft0, ft1, ft3, " rm \
    "\n fmv.x.d %0, ft2" : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b)), "r"((u64)(c)) \
    : "ft0", "ft1", "ft2", "ft3"); r_; })

#define NX 1
#define UF 2
#define OF 4
#define DZ 8
#define NV 16
#define ONE 0x3ff0000000000000ul
#define TWO 0x4000000000000000ul
#define EPS53 0x3ca0000000000000ul     /* 2^-53 */
#define ONE_UP 0x3ff0000000000001ul
#define NEG(x) ((x) ^ (1ul << 63))
#define CNAN 0x7ff8000000000000ul
#define SNAN 0x7ff0000000000001ul
#define QNAN 0x7ff8000000000123ul
#define PINF 0x7ff0000000000000ul
#define DMAX 0x7fefffffffffffffull
#define BOX(x) (0xffffffff00000000ul | (u32)(x))
#define SONE 0x3f800000u
#define SCNAN 0x7fc00000u

static u64 flags(void) { u64 f = csr_read(fflags); csr_write(fflags, 0); return f; }

int main(void) {
  csr_write(fflags, 0);
  /* 1-6: rounding modes on 1 + 2^-53 (an exact tie) */
  CHECK(1, BIN("fadd.d", "rne", ONE, EPS53) == ONE && flags() == NX);
  CHECK(2, BIN("fadd.d", "rup", ONE, EPS53) == ONE_UP);
  CHECK(3, BIN("fadd.d", "rdn", ONE, EPS53) == ONE);
  CHECK(4, BIN("fadd.d", "rtz", ONE, EPS53) == ONE);
  CHECK(5, BIN("fadd.d", "rmm", ONE, EPS53) == ONE_UP);
  CHECK(6, BIN("fsub.d", "rdn", NEG(ONE), EPS53) == NEG(ONE_UP) &&
           BIN("fsub.d", "rup", NEG(ONE), EPS53) == NEG(ONE));
  flags();
  /* 7-8: dynamic rounding mode from frm */
  csr_write(frm, 3);
  CHECK(7, BIN("fadd.d", "dyn", ONE, EPS53) == ONE_UP);
  csr_write(frm, 0);
  CHECK(8, BIN("fadd.d", "dyn", ONE, EPS53) == ONE);
  flags();
  /* 9-13: exception flags and canonical NaNs */
  CHECK(9, BIN("fdiv.d", "rne", ONE, 0) == PINF && flags() == DZ);
  CHECK(10, BIN("fdiv.d", "rne", 0, 0) == CNAN && flags() == NV);
  CHECK(11, UN("fsqrt.d", "rne", NEG(ONE)) == CNAN && flags() == NV);
  CHECK(12, BIN("fmul.d", "rne", DMAX, TWO) == PINF && flags() == (OF | NX));
  CHECK(13, BIN("fmul.d", "rtz", DMAX, TWO) == DMAX && flags() == (OF | NX));
  CHECK(14, BIN("fmul.d", "rne", 0x0010000000000001ul, 0x3fe0000000000000ul) != 0 &&
            flags() == (UF | NX));
  CHECK(15, BIN("fadd.d", "rne", QNAN, ONE) == CNAN && flags() == 0);
  CHECK(16, BIN("fadd.d", "rne", SNAN, ONE) == CNAN && flags() == NV);
  /* 17-19: NaN boxing: an unboxed single is the canonical NaN */
  CHECK(17, BIN("fadd.s", "rne", BOX(SONE), BOX(SONE)) == BOX(0x40000000));
  CHECK(18, BIN("fadd.s", "rne", 0x000000003f800000ul, BOX(SONE)) == BOX(SCNAN));
  {
    u64 r;
    __asm__ volatile("fmv.w.x ft0, %1\n fmv.x.d %0, ft0" : "=r"(r) : "r"(0x12345678ul) : "ft0");
    CHECK(19, r == BOX(0x12345678));
    __asm__ volatile("fmv.d.x ft0, %1\n fmv.x.w %0, ft0" : "=r"(r) : "r"(0x00000000f0000000ul) : "ft0");
    CHECK(20, r == 0xfffffffff0000000ul);
  }
  flags();
  /* 21-26: fmin/fmax */
  CHECK(21, BIN_NORM("fmin.d", QNAN, ONE) == ONE && flags() == 0);
  CHECK(22, BIN_NORM("fmin.d", SNAN, ONE) == ONE && flags() == NV);
  CHECK(23, BIN_NORM("fmax.d", QNAN, QNAN) == CNAN);
  CHECK(24, BIN_NORM("fmin.d", 0, NEG(0ul)) == NEG(0ul));
  CHECK(25, BIN_NORM("fmax.d", NEG(0ul), 0) == 0);
  CHECK(26, BIN_NORM("fmin.s", BOX(SONE), BOX(0xbf800000)) == BOX(0xbf800000));
  flags();
  /* 27-30: comparisons: feq quiet, flt/fle signaling */
  CHECK(27, CMP("feq.d", QNAN, ONE) == 0 && flags() == 0);
  CHECK(28, CMP("flt.d", QNAN, ONE) == 0 && flags() == NV);
  CHECK(29, CMP("feq.d", SNAN, ONE) == 0 && flags() == NV);
  CHECK(30, CMP("fle.d", ONE, ONE) == 1 && CMP("flt.d", NEG(0ul), 0) == 0 &&
            CMP("feq.d", NEG(0ul), 0) == 1);
  /* 31-35: fclass */
  CHECK(31, FCLASS("fclass.d", PINF) == 1 << 7);
  CHECK(32, FCLASS("fclass.d", NEG(0ul)) == 1 << 3);
  CHECK(33, FCLASS("fclass.d", SNAN) == 1 << 8 && FCLASS("fclass.d", QNAN) == 1 << 9);
  CHECK(34, FCLASS("fclass.d", 1) == 1 << 5 && FCLASS("fclass.d", NEG(ONE)) == 1 << 1);
  CHECK(35, FCLASS("fclass.s", 0x3f800000ul) == 1 << 9);   /* unboxed: canonical NaN */
  flags();
  /* 36-47: conversions to integers: saturation and flags */
  CHECK(36, TOINT("fcvt.w.d", "rtz", 0x4202a05f20000000ul /* 1e10 */) == 0x7fffffff && flags() == NV);
  CHECK(37, TOINT("fcvt.w.d", "rtz", NEG(0x4202a05f20000000ul)) == 0xffffffff80000000ul && flags() == NV);
  CHECK(38, TOINT("fcvt.w.d", "rtz", QNAN) == 0x7fffffff && flags() == NV);
  CHECK(39, TOINT("fcvt.wu.d", "rtz", NEG(ONE)) == 0 && flags() == NV);
  CHECK(40, TOINT("fcvt.wu.d", "rtz", 0xbfe0000000000000ul /* -0.5 */) == 0 && flags() == NX);
  CHECK(41, TOINT("fcvt.l.d", "rtz", 0x43e0000000000000ul /* 2^63 */) == 0x7ffffffffffffffful && flags() == NV);
  CHECK(42, TOINT("fcvt.lu.d", "rtz", QNAN) == ~0ul && flags() == NV);
  CHECK(43, TOINT("fcvt.w.d", "rne", 0x4004000000000000ul /* 2.5 */) == 2 && flags() == NX);
  CHECK(44, TOINT("fcvt.w.d", "rmm", 0x4004000000000000ul) == 3);
  CHECK(45, TOINT("fcvt.w.d", "rmm", NEG(0x4004000000000000ul)) == (u64)-3);
  CHECK(46, TOINT("fcvt.wu.d", "rtz", 0x41e65a0bc0000000ul /* 3e9 */) == 0xffffffffb2d05e00ul);
  CHECK(47, TOINT("fcvt.w.d", "rdn", NEG(0x3ff8000000000000ul) /* -1.5 */) == (u64)-2 &&
            TOINT("fcvt.w.d", "rup", NEG(0x3ff8000000000000ul)) == (u64)-1);
  flags();
  CHECK(48, TOINT("fcvt.lu.d", "rtz", 0x43f0000000000000ul /* 2^64 */) == ~0ul && flags() == NV);
  CHECK(49, TOINT("fcvt.w.s", "rtz", BOX(0xcf000000) /* -2^31 */) == 0xffffffff80000000ul && flags() == 0);
  /* 50-53: integer to float, narrowing, RMM ties */
  CHECK(50, FROMINT("fcvt.d.l", "rne", (1ul << 53) + 1) == 0x4340000000000000ul && flags() == NX);
  CHECK(51, FROMINT("fcvt.d.l", "rmm", (1ul << 53) + 1) == 0x4340000000000001ul);
  CHECK(52, FROMINT("fcvt.s.w", "rne", 16777217) == BOX(0x4b800000) &&
            FROMINT("fcvt.s.w", "rmm", 16777217) == BOX(0x4b800001));
  CHECK(53, FROMINT("fcvt.d.lu", "rne", ~0ul) == 0x43f0000000000000ul);
  flags();
  CHECK(54, UN("fcvt.s.d", "rne", 0x3ff0000010000000ul /* 1+2^-24 */) == BOX(SONE) && flags() == NX);
  CHECK(55, UN("fcvt.s.d", "rmm", 0x3ff0000010000000ul) == BOX(0x3f800001));
  flags();
  CHECK(56, UN1("fcvt.d.s", BOX(0x7f800001)) == CNAN && flags() == NV);
  CHECK(57, BIN("fadd.s", "rne", BOX(0x4b800000), BOX(SONE)) == BOX(0x4b800000) &&
            BIN("fadd.s", "rmm", BOX(0x4b800000), BOX(SONE)) == BOX(0x4b800001));
  CHECK(58, BIN("fdiv.s", "rup", BOX(SONE), BOX(0x40400000)) ==
            BIN("fdiv.s", "rdn", BOX(SONE), BOX(0x40400000)) + 1);
  flags();
  /* 59-60: fused multiply-add rounds once */
  {
    u64 a = 0x3ff0000040000000ul;            /* 1 + 2^-22 */
    u64 c = NEG(0x3ff0000080000000ul);       /* -(1 + 2^-21) */
    CHECK(59, FMA("fmadd.d", "rne", a, a, c) == 0x3d30000000000000ul);   /* 2^-44, not 0 */
    CHECK(60, FMA("fnmsub.d", "rne", ONE, TWO, ONE) == NEG(ONE));      /* -(1*2) + 1 */
    CHECK(61, FMA("fmadd.d", "rne", PINF, 0, QNAN) == CNAN && flags() == NV);
  }
  /* 62-63: sign injection */
  CHECK(62, BIN_NORM("fsgnjn.d", ONE, ONE) == NEG(ONE));
  CHECK(63, BIN_NORM("fsgnjx.d", NEG(ONE), NEG(ONE)) == ONE &&
            BIN_NORM("fsgnj.d", ONE, NEG(0ul)) == NEG(ONE));
  /* 64-65: reserved rounding modes are illegal (static rm=5, and dynamic with frm=5) */
  mt.count = 0;
  __asm__ volatile(".word 0x02005053");     /* fadd.d f0, f0, f0 with rm=5 */
  CHECK(64, mt.count == 1 && mt.cause == 2 && mt.tval == 0x02005053);
  csr_write(frm, 5);
  mt.count = 0;
  BIN("fadd.d", "dyn", ONE, ONE);
  CHECK(65, mt.count == 1 && mt.cause == 2);
  csr_write(frm, 0);
  /* 66: flags accrue and fcsr packs frm and fflags */
  flags();
  BIN("fdiv.d", "rne", ONE, 0);
  BIN("fadd.d", "rne", ONE, EPS53);
  csr_write(frm, 2);
  CHECK(66, csr_read(fcsr) == ((2 << 5) | DZ | NX));
  csr_write(fcsr, 0);
  /* 67: single-precision loads box, stores store the low word */
  {
    static volatile u32 w = 0x40490fdb;
    u64 r;
    __asm__ volatile("flw ft0, 0(%1)\n fmv.x.d %0, ft0" : "=r"(r) : "r"(&w) : "ft0");
    CHECK(67, r == BOX(0x40490fdb));
  }
  return 0;
}
