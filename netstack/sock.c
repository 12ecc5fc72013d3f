/* sock: socket backends — stream peers (TCP/unix, length-prefixed frames), datagram sockets
 * (UDP/unix/multicast, a frame per datagram), their flow control and their failure handling.
 *
 * Flow control both ways. From a peer: after each frame we look at the VLAN; when every other port
 * is backlogged (its queue half full) we stop reading the socket, so the kernel's buffers and TCP
 * push back on the sender, and a 1 ms timer resumes when some port has room again. Toward a peer:
 * at most cfg.wqueue bytes wait for the kernel per peer; beyond that the port refuses frames
 * and they wait in its bounded queue (drops counted there) until writes complete. A stream peer
 * whose writes make no progress for cfg.stall_ms is dropped. */
#define _GNU_SOURCE
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "rt.h"

/* Addresses and reasons are cut to fit their buffers on purpose. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define WIRE_MAX 65536                    /* largest length prefix we accept */
#define RBUF_CAP (2 * (4 + WIRE_MAX))     /* a whole frame always fits behind a partial one */
#define TICK_PAUSED_MS 1
#define TICK_IDLE_MS 250

typedef struct sock_peer sock_peer;

typedef struct obuf {
  uint8_t *data;
  size_t len, cap;
  unsigned frames;
  uint64_t bytes;
} obuf;

/* A libuv stream handle. Freed in its close callback; a dropped peer is freed with it. */
typedef struct sock_conn {
  union { uv_handle_t h; uv_stream_t s; uv_tcp_t tcp; uv_pipe_t pipe; } u;
  uv_connect_t creq;
  net_sock *s;
  sock_peer *peer;        /* NULL for the listening handle */
} sock_conn;

struct sock_peer {
  net_sock *s;
  net_port port;
  sock_conn *conn;        /* streams: NULL while disconnected */
  char addr[96];
  int connected, paused, dead;
  const char *drop_pending;  /* a drop asked for where it cannot happen at once */
  char drop_buf[128];
  uint8_t *rbuf;
  size_t rlen;
  obuf fill, busy;         /* frames waiting to be written / being written */
  int writing;
  uv_write_t wreq;
  uint64_t progress_ns;   /* last write progress (stall detection) */
  net_sock_stats st;
  sock_peer *next;
};


struct net_sock {
  rt_obj obj;
  net_hub *hub;
  net_sock_config cfg;
  char addr[108], local[108], localcfg[108], last_drop[160];
  struct sockaddr_storage ss;
  unsigned sslen;
  int is_unix;
  sock_conn *listener;
  net_tap hubwatch;       /* a listener learns through gone() that its VLAN closed */
  sock_peer *peers;       /* attached peers */
  sock_peer *grave;       /* detached peers without a handle, freed with the socket */
  int npeers;
  uv_timer_t tick, retry;
  int pending;            /* handles whose close callback has not run */
  unsigned accepted, dropped, fail_logged;
  net_sock_event_fn evfn;
  void *evud;
  /* datagrams */
  int fd, sendfd;
  uv_poll_t rpoll, wpoll;
  int has_rpoll, has_wpoll, rpoll_on, wwait;
  struct sockaddr_storage dst, own;
  socklen_t dstlen;
  uint8_t *dbuf;
};

static const net_port_ops stream_ops, dgram_ops;

static uint64_t now_ns(net_sock *s) { return lemu_rt_now_ns(s->obj.rt); }

