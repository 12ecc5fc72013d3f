/* cpu_fp: the F and D extensions. Arithmetic runs on the host's IEEE 754 unit under the guest's
 * rounding mode (fenv), and the host's exception flags become fflags. What the host cannot do the
 * RISC-V way is done here: canonical NaNs, NaN boxing, fmin/fmax and comparison flag rules,
 * float-to-int saturation, and round-to-nearest-ties-to-max-magnitude (RMM), which x86 lacks and
 * which only differs from ties-to-even on exact ties (add, sub, mul, fma, conversions; division
 * and square root cannot produce ties): those are found from the exact error of the result. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu_int.h"

enum { RM_RNE, RM_RTZ, RM_RDN, RM_RUP, RM_RMM };
enum { FL_NX = 1, FL_UF = 2, FL_OF = 4, FL_DZ = 8, FL_NV = 16 };

#define CNAN_S 0x7fc00000u
#define CNAN_D 0x7ff8000000000000ull

static float f32(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t b32(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static double f64(uint64_t b) { double f; memcpy(&f, &b, 8); return f; }
static uint64_t b64(double f) { uint64_t b; memcpy(&b, &f, 8); return b; }

static uint32_t get_s(const cpu *c, int r) {
  uint64_t v = c->f[r];
  return (v >> 32) == 0xffffffffu ? (uint32_t)v : CNAN_S;
}
static void set_s(cpu *c, int r, uint32_t v) {
  c->f[r] = 0xffffffff00000000ull | v;
  c->mstatus |= MS_FS;
}
static void set_d(cpu *c, int r, uint64_t v) {
  c->f[r] = v;
  c->mstatus |= MS_FS;
}
static int snan_s(uint32_t b) { return (b & 0x7f800000) == 0x7f800000 && (b & 0x7fffff) && !(b & 0x400000); }
static int snan_d(uint64_t b) {
  return (b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (b & 0xfffffffffffffull) &&
         !(b & 0x8000000000000ull);
}
static int nan_s(uint32_t b) { return (b & 0x7fffffff) > 0x7f800000; }
static int nan_d(uint64_t b) { return (b & ~(1ull << 63)) > 0x7ff0000000000000ull; }

static const int host_modes[5] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD,
                                  FE_TONEAREST};

static void fe_begin(int rm) {
  feclearexcept(FE_ALL_EXCEPT);
  if (host_modes[rm] != FE_TONEAREST) fesetround(host_modes[rm]);
}
static uint32_t fe_end(int rm) {
  int e = fetestexcept(FE_ALL_EXCEPT);
  if (host_modes[rm] != FE_TONEAREST) fesetround(FE_TONEAREST);
  return ((e & FE_INEXACT) ? FL_NX : 0) | ((e & FE_UNDERFLOW) ? FL_UF : 0) |
         ((e & FE_OVERFLOW) ? FL_OF : 0) | ((e & FE_DIVBYZERO) ? FL_DZ : 0) |
         ((e & FE_INVALID) ? FL_NV : 0);
}

/* RMM: r is the ties-to-even result, err = exact - r. On an exact tie broken toward zero, step
 * away from zero. */
static double rmm_d(double r, double err) {
  if (err == 0 || !isfinite(r) || (r != 0 && !signbit(err) != !signbit(r))) return r;
  double away = nextafter(r, err > 0 ? INFINITY : -INFINITY);
  return fabs(err) * 2 == fabs(away - r) ? away : r;
}
static float rmm_s(float r, double err) {
  if (err == 0 || !isfinite(r) || (r != 0 && !signbit(err) != !signbit(r))) return r;
  float away = nextafterf(r, err > 0 ? INFINITY : -INFINITY);
  return fabs(err) * 2 == fabs((double)away - (double)r) ? away : r;
}

/* RMM for a product whose result is tiny (subnormal, zero, or so close that the error of the
 * rounded product falls below the subnormals): that error is not representable there, so redo the product scaled by 2^200 (the smaller operand, so nothing
 * overflows), where it is, and compare with the scaled midpoint between r and its neighbour away
 * from zero. */
static double rmm_mul_tiny(double a, double b, double r) {
  if (fabs(a) > fabs(b)) { double t = a; a = b; b = t; }
  double A = ldexp(a, 200);
  double p = A * b, e = fma(A, b, -p);
  if (p == 0) return r;
  double away = nextafter(r, copysign(INFINITY, p));
  double mid = ldexp(r, 200) + ldexp(away - r, 199);
  return mid - p == e ? away : r;
}

