/* sock: socket backends — addresses, peers, housekeeping (deferred drops, paused readers,
 * stalled writers), opening, closing and the API. Streams (TCP/unix, length-prefixed frames) are
 * in sockstream.c, datagrams (UDP/unix/multicast, a frame per datagram) in sockdgram.c.
 *
 * Flow control both ways. From a peer: after each frame we look at the VLAN; when every other port
 * is backlogged (its queue half full) we stop reading the socket, so the kernel's buffers and TCP
 * push back on the sender, and a 1 ms timer resumes when some port has room again. Toward a peer:
 * at most cfg.wqueue bytes wait for the kernel per peer; beyond that the port refuses frames
 * and they wait in its bounded queue (drops counted there) until writes complete. A stream peer
 * whose writes make no progress for cfg.stall_ms is dropped. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "fdport.h"
#include "log.h"
#include "sockint.h"

/* Addresses and reasons are cut to fit their buffers on purpose. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

uint64_t sock_now_ns(net_sock *s) { return lemu_rt_now_ns(s->obj.rt); }

void sock_emit(net_sock *s, const char *ev, const char *addr, const char *reason) {
  if (s->evfn && !s->obj.closing) s->evfn(s, ev, addr, reason, s->evud);
}

/* ---- addresses ---- */

int net_sock_parse_addr(const char *addr, struct sockaddr_storage *ss, unsigned *sslen, char *err,
                        size_t errlen) {
  memset(ss, 0, sizeof *ss);
  if (!addr) { snprintf(err, errlen, "no address given"); return -1; }
  if (strncmp(addr, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    const char *path = addr + 5;
    if (!*path || strlen(path) >= sizeof un->sun_path) {
      snprintf(err, errlen, "bad unix socket path '%s' (1 to %zu characters)", path, sizeof un->sun_path - 1);
      return -1;
    }
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    *sslen = sizeof *un;
    return 0;
  }
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon) {
    snprintf(err, errlen, "bad address '%s': expected host:port or unix:/path", addr);
    return -1;
  }
  size_t hl = (size_t)(colon - addr);
  if (hl >= sizeof host) { snprintf(err, errlen, "bad address '%s': host too long", addr); return -1; }
  memcpy(host, addr, hl);
  host[hl] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || port < 0 || port > 65535) {
    snprintf(err, errlen, "bad port in '%s': expected 0 to 65535", addr);
    return -1;
  }
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = 0;
    memmove(host, host + 1, hl - 1);
  }
  if (!*host) strcpy(host, "127.0.0.1");   /* an empty host means loopback, never every interface */
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int r = getaddrinfo(host, NULL, &hints, &res);
  if (r != 0 || !res) {
    snprintf(err, errlen, "cannot resolve host '%s' in '%s': %s", host, addr, gai_strerror(r));
    return -1;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sslen = res->ai_addrlen;
  freeaddrinfo(res);
  if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  return 0;
}

void sock_fmt_addr(const struct sockaddr *sa, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, ntohs(in->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
  } else if (sa->sa_family == AF_UNIX) {
    const struct sockaddr_un *un = (const void *)sa;
    snprintf(out, n, "unix:%s", un->sun_path[0] ? un->sun_path : "(unnamed)");
  } else {
    snprintf(out, n, "?");
  }
}

/* ---- common ---- */

static void sock_final(net_sock *s) {
  while (s->grave) {
    sock_peer *p = s->grave;
    s->grave = p->next;
    free(p->rbuf);
    free(p->fill.data);
    free(p->busy.data);
    free(p);
  }
  if (s->fd >= 0) close(s->fd);
  if (s->sendfd >= 0 && s->sendfd != s->fd) close(s->sendfd);
  if (s->cfg.mode == NET_SOCK_LISTEN && s->is_unix)
    unlink(((struct sockaddr_un *)&s->ss)->sun_path);
  free(s->dbuf);
  rt_obj_del(&s->obj);
  free(s);
}

void sock_unpend(net_sock *s) {
  if (--s->pending == 0 && s->obj.closing) sock_final(s);
}

void sock_handle_closed(uv_handle_t *h) { sock_unpend(h->data); }

static void on_tick(uv_timer_t *t);

void sock_tick_arm(net_sock *s, unsigned ms) {
  if (s->obj.closing) return;
  uint64_t due = uv_timer_get_due_in(&s->tick);
  if (uv_is_active((uv_handle_t *)&s->tick) && due <= ms) return;
  uv_timer_start(&s->tick, on_tick, ms, 0);
}