static void emit(net_sock *s, const char *ev, const char *addr, const char *reason) {
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

static void fmt_addr(const struct sockaddr *sa, char *out, size_t n) {
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

static void unpend(net_sock *s) {
  if (--s->pending == 0 && s->obj.closing) sock_final(s);
}

static void handle_closed(uv_handle_t *h) { unpend(h->data); }

/* Some other port on the VLAN can take a frame: QEMU's hub semantics (a hub can receive while any
 * other port can). With no other port frames are dropped at once, which never needs a pause. */
static int vlan_has_room(sock_peer *p) {
  net_hub *h = p->port.hub;
  if (!h) return 1;
  int n = net_hub_nports(h), others = 0;
  for (int i = 0; i < n; i++) {
    net_port *q = net_hub_port(h, i);
    if (q == &p->port || !q->link_up) continue;
    others++;
    if (q->qlimit == 0 || q->qlen * 2 < q->qlimit) return 1;   /* no queue: it drops by itself */
  }
  return others == 0;
}

static void on_tick(uv_timer_t *t);
static void on_retry(uv_timer_t *t);
static void on_dgram(uv_poll_t *h, int status, int events);
static void on_wpoll(uv_poll_t *h, int status, int events);
static void dgram_poll_update(net_sock *s);

static void tick_arm(net_sock *s, unsigned ms) {
  if (s->obj.closing) return;
  uint64_t due = uv_timer_get_due_in(&s->tick);
  if (uv_is_active((uv_handle_t *)&s->tick) && due <= ms) return;
  uv_timer_start(&s->tick, on_tick, ms, 0);
}

/* Hands a frame from the peer to the VLAN. */
static void from_peer(sock_peer *p, const uint8_t *data, size_t len) {
  if (len < NET_FRAME_MIN || len > NET_FRAME_MAX) {
    p->st.from_peer.drops++;
    return;
  }
  p->st.from_peer.frames++;
  p->st.from_peer.bytes += len;
  net_port_send(&p->port, data, len);
}

/* ---- streams ---- */

static void conn_closed(uv_handle_t *h) {
  sock_conn *c = h->data;
  net_sock *s = c->s;
  sock_peer *p = c->peer;
  if (p && p->dead && p->conn == NULL) {
    free(p->rbuf);
    free(p->fill.data);
    free(p->busy.data);
    free(p);
  }
  free(c);
  unpend(s);
}

static sock_conn *conn_new(net_sock *s, sock_peer *p) {
  sock_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->s = s;
  c->peer = p;
  if (s->is_unix) uv_pipe_init(rt_loop(s->obj.rt), &c->u.pipe, 0);
  else uv_tcp_init(rt_loop(s->obj.rt), &c->u.tcp);
  c->u.h.data = c;
  s->pending++;
  return c;
}

static void conn_free(sock_conn *c) {
  c->peer = NULL;
  uv_close(&c->u.h, conn_closed);
}

static void stream_resume(sock_peer *p);

static void schedule_retry(net_sock *s) {
  if (s->cfg.mode == NET_SOCK_CONNECT && s->cfg.reconnect_ms && !s->obj.closing)
    uv_timer_start(&s->retry, on_retry, s->cfg.reconnect_ms, 0);
}

/* Drops a stream peer now: logs why, closes its connection; a listener's peer leaves the VLAN, a
 * connector's port goes link-down until it reconnects. Never called from inside a port delivery. */
static void peer_drop(sock_peer *p, const char *reason) {
  net_sock *s = p->s;
  if (p->dead || !p->conn) return;
  log_warn("sock", "%s: dropped peer %s: %s", s->addr, p->addr, reason);
  s->dropped++;
  snprintf(s->last_drop, sizeof s->last_drop, "%s: %s", p->addr, reason);
  char addr[96];
  snprintf(addr, sizeof addr, "%s", p->addr);
  sock_conn *c = p->conn;
  p->conn = NULL;
  p->connected = 0;
  p->paused = 0;
  p->rlen = 0;
  p->drop_pending = NULL;
  p->st.to_peer.drops += p->fill.frames;   /* never written; what is being written is cancelled */
  p->fill.len = p->fill.frames = 0;
  p->fill.bytes = 0;
  if (s->cfg.mode == NET_SOCK_LISTEN) {
    p->dead = 1;
    net_port_detach(&p->port);
    for (sock_peer **pp = &s->peers; *pp; pp = &(*pp)->next)
      if (*pp == p) { *pp = p->next; break; }
    s->npeers--;
    /* the peer is freed with its handle (conn_closed) */
    uv_close(&c->u.h, conn_closed);
  } else {
    net_port_set_link(&p->port, 0);
    conn_free(c);
    schedule_retry(s);
  }
  emit(s, "dropped", addr, reason);
}

static void defer_drop(sock_peer *p, const char *fmt, const char *arg) {
  if (p->drop_pending) return;
  snprintf(p->drop_buf, sizeof p->drop_buf, fmt, arg);
  p->drop_pending = p->drop_buf;
  tick_arm(p->s, 0);
}

static void parse(sock_peer *p) {
  size_t off = 0;
  sock_conn *conn = p->conn;   /* a receiver may drop or reconnect us while a frame is delivered */
  while (!p->paused && p->rlen - off >= 4) {
    const uint8_t *b = p->rbuf + off;
    uint32_t len = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (len > WIRE_MAX) {
      char why[96];
      snprintf(why, sizeof why, "length prefix %u is over %d: not a QEMU socket peer", len, WIRE_MAX);
      peer_drop(p, why);
      return;
    }
    if (p->rlen - off - 4 < len) break;
    from_peer(p, b + 4, len);
    off += 4 + len;
    if (p->dead || p->conn != conn || p->s->obj.closing) return;   /* dropped, reconnected or closed */
    if (!vlan_has_room(p)) {
      p->paused = 1;
      uv_read_stop(&p->conn->u.s);
      tick_arm(p->s, TICK_PAUSED_MS);
    }
  }
  if (off) {
    memmove(p->rbuf, p->rbuf + off, p->rlen - off);
    p->rlen -= off;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  sock_conn *c = h->data;
  sock_peer *p = c->peer;
  if (!p || p->rlen >= RBUF_CAP) { b->base = NULL; b->len = 0; return; }
  b->base = (char *)p->rbuf + p->rlen;
  b->len = RBUF_CAP - p->rlen;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  (void)b;
  sock_conn *c = st->data;
  sock_peer *p = c->peer;
  if (!p || p->dead || p->conn != c) return;
  if (n < 0) {
    char why[96];
    if (n == UV_EOF && p->rlen) snprintf(why, sizeof why, "closed in the middle of a frame (%zu bytes pending)", p->rlen);
    else if (n == UV_EOF) snprintf(why, sizeof why, "closed by the peer");
    else snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)n));
    peer_drop(p, why);
    return;
  }
  p->rlen += (size_t)n;
  parse(p);
}

