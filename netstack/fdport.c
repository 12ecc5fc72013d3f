/* fdport: frame descriptors on a uv_poll, with the backpressure rules described in fdport.h. */
#include "fdport.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define FD_BUF 65536

int net_vlan_has_room(const net_port *p) {
  net_hub *h = p->hub;
  if (!h) return 1;
  int n = net_hub_nports(h), others = 0;
  for (int i = 0; i < n; i++) {
    net_port *q = net_hub_port(h, i);
    if (q == p || !q->link_up) continue;
    others++;
    if (q->qlimit == 0 || q->qlen * 2 < q->qlimit) return 1;   /* no queue: it drops by itself */
  }
  return others == 0;   /* frames with nowhere to go are dropped at once: never worth a pause */
}

static void on_poll(uv_poll_t *h, int status, int events);

static void update(net_fdport *fp) {
  if (fp->closing) return;
  int ev = (fp->paused ? 0 : UV_READABLE) | (fp->wwait ? UV_WRITABLE : 0);
  if (ev) uv_poll_start(&fp->poll, ev, on_poll);
  else uv_poll_stop(&fp->poll);
}

static void on_tick(uv_timer_t *t) {
  net_fdport *fp = t->data;
  if (fp->paused && net_vlan_has_room(&fp->port)) {
    fp->paused = 0;
    update(fp);
  } else if (fp->paused) {
    uv_timer_start(&fp->tick, on_tick, 1, 0);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  net_fdport *fp = h->data;
  if (fp->closing) return;
  if (status < 0) {
    log_warn(fp->port.ops->kind, "%s: poll failed: %s", fp->port.name, uv_strerror(status));
    uv_poll_stop(&fp->poll);
    return;
  }
  if ((events & UV_WRITABLE) && fp->wwait) {
    fp->wwait = 0;
    update(fp);
    net_port_ready(&fp->port);
  }
  if (!(events & UV_READABLE)) return;
  for (int i = 0; i < 64 && !fp->paused && !fp->closing; i++) {
    ssize_t n = fp->ops->read(fp, fp->buf, FD_BUF);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      log_warn(fp->port.ops->kind, "%s: read failed: %s; no longer reading", fp->port.name, strerror(errno));
      fp->paused = 1;
      update(fp);
      return;
    }
    if (n < NET_FRAME_MIN || n > NET_FRAME_MAX) {
      fp->from_host.drops++;
      continue;
    }
    fp->from_host.frames++;
    fp->from_host.bytes += (uint64_t)n;
    net_port_send(&fp->port, fp->buf, (size_t)n);
    if (!fp->closing && !net_vlan_has_room(&fp->port)) {
      fp->paused = 1;
      update(fp);
      uv_timer_start(&fp->tick, on_tick, 1, 0);
    }
  }
}

static int fd_receive(net_port *p, net_frame *f) {
  net_fdport *fp = p->owner;
  if (fp->closing) return 1;
  if (fp->wwait) return 0;
  ssize_t n = fp->ops->write(fp, f->data, f->len);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
    fp->wwait = 1;
    update(fp);
    return 0;
  }
  if (n < 0) {
    fp->to_host.drops++;
    return 1;
  }
  fp->to_host.frames++;
  fp->to_host.bytes += f->len;
  return 1;
}

int net_fdport_start(net_fdport *fp, uv_loop_t *loop, net_hub *hub, int fd, const net_fdport_ops *ops,
                     const net_port_ops *pops, void *owner, const char *name) {
  fp->ops = ops;
  fp->owner = owner;
  fp->fd = fd;
  if (!(fp->buf = malloc(FD_BUF))) return -1;
  int r = uv_poll_init(loop, &fp->poll, fd);
  if (r) { free(fp->buf); fp->buf = NULL; errno = -r; return -1; }
  uv_timer_init(loop, &fp->tick);
  fp->poll.data = fp->tick.data = fp;
  net_port_init(&fp->port, pops, fp, name);
  net_port_attach(&fp->port, hub);
  update(fp);
  return 0;
}

static void handle_closed(uv_handle_t *h) {
  net_fdport *fp = h->data;
  if (++fp->nclosed == 2) {
    free(fp->buf);
    fp->buf = NULL;
    fp->ops->closed(fp);
  }
}

void net_fdport_stop(net_fdport *fp) {
  if (fp->closing) return;
  fp->closing = 1;
  net_port_detach(&fp->port);
  uv_close((uv_handle_t *)&fp->poll, handle_closed);
  uv_close((uv_handle_t *)&fp->tick, handle_closed);
}

/* The receive function ports of fd-backed owners use (their net_port_ops point here). */
int net_fdport_receive(net_port *p, net_frame *f) { return fd_receive(p, f); }

const net_fdport *net_fdport_of(const net_port *p) {
  return p->ops->receive == net_fdport_receive ? p->owner : NULL;
}

void net_ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
}
