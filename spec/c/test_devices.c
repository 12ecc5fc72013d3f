/* Device models driven through their MMIO functions and hooks, without a CPU: the UART's
 * registers, FIFO and interrupt rules, the PLIC's claim/complete, the CLINT's timer lines, the
 * test finisher, the RTC and the empty virtio slots. */
#include <string.h>

#include "clint.h"
#include "ctest.h"
#include "goldfish_rtc.h"
#include "plic.h"
#include "sifive_test.h"
#include "uart.h"
#include "virtio_slot.h"

/* ---- UART ---- */

typedef struct { char out[64]; int n; int irq; int space; } uart_env;
static void u_tx(void *ud, uint8_t b) { uart_env *e = ud; if (e->n < 63) e->out[e->n++] = (char)b; }
static void u_irq(void *ud, int level) { ((uart_env *)ud)->irq = level; }
static void u_space(void *ud) { ((uart_env *)ud)->space++; }
#define UR(o) uart_ops.read(u, o, 1)
#define UW(o, v) uart_ops.write(u, o, v, 1)

TEST(uart_transmits_and_reports_line_status) {
  uart_env e = {0};
  uart_hooks h = {&e, u_tx, u_irq, u_space};
  uart *u = uart_new(&h);
  for (const char *s = "hi\n"; *s; s++) UW(0, (uint8_t)*s);
  CHECK_EQ(e.n, 3);
  CHECK(memcmp(e.out, "hi\n", 3) == 0);
  CHECK_EQ(UR(5) & 0x61, 0x60);   /* THRE and TEMT, no data */
  CHECK_EQ(e.irq, 0);             /* no interrupt enabled */
  CHECK_EQ(UR(6), 0xb0);          /* DCD DSR CTS */
  UW(7, 0x5a);
  CHECK_EQ(UR(7), 0x5a);
  uart_free(u);
}

TEST(uart_divisor_latch_hides_thr_and_ier) {
  uart_env e = {0};
  uart_hooks h = {&e, u_tx, u_irq, NULL};
  uart *u = uart_new(&h);
  UW(3, 0x80);
  UW(0, 0x03);
  UW(1, 0x00);
  CHECK_EQ(e.n, 0);               /* DLL write did not transmit */
  CHECK_EQ(UR(0), 3);
  UW(3, 0x03);
  CHECK_EQ(UR(1), 0);             /* IER untouched */
  CHECK_EQ(UR(3), 3);
  uart_free(u);
}

TEST(uart_receive_fifo_interrupts_and_backpressure) {
  uart_env e = {0};
  uart_hooks h = {&e, u_tx, u_irq, u_space};
  uart *u = uart_new(&h);
  /* FIFO off: one byte of room. */
  CHECK_EQ(uart_rx(u, (const uint8_t *)"ab", 2), 1);
  UW(2, 0x07);                    /* FIFO on, both cleared */
  CHECK_EQ(UR(5) & 1, 0);
  CHECK_EQ(uart_rx(u, (const uint8_t *)"0123456789abcdefXYZ", 19), 16);
  CHECK_EQ(e.irq, 0);
  UW(1, 0x01);                    /* receive interrupt on */
  CHECK_EQ(e.irq, 1);
  CHECK_EQ(UR(2) & 0x0f, 0x04);   /* data available at trigger level 1 */
  CHECK_EQ(UR(2) & 0xc0, 0xc0);   /* FIFOs enabled */
  char got[17] = {0};
  for (int i = 0; i < 16; i++) got[i] = (char)UR(0);
  CHECK(strcmp(got, "0123456789abcdef") == 0);
  CHECK_EQ(e.space, 16 + 1);      /* one per byte read, one for the FCR write */
  CHECK_EQ(UR(5) & 1, 0);
  CHECK_EQ(e.irq, 0);
  CHECK_EQ(UR(2) & 0x0f, 0x01);
  uart_free(u);
}

TEST(uart_thr_empty_interrupt_is_acknowledged_by_iir_read_or_thr_write) {
  uart_env e = {0};
  uart_hooks h = {&e, u_tx, u_irq, NULL};
  uart *u = uart_new(&h);
  UW(1, 0x02);
  CHECK_EQ(e.irq, 1);
  CHECK_EQ(UR(2) & 0x0f, 0x02);
  CHECK_EQ(e.irq, 0);             /* reading IIR acknowledged it */
  CHECK_EQ(UR(2) & 0x0f, 0x01);
  UW(0, 'x');                     /* the byte leaves at once: THR empty again */
  CHECK_EQ(e.irq, 1);
  UW(1, 0x00);
  CHECK_EQ(e.irq, 0);
  uart_free(u);
}