/* Frames toward a stream peer are packed into one buffer while the previous write is in the
 * kernel's hands, so a burst costs one write call instead of one per frame; the first frame after
 * a quiet spell goes out at once. */
static void flush(sock_peer *p);

static void on_write(uv_write_t *req, int status) {
  sock_peer *p = req->data;
  p->writing = 0;
  if (status == 0) {
    p->st.to_peer.frames += p->busy.frames;
    p->st.to_peer.bytes += p->busy.bytes;
    p->progress_ns = now_ns(p->s);
  } else {
    p->st.to_peer.drops += p->busy.frames;
  }
  p->busy.len = p->busy.frames = 0;
  p->busy.bytes = 0;
  if (status != 0) {
    if (status != UV_ECANCELED && p->conn) {
      char why[96];
      snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
      peer_drop(p, why);
    }
    return;
  }
  if (!p->conn || !p->connected) return;
  if (p->fill.len) flush(p);
  if (p->port.qlen) net_port_ready(&p->port);
}

static void flush(sock_peer *p) {
  obuf t = p->busy;
  p->busy = p->fill;
  p->fill = t;
  p->writing = 1;
  p->progress_ns = now_ns(p->s);
  p->wreq.data = p;
  uv_buf_t b = uv_buf_init((char *)p->busy.data, (unsigned)p->busy.len);
  int r = uv_write(&p->wreq, &p->conn->u.s, &b, 1, on_write);
  if (r) {
    p->writing = 0;
    p->st.to_peer.drops += p->busy.frames;
    p->busy.len = p->busy.frames = 0;
    p->busy.bytes = 0;
    defer_drop(p, "write failed: %s", uv_strerror(r));
  }
}

