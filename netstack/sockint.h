/* sockint: what the socket backend's files (sock.c: addresses, peers, housekeeping, the API;
 * sockstream.c: streams; sockdgram.c: datagrams) share. Not for other modules. */
#ifndef LEMU_SOCKINT_H
#define LEMU_SOCKINT_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "rt.h"
#include "sock.h"

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
  log_limit warn_limit;   /* this backend's repeated warnings (drops, accept errors), rate-limited */
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

#define VXLAN_HDR 8                       /* RFC 7348: flags, reserved, VNI, reserved */

extern const net_port_ops sock_stream_ops, sock_dgram_ops, sock_vxlan_ops;

static inline int sock_is_dgram(const net_sock *s) {
  return s->cfg.mode == NET_SOCK_UDP || s->cfg.mode == NET_SOCK_MCAST || s->cfg.mode == NET_SOCK_VXLAN;
}

uint64_t sock_now_ns(net_sock *s);
void sock_emit(net_sock *s, const char *ev, const char *addr, const char *reason);
void sock_unpend(net_sock *s);
void sock_handle_closed(uv_handle_t *h);
/* Runs housekeeping (deferred drops, paused readers, stalls) within ms. */
void sock_tick_arm(net_sock *s, unsigned ms);
/* Hands a frame from the peer to the VLAN (counted; runts and giants dropped). */
void sock_from_peer(sock_peer *p, const uint8_t *data, size_t len);
sock_peer *sock_peer_new(net_sock *s, const net_port_ops *ops, int stream);
void sock_peer_attach(net_sock *s, sock_peer *p, const char *addr);
void sock_fmt_addr(const struct sockaddr *sa, char *out, size_t n);

/* streams (sockstream.c) */
void sock_conn_closed(uv_handle_t *h);
void sock_conn_free(sock_conn *c);
void sock_peer_drop(sock_peer *p, const char *reason);
void sock_stream_resume(sock_peer *p);
void sock_do_connect(net_sock *s);
void sock_on_retry(uv_timer_t *t);
int sock_listen_open(net_sock *s, char *err, size_t errlen);

/* datagrams (sockdgram.c) */
int sock_dgram_open(net_sock *s, char *err, size_t errlen);
void sock_dgram_poll_update(net_sock *s);
void sock_on_dgram(uv_poll_t *h, int status, int events);
void sock_on_wpoll(uv_poll_t *h, int status, int events);

#endif
