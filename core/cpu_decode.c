/* cpu_decode: turns an instruction word into a dinsn (op, registers, immediate) once, so the run
 * loop never re-parses encodings. Compressed instructions are expanded to their 32-bit equivalents
 * first and decoded by the same code. Anything not in RV64GC + Zba/Zbb/Zbc/Zbs decodes to
 * OP_ILLEGAL (the run loop re-reads the bits for mtval). */
#include "cpu_int.h"

static int32_t sext(uint32_t v, int bits) { return (int32_t)(v << (32 - bits)) >> (32 - bits); }

static int fp_dest(int op) {
  switch (op) {
  case OP_FLW: case OP_FLD:
  case OP_FMADD_S: case OP_FMSUB_S: case OP_FNMSUB_S: case OP_FNMADD_S: case OP_FADD_S:
  case OP_FSUB_S: case OP_FMUL_S: case OP_FDIV_S: case OP_FSQRT_S: case OP_FSGNJ_S:
  case OP_FSGNJN_S: case OP_FSGNJX_S: case OP_FMIN_S: case OP_FMAX_S: case OP_FCVT_S_W:
  case OP_FCVT_S_WU: case OP_FCVT_S_L: case OP_FCVT_S_LU: case OP_FMV_W_X:
  case OP_FMADD_D: case OP_FMSUB_D: case OP_FNMSUB_D: case OP_FNMADD_D: case OP_FADD_D:
  case OP_FSUB_D: case OP_FMUL_D: case OP_FDIV_D: case OP_FSQRT_D: case OP_FSGNJ_D:
  case OP_FSGNJN_D: case OP_FSGNJX_D: case OP_FMIN_D: case OP_FMAX_D: case OP_FCVT_D_W:
  case OP_FCVT_D_WU: case OP_FCVT_D_L: case OP_FCVT_D_LU: case OP_FMV_D_X: case OP_FCVT_S_D:
  case OP_FCVT_D_S:
    return 1;
  }
  return 0;
}

/* OP-FP (opcode 0x53): fmt in funct7 bits 0..1 (0 = S, 1 = D). */
static int decode_opfp(uint32_t i, int funct7, int rs2, int rm) {
  int fmt = funct7 & 3, dbl = fmt == 1;
  if (fmt > 1) return OP_ILLEGAL;
#define SD(s) (dbl ? OP_##s##_D : OP_##s##_S)
  switch (funct7 >> 2) {
  case 0x00: return SD(FADD);
  case 0x01: return SD(FSUB);
  case 0x02: return SD(FMUL);
  case 0x03: return SD(FDIV);
  case 0x0b: return rs2 == 0 ? SD(FSQRT) : OP_ILLEGAL;
  case 0x04:
    if (rm == 0) return SD(FSGNJ);
    if (rm == 1) return SD(FSGNJN);
    if (rm == 2) return SD(FSGNJX);
    return OP_ILLEGAL;
  case 0x05:
    if (rm == 0) return SD(FMIN);
    if (rm == 1) return SD(FMAX);
    return OP_ILLEGAL;
  case 0x08:    /* fcvt.s.d / fcvt.d.s */
    if (dbl && rs2 == 0) return OP_FCVT_D_S;
    if (!dbl && rs2 == 1) return OP_FCVT_S_D;
    return OP_ILLEGAL;
  case 0x14:
    if (rm == 0) return SD(FLE);
    if (rm == 1) return SD(FLT);
    if (rm == 2) return SD(FEQ);
    return OP_ILLEGAL;
  case 0x18:
    switch (rs2) {
    case 0: return SD(FCVT_W);
    case 1: return SD(FCVT_WU);
    case 2: return SD(FCVT_L);
    case 3: return SD(FCVT_LU);
    }
    return OP_ILLEGAL;
  case 0x1a:
    switch (rs2) {
    case 0: return dbl ? OP_FCVT_D_W : OP_FCVT_S_W;
    case 1: return dbl ? OP_FCVT_D_WU : OP_FCVT_S_WU;
    case 2: return dbl ? OP_FCVT_D_L : OP_FCVT_S_L;
    case 3: return dbl ? OP_FCVT_D_LU : OP_FCVT_S_LU;
    }
    return OP_ILLEGAL;
  case 0x1c:
    if (rs2 != 0) return OP_ILLEGAL;
    if (rm == 0) return dbl ? OP_FMV_X_D : OP_FMV_X_W;
    if (rm == 1) return SD(FCLASS);
    return OP_ILLEGAL;
  case 0x1e:
    if (rs2 == 0 && rm == 0) return dbl ? OP_FMV_D_X : OP_FMV_W_X;
    return OP_ILLEGAL;
  }
  (void)i;
  return OP_ILLEGAL;
#undef SD
}