static int stream_receive(net_port *port, net_frame *f) {
  sock_peer *p = port->owner;
  if (!p->conn || !p->connected || p->drop_pending) {
    p->st.to_peer.drops++;
    return 1;
  }
  size_t need = 4 + f->len;
  if (p->fill.len && p->fill.len + need > p->s->cfg.wqueue) return 0;   /* full: wait at the port */
  if (p->fill.cap < p->fill.len + need) {
    size_t ncap = p->fill.len + need > p->s->cfg.wqueue ? p->fill.len + need : p->s->cfg.wqueue;
    uint8_t *nd = realloc(p->fill.data, ncap);
    if (!nd) { p->st.to_peer.drops++; return 1; }
    p->fill.data = nd;
    p->fill.cap = ncap;
  }
  uint8_t *d = p->fill.data + p->fill.len;
  d[0] = (uint8_t)(f->len >> 24);
  d[1] = (uint8_t)(f->len >> 16);
  d[2] = (uint8_t)(f->len >> 8);
  d[3] = (uint8_t)f->len;
  memcpy(d + 4, f->data, f->len);
  p->fill.len += need;
  p->fill.frames++;
  p->fill.bytes += f->len;
  if (!p->writing) flush(p);
  return 1;
}

static sock_peer *peer_new(net_sock *s, const net_port_ops *ops, int stream) {
  sock_peer *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (stream && !(p->rbuf = malloc(RBUF_CAP))) { free(p); return NULL; }
  p->s = s;
  net_port_init(&p->port, ops, p, "socket");
  return p;
}

static void peer_attach(net_sock *s, sock_peer *p, const char *addr) {
  snprintf(p->addr, sizeof p->addr, "%s", addr);
  snprintf(p->port.name, sizeof p->port.name, "socket %s", addr);
  p->next = s->peers;
  s->peers = p;
  s->npeers++;
  net_port_attach(&p->port, s->hub);
}

static void stream_start(sock_peer *p) {
  p->connected = 1;
  p->paused = 0;
  p->rlen = 0;
  p->progress_ns = now_ns(p->s);
  if (!p->s->is_unix) uv_tcp_nodelay(&p->conn->u.tcp, 1);
  uv_read_start(&p->conn->u.s, on_alloc, on_read);
  tick_arm(p->s, TICK_IDLE_MS);
}

static void stream_resume(sock_peer *p) {
  p->paused = 0;
  parse(p);
  if (!p->paused && !p->dead && p->conn) uv_read_start(&p->conn->u.s, on_alloc, on_read);
}

static void hubwatch_frame(net_tap *t, const net_frame *f, int dir) { (void)t; (void)f; (void)dir; }

static void hubwatch_gone(net_tap *t) {
  net_sock *s = (net_sock *)((char *)t - offsetof(net_sock, hubwatch));
  s->hub = NULL;
}

static void on_accept(uv_stream_t *server, int status) {
  sock_conn *lc = server->data;
  net_sock *s = lc->s;
  if (status < 0 || s->obj.closing) {
    if (status < 0) log_warn("sock", "%s: accept failed: %s", s->addr, uv_strerror(status));
    return;
  }
  if (!s->hub) {
    /* the VLAN was closed under the listener: take the connection only to close it */
    sock_conn *c = conn_new(s, NULL);
    if (c) {
      if (uv_accept(server, &c->u.s) == 0) log_warn("sock", "%s: refused a peer: the VLAN is closed", s->addr);
      uv_close(&c->u.h, conn_closed);
    }
    return;
  }
  sock_peer *p = peer_new(s, &stream_ops, 1);
  sock_conn *c = p ? conn_new(s, p) : NULL;
  if (!c) {
    free(p ? p->rbuf : NULL);
    free(p);
    log_error("sock", "%s: out of memory accepting a peer", s->addr);
    return;
  }
  if (uv_accept(server, &c->u.s) != 0) {
    p->dead = 1;
    uv_close(&c->u.h, conn_closed);
    return;
  }
  p->conn = c;
  char addr[96];
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (s->is_unix) snprintf(addr, sizeof addr, "%s#%u", s->addr, s->accepted + 1);
  else if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len) == 0) fmt_addr((struct sockaddr *)&ss, addr, sizeof addr);
  else snprintf(addr, sizeof addr, "?");
  peer_attach(s, p, addr);
  s->accepted++;
  log_info("sock", "%s: peer %s connected", s->addr, addr);
  stream_start(p);
  emit(s, "connected", addr, NULL);
}