static void two_sum(double a, double b, double *s, double *t) {
  *s = a + b;
  double bb = *s - a;
  *t = (a - (*s - bb)) + (b - bb);
}

/* RMM for FMA: the exact error of the ties-to-even result v of a*b+c as r2 + r3 (Boldo and
 * Muller's ErrFma); a tie is r2 = half the gap to the neighbour away from zero, r3 = 0. */
static double rmm_fma_d(double a, double b, double c, double v) {
  double u1 = a * b, u2 = fma(a, b, -u1), a1, a2, b1, b2;
  if (!isfinite(u1) || !isfinite(v)) return v;
  two_sum(c, u2, &a1, &a2);
  two_sum(u1, a1, &b1, &b2);
  double g = (b1 - v) + b2;
  double r2 = g + a2, r3 = a2 - (r2 - g);
  if (r2 == 0 || r3 != 0 || (v != 0 && !signbit(r2) != !signbit(v))) return v;
  double away = nextafter(v, r2 > 0 ? INFINITY : -INFINITY);
  return fabs(r2) * 2 == fabs(away - v) ? away : v;
}

/* The same for single precision: a*b is exact in double, so the exact a*b+c is s + t. */
static float rmm_fma_s(float a, float b, float c, float v) {
  double s, t, e1, e2;
  if (!isfinite(v)) return v;
  two_sum((double)a * (double)b, c, &s, &t);
  two_sum(s - (double)v, t, &e1, &e2);
  if (e1 == 0 || e2 != 0 || (v != 0 && !signbit(e1) != !signbit(v))) return v;
  float away = nextafterf(v, e1 > 0 ? INFINITY : -INFINITY);
  return fabs(e1) * 2 == fabs((double)away - (double)v) ? away : v;
}

/* float -> integer with the RISC-V saturation rules. v is exact (floats promote exactly). */
static int64_t to_int(double v, int rm, int kind, uint32_t *fl) {
  /* kind: 0 W, 1 WU, 2 L, 3 LU */
  static const double lo[4] = {-2147483648.0, 0, -9223372036854775808.0, 0};
  static const double hi_excl[4] = {2147483648.0, 4294967296.0, 9223372036854775808.0,
                                    18446744073709551616.0};
  static const int64_t minv[4] = {INT32_MIN, 0, INT64_MIN, 0};
  static const int64_t maxv[4] = {INT32_MAX, (int64_t)(int32_t)UINT32_MAX, INT64_MAX, -1};
  if (isnan(v)) { *fl |= FL_NV; return maxv[kind]; }
  double r;
  switch (rm) {
  case RM_RTZ: r = trunc(v); break;
  case RM_RDN: r = floor(v); break;
  case RM_RUP: r = ceil(v); break;
  case RM_RMM: r = round(v); break;
  default: r = nearbyint(v); break;
  }
  if (r < lo[kind]) { *fl |= FL_NV; return minv[kind]; }
  if (r >= hi_excl[kind]) { *fl |= FL_NV; return maxv[kind]; }
  if (r != v) *fl |= FL_NX;
  switch (kind) {
  case 0: return (int32_t)r;
  case 1: return (int32_t)(uint32_t)r;
  case 2: return (int64_t)r;
  default: return (int64_t)(uint64_t)r;
  }
}

static uint32_t fclass_bits(int sign, int inf, int nan, int snan, int zero, int sub) {
  if (nan) return snan ? 1u << 8 : 1u << 9;
  if (inf) return sign ? 1u << 0 : 1u << 7;
  if (zero) return sign ? 1u << 3 : 1u << 4;
  if (sub) return sign ? 1u << 2 : 1u << 5;
  return sign ? 1u << 1 : 1u << 6;
}

/* int -> float conversions; X is the exact integer. */
static uint64_t cvt_int_d(__int128 X, int rm, uint32_t *fl) {
  fe_begin(rm);
  volatile double r;
  if (X < 0) r = (double)(int64_t)X;
  else r = (double)(uint64_t)X;
  *fl |= fe_end(rm);
  double v = r;
  if (rm == RM_RMM && v == v) v = rmm_d(v, (double)(X - (__int128)v));
  return b64(v);
}
static uint32_t cvt_int_s(__int128 X, int rm, uint32_t *fl) {
  fe_begin(rm);
  volatile float r;
  if (X < 0) r = (float)(int64_t)X;
  else r = (float)(uint64_t)X;
  *fl |= fe_end(rm);
  float v = r;
  if (rm == RM_RMM) v = rmm_s(v, (double)(X - (__int128)v));
  return b32(v);
}

