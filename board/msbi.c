/* msbi: lemu's built-in SBI, for booting an S-mode kernel with no firmware: SBI v2.0 with the
 * BASE, TIME, IPI, RFENCE, HSM, SRST and DBCN extensions and the legacy calls. The machine enters
 * the kernel in S-mode with the M-mode state OpenSBI would leave behind (delegations, counters,
 * an open PMP), and ECALLs from S-mode arrive here through cpu_hooks.sbi. */
#include "machine_int.h"

#include <string.h>

enum {
  EXT_BASE = 0x10, EXT_TIME = 0x54494d45, EXT_IPI = 0x735049, EXT_RFENCE = 0x52464e43,
  EXT_HSM = 0x48534d, EXT_SRST = 0x53525354, EXT_DBCN = 0x4442434e,
};
enum { SBI_OK = 0, ERR_FAILED = -1, ERR_NOT_SUPPORTED = -2, ERR_INVALID_PARAM = -3,
       ERR_INVALID_ADDRESS = -5, ERR_ALREADY_STARTED = -7, ERR_ALREADY_STOPPED = -8 };
enum { CSR_MSTATUS = 0x300, CSR_MEDELEG = 0x302, CSR_MIDELEG = 0x303, CSR_MIE = 0x304,
       CSR_MCOUNTEREN = 0x306, CSR_SCOUNTEREN = 0x106, CSR_SATP = 0x180,
       CSR_PMPCFG0 = 0x3a0, CSR_PMPADDR0 = 0x3b0, CSR_MENVCFG = 0x30a };

#define SBI_IMPL_ID 0x4c454d55   /* "LEMU": not a registered implementation id */

void msbi_enter_smode(machine *m, int hart, uint64_t pc, uint64_t a1) {
  cpu *c = m->harts[hart].c;
  cpu_reset(c, pc);
  /* OpenSBI delegates fewer exceptions and redirects the rest to S-mode from its own handler;
   * with no M-mode software here, every exception but the S-mode ecall (our SBI calls) goes
   * straight to the supervisor: illegal instructions, misaligned and access faults included. */
  cpu_set_csr(c, CSR_MEDELEG, 0x1ffu | (1u << 12) | (1u << 13) | (1u << 15));
  cpu_set_csr(c, CSR_MIDELEG, CPU_IRQ_SSIP | CPU_IRQ_STIP | CPU_IRQ_SEIP);
  cpu_set_csr(c, CSR_MCOUNTEREN, 0xffffffff);
  /* As OpenSBI: user mode may read cycle, time and instret (the vDSO's clock_gettime uses
   * rdtime), the other counters stay the supervisor's to grant. */
  cpu_set_csr(c, CSR_SCOUNTEREN, 7);
  /* As OpenSBI on a hart with Sstc: the supervisor programs stimecmp itself. */
  cpu_set_csr(c, CSR_MENVCFG, 1ull << 63);
  /* One PMP entry granting everything (NAPOT over the whole address space). */
  cpu_set_csr(c, CSR_PMPADDR0, ~0ull >> 10);
  cpu_set_csr(c, CSR_PMPCFG0, 0x1f);
  cpu_set_csr(c, CSR_SATP, 0);
  cpu_set_x(c, 10, (uint64_t)hart);
  cpu_set_x(c, 11, a1);
  cpu_set_priv(c, 1);
  m->harts[hart].run = HART_RUN;
}

static void ret(cpu *c, int64_t err, uint64_t val) {
  cpu_set_x(c, 10, (uint64_t)err);
  cpu_set_x(c, 11, val);
}

/* Harts named by (mask, base); base -1 means all. Returns a bitmap or -1 for a bad id. */
static int64_t targets(machine *m, uint64_t mask, uint64_t base, uint64_t *out) {
  if (base == (uint64_t)-1) {
    *out = m->nharts == 64 ? ~0ull : (1ull << m->nharts) - 1;
    return 0;
  }
  *out = 0;
  for (int i = 0; i < 64; i++) {
    if (!(mask >> i & 1)) continue;
    uint64_t h = base + (uint64_t)i;
    if (h >= (uint64_t)m->nharts) return -1;
    *out |= 1ull << h;
  }
  return 0;
}

