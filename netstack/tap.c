/* tap: TAP devices — opening /dev/net/tun with clear advice when it is missing or refused, the
 * ifup/ifdown scripts (run to completion, as QEMU does), and netlink configuration via libmnl. */
#define _GNU_SOURCE
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rt.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define VNET_HDR_LEN 10   /* struct virtio_net_hdr, the size TUNSETIFF with IFF_VNET_HDR starts with */

struct net_tap_dev {
  rt_obj obj;
  net_fdport fp;
  char ifname[IFNAMSIZ];
  char downscript[256];
  int vnet_hdr;
};

extern char **environ;

/* Runs script with the interface name and waits for it, as QEMU does; 0 if it exited with 0. */
static int run_script(const char *script, const char *ifname, char *err, size_t errlen) {
  char *argv[] = {(char *)script, (char *)ifname, NULL};
  pid_t pid;
  int r = posix_spawn(&pid, script, NULL, NULL, argv, environ);
  if (r) {
    snprintf(err, errlen, "cannot run script %s: %s", script, strerror(r));
    return -1;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(err, errlen, "script %s %s failed (%s %d)", script, ifname,
             WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return -1;
  }
  return 0;
}

/* One netlink request with an ack. */
static int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, char *buf, size_t buflen) {
  unsigned seq = (unsigned)time(NULL);
  nlh->nlmsg_seq = seq;
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return -1;
  ssize_t n = mnl_socket_recvfrom(nl, buf, buflen);
  if (n < 0) return -1;
  return mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL, NULL) < 0 ? -1 : 0;
}

/* Brings ifname up and adds addr ("a.b.c.d/len") to it. */
static int configure(const char *ifname, const char *addr, char *err, size_t errlen) {
  char ip[64];
  snprintf(ip, sizeof ip, "%s", addr);
  char *slash = strchr(ip, '/');
  long plen = 32;
  if (slash) {
    *slash = 0;
    char *end;
    plen = strtol(slash + 1, &end, 10);
    if (*end || plen < 0 || plen > 32) { snprintf(err, errlen, "up.addr '%s': bad prefix length", addr); return -1; }
  }
  struct in_addr in;
  if (inet_pton(AF_INET, ip, &in) != 1) {
    snprintf(err, errlen, "up.addr '%s' is not an IPv4 address/prefix like 192.168.76.1/24", addr);
    return -1;
  }
  unsigned idx = if_nametoindex(ifname);
  struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
  if (!idx || !nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    snprintf(err, errlen, "netlink: %s", strerror(errno));
    if (nl) mnl_socket_close(nl);
    return -1;
  }
  char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
  int r = -1;
  if (!buf) goto out;
  struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)plen;
  ifa->ifa_index = idx;
  mnl_attr_put_u32(nlh, IFA_LOCAL, in.s_addr);
  mnl_attr_put_u32(nlh, IFA_ADDRESS, in.s_addr);
  if (nl_talk(nl, nlh, buf, MNL_SOCKET_BUFFER_SIZE) < 0) {
    snprintf(err, errlen, "adding address %s to %s: %s", addr, ifname, strerror(errno));
    goto out;
  }
  nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = (int)idx;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (nl_talk(nl, nlh, buf, MNL_SOCKET_BUFFER_SIZE) < 0) {
    snprintf(err, errlen, "bringing %s up: %s", ifname, strerror(errno));
    goto out;
  }
  r = 0;
out:
  free(buf);
  mnl_socket_close(nl);
  return r;
}

static ssize_t tap_read(net_fdport *fp, uint8_t *buf, size_t len) {
  net_tap_dev *t = fp->owner;
  if (!t->vnet_hdr) return read(fp->fd, buf, len);
  uint8_t hdr[VNET_HDR_LEN];
  struct iovec iov[2] = {{hdr, sizeof hdr}, {buf, len}};
  ssize_t n = readv(fp->fd, iov, 2);
  if (n < 0) return n;
  return n < VNET_HDR_LEN ? 0 : n - VNET_HDR_LEN;
}

static ssize_t tap_write(net_fdport *fp, const uint8_t *buf, size_t len) {
  net_tap_dev *t = fp->owner;
  if (!t->vnet_hdr) return write(fp->fd, buf, len);
  uint8_t hdr[VNET_HDR_LEN] = {0};   /* no offloads: flags 0, GSO_NONE */
  struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)buf, len}};
  ssize_t n = writev(fp->fd, iov, 2);
  return n < 0 ? n : (ssize_t)len;
}

