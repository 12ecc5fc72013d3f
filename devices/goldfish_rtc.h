/* goldfish_rtc: Google's goldfish real-time clock at 0x101000 (IRQ 11): nanoseconds since the Unix
 * epoch from the host's wall clock, with one alarm. Reading TIME_LOW latches TIME_HIGH. */
#ifndef LEMU_GOLDFISH_RTC_H
#define LEMU_GOLDFISH_RTC_H

#include <stdint.h>

#include "bus.h"

typedef struct goldfish_rtc goldfish_rtc;

typedef struct goldfish_rtc_hooks {
  void *ud;
  uint64_t (*now_ns)(void *ud);     /* wall clock, ns since the epoch */
  void (*irq)(void *ud, int level);
  void (*deadline)(void *ud);       /* the alarm changed: re-arm (may be NULL) */
} goldfish_rtc_hooks;

goldfish_rtc *goldfish_rtc_new(const goldfish_rtc_hooks *h);
void goldfish_rtc_free(goldfish_rtc *r);
void goldfish_rtc_reset(goldfish_rtc *r);
/* Fires a due alarm; returns the armed alarm time (ns since the epoch) or UINT64_MAX. */
uint64_t goldfish_rtc_update(goldfish_rtc *r);

extern const bus_dev_ops goldfish_rtc_ops;
#define GOLDFISH_RTC_SIZE 0x1000

#endif
