/* uart: an NS16550A UART as on QEMU's virt board (16-byte FIFOs, IER/IIR/FCR/LCR/MCR/LSR/MSR/SCR,
 * divisor latch, loopback). Transmission is immediate: each byte written to THR goes to the tx
 * callback. Received bytes are offered with uart_rx; the uart takes what fits in its FIFO and calls
 * rx_space when the guest has made room, so the owner can feed it more. */
#ifndef LEMU_UART_H
#define LEMU_UART_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

typedef struct uart uart;

typedef struct uart_hooks {
  void *ud;
  void (*tx)(void *ud, uint8_t byte);
  void (*irq)(void *ud, int level);
  void (*rx_space)(void *ud);        /* may be NULL */
} uart_hooks;

uart *uart_new(const uart_hooks *h);
void uart_free(uart *u);
void uart_reset(uart *u);
/* Offers bytes from the outside; returns how many the receive FIFO took. */
size_t uart_rx(uart *u, const uint8_t *buf, size_t len);
/* Bytes the receive FIFO can take now. */
size_t uart_rx_room(const uart *u);

extern const bus_dev_ops uart_ops;
#define UART_SIZE 0x100

#endif