static void tap_closed(net_fdport *fp) {
  net_tap_dev *t = fp->owner;
  close(fp->fd);   /* only now: libuv wants the descriptor open until its poll handle is closed */
  rt_obj_del(&t->obj);
  free(t);
}

static const net_fdport_ops tap_fdops = {tap_read, tap_write, tap_closed};
static const net_port_ops tap_ops = {"tap", net_fdport_receive};

static void tap_objclose(rt_obj *o) {
  net_tap_dev *t = (net_tap_dev *)o;
  if (t->downscript[0]) {
    char err[256];
    if (run_script(t->downscript, t->ifname, err, sizeof err) < 0) log_warn("tap", "%s", err);
  }
  net_fdport_stop(&t->fp);
}

static const rt_objtype tap_type = {"tap", tap_objclose};

static int no_script(const char *s) { return !s || !*s || strcmp(s, "no") == 0; }

net_tap_dev *net_tap_open(lemu_rt *rt, net_hub *hub, const net_tap_config *cfg, char *err, size_t errlen) {
  const char *want = cfg->ifname && *cfg->ifname ? cfg->ifname : "";
  if (strlen(want) >= IFNAMSIZ) {
    snprintf(err, errlen, "ifname '%s' is longer than %d characters", want, IFNAMSIZ - 1);
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENXIO || e == ENODEV)
      snprintf(err, errlen, "/dev/net/tun is missing (%s): load the tun module (modprobe tun) or, in a "
               "container, pass the device in (--device /dev/net/tun)", strerror(e));
    else if (e == EACCES || e == EPERM)
      snprintf(err, errlen, "no permission to open /dev/net/tun (%s): run as root (or with CAP_NET_ADMIN), "
               "or have an administrator make the device readable and a persistent TAP for you: "
               "ip tuntap add dev tap0 mode tap user $USER, then use ifname=\"tap0\"", strerror(e));
    else
      snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(e));
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (cfg->vnet_hdr ? IFF_VNET_HDR : 0);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", want);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    if (e == EPERM || e == EACCES)
      snprintf(err, errlen, "no permission to create TAP '%s' (%s): run as root (CAP_NET_ADMIN), or have an "
               "administrator create it for you: ip tuntap add dev %s mode tap user $USER", *want ? want : "tapN",
               strerror(e), *want ? want : "tap0");
    else if (e == EINVAL || e == EBUSY)
      snprintf(err, errlen, "cannot attach to TAP '%s' (%s): it exists with other flags (a tun device, "
               "vnet_hdr=%s mismatch) or is in use", want, strerror(e), cfg->vnet_hdr ? "on" : "off");
    else
      snprintf(err, errlen, "TUNSETIFF '%s' failed: %s", want, strerror(e));
    return NULL;
  }
  net_tap_dev *t = calloc(1, sizeof *t);
  if (!t) { close(fd); snprintf(err, errlen, "out of memory"); return NULL; }
  snprintf(t->ifname, sizeof t->ifname, "%s", ifr.ifr_name);
  t->vnet_hdr = cfg->vnet_hdr;
  if (!no_script(cfg->script) && run_script(cfg->script, t->ifname, err, errlen) < 0) goto fail;
  if (cfg->up_addr && configure(t->ifname, cfg->up_addr, err, errlen) < 0) goto fail;
  if (!no_script(cfg->downscript)) snprintf(t->downscript, sizeof t->downscript, "%s", cfg->downscript);
  char name[48];
  snprintf(name, sizeof name, "tap %s", t->ifname);
  if (net_fdport_start(&t->fp, rt_loop(rt), hub, fd, &tap_fdops, &tap_ops, t, name) < 0) {
    snprintf(err, errlen, "cannot poll the TAP descriptor: %s", strerror(errno));
    goto fail;
  }
  snprintf(t->fp.peer, sizeof t->fp.peer, "%s", t->ifname);
  rt_obj_add(rt, &t->obj, &tap_type);
  char part[sizeof t->ifname + 16];
  snprintf(part, sizeof part, "TAP %s", t->ifname);
  clock_nondeterministic(rt, part);
  return t;
fail:
  close(fd);
  free(t);
  return NULL;
}

void net_tap_close(net_tap_dev *t) { rt_obj_close(&t->obj); }
const char *net_tap_ifname(const net_tap_dev *t) { return t->ifname; }
const net_fdport *net_tap_fdport(const net_tap_dev *t) { return &t->fp; }
