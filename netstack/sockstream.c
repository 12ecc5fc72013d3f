/* sockstream: stream peers (TCP, unix) — QEMU's length-prefixed framing, batched writes, the
 * listener and the reconnecting client, and why a peer is dropped. */
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

#include "fdport.h"
#include "log.h"
#include "sockint.h"

/* Addresses and reasons are cut to fit their buffers on purpose. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- streams ---- */

void sock_conn_closed(uv_handle_t *h) {
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
  sock_unpend(s);
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

void sock_conn_free(sock_conn *c) {
  c->peer = NULL;
  uv_close(&c->u.h, sock_conn_closed);
}

void sock_stream_resume(sock_peer *p);

static void schedule_retry(net_sock *s) {
  if (s->cfg.mode == NET_SOCK_CONNECT && s->cfg.reconnect_ms && !s->obj.closing)
    uv_timer_start(&s->retry, sock_on_retry, s->cfg.reconnect_ms, 0);
}

/* Drops a stream peer now: logs why, closes its connection; a listener's peer leaves the VLAN, a
 * connector's port goes link-down until it reconnects. Never called from inside a port delivery. */
void sock_peer_drop(sock_peer *p, const char *reason) {
  net_sock *s = p->s;
  if (p->dead || !p->conn) return;
  /* A write can see a dying peer's reset before a read does: what it left half sent is said too. */
  char why[192];
  if (p->rlen && !strstr(reason, "middle of a frame")) {
    snprintf(why, sizeof why, "%s (in the middle of a frame: %zu bytes pending)", reason, p->rlen);
    reason = why;
  }
  log_limited(&s->warn_limit, LOG_WARN, "sock", "%s: dropped peer %s: %s", s->addr, p->addr, reason);
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
    /* the peer is freed with its handle (sock_conn_closed) */
    uv_close(&c->u.h, sock_conn_closed);
  } else {
    net_port_set_link(&p->port, 0);
    sock_conn_free(c);
    schedule_retry(s);
  }
  sock_emit(s, "dropped", addr, reason);
}

static void defer_drop(sock_peer *p, const char *fmt, const char *arg) {
  if (p->drop_pending) return;
  snprintf(p->drop_buf, sizeof p->drop_buf, fmt, arg);
  p->drop_pending = p->drop_buf;
  sock_tick_arm(p->s, 0);
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
      sock_peer_drop(p, why);
      return;
    }
    if (p->rlen - off - 4 < len) break;
    sock_from_peer(p, b + 4, len);
    off += 4 + len;
    if (p->dead || p->conn != conn || p->s->obj.closing) return;   /* dropped, reconnected or closed */
    if (!net_vlan_has_room(&p->port)) {
      p->paused = 1;
      uv_read_stop(&p->conn->u.s);
      sock_tick_arm(p->s, TICK_PAUSED_MS);
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
    /* A peer killed while it had unread data resets the connection instead of closing it: the
     * half frame it left is said either way, so a user can tell a torn frame from a clean end. */
    if (n == UV_EOF && p->rlen) snprintf(why, sizeof why, "closed in the middle of a frame (%zu bytes pending)", p->rlen);
    else if (n == UV_EOF) snprintf(why, sizeof why, "closed by the peer");
    else if (p->rlen) snprintf(why, sizeof why, "read failed in the middle of a frame (%zu bytes pending): %s", p->rlen, uv_strerror((int)n));
    else snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)n));
    sock_peer_drop(p, why);
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
    p->progress_ns = sock_now_ns(p->s);
  } else {
    p->st.to_peer.drops += p->busy.frames;
  }
  p->busy.len = p->busy.frames = 0;
  p->busy.bytes = 0;
  if (status != 0) {
    if (status != UV_ECANCELED && p->conn) {
      char why[96];
      snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
      sock_peer_drop(p, why);
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
  p->progress_ns = sock_now_ns(p->s);
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

static void stream_start(sock_peer *p) {
  p->connected = 1;
  p->paused = 0;
  p->rlen = 0;
  p->progress_ns = sock_now_ns(p->s);
  if (!p->s->is_unix) uv_tcp_nodelay(&p->conn->u.tcp, 1);
  uv_read_start(&p->conn->u.s, on_alloc, on_read);
  sock_tick_arm(p->s, TICK_IDLE_MS);
}

void sock_stream_resume(sock_peer *p) {
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
    if (status < 0) log_limited(&s->warn_limit, LOG_WARN, "sock", "%s: accept failed: %s", s->addr, uv_strerror(status));
    return;
  }
  if (!s->hub) {
    /* the VLAN was closed under the listener: take the connection only to close it */
    sock_conn *c = conn_new(s, NULL);
    if (c) {
      if (uv_accept(server, &c->u.s) == 0) log_limited(&s->warn_limit, LOG_WARN, "sock", "%s: refused a peer: the VLAN is closed", s->addr);
      uv_close(&c->u.h, sock_conn_closed);
    }
    return;
  }
  sock_peer *p = sock_peer_new(s, &sock_stream_ops, 1);
  sock_conn *c = p ? conn_new(s, p) : NULL;
  if (!c) {
    free(p ? p->rbuf : NULL);
    free(p);
    log_error("sock", "%s: out of memory accepting a peer", s->addr);
    return;
  }
  if (uv_accept(server, &c->u.s) != 0) {
    p->dead = 1;
    uv_close(&c->u.h, sock_conn_closed);
    return;
  }
  p->conn = c;
  char addr[96];
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (s->is_unix) snprintf(addr, sizeof addr, "%s#%u", s->addr, s->accepted + 1);
  else if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len) == 0) sock_fmt_addr((struct sockaddr *)&ss, addr, sizeof addr);
  else snprintf(addr, sizeof addr, "?");
  sock_peer_attach(s, p, addr);
  s->accepted++;
  log_info("sock", "%s: peer %s connected", s->addr, addr);
  stream_start(p);
  sock_emit(s, "connected", addr, NULL);
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
    sock_conn_free(c);
    schedule_retry(s);
    sock_emit(s, "failed", s->addr, why);
    return;
  }
  s->accepted++;
  s->fail_logged = 0;
  net_port_set_link(&p->port, 1);
  stream_start(p);
  log_info("sock", "%s: connected", s->addr);
  sock_emit(s, "connected", p->addr, NULL);
}

void sock_do_connect(net_sock *s) {
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
      log_limited(&s->warn_limit, LOG_WARN, "sock", "%s: connect failed: %s", s->addr, uv_strerror(r));
      p->conn = NULL;
      sock_conn_free(c);
      schedule_retry(s);
    }
  }
}

void sock_on_retry(uv_timer_t *t) { sock_do_connect(t->data); }

void net_sock_reconnect(net_sock *s) {
  if (s->cfg.mode != NET_SOCK_CONNECT || s->obj.closing) return;
  sock_peer *p = s->peers;
  if (p && p->conn && p->connected) sock_peer_drop(p, "reconnect requested");
  else if (p && p->conn) return;   /* a connect is in progress */
  uv_timer_stop(&s->retry);
  sock_do_connect(s);
}

int sock_listen_open(net_sock *s, char *err, size_t errlen) {
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
    sock_fmt_addr((struct sockaddr *)&ss, s->local, sizeof s->local);
    snprintf(s->addr, sizeof s->addr, "%s", s->local);   /* logs name the real port */
  }
  return 0;
}

const net_port_ops sock_stream_ops = {"socket", stream_receive};