int cpu_fp_op(cpu *c, const dinsn *d) {
  if (!(c->mstatus & MS_FS)) return -1;
  int op = d->op;
  int rs3 = (d->imm >> 8) & 31, rm = d->imm & 7;
  if (rm == 7) rm = c->frm;
  uint32_t fl = 0;
  uint64_t *x = c->x;
  int uses_rm = 1;
  switch (op) {
  case OP_FSGNJ_S: case OP_FSGNJN_S: case OP_FSGNJX_S: case OP_FMIN_S: case OP_FMAX_S:
  case OP_FMV_X_W: case OP_FEQ_S: case OP_FLT_S: case OP_FLE_S: case OP_FCLASS_S:
  case OP_FMV_W_X: case OP_FSGNJ_D: case OP_FSGNJN_D: case OP_FSGNJX_D: case OP_FMIN_D:
  case OP_FMAX_D: case OP_FMV_X_D: case OP_FEQ_D: case OP_FLT_D: case OP_FLE_D: case OP_FCLASS_D:
  case OP_FMV_D_X:
    uses_rm = 0;
  }
  if (uses_rm && rm > RM_RMM) return -1;

  switch (op) {
  /* ---- single ---- */
  case OP_FADD_S: case OP_FSUB_S: case OP_FMUL_S: case OP_FDIV_S: {
    volatile float a = f32(get_s(c, d->rs1)), b = f32(get_s(c, d->rs2));
    volatile float r;
    fe_begin(rm);
    switch (op) {
    case OP_FADD_S: r = a + b; break;
    case OP_FSUB_S: r = a - b; break;
    case OP_FMUL_S: r = a * b; break;
    default: r = a / b; break;
    }
    fl = fe_end(rm);
    float v = r;
    if (rm == RM_RMM && op != OP_FDIV_S) {
      double e = op == OP_FADD_S ? (double)a + (double)b : op == OP_FSUB_S ? (double)a - (double)b
                                                                           : (double)a * (double)b;
      v = rmm_s(v, e - (double)v);
    }
    set_s(c, d->rd, isnan(v) ? CNAN_S : b32(v));
    break;
  }
  case OP_FSQRT_S: {
    volatile float a = f32(get_s(c, d->rs1)), r;
    fe_begin(rm);
    r = sqrtf(a);
    fl = fe_end(rm);
    float v = r;
    set_s(c, d->rd, isnan(v) ? CNAN_S : b32(v));
    break;
  }
  case OP_FMADD_S: case OP_FMSUB_S: case OP_FNMSUB_S: case OP_FNMADD_S: {
    float a = f32(get_s(c, d->rs1)), b = f32(get_s(c, d->rs2)), e = f32(get_s(c, rs3));
    if (op == OP_FNMSUB_S || op == OP_FNMADD_S) a = -a;
    if (op == OP_FMSUB_S || op == OP_FNMADD_S) e = -e;
    volatile float va = a, vb = b, ve = e, r;
    fe_begin(rm);
    r = fmaf(va, vb, ve);
    fl = fe_end(rm);
    float v = r;
    if (rm == RM_RMM && (fl & FL_NX)) v = rmm_fma_s(a, b, e, v);
    /* inf * 0 + NaN is invalid in RISC-V even when the addend is quiet */
    if (isnan(e) && ((isinf(a) && b == 0) || (isinf(b) && a == 0))) fl |= FL_NV;
    set_s(c, d->rd, isnan(v) ? CNAN_S : b32(v));
    break;
  }
  case OP_FSGNJ_S: case OP_FSGNJN_S: case OP_FSGNJX_S: {
    uint32_t a = get_s(c, d->rs1), b = get_s(c, d->rs2), s;
    s = op == OP_FSGNJ_S ? b : op == OP_FSGNJN_S ? ~b : (a ^ b);
    set_s(c, d->rd, (a & 0x7fffffff) | (s & 0x80000000));
    break;
  }
  case OP_FMIN_S: case OP_FMAX_S: {
    uint32_t a = get_s(c, d->rs1), b = get_s(c, d->rs2), r;
    if (snan_s(a) || snan_s(b)) fl |= FL_NV;
    if (nan_s(a) && nan_s(b)) r = CNAN_S;
    else if (nan_s(a)) r = b;
    else if (nan_s(b)) r = a;
    else {
      float fa = f32(a), fb = f32(b);
      int a_less = fa < fb || (fa == fb && (a >> 31) && !(b >> 31));
      r = (op == OP_FMIN_S) == a_less ? a : b;
    }
    set_s(c, d->rd, r);
    break;
  }
  case OP_FEQ_S: case OP_FLT_S: case OP_FLE_S: {
    uint32_t a = get_s(c, d->rs1), b = get_s(c, d->rs2);
    int r = 0;
    if (nan_s(a) || nan_s(b)) {
      if (op != OP_FEQ_S || snan_s(a) || snan_s(b)) fl |= FL_NV;
    } else {
      float fa = f32(a), fb = f32(b);
      r = op == OP_FEQ_S ? fa == fb : op == OP_FLT_S ? fa < fb : fa <= fb;
    }
    x[d->rd] = r;
    break;
  }
  case OP_FCLASS_S: {
    uint32_t a = get_s(c, d->rs1);
    uint32_t e = (a >> 23) & 0xff, m = a & 0x7fffff;
    x[d->rd] = fclass_bits(a >> 31, e == 255 && !m, nan_s(a), snan_s(a), !e && !m, !e && m);
    break;
  }
  case OP_FMV_X_W: x[d->rd] = (uint64_t)(int64_t)(int32_t)(uint32_t)c->f[d->rs1]; break;
  case OP_FMV_W_X: set_s(c, d->rd, (uint32_t)x[d->rs1]); break;
  case OP_FCVT_W_S: case OP_FCVT_WU_S: case OP_FCVT_L_S: case OP_FCVT_LU_S:
    x[d->rd] = to_int(f32(get_s(c, d->rs1)), rm, op - OP_FCVT_W_S, &fl);
    break;
  case OP_FCVT_S_W: set_s(c, d->rd, cvt_int_s((int32_t)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_S_WU: set_s(c, d->rd, cvt_int_s((uint32_t)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_S_L: set_s(c, d->rd, cvt_int_s((int64_t)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_S_LU: set_s(c, d->rd, cvt_int_s((__int128)x[d->rs1], rm, &fl)); break;

  /* ---- double ---- */
  case OP_FADD_D: case OP_FSUB_D: case OP_FMUL_D: case OP_FDIV_D: {
    volatile double a = f64(c->f[d->rs1]), b = f64(c->f[d->rs2]), r;
    fe_begin(rm);
    switch (op) {
    case OP_FADD_D: r = a + b; break;
    case OP_FSUB_D: r = a - b; break;
    case OP_FMUL_D: r = a * b; break;
    default: r = a / b; break;
    }
    fl = fe_end(rm);
    double v = r;
    if (rm == RM_RMM && (fl & FL_NX) && isfinite(v) && op != OP_FDIV_D) {
      double err;
      if (op == OP_FMUL_D && fabs(v) < 0x1p-900) {   /* error may be below the subnormals */
        v = rmm_mul_tiny(a, b, v);
        err = 0;
      } else if (op == OP_FMUL_D) err = fma(a, b, -v);
      else {
        double bb = op == OP_FADD_D ? b : -b;
        double t = v - a;
        err = (a - (v - t)) + (bb - t);
      }
      v = rmm_d(v, err);
    }
    set_d(c, d->rd, isnan(v) ? CNAN_D : b64(v));
    break;
  }
  case OP_FSQRT_D: {
    volatile double a = f64(c->f[d->rs1]), r;
    fe_begin(rm);
    r = sqrt(a);
    fl = fe_end(rm);
    double v = r;
    set_d(c, d->rd, isnan(v) ? CNAN_D : b64(v));
    break;
  }
  case OP_FMADD_D: case OP_FMSUB_D: case OP_FNMSUB_D: case OP_FNMADD_D: {
    double a = f64(c->f[d->rs1]), b = f64(c->f[d->rs2]), e = f64(c->f[rs3]);
    if (op == OP_FNMSUB_D || op == OP_FNMADD_D) a = -a;
    if (op == OP_FMSUB_D || op == OP_FNMADD_D) e = -e;
    volatile double va = a, vb = b, ve = e, r;
    fe_begin(rm);
    r = fma(va, vb, ve);
    fl = fe_end(rm);
    double v = r;
    if (rm == RM_RMM && (fl & FL_NX)) v = rmm_fma_d(a, b, e, v);
    if (isnan(e) && ((isinf(a) && b == 0) || (isinf(b) && a == 0))) fl |= FL_NV;
    set_d(c, d->rd, isnan(v) ? CNAN_D : b64(v));
    break;
  }
  case OP_FSGNJ_D: case OP_FSGNJN_D: case OP_FSGNJX_D: {
    uint64_t a = c->f[d->rs1], b = c->f[d->rs2], s;
    s = op == OP_FSGNJ_D ? b : op == OP_FSGNJN_D ? ~b : (a ^ b);
    set_d(c, d->rd, (a & ~(1ull << 63)) | (s & (1ull << 63)));
    break;
  }
  case OP_FMIN_D: case OP_FMAX_D: {
    uint64_t a = c->f[d->rs1], b = c->f[d->rs2], r;
    if (snan_d(a) || snan_d(b)) fl |= FL_NV;
    if (nan_d(a) && nan_d(b)) r = CNAN_D;
    else if (nan_d(a)) r = b;
    else if (nan_d(b)) r = a;
    else {
      double fa = f64(a), fb = f64(b);
      int a_less = fa < fb || (fa == fb && (a >> 63) && !(b >> 63));
      r = (op == OP_FMIN_D) == a_less ? a : b;
    }
    set_d(c, d->rd, r);
    break;
  }
  case OP_FEQ_D: case OP_FLT_D: case OP_FLE_D: {
    uint64_t a = c->f[d->rs1], b = c->f[d->rs2];
    int r = 0;
    if (nan_d(a) || nan_d(b)) {
      if (op != OP_FEQ_D || snan_d(a) || snan_d(b)) fl |= FL_NV;
    } else {
      double fa = f64(a), fb = f64(b);
      r = op == OP_FEQ_D ? fa == fb : op == OP_FLT_D ? fa < fb : fa <= fb;
    }
    x[d->rd] = r;
    break;
  }
  case OP_FCLASS_D: {
    uint64_t a = c->f[d->rs1];
    uint64_t e = (a >> 52) & 0x7ff, m = a & 0xfffffffffffffull;
    x[d->rd] = fclass_bits(a >> 63, e == 2047 && !m, nan_d(a), snan_d(a), !e && !m, !e && m);
    break;
  }
  case OP_FMV_X_D: x[d->rd] = c->f[d->rs1]; break;
  case OP_FMV_D_X: set_d(c, d->rd, x[d->rs1]); break;
  case OP_FCVT_W_D: case OP_FCVT_WU_D: case OP_FCVT_L_D: case OP_FCVT_LU_D:
    x[d->rd] = to_int(f64(c->f[d->rs1]), rm, op - OP_FCVT_W_D, &fl);
    break;
  case OP_FCVT_D_W: set_d(c, d->rd, cvt_int_d((int32_t)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_D_WU: set_d(c, d->rd, cvt_int_d((uint32_t)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_D_L: set_d(c, d->rd, cvt_int_d((int64_t)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_D_LU: set_d(c, d->rd, cvt_int_d((__int128)x[d->rs1], rm, &fl)); break;
  case OP_FCVT_S_D: {
    volatile double a = f64(c->f[d->rs1]);
    volatile float r;
    fe_begin(rm);
    r = (float)a;
    fl = fe_end(rm);
    float v = r;
    if (rm == RM_RMM && isfinite(v)) v = rmm_s(v, a - (double)v);
    set_s(c, d->rd, isnan(v) ? CNAN_S : b32(v));
    break;
  }
  case OP_FCVT_D_S: {
    uint32_t a = get_s(c, d->rs1);
    if (snan_s(a)) fl |= FL_NV;
    set_d(c, d->rd, nan_s(a) ? CNAN_D : b64((double)f32(a)));
    break;
  }
  default:
    return -1;
  }
  x[32] = 0;
  if (fl) {
    c->fflags |= fl;
    c->mstatus |= MS_FS;
  }
  return 0;
}
