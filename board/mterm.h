/* mterm: a machine's console on the host terminal, as QEMU's -nographic gives it — stdin in raw
 * mode (when it is a terminal) feeding the guest's console, with QEMU's Ctrl-A escapes: Ctrl-A x
 * quits, Ctrl-A h prints help, Ctrl-A c switches between the console and the monitor (when the
 * hooks have one; else it says there is none), Ctrl-A Ctrl-A sends a Ctrl-A. With a monitor and
 * no escapes (-monitor stdio beside a serial elsewhere) every byte goes to the monitor. Without the escapes (-serial stdio) a terminal stays in its normal, line-edited mode. A
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
  /* The monitor's input (NULL: none). Bytes go here instead of input while the monitor has the
   * focus; focus(ud, 1) / focus(ud, 0) tell it when Ctrl-A c switches. */
  void (*monitor)(void *ud, const uint8_t *buf, size_t len);
  void (*focus)(void *ud, int monitor);
  /* Set: the terminal is in raw mode and Ctrl-] (MTERM_DETACH_KEY, telnet's escape) calls it
   * instead of going to the guest (m.console:attach() at the REPL). */
  void (*detach)(void *ud);
} mterm_hooks;

#define MTERM_DETACH_KEY 0x1d

/* Watches fd (0 for stdin). Returns NULL when fd cannot be watched (a regular file, closed). */
mterm *mterm_open(lemu_rt *rt, int fd, int escapes, const mterm_hooks *h);
/* Whether fd 0 of t is a terminal (so the monitor echoes what is typed in raw mode). */
int mterm_is_tty(const mterm *t);
/* Restores the terminal's mode and stops reading. */
void mterm_close(mterm *t);

#endif