/* The comparator drives STIP through the CLINT's own level tracking: clearing STIP here behind
 * its back would lose the interrupt of a deadline that is already due (the CLINT still sees its
 * line high and reports no change), leaving the hart asleep in WFI. */
static void set_timer(machine *m, cpu *c, uint64_t when) {
  clint_set_mtimecmp(m->clint, cpu_hartid(c), when);
}

static void send_ipi(machine *m, uint64_t harts) {
  for (int i = 0; i < m->nharts; i++) {
    if (!(harts >> i & 1)) continue;
    cpu_set_soft_irq(m->harts[i].c, CPU_IRQ_SSIP, 1);
    machine_wake(m, i);
  }
}

/* Remote fences: rewriting a hart's satp with its own value flushes its TLB (cpu_set_csr does);
 * a remote FENCE.I also drops its decoded instructions. */
static void fence(machine *m, uint64_t harts, int code) {
  for (int i = 0; i < m->nharts; i++) {
    if (!(harts >> i & 1)) continue;
    uint64_t satp = 0;
    cpu_get_csr(m->harts[i].c, CSR_SATP, &satp);
    cpu_set_csr(m->harts[i].c, CSR_SATP, satp);
    if (code) machine_invalidate_code(m, i);
  }
}

static int ext_present(uint64_t ext) {
  switch (ext) {
  case EXT_BASE: case EXT_TIME: case EXT_IPI: case EXT_RFENCE: case EXT_HSM: case EXT_SRST:
  case EXT_DBCN: case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x05: case 0x06:
  case 0x07: case 0x08:
    return 1;
  }
  return 0;
}

static int legacy(machine *m, cpu *c, uint64_t ext, uint64_t a0) {
  int64_t r = 0;
  uint64_t harts = 0;
  switch (ext) {
  case 0x00: set_timer(m, c, a0); break;
  case 0x01: { uint8_t b = (uint8_t)a0; machine_out(m, &b, 1); break; }
  case 0x02: r = machine_getchar(m); break;
  case 0x03: cpu_set_soft_irq(c, CPU_IRQ_SSIP, 0); break;
  case 0x04: case 0x05: case 0x06: case 0x07: {
    /* a0 points to the hart mask in guest memory (a physical address here: satp may be on, but
     * Linux only uses the legacy calls before paging). */
    if (a0 == 0) harts = ~0ull;
    else if (bus_ram_read(m->bus, a0, &harts, 8) < 0) { r = ERR_INVALID_ADDRESS; break; }
    if (m->nharts < 64) harts &= (1ull << m->nharts) - 1;
    if (ext == 0x04) send_ipi(m, harts);
    else fence(m, harts, ext == 0x05);
    break;
  }
  case 0x08: machine_finish(m, 0); break;
  }
  cpu_set_x(c, 10, (uint64_t)r);
  return 1;
}

static int64_t hsm_status(machine *m, uint64_t h) {
  if (h >= (uint64_t)m->nharts) return ERR_INVALID_PARAM;
  return m->harts[h].run == HART_STOPPED ? 1 : 0;
}