static void on_connect(uv_connect_t *req, int status) {
  sock_conn *c = req->data;
  net_sock *s = c->s;
  sock_peer *p = c->peer;
  if (!p || p->conn != c || s->obj.closing) return;
  if (status < 0) {
    if (status == UV_ECANCELED) return;
    char why[128];
    snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
    if (!s->fail_logged++)
      log_warn("sock", "%s: %s%s", s->addr, why, s->cfg.reconnect_ms ? " (retrying quietly)" : "");
    snprintf(s->last_drop, sizeof s->last_drop, "%s: %s", s->addr, why);
    p->conn = NULL;
    conn_free(c);
    schedule_retry(s);
    emit(s, "failed", s->addr, why);
    return;
  }
  s->accepted++;
  s->fail_logged = 0;
  net_port_set_link(&p->port, 1);
  stream_start(p);
  log_info("sock", "%s: connected", s->addr);
  emit(s, "connected", p->addr, NULL);
}

static void do_connect(net_sock *s) {
  sock_peer *p = s->peers;
  if (!p || p->conn || s->obj.closing) return;
  sock_conn *c = conn_new(s, p);
  if (!c) return;
  p->conn = c;
  c->creq.data = c;
  if (s->is_unix) {
    uv_pipe_connect(&c->creq, &c->u.pipe, ((struct sockaddr_un *)&s->ss)->sun_path, on_connect);
  } else {
    int r = uv_tcp_connect(&c->creq, &c->u.tcp, (struct sockaddr *)&s->ss, on_connect);
    if (r) {
      log_warn("sock", "%s: connect failed: %s", s->addr, uv_strerror(r));
      p->conn = NULL;
      conn_free(c);
      schedule_retry(s);
    }
  }
}

static void on_retry(uv_timer_t *t) { do_connect(t->data); }

void net_sock_reconnect(net_sock *s) {
  if (s->cfg.mode != NET_SOCK_CONNECT || s->obj.closing) return;
  sock_peer *p = s->peers;
  if (p && p->conn && p->connected) peer_drop(p, "reconnect requested");
  else if (p && p->conn) return;   /* a connect is in progress */
  uv_timer_stop(&s->retry);
  do_connect(s);
}

/* Housekeeping: deferred drops, paused readers, stalled writers. */
static void on_tick(uv_timer_t *t) {
  net_sock *s = t->data;
  int paused = 0, streams = 0;
  uint64_t now = now_ns(s), stall = (uint64_t)s->cfg.stall_ms * 1000000u;
  sock_peer *next;
  for (sock_peer *p = s->peers; p && !s->obj.closing; p = next) {
    next = p->next;   /* peers dropped meanwhile stay allocated until their close callbacks */
    if (p->drop_pending) { peer_drop(p, p->drop_pending); continue; }
    if (s->cfg.mode == NET_SOCK_UDP || s->cfg.mode == NET_SOCK_MCAST) {
      if (s->rpoll_on == 0 && p->paused && vlan_has_room(p)) {
        p->paused = 0;
        dgram_poll_update(s);
      }
      paused |= p->paused;
      continue;
    }
    if (!p->conn || !p->connected) continue;
    streams++;
    if (p->writing && now - p->progress_ns > stall) {
      char why[96];
      snprintf(why, sizeof why, "stalled: no write progress for %u ms", s->cfg.stall_ms);
      peer_drop(p, why);
      continue;
    }
    if (p->paused && vlan_has_room(p)) stream_resume(p);
    paused |= p->paused;
  }
  if (paused) tick_arm(s, TICK_PAUSED_MS);
  else if (streams) tick_arm(s, TICK_IDLE_MS);
}

/* ---- datagrams ---- */

