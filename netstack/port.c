/* port: ports, their bounded queues and counters, and hubs that flood frames between them. */
#include "port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "impair.h"
#include "rt.h"
#include "switch.h"

/* The deferred-delivery state of this thread (see "deferred delivery" below). */
typedef struct later_ent { net_port *port; net_frame *frame; unsigned seq; } later_ent;
/* vhold: the hold is the virtual clock's, under which net_port_ready is deferred too (ready). */
typedef struct later_set {
  int holds, vhold;
  later_ent *q;
  unsigned n, cap;
  net_port **ready;
  unsigned nready, capready;
} later_set;
static _Thread_local later_set later;

struct net_hub {
  rt_obj obj;
  char name[48];
  net_port **ports;
  int nports, cap;
  net_tap *taps;
  uint64_t frames;
  net_switch *sw;           /* NULL: a hub */
};

net_frame *frame_new(const void *data, size_t len, uint64_t ts_ns) {
  if (len < NET_FRAME_MIN || len > NET_FRAME_MAX) return NULL;
  net_frame *f = malloc(sizeof *f + len);
  if (!f) return NULL;
  f->refs = 1;
  f->len = (uint32_t)len;
  f->ts_ns = ts_ns;
  memcpy(f->data, data, len);
  return f;
}

void frame_unref(net_frame *f) {
  if (f && --f->refs == 0) free(f);
}

void net_port_init(net_port *p, const net_port_ops *ops, void *owner, const char *name) {
  memset(p, 0, sizeof *p);
  p->ops = ops;
  p->owner = owner;
  p->link_up = 1;
  p->qlimit = 1024;
  snprintf(p->name, sizeof p->name, "%s", name ? name : ops->kind);
  static _Thread_local uint32_t ports_made;
  p->order = ++ports_made;
}

static void run_taps(net_tap *t, const net_frame *f, int dir) {
  while (t) {
    net_tap *next = t->next; /* a hook may remove itself */
    t->fn(t, f, dir);
    t = next;
  }
}

/* ---- the fair queue ----
 * One FIFO (ring) per source port with frames waiting; a source is only a key, never dereferenced.
 * The owner is served one frame per source in turn. When the bound is reached, the newest frame of
 * the longest FIFO goes (the arriving frame, if its own source holds the most). */
typedef struct port_flow {
  const void *src;
  net_frame **q;
  unsigned head, len, cap;
} port_flow;

/* The port whose frame the hub is handing out now (NULL: from an impairment's timer). */
static _Thread_local const net_port *flooding_src;

static port_flow *flow_for(net_port *p, const void *src) {
  for (unsigned i = 0; i < p->nflows; i++)
    if (p->flows[i].src == src) return &p->flows[i];
  if (p->nflows == p->capflows) {
    unsigned ncap = p->capflows ? p->capflows * 2 : 4;
    port_flow *nf = realloc(p->flows, sizeof *nf * ncap);
    if (!nf) return NULL;
    p->flows = nf;
    p->capflows = ncap;
  }
  port_flow *fl = &p->flows[p->nflows++];
  memset(fl, 0, sizeof *fl);
  fl->src = src;
  return fl;
}

static void flow_remove(net_port *p, unsigned i) {
  free(p->flows[i].q);
  memmove(&p->flows[i], &p->flows[i + 1], sizeof *p->flows * (p->nflows - i - 1));
  p->nflows--;
  if (p->rr > i) p->rr--;
  if (p->rr >= p->nflows) p->rr = 0;
}

static int enqueue(net_port *p, net_frame *f) {
  if (p->qlimit == 0) return 0;
  port_flow *fl = flow_for(p, flooding_src);
  if (!fl) return 0;
  if (p->qlen >= p->qlimit) {
    unsigned longest = 0;
    for (unsigned i = 1; i < p->nflows; i++)
      if (p->flows[i].len > p->flows[longest].len) longest = i;
    port_flow *lf = &p->flows[longest];
    if (lf == fl || lf->len <= fl->len + 1) {
      if (fl->len == 0) flow_remove(p, (unsigned)(fl - p->flows));
      return 0;
    }
    lf->len--;
    frame_unref(lf->q[(lf->head + lf->len) % lf->cap]);
    p->qlen--;
    p->rx.drops++;
  }
  if (fl->len == fl->cap) {
    unsigned ncap = fl->cap ? fl->cap * 2 : 16;
    net_frame **nq = malloc(sizeof *nq * ncap);
    if (!nq) {
      if (fl->len == 0) flow_remove(p, (unsigned)(fl - p->flows));
      return 0;
    }
    for (unsigned i = 0; i < fl->len; i++) nq[i] = fl->q[(fl->head + i) % fl->cap];
    free(fl->q);
    fl->q = nq;
    fl->cap = ncap;
    fl->head = 0;
  }
  fl->q[(fl->head + fl->len) % fl->cap] = frame_ref(f);
  fl->len++;
  p->qlen++;
  return 1;
}

