/* goldfish_rtc: time registers, the alarm and its interrupt. The guest may set the time: the
 * difference to the host clock is kept as an offset. */
#include "goldfish_rtc.h"

#include <stdlib.h>

enum { TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c, IRQ_ENABLED = 0x10,
       CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c };

struct goldfish_rtc {
  goldfish_rtc_hooks h;
  int64_t offset;
  uint64_t alarm;          /* in guest time */
  int armed, irq_enabled, pending, level;
  uint32_t time_high, alarm_high;
};

goldfish_rtc *goldfish_rtc_new(const goldfish_rtc_hooks *h) {
  goldfish_rtc *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->h = *h;
  return r;
}

void goldfish_rtc_free(goldfish_rtc *r) { free(r); }

static uint64_t now(const goldfish_rtc *r) { return r->h.now_ns(r->h.ud) + (uint64_t)r->offset; }

static void set_level(goldfish_rtc *r) {
  int level = r->pending && r->irq_enabled;
  if (level != r->level) { r->level = level; r->h.irq(r->h.ud, level); }
}

void goldfish_rtc_reset(goldfish_rtc *r) {
  r->armed = r->irq_enabled = r->pending = 0;
  r->alarm = 0;
  r->time_high = r->alarm_high = 0;
  set_level(r);
}

uint64_t goldfish_rtc_update(goldfish_rtc *r) {
  if (r->armed && now(r) >= r->alarm) {
    r->armed = 0;
    r->pending = 1;
    set_level(r);
  }
  return r->armed ? r->alarm - (uint64_t)r->offset : UINT64_MAX;
}

static uint64_t rtc_read(void *dev, uint64_t off, int size) {
  (void)size;
  goldfish_rtc *r = dev;
  switch (off) {
  case TIME_LOW: { uint64_t t = now(r); r->time_high = (uint32_t)(t >> 32); return (uint32_t)t; }
  case TIME_HIGH: return r->time_high;
  case ALARM_LOW: return (uint32_t)r->alarm;
  case ALARM_HIGH: return (uint32_t)(r->alarm >> 32);
  case IRQ_ENABLED: return (uint64_t)r->irq_enabled;
  case ALARM_STATUS: return (uint64_t)r->armed;
  }
  return 0;
}

static void rtc_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)size;
  goldfish_rtc *r = dev;
  uint32_t v = (uint32_t)val;
  switch (off) {
  case TIME_LOW: {  /* setting the time: TIME_HIGH first, then TIME_LOW */
    uint64_t want = ((uint64_t)r->time_high << 32) | v;
    r->offset = (int64_t)(want - r->h.now_ns(r->h.ud));
    break;
  }
  case TIME_HIGH: r->time_high = v; return;
  case ALARM_HIGH: r->alarm_high = v; return;
  case ALARM_LOW:  /* writing the low half arms the alarm */
    r->alarm = ((uint64_t)r->alarm_high << 32) | v;
    r->armed = 1;
    break;
  case IRQ_ENABLED: r->irq_enabled = v & 1; set_level(r); return;
  case CLEAR_ALARM: r->armed = 0; break;
  case CLEAR_INTERRUPT: r->pending = 0; set_level(r); return;
  default: return;
  }
  goldfish_rtc_update(r);
  if (r->h.deadline) r->h.deadline(r->h.ud);
}

const bus_dev_ops goldfish_rtc_ops = {rtc_read, rtc_write};
