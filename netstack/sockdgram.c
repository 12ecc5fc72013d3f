/* sockdgram: datagram sockets (UDP, unix, IPv4 multicast, VXLAN) on raw descriptors under a
 * uv_poll: a frame per datagram (behind a VXLAN header for VXLAN), our own multicast frames
 * recognised by their source. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdport.h"
#include "log.h"
#include "sockint.h"

/* Addresses and reasons are cut to fit their buffers on purpose. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- datagrams ---- */

void sock_dgram_poll_update(net_sock *s) {
  if (s->obj.closing) return;
  sock_peer *p = s->peers;
  int rev = (p && !p->paused) ? UV_READABLE : 0;
  if (s->sendfd == s->fd) {
    if (s->wwait) rev |= UV_WRITABLE;
    if (rev) uv_poll_start(&s->rpoll, rev, sock_on_dgram);
    else uv_poll_stop(&s->rpoll);
    s->rpoll_on = rev != 0;
  } else {
    if (rev) uv_poll_start(&s->rpoll, rev, sock_on_dgram);
    else uv_poll_stop(&s->rpoll);
    s->rpoll_on = rev != 0;
    if (s->wwait) uv_poll_start(&s->wpoll, UV_WRITABLE, sock_on_wpoll);
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
  sock_dgram_poll_update(s);
  if (s->peers) net_port_ready(&s->peers->port);
}

void sock_on_dgram(uv_poll_t *h, int status, int events) {
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
    ssize_t n = recvfrom(s->fd, s->dbuf, WIRE_MAX + 1 + VXLAN_HDR, 0, (struct sockaddr *)&src, &sl);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_debug("sock", "%s: recvfrom: %s", s->addr, strerror(errno));
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;
    }
    if (own_frame(s, &src)) continue;
    if (s->cfg.mode == NET_SOCK_VXLAN) {
      /* The I flag must be set and the identifier ours; anything else is not for this VLAN. */
      const uint8_t *h = s->dbuf;
      uint32_t vni = (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
      if (n < VXLAN_HDR || !(h[0] & 0x08) || vni != s->cfg.vni) { p->st.from_peer.drops++; continue; }
      sock_from_peer(p, s->dbuf + VXLAN_HDR, (size_t)n - VXLAN_HDR);
    } else {
      sock_from_peer(p, s->dbuf, (size_t)n);
    }
    if (s->obj.closing || s->peers != p) return;
    if (!net_vlan_has_room(&p->port)) {
      p->paused = 1;
      sock_dgram_poll_update(s);
      sock_tick_arm(s, TICK_PAUSED_MS);
    }
  }
}

void sock_on_wpoll(uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  net_sock *s = h->data;
  if (!s->obj.closing && s->wwait) dgram_writable(s);
}

static int dgram_receive(net_port *port, net_frame *f) {
  sock_peer *p = port->owner;
  net_sock *s = p->s;
  if (s->wwait) return 0;
  uint8_t hdr[VXLAN_HDR] = {0x08, 0, 0, 0, (uint8_t)(s->cfg.vni >> 16), (uint8_t)(s->cfg.vni >> 8),
                            (uint8_t)s->cfg.vni, 0};
  struct iovec iov[2] = {{hdr, sizeof hdr}, {f->data, f->len}};
  int vx = s->cfg.mode == NET_SOCK_VXLAN;
  struct msghdr mh = {.msg_name = &s->dst, .msg_namelen = s->dstlen, .msg_iov = vx ? iov : iov + 1,
                      .msg_iovlen = vx ? 2 : 1};
  ssize_t n = sendmsg(s->sendfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
    s->wwait = 1;
    sock_dgram_poll_update(s);
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

int sock_dgram_open(net_sock *s, char *err, size_t errlen) {
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
    sock_fmt_addr((struct sockaddr *)&s->own, s->local, sizeof s->local);
    return 0;
  }
  if (c->mode == NET_SOCK_VXLAN && fam == AF_UNIX) {
    snprintf(err, errlen, "VXLAN runs over UDP, not a unix socket (%s)", s->addr);
    return -1;
  }
  if (c->mode == NET_SOCK_VXLAN && c->vni > 0xffffff) {
    snprintf(err, errlen, "vni %u is past 16777215 (24 bits)", (unsigned)c->vni);
    return -1;
  }
  /* UDP or unix datagrams (and VXLAN): bind local (if given), send to the remote */
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
  sock_fmt_addr((struct sockaddr *)&s->own, s->local, sizeof s->local);
  return 0;
}

const net_port_ops sock_dgram_ops = {"socket", dgram_receive};
const net_port_ops sock_vxlan_ops = {"vxlan", dgram_receive};
