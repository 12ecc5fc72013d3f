/* impair: see impair.h. Frames in flight sit in a binary heap ordered by departure time (then
 * arrival order); one libuv timer is set for the earliest. The bottleneck is a virtual serialiser:
 * each frame starts when the one before it has left, so its backlog is a FIFO of finishing times. */
#include "impair.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "clock.h"
#include "rt.h"

#define DEFAULT_LIMIT 1000
#define FLIGHT_MAX    (1u << 20)    /* frames in flight at most, whatever the configuration */

typedef struct entry { uint64_t at, seq; net_frame *f; } entry;

struct impair {
  clock_timer timer;              /* first: the close callback frees the stage through it */
  lemu_rt *rt;
  impair_cfg cfg;
  void (*out)(void *ud, net_frame *f);
  void *ud;
  uint64_t rng;
  int bad;                        /* Gilbert-Elliott state */
  entry *heap;
  uint32_t n, cap;
  uint64_t seq, last_at;
  /* the bottleneck: finishing times and sizes of the frames it still holds, in order */
  uint64_t *busy_end;
  uint32_t *busy_len;
  uint32_t bhead, blen, bcap;
  uint64_t busy_bytes, link_free;
  impair_stats st;
  int running;                    /* inside a timer run: no re-arm from pushes */
};

/* ---- randomness: splitmix64, seeded per stage ---- */