int msbi_call(void *ud, cpu *c) {
  machine *m = ud;
  if (!m->builtin_sbi) return 0;
  uint64_t ext = cpu_get_x(c, 17), fid = cpu_get_x(c, 16);
  uint64_t a0 = cpu_get_x(c, 10), a1 = cpu_get_x(c, 11), a2 = cpu_get_x(c, 12);
  uint64_t harts;
  if (ext <= 0x08) return legacy(m, c, ext, a0);
  switch (ext) {
  case EXT_BASE:
    switch (fid) {
    case 0: ret(c, SBI_OK, 2u << 24); break;            /* v2.0 */
    case 1: ret(c, SBI_OK, SBI_IMPL_ID); break;
    case 2: ret(c, SBI_OK, 1); break;
    case 3: ret(c, SBI_OK, (uint64_t)ext_present(a0)); break;
    case 4: case 5: case 6: ret(c, SBI_OK, 0); break;  /* mvendorid, marchid, mimpid */
    default: ret(c, ERR_NOT_SUPPORTED, 0);
    }
    return 1;
  case EXT_TIME:
    if (fid == 0) { set_timer(m, c, a0); ret(c, SBI_OK, 0); }
    else ret(c, ERR_NOT_SUPPORTED, 0);
    return 1;
  case EXT_IPI:
    if (fid != 0) { ret(c, ERR_NOT_SUPPORTED, 0); return 1; }
    if (targets(m, a0, a1, &harts) < 0) { ret(c, ERR_INVALID_PARAM, 0); return 1; }
    send_ipi(m, harts);
    ret(c, SBI_OK, 0);
    return 1;
  case EXT_RFENCE:
    if (fid > 6) { ret(c, ERR_NOT_SUPPORTED, 0); return 1; }
    if (targets(m, a0, a1, &harts) < 0) { ret(c, ERR_INVALID_PARAM, 0); return 1; }
    fence(m, harts, fid == 0);
    ret(c, SBI_OK, 0);
    return 1;
  case EXT_HSM:
    switch (fid) {
    case 0:  /* hart_start(hartid, start_addr, opaque) */
      if (a0 >= (uint64_t)m->nharts) ret(c, ERR_INVALID_PARAM, 0);
      else if (m->harts[a0].run != HART_STOPPED) ret(c, ERR_ALREADY_STARTED, 0);
      else if (!bus_ram_ptr(m->bus, a1, 4)) ret(c, ERR_INVALID_ADDRESS, 0);
      else {
        msbi_enter_smode(m, (int)a0, a1, a2);
        machine_wake(m, (int)a0);
        ret(c, SBI_OK, 0);
      }
      return 1;
    case 1: {  /* hart_stop: this hart parks until hart_start */
      int h = cpu_hartid(c);
      m->harts[h].run = HART_STOPPED;
      cpu_halt(c);
      ret(c, SBI_OK, 0);
      return 1;
    }
    case 2: {
      int64_t s = hsm_status(m, a0);
      if (s < 0) ret(c, s, 0); else ret(c, SBI_OK, (uint64_t)s);
      return 1;
    }
    default: ret(c, ERR_NOT_SUPPORTED, 0); return 1;
    }
  case EXT_SRST:
    if (fid != 0 || a0 > 2) { ret(c, ERR_INVALID_PARAM, 0); return 1; }
    if (a0 == 0) machine_finish(m, a1 == 1 ? 1 : 0);   /* shutdown; reason 1 = system failure */
    else machine_request_reset(m);
    ret(c, SBI_OK, 0);
    return 1;
  case EXT_DBCN:
    if (fid == 0 || fid == 1) {  /* write / read (num_bytes, base_lo, base_hi) */
      uint8_t *p = a2 ? NULL : bus_ram_ptr(m->bus, a1, a0);
      if (!p) { ret(c, ERR_INVALID_PARAM, 0); return 1; }
      if (fid == 0) { machine_out(m, p, a0); ret(c, SBI_OK, a0); return 1; }
      uint64_t n = 0;
      for (int ch; n < a0 && (ch = machine_getchar(m)) >= 0; n++) p[n] = (uint8_t)ch;
      ret(c, SBI_OK, n);
      return 1;
    }
    if (fid == 2) { uint8_t b = (uint8_t)a0; machine_out(m, &b, 1); ret(c, SBI_OK, 0); return 1; }
    ret(c, ERR_NOT_SUPPORTED, 0);
    return 1;
  }
  ret(c, ERR_NOT_SUPPORTED, 0);
  return 1;
}