static void deliver(net_port *p, net_frame *f) {
  p->rx.frames++;
  p->rx.bytes += f->len;
  if (p->taps) run_taps(p->taps, f, 0);
}

/* A frame p's owner sent while it was taking one: tapped after it (see txtap in port.h). */
static int tap_later(net_port *p, net_frame *f) {
  if (p->ntxtap == p->captxtap) {
    unsigned ncap = p->captxtap ? p->captxtap * 2 : 8;
    net_frame **nq = realloc(p->txtap, sizeof *nq * ncap);
    if (!nq) return 0;
    p->txtap = nq;
    p->captxtap = ncap;
  }
  p->txtap[p->ntxtap++] = frame_ref(f);
  return 1;
}

static void receive_done(net_port *p);

/* Calls the owner's receive, then taps the frame (if taken) and what the owner sent meanwhile. */
static int receive(net_port *p, net_frame *f) {
  p->in_rx++;
  int took = p->ops->receive(p, f);
  p->in_rx--;
  if (took) deliver(p, f);
  receive_done(p);
  return took;
}

static void receive_done(net_port *p) {
  if (p->in_rx == 0 && p->ntxtap > 0) {
    for (unsigned i = 0; i < p->ntxtap; i++) {
      if (p->taps) run_taps(p->taps, p->txtap[i], 1);
      frame_unref(p->txtap[i]);
    }
    p->ntxtap = 0;
    free(p->txtap);
    p->txtap = NULL;
    p->captxtap = 0;
  }
}

/* Offer f to p: straight to the owner if nothing is queued ahead of it, else behind the queue. */
static void offer_now(net_port *p, net_frame *f) {
  if (!p->link_up || !p->hub) return;
  if (p->qlen == 0 && receive(p, f)) return;
  if (!enqueue(p, f)) p->rx.drops++;
}

static void offer(net_port *p, net_frame *f) {
  if (!p->link_up) return;
  if (p->imp[0]) impair_push(p->imp[0], f);
  else offer_now(p, f);
}

void net_port_ready(net_port *p) {
  if (later.vhold) {
    /* A machine on the virtual clock took buffers: its frames come at the boundary, on the
     * loop's thread (taps and impairments run there, and any worker gets the same result). */
    if (p->ready_pending || !p->qlen) return;
    if (later.nready == later.capready) {
      unsigned ncap = later.capready ? later.capready * 2 : 16;
      net_port **nr = realloc(later.ready, sizeof *nr * ncap);
      if (!nr) return;   /* out of memory: the frames wait for the next ready */
      later.ready = nr;
      later.capready = ncap;
    }
    p->ready_pending = 1;
    later.ready[later.nready++] = p;
    return;
  }
  while (p->qlen > 0 && p->hub) {
    if (p->rr >= p->nflows) p->rr = 0;
    port_flow *fl = &p->flows[p->rr];
    net_frame *f = frame_ref(fl->q[fl->head]);
    p->in_rx++;   /* the frame leaves the queue before it is tapped */
    int took = p->ops->receive(p, f);
    p->in_rx--;
    if (!took) { frame_unref(f); receive_done(p); return; }
    /* Frames from other ports may have been queued meanwhile (the flows array may have moved),
     * or the queue dropped: look again, and take f off its FIFO only if it is still at the head. */
    fl = p->rr < p->nflows ? &p->flows[p->rr] : NULL;
    if (fl && fl->len && fl->q[fl->head] == f) {
      fl->head = (fl->head + 1) % fl->cap;
      fl->len--;
      p->qlen--;
      frame_unref(f);
      if (fl->len == 0) flow_remove(p, p->rr);
      else p->rr = (p->rr + 1) % p->nflows;
    }
    deliver(p, f);
    frame_unref(f);
    receive_done(p);
  }
}