static uint64_t next_u64(impair *im) {
  uint64_t z = (im->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform(impair *im) { return (double)(next_u64(im) >> 11) * 0x1p-53; }
static int chance(impair *im, double p) { return p > 0 && uniform(im) < p; }

static double normal(impair *im) {
  double u = uniform(im), v = uniform(im);
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

/* ---- the heap ---- */

static int before(const entry *a, const entry *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int heap_push(impair *im, entry e) {
  if (im->n == im->cap) {
    uint32_t ncap = im->cap ? im->cap * 2 : 64;
    entry *nh = realloc(im->heap, sizeof *nh * ncap);
    if (!nh) return -1;
    im->heap = nh;
    im->cap = ncap;
  }
  uint32_t i = im->n++;
  while (i > 0) {
    uint32_t up = (i - 1) / 2;
    if (!before(&e, &im->heap[up])) break;
    im->heap[i] = im->heap[up];
    i = up;
  }
  im->heap[i] = e;
  return 0;
}

static entry heap_pop(impair *im) {
  entry top = im->heap[0], last = im->heap[--im->n];
  uint32_t i = 0;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= im->n) break;
    if (c + 1 < im->n && before(&im->heap[c + 1], &im->heap[c])) c++;
    if (!before(&im->heap[c], &last)) break;
    im->heap[i] = im->heap[c];
    i = c;
  }
  if (im->n) im->heap[i] = last;
  return top;
}

/* ---- the bottleneck's backlog ---- */

static void backlog_expire(impair *im, uint64_t now) {
  while (im->blen && im->busy_end[im->bhead] <= now) {
    im->busy_bytes -= im->busy_len[im->bhead];
    im->bhead = (im->bhead + 1) % im->bcap;
    im->blen--;
  }
}

static int backlog_add(impair *im, uint64_t end, uint32_t len) {
  if (im->blen == im->bcap) {
    uint32_t ncap = im->bcap ? im->bcap * 2 : 64;
    uint64_t *ne = malloc(sizeof *ne * ncap);
    uint32_t *nl = malloc(sizeof *nl * ncap);
    if (!ne || !nl) { free(ne); free(nl); return -1; }
    for (uint32_t i = 0; i < im->blen; i++) {
      ne[i] = im->busy_end[(im->bhead + i) % im->bcap];
      nl[i] = im->busy_len[(im->bhead + i) % im->bcap];
    }
    free(im->busy_end);
    free(im->busy_len);
    im->busy_end = ne;
    im->busy_len = nl;
    im->bcap = ncap;
    im->bhead = 0;
  }
  uint32_t at = (im->bhead + im->blen) % im->bcap;
  im->busy_end[at] = end;
  im->busy_len[at] = len;
  im->blen++;
  im->busy_bytes += len;
  return 0;
}

/* ---- running ---- */

static void on_timer(clock_timer *t);

static void arm(impair *im, uint64_t now) {
  if (im->n == 0) { clock_timer_stop(&im->timer); return; }
  clock_timer_start(&im->timer, im->heap[0].at > now ? im->heap[0].at - now : 0);
}

/* Hands on every frame that is due; the earliest left sets the timer. */
static void run_due(impair *im) {
  im->running = 1;
  for (;;) {
    uint64_t now = lemu_rt_now_ns(im->rt);
    if (im->n == 0 || im->heap[0].at > now) { arm(im, now); break; }
    entry e = heap_pop(im);
    im->st.passed++;
    im->out(im->ud, e.f);
    frame_unref(e.f);
  }
  im->running = 0;
}

static void on_timer(clock_timer *t) { run_due(t->data); }

static void schedule(impair *im, net_frame *f, uint64_t now) {
  const impair_cfg *c = &im->cfg;
  uint64_t at = now;
  if (c->rate_bps) {
    backlog_expire(im, now);
    uint32_t limit = c->limit ? c->limit : DEFAULT_LIMIT;
    if (im->blen >= limit || (c->limit_bytes && im->busy_bytes + f->len > c->limit_bytes)) {
      im->st.overflow++;
      return;
    }
    uint64_t start = im->link_free > now ? im->link_free : now;
    uint64_t bits = (uint64_t)(f->len + c->overhead) * 8;
    uint64_t end = start + (uint64_t)((double)bits * 1e9 / (double)c->rate_bps);
    if (backlog_add(im, end, f->len) < 0) { im->st.overflow++; return; }
    im->link_free = end;
    at = end;
  }
  int reordered = c->reorder > 0 && c->delay_ns && chance(im, c->reorder);
  if (reordered) {
    im->st.reordered++;
  } else {
    double d = (double)c->delay_ns;
    if (c->jitter_ns) {
      double j = (double)c->jitter_ns;
      d += c->dist == IMPAIR_NORMAL ? j * normal(im) : j * (2.0 * uniform(im) - 1.0);
      if (d < 0) d = 0;
    }
    at += (uint64_t)d;
    /* Without jitter a link keeps its order, even when its delay was just made shorter. */
    if (!c->jitter_ns && at < im->last_at) at = im->last_at;
    im->last_at = at;
  }
  if (im->n >= FLIGHT_MAX) { im->st.overflow++; return; }
  if (at <= now && im->n == 0 && !im->running) {
    im->st.passed++;
    im->out(im->ud, f);
    return;
  }
  if (heap_push(im, (entry){at, im->seq++, frame_ref(f)}) < 0) {
    frame_unref(f);
    im->st.overflow++;
    return;
  }
  im->st.delayed++;
  if (!im->running && im->heap[0].seq == im->seq - 1) arm(im, now);
}

static int lost(impair *im) {
  const impair_cfg *c = &im->cfg;
  if (!c->burst) return chance(im, c->loss);
  /* The state moves first, then the frame meets the loss of the state it finds. */
  if (im->bad) { if (chance(im, c->ge_r)) im->bad = 0; }
  else if (chance(im, c->ge_p)) im->bad = 1;
  return chance(im, im->bad ? c->ge_loss_bad : c->ge_loss_good);
}

void impair_push(impair *im, net_frame *f) {
  uint64_t now = lemu_rt_now_ns(im->rt);
  if (lost(im)) { im->st.lost++; return; }
  int copies = 1 + chance(im, im->cfg.duplicate);
  if (copies > 1) im->st.duplicated++;
  for (int i = 0; i < copies; i++) {
    if (chance(im, im->cfg.corrupt)) {
      net_frame *g = frame_new(f->data, f->len, f->ts_ns);
      if (g) {
        uint64_t bit = next_u64(im) % ((uint64_t)f->len * 8);
        g->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        im->st.corrupted++;
        schedule(im, g, now);
        frame_unref(g);
        continue;
      }
    }
    schedule(im, f, now);
  }
}

/* ---- life ---- */

impair *impair_new(lemu_rt *rt, const impair_cfg *cfg, void (*out)(void *ud, net_frame *f),
                   void *ud) {
  impair *im = calloc(1, sizeof *im);
  if (!im) return NULL;
  im->rt = rt;
  im->out = out;
  im->ud = ud;
  clock_timer_init(rt, &im->timer, on_timer, im);
  impair_set(im, cfg);
  return im;
}

void impair_set(impair *im, const impair_cfg *cfg) {
  int reseed = cfg->seed != im->cfg.seed || !im->rng;
  im->cfg = *cfg;
  if (reseed) im->rng = cfg->seed ^ 0x6c656d75696d7061ull;   /* never 0, whatever the seed */
}

const impair_cfg *impair_get(const impair *im) { return &im->cfg; }

void impair_flush(impair *im) {
  while (im->n) {
    entry e = heap_pop(im);
    frame_unref(e.f);
    im->st.flushed++;
  }
  im->blen = im->bhead = 0;
  im->busy_bytes = im->link_free = im->last_at = 0;
  clock_timer_stop(&im->timer);
}

void impair_stats_get(const impair *im, impair_stats *st) {
  *st = im->st;
  st->in_flight = im->n;
}

static void on_closed(uv_handle_t *h) {
  impair *im = (impair *)h;
  free(im->heap);
  free(im->busy_end);
  free(im->busy_len);
  free(im);
}

void impair_free(impair *im) {
  if (!im) return;
  impair_flush(im);
  clock_timer_close(&im->timer, on_closed);
}

/* ---- tc netem's syntax ---- */

static int parse_num(const char *s, double *v, const char **rest) {
  char *end;
  *v = strtod(s, &end);
  if (end == s || !isfinite(*v) || *v < 0) return -1;
  *rest = end;
  return 0;
}

int impair_parse_time(const char *s, uint64_t *ns) {
  double v;
  const char *u;
  if (parse_num(s, &v, &u) < 0) return -1;
  double mul;
  if (!*u || !strcmp(u, "us") || !strcmp(u, "usec") || !strcmp(u, "usecs")) mul = 1e3;
  else if (!strcmp(u, "ns") || !strcmp(u, "nsec")) mul = 1;
  else if (!strcmp(u, "ms") || !strcmp(u, "msec") || !strcmp(u, "msecs")) mul = 1e6;
  else if (!strcmp(u, "s") || !strcmp(u, "sec") || !strcmp(u, "secs")) mul = 1e9;
  else return -1;
  if (v * mul > 3.6e12) return -1;           /* an hour: past that it is a typo */
  *ns = (uint64_t)(v * mul + 0.5);
  return 0;
}

int impair_parse_rate(const char *s, uint64_t *bps) {
  double v;
  const char *u;
  if (parse_num(s, &v, &u) < 0) return -1;
  static const struct { const char *unit; double mul; } units[] = {
    {"", 1}, {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12},
    {"bps", 8}, {"kbps", 8e3}, {"mbps", 8e6}, {"gbps", 8e9}, {"tbps", 8e12},
  };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcasecmp(u, units[i].unit) != 0) continue;
    double r = v * units[i].mul;
    if (r < 1 || r > 1e13) return -1;
    *bps = (uint64_t)(r + 0.5);
    return 0;
  }
  return -1;
}