static void dgram_poll_update(net_sock *s) {
  if (s->obj.closing) return;
  sock_peer *p = s->peers;
  int rev = (p && !p->paused) ? UV_READABLE : 0;
  if (s->sendfd == s->fd) {
    if (s->wwait) rev |= UV_WRITABLE;
    if (rev) uv_poll_start(&s->rpoll, rev, on_dgram);
    else uv_poll_stop(&s->rpoll);
    s->rpoll_on = rev != 0;
  } else {
    if (rev) uv_poll_start(&s->rpoll, rev, on_dgram);
    else uv_poll_stop(&s->rpoll);
    s->rpoll_on = rev != 0;
    if (s->wwait) uv_poll_start(&s->wpoll, UV_WRITABLE, on_wpoll);
    else uv_poll_stop(&s->wpoll);
  }
}

static int own_frame(net_sock *s, const struct sockaddr_storage *src) {
  if (s->cfg.mode != NET_SOCK_MCAST || src->ss_family != AF_INET) return 0;
  const struct sockaddr_in *a = (const void *)src, *o = (const void *)&s->own;
  return a->sin_port == o->sin_port &&
         (o->sin_addr.s_addr == htonl(INADDR_ANY) || o->sin_addr.s_addr == a->sin_addr.s_addr);
}

static void dgram_writable(net_sock *s) {
  s->wwait = 0;
  dgram_poll_update(s);
  if (s->peers) net_port_ready(&s->peers->port);
}

static void on_dgram(uv_poll_t *h, int status, int events) {
  net_sock *s = h->data;
  sock_peer *p = s->peers;
  if (!p || s->obj.closing) return;
  if (status < 0) {
    log_warn("sock", "%s: poll failed: %s", s->addr, uv_strerror(status));
    return;
  }
  if ((events & UV_WRITABLE) && s->wwait) dgram_writable(s);
  if (!(events & UV_READABLE)) return;
  for (int i = 0; i < 64 && !p->paused; i++) {
    struct sockaddr_storage src;
    socklen_t sl = sizeof src;
    ssize_t n = recvfrom(s->fd, s->dbuf, WIRE_MAX + 1, 0, (struct sockaddr *)&src, &sl);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_debug("sock", "%s: recvfrom: %s", s->addr, strerror(errno));
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;
    }
    if (own_frame(s, &src)) continue;
    from_peer(p, s->dbuf, (size_t)n);
    if (s->obj.closing || s->peers != p) return;
    if (!vlan_has_room(p)) {
      p->paused = 1;
      dgram_poll_update(s);
      tick_arm(s, TICK_PAUSED_MS);
    }
  }
}

static void on_wpoll(uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  net_sock *s = h->data;
  if (!s->obj.closing && s->wwait) dgram_writable(s);
}

static int dgram_receive(net_port *port, net_frame *f) {
  sock_peer *p = port->owner;
  net_sock *s = p->s;
  if (s->wwait) return 0;
  ssize_t n = sendto(s->sendfd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&s->dst, s->dstlen);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
    s->wwait = 1;
    dgram_poll_update(s);
    return 0;
  }
  if (n < 0) {
    /* nobody bound at a unix path yet, ICMP unreachable, ...: the frame is lost like on a wire */
    p->st.to_peer.drops++;
    log_debug("sock", "%s: sendto: %s", s->addr, strerror(errno));
    return 1;
  }
  p->st.to_peer.frames++;
  p->st.to_peer.bytes += f->len;
  return 1;
}

static int sockerr(char *err, size_t errlen, const char *what, const char *addr) {
  int e = errno;
  snprintf(err, errlen, "%s %s: %s", what, addr, strerror(e));
  if (e == EADDRINUSE) strncat(err, " (another process has it; pick another port or path)", errlen - strlen(err) - 1);
  return -1;
}