static void drop_queue(net_port *p) {
  for (unsigned i = 0; i < p->nflows; i++) {
    port_flow *fl = &p->flows[i];
    for (unsigned j = 0; j < fl->len; j++) frame_unref(fl->q[(fl->head + j) % fl->cap]);
    free(fl->q);
  }
  free(p->flows);
  p->flows = NULL;
  p->nflows = p->capflows = p->rr = p->qlen = 0;
}

void net_port_set_queue_limit(net_port *p, unsigned limit) { p->qlimit = limit; }

void net_port_set_link(net_port *p, int up) {
  p->link_up = up;
  if (!up) drop_queue(p);
}

static void unhook(net_port *p, int keep_impair);

void net_port_attach(net_port *p, net_hub *h) {
  if (p->hub) unhook(p, 1);
  if (h->nports == h->cap) {
    int ncap = h->cap ? h->cap * 2 : 8;
    net_port **np = realloc(h->ports, sizeof *np * ncap);
    if (!np) return;
    h->ports = np;
    h->cap = ncap;
  }
  h->ports[h->nports++] = p;
  p->hub = h;
}

/* Removes every tap of a list and tells each that what it watched is going. */
static void release_taps(net_tap **list) {
  while (*list) {
    net_tap *t = *list;
    *list = t->next;
    t->next = NULL;
    if (t->gone) t->gone(t);
  }
}

void net_port_detach(net_port *p) { unhook(p, 0); }

static void unhook(net_port *p, int keep_impair) {
  net_hub *h = p->hub;
  if (!h) return;
  for (int d = 0; d < 2; d++) {
    if (!p->imp[d]) continue;
    if (keep_impair) {
      impair_flush(p->imp[d]);
    } else {
      impair_free(p->imp[d]);
      p->imp[d] = NULL;
    }
  }
  for (int i = 0; i < h->nports; i++) {
    if (h->ports[i] == p) {
      memmove(&h->ports[i], &h->ports[i + 1], sizeof *h->ports * (h->nports - i - 1));
      h->nports--;
      break;
    }
  }
  p->hub = NULL;
  if (h->sw || p->sw) net_switch_port_gone(h->sw, p);
  drop_queue(p);
  release_taps(&p->taps);
}

/* The hub a switch is forwarding on now: a port that left it meanwhile gets nothing. */
static _Thread_local net_hub *switching;

static void offer(net_port *p, net_frame *f);

static void switch_offer(net_port *p, net_frame *f) {
  if (p->hub == switching) offer(p, f);
}

static void hub_flood(net_hub *h, net_port *src, net_frame *f);

/* Floods f with its source known to the receivers' queues (receivers may send in turn). */
static void hub_forward(net_hub *h, net_port *src, net_frame *f) {
  const net_port *outer = flooding_src;
  flooding_src = src;
  hub_flood(h, src, f);
  flooding_src = outer;
}

static void hub_flood(net_hub *h, net_port *src, net_frame *f) {
  h->frames++;
  if (h->taps) run_taps(h->taps, f, 1);
  if (h->sw) {
    net_port *small[32];
    int n = h->nports;
    net_port **snap = n <= 32 ? small : malloc(sizeof *snap * n);
    if (!snap) return;
    memcpy(snap, h->ports, sizeof *snap * n);
    net_hub *outer = switching;
    switching = h;
    net_switch_forward(h->sw, snap, n, src, f, switch_offer);
    switching = outer;
    if (snap != small) free(snap);
    return;
  }
  /* Receivers may attach or detach ports (even src) while we flood: iterate over a snapshot and
   * skip ports that left. Port memory stays valid for this iteration (see port.h). */
  net_port *small[32];
  int n = h->nports;
  net_port **snap = n <= 32 ? small : malloc(sizeof *snap * n);
  if (!snap) return;
  memcpy(snap, h->ports, sizeof *snap * n);
  for (int i = 0; i < n; i++)
    if (snap[i] != src && snap[i]->hub == h) offer(snap[i], f);
  if (snap != small) free(snap);
}

/* ---- deferred delivery ----
 * While the netstack is held (a machine runs a slice), frames sent go into this thread's
 * deliver-later queue with their port, in order, and reach their hubs when the last hold is
 * released: no receiver (a Lua endpoint, another machine's NIC) runs inside cpu_run. The sender's
 * checks and counters happen at release, as if it had sent then. Ports stay valid until the end of
 * the loop iteration in which they detach (port.h), and a release comes within it. */