TEST(uart_loopback_returns_transmitted_bytes_and_overrun_sets_lsr) {
  uart_env e = {0};
  uart_hooks h = {&e, u_tx, u_irq, NULL};
  uart *u = uart_new(&h);
  UW(4, 0x10);
  UW(0, 'q');
  CHECK_EQ(e.n, 0);
  CHECK_EQ(UR(5) & 1, 1);
  CHECK_EQ(UR(0), 'q');
  CHECK_EQ(uart_rx_room(u), 0);   /* the outside cannot feed a looped-back UART */
  UW(4, 0x00);
  UW(1, 0x04);                    /* line status interrupt */
  UW(0, 'a'); /* no loopback now: transmitted */
  UW(4, 0x10);
  UW(0, '1');
  UW(0, '2');                     /* FIFO off, holding register full: overrun */
  CHECK_EQ(UR(2) & 0x0f, 0x06);
  CHECK_EQ(UR(5) & 0x02, 0x02);
  CHECK_EQ(UR(5) & 0x02, 0);      /* reading LSR cleared it */
  uart_free(u);
}

/* ---- PLIC ---- */

typedef struct { int eip[8]; } plic_env;
static void p_eip(void *ud, int ctx, int level) { ((plic_env *)ud)->eip[ctx] = level; }
#define PR(o) plic_ops.read(p, o, 4)
#define PW(o, v) plic_ops.write(p, o, v, 4)

TEST(plic_claims_highest_priority_and_completes) {
  plic_env e = {{0}};
  plic_hooks h = {&e, p_eip};
  plic *p = plic_new(2, &h);
  PW(4 * 10, 1);                     /* UART priority 1 */
  PW(4 * 3, 5);                      /* source 3 priority 5 */
  PW(0x2000 + 0x80 * 1, (1u << 10) | (1u << 3));  /* hart 0 S-mode context */
  plic_set_irq(p, 10, 1);
  CHECK_EQ(e.eip[1], 1);
  CHECK_EQ(e.eip[0], 0);             /* M context has nothing enabled */
  CHECK_EQ(PR(0x1000) & (1u << 10), 1u << 10);
  plic_set_irq(p, 3, 1);
  CHECK_EQ(PR(0x200000 + 0x1000 + 4), 3);   /* higher priority first */
  CHECK_EQ(PR(0x200000 + 0x1000 + 4), 10);
  CHECK_EQ(e.eip[1], 0);             /* both claimed */
  CHECK_EQ(PR(0x200000 + 0x1000 + 4), 0);
  plic_set_irq(p, 3, 0);
  PW(0x200000 + 0x1000 + 4, 3);      /* line low: stays quiet */
  CHECK_EQ(e.eip[1], 0);
  PW(0x200000 + 0x1000 + 4, 10);     /* line still high: pends again */
  CHECK_EQ(e.eip[1], 1);
  PW(0x200000 + 0x1000, 1);          /* threshold 1 masks priority 1 */
  CHECK_EQ(e.eip[1], 0);
  CHECK_EQ(PR(0x200000 + 0x1000), 1);
  plic_free(p);
}

TEST(plic_ties_go_to_the_lowest_id_and_priority_zero_never_interrupts) {
  plic_env e = {{0}};
  plic_hooks h = {&e, p_eip};
  plic *p = plic_new(1, &h);
  PW(0x2000, (1u << 5) | (1u << 6) | (1u << 7));
  PW(4 * 5, 2); PW(4 * 6, 2);        /* 7 keeps priority 0 */
  plic_set_irq(p, 7, 1);
  CHECK_EQ(e.eip[0], 0);
  plic_set_irq(p, 6, 1);
  plic_set_irq(p, 5, 1);
  CHECK_EQ(PR(0x200004), 5);
  CHECK_EQ(PR(0x200004), 6);
  PW(4 * 7, 9);                      /* priorities are 3 bits */
  CHECK_EQ(PR(4 * 7), 1);
  CHECK_EQ(PR(0x2000) & 1, 0);
  PW(0x2000, 1);                     /* source 0 cannot be enabled */
  CHECK_EQ(PR(0x2000), 0);
  plic_free(p);
}

/* ---- CLINT ---- */

typedef struct { uint64_t now; int msip[2], mtip[2], deadlines; } clint_env;
static uint64_t c_now(void *ud) { return ((clint_env *)ud)->now; }
static void c_msip(void *ud, int h, int l) { ((clint_env *)ud)->msip[h] = l; }
static void c_mtip(void *ud, int h, int l) { ((clint_env *)ud)->mtip[h] = l; }
static void c_dl(void *ud) { ((clint_env *)ud)->deadlines++; }

