/* mterm: a machine's console on the host terminal, as QEMU's -nographic gives it — stdin in raw
 * mode (when it is a terminal) feeding the guest's console, with QEMU's Ctrl-A escapes: Ctrl-A x
 * quits, Ctrl-A h prints help, Ctrl-A c (the monitor) says lemu has none, Ctrl-A Ctrl-A sends a
 * Ctrl-A. Without the escapes (-serial stdio) a terminal stays in its normal, line-edited mode. A
 * pipe on stdin is read the same way. */
#ifndef LEMU_MTERM_H
#define LEMU_MTERM_H

#include <stddef.h>
#include <stdint.h>

#include "lemu.h"

typedef struct mterm mterm;

typedef struct mterm_hooks {
  void *ud;
  void (*input)(void *ud, const uint8_t *buf, size_t len);
  void (*quit)(void *ud);          /* Ctrl-A x */
  /* Set: the terminal is in raw mode and Ctrl-] (MTERM_DETACH_KEY, telnet's escape) calls it
   * instead of going to the guest (m.console:attach() at the REPL). */
  void (*detach)(void *ud);
} mterm_hooks;

#define MTERM_DETACH_KEY 0x1d

/* Watches fd (0 for stdin). Returns NULL when fd cannot be watched (a regular file, closed). */
mterm *mterm_open(lemu_rt *rt, int fd, int escapes, const mterm_hooks *h);
/* Restores the terminal's mode and stops reading. */
void mterm_close(mterm *t);

#endif
