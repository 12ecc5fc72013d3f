/* clock: the runtime's clock in its two modes, the virtual-time scheduler of runners, timers on
 * either clock, and the runtime's seed (see clock.h). */
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "rt.h"

#define QUANTUM_DEFAULT   100000ull        /* 100 us of virtual time */
#define EPOCH_DEFAULT     1735689600ll     /* 2025-01-01T00:00:00Z */
#define NONDET_MAX        32
#define AUTO_PERIOD_MS    100              /* shift=auto re-aims this often */
#define AUTO_SLACK_NS     10000000ull      /* and moves the shift past this much drift */

struct clock_state {
  lemu_rt *rt;
  lemu_clock_config cfg;
  int shift;                 /* current shift (auto moves it) */
  uint64_t t0;               /* uv_hrtime when the runtime was made */
  uint64_t vnow;             /* virtual time at the last boundary */
  int pacing;                /* sleep=on: waiting on host time for pace_to */
  uint64_t pace_from, pace_to, pace_wall0, pace_wait;
  uint64_t pace_debt;        /* idle virtual time not yet waited for (under libuv's 1 ms) */
  clock_timer **heap;
  unsigned n, cap, strong;   /* strong: heap entries that are not weak */
  uint64_t seq;
  unsigned armed_real;       /* real-mode timers armed (the mode cannot change under them) */
  clock_runner **runners;
  int nrunners, caprunners, iterating, holes;
  uv_idle_t idle;
  uv_timer_t pace, autoshift;
  int idle_on, handles;
  uint64_t quanta;
  uint64_t auto_wall0, auto_v0;
  char *nondet[NONDET_MAX];
  int nnondet;
  uint64_t draws;            /* seeds handed out: each call gets the next */
  int workers;               /* wanted (0: the host's processors) */
  clock_runner **batch;      /* real clock with workers: slices due in this loop iteration */
  int nbatch, capbatch;
  uv_prepare_t prep;         /* runs the batch, after the idle handles that fill it */
  pool *pool;                /* made at the first quantum with more than one runner */
  struct qjob *jobs;
  int capjobs;
};

/* One runner's part of a quantum, and where its thread stands meanwhile: what lemu_rt_now_ns
 * says on that thread while the runner runs. */
typedef struct qjob { clock_runner *r; uint64_t due; void *held; } qjob;
typedef struct qctx { clock_state *c; qjob *jobs; uint64_t from, end; } qctx;
static _Thread_local int tl_running;
static _Thread_local uint64_t tl_vcur;

static const clock_net_hooks *net_hooks;

void clock_set_net(const clock_net_hooks *h) { net_hooks = h; }

static clock_state *C(const lemu_rt *rt) { return rt_clock((lemu_rt *)rt); }

/* ---- the deadline heap: (due, seq) ascending ---- */

