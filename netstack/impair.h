/* impair: what a real link does to frames that a perfect wire does not — loss (random or in
 * Gilbert-Elliott bursts), duplication, corruption of one bit, delay with jitter, reordering, and a
 * bottleneck of a given rate with a bounded queue — applied to one direction of one port. netem's
 * model: a frame that survives loss is serialised at the rate behind the frames before it, then
 * travels for its delay; frames wait in a timestamped queue run by one loop timer, never in a
 * sleep, so a long link still carries its full rate. Every random choice comes from the stage's own
 * generator, seeded, so the same seed and the same frames give the same drops.
 *
 * Changing the configuration affects frames that arrive from then on: frames already in flight
 * keep their schedule. Lifetime: the port owns its stages (port.c); impair_free drops the frames in
 * flight (counted) and releases the stage once its timer has closed. */
#ifndef LEMU_IMPAIR_H
#define LEMU_IMPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "lemu.h"

enum impair_dist { IMPAIR_UNIFORM, IMPAIR_NORMAL };

typedef struct impair_cfg {
  uint64_t delay_ns, jitter_ns;
  enum impair_dist dist;      /* of the jitter around the delay */
  double loss;                /* random loss, 0..1 (when no burst model is given) */
  /* Gilbert-Elliott: p = good -> bad, r = bad -> good (per frame), and the loss in each state. */
  int burst;
  double ge_p, ge_r, ge_loss_bad, ge_loss_good;
  double duplicate, corrupt;  /* 0..1 */
  double reorder;             /* 0..1: a frame sent at once, skipping the delay (needs a delay) */
  uint64_t rate_bps;          /* 0: no bottleneck */
  uint32_t overhead;          /* bytes counted per frame at the bottleneck (preamble, FCS, ...) */
  uint32_t limit;             /* frames waiting for the bottleneck at most (0: 1000) */
  uint64_t limit_bytes;       /* and bytes (0: no byte bound) */
  uint64_t seed;
} impair_cfg;

typedef struct impair_stats {
  uint64_t passed;            /* frames handed on */
  uint64_t delayed;           /* of them, held for a delay or the bottleneck */
  uint64_t lost;              /* dropped by the loss model */
  uint64_t overflow;          /* dropped: the bottleneck's queue was full (or memory ran out) */
  uint64_t duplicated, corrupted, reordered;
  uint64_t flushed;           /* in flight when the stage was removed or its port moved */
  uint32_t in_flight;
} impair_stats;

typedef struct impair impair;

/* A stage on rt's loop that hands each frame on through out(ud, f) (the frame is lent for the
 * call). NULL when out of memory. */
impair *impair_new(lemu_rt *rt, const impair_cfg *cfg, void (*out)(void *ud, net_frame *f),
                   void *ud);
void impair_set(impair *im, const impair_cfg *cfg);
const impair_cfg *impair_get(const impair *im);
/* Takes a frame (its reference is the caller's; the stage takes its own). */
void impair_push(impair *im, net_frame *f);
void impair_flush(impair *im);      /* drops what is in flight */
void impair_stats_get(const impair *im, impair_stats *st);
void impair_free(impair *im);

/* tc netem's syntax: "delay 50ms 5ms [distribution normal] loss 1% | loss gemodel P [R [1-H
 * [1-K]]] duplicate 1% corrupt 0.1% reorder 25% rate 10mbit [OVERHEAD] limit 1000". Times
 * without a unit are microseconds and rates without one bits/s, as tc reads them. Fills cfg
 * (zeroed first); 0, or -1 with err naming the word and why. */
int impair_parse(const char *spec, impair_cfg *cfg, char *err, size_t errlen);
/* One value in tc's units: a time ("50ms", "1.5s", "200us") -> ns, a rate ("10mbit", "1gbit",
 * "125kbps" = bytes) -> bits/s. 0, or -1 if s is not one. */
int impair_parse_time(const char *s, uint64_t *ns);
int impair_parse_rate(const char *s, uint64_t *bps);

#endif
