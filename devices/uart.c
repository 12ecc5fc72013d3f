/* uart: the NS16550A register model. The interrupt sources follow the 16550's priority order
 * (line status, received data / timeout, THR empty, modem status); THR-empty is an edge the guest
 * acknowledges by reading IIR or writing THR, as the 8250 drivers expect. */
#include "uart.h"

#include <stdlib.h>
#include <string.h>

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
enum { LSR_DR = 0x01, LSR_OE = 0x02, LSR_BI = 0x10, LSR_THRE = 0x20, LSR_TEMT = 0x40 };
enum { IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08 };
enum { IIR_NONE = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06,
       IIR_CTI = 0x0c };
enum { MCR_LOOP = 0x10 };
#define FIFO 16

struct uart {
  uart_hooks h;
  uint8_t rx[FIFO];
  int rx_head, rx_count;
  uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
  int thr_pending;     /* THR-empty interrupt raised and not yet acknowledged */
  int level;           /* current irq output */
};

static int trigger_level(const uart *u) {
  static const int lv[4] = {1, 4, 8, 14};
  return (u->fcr & 1) ? lv[u->fcr >> 6] : 1;
}

static uint8_t iir(const uart *u) {
  uint8_t fifo = (u->fcr & 1) ? 0xc0 : 0;
  if ((u->ier & IER_RLSI) && (u->lsr & (LSR_OE | LSR_BI))) return fifo | IIR_RLSI;
  if ((u->ier & IER_RDI) && u->rx_count)
    return fifo | (u->rx_count >= trigger_level(u) ? IIR_RDI : IIR_CTI);
  if ((u->ier & IER_THRI) && u->thr_pending) return fifo | IIR_THRI;
  if ((u->ier & IER_MSI) && (u->msr & 0x0f)) return fifo | IIR_MSI;
  return fifo | IIR_NONE;
}

static void update(uart *u) {
  int level = !(iir(u) & IIR_NONE);
  if (level != u->level) {
    u->level = level;
    u->h.irq(u->h.ud, level);
  }
}

static void rx_push(uart *u, uint8_t b) {
  if (u->rx_count == ((u->fcr & 1) ? FIFO : 1)) { u->lsr |= LSR_OE; return; }
  u->rx[(u->rx_head + u->rx_count) % FIFO] = b;
  u->rx_count++;
  u->lsr |= LSR_DR;
}

uart *uart_new(const uart_hooks *h) {
  uart *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->h = *h;
  uart_reset(u);
  return u;
}

void uart_free(uart *u) { free(u); }

void uart_reset(uart *u) {
  uart_hooks h = u->h;
  int level = u->level;
  memset(u, 0, sizeof *u);
  u->h = h;
  u->lsr = LSR_THRE | LSR_TEMT;
  u->msr = 0xb0;  /* DCD, DSR, CTS: a connected line, as QEMU reports */
  u->level = level;
  update(u);
}

size_t uart_rx_room(const uart *u) {
  if (u->mcr & MCR_LOOP) return 0;
  int cap = (u->fcr & 1) ? FIFO : 1;
  return (size_t)(cap - u->rx_count);
}

size_t uart_rx(uart *u, const uint8_t *buf, size_t len) {
  size_t room = uart_rx_room(u), n = len < room ? len : room;
  for (size_t i = 0; i < n; i++) rx_push(u, buf[i]);
  if (n) update(u);
  return n;
}

static uint64_t uart_read(void *dev, uint64_t off, int size) {
  (void)size;
  uart *u = dev;
  uint8_t v = 0;
  switch (off) {
  case RBR_THR:
    if (u->lcr & 0x80) return u->dll;
    if (u->rx_count) {
      v = u->rx[u->rx_head];
      u->rx_head = (u->rx_head + 1) % FIFO;
      if (--u->rx_count == 0) u->lsr &= ~LSR_DR;
      update(u);
      if (u->h.rx_space && !(u->mcr & MCR_LOOP)) u->h.rx_space(u->h.ud);
    }
    return v;
  case IER: return (u->lcr & 0x80) ? u->dlm : u->ier;
  case IIR_FCR:
    v = iir(u);
    if ((v & 0x0f) == IIR_THRI) { u->thr_pending = 0; update(u); }
    return v;
  case LCR: return u->lcr;
  case MCR: return u->mcr;
  case LSR:
    v = u->lsr;
    if (u->lsr & (LSR_OE | LSR_BI)) { u->lsr &= ~(LSR_OE | LSR_BI); update(u); }
    return v;
  case MSR:
    if (u->mcr & MCR_LOOP) {
      /* Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
      return (uint8_t)(((u->mcr & 0x0c) << 4) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3));
    }
    v = u->msr;
    u->msr &= 0xf0;  /* reading clears the delta bits */
    update(u);
    return v;
  case SCR: return u->scr;
  }
  return 0;
}

static void uart_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)size;
  uart *u = dev;
  uint8_t v = (uint8_t)val;
  switch (off) {
  case RBR_THR:
    if (u->lcr & 0x80) { u->dll = v; return; }
    if (u->mcr & MCR_LOOP) rx_push(u, v);
    else u->h.tx(u->h.ud, v);
    /* The byte left at once: THR is empty again, which raises THR-empty anew. */
    u->thr_pending = 1;
    update(u);
    return;
  case IER:
    if (u->lcr & 0x80) { u->dlm = v; return; }
    {
      uint8_t old = u->ier;
      u->ier = v & 0x0f;
      /* Enabling THR-empty while THR is empty raises it at once. */
      if ((u->ier & IER_THRI) && !(old & IER_THRI)) u->thr_pending = 1;
      update(u);
    }
    return;
  case IIR_FCR:
    if ((v & 1) != (u->fcr & 1) || (v & 2)) {  /* FIFO toggled or RX reset: drop received data */
      u->rx_count = u->rx_head = 0;
      u->lsr &= ~LSR_DR;
    }
    u->fcr = v & 0xc9;
    update(u);
    if (u->h.rx_space) u->h.rx_space(u->h.ud);
    return;
  case LCR: u->lcr = v; return;
  case MCR:
    u->mcr = v & 0x1f;
    update(u);
    if (!(u->mcr & MCR_LOOP) && u->h.rx_space) u->h.rx_space(u->h.ud);
    return;
  case SCR: u->scr = v; return;
  }
}

const bus_dev_ops uart_ops = {uart_read, uart_write};
