/* machine: the board — QEMU virt's (or spike's) memory map with its devices wired to the harts,
 * the reset ROM and boot protocol, and the execution of the harts on the loop. On the real clock
 * harts run in slices from a uv_idle handle while any of them can run; when all wait in WFI (or
 * are stopped) the idle handle stops and a uv timer is armed for the earliest device deadline, so
 * an idle guest costs no CPU. On the virtual clock the machine is a runner of the runtime's clock
 * (core/clock.h): it runs to the end of each quantum, its time the instructions its harts retired,
 * and jumps over idle time to its next deadline. Hooks into Lua run only between slices (or at
 * quantum boundaries), never inside cpu_run. */
#include "machine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "port.h"
#include "virtio_slot.h"

#define SLICE_NS   4000000ull   /* return to the loop at least this often (responsiveness) */
#define BUDGET     20000        /* instructions per hart per turn: interleaving for SMP guests */
/* A hart that spins on WFI with an interrupt it cannot take (firmware's HSM wait loop) is parked
 * after SPIN_NAP turns in a row, until an interrupt line rises for it or NAP_NS pass: an idle SMP
 * guest then costs about what an idle single hart does. */
#define SPIN_NAP   64
#define NAP_NS     2000000ull
#define CONSOLE_INPUT_MAX  (1u << 20)  /* console input bytes queued for the guest at most */
#define OPENSBI_FW_DYNAMIC "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

/* ---- time ---- */

/* The clock guest time is measured on: the host's, or this machine's place on the virtual clock,
 * counting the instructions the hart inside cpu_run has retired so far (a guest that reads time
 * in a loop sees it move). Outside its turn a machine stands at the runtime's time. */
static uint64_t host_now(const machine *m) {
  if (!m->virt) return uv_hrtime();
  if (m->vhart < 0) return clock_now(m->rt);
  uint64_t done = cpu_instret(m->harts[m->vhart].c) - m->vinstret0;
  return m->vt_hart0 + (done << clock_shift(m->rt));
}

static uint64_t guest_ns(const machine *m) {
  uint64_t now = m->state == MACHINE_PAUSED ? m->paused_at : host_now(m);
  return now - m->clock_base;
}

uint64_t machine_ticks(const machine *m) {
  return guest_ns(m) / (1000000000ull / CLINT_TIMEBASE_HZ);
}

static uint64_t hook_time(void *ud) { return machine_ticks(ud); }

/* Device timers: guest nanoseconds on the same clock as mtime. */
static uint64_t dclock_now(void *ud) {
  machine *m = ud;
  if (m->state == MACHINE_CREATED) return 0;
  return guest_ns(m);
}

static void on_timer(uv_timer_t *t);

/* A device armed a timer earlier than the others: if the harts sleep, the loop's timer may be set
 * for later, so poll now (poll_devices then sleeps until the new deadline). While paused, resuming
 * polls anyway. */
static void clock_kick(void *ud) {
  machine *m = ud;
  if (m->state != MACHINE_RUNNING || !m->handles_open || m->in_vrun) return;
  if (m->virt) clock_runner_wake(&m->runner);
  else uv_timer_start(&m->timer, on_timer, 0, 0);
}

dtimer_clock *machine_clock(machine *m) { return &m->clock; }

/* The RTC: the host's wall clock, or on the virtual clock its epoch plus guest time. */
static uint64_t wall_ns(void *ud) {
  machine *m = ud;
  return clock_wall_ns(m->rt, m->state == MACHINE_CREATED ? 0 : guest_ns(m));
}

/* ---- console ---- */

static void buf_add(outbuf *b, const uint8_t *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) return;  /* out of memory: console bytes are dropped, the guest runs on */
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void buf_take(outbuf *b, size_t n) {
  memmove(b->p, b->p + n, b->n - n);
  b->n -= n;
}

void machine_out(machine *m, const uint8_t *p, size_t n) { buf_add(&m->out, p, n); }

static void feed_uart(machine *m) {
  if (!m->uart || !m->in.n) return;
  size_t n = uart_rx(m->uart, m->in.p, m->in.n);
  if (n) buf_take(&m->in, n);
}

/* SBI's console getchar reads the UART as OpenSBI's would (so bytes are never split between the
 * UART and SBI); a board without a UART reads the input queue directly. */
int machine_getchar(machine *m) {
  if (m->uart) {
    feed_uart(m);
    if (!(uart_ops.read(m->uart, 5, 1) & 1)) return -1;
    return (int)uart_ops.read(m->uart, 0, 1);
  }
  if (!m->in.n) return -1;
  int c = m->in.p[0];
  buf_take(&m->in, 1);
  return c;
}

void machine_console_input(machine *m, const uint8_t *buf, size_t len) {
  /* Input a guest never reads (no UART on spike, a guest that ignores it) is bounded. */
  if (m->in.n + len > CONSOLE_INPUT_MAX) len = m->in.n < CONSOLE_INPUT_MAX ? CONSOLE_INPUT_MAX - m->in.n : 0;
  buf_add(&m->in, buf, len);
  feed_uart(m);
}

void machine_set_serial_fd(machine *m, int fd) { m->serial_fd = fd; }