static int dgram_open(net_sock *s, char *err, size_t errlen) {
  const net_sock_config *c = &s->cfg;
  struct sockaddr_storage loc;
  unsigned loclen = 0;
  s->dstlen = s->sslen;
  memcpy(&s->dst, &s->ss, s->sslen);
  int fam = s->ss.ss_family;
  if (c->mode == NET_SOCK_MCAST) {
    struct sockaddr_in *g = (struct sockaddr_in *)&s->ss;
    if (fam != AF_INET || !IN_MULTICAST(ntohl(g->sin_addr.s_addr))) {
      snprintf(err, errlen, "mcast address %s is not an IPv4 multicast group (224.0.0.0/4)", s->addr);
      return -1;
    }
    struct in_addr ifaddr = {htonl(INADDR_ANY)};
    if (c->local && *c->local) {
      char host[64];
      snprintf(host, sizeof host, "%s", c->local);
      char *colon = strchr(host, ':');
      if (colon) *colon = 0;
      if (inet_pton(AF_INET, host, &ifaddr) != 1) {
        snprintf(err, errlen, "localaddr '%s' is not an IPv4 address", c->local);
        return -1;
      }
    }
    int one = 1;
    unsigned char loop = 1;
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) return sockerr(err, errlen, "cannot make a socket for", s->addr);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->fd, (struct sockaddr *)g, sizeof *g) < 0) return sockerr(err, errlen, "cannot bind multicast group", s->addr);
    struct ip_mreq mr = {g->sin_addr, ifaddr};
    if (setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
      sockerr(err, errlen, "cannot join multicast group", s->addr);
      strncat(err, " (no multicast route? try localaddr=127.0.0.1)", errlen - strlen(err) - 1);
      return -1;
    }
    setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    /* Frames go out of a second socket on an ephemeral port, so our own looped-back frames are told
     * apart by source address, from every other lemu and from QEMU (which sends from group:port). */
    s->sendfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->sendfd < 0) return sockerr(err, errlen, "cannot make a socket for", s->addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = ifaddr};
    if (bind(s->sendfd, (struct sockaddr *)&sa, sizeof sa) < 0) return sockerr(err, errlen, "cannot bind the sender for", s->addr);
    setsockopt(s->sendfd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    if (ifaddr.s_addr != htonl(INADDR_ANY)) setsockopt(s->sendfd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof ifaddr);
    socklen_t ol = sizeof s->own;
    getsockname(s->sendfd, (struct sockaddr *)&s->own, &ol);
    fmt_addr((struct sockaddr *)&s->own, s->local, sizeof s->local);
    return 0;
  }
  /* UDP or unix datagrams: bind local (if given), send to the remote */
  if (c->local && *c->local) {
    if (net_sock_parse_addr(c->local, &loc, &loclen, err, errlen) < 0) return -1;
    if (loc.ss_family != (fam == AF_UNIX ? AF_UNIX : loc.ss_family) || (fam == AF_UNIX) != (loc.ss_family == AF_UNIX)) {
      snprintf(err, errlen, "local %s and remote %s are of different kinds", c->local, s->addr);
      return -1;
    }
    fam = loc.ss_family;
  }
  s->fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) return sockerr(err, errlen, "cannot make a socket for", s->addr);
  s->sendfd = s->fd;
  if (loclen) {
    if (fam == AF_UNIX) {
      struct stat st;
      const char *path = ((struct sockaddr_un *)&loc)->sun_path;
      if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    } else {
      int one = 1;
      setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(s->fd, (struct sockaddr *)&loc, loclen) < 0) return sockerr(err, errlen, "cannot bind", c->local);
  } else if (fam == AF_UNIX) {
    snprintf(err, errlen, "a unix datagram socket needs a local path to receive on");
    return -1;
  }
  socklen_t ol = sizeof s->own;
  getsockname(s->fd, (struct sockaddr *)&s->own, &ol);
  fmt_addr((struct sockaddr *)&s->own, s->local, sizeof s->local);
  return 0;
}

/* ---- opening and closing ---- */

