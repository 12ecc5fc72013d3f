/* switch: see switch.h. The forwarding table is an open-addressing hash of (MAC, VLAN id) keys
 * with linear probing; entries are never deleted one by one (expired ones are overwritten, and a
 * port leaving rebuilds the table without its entries), so probing needs no tombstones. */
#include "switch.h"

#include <stdlib.h>
#include <string.h>

#include "port.h"
#include "rt.h"

#define SLOTS      16384u           /* power of two */
#define MAX_USED   (SLOTS / 4 * 3)

typedef struct slot { uint64_t key; net_port *port; uint64_t seen; } slot;   /* key 0: empty */

struct switch_port {                /* a configured port's 802.1Q membership (net_port.sw) */
  int trunk;
  uint16_t vid;                     /* access: its id; trunk: the native id, 0 for none */
  uint64_t allowed[64];
};

struct net_switch {
  lemu_rt *rt;
  uint64_t ageing_ns;
  slot *t;
  uint32_t used;
  switch_stats st;
};

static const struct switch_port default_port = {0, 1, {0}};

static const struct switch_port *cfg_of(const net_port *p) { return p->sw ? p->sw : &default_port; }

static int member(const struct switch_port *c, uint16_t vid) {
  if (!c->trunk) return c->vid == vid;
  return c->vid == vid || (c->allowed[vid >> 6] >> (vid & 63) & 1);
}

/* Whether frames of vid leave this port tagged. */
static int tags(const struct switch_port *c, uint16_t vid) { return c->trunk && c->vid != vid; }

static uint64_t key_of(const uint8_t *mac, uint16_t vid) {
  uint64_t k = (uint64_t)vid << 48;
  for (int i = 0; i < 6; i++) k |= (uint64_t)mac[i] << (8 * (5 - i));
  return k | 1ull << 63;            /* never 0 */
}

static uint32_t hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (uint32_t)k & (SLOTS - 1);
}

net_switch *net_switch_new(lemu_rt *rt, uint64_t ageing_ns) {
  net_switch *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->t = calloc(SLOTS, sizeof *s->t);
  if (!s->t) { free(s); return NULL; }
  s->rt = rt;
  s->ageing_ns = ageing_ns;
  return s;
}

void net_switch_free(net_switch *s) {
  if (!s) return;
  free(s->t);
  free(s);
}

uint64_t net_switch_ageing(const net_switch *s) { return s->ageing_ns; }

static int fresh(const net_switch *s, const slot *e, uint64_t now) {
  return now - e->seen < s->ageing_ns;
}

/* Rebuilds the table keeping the live entries that keep(port) accepts. */
static void rebuild(net_switch *s, const net_port *gone, uint64_t now) {
  slot *old = s->t, *nt = calloc(SLOTS, sizeof *nt);
  if (!nt) {   /* no memory: forget everything, which only means flooding until relearned */
    memset(s->t, 0, SLOTS * sizeof *s->t);
    s->used = 0;
    return;
  }
  s->t = nt;
  s->used = 0;
  for (uint32_t i = 0; i < SLOTS; i++) {
    if (!old[i].key || old[i].port == gone || !fresh(s, &old[i], now)) continue;
    uint32_t h = hash(old[i].key);
    while (nt[h].key) h = (h + 1) & (SLOTS - 1);
    nt[h] = old[i];
    s->used++;
  }
  free(old);
}

static slot *find(net_switch *s, uint64_t key) {
  for (uint32_t h = hash(key);; h = (h + 1) & (SLOTS - 1)) {
    slot *e = &s->t[h];
    if (!e->key || e->key == key) return e;
  }
}

static void learn(net_switch *s, const uint8_t *mac, uint16_t vid, net_port *p, uint64_t now) {
  if (mac[0] & 1) return;           /* a group address is never a source */
  uint64_t key = key_of(mac, vid);
  slot *e = find(s, key);
  if (e->key) {
    if (!fresh(s, e, now)) s->st.learned++;
    e->port = p;
    e->seen = now;
    return;
  }
  if (s->used >= MAX_USED) {
    rebuild(s, NULL, now);          /* drops the expired entries */
    if (s->used >= MAX_USED) { s->st.table_full++; return; }
    e = find(s, key);
  }
  e->key = key;
  e->port = p;
  e->seen = now;
  s->used++;
  s->st.learned++;
}

static struct switch_port *cfg_for(net_port *p) {
  if (!p->sw) {
    p->sw = malloc(sizeof *p->sw);
    if (p->sw) *p->sw = default_port;
  }
  return p->sw;
}

int net_switch_access(net_switch *s, net_port *p, uint16_t vid) {
  (void)s;
  if (vid < 1 || vid > SWITCH_VID_MAX) return -1;
  struct switch_port *c = cfg_for(p);
  if (!c) return -1;
  memset(c, 0, sizeof *c);
  c->vid = vid;
  return 0;
}

int net_switch_trunk(net_switch *s, net_port *p, const uint64_t allowed[64], uint16_t native) {
  (void)s;
  if (native > SWITCH_VID_MAX || (allowed[0] & 1) || (allowed[63] >> 63)) return -1;
  struct switch_port *c = cfg_for(p);
  if (!c) return -1;
  c->trunk = 1;
  c->vid = native;
  memcpy(c->allowed, allowed, sizeof c->allowed);
  return 0;
}

int net_switch_port_mode(const net_switch *s, const net_port *p, uint16_t *vid, uint64_t allowed[64]) {
  (void)s;
  const struct switch_port *c = cfg_of(p);
  *vid = c->vid;
  if (allowed) memcpy(allowed, c->allowed, sizeof c->allowed);
  return c->trunk;
}

