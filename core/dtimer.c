/* dtimer: see dtimer.h. A handful of timers per machine: a sorted list is enough. */
#include "dtimer.h"

#include <stddef.h>

void dtimer_clock_init(dtimer_clock *c, uint64_t (*now)(void *), void (*kick)(void *), void *ud) {
  c->now = now;
  c->kick = kick;
  c->ud = ud;
  c->armed = NULL;
}

uint64_t dtimer_now(const dtimer_clock *c) { return c->now(c->ud); }

void dtimer_init(dtimer *t, dtimer_clock *c, void (*fire)(dtimer *t), void *ud) {
  t->clock = c;
  t->when = DTIMER_NEVER;
  t->fire = fire;
  t->ud = ud;
  t->next = NULL;
}

int dtimer_armed(const dtimer *t) { return t->when != DTIMER_NEVER; }

void dtimer_cancel(dtimer *t) {
  if (!dtimer_armed(t)) return;
  for (dtimer **p = &t->clock->armed; *p; p = &(*p)->next)
    if (*p == t) { *p = t->next; break; }
  t->next = NULL;
  t->when = DTIMER_NEVER;
}

void dtimer_arm(dtimer *t, uint64_t ns) {
  dtimer_cancel(t);
  dtimer_clock *c = t->clock;
  uint64_t now = c->now(c->ud);
  t->when = ns > DTIMER_NEVER - 1 - now ? DTIMER_NEVER - 1 : now + ns;
  dtimer **p = &c->armed;
  while (*p && (*p)->when <= t->when) p = &(*p)->next;
  t->next = *p;
  *p = t;
  if (c->armed == t && c->kick) c->kick(c->ud);
}

uint64_t dtimer_run(dtimer_clock *c) {
  uint64_t now = c->now(c->ud);
  /* A fire may arm timers again: take one due timer at a time from the head. The bound keeps a
   * timer that re-arms itself with 0 from spinning here; it runs again at the next call. */
  for (int n = 0; n < 64 && c->armed && c->armed->when <= now; n++) {
    dtimer *t = c->armed;
    c->armed = t->next;
    t->next = NULL;
    t->when = DTIMER_NEVER;
    t->fire(t);
  }
  if (!c->armed) return DTIMER_NEVER;
  return c->armed->when > now ? c->armed->when - now : 0;
}
