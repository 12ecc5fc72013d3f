/* user: libslirp on the runtime's loop. A "cycle" is slirp_pollfds_poll (with the events the
 * uv_poll handles saw since the last cycle) followed by slirp_pollfds_fill, after which the
 * uv_poll handles are started or stopped to match what slirp asked for and one timer is armed from
 * the fill timeout, because slirp's TCP timers only run inside slirp_pollfds_poll. Cycles run
 * after every wake-up: a socket event, the timer, a guest frame, a change of forwarding. */
#define _GNU_SOURCE   /* accept4 */
#include "user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rt.h"

typedef struct upoll {
  uv_poll_t h;
  net_user *u;
  int fd;          /* -1 once slirp unregistered it */
  int want;        /* SLIRP_POLL_* asked for in the current fill */
  int started;     /* UV_* events the handle watches */
  int revents;     /* SLIRP_POLL_* seen since the last cycle */
  int listening;   /* a listening socket (a host forward) */
  uint64_t gen;    /* the fill that last asked for this fd */
} upoll;

typedef struct utimer {
  clock_timer h;                /* first: its handle is what close_handle frees */
  net_user *u;
  SlirpTimerId id;
  void *cb_opaque;
} utimer;

struct net_user {
  rt_obj obj;
  net_port port;
  Slirp *slirp;
  clock_timer timer;           /* the fill timeout */
  upoll **byfd;                /* fd -> poll handle */
  int nbyfd;
  upoll **fill;                /* index returned by add_poll -> handle, for the current fill */
  int nfill, capfill;
  uint64_t gen;
  int depth;                   /* > 0 while slirp is running: guest frames wait in the port queue */
  int again;                   /* a cycle was asked for while one was running */
  int draining;                /* delivering the port's queued frames */
  net_frame **outq;            /* slirp's frames for the guests, sent once slirp has returned */
  unsigned outhead, outlen;
  int flushing;
  int closing;
  int handles;                 /* libuv handles not yet closed */
  net_user_filter filter;
  net_user_watch watch;
  net_user_closed closed;
  void *hook_ud;
  net_user_stats stats;
  int spare_fd;                /* held for refusing connections when descriptors run out, or -1 */
  log_limit fd_warn;
};

static void cycle(net_user *u);

/* slirp's output waits here until slirp has returned: a receiver may answer at once (a Lua task
 * woken by the frame calls back into this backend), and slirp is not re-entrant. */
#define OUTQ_MAX 4096u

static void flush(net_user *u) {
  if (u->flushing || u->depth > 0) return;
  u->flushing = 1;
  while (u->outlen > 0 && !u->closing) {
    net_frame *f = u->outq[u->outhead];
    u->outhead = (u->outhead + 1) % OUTQ_MAX;
    u->outlen--;
    /* The watch sees it first: a receiver may close this backend. */
    if (u->watch) u->watch(u, f->data, f->len, u->hook_ud);
    if (net_port_send_frame(&u->port, f) != 0) u->stats.to_guest_drops++;
    frame_unref(f);
  }
  u->flushing = 0;
}

static void outq_clear(net_user *u) {
  while (u->outlen > 0) {
    frame_unref(u->outq[u->outhead]);
    u->outhead = (u->outhead + 1) % OUTQ_MAX;
    u->outlen--;
  }
  free(u->outq);
  u->outq = NULL;
}

/* ---- handles and the object's lifetime ---- */

static void handle_closed(uv_handle_t *h) {
  net_user *u = h->data;
  if (h != (uv_handle_t *)&u->timer.h) free(h);
  if (--u->handles == 0) {
    rt_obj_del(&u->obj);
    free(u->byfd);
    free(u->fill);
    free(u);
  }
}

static void close_handle(net_user *u, uv_handle_t *h) {
  h->data = u;
  uv_close(h, handle_closed);
}

/* ---- slirp's poll protocol ---- */

/* libuv's events are not poll()'s, and neither are slirp's (SLIRP_POLL_OUT is 2, POLLPRI is 2). */
static int uv_from_slirp(int ev) {
  int r = 0;
  if (ev & SLIRP_POLL_IN) r |= UV_READABLE | UV_DISCONNECT;
  if (ev & SLIRP_POLL_OUT) r |= UV_WRITABLE;
  if (ev & SLIRP_POLL_PRI) r |= UV_PRIORITIZED;
  return r;
}