static int decode_amo(int funct5, int w, int rs2) {
  if (w) {
    switch (funct5) {
    case 0x02: return rs2 == 0 ? OP_LR_W : OP_ILLEGAL;
    case 0x03: return OP_SC_W;
    case 0x01: return OP_AMOSWAP_W;
    case 0x00: return OP_AMOADD_W;
    case 0x04: return OP_AMOXOR_W;
    case 0x0c: return OP_AMOAND_W;
    case 0x08: return OP_AMOOR_W;
    case 0x10: return OP_AMOMIN_W;
    case 0x14: return OP_AMOMAX_W;
    case 0x18: return OP_AMOMINU_W;
    case 0x1c: return OP_AMOMAXU_W;
    }
  } else {
    switch (funct5) {
    case 0x02: return rs2 == 0 ? OP_LR_D : OP_ILLEGAL;
    case 0x03: return OP_SC_D;
    case 0x01: return OP_AMOSWAP_D;
    case 0x00: return OP_AMOADD_D;
    case 0x04: return OP_AMOXOR_D;
    case 0x0c: return OP_AMOAND_D;
    case 0x08: return OP_AMOOR_D;
    case 0x10: return OP_AMOMIN_D;
    case 0x14: return OP_AMOMAX_D;
    case 0x18: return OP_AMOMINU_D;
    case 0x1c: return OP_AMOMAXU_D;
    }
  }
  return OP_ILLEGAL;
}