void net_switch_port_gone(net_switch *s, net_port *p) {
  free(p->sw);
  p->sw = NULL;
  if (!s) return;
  for (uint32_t i = 0; i < SLOTS; i++)
    if (s->t[i].key && s->t[i].port == p) { rebuild(s, p, lemu_rt_now_ns(s->rt)); return; }
}

/* ---- forwarding ---- */

/* The frame in the forms ports need: as it came (has_tag says whether it carries a tag, prio
 * whether that tag is a priority tag of id 0, which no port sends on), untagged, or tagged with the
 * frame's id (its priority bits kept). The copies are made once per frame, on first need. */
typedef struct forms {
  net_frame *in, *untagged, *tagged;
  uint16_t vid, tci;
  int has_tag, prio;
} forms;

static net_frame *form(forms *fm, int want_tag) {
  if (want_tag == fm->has_tag && !fm->prio) return fm->in;
  net_frame **cache = want_tag ? &fm->tagged : &fm->untagged;
  if (*cache) return *cache;
  static _Thread_local uint8_t buf[NET_FRAME_MAX];
  const net_frame *f = fm->in;
  size_t len;
  memcpy(buf, f->data, 12);
  if (want_tag) {
    buf[12] = 0x81; buf[13] = 0x00;
    buf[14] = (uint8_t)(fm->tci >> 8); buf[15] = (uint8_t)fm->tci;
    size_t skip = fm->has_tag ? 16 : 12;        /* a priority tag is replaced, not stacked */
    len = 16 + f->len - skip;
    if (len > NET_FRAME_MAX) return NULL;
    memcpy(buf + 16, f->data + skip, f->len - skip);
  } else {
    len = f->len - 4;
    memcpy(buf + 12, f->data + 16, len - 12);
  }
  *cache = frame_new(buf, len, f->ts_ns);
  return *cache;
}

static void send_to(forms *fm, net_port *p, void (*offer)(net_port *, net_frame *)) {
  net_frame *g = form(fm, tags(cfg_of(p), fm->vid));
  if (g) offer(p, g);
}

void net_switch_forward(net_switch *s, net_port *const *ports, int n, net_port *src, net_frame *f,
                        void (*offer)(net_port *p, net_frame *f)) {
  const struct switch_port *in = cfg_of(src);
  forms fm = {f, NULL, NULL, 0, 0, 0, 0};
  if (f->data[12] == 0x81 && f->data[13] == 0x00) {
    if (f->len < 18) { s->st.filtered++; return; }   /* a tag with no frame behind it */
    fm.has_tag = 1;
    fm.tci = (uint16_t)(f->data[14] << 8 | f->data[15]);
  }
  uint16_t tag_vid = fm.tci & 0xfff;
  if (fm.has_tag && tag_vid) {
    /* Tagged frames enter only trunks that carry their id (the native id comes untagged). */
    if (!in->trunk || tag_vid == in->vid || !member(in, tag_vid)) { s->st.filtered++; return; }
    fm.vid = tag_vid;
  } else {
    if (!in->vid) { s->st.filtered++; return; }      /* a trunk without a native VLAN */
    fm.prio = fm.has_tag;
    fm.vid = in->vid;
    fm.tci = (uint16_t)((fm.tci & 0xf000) | fm.vid);
  }
  uint64_t now = lemu_rt_now_ns(s->rt);
  learn(s, f->data + 6, fm.vid, src, now);
  if (!(f->data[0] & 1)) {
    slot *e = find(s, key_of(f->data, fm.vid));
    if (e->key && fresh(s, e, now)) {
      net_port *to = e->port;
      int here = 0;
      for (int i = 0; i < n && !here; i++) here = ports[i] == to;
      /* Known and still here: to its port only, or nowhere if it is the port the frame came
       * from (the destination is on the sender's side). */
      if (here && (to == src || member(cfg_of(to), fm.vid))) {
        s->st.forwarded++;
        if (to != src) send_to(&fm, to, offer);
        goto done;
      }
    }
  }
  s->st.flooded++;
  for (int i = 0; i < n; i++) {
    net_port *p = ports[i];
    if (p != src && member(cfg_of(p), fm.vid)) send_to(&fm, p, offer);
  }
done:
  if (fm.untagged) frame_unref(fm.untagged);
  if (fm.tagged) frame_unref(fm.tagged);
}

void net_switch_flush(net_switch *s) {
  memset(s->t, 0, SLOTS * sizeof *s->t);
  s->used = 0;
}

void net_switch_stats(const net_switch *s, switch_stats *st) {
  *st = s->st;
  uint64_t now = lemu_rt_now_ns(s->rt);
  st->entries = 0;
  for (uint32_t i = 0; i < SLOTS; i++)
    if (s->t[i].key && fresh(s, &s->t[i], now)) st->entries++;
}

void net_switch_each(const net_switch *s, void (*fn)(void *ud, const switch_entry *e), void *ud) {
  uint64_t now = lemu_rt_now_ns(s->rt);
  for (uint32_t i = 0; i < SLOTS; i++) {
    const slot *x = &s->t[i];
    if (!x->key || !fresh(s, x, now)) continue;
    switch_entry e;
    for (int k = 0; k < 6; k++) e.mac[k] = (uint8_t)(x->key >> (8 * (5 - k)));
    e.vid = (uint16_t)(x->key >> 48 & 0xfff);
    e.port = x->port;
    e.age_ns = now - x->seen;
    fn(ud, &e);
  }
}