static void sock_objclose(rt_obj *o) {
  net_sock *s = (net_sock *)o;
  uv_timer_stop(&s->tick);
  uv_timer_stop(&s->retry);
  while (s->peers) {
    sock_peer *p = s->peers;
    s->peers = p->next;
    net_port_detach(&p->port);
    p->dead = 1;
    if (p->conn) {
      sock_conn *c = p->conn;
      p->conn = NULL;
      uv_close(&c->u.h, conn_closed);
    } else {
      p->next = s->grave;
      s->grave = p;
    }
  }
  s->npeers = 0;
  if (s->listener) {
    conn_free(s->listener);
    s->listener = NULL;
    if (s->hub) net_hub_remove_tap(s->hub, &s->hubwatch);
  }
  if (s->cfg.mode == NET_SOCK_UDP || s->cfg.mode == NET_SOCK_MCAST) {
    if (s->has_rpoll) uv_close((uv_handle_t *)&s->rpoll, handle_closed);
    if (s->has_wpoll) uv_close((uv_handle_t *)&s->wpoll, handle_closed);
  }
  uv_close((uv_handle_t *)&s->tick, handle_closed);
  uv_close((uv_handle_t *)&s->retry, handle_closed);
}

static const rt_objtype sock_type = {"socket", sock_objclose};

static const net_port_ops stream_ops = {"socket", stream_receive};
static const net_port_ops dgram_ops = {"socket", dgram_receive};

static int listen_open(net_sock *s, char *err, size_t errlen) {
  sock_conn *c = conn_new(s, NULL);
  if (!c) { snprintf(err, errlen, "out of memory"); return -1; }
  s->listener = c;
  int r;
  if (s->is_unix) {
    const char *path = ((struct sockaddr_un *)&s->ss)->sun_path;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);   /* a stale socket */
    r = uv_pipe_bind(&c->u.pipe, path);
  } else {
    r = uv_tcp_bind(&c->u.tcp, (struct sockaddr *)&s->ss, 0);
  }
  if (r == 0) r = uv_listen(&c->u.s, 16, on_accept);
  if (r == 0) {
    s->hubwatch.fn = hubwatch_frame;
    s->hubwatch.gone = hubwatch_gone;
    net_hub_add_tap(s->hub, &s->hubwatch);
  }
  if (r) {
    snprintf(err, errlen, "cannot listen on %s: %s%s", s->addr, uv_strerror(r),
             r == UV_EADDRINUSE ? " (another process has it; pick another port or path)" : "");
    return -1;
  }
  if (s->is_unix) {
    snprintf(s->local, sizeof s->local, "%s", s->addr);
  } else {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&c->u.tcp, (struct sockaddr *)&ss, &len);
    fmt_addr((struct sockaddr *)&ss, s->local, sizeof s->local);
    snprintf(s->addr, sizeof s->addr, "%s", s->local);   /* logs name the real port */
  }
  return 0;
}

net_sock *net_sock_open(lemu_rt *rt, net_hub *hub, const net_sock_config *cfg, char *err, size_t errlen) {
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
  uv_loop_t *loop = rt_loop(rt);
  uv_timer_init(loop, &s->tick);
  uv_timer_init(loop, &s->retry);
  s->tick.data = s->retry.data = s;
  uv_unref((uv_handle_t *)&s->tick);
  s->pending = 2;
  int r = 0;
  switch (cfg->mode) {
  case NET_SOCK_LISTEN:
    r = listen_open(s, err, errlen);
    break;
  case NET_SOCK_CONNECT: {
    sock_peer *p = peer_new(s, &stream_ops, 1);
    if (!p) { snprintf(err, errlen, "out of memory"); r = -1; break; }
    peer_attach(s, p, s->addr);
    net_port_set_link(&p->port, 0);
    do_connect(s);
    break;
  }
  case NET_SOCK_UDP:
  case NET_SOCK_MCAST: {
    if (!(s->dbuf = malloc(WIRE_MAX + 1))) { snprintf(err, errlen, "out of memory"); r = -1; break; }
    if ((r = dgram_open(s, err, errlen)) < 0) break;
    sock_peer *p = peer_new(s, &dgram_ops, 0);
    if (!p) { snprintf(err, errlen, "out of memory"); r = -1; break; }
    peer_attach(s, p, s->addr);
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
    dgram_poll_update(s);
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
  static const char *names[] = {"listen", "connect", "udp", "mcast"};
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
  if (port->ops != &stream_ops && port->ops != &dgram_ops) return -1;
  const sock_peer *p = port->owner;
  out->port = port;
  out->addr = p->addr;
  out->connected = p->connected;
  out->stats = &p->st;
  return 0;
}