/* Hands a frame from the peer to the VLAN. */
void sock_from_peer(sock_peer *p, const uint8_t *data, size_t len) {
  if (len < NET_FRAME_MIN || len > NET_FRAME_MAX) {
    p->st.from_peer.drops++;
    return;
  }
  p->st.from_peer.frames++;
  p->st.from_peer.bytes += len;
  net_port_send(&p->port, data, len);
}

sock_peer *sock_peer_new(net_sock *s, const net_port_ops *ops, int stream) {
  sock_peer *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (stream && !(p->rbuf = malloc(RBUF_CAP))) { free(p); return NULL; }
  p->s = s;
  net_port_init(&p->port, ops, p, "socket");
  return p;
}

void sock_peer_attach(net_sock *s, sock_peer *p, const char *addr) {
  snprintf(p->addr, sizeof p->addr, "%s", addr);
  snprintf(p->port.name, sizeof p->port.name, "socket %s", addr);
  p->next = s->peers;
  s->peers = p;
  s->npeers++;
  net_port_attach(&p->port, s->hub);
}


/* Housekeeping: deferred drops, paused readers, stalled writers. */
static void on_tick(uv_timer_t *t) {
  net_sock *s = t->data;
  int paused = 0, streams = 0;
  uint64_t now = sock_now_ns(s), stall = (uint64_t)s->cfg.stall_ms * 1000000u;
  sock_peer *next;
  for (sock_peer *p = s->peers; p && !s->obj.closing; p = next) {
    next = p->next;   /* peers dropped meanwhile stay allocated until their close callbacks */
    if (p->drop_pending) { sock_peer_drop(p, p->drop_pending); continue; }
    if (sock_is_dgram(s)) {
      if (s->rpoll_on == 0 && p->paused && net_vlan_has_room(&p->port)) {
        p->paused = 0;
        sock_dgram_poll_update(s);
      }
      paused |= p->paused;
      continue;
    }
    if (!p->conn || !p->connected) continue;
    streams++;
    if (p->writing && now - p->progress_ns > stall) {
      char why[96];
      snprintf(why, sizeof why, "stalled: no write progress for %u ms", s->cfg.stall_ms);
      sock_peer_drop(p, why);
      continue;
    }
    if (p->paused && net_vlan_has_room(&p->port)) sock_stream_resume(p);
    paused |= p->paused;
  }
  if (paused) sock_tick_arm(s, TICK_PAUSED_MS);
  else if (streams) sock_tick_arm(s, TICK_IDLE_MS);
}

/* ---- opening and closing ---- */

static void sock_objclose(rt_obj *o) {
  net_sock *s = (net_sock *)o;
  uv_timer_stop(&s->tick);
  uv_timer_stop(&s->retry);
  log_limited_flush(&s->warn_limit);
  while (s->peers) {
    sock_peer *p = s->peers;
    s->peers = p->next;
    net_port_detach(&p->port);
    p->dead = 1;
    if (p->conn) {
      sock_conn *c = p->conn;
      p->conn = NULL;
      uv_close(&c->u.h, sock_conn_closed);
    } else {
      p->next = s->grave;
      s->grave = p;
    }
  }
  s->npeers = 0;
  if (s->listener) {
    sock_conn_free(s->listener);
    s->listener = NULL;
    if (s->hub) net_hub_remove_tap(s->hub, &s->hubwatch);
  }
  if (sock_is_dgram(s)) {
    if (s->has_rpoll) uv_close((uv_handle_t *)&s->rpoll, sock_handle_closed);
    if (s->has_wpoll) uv_close((uv_handle_t *)&s->wpoll, sock_handle_closed);
  }
  uv_close((uv_handle_t *)&s->tick, sock_handle_closed);
  uv_close((uv_handle_t *)&s->retry, sock_handle_closed);
}

static const rt_objtype sock_type = {"socket", sock_objclose};


