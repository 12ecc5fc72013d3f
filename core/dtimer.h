/* dtimer: device timers on a machine's guest clock. A device model that must act later on its
 * own (an e1000's auto-negotiation completing 500 ms after the driver restarts it) arms a dtimer
 * instead of reading the host's clock: the board owns the clock, runs due timers between slices
 * and sleeps no longer than the earliest deadline, so device time stops when the machine pauses
 * and follows the machine's clock wherever that comes from.
 *
 * Lifetime: a timer belongs to its device and must be cancelled (or never armed) before the
 * device's memory goes; the clock does not own timers. fire runs on the loop thread between the
 * harts' runs (never inside cpu_run, though possibly while the machine holds the netstack, so
 * frames it sends reach the VLAN after the slice), and may re-arm the timer. */
#ifndef LEMU_DTIMER_H
#define LEMU_DTIMER_H

#include <stdint.h>

#define DTIMER_NEVER UINT64_MAX

typedef struct dtimer dtimer;
typedef struct dtimer_clock dtimer_clock;

struct dtimer_clock {
  uint64_t (*now)(void *ud);           /* guest nanoseconds */
  /* A timer was armed earlier than every other: the owner must run the clock by then even if its
   * harts sleep. May be NULL (an owner that runs the clock often enough anyway). */
  void (*kick)(void *ud);
  void *ud;
  dtimer *armed;                       /* sorted by deadline */
};

struct dtimer {
  dtimer_clock *clock;
  uint64_t when;                       /* guest ns, or DTIMER_NEVER while not armed */
  void (*fire)(dtimer *t);
  void *ud;                            /* the device's */
  dtimer *next;
};

void dtimer_clock_init(dtimer_clock *c, uint64_t (*now)(void *), void (*kick)(void *), void *ud);
uint64_t dtimer_now(const dtimer_clock *c);
/* Runs the timers due at the clock's now; returns the ns until the next deadline, or
 * DTIMER_NEVER. */
uint64_t dtimer_run(dtimer_clock *c);

void dtimer_init(dtimer *t, dtimer_clock *c, void (*fire)(dtimer *t), void *ud);
/* Arms t to fire after ns guest nanoseconds (re-arming moves it). */
void dtimer_arm(dtimer *t, uint64_t ns);
void dtimer_cancel(dtimer *t);
int dtimer_armed(const dtimer *t);

#endif
