/* fpdiff: differential FP test. Runs 35 F/D operations 3000 times each on random operands (special
 * values, random bits, integers, boxed and unboxed singles) under random rounding modes (RNE..RMM
 * through frm), and prints one hash per operation over the results and fflags. The expected
 * hashes (fpdiff.expected) come from qemu-system-riscv64 7.2 (softfloat), so a match means
 * bit-identical results and flags on all 105000 operations. */
#include "lib.h"
#define OPS2(X) X(fadd_d,"fadd.d") X(fsub_d,"fsub.d") X(fmul_d,"fmul.d") X(fdiv_d,"fdiv.d") \
  X(fadd_s,"fadd.s") X(fsub_s,"fsub.s") X(fmul_s,"fmul.s") X(fdiv_s,"fdiv.s")
#define OPSN(X) X(fmin_d,"fmin.d") X(fmax_d,"fmax.d") X(fmin_s,"fmin.s") X(fmax_s,"fmax.s") \
  X(fsgnjx_s,"fsgnjx.s")
#define OPSC(X) X(feq_d,"feq.d") X(flt_d,"flt.d") X(fle_d,"fle.d") X(feq_s,"feq.s") X(flt_s,"flt.s")
#define OPS1(X) X(fsqrt_d,"fsqrt.d") X(fsqrt_s,"fsqrt.s") X(fcvt_s_d,"fcvt.s.d")
#define OPSI(X) X(fcvt_w_d,"fcvt.w.d") X(fcvt_wu_d,"fcvt.wu.d") X(fcvt_l_d,"fcvt.l.d") X(fcvt_lu_d,"fcvt.lu.d") \
  X(fcvt_w_s,"fcvt.w.s") X(fcvt_lu_s,"fcvt.lu.s")
#define OPSF(X) X(fcvt_d_l,"fcvt.d.l") X(fcvt_s_l,"fcvt.s.l") X(fcvt_s_lu,"fcvt.s.lu") X(fcvt_s_w,"fcvt.s.w")
#define OPS3(X) X(fmadd_d,"fmadd.d") X(fnmsub_d,"fnmsub.d") X(fmadd_s,"fmadd.s") X(fmsub_s,"fmsub.s")
#define D2(n,i) static u64 n(u64 a,u64 b){u64 r;__asm__ volatile("fmv.d.x ft0,%1\n fmv.d.x ft1,%2\n" i " ft2,ft0,ft1,dyn\n fmv.x.d %0,ft2":"=r"(r):"r"(a),"r"(b):"ft0","ft1","ft2");return r;}
#define DN(n,i) static u64 n(u64 a,u64 b){u64 r;__asm__ volatile("fmv.d.x ft0,%1\n fmv.d.x ft1,%2\n" i " ft2,ft0,ft1\n fmv.x.d %0,ft2":"=r"(r):"r"(a),"r"(b):"ft0","ft1","ft2");return r;}
#define DC(n,i) static u64 n(u64 a,u64 b){u64 r;__asm__ volatile("fmv.d.x ft0,%1\n fmv.d.x ft1,%2\n" i " %0,ft0,ft1":"=r"(r):"r"(a),"r"(b):"ft0","ft1");return r;}
#define D1(n,i) static u64 n(u64 a,u64 b){(void)b;u64 r;__asm__ volatile("fmv.d.x ft0,%1\n" i " ft2,ft0,dyn\n fmv.x.d %0,ft2":"=r"(r):"r"(a):"ft0","ft2");return r;}
#define DI(n,i) static u64 n(u64 a,u64 b){(void)b;u64 r;__asm__ volatile("fmv.d.x ft0,%1\n" i " %0,ft0,dyn":"=r"(r):"r"(a):"ft0");return r;}
#define DF(n,i) static u64 n(u64 a,u64 b){(void)b;u64 r;__asm__ volatile(i " ft2,%1,dyn\n fmv.x.d %0,ft2":"=r"(r):"r"(a):"ft2");return r;}
#define D3(n,i) static u64 n(u64 a,u64 b){u64 r;__asm__ volatile("fmv.d.x ft0,%1\n fmv.d.x ft1,%2\n fmv.d.x ft3,%3\n" i " ft2,ft0,ft1,ft3,dyn\n fmv.x.d %0,ft2":"=r"(r):"r"(a),"r"(b),"r"(a^b):"ft0","ft1","ft2","ft3");return r;}
OPS2(D2) OPSN(DN) OPSC(DC) OPS1(D1) OPSI(DI) OPSF(DF) OPS3(D3)
#define E(n,i) n,
static u64 (*ops[])(u64,u64) = { OPS2(E) OPSN(E) OPSC(E) OPS1(E) OPSI(E) OPSF(E) OPS3(E) };
static const char *names[] = {
#define S(n,i) i,
OPS2(S) OPSN(S) OPSC(S) OPS1(S) OPSI(S) OPSF(S) OPS3(S) };
static u64 seed = 88172645463325252ul;
static u64 rnd(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; }
static const u64 sd[] = {0, 1ul<<63, 0x3ff0000000000000ul, 0xbff0000000000000ul, 0x7ff0000000000000ul, 0xfff0000000000000ul,
  0x7ff8000000000000ul, 0x7ff0000000000001ul, 1, 0x7fefffffffffffffull, 0x0010000000000000ul, 0x43e0000000000000ul,
  0xc3e0000000000000ul, 0x41e0000000000000ul, 0x4340000000000001ul, 0x3fe0000000000000ul};
static const u32 ss[] = {0, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 1,
  0x7f7fffff, 0x00800000, 0x5f000000, 0xdf000000, 0x4f000000, 0x4b800001, 0x3f000000};
static u64 operand(int single) {
  u64 r = rnd();
  int k = r & 7;
  if (single) {
    u32 v = k < 3 ? ss[(r >> 8) & 15] : k < 5 ? (u32)(r >> 16) : (u32)((r >> 16) & 0x807fffff) | (u32)(((r >> 48) % 40 + 107) << 23);
    if (((r >> 60) & 15) == 0) return v;   /* sometimes unboxed */
    return 0xffffffff00000000ul | v;
  }
  if (k < 3) return sd[(r >> 8) & 15];
  if (k < 5) return rnd();
  if (k == 5) return rnd() >> ((r >> 12) & 63);   /* integers for conversions */
  return (rnd() & 0x800fffffffffffffull) | (((r >> 20) % 80 + 983) << 52);
}
int main(void) {
  int n = sizeof ops / sizeof ops[0];
  for (int op = 0; op < n; op++) {
    u64 h = 0;
    int single = names[op][5] == 's' || names[op][6] == 's' || names[op][7] == 's';
    for (int i = 0; i < 3000; i++) {
      u64 a = operand(single), b = operand(single);
      csr_write(frm, rnd() % 5);
      csr_write(fflags, 0);
      u64 r = ops[op](a, b);
      u64 f = csr_read(fflags);
      h = (h ^ r ^ (f << 59) ^ (f * 0x9e3779b97f4a7c15ul)) * 0x100000001b3ul;
    }
    puts_(names[op]); puts_(" "); puthex(h); puts_("\n");
  }
  return 0;
}