void cpu_decode(uint32_t i, dinsn *d) {
  int opc = i & 0x7f, rd = (i >> 7) & 31, f3 = (i >> 12) & 7, rs1 = (i >> 15) & 31,
      rs2 = (i >> 20) & 31, f7 = i >> 25;
  int32_t immi = (int32_t)i >> 20;
  int32_t imms = sext(((i >> 25) << 5) | rd, 12);
  int32_t immb = sext(((i >> 31) << 12) | (((i >> 7) & 1) << 11) | (((i >> 25) & 0x3f) << 5) |
                      (((i >> 8) & 0xf) << 1), 13);
  int32_t immj = sext(((i >> 31) << 20) | (((i >> 12) & 0xff) << 12) | (((i >> 20) & 1) << 11) |
                      (((i >> 21) & 0x3ff) << 1), 21);
  int op = OP_ILLEGAL;
  int32_t imm = 0;
  switch (opc) {
  case 0x37: op = OP_LUI; imm = (int32_t)(i & 0xfffff000); break;
  case 0x17: op = OP_AUIPC; imm = (int32_t)(i & 0xfffff000); break;
  case 0x6f: op = OP_JAL; imm = immj; break;
  case 0x67: if (f3 == 0) { op = OP_JALR; imm = immi; } break;
  case 0x63: {
    static const int b[8] = {OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL, OP_BLT, OP_BGE, OP_BLTU,
                             OP_BGEU};
    op = b[f3]; imm = immb; break;
  }
  case 0x03: {
    static const int l[8] = {OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL};
    op = l[f3]; imm = immi; break;
  }
  case 0x23: {
    static const int s[8] = {OP_SB, OP_SH, OP_SW, OP_SD, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL,
                             OP_ILLEGAL};
    op = s[f3]; imm = imms; break;
  }
  case 0x13:
    imm = immi;
    switch (f3) {
    case 0: op = OP_ADDI; break;
    case 2: op = OP_SLTI; break;
    case 3: op = OP_SLTIU; break;
    case 4: op = OP_XORI; break;
    case 6: op = OP_ORI; break;
    case 7: op = OP_ANDI; break;
    case 1:
      switch (i >> 26) {   /* imm[11:6]; shamt in imm[5:0] */
      case 0x00: op = OP_SLLI; break;
      case 0x0a: op = OP_BSETI; break;
      case 0x12: op = OP_BCLRI; break;
      case 0x1a: op = OP_BINVI; break;
      case 0x18:   /* Zbb unary ops, selected by the rs2 field */
        if (f7 == 0x30 && rs2 <= 5) {
          static const int u[6] = {OP_CLZ, OP_CTZ, OP_CPOP, OP_ILLEGAL, OP_SEXT_B, OP_SEXT_H};
          op = u[rs2];
        }
        break;
      }
      imm = (i >> 20) & 63;
      break;
    case 5:
      if ((i >> 20) == 0x287) op = OP_ORC_B;
      else if ((i >> 20) == 0x6b8) op = OP_REV8;   /* RV64's encoding (shamt 56) */
      else if ((i >> 26) == 0) op = OP_SRLI;
      else if ((i >> 26) == 0x10) op = OP_SRAI;
      else if ((i >> 26) == 0x12) op = OP_BEXTI;
      else if ((i >> 26) == 0x18) op = OP_RORI;
      imm = (i >> 20) & 63;
      break;
    }
    break;
  case 0x1b:
    imm = immi;
    switch (f3) {
    case 0: op = OP_ADDIW; break;
    case 1:
      if (f7 == 0) { op = OP_SLLIW; imm = rs2; }
      else if ((i >> 26) == 0x02) { op = OP_SLLI_UW; imm = (i >> 20) & 63; }
      else if (f7 == 0x30 && rs2 <= 2) op = rs2 == 0 ? OP_CLZW : rs2 == 1 ? OP_CTZW : OP_CPOPW;
      break;
    case 5:
      if (f7 == 0) { op = OP_SRLIW; imm = rs2; }
      else if (f7 == 0x20) { op = OP_SRAIW; imm = rs2; }
      else if (f7 == 0x30) { op = OP_RORIW; imm = rs2; }
      break;
    }
    break;
  case 0x33:
    if (f7 == 0) {
      static const int o[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND};
      op = o[f3];
    } else if (f7 == 0x20) {
      static const int o[8] = {OP_SUB, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_XNOR, OP_SRA,
                               OP_ORN, OP_ANDN};
      op = o[f3];
    } else if (f7 == 1) {
      static const int m[8] = {OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM,
                               OP_REMU};
      op = m[f3];
    } else if (f7 == 0x05) {
      static const int m[8] = {OP_ILLEGAL, OP_CLMUL, OP_CLMULR, OP_CLMULH, OP_MIN, OP_MINU,
                               OP_MAX, OP_MAXU};
      op = m[f3];
    } else if (f7 == 0x10) {
      if (f3 == 2) op = OP_SH1ADD;
      else if (f3 == 4) op = OP_SH2ADD;
      else if (f3 == 6) op = OP_SH3ADD;
    } else if (f7 == 0x30) {
      if (f3 == 1) op = OP_ROL;
      else if (f3 == 5) op = OP_ROR;
    } else if (f7 == 0x24) {
      if (f3 == 1) op = OP_BCLR;
      else if (f3 == 5) op = OP_BEXT;
    } else if (f7 == 0x34 && f3 == 1) {
      op = OP_BINV;
    } else if (f7 == 0x14 && f3 == 1) {
      op = OP_BSET;
    }
    break;
  case 0x3b:
    if (f7 == 0) {
      if (f3 == 0) op = OP_ADDW;
      else if (f3 == 1) op = OP_SLLW;
      else if (f3 == 5) op = OP_SRLW;
    } else if (f7 == 0x20) {
      if (f3 == 0) op = OP_SUBW;
      else if (f3 == 5) op = OP_SRAW;
    } else if (f7 == 1) {
      static const int m[8] = {OP_MULW, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_DIVW, OP_DIVUW,
                               OP_REMW, OP_REMUW};
      op = m[f3];
    } else if (f7 == 0x04) {
      if (f3 == 0) op = OP_ADD_UW;
      else if (f3 == 4 && rs2 == 0) op = OP_ZEXT_H;   /* packw with x0; other rs2: Zbkb */
    } else if (f7 == 0x10) {
      if (f3 == 2) op = OP_SH1ADD_UW;
      else if (f3 == 4) op = OP_SH2ADD_UW;
      else if (f3 == 6) op = OP_SH3ADD_UW;
    } else if (f7 == 0x30) {
      if (f3 == 1) op = OP_ROLW;
      else if (f3 == 5) op = OP_RORW;
    }
    break;
  case 0x0f:
    if (f3 == 0) op = OP_FENCE;   /* also Zihintpause's pause (pred=W, succ=0): a no-op here */
    else if (f3 == 1) op = OP_FENCE_I;
    break;
  case 0x73:
    if (f3 == 0) {
      if (rd != 0) break;
      if (i == 0x00000073) op = OP_ECALL;
      else if (i == 0x00100073) op = OP_EBREAK;
      else if (i == 0x30200073) op = OP_MRET;
      else if (i == 0x10200073) op = OP_SRET;
      else if (i == 0x10500073) op = OP_WFI;
      else if (f7 == 0x09) op = OP_SFENCE_VMA;
    } else if (f3 != 4) {
      static const int c[8] = {0, OP_CSRRW, OP_CSRRS, OP_CSRRC, 0, OP_CSRRWI, OP_CSRRSI,
                               OP_CSRRCI};
      op = c[f3];
      imm = (i >> 20) & 0xfff;
    }
    break;
  case 0x2f:
    if (f3 == 2 || f3 == 3) op = decode_amo(i >> 27, f3 == 2, rs2);
    break;
  case 0x07:
    if (f3 == 2) op = OP_FLW;
    else if (f3 == 3) op = OP_FLD;
    imm = immi;
    break;
  case 0x27:
    if (f3 == 2) op = OP_FSW;
    else if (f3 == 3) op = OP_FSD;
    imm = imms;
    break;
  case 0x43: case 0x47: case 0x4b: case 0x4f: {
    int fmt = (i >> 25) & 3, k = (opc - 0x43) >> 2;
    static const int s[4] = {OP_FMADD_S, OP_FMSUB_S, OP_FNMSUB_S, OP_FNMADD_S};
    static const int dd[4] = {OP_FMADD_D, OP_FMSUB_D, OP_FNMSUB_D, OP_FNMADD_D};
    if (fmt == 0) op = s[k];
    else if (fmt == 1) op = dd[k];
    break;
  }
  case 0x53:
    op = decode_opfp(i, f7, rs2, f3);
    break;
  }
  d->op = op;
  d->rd = (rd == 0 && !fp_dest(op)) ? 32 : rd;
  d->rs1 = rs1;
  d->rs2 = rs2;
  d->imm = op >= OP_FP_FIRST ? (int32_t)(f3 | (i >> 27) << 8) : imm;
}