static int slirp_from_uv(int status, int ev) {
  int r = 0;
  if (status < 0) r |= SLIRP_POLL_ERR;
  if (ev & UV_READABLE) r |= SLIRP_POLL_IN;
  if (ev & UV_WRITABLE) r |= SLIRP_POLL_OUT;
  if (ev & UV_PRIORITIZED) r |= SLIRP_POLL_PRI;
  if (ev & UV_DISCONNECT) r |= SLIRP_POLL_HUP;
  return r;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  upoll *p = (upoll *)h;
  if (p->fd < 0) return;
  clock_nondeterministic(p->u->obj.rt, "user-net's host sockets (forwarded or NATed connections)");
  p->revents |= slirp_from_uv(status, events);
  /* An error would be reported again at once: stop until slirp asks anew. */
  if (status < 0) { uv_poll_stop(h); p->started = 0; }
  cycle(p->u);
}

static upoll *poll_for(net_user *u, int fd) {
  if (fd >= u->nbyfd) {
    int n = u->nbyfd ? u->nbyfd : 64;
    while (n <= fd) n *= 2;
    upoll **nb = realloc(u->byfd, sizeof *nb * n);
    if (!nb) return NULL;
    memset(nb + u->nbyfd, 0, sizeof *nb * (n - u->nbyfd));
    u->byfd = nb;
    u->nbyfd = n;
  }
  if (u->byfd[fd]) return u->byfd[fd];
  upoll *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (uv_poll_init(rt_loop(u->obj.rt), &p->h, fd) != 0) {
    log_error("user", "cannot watch slirp's socket %d", fd);
    free(p);
    return NULL;
  }
  p->u = u;
  p->fd = fd;
  /* libslirp listens for a host forward with a backlog of 1: a burst of connections overflows
   * the kernel's accept queue and most wait for SYN-ACK retransmits (of 1,000 at once, 110 got in
   * within 30 s). Linux lets listen() be called again to raise it. */
  int v = 0;
  socklen_t vlen = sizeof v;
  p->listening = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vlen) == 0 && v;
  if (p->listening) listen(fd, SOMAXCONN);
  u->handles++;
  u->stats.polls++;
  u->byfd[fd] = p;
  return p;
}

static void poll_drop(net_user *u, int fd) {
  if (fd < 0 || fd >= u->nbyfd || !u->byfd[fd]) return;
  upoll *p = u->byfd[fd];
  u->byfd[fd] = NULL;
  p->fd = -1;
  u->stats.polls--;
  uv_poll_stop(&p->h);
  close_handle(u, (uv_handle_t *)&p->h);
}

static int add_poll(int fd, int events, void *opaque) {
  net_user *u = opaque;
  upoll *p = poll_for(u, fd);
  if (u->nfill == u->capfill) {
    int n = u->capfill ? u->capfill * 2 : 64;
    upoll **nf = realloc(u->fill, sizeof *nf * n);
    if (!nf) return -1;
    u->fill = nf;
    u->capfill = n;
  }
  if (!p) return -1;
  if (p->gen != u->gen) p->want = 0;
  p->gen = u->gen;
  p->want |= events;
  u->fill[u->nfill] = p;
  return u->nfill++;
}

static int get_revents(int idx, void *opaque) {
  net_user *u = opaque;
  if (idx < 0 || idx >= u->nfill) return 0;
  upoll *p = u->fill[idx];
  return p->fd < 0 ? 0 : p->revents;
}

/* Out of descriptors, slirp's accept on a forward's listening socket fails and leaves the
 * connection pending, so the socket stays readable and every cycle tries again: the loop spins and
 * the peer waits for nothing. After a cycle in which such a socket was readable, if no descriptor
 * can be had, the pending connection is refused here instead (reset at once), with the spare
 * descriptor given up for the accept, as libuv does for its own listeners. */
static int out_of_fds(net_user *u) {
  if (u->spare_fd < 0) return 0;
  int probe = fcntl(u->spare_fd, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) { close(probe); return 0; }
  return errno == EMFILE || errno == ENFILE;
}

static void refuse_pending(net_user *u, upoll *p) {
  if (!p->listening || !out_of_fds(u)) return;
  int why = errno;
  close(u->spare_fd);
  int c = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c >= 0) {
    struct linger l = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c);
    u->stats.refused_no_fds++;
    log_limited(&u->fd_warn, LOG_WARN, "user", "out of file descriptors (%s): refused a host-forward connection",
                strerror(why));
  }
  u->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_timer(clock_timer *t) {
  net_user *u = t->data;
  u->stats.timer_wakeups++;
  cycle(u);
}