static int forward_now(net_port *p, net_frame *f);

void net_hold(void) { later.holds++; }

static void deliver_ready(net_port **ready, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    ready[i]->ready_pending = 0;
    net_port_ready(ready[i]);
  }
}

void net_release(void) {
  if (later.holds == 0 || --later.holds > 0) return;
  later.vhold = 0;
  /* Receivers may send in turn: those frames go straight out (nothing holds now). Ports that
   * took buffers meanwhile get their queued frames first, so frames keep their order. */
  net_port **ready = later.ready;
  unsigned nready = later.nready;
  later.ready = NULL;
  later.nready = later.capready = 0;
  deliver_ready(ready, nready);
  free(ready);
  for (unsigned i = 0; i < later.n; i++) {
    later_ent e = later.q[i];
    forward_now(e.port, e.frame);
    frame_unref(e.frame);
  }
  later.n = 0;
}

static int later_cmp(const void *a, const void *b) {
  const later_ent *x = a, *y = b;
  if (x->frame->ts_ns != y->frame->ts_ns) return x->frame->ts_ns < y->frame->ts_ns ? -1 : 1;
  if (x->port->order != y->port->order) return x->port->order < y->port->order ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- the virtual clock's holds (core/clock.h's clock_net_hooks) ----
 * Each machine runs under a hold of its own thread, and what it held is taken as a set; the loop
 * thread puts the sets back in the machines' order and releases them at the boundary, ordered by
 * virtual send time, then the sending port's creation order, then sending. The same steps whether
 * the machines ran one after another or on several workers, so the result is the same bytes. */
static void vhold(void) {
  later.holds++;
  later.vhold = 1;
}

static void *vtake(void) {
  later_set *s = malloc(sizeof *s);
  if (!s) {
    /* Out of memory: this machine's frames of the quantum are lost, counted at their ports. */
    for (unsigned i = 0; i < later.n; i++) {
      later.q[i].port->tx.drops++;
      frame_unref(later.q[i].frame);
    }
    for (unsigned i = 0; i < later.nready; i++) later.ready[i]->ready_pending = 0;
    free(later.q);
    free(later.ready);
    memset(&later, 0, sizeof later);
    return NULL;
  }
  *s = later;
  memset(&later, 0, sizeof later);
  return s;
}

static void vput(void *held) {
  later_set *s = held;
  if (!s) return;
  for (unsigned i = 0; i < s->nready; i++) {
    if (later.nready == later.capready) {
      unsigned ncap = later.capready ? later.capready * 2 : 16;
      net_port **nr = realloc(later.ready, sizeof *nr * ncap);
      if (!nr) { s->ready[i]->ready_pending = 0; continue; }
      later.ready = nr;
      later.capready = ncap;
    }
    later.ready[later.nready++] = s->ready[i];
  }
  for (unsigned i = 0; i < s->n; i++) {
    if (later.n == later.cap) {
      unsigned ncap = later.cap ? later.cap * 2 : 64;
      later_ent *nq = realloc(later.q, sizeof *nq * ncap);
      if (!nq) { s->q[i].port->tx.drops++; frame_unref(s->q[i].frame); continue; }
      later.q = nq;
      later.cap = ncap;
    }
    later.q[later.n] = s->q[i];
    later.q[later.n].seq = later.n;
    later.n++;
  }
  free(s->q);
  free(s->ready);
  free(s);
}

static void vrelease(void) {
  if (later.n > 1) qsort(later.q, later.n, sizeof *later.q, later_cmp);
  later.holds = 1;
  net_release();
}

static const clock_net_hooks vhooks = {vhold, vtake, vput, vrelease};

/* Frames held at most by one hold (a slice, or one machine's quantum): a device that sends
 * without end (a hostile guest's ring, a model's bug) loses frames past this, counted at its
 * port, instead of growing memory. */
#define LATER_MAX 65536u