/* RVC expansion to the equivalent 32-bit encoding (RV64C: C.LD/C.SD/C.ADDIW, C.FLD/C.FSD). */
static uint32_t rtype(int f7, int rs2, int rs1, int f3, int rd, int opc) {
  return (uint32_t)f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}
static uint32_t itype(int32_t imm, int rs1, int f3, int rd, int opc) {
  return (uint32_t)(imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}
static uint32_t stype(int32_t imm, int rs2, int rs1, int f3, int opc) {
  return (uint32_t)((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
         (imm & 31) << 7 | opc;
}
static uint32_t btype(int32_t imm, int rs2, int rs1, int f3) {
  return (uint32_t)((imm >> 12) & 1) << 31 | ((imm >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 |
         f3 << 12 | ((imm >> 1) & 0xf) << 8 | ((imm >> 11) & 1) << 7 | 0x63;
}
static uint32_t jtype(int32_t imm, int rd) {
  return (uint32_t)((imm >> 20) & 1) << 31 | ((imm >> 1) & 0x3ff) << 21 | ((imm >> 11) & 1) << 20 |
         ((imm >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}
#define B(v, hi, lo) (((v) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))

uint32_t cpu_rvc_expand(uint16_t c) {
  int q = c & 3, f3 = c >> 13;
  int rd = B(c, 11, 7), rs2 = B(c, 6, 2), rdp = 8 + B(c, 4, 2), rs1p = 8 + B(c, 9, 7);
  switch (q << 3 | f3) {
  case 0x00: {   /* c.addi4spn */
    int32_t imm = B(c, 12, 11) << 4 | B(c, 10, 7) << 6 | B(c, 6, 6) << 2 | B(c, 5, 5) << 3;
    if (imm == 0) return 0;
    return itype(imm, 2, 0, rdp, 0x13);
  }
  case 0x01: {   /* c.fld */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 6, 5) << 6;
    return itype(imm, rs1p, 3, rdp, 0x07);
  }
  case 0x02: {   /* c.lw */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 6, 6) << 2 | B(c, 5, 5) << 6;
    return itype(imm, rs1p, 2, rdp, 0x03);
  }
  case 0x03: {   /* c.ld */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 6, 5) << 6;
    return itype(imm, rs1p, 3, rdp, 0x03);
  }
  case 0x05: {   /* c.fsd */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 6, 5) << 6;
    return stype(imm, rdp, rs1p, 3, 0x27);
  }
  case 0x06: {   /* c.sw */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 6, 6) << 2 | B(c, 5, 5) << 6;
    return stype(imm, rdp, rs1p, 2, 0x23);
  }
  case 0x07: {   /* c.sd */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 6, 5) << 6;
    return stype(imm, rdp, rs1p, 3, 0x23);
  }
  case 0x08: {   /* c.addi (c.nop) */
    int32_t imm = sext(B(c, 12, 12) << 5 | B(c, 6, 2), 6);
    return itype(imm, rd, 0, rd, 0x13);
  }
  case 0x09: {   /* c.addiw */
    int32_t imm = sext(B(c, 12, 12) << 5 | B(c, 6, 2), 6);
    if (rd == 0) return 0;
    return itype(imm, rd, 0, rd, 0x1b);
  }
  case 0x0a: {   /* c.li */
    int32_t imm = sext(B(c, 12, 12) << 5 | B(c, 6, 2), 6);
    return itype(imm, 0, 0, rd, 0x13);
  }
  case 0x0b:
    if (rd == 2) {   /* c.addi16sp */
      int32_t imm = sext(B(c, 12, 12) << 9 | B(c, 6, 6) << 4 | B(c, 5, 5) << 6 | B(c, 4, 3) << 7 |
                         B(c, 2, 2) << 5, 10);
      if (imm == 0) return 0;
      return itype(imm, 2, 0, 2, 0x13);
    } else {          /* c.lui */
      int32_t imm = sext(B(c, 12, 12) << 17 | B(c, 6, 2) << 12, 18);
      if (imm == 0) return 0;
      return (uint32_t)imm | rd << 7 | 0x37;
    }
  case 0x0c: {
    int f2 = B(c, 11, 10);
    int32_t imm = B(c, 12, 12) << 5 | B(c, 6, 2);
    switch (f2) {
    case 0: return itype(imm, rs1p, 5, rs1p, 0x13);                 /* c.srli */
    case 1: return itype(imm | 0x400, rs1p, 5, rs1p, 0x13);         /* c.srai */
    case 2: return itype(sext(imm, 6), rs1p, 7, rs1p, 0x13);        /* c.andi */
    }
    int f = B(c, 12, 12) << 2 | B(c, 6, 5);
    switch (f) {
    case 0: return rtype(0x20, rdp, rs1p, 0, rs1p, 0x33);   /* c.sub */
    case 1: return rtype(0, rdp, rs1p, 4, rs1p, 0x33);      /* c.xor */
    case 2: return rtype(0, rdp, rs1p, 6, rs1p, 0x33);      /* c.or */
    case 3: return rtype(0, rdp, rs1p, 7, rs1p, 0x33);      /* c.and */
    case 4: return rtype(0x20, rdp, rs1p, 0, rs1p, 0x3b);   /* c.subw */
    case 5: return rtype(0, rdp, rs1p, 0, rs1p, 0x3b);      /* c.addw */
    }
    return 0;
  }
  case 0x0d: {   /* c.j */
    int32_t imm = sext(B(c, 12, 12) << 11 | B(c, 11, 11) << 4 | B(c, 10, 9) << 8 |
                       B(c, 8, 8) << 10 | B(c, 7, 7) << 6 | B(c, 6, 6) << 7 | B(c, 5, 3) << 1 |
                       B(c, 2, 2) << 5, 12);
    return jtype(imm, 0);
  }
  case 0x0e: case 0x0f: {   /* c.beqz / c.bnez */
    int32_t imm = sext(B(c, 12, 12) << 8 | B(c, 11, 10) << 3 | B(c, 6, 5) << 6 | B(c, 4, 3) << 1 |
                       B(c, 2, 2) << 5, 9);
    return btype(imm, 0, rs1p, f3 == 6 ? 0 : 1);
  }
  case 0x10: {   /* c.slli */
    int32_t imm = B(c, 12, 12) << 5 | B(c, 6, 2);
    return itype(imm, rd, 1, rd, 0x13);
  }
  case 0x11: {   /* c.fldsp */
    int32_t imm = B(c, 12, 12) << 5 | B(c, 6, 5) << 3 | B(c, 4, 2) << 6;
    return itype(imm, 2, 3, rd, 0x07);
  }
  case 0x12: {   /* c.lwsp */
    int32_t imm = B(c, 12, 12) << 5 | B(c, 6, 4) << 2 | B(c, 3, 2) << 6;
    if (rd == 0) return 0;
    return itype(imm, 2, 2, rd, 0x03);
  }
  case 0x13: {   /* c.ldsp */
    int32_t imm = B(c, 12, 12) << 5 | B(c, 6, 5) << 3 | B(c, 4, 2) << 6;
    if (rd == 0) return 0;
    return itype(imm, 2, 3, rd, 0x03);
  }
  case 0x14:
    if (!B(c, 12, 12)) {
      if (rs2 == 0) return rd ? itype(0, rd, 0, 0, 0x67) : 0;   /* c.jr */
      return rtype(0, rs2, 0, 0, rd, 0x33);                    /* c.mv */
    }
    if (rs2 == 0) {
      if (rd == 0) return 0x00100073;                          /* c.ebreak */
      return itype(0, rd, 0, 1, 0x67);                         /* c.jalr */
    }
    return rtype(0, rs2, rd, 0, rd, 0x33);                     /* c.add */
  case 0x15: {   /* c.fsdsp */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 9, 7) << 6;
    return stype(imm, rs2, 2, 3, 0x27);
  }
  case 0x16: {   /* c.swsp */
    int32_t imm = B(c, 12, 9) << 2 | B(c, 8, 7) << 6;
    return stype(imm, rs2, 2, 2, 0x23);
  }
  case 0x17: {   /* c.sdsp */
    int32_t imm = B(c, 12, 10) << 3 | B(c, 9, 7) << 6;
    return stype(imm, rs2, 2, 3, 0x23);
  }
  }
  return 0;
}