static void cycle(net_user *u) {
  if (u->closing) return;
  if (u->depth > 0) { u->again = 1; return; }
  for (int round = 0; round < 4; round++) {
    u->again = 0;
    u->stats.cycles++;
    u->depth++;
    slirp_pollfds_poll(u->slirp, 0, get_revents, u);
    for (int i = 0; i < u->nfill; i++) {
      upoll *p = u->fill[i];
      if ((p->revents & SLIRP_POLL_IN) && p->fd >= 0 && p->listening) refuse_pending(u, p);
      p->revents = 0;
    }
    u->gen++;
    u->nfill = 0;
    uint32_t timeout = UINT32_MAX;
    slirp_pollfds_fill(u->slirp, &timeout, add_poll, u);
    u->depth--;
    if (u->closing) return;
    /* Keep each handle's events equal to what this fill asked for; fds slirp did not ask for
     * stay open but stopped until it asks again or unregisters them. */
    for (int fd = 0; fd < u->nbyfd; fd++) {
      upoll *p = u->byfd[fd];
      if (!p) continue;
      int ev = p->gen == u->gen ? uv_from_slirp(p->want) : 0;
      if (ev == p->started) continue;
      if (ev) uv_poll_start(&p->h, ev, on_poll);
      else uv_poll_stop(&p->h);
      p->started = ev;
    }
    clock_timer_start(&u->timer, (uint64_t)(timeout > 1000 ? 1000 : timeout) * 1000000ull);
    /* Guest frames that arrived while slirp ran (each one's own cycle must not drain again). */
    if (u->port.qlen > 0 && !u->draining) {
      u->draining = 1;
      net_port_ready(&u->port);
      u->draining = 0;
    }
    if (!u->again) break;
  }
  flush(u);
}

/* ---- slirp's callbacks ---- */

static ssize_t cb_send(const void *buf, size_t len, void *opaque) {
  net_user *u = opaque;
  if (u->closing) return (ssize_t)len;
  if (!u->outq && !(u->outq = malloc(sizeof *u->outq * OUTQ_MAX))) return -1;
  net_frame *f = u->outlen < OUTQ_MAX && u->port.hub
                     ? frame_new(buf, len, lemu_rt_now_ns(u->obj.rt)) : NULL;
  if (!f) {
    /* Past the bound slirp's TCP retransmits; other protocols lose the frame, counted. */
    u->stats.to_guest_drops++;
    u->port.tx.drops++;
    return (ssize_t)len;
  }
  u->outq[(u->outhead + u->outlen) % OUTQ_MAX] = f;
  u->outlen++;
  return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque) {
  net_user *u = opaque;
  u->stats.guest_errors++;
  log_warn("user", "%s: guest error: %s", u->port.name, msg);
}

static int64_t cb_clock(void *opaque) {
  net_user *u = opaque;
  return (int64_t)lemu_rt_now_ns(u->obj.rt);
}

static void on_utimer(clock_timer *h) {
  utimer *t = (utimer *)h;
  net_user *u = t->u;
  if (u->closing) return;
  u->depth++;
  slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
  u->depth--;
  cycle(u);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque) {
  net_user *u = opaque;
  utimer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  clock_timer_init(u->obj.rt, &t->h, on_utimer, t);
  /* slirp's own timers (IPv6 router advertisements) never keep a run alive by themselves. */
  clock_timer_weak(&t->h);
  t->u = u;
  t->id = id;
  t->cb_opaque = cb_opaque;
  u->handles++;
  return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque) {
  /* Only used by slirp < 4.7 or when timer_new_opaque is missing: never with version 4. */
  (void)cb; (void)cb_opaque; (void)opaque;
  return NULL;
}

static void cb_timer_free(void *timer, void *opaque) {
  utimer *t = timer;
  if (!t) return;
  clock_timer_stop(&t->h);
  close_handle(opaque, (uv_handle_t *)&t->h.h);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque) {
  utimer *t = timer;
  net_user *u = opaque;
  if (!t) return;
  int64_t now_ms = (int64_t)(lemu_rt_now_ns(u->obj.rt) / 1000000);
  int64_t delay = expire_ms - now_ms;
  clock_timer_start(&t->h, delay > 0 ? (uint64_t)delay * 1000000ull : 0);
}