/* A percentage "1%" (or a bare fraction-free number, as tc takes it) -> 0..1. */
static int parse_pct(const char *s, double *p) {
  double v;
  const char *u;
  if (parse_num(s, &v, &u) < 0 || (*u && strcmp(u, "%") != 0) || v > 100) return -1;
  *p = v / 100.0;
  return 0;
}

int impair_parse(const char *spec, impair_cfg *cfg, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  char buf[512];
  if (strlen(spec) >= sizeof buf) { snprintf(err, errlen, "too long"); return -1; }
  char *w[64];
  int n = 0;
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *t = strtok(buf, " \t\n"); t && n < 64; t = strtok(NULL, " \t\n")) w[n++] = t;
  double pct;
  uint64_t v;
#define NEED(what) do { if (i + 1 >= n) { snprintf(err, errlen, "'%s' needs %s", w[i], what); return -1; } } while (0)
#define BAD(word, why) do { snprintf(err, errlen, "'%s %s': %s", w[i], word, why); return -1; } while (0)
  for (int i = 0; i < n; i++) {
    if (!strcmp(w[i], "delay")) {
      NEED("a time (50ms)");
      if (impair_parse_time(w[i + 1], &cfg->delay_ns) < 0) BAD(w[i + 1], "not a time (50ms, 1s, 200us)");
      int k = i + 1;
      if (k + 1 < n && impair_parse_time(w[k + 1], &v) == 0) { cfg->jitter_ns = v; k++; }
      if (k + 1 < n && parse_pct(w[k + 1], &pct) == 0 && strchr(w[k + 1], '%')) {
        snprintf(err, errlen, "'delay ... %s': correlated delay is not supported", w[k + 1]);
        return -1;
      }
      if (k + 2 < n && !strcmp(w[k + 1], "distribution")) {
        if (!strcmp(w[k + 2], "normal")) cfg->dist = IMPAIR_NORMAL;
        else if (!strcmp(w[k + 2], "uniform")) cfg->dist = IMPAIR_UNIFORM;
        else { snprintf(err, errlen, "'distribution %s': lemu has uniform and normal", w[k + 2]); return -1; }
        k += 2;
      }
      i = k;
    } else if (!strcmp(w[i], "loss")) {
      NEED("a percentage (1%) or gemodel P R 1-H 1-K");
      if (!strcmp(w[i + 1], "random")) {
        i++;
        NEED("a percentage (1%)");
      }
      if (!strcmp(w[i + 1], "gemodel")) {
        i++;
        NEED("P (the chance to enter the bad state)");
        double g[4] = {0, 1, 1, 0};          /* tc's defaults: R = 1 - P, 1-H = 100%, 1-K = 0% */
        int k = 0;
        while (k < 4 && i + 1 < n && parse_pct(w[i + 1], &g[k]) == 0) { k++; i++; }
        if (k == 0) BAD(w[i + 1], "not a percentage");
        if (k < 2) g[1] = 1 - g[0];
        cfg->burst = 1;
        cfg->ge_p = g[0];
        cfg->ge_r = g[1];
        cfg->ge_loss_bad = g[2];
        cfg->ge_loss_good = g[3];
      } else {
        if (parse_pct(w[i + 1], &cfg->loss) < 0) BAD(w[i + 1], "not a percentage (1%)");
        i++;
      }
    } else if (!strcmp(w[i], "duplicate") || !strcmp(w[i], "corrupt") || !strcmp(w[i], "reorder")) {
      NEED("a percentage (1%)");
      double *dst = w[i][0] == 'd' ? &cfg->duplicate : w[i][0] == 'c' ? &cfg->corrupt : &cfg->reorder;
      if (parse_pct(w[i + 1], dst) < 0) BAD(w[i + 1], "not a percentage (1%)");
      i++;
      if (i + 1 < n && strchr(w[i + 1], '%')) {
        snprintf(err, errlen, "'%s': a correlation is not supported", w[i + 1]);
        return -1;
      }
    } else if (!strcmp(w[i], "rate")) {
      NEED("a rate (10mbit)");
      if (impair_parse_rate(w[i + 1], &cfg->rate_bps) < 0) BAD(w[i + 1], "not a rate (10mbit, 1gbit, 125kbps)");
      i++;
      char *end;
      if (i + 1 < n) {
        long o = strtol(w[i + 1], &end, 10);
        if (*end == 0 && end != w[i + 1]) {
          if (o < 0 || o > 1000) BAD(w[i + 1], "an overhead is 0 to 1000 bytes");
          cfg->overhead = (uint32_t)o;
          i++;
        }
      }
    } else if (!strcmp(w[i], "limit")) {
      NEED("a number of frames");
      char *end;
      long l = strtol(w[i + 1], &end, 10);
      if (*end || l < 1 || l > 1000000) BAD(w[i + 1], "a limit is 1 to 1000000 frames");
      cfg->limit = (uint32_t)l;
      i++;
    } else {
      snprintf(err, errlen, "'%s': unknown (lemu takes delay, loss, duplicate, corrupt, reorder, rate, limit)", w[i]);
      return -1;
    }
  }
#undef NEED
#undef BAD
  if (cfg->reorder > 0 && !cfg->delay_ns) {
    snprintf(err, errlen, "reorder needs a delay (frames it picks skip the delay)");
    return -1;
  }
  return 0;
}