static int defer(net_port *p, net_frame *f) {
  if (later.n >= LATER_MAX) { p->tx.drops++; return -1; }
  if (later.n == later.cap) {
    unsigned ncap = later.cap ? later.cap * 2 : 64;
    later_ent *nq = realloc(later.q, sizeof *nq * ncap);
    if (!nq) { p->tx.drops++; return -1; }
    later.q = nq;
    later.cap = ncap;
  }
  later.q[later.n].port = p;
  later.q[later.n].frame = frame_ref(f);
  later.q[later.n].seq = later.n;
  later.n++;
  return 0;
}

int net_port_send_frame(net_port *p, net_frame *f) {
  if (later.holds > 0 && p->hub && p->link_up) return defer(p, f);
  return forward_now(p, f);
}

static int forward_now(net_port *p, net_frame *f) {
  if (!p->hub || !p->link_up) {
    p->tx.drops++;
    return -1;
  }
  p->tx.frames++;
  p->tx.bytes += f->len;
  if (p->taps && !(p->in_rx && tap_later(p, f))) run_taps(p->taps, f, 1);
  if (p->imp[1]) impair_push(p->imp[1], f);
  else hub_forward(p->hub, p, f);
  return 0;
}

/* What a port's impairment stages hand on: into the hub, or to the owner. The port may have left
 * its hub since (a move flushes the stages, a detach frees them), so look again. */
static void impaired_out(void *ud, net_frame *f) {
  net_port *p = ud;
  if (p->hub) hub_forward(p->hub, p, f);
}

static void impaired_in(void *ud, net_frame *f) { offer_now(ud, f); }

int net_port_impair(net_port *p, int dir, const impair_cfg *cfg) {
  dir = !!dir;
  if (!cfg) {
    impair_free(p->imp[dir]);
    p->imp[dir] = NULL;
    return 0;
  }
  if (p->imp[dir]) { impair_set(p->imp[dir], cfg); return 0; }
  if (!p->hub) return -1;
  p->imp[dir] = impair_new(p->hub->obj.rt, cfg, dir ? impaired_out : impaired_in, p);
  return p->imp[dir] ? 0 : -1;
}

int net_port_send(net_port *p, const void *data, size_t len) {
  net_frame *f = NULL;
  if (p->hub && p->link_up) {
    f = frame_new(data, len, lemu_rt_now_ns(p->hub->obj.rt));
  }
  if (!f) {
    p->tx.drops++;
    return -1;
  }
  int r = net_port_send_frame(p, f);
  frame_unref(f);
  return r;
}

void net_port_add_tap(net_port *p, net_tap *t) { t->next = p->taps; p->taps = t; }

static void remove_tap(net_tap **list, net_tap *t) {
  for (net_tap **pp = list; *pp; pp = &(*pp)->next)
    if (*pp == t) { *pp = t->next; return; }
}

void net_port_remove_tap(net_port *p, net_tap *t) { remove_tap(&p->taps, t); }

/* ---- hubs ---- */

static void hub_objclose(rt_obj *o) {
  net_hub *h = (net_hub *)o;
  while (h->nports > 0) net_port_detach(h->ports[h->nports - 1]);
  release_taps(&h->taps);
  net_switch_free(h->sw);
  free(h->ports);
  rt_obj_del(&h->obj);
  free(h);
}

static const rt_objtype hub_type = {"vlan", hub_objclose};

net_hub *net_hub_new(lemu_rt *rt, const char *name) {
  net_hub *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  snprintf(h->name, sizeof h->name, "%s", name);
  rt_obj_add(rt, &h->obj, &hub_type);
  clock_set_net(&vhooks);
  return h;
}

const char *net_hub_name(const net_hub *h) { return h->name; }
void net_hub_close(net_hub *h) { rt_obj_close(&h->obj); }
int net_hub_nports(const net_hub *h) { return h->nports; }
net_port *net_hub_port(const net_hub *h, int i) { return i >= 0 && i < h->nports ? h->ports[i] : NULL; }
void net_hub_add_tap(net_hub *h, net_tap *t) { t->next = h->taps; h->taps = t; }
void net_hub_remove_tap(net_hub *h, net_tap *t) { remove_tap(&h->taps, t); }
uint64_t net_hub_frames(const net_hub *h) { return h->frames; }

int net_hub_make_switch(net_hub *h, uint64_t ageing_ns) {
  if (h->sw) return 0;
  if (h->nports) return -1;
  h->sw = net_switch_new(h->obj.rt, ageing_ns);
  return h->sw ? 0 : -1;
}

net_switch *net_hub_switch(const net_hub *h) { return h->sw; }