static void flush_out(machine *m) {
  if (!m->out.n) return;
  if (m->serial_fd >= 0) {
    size_t off = 0;
    while (off < m->out.n) {
      ssize_t w = write(m->serial_fd, m->out.p + off, m->out.n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;  /* a closed terminal loses output; the machine runs on */
      off += (size_t)w;
    }
  }
  /* The hook may close the machine: hand it a copy-free view, then forget the bytes. */
  size_t n = m->out.n;
  m->out.n = 0;
  if (m->h.console) m->h.console(m->h.ud, m->out.p, n);
}

/* ---- device wiring ---- */

static void on_slice(uv_idle_t *h);

/* The harts may have work: run them soon (a slice, or the next quantum). */
static void schedule(machine *m) {
  /* Inside its own turn (perhaps on a worker thread) the turn's end decides: no libuv or clock
   * call from here. */
  if (m->in_vrun) return;
  if (m->virt) clock_runner_wake(&m->runner);
  else uv_idle_start(&m->idle, on_slice);
}

void machine_wake(machine *m, int hart) {
  if (hart < 0 || hart >= m->nharts) return;
  m->harts[hart].nap_until = 0;
  if (m->harts[hart].run == HART_WFI) m->harts[hart].run = HART_RUN;
  if (m->state == MACHINE_RUNNING && m->harts[hart].run == HART_RUN && m->vhart < 0) schedule(m);
}

static void set_irq(machine *m, int hart, uint32_t mask, int level) {
  cpu_set_irq(m->harts[hart].c, mask, level);
  if (level) machine_wake(m, hart);
}

static void on_msip(void *ud, int hart, int level) { set_irq(ud, hart, CPU_IRQ_MSIP, level); }
static void on_mtip(void *ud, int hart, int level) {
  machine *m = ud;
  /* With the built-in SBI the comparator is the supervisor's timer (SBI set_timer -> STIP). */
  set_irq(m, hart, m->builtin_sbi ? CPU_IRQ_STIP : CPU_IRQ_MTIP, level);
}
static void on_eip(void *ud, int ctx, int level) {
  set_irq(ud, ctx / 2, (ctx & 1) ? CPU_IRQ_SEIP : CPU_IRQ_MEIP, level);
}
static void on_uart_tx(void *ud, uint8_t b) { machine_out(ud, &b, 1); }
static void on_uart_irq(void *ud, int level) {
  machine *m = ud;
  plic_set_irq(m->plic, VIRT_UART0_IRQ, level);
}
static void on_uart_space(void *ud) { feed_uart(ud); }
static void on_rtc_irq(void *ud, int level) {
  machine *m = ud;
  plic_set_irq(m->plic, VIRT_RTC_IRQ, level);
}

static void halt_all(machine *m) {
  for (int i = 0; i < m->nharts; i++) cpu_halt(m->harts[i].c);
}

void machine_finish(machine *m, int status) {
  if (m->state == MACHINE_EXITED) return;
  m->state = MACHINE_EXITED;
  m->exit_status = status;
  m->halting = 1;
  halt_all(m);
  /* Outside a slice (machine_stop from Lua) nothing else would notice. */
  schedule(m);
}

void machine_request_reset(machine *m) {
  m->resetting = 1;
  halt_all(m);
}

static void on_test(void *ud, enum sifive_test_kind kind, int code) {
  machine *m = ud;
  if (kind == SIFIVE_TEST_RESET) machine_request_reset(m);
  else machine_finish(m, kind == SIFIVE_TEST_PASS ? 0 : code);
}

/* HTIF: the guest writes a command to tohost; lemu answers through fromhost. Exit (device 0,
 * command 0, odd payload), the write syscall (device 0, even payload: a pointer to the syscall's
 * arguments) and the console (device 1, command 1). */
static void poll_htif(machine *m) {
  uint8_t *p = m->tohost ? bus_ram_ptr(m->bus, m->tohost, 8) : NULL;
  if (!p) return;
  uint64_t v;
  memcpy(&v, p, 8);
  if (!v) return;
  uint64_t zero = 0, dev = v >> 56, cmd = (v >> 48) & 0xff, payload = v & 0xffffffffffffull;
  uint64_t reply = 0;
  memcpy(p, &zero, 8);
  if (dev == 0 && cmd == 0) {
    if (payload & 1) {
      /* The exit status is the code, kept non-zero when the code's low byte is 0. */
      uint64_t code = payload >> 1;
      machine_finish(m, code == 0 ? 0 : (code & 0xff) ? (int)(code & 0xff) : 1);
      return;
    }
    uint64_t a[4];
    if (bus_ram_read(m->bus, payload, a, sizeof a) == 0 && a[0] == 64 /* write */) {
      uint8_t *s = bus_ram_ptr(m->bus, a[2], a[3]);
      if (s && (a[1] == 1 || a[1] == 2)) machine_out(m, s, a[3]);
      uint64_t ret = s ? a[3] : (uint64_t)-14;
      bus_ram_write(m->bus, payload, &ret, 8);
    }
    reply = 1;
  } else if (dev == 1 && cmd == 1) {
    uint8_t c = (uint8_t)payload;
    machine_out(m, &c, 1);
    reply = (1ull << 56) | (1ull << 48);
  } else {
    return;  /* reads from the console (dev 1 cmd 0) stay unanswered: no input over HTIF */
  }
  if (m->fromhost) bus_ram_write(m->bus, m->fromhost, &reply, 8);
}

/* Device deadlines; wakes harts whose interrupts are due. Returns the next deadline in ns from now
 * (UINT64_MAX: none). */
/* Nanoseconds from now until timebase tick t (0 if it has passed). */
static uint64_t ns_until_tick(const machine *m, uint64_t t) {
  uint64_t now = machine_ticks(m);
  return t > now ? (t - now) * (1000000000ull / CLINT_TIMEBASE_HZ) : 0;
}

static uint64_t poll_devices(machine *m) {
  uint64_t next = UINT64_MAX;
  uint64_t t = clint_update(m->clint);
  if (t != UINT64_MAX) next = ns_until_tick(m, t);
  uint64_t ns = host_now(m);
  for (int i = 0; i < m->nharts; i++) {
    hart *x = &m->harts[i];
    uint64_t s = cpu_timer_poll(x->c);
    if (s != UINT64_MAX) {
      uint64_t d = ns_until_tick(m, s);
      if (d < next) next = d;
    }
    /* A parked spinner runs again when its nap is over; its pending interrupt is the one it
     * spins over, so that does not wake it. Any other waiting hart wakes on the level of an
     * enabled pending interrupt, not on an edge (a comparator's edge seen by anyone else must
     * not be lost). */
    if (x->nap_until) {
      if (ns >= x->nap_until) machine_wake(m, i);
      else if (x->nap_until - ns < next) next = x->nap_until - ns;
    } else if (x->run == HART_WFI && cpu_irq_pending(x->c)) {
      machine_wake(m, i);
    }
  }
  if (m->rtc) {
    uint64_t a = goldfish_rtc_update(m->rtc), w = wall_ns(m);
    if (a != UINT64_MAX) {
      uint64_t d = a > w ? a - w : 0;
      if (d < next) next = d;
    }
  }
  uint64_t d = dtimer_run(&m->clock);
  if (d < next) next = d;
  poll_htif(m);
  return next;
}

/* ---- execution ---- */

/* Whether hart i, waiting, can ever run again on its own: a timer armed for it, or an interrupt
 * enabled that a device could raise. Interrupts only other harts can send don't count here (the
 * caller asks this of every hart). A parked spinner counts as live: it may be polling a clock. */
static int hart_can_wake(machine *m, int i, char *why, size_t n) {
  hart *x = &m->harts[i];
  if (x->run == HART_RUN || x->nap_until) return 1;
  uint64_t pc = cpu_get_pc(x->c), mie = 0;
  if (x->run == HART_STOPPED) {
    snprintf(why, n, "hart %d is stopped (SBI HSM) at pc 0x%llx", i, (unsigned long long)pc);
    return 0;
  }
  if (cpu_irq_pending(x->c)) return 1;         /* it wakes at the next slice */
  cpu_get_csr(x->c, 0x304, &mie);
  int timer = clint_get_mtimecmp(m->clint, i) != UINT64_MAX || cpu_timer_next(x->c) != UINT64_MAX;
  if ((mie & (CPU_IRQ_MTIP | CPU_IRQ_STIP)) && timer) return 1;
  if ((mie & CPU_IRQ_MEIP) && m->plic && plic_ctx_open(m->plic, 2 * i)) return 1;
  if ((mie & CPU_IRQ_SEIP) && m->plic && plic_ctx_open(m->plic, 2 * i + 1)) return 1;
  static const char *const privs[] = {"U", "S", "?", "M"};
  snprintf(why, n, "hart %d waits in WFI at pc 0x%llx (%s-mode) with mie 0x%llx: %s", i,
           (unsigned long long)pc, privs[cpu_get_priv(x->c) & 3], (unsigned long long)mie,
           !mie ? "no interrupt enabled"
                : "no timer armed and no interrupt source enabled that a device could raise");
  return 0;
}

/* Every hart waits for something nothing can deliver: without this the loop would run out of
 * work and a broken guest would end in success. The machine exits with status 1, saying why. */
static int stalled(machine *m) {
  char why[sizeof m->stall - 32];   /* room for the prefix and suffix below */
  for (int i = 0; i < m->nharts; i++)
    if (hart_can_wake(m, i, why, sizeof why)) return 0;
  snprintf(m->stall, sizeof m->stall, "stalled: %s%s", why, m->nharts > 1 ? " (every hart)" : "");
  log_error("machine", "%s", m->stall);
  machine_finish(m, 1);
  return 1;
}

/* The end of a turn, on the loop thread: console output to its hooks, a reset asked for, and the
 * exit, told once. Returns 1 when the machine has nothing more to run (closing, or halted). */
static int end_turn(machine *m) {
  flush_out(m);
  if (m->obj.closing) return 1;
  if (m->resetting) {
    char err[512];
    m->resetting = 0;
    if (machine_reset(m, err, sizeof err) < 0) {
      log_error("machine", "reset failed: %s", err);
      machine_finish(m, 1);
    }
  }
  if (!m->halting) return 0;
  m->halting = 0;
  if (!m->virt) {
    uv_idle_stop(&m->idle);
    uv_timer_stop(&m->timer);
  }
  if (!m->exit_notified) {
    m->exit_notified = 1;
    if (m->h.exit) m->h.exit(m->h.ud, m->exit_status);
  }
  return 1;
}

static void after_slice(machine *m) {
  if (end_turn(m)) return;
  if (m->state != MACHINE_RUNNING) return;
  int runnable = 0;
  for (int i = 0; i < m->nharts; i++) runnable |= m->harts[i].run == HART_RUN;
  if (runnable) return;
  /* Everyone waits: sleep until the next deadline or a device interrupt. */
  uv_idle_stop(&m->idle);
  uint64_t next = poll_devices(m);
  for (int i = 0; i < m->nharts; i++) runnable |= m->harts[i].run == HART_RUN;
  if (runnable) { uv_idle_start(&m->idle, on_slice); return; }
  if (stalled(m)) return;
  if (next == UINT64_MAX) uv_timer_stop(&m->timer);
  else uv_timer_start(&m->timer, on_timer, (next + 999999) / 1000000, 0);
}

/* The harts' part of a slice on the real clock: rounds until SLICE_NS of host time pass or no
 * hart runs. Touches only the machine (it may run on a worker: see rbatch below). */
static void slice_body(machine *m) {
  uint64_t limit = uv_hrtime() + SLICE_NS;
  for (;;) {
    int ran = 0;
    for (int i = 0; i < m->nharts && !m->halting && !m->resetting; i++) {
      hart *x = &m->harts[i];
      if (x->run != HART_RUN) continue;
      uint64_t n = 0;
      enum cpu_stop r = cpu_run(x->c, BUDGET, &n);
      ran = 1;
      if (r == CPU_WFI && x->run == HART_RUN) x->run = HART_WFI;
      if (r != CPU_YIELD) x->spins = 0;
      else if (++x->spins >= SPIN_NAP && x->run == HART_RUN) {
        x->run = HART_WFI;
        x->nap_until = host_now(m) + NAP_NS;
      }
    }
    poll_devices(m);
    if (!ran || m->halting || m->resetting || uv_hrtime() >= limit) break;
  }
}

/* With workers on the real clock (-workers N > 1), every machine whose slice is due in this loop
 * iteration joins the clock's batch, which runs the slices in parallel and then, on the loop
 * thread, delivers their frames and calls after_slice for each. */
static uint64_t rbatch_run(clock_runner *r, uint64_t from, uint64_t until) {
  (void)from; (void)until;
  machine *m = r->ud;
  m->in_vrun = 1;
  slice_body(m);
  m->in_vrun = 0;
  return 0;
}

static void rbatch_after(clock_runner *r) { after_slice(r->ud); }

static const clock_runner_ops rbatch_ops = {rbatch_run, rbatch_after};

static void on_slice(uv_idle_t *h) {
  machine *m = h->data;
  if (m->state != MACHINE_RUNNING || m->halting || m->resetting) { after_slice(m); return; }
  if (clock_batch_add(m->rt, &m->rrunner, &rbatch_ops, m)) return;
  /* Frames the devices send reach the VLANs (Lua endpoints, other machines) after the slice. */
  net_hold();
  slice_body(m);
  net_release();
  after_slice(m);
}

static void on_timer(uv_timer_t *t) {
  machine *m = t->data;
  if (m->state != MACHINE_RUNNING) return;
  poll_devices(m);
  after_slice(m);
}

/* ---- on the virtual clock ---- */

/* One turn of the harts, round-robin from m->rr, sharing `left` instructions; time advances by
 * every instruction any hart retires, as QEMU's round-robin icount does, so it is the same on
 * every hart and never steps back. */
static void vround(machine *m, uint64_t left) {
  int shift = clock_shift(m->rt);
  for (int k = 0; k < m->nharts && left && !m->halting && !m->resetting; k++) {
    int i = (m->rr + k) % m->nharts;
    hart *x = &m->harts[i];
    if (x->run != HART_RUN) continue;
    m->vhart = i;
    m->vt_hart0 = m->vt;
    m->vinstret0 = cpu_instret(x->c);
    uint64_t n = 0;
    enum cpu_stop r = cpu_run(x->c, left < BUDGET ? left : BUDGET, &n);
    m->vhart = -1;
    if (!n) n = 1;   /* time passes even for a hart that stopped at once */
    m->vt += n << shift;
    left = n < left ? left - n : 0;
    clock_running_at(m->rt, m->vt);
    if (r == CPU_WFI && x->run == HART_RUN) x->run = HART_WFI;
    if (r != CPU_YIELD) x->spins = 0;
    else if (++x->spins >= SPIN_NAP && x->run == HART_RUN) {
      x->run = HART_WFI;
      x->nap_until = m->vt + NAP_NS;
    }
  }
  m->rr = (m->rr + 1) % m->nharts;
}

static uint64_t vrun_body(machine *m, uint64_t from, uint64_t until);

/* A quantum of this machine, on whichever thread the clock gives it: it touches only the machine,
 * its devices and its thread's netstack hold. */
static uint64_t vrun(clock_runner *r, uint64_t from, uint64_t until) {
  machine *m = r->ud;
  m->in_vrun = 1;
  uint64_t due = vrun_body(m, from, until);
  m->in_vrun = 0;
  return due;
}

static uint64_t vrun_body(machine *m, uint64_t from, uint64_t until) {
  if (m->vt < from) m->vt = from;
  clock_running_at(m->rt, m->vt);
  if (m->state != MACHINE_RUNNING || m->halting || m->resetting || m->obj.closing) {
    m->vt = until;
    return m->halting || m->resetting ? until : UINT64_MAX;
  }
  int shift = clock_shift(m->rt);
  for (;;) {
    uint64_t d = poll_devices(m);
    int runnable = 0;
    for (int i = 0; i < m->nharts; i++) runnable |= m->harts[i].run == HART_RUN;
    if (m->halting || m->resetting) return m->vt;
    if (!runnable) {
      if (stalled(m)) return m->vt;
      uint64_t due = d == UINT64_MAX ? UINT64_MAX : m->vt + d;
      if (due > until) {
        m->vt = until;
        return due;
      }
      m->vt = due;   /* sleep to the deadline inside this quantum */
      clock_running_at(m->rt, m->vt);
      continue;
    }
    if (m->vt >= until) return m->vt;
    /* Up to the quantum's end, and no further than the next deadline, so timers are on time. */
    uint64_t left = (until - m->vt) >> shift;
    if (d != UINT64_MAX && (d >> shift) < left) left = d >> shift;
    vround(m, left ? left : 1);
    if (m->halting || m->resetting) return m->vt;
  }
}

/* After the quantum's frames are delivered: console output to its hooks, resets, the exit. */
static void vboundary(clock_runner *r) {
  machine *m = r->ud;
  if (m->state != MACHINE_CREATED) end_turn(m);
}

static const clock_runner_ops vrunner_ops = {vrun, vboundary};

int machine_start(machine *m) {
  if (m->state != MACHINE_CREATED) return -1;
  m->state = MACHINE_RUNNING;
  m->virt = clock_virtual(m->rt);
  m->clock_base = host_now(m);
  if (m->virt) {
    m->vt = m->clock_base;
    clock_runner_add(m->rt, &m->runner, &vrunner_ops, m);
  }
  schedule(m);
  return 0;
}

void machine_pause(machine *m) {
  if (m->state != MACHINE_RUNNING) return;
  m->paused_at = host_now(m);
  m->state = MACHINE_PAUSED;
  uv_idle_stop(&m->idle);
  uv_timer_stop(&m->timer);
}

void machine_resume(machine *m) {
  if (m->state != MACHINE_PAUSED) return;
  m->clock_base += host_now(m) - m->paused_at;  /* guest time stood still while paused */
  m->state = MACHINE_RUNNING;
  schedule(m);
}

void machine_stop(machine *m, int status) { machine_finish(m, status); }

enum machine_state machine_state(const machine *m) { return m->state; }
const char *machine_stall_reason(const machine *m) { return m->stall[0] ? m->stall : NULL; }
int machine_exit_status(const machine *m) { return m->exit_status; }
const void *machine_dtb(const machine *m, size_t *len) { *len = m->fdt_len; return m->fdt; }
uint64_t machine_dtb_addr(const machine *m) { return m->fdt_addr; }
int machine_harts(const machine *m) { return m->nharts; }
const char *machine_type(const machine *m) { return m->spike ? "spike" : "virt"; }
const char *machine_accel(const machine *m) { return m->accel == CPU_ACCEL_JIT ? "jit" : "interp"; }

int machine_hart_state(const machine *m, int hart, uint64_t *pc, int *priv) {
  if (hart < 0 || hart >= m->nharts) return -1;
  *pc = cpu_get_pc(m->harts[hart].c);
  *priv = cpu_get_priv(m->harts[hart].c);
  return (int)m->harts[hart].run;
}

uint64_t machine_instret(const machine *m) {
  uint64_t n = 0;
  for (int i = 0; i < m->nharts; i++) n += cpu_instret(m->harts[i].c);
  return n;
}

uint64_t machine_hart_instret(const machine *m, int hart) {
  return hart >= 0 && hart < m->nharts ? cpu_instret(m->harts[hart].c) : 0;
}

/* ---- what device layers plug in ---- */

static uint64_t slot_read(void *dev, uint64_t off, int size) {
  vslot *v = dev;
  return v->ops->read(v->dev, off, size);
}

static void slot_write(void *dev, uint64_t off, uint64_t val, int size) {
  vslot *v = dev;
  v->ops->write(v->dev, off, val, size);
}

static const bus_dev_ops slot_ops = {slot_read, slot_write};

bus *machine_bus(machine *m) { return m->bus; }

int machine_set_irq_line(machine *m, int source, int level) {
  if (!m->plic || source < 1 || source > PLIC_SOURCES) return -1;
  plic_set_irq(m->plic, source, level);
  return 0;
}

int machine_virtio_slot(machine *m, int slot, const bus_dev_ops *ops, void *dev) {
  if (m->spike || slot < 0 || slot >= VIRTIO_SLOTS) return -1;
  m->slots[slot].ops = ops ? ops : &virtio_slot_ops;
  m->slots[slot].dev = ops ? dev : NULL;
  return 0;
}

/* ---- building and booting ---- */

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* The reset vector QEMU's virt board has at 0x1000: a0 = mhartid, a1 = the device tree, a2 = the
 * fw_dynamic_info that follows, then a jump to the firmware (or, with -bios none, the kernel). */
static void write_rom(machine *m, uint64_t start) {
  uint8_t rom[88] = {0};
  static const uint32_t code[] = {
    0x00000297,  /* auipc t0, 0 */
    0x02828613,  /* addi  a2, t0, 40 (fw_dynamic_info) */
    0xf1402573,  /* csrr  a0, mhartid */
    0x0202b583,  /* ld    a1, 32(t0) (device tree) */
    0x0182b283,  /* ld    t0, 24(t0) (start address) */
    0x00028067,  /* jr    t0 */
  };
  for (int i = 0; i < 6; i++) put32(rom + 4 * i, code[i]);
  put64(rom + 24, start);
  put64(rom + 32, m->fdt_addr);
  /* OpenSBI's struct fw_dynamic_info, version 2. */
  put64(rom + 40, 0x4942534f);           /* magic "OSBI" */
  put64(rom + 48, 2);                    /* version */
  put64(rom + 56, m->kernel_entry);      /* next_addr */
  put64(rom + 64, 1);                    /* next_mode: S */
  put64(rom + 72, 0);                    /* options */
  put64(rom + 80, 0);                    /* boot_hart */
  bus_ram_write(m->bus, VIRT_MROM, rom, sizeof rom);
}

static int load_images(machine *m, char *err, size_t errlen) {
  uint64_t ram_end = VIRT_DRAM + m->cfg.ram_size;
  uint64_t fw_end = VIRT_DRAM;
  memset(&m->fw, 0, sizeof m->fw);
  memset(&m->kern, 0, sizeof m->kern);
  m->tohost = m->fromhost = 0;
  if (m->bios) {
    if (loader_load(m->bus, m->bios, VIRT_DRAM, VIRT_DRAM, m->cfg.ram_size, &m->fw, err, errlen) < 0)
      return machine_err_option("-bios", err, errlen);
    fw_end = m->fw.high;
    m->tohost = m->fw.tohost;
    m->fromhost = m->fw.fromhost;
  } else if (m->builtin_sbi) {
    /* The built-in SBI stands in for a firmware in the first 2 MiB: the S-mode kernel goes where
     * OpenSBI would start it (0x80200000), the address S-mode payloads for virt are linked at
     * (U-Boot's qemu-riscv64_smode). -bios none keeps QEMU's placement at 0x80000000. */
    fw_end = VIRT_DRAM + 0x200000;
  }
  m->kernel_entry = 0;
  if (m->kernel) {
    /* Like QEMU: a raw kernel goes to the first 2 MiB boundary after the firmware. */
    uint64_t at = (fw_end + 0x1fffff) & ~0x1fffffull;
    if (loader_load(m->bus, m->kernel, at, VIRT_DRAM, m->cfg.ram_size, &m->kern, err, errlen) < 0)
      return machine_err_option("-kernel", err, errlen);
    m->kernel_entry = m->kern.entry;
    if (m->kern.tohost) { m->tohost = m->kern.tohost; m->fromhost = m->kern.fromhost; }
  }
  m->initrd_start = m->initrd_end = 0;
  if (m->initrd) {
    if (!m->kernel) {
      snprintf(err, errlen, "-initrd %s: needs a -kernel", m->initrd);
      return -1;
    }
    /* QEMU's placement: half of RAM above the kernel, at most 128 MiB up. */
    uint64_t off = m->cfg.ram_size / 2 < (128ull << 20) ? m->cfg.ram_size / 2 : (128ull << 20);
    uint64_t start = m->kern.low + off, len;
    if (loader_load_raw(m->bus, m->initrd, start, VIRT_DRAM, ram_end - VIRT_DRAM, &len, err,
                        errlen) < 0)
      return machine_err_option("-initrd", err, errlen);
    m->initrd_start = start;
    m->initrd_end = start + len;
  }
  return 0;
}

void machine_invalidate_code(machine *m, int hart) {
  cpu_invalidate(m->harts[hart].c, VIRT_MROM, VIRT_MROM_SIZE);
  cpu_invalidate(m->harts[hart].c, VIRT_DRAM, m->cfg.ram_size);
}

static int boot(machine *m, char *err, size_t errlen) {
  if (load_images(m, err, errlen) < 0) return -1;
  if (mfdt_build(m, err, errlen) < 0) return -1;
  /* QEMU puts the device tree at the last 2 MiB boundary below the end of RAM (or 3 GiB). */
  uint64_t top = VIRT_DRAM + m->cfg.ram_size;
  if (top > VIRT_DRAM + (3ull << 30)) top = VIRT_DRAM + (3ull << 30);
  if (m->fdt_len > top - VIRT_DRAM) {
    snprintf(err, errlen, "the device tree (%zu bytes) does not fit in RAM", m->fdt_len);
    return -1;
  }
  m->fdt_addr = (top - m->fdt_len) & ~0x1fffffull;
  if (m->fdt_addr < VIRT_DRAM) m->fdt_addr = VIRT_DRAM;
  bus_ram_write(m->bus, m->fdt_addr, m->fdt, m->fdt_len);
  uint64_t start = m->bios ? m->fw.entry : m->kernel_entry;
  write_rom(m, start);
  for (int i = 0; i < m->nharts; i++) {
    machine_invalidate_code(m, i);
    cpu_reset(m->harts[i].c, VIRT_MROM);
    m->harts[i].run = HART_RUN;
    m->harts[i].spins = 0;
    m->harts[i].nap_until = 0;
  }
  if (m->builtin_sbi) {
    for (int i = 1; i < m->nharts; i++) m->harts[i].run = HART_STOPPED;  /* HSM starts them */
    msbi_enter_smode(m, 0, m->kernel_entry, m->fdt_addr);
  }
  return 0;
}

/* Like QEMU's system reset, RAM keeps its contents: only the images, the device tree and the ROM
 * are loaded again (a guest may count its reboots in memory). */
int machine_reset(machine *m, char *err, size_t errlen) {
  clint_reset(m->clint);
  if (m->plic) plic_reset(m->plic);
  if (m->uart) uart_reset(m->uart);
  if (m->rtc) goldfish_rtc_reset(m->rtc);
  mvirtio_reset(m);
  mpci_reset(m);
  for (int i = 0; i < m->nharts; i++) {
    static const uint32_t lines = CPU_IRQ_SSIP | CPU_IRQ_MSIP | CPU_IRQ_STIP | CPU_IRQ_MTIP |
                                  CPU_IRQ_SEIP | CPU_IRQ_MEIP;
    cpu_set_irq(m->harts[i].c, lines, 0);
  }
  free(m->fdt);
  m->fdt = NULL;
  if (boot(m, err, errlen) < 0) return -1;
  if (m->state == MACHINE_RUNNING) schedule(m);
  return 0;
}

static void free_parts(machine *m) {
  mvirtio_free(m);
  mpci_free(m);
  for (int i = 0; i < m->nharts; i++) if (m->harts[i].c) cpu_free(m->harts[i].c);
  clint_free(m->clint);
  plic_free(m->plic);
  uart_free(m->uart);
  goldfish_rtc_free(m->rtc);
  if (m->bus) bus_free(m->bus);
  free(m->out.p);
  free(m->in.p);
  free(m->fdt);
  free(m->bios);
  free(m->kernel);
  free(m->initrd);
  free(m->append);
  free(m->dtbfile);
  free(m->type);
  free(m);
}

static void handle_closed(uv_handle_t *h) {
  machine *m = h->data;
  if (--m->handles_open == 0) {
    rt_obj_del(&m->obj);
    machine_hooks h = m->h;
    free_parts(m);
    if (h.closed) h.closed(h.ud);
  }
}

static void obj_close(rt_obj *o) {
  machine *m = (machine *)o;
  clock_runner_remove(&m->runner);
  clock_batch_remove(&m->rrunner);
  uv_close((uv_handle_t *)&m->idle, handle_closed);
  uv_close((uv_handle_t *)&m->timer, handle_closed);
}

static const rt_objtype machine_type_ = {"machine", obj_close};

void machine_close(machine *m) { rt_obj_close(&m->obj); }

static char *sdup(const char *s) { return s ? strdup(s) : NULL; }

int machine_err_option(const char *opt, char *err, size_t errlen) {
  char why[1024];
  snprintf(why, sizeof why, "%s", err);
  snprintf(err, errlen, "%s %s", opt, why);
  return -1;
}

static int check_file(const char *opt, const char *path, char *err, size_t errlen) {
  if (access(path, R_OK) == 0) return 0;
  snprintf(err, errlen, "%s %s: %s", opt, path, strerror(errno));
  return -1;
}

machine *machine_new(lemu_rt *rt, const machine_config *cfg, const machine_hooks *h, char *err,
                     size_t errlen) {
  machine *m = calloc(1, sizeof *m);
  if (!m) { snprintf(err, errlen, "out of memory"); return NULL; }
  m->rt = rt;
  m->cfg = *cfg;
  if (h) m->h = *h;
  m->serial_fd = -1;
  m->vhart = -1;
  m->runner.index = -1;
  m->rrunner.index = -1;
  dtimer_clock_init(&m->clock, dclock_now, clock_kick, m);
  const char *type = cfg->type ? cfg->type : "virt";
  if (strcmp(type, "virt") != 0 && strcmp(type, "spike") != 0) {
    snprintf(err, errlen, "-machine %s: unknown machine type (lemu has virt and spike)", type);
    free(m);
    return NULL;
  }
  m->spike = strcmp(type, "spike") == 0;
  if (!m->cfg.ram_size) m->cfg.ram_size = 128ull << 20;
  if (!m->cfg.smp) m->cfg.smp = 1;
  if (m->cfg.smp < 1 || m->cfg.smp > MACHINE_MAX_HARTS) {
    snprintf(err, errlen, "-smp %d: lemu supports 1 to %d harts", m->cfg.smp, MACHINE_MAX_HARTS);
    free(m);
    return NULL;
  }
  if (m->cfg.ram_size < (2ull << 20) || m->cfg.ram_size > (64ull << 30) ||
      (m->cfg.ram_size & 0xfff)) {
    snprintf(err, errlen, "-m %llu bytes: RAM must be a multiple of 4 KiB between 2 MiB and 64 GiB",
             (unsigned long long)m->cfg.ram_size);
    free(m);
    return NULL;
  }
  const char *bios = cfg->bios;
  if (bios && strcmp(bios, "default") == 0) bios = OPENSBI_FW_DYNAMIC;
  if ((bios && strcmp(bios, "none") != 0 && check_file("-bios", bios, err, errlen) < 0) ||
      (cfg->kernel && check_file("-kernel", cfg->kernel, err, errlen) < 0) ||
      (cfg->initrd && check_file("-initrd", cfg->initrd, err, errlen) < 0) ||
      (cfg->dtb && check_file("-dtb", cfg->dtb, err, errlen) < 0)) {
    free(m);
    return NULL;
  }
  m->bios = bios && strcmp(bios, "none") != 0 ? strdup(bios) : NULL;
  m->kernel = sdup(cfg->kernel);
  m->initrd = sdup(cfg->initrd);
  m->append = sdup(cfg->append);
  m->dtbfile = sdup(cfg->dtb);
  m->type = strdup(type);
  m->cfg.bios = m->bios;
  m->cfg.kernel = m->kernel;
  m->cfg.initrd = m->initrd;
  m->cfg.append = m->append;
  m->cfg.dtb = m->dtbfile;
  m->cfg.type = m->type;
  m->nharts = m->cfg.smp;

  m->bus = bus_new();
  if (!m->bus) goto oom;
  m->ram = bus_add_ram(m->bus, VIRT_DRAM, m->cfg.ram_size, "ram");
  if (!m->ram) {
    snprintf(err, errlen, "-m: cannot allocate %llu MiB of guest RAM",
             (unsigned long long)(m->cfg.ram_size >> 20));
    goto fail;
  }
  if (!bus_add_ram(m->bus, VIRT_MROM, VIRT_MROM_SIZE, "mrom")) goto oom;

  clint_hooks ch = {m, hook_time, on_msip, on_mtip, NULL};
  m->clint = clint_new(m->nharts, &ch);
  if (!m->clint) goto oom;
  bus_add_mmio(m->bus, VIRT_CLINT, CLINT_SIZE, &clint_ops, m->clint, "clint");
  if (!m->spike) {
    plic_hooks ph = {m, on_eip};
    uart_hooks uh = {m, on_uart_tx, on_uart_irq, on_uart_space};
    goldfish_rtc_hooks rh = {m, wall_ns, on_rtc_irq, NULL};
    m->plic = plic_new(m->nharts, &ph);
    m->uart = uart_new(&uh);
    m->rtc = goldfish_rtc_new(&rh);
    if (!m->plic || !m->uart || !m->rtc) goto oom;
    m->test.ud = m;
    m->test.finish = on_test;
    bus_add_mmio(m->bus, VIRT_TEST, SIFIVE_TEST_SIZE, &sifive_test_ops, &m->test, "test");
    bus_add_mmio(m->bus, VIRT_RTC, GOLDFISH_RTC_SIZE, &goldfish_rtc_ops, m->rtc, "rtc");
    bus_add_mmio(m->bus, VIRT_PLIC, PLIC_SIZE, &plic_ops, m->plic, "plic");
    bus_add_mmio(m->bus, VIRT_UART0, UART_SIZE, &uart_ops, m->uart, "uart0");
    for (int i = 0; i < VIRTIO_SLOTS; i++) {
      m->slots[i].ops = &virtio_slot_ops;
      bus_add_mmio(m->bus, VIRTIO_SLOT_BASE + (uint64_t)i * VIRTIO_SLOT_SIZE, VIRTIO_SLOT_SIZE,
                   &slot_ops, &m->slots[i], "virtio-mmio");
    }
    if (mpci_init(m) < 0) goto oom;
  }

  /* No -bios: lemu's SBI serves an S-mode kernel, unless the kernel is a bare-metal HTIF test
   * (it defines tohost), which starts in M-mode as with -bios none. */
  m->builtin_sbi = cfg->bios == NULL;
  if (m->builtin_sbi && !m->kernel) {
    snprintf(err, errlen, "nothing to boot: give -kernel (an S-mode kernel for lemu's built-in "
                          "SBI) or -bios (firmware)");
    goto fail;
  }
  /* The execution engine: the translator where the host has one, else the interpreter.
   * LEMU_ACCEL lets a whole test run pick one without editing scripts. */
  const char *accel = cfg->accel ? cfg->accel : getenv("LEMU_ACCEL");
  int eng = cpu_accel_available(CPU_ACCEL_JIT) ? CPU_ACCEL_JIT : CPU_ACCEL_INTERP;
  if (accel && *accel && strcmp(accel, "interp") == 0) {
    eng = CPU_ACCEL_INTERP;
  } else if (accel && *accel) {
    if (strcmp(accel, "jit") != 0) {
      snprintf(err, errlen, "-accel %s: unknown accelerator (lemu has interp and jit)", accel);
      goto fail;
    }
    if (!cpu_accel_available(CPU_ACCEL_JIT)) {
      snprintf(err, errlen, "-accel jit: this host has no translator (x86-64 only, and it needs "
                            "executable memory); use -accel interp");
      goto fail;
    }
    eng = CPU_ACCEL_JIT;
  }
  cpu_hooks hk = {m, hook_time, msbi_call};
  for (int i = 0; i < m->nharts; i++) {
    m->harts[i].c = cpu_new(m->bus, i, &hk);
    if (!m->harts[i].c) goto oom;
    cpu_set_accel(m->harts[i].c, eng);
  }
  m->accel = eng;
  if (m->builtin_sbi) {
    /* Peek at the kernel for tohost before deciding how to enter it. */
    if (load_images(m, err, errlen) < 0) goto fail;
    if (m->kern.tohost) m->builtin_sbi = 0;
  }
  if (boot(m, err, errlen) < 0) goto fail;

  rt_obj_add(rt, &m->obj, &machine_type_);
  uv_idle_init(rt_loop(rt), &m->idle);
  uv_timer_init(rt_loop(rt), &m->timer);
  m->idle.data = m;
  m->timer.data = m;
  m->handles_open = 2;
  return m;
oom:
  snprintf(err, errlen, "out of memory building the machine");
fail:
  free_parts(m);
  return NULL;
}