TEST(clint_timer_and_software_interrupts) {
  clint_env e = {.now = 1000};
  clint_hooks h = {&e, c_now, c_msip, c_mtip, c_dl};
  clint *c = clint_new(2, &h);
  CHECK_EQ(clint_ops.read(c, 0xbff8, 8), 1000);
  CHECK_EQ(e.mtip[0], 0);
  clint_ops.write(c, 0x4008, 1500, 8);         /* hart 1 */
  CHECK_EQ(e.deadlines, 1);
  CHECK_EQ(clint_update(c), 1500);
  e.now = 1500;
  CHECK_EQ(clint_update(c), UINT64_MAX);
  CHECK_EQ(e.mtip[1], 1);
  CHECK_EQ(e.mtip[0], 0);
  clint_ops.write(c, 0x4008 + 4, 1, 4);        /* high half: far future again */
  CHECK_EQ(e.mtip[1], 0);
  CHECK_EQ(clint_ops.read(c, 0x4008, 8), (1ull << 32) | 1500);
  clint_ops.write(c, 4, 1, 4);
  CHECK_EQ(e.msip[1], 1);
  CHECK_EQ(clint_ops.read(c, 4, 4), 1);
  clint_ops.write(c, 4, 0, 4);
  CHECK_EQ(e.msip[1], 0);
  clint_ops.write(c, 0xbff8, 5000, 8);         /* setting mtime moves the guest's clock */
  CHECK_EQ(clint_ops.read(c, 0xbff8, 8), 5000);
  e.now += 10;
  CHECK_EQ(clint_ops.read(c, 0xbff8, 4), 5010);
  clint_free(c);
}

/* ---- finisher, RTC, virtio slot ---- */

typedef struct { int kind, code, calls; } fin_env;
static void fin(void *ud, enum sifive_test_kind k, int code) {
  fin_env *e = ud; e->kind = (int)k; e->code = code; e->calls++;
}

TEST(sifive_test_decodes_pass_fail_and_reset) {
  fin_env e = {0};
  sifive_test t = {&e, fin};
  sifive_test_ops.write(&t, 0, 0x1234, 4);
  CHECK_EQ(e.calls, 0);
  sifive_test_ops.write(&t, 0, (42u << 16) | 0x3333, 4);
  CHECK_EQ(e.kind, SIFIVE_TEST_FAIL);
  CHECK_EQ(e.code, 42);
  sifive_test_ops.write(&t, 0, 0x5555, 4);
  CHECK_EQ(e.kind, SIFIVE_TEST_PASS);
  sifive_test_ops.write(&t, 0, 0x7777, 4);
  CHECK_EQ(e.kind, SIFIVE_TEST_RESET);
  CHECK_EQ(e.calls, 3);
  sifive_test_ops.write(&t, 0, 0x5555, 2);   /* OpenSBI's 16-bit store */
  CHECK_EQ(e.kind, SIFIVE_TEST_PASS);
  CHECK_EQ(e.calls, 4);
  sifive_test_ops.write(&t, 0, 0x55, 1);
  CHECK_EQ(e.calls, 4);
}

typedef struct { uint64_t ns; int irq; } rtc_env;
static uint64_t r_now(void *ud) { return ((rtc_env *)ud)->ns; }
static void r_irq(void *ud, int l) { ((rtc_env *)ud)->irq = l; }

TEST(goldfish_rtc_time_and_alarm) {
  rtc_env e = {.ns = 0x123456789abcdefull};
  goldfish_rtc_hooks h = {&e, r_now, r_irq, NULL};
  goldfish_rtc *r = goldfish_rtc_new(&h);
  uint64_t lo = goldfish_rtc_ops.read(r, 0, 4), hi = goldfish_rtc_ops.read(r, 4, 4);
  CHECK_EQ((hi << 32) | lo, 0x123456789abcdefull);
  goldfish_rtc_ops.write(r, 0x10, 1, 4);
  goldfish_rtc_ops.write(r, 0x0c, (uint32_t)((e.ns + 1000) >> 32), 4);
  goldfish_rtc_ops.write(r, 0x08, (uint32_t)(e.ns + 1000), 4);
  CHECK_EQ(goldfish_rtc_ops.read(r, 0x18, 4), 1);
  CHECK_EQ(goldfish_rtc_update(r), e.ns + 1000);
  CHECK_EQ(e.irq, 0);
  e.ns += 1000;
  CHECK_EQ(goldfish_rtc_update(r), UINT64_MAX);
  CHECK_EQ(e.irq, 1);
  goldfish_rtc_ops.write(r, 0x1c, 1, 4);
  CHECK_EQ(e.irq, 0);
  goldfish_rtc_free(r);
}

TEST(virtio_slot_reads_as_empty_transport) {
  CHECK_EQ(virtio_slot_ops.read(NULL, 0, 4), 0x74726976);
  CHECK_EQ(virtio_slot_ops.read(NULL, 8, 4), 0);
  CHECK_EQ(virtio_slot_ops.read(NULL, 0xc, 4), 0x554d4551);
}