net_sock *net_sock_open(lemu_rt *rt, net_hub *hub, const net_sock_config *cfg, char *err, size_t errlen) {
  net_ignore_sigpipe();
  net_sock *s = calloc(1, sizeof *s);
  if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
  s->hub = hub;
  s->cfg = *cfg;
  /* the caller's strings are not ours to keep */
  snprintf(s->localcfg, sizeof s->localcfg, "%s", cfg->local ? cfg->local : "");
  s->cfg.local = s->localcfg;
  s->cfg.addr = s->addr;
  if (!s->cfg.stall_ms) s->cfg.stall_ms = 10000;
  if (!s->cfg.wqueue) s->cfg.wqueue = 256 * 1024;
  s->fd = s->sendfd = -1;
  snprintf(s->addr, sizeof s->addr, "%s", cfg->addr ? cfg->addr : "");
  if (cfg->addr && cfg->addr[0] == ':') snprintf(s->addr, sizeof s->addr, "127.0.0.1%s", cfg->addr);
  if (net_sock_parse_addr(cfg->addr, &s->ss, &s->sslen, err, errlen) < 0) { free(s); return NULL; }
  s->is_unix = s->ss.ss_family == AF_UNIX;
  rt_obj_add(rt, &s->obj, &sock_type);
  char part[sizeof s->addr + 32];
  snprintf(part, sizeof part, "socket backend %s", s->addr);
  clock_nondeterministic(rt, part);
  uv_loop_t *loop = rt_loop(rt);
  uv_timer_init(loop, &s->tick);
  uv_timer_init(loop, &s->retry);
  s->tick.data = s->retry.data = s;
  uv_unref((uv_handle_t *)&s->tick);
  s->pending = 2;
  int r = 0;
  switch (cfg->mode) {
  case NET_SOCK_LISTEN:
    r = sock_listen_open(s, err, errlen);
    break;
  case NET_SOCK_CONNECT: {
    sock_peer *p = sock_peer_new(s, &sock_stream_ops, 1);
    if (!p) { snprintf(err, errlen, "out of memory"); r = -1; break; }
    sock_peer_attach(s, p, s->addr);
    net_port_set_link(&p->port, 0);
    sock_do_connect(s);
    break;
  }
  case NET_SOCK_UDP:
  case NET_SOCK_MCAST:
  case NET_SOCK_VXLAN: {
    if (!(s->dbuf = malloc(WIRE_MAX + 1 + VXLAN_HDR))) { snprintf(err, errlen, "out of memory"); r = -1; break; }
    if ((r = sock_dgram_open(s, err, errlen)) < 0) break;
    int vx = cfg->mode == NET_SOCK_VXLAN;
    sock_peer *p = sock_peer_new(s, vx ? &sock_vxlan_ops : &sock_dgram_ops, 0);
    if (!p) { snprintf(err, errlen, "out of memory"); r = -1; break; }
    sock_peer_attach(s, p, s->addr);
    if (vx) snprintf(p->port.name, sizeof p->port.name, "vxlan %s vni %u", s->addr, (unsigned)cfg->vni);
    p->connected = 1;
    s->accepted = 1;
    uv_poll_init(loop, &s->rpoll, s->fd);
    s->rpoll.data = s;
    s->has_rpoll = 1;
    s->pending++;
    if (s->sendfd != s->fd) {
      uv_poll_init(loop, &s->wpoll, s->sendfd);
      s->wpoll.data = s;
      s->has_wpoll = 1;
      s->pending++;
    }
    sock_dgram_poll_update(s);
    break;
  }
  }
  if (r < 0) {
    /* fds not yet under a poll handle are closed by sock_final */
    rt_obj_close(&s->obj);
    return NULL;
  }
  return s;
}

void net_sock_close(net_sock *s) { rt_obj_close(&s->obj); }

void net_sock_on_event(net_sock *s, net_sock_event_fn fn, void *ud) {
  s->evfn = fn;
  s->evud = ud;
}

const char *net_sock_mode_name(const net_sock *s) {
  static const char *names[] = {"listen", "connect", "udp", "mcast", "vxlan"};
  return names[s->cfg.mode];
}

const char *net_sock_local(const net_sock *s) { return s->local; }
int net_sock_npeers(const net_sock *s) { return s->npeers; }
unsigned net_sock_accepted(const net_sock *s) { return s->accepted; }
unsigned net_sock_dropped(const net_sock *s) { return s->dropped; }
const char *net_sock_last_drop(const net_sock *s) { return s->last_drop; }

int net_sock_peer(const net_sock *s, int i, net_sock_peerinfo *out) {
  /* peers are kept newest first; number them oldest first */
  int n = s->npeers;
  if (i < 0 || i >= n) return -1;
  const sock_peer *p = s->peers;
  for (int k = n - 1; k > i; k--) p = p->next;
  out->port = &p->port;
  out->addr = p->addr;
  out->connected = p->connected;
  out->stats = &p->st;
  return 0;
}

int net_sock_port_peer(const net_port *port, net_sock_peerinfo *out) {
  if (port->ops != &sock_stream_ops && port->ops != &sock_dgram_ops && port->ops != &sock_vxlan_ops)
    return -1;
  const sock_peer *p = port->owner;
  out->port = port;
  out->addr = p->addr;
  out->connected = p->connected;
  out->stats = &p->st;
  return 0;
}