static void cb_register_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }

static void cb_unregister_poll_fd(int fd, void *opaque) {
  /* Before slirp closes fd: the handle must go now, or a new socket reusing the number could not
   * be watched. */
  poll_drop(opaque, fd);
}

static void cb_notify(void *opaque) { cycle(opaque); }

static const SlirpCb callbacks = {
  .send_packet = cb_send,
  .guest_error = cb_guest_error,
  .clock_get_ns = cb_clock,
  .timer_new = cb_timer_new,
  .timer_free = cb_timer_free,
  .timer_mod = cb_timer_mod,
  .register_poll_fd = cb_register_poll_fd,
  .unregister_poll_fd = cb_unregister_poll_fd,
  .notify = cb_notify,
  .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the port ---- */

/* slirp takes every frame it is handed as addressed to it, but the hub floods: a frame from one
 * guest to another on the VLAN reaches it too, and slirp would NAT it to the host (a guest's SYN to
 * 10.0.2.16:80 becomes a connect to 127.0.0.1:80 whose RST races the other guest's SYN-ACK; an echo
 * request goes out to the real network). Like a NIC, take only broadcast and multicast frames and
 * unicast ones to slirp's own MACs: 52:55:<IPv4 address> and 52:56:<IPv6 address's low 4 bytes>. */
static int for_slirp(const uint8_t *dst) {
  return (dst[0] & 1) || (dst[0] == 0x52 && (dst[1] == 0x55 || dst[1] == 0x56));
}

static int port_receive(net_port *p, net_frame *f) {
  net_user *u = p->owner;
  if (u->closing) return 1;
  if (!for_slirp(f->data)) {   /* frames hold at least an Ethernet header */
    u->stats.foreign_frames++;
    return 1;
  }
  if (u->depth > 0) return 0;   /* slirp is not re-entrant: the frame waits in the port queue */
  if (u->filter && u->filter(u, f->data, f->len, u->hook_ud)) return 1;
  u->depth++;
  slirp_input(u->slirp, f->data, (int)f->len);
  u->depth--;
  /* New sockets (a guest's connect, a UDP flow) need watching, and replies may be queued. */
  cycle(u);
  return 1;
}

static const net_port_ops user_ops = {"user", port_receive};

/* ---- creation and closing ---- */

static void user_objclose(rt_obj *o) {
  net_user *u = (net_user *)o;
  net_port_detach(&u->port);
  u->closing = 1;
  for (int fd = 0; fd < u->nbyfd; fd++) poll_drop(u, fd);
  outq_clear(u);
  /* slirp_cleanup frees its timers through timer_free and closes its sockets. */
  slirp_cleanup(u->slirp);
  u->slirp = NULL;
  if (u->spare_fd >= 0) close(u->spare_fd);
  u->spare_fd = -1;
  log_limited_flush(&u->fd_warn);
  if (u->closed) u->closed(u, u->hook_ud);
  u->filter = NULL;
  u->watch = NULL;
  u->closed = NULL;
  clock_timer_stop(&u->timer);
  close_handle(u, (uv_handle_t *)&u->timer.h);
}

static const rt_objtype user_type = {"user", user_objclose};

net_user *net_user_new(lemu_rt *rt, net_hub *hub, const net_user_cfg *c, char *err, int errlen) {
  net_user *u = calloc(1, sizeof *u);
  if (!u) { snprintf(err, errlen, "out of memory"); return NULL; }
  SlirpConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = 4;
  cfg.restricted = c->restricted;
  cfg.in_enabled = c->ipv4;
  cfg.vnetwork = c->net;
  cfg.vnetmask = c->mask;
  cfg.vhost = c->host;
  cfg.in6_enabled = c->ipv6;
  cfg.vprefix_addr6 = c->prefix6;
  cfg.vprefix_len = (uint8_t)c->prefix6_len;
  cfg.vhost6 = c->host6;
  cfg.vhostname = c->hostname;
  cfg.tftp_server_name = c->tftp_server_name;
  cfg.tftp_path = c->tftp_path;
  cfg.bootfile = c->bootfile;
  cfg.vdhcp_start = c->dhcpstart;
  cfg.vnameserver = c->dns;
  cfg.vnameserver6 = c->dns6;
  cfg.vdnssearch = c->dnssearch;
  cfg.vdomainname = c->domainname;
  cfg.disable_dns = c->disable_dns;
  u->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  rt_obj_add(rt, &u->obj, &user_type);
  clock_timer_init(rt, &u->timer, on_timer, u);
  /* TCP timers matter only while something else (a socket, a guest, a wait) keeps the run going. */
  clock_timer_weak(&u->timer);
  u->handles = 1;
  u->slirp = slirp_new(&cfg, &callbacks, u);
  if (!u->slirp) {
    snprintf(err, errlen, "libslirp refused the configuration");
    u->closing = 1;
    u->obj.closing = 1;   /* freed by the timer's close callback, never closed twice */
    close_handle(u, (uv_handle_t *)&u->timer.h);
    return NULL;
  }
  net_port_init(&u->port, &user_ops, u, c->name ? c->name : "user");
  net_port_attach(&u->port, hub);
  cycle(u);
  return u;
}

void net_user_close(net_user *u) { rt_obj_close(&u->obj); }

void net_user_set_hooks(net_user *u, net_user_filter filter, net_user_watch watch,
                        net_user_closed closed, void *ud) {
  u->filter = filter;
  u->watch = watch;
  u->closed = closed;
  u->hook_ud = ud;
}

net_port *net_user_port(net_user *u) { return &u->port; }
lemu_rt *net_user_rt(net_user *u) { return u->obj.rt; }

int net_user_send(net_user *u, const void *frame, size_t len) {
  return net_port_send(&u->port, frame, len);
}

/* Forwarding changes run slirp code: refuse them from inside slirp's own callbacks. */
#define ENTER(u)                                   \
  do {                                             \
    if ((u)->closing) return -EBADF;               \
    if ((u)->depth > 0) return -EBUSY;             \
    (u)->depth++;                                  \
    errno = 0;                                     \
  } while (0)

static int leave(net_user *u, int r) {
  int e = errno;
  u->depth--;
  cycle(u);
  if (r >= 0) return 0;
  return e ? -e : -EINVAL;
}

int net_user_hostfwd_add(net_user *u, int udp, struct in_addr haddr, int hport,
                         struct in_addr gaddr, int gport) {
  ENTER(u);
  return leave(u, slirp_add_hostfwd(u->slirp, udp, haddr, hport, gaddr, gport));
}

int net_user_hostfwd_remove(net_user *u, int udp, struct in_addr haddr, int hport) {
  ENTER(u);
  int r = slirp_remove_hostfwd(u->slirp, udp, haddr, hport);
  errno = ENOENT;
  return leave(u, r);
}

static int slirp_flags(int flags) {
  return (flags & NET_USER_FWD_UDP ? SLIRP_HOSTFWD_UDP : 0) | (flags & NET_USER_FWD_V6ONLY ? SLIRP_HOSTFWD_V6ONLY : 0);
}

int net_user_hostxfwd_add(net_user *u, const struct sockaddr *haddr, int hlen,
                          const struct sockaddr *gaddr, int glen, int flags) {
  ENTER(u);
  return leave(u, slirp_add_hostxfwd(u->slirp, haddr, (socklen_t)hlen, gaddr, (socklen_t)glen, slirp_flags(flags)));
}

int net_user_hostxfwd_remove(net_user *u, const struct sockaddr *haddr, int hlen, int flags) {
  ENTER(u);
  int r = slirp_remove_hostxfwd(u->slirp, haddr, (socklen_t)hlen, slirp_flags(flags));
  errno = ENOENT;
  return leave(u, r);
}

int net_user_add_exec(net_user *u, const char *cmd, struct in_addr gaddr, int gport) {
  ENTER(u);
  return leave(u, slirp_add_exec(u->slirp, cmd, &gaddr, gport));
}

int net_user_add_unix(net_user *u, const char *path, struct in_addr gaddr, int gport) {
  ENTER(u);
  return leave(u, slirp_add_unix(u->slirp, path, &gaddr, gport));
}

int net_user_remove_guestfwd(net_user *u, struct in_addr gaddr, int gport) {
  ENTER(u);
  int r = slirp_remove_guestfwd(u->slirp, gaddr, gport);
  errno = ENOENT;
  return leave(u, r);
}

char *net_user_connection_info(net_user *u) {
  if (u->closing) return NULL;
  /* glib's g_malloc is the system malloc (glib >= 2.46), so free() releases it. */
  return slirp_connection_info(u->slirp);
}

net_user_stats net_user_get_stats(const net_user *u) { return u->stats; }