static int before(const clock_timer *a, const clock_timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(clock_state *c, unsigned i, clock_timer *t) {
  c->heap[i] = t;
  t->slot = i + 1;
}

static void heap_up(clock_state *c, unsigned i) {
  clock_timer *t = c->heap[i];
  while (i > 0) {
    unsigned p = (i - 1) / 2;
    if (!before(t, c->heap[p])) break;
    heap_set(c, i, c->heap[p]);
    i = p;
  }
  heap_set(c, i, t);
}

static void heap_down(clock_state *c, unsigned i) {
  clock_timer *t = c->heap[i];
  for (;;) {
    unsigned l = 2 * i + 1, r = l + 1, m = i;
    const clock_timer *best = t;
    if (l < c->n && before(c->heap[l], best)) { m = l; best = c->heap[l]; }
    if (r < c->n && before(c->heap[r], best)) m = r;
    if (m == i) break;
    heap_set(c, i, c->heap[m]);
    i = m;
  }
  heap_set(c, i, t);
}

static void heap_remove(clock_state *c, clock_timer *t) {
  unsigned i = t->slot - 1;
  t->slot = 0;
  if (!t->weak) c->strong--;
  if (--c->n == i) return;
  heap_set(c, i, c->heap[c->n]);
  heap_up(c, i);
  heap_down(c, c->heap[i]->slot - 1);
}

static int heap_push(clock_state *c, clock_timer *t) {
  if (c->n == c->cap) {
    unsigned ncap = c->cap ? c->cap * 2 : 64;
    clock_timer **nh = realloc(c->heap, sizeof *nh * ncap);
    if (!nh) return -1;
    c->heap = nh;
    c->cap = ncap;
  }
  heap_set(c, c->n, t);
  heap_up(c, c->n++);
  if (!t->weak) c->strong++;
  return 0;
}

/* ---- scheduling ---- */

static uint64_t paced_now(const clock_state *c) {
  uint64_t w = uv_hrtime() - c->pace_wall0, span = c->pace_to - c->pace_from;
  if (w >= c->pace_wait) return c->pace_to;
  return c->pace_from + (uint64_t)((double)span * (double)w / (double)c->pace_wait);
}

static void on_idle(uv_idle_t *h);

/* Something may run sooner than the scheduler planned: end a host-paced wait where it stands and
 * look again at the next loop iteration. */
static void kick(clock_state *c) {
  if (c->pacing) {
    c->vnow = paced_now(c);
    c->pace_debt = 0;   /* what was not waited for is forgiven: the host woke us */
    c->pacing = 0;
    uv_timer_stop(&c->pace);
  }
  if (!c->idle_on && c->handles) {
    c->idle_on = 1;
    uv_idle_start(&c->idle, on_idle);
  }
}

static void fire_due(clock_state *c) {
  /* Timers armed by these callbacks for "now" wait for the next iteration, as libuv's do. */
  uint64_t limit = c->seq;
  while (c->n && c->heap[0]->due <= c->vnow && c->heap[0]->seq < limit) {
    clock_timer *t = c->heap[0];
    heap_remove(c, t);
    t->cb(t);
  }
}

static void compact(clock_state *c) {
  if (c->iterating || !c->holes) return;
  int j = 0;
  for (int i = 0; i < c->nrunners; i++) {
    if (!c->runners[i]) continue;
    c->runners[j] = c->runners[i];
    c->runners[j]->index = j;
    j++;
  }
  c->nrunners = j;
  c->holes = 0;
}

static void on_pace(uv_timer_t *h) {
  clock_state *c = h->data;
  c->vnow = c->pace_to;
  c->pacing = 0;
  kick(c);
}

static void run_job(void *ud, int i) {
  qctx *q = ud;
  qjob *j = &q->jobs[i];
  tl_running = 1;
  tl_vcur = q->from;
  if (net_hooks) net_hooks->hold();
  j->due = j->r->ops->run(j->r, q->from, q->end);
  j->held = net_hooks ? net_hooks->take() : NULL;
  tl_running = 0;
}

static int want_workers(const clock_state *c) {
  if (c->workers) return c->workers;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : (int)n;
}

/* Every runner due by `end` runs from vnow to end, each under its own hold; on several workers
 * when there are several runners and the runtime has workers. Their held frames are then put
 * back in the runners' order and released, so the result does not depend on the workers. */
static void run_quantum(clock_state *c, uint64_t end) {
  uint64_t from = c->vnow;
  if (c->capjobs < c->nrunners) {
    qjob *nj = realloc(c->jobs, sizeof *nj * (size_t)c->nrunners);
    if (!nj) { log_error("clock", "out of memory running a quantum"); return; }
    c->jobs = nj;
    c->capjobs = c->nrunners;
  }
  int n = 0;
  for (int i = 0; i < c->nrunners; i++) {
    clock_runner *r = c->runners[i];
    if (r && r->due <= end) c->jobs[n++] = (qjob){r, 0, NULL};
  }
  c->iterating++;
  qctx q = {c, c->jobs, from, end};
  if (n > 1 && want_workers(c) > 1) {
    if (!c->pool) c->pool = pool_new(want_workers(c));
    if (c->pool) pool_run(c->pool, n, run_job, &q);
    else for (int i = 0; i < n; i++) run_job(&q, i);
  } else {
    for (int i = 0; i < n; i++) run_job(&q, i);
  }
  c->vnow = end;
  c->quanta++;
  for (int i = 0; i < n; i++) {
    qjob *j = &c->jobs[i];
    if (j->r->index >= 0 && c->runners[j->r->index] == j->r) j->r->due = j->due;
    if (net_hooks) net_hooks->put(j->held);
  }
  if (net_hooks) net_hooks->release();
  for (int i = 0; i < c->nrunners; i++) {
    clock_runner *r = c->runners[i];
    if (r && r->ops->boundary) r->ops->boundary(r);
  }
  c->iterating--;
  compact(c);
  fire_due(c);
}

/* ---- the real clock's batch ---- */

static void run_batch(uv_prepare_t *h) {
  clock_state *c = h->data;
  uv_prepare_stop(&c->prep);
  int n = c->nbatch;
  if (!n) return;
  if (c->capjobs < n) {
    qjob *nj = realloc(c->jobs, sizeof *nj * (size_t)n);
    if (!nj) { log_error("clock", "out of memory running machines"); return; }
    c->jobs = nj;
    c->capjobs = n;
  }
  for (int i = 0; i < n; i++) {
    c->jobs[i] = (qjob){c->batch[i], 0, NULL};
    c->batch[i]->index = -1;
    c->batch[i] = NULL;
  }
  c->nbatch = 0;
  qctx q = {c, c->jobs, 0, 0};
  if (!c->pool) c->pool = pool_new(want_workers(c));
  if (c->pool) pool_run(c->pool, n, run_job, &q);
  else for (int i = 0; i < n; i++) run_job(&q, i);
  /* The runners stay valid to here: closing one takes it out of the batch, and nothing runs
   * between the slices and this point but the jobs. */
  for (int i = 0; i < n; i++) if (net_hooks) net_hooks->put(c->jobs[i].held);
  if (net_hooks) net_hooks->release();
  /* after_slice may close machines: it is called for each runner that is still there. */
  for (int i = 0; i < n; i++) {
    clock_runner *r = c->jobs[i].r;
    if (!r->ops) continue;
    r->ops->boundary(r);
  }
}

int clock_batch_add(lemu_rt *rt, clock_runner *r, const clock_runner_ops *ops, void *ud) {
  clock_state *c = C(rt);
  if (c->cfg.mode || c->workers < 2) return 0;
  if (r->index >= 0) return 1;
  if (c->nbatch == c->capbatch) {
    int ncap = c->capbatch ? c->capbatch * 2 : 8;
    clock_runner **nb = realloc(c->batch, sizeof *nb * (size_t)ncap);
    if (!nb) return 0;   /* out of memory: this slice runs alone */
    c->batch = nb;
    c->capbatch = ncap;
  }
  r->ops = ops;
  r->ud = ud;
  r->rt = rt;
  r->index = c->nbatch;
  c->batch[c->nbatch++] = r;
  if (c->handles) uv_prepare_start(&c->prep, run_batch);
  return 1;
}

void clock_batch_remove(clock_runner *r) {
  if (!r->rt) return;
  clock_state *c = C(r->rt);
  if (r->index >= 0 && r->index < c->nbatch && c->batch[r->index] == r) {
    for (int i = r->index; i < c->nbatch - 1; i++) {
      c->batch[i] = c->batch[i + 1];
      c->batch[i]->index = i;
    }
    c->nbatch--;
  }
  r->index = -1;
  r->ops = NULL;   /* a batch being finished skips it */
}

int clock_set_workers(lemu_rt *rt, int workers) {
  clock_state *c = C(rt);
  if (workers < 0 || workers > POOL_MAX) return -1;
  if (workers == c->workers) return 0;
  c->workers = workers;
  pool_free(c->pool);   /* the next quantum with several runners makes the new one */
  c->pool = NULL;
  return 0;
}

int clock_workers(const lemu_rt *rt) {
  const clock_state *c = C(rt);
  return c->pool ? pool_workers(c->pool) : want_workers(c);
}

static void on_idle(uv_idle_t *h) {
  clock_state *c = h->data;
  fire_due(c);
  uint64_t tnext = c->n ? c->heap[0]->due : UINT64_MAX;
  if (tnext <= c->vnow) return;   /* armed for now by a callback: fires next iteration */
  int runnable = 0;
  uint64_t rnext = UINT64_MAX;
  for (int i = 0; i < c->nrunners; i++) {
    clock_runner *r = c->runners[i];
    if (!r) continue;
    if (r->due <= c->vnow) runnable = 1;
    else if (r->due < rnext) rnext = r->due;
  }
  if (runnable) {
    uint64_t end = c->vnow + c->cfg.quantum_ns;
    run_quantum(c, tnext < end ? tnext : end);
    return;
  }
  uint64_t t = tnext < rnext ? tnext : rnext;
  if (rnext == UINT64_MAX && !c->strong) {
    /* Nothing can happen until the host does something (or never: the loop ends). */
    c->idle_on = 0;
    uv_idle_stop(&c->idle);
    return;
  }
  if (!c->cfg.sleep) {
    c->vnow = t;
    return;
  }
  /* sleep=on: idle virtual time passes at the host's pace. libuv waits in whole milliseconds, so
   * shorter gaps (a kernel's many short idles) are owed and waited for once they add up to one. */
  c->pace_debt += t - c->vnow;
  if (c->pace_debt < 1000000) {
    c->vnow = t;
    return;
  }
  uint64_t ms = c->pace_debt / 1000000;
  c->pace_debt -= ms * 1000000;
  c->idle_on = 0;
  uv_idle_stop(&c->idle);
  c->pacing = 1;
  c->pace_from = c->vnow;
  c->pace_to = t;
  c->pace_wall0 = uv_hrtime();
  c->pace_wait = ms * 1000000;
  uv_timer_start(&c->pace, on_pace, ms, 0);
}

/* shift=auto: keep virtual time near host time, as QEMU's adaptive icount does. */
static void on_autoshift(uv_timer_t *h) {
  clock_state *c = h->data;
  uint64_t wall = uv_hrtime() - c->auto_wall0, virt = clock_now(c->rt) - c->auto_v0;
  if (virt > wall + AUTO_SLACK_NS && c->shift > 0) c->shift--;
  else if (virt + AUTO_SLACK_NS < wall && c->shift < 10) c->shift++;
}

/* ---- runners ---- */

void clock_runner_add(lemu_rt *rt, clock_runner *r, const clock_runner_ops *ops, void *ud) {
  clock_state *c = C(rt);
  r->ops = ops;
  r->ud = ud;
  r->rt = rt;
  r->index = -1;
  if (c->nrunners == c->caprunners) {
    int ncap = c->caprunners ? c->caprunners * 2 : 8;
    clock_runner **nr = realloc(c->runners, sizeof *nr * (size_t)ncap);
    if (!nr) { log_error("clock", "out of memory adding a machine to the virtual clock"); return; }
    c->runners = nr;
    c->caprunners = ncap;
  }
  r->index = c->nrunners;
  c->runners[c->nrunners++] = r;
  clock_runner_wake(r);
}

void clock_runner_remove(clock_runner *r) {
  if (r->index < 0) return;
  clock_state *c = C(r->rt);
  c->runners[r->index] = NULL;
  r->index = -1;
  c->holes = 1;
  compact(c);
}

void clock_runner_wake(clock_runner *r) {
  if (r->index < 0) return;
  clock_state *c = C(r->rt);
  kick(c);
  r->due = c->vnow;
}

void clock_running_at(lemu_rt *rt, uint64_t t) {
  (void)rt;
  tl_vcur = t;
}

/* ---- timers ---- */

static void real_fire(uv_timer_t *h) {
  clock_timer *t = h->data;
  if (!t->wall) C(t->rt)->armed_real--;
  t->cb(t);
}

static void timer_init(lemu_rt *rt, clock_timer *t, clock_timer_cb cb, void *data, int wall) {
  memset(t, 0, sizeof *t);
  uv_timer_init(rt_loop(rt), &t->h);
  t->h.data = t;
  t->rt = rt;
  t->cb = cb;
  t->data = data;
  t->wall = wall;
}

void clock_timer_init(lemu_rt *rt, clock_timer *t, clock_timer_cb cb, void *data) {
  timer_init(rt, t, cb, data, 0);
}

void clock_timer_init_wall(lemu_rt *rt, clock_timer *t, clock_timer_cb cb, void *data) {
  timer_init(rt, t, cb, data, 1);
}

void clock_timer_start(clock_timer *t, uint64_t delay_ns) {
  clock_state *c = C(t->rt);
  if (t->wall || !c->cfg.mode) {
    if (!t->wall && !uv_is_active((uv_handle_t *)&t->h)) c->armed_real++;
    /* libuv counts from its cached "now", which is stale if the loop has not run for a while. */
    uv_update_time(t->h.loop);
    uint64_t ms = delay_ns / 1000000 + (delay_ns % 1000000 != 0);
    uv_timer_start(&t->h, real_fire, ms, 0);
    return;
  }
  if (t->slot) heap_remove(c, t);
  uint64_t now = clock_now(t->rt);
  t->due = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
  t->seq = c->seq++;
  if (heap_push(c, t) < 0) { log_error("clock", "out of memory arming a timer"); return; }
  kick(c);
}

void clock_timer_stop(clock_timer *t) {
  clock_state *c = C(t->rt);
  if (t->slot) heap_remove(c, t);
  if (uv_is_active((uv_handle_t *)&t->h)) {
    if (!t->wall) c->armed_real--;
    uv_timer_stop(&t->h);
  }
}

void clock_timer_weak(clock_timer *t) {
  t->weak = 1;
  uv_unref((uv_handle_t *)&t->h);
}

int clock_timer_active(const clock_timer *t) {
  return t->slot != 0 || uv_is_active((const uv_handle_t *)&t->h);
}

void clock_timer_close(clock_timer *t, uv_close_cb done) {
  clock_timer_stop(t);
  uv_close((uv_handle_t *)&t->h, done);
}

/* ---- the clock ---- */

clock_state *clock_new(lemu_rt *rt) {
  clock_state *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->rt = rt;
  c->t0 = uv_hrtime();
  c->cfg.quantum_ns = QUANTUM_DEFAULT;
  c->cfg.sleep = 1;
  c->cfg.epoch_s = EPOCH_DEFAULT;
  /* LEMU_WORKERS sets the default (and with N > 1 batches the real clock's slices too). */
  const char *w = getenv("LEMU_WORKERS");
  if (w && atoi(w) > 0 && atoi(w) <= POOL_MAX) c->workers = atoi(w);
  uv_idle_init(rt_loop(rt), &c->idle);
  uv_timer_init(rt_loop(rt), &c->pace);
  uv_timer_init(rt_loop(rt), &c->autoshift);
  uv_prepare_init(rt_loop(rt), &c->prep);
  c->idle.data = c->pace.data = c->autoshift.data = c->prep.data = c;
  uv_unref((uv_handle_t *)&c->autoshift);
  c->handles = 1;
  return c;
}

void clock_close(clock_state *c) {
  c->handles = 0;
  uv_close((uv_handle_t *)&c->idle, NULL);
  uv_close((uv_handle_t *)&c->pace, NULL);
  uv_close((uv_handle_t *)&c->autoshift, NULL);
  uv_close((uv_handle_t *)&c->prep, NULL);
}

void clock_free(clock_state *c) {
  if (!c) return;
  for (int i = 0; i < c->nnondet; i++) free(c->nondet[i]);
  pool_free(c->pool);
  free(c->batch);
  free(c->jobs);
  free(c->heap);
  free(c->runners);
  free(c);
}

uint64_t clock_now(const lemu_rt *rt) {
  const clock_state *c = C(rt);
  if (!c->cfg.mode) return uv_hrtime() - c->t0;
  if (tl_running) return tl_vcur;
  if (c->pacing) return paced_now(c);
  return c->vnow;
}

int clock_virtual(const lemu_rt *rt) { return C(rt)->cfg.mode == LEMU_CLOCK_VIRTUAL; }
int clock_shift(const lemu_rt *rt) { return C(rt)->shift; }

uint64_t clock_wall_ns(const lemu_rt *rt, uint64_t guest_ns) {
  const clock_state *c = C(rt);
  if (c->cfg.mode) return (uint64_t)c->cfg.epoch_s * 1000000000ull + guest_ns;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t clock_seed(const lemu_rt *rt, const char *purpose) {
  clock_state *c = C(rt);
  if (!c->cfg.has_seed) {
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) s = splitmix(uv_hrtime());
    return s;
  }
  uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a of the purpose */
  for (const char *p = purpose; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
  return splitmix(c->cfg.seed ^ splitmix(h ^ splitmix(++c->draws)));
}

int clock_seeded(const lemu_rt *rt) { return C(rt)->cfg.has_seed; }

void clock_nondeterministic(lemu_rt *rt, const char *part) {
  clock_state *c = C(rt);
  for (int i = 0; i < c->nnondet; i++)
    if (!strcmp(c->nondet[i], part)) return;
  if (c->nnondet == NONDET_MAX) return;
  char *s = strdup(part);
  if (!s) return;
  c->nondet[c->nnondet++] = s;
  if (c->cfg.mode)
    log_warn("clock", "%s touches the host: this virtual-time run is not deterministic", part);
}

/* ---- the public side ---- */

int lemu_rt_set_clock(lemu_rt *rt, const lemu_clock_config *cfg, char *err, size_t errlen) {
  clock_state *c = C(rt);
  if (cfg->mode != LEMU_CLOCK_REAL && cfg->mode != LEMU_CLOCK_VIRTUAL) {
    snprintf(err, errlen, "clock mode %d: must be real or virtual", cfg->mode);
    return -1;
  }
  if (cfg->shift < -1 || cfg->shift > 10) {
    snprintf(err, errlen, "shift=%d: must be 0 to 10 (2^shift ns per instruction) or auto", cfg->shift);
    return -1;
  }
  uint64_t q = cfg->quantum_ns ? cfg->quantum_ns : QUANTUM_DEFAULT;
  if (q < 1000 || q > 1000000000ull) {
    snprintf(err, errlen, "quantum=%llu ns: must be from 1 us to 1 s", (unsigned long long)q);
    return -1;
  }
  int changes = cfg->mode != c->cfg.mode || cfg->shift != c->cfg.shift ||
                cfg->sleep != c->cfg.sleep || q != c->cfg.quantum_ns;
  if (changes && (c->nrunners || c->n || c->armed_real)) {
    snprintf(err, errlen, "the clock's mode is chosen before any machine, user-net or timer exists "
             "(%d machines, %u timers armed)", c->nrunners, c->n + c->armed_real);
    return -1;
  }
  uint64_t now = clock_now(rt);
  c->cfg = *cfg;
  c->cfg.quantum_ns = q;
  if (!c->cfg.epoch_s) c->cfg.epoch_s = EPOCH_DEFAULT;
  c->shift = cfg->shift < 0 ? 3 : cfg->shift;   /* auto starts where QEMU's does */
  if (changes) {
    /* Virtual time starts at 0, whatever the host took to get here; the real clock goes on from
     * where the virtual one stood, so it never steps back. */
    if (cfg->mode) c->vnow = 0;
    else c->t0 = uv_hrtime() - now;
    uv_timer_stop(&c->autoshift);
    if (cfg->mode && cfg->shift < 0) {
      c->auto_wall0 = uv_hrtime();
      c->auto_v0 = 0;
      uv_timer_start(&c->autoshift, on_autoshift, AUTO_PERIOD_MS, AUTO_PERIOD_MS);
    }
  }
  return 0;
}

void lemu_rt_get_clock(const lemu_rt *rt, lemu_clock_config *cfg) {
  const clock_state *c = C(rt);
  *cfg = c->cfg;
  if (cfg->mode && cfg->shift >= 0) cfg->shift = c->shift;
}

uint64_t lemu_rt_quanta(const lemu_rt *rt) { return C(rt)->quanta; }

const char *lemu_rt_nondeterministic(const lemu_rt *rt, int i) {
  const clock_state *c = C(rt);
  return i >= 0 && i < c->nnondet ? c->nondet[i] : NULL;
}
