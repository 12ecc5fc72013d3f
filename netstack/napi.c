/* napi: the public C interface to VLANs and user-mode networks (lemu.h), over port.h and user.h.
 * A lemu_vlan is a net_hub and a lemu_user a net_user: the public types are those objects seen
 * through opaque names, so their lifetimes are the runtime objects' own. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lemu.h"
#include "port.h"
#include "user.h"

lemu_vlan *lemu_vlan_new(lemu_rt *rt, const char *name) {
  return (lemu_vlan *)net_hub_new(rt, name ? name : "vlan");
}

void lemu_vlan_close(lemu_vlan *v) { net_hub_close((net_hub *)v); }

lemu_user *lemu_user_new(lemu_rt *rt, lemu_vlan *v, const lemu_user_config *cfg, char *err,
                         int errlen) {
  static const lemu_user_config none;
  if (!cfg) cfg = &none;
  if (cfg->tftp_dir) {
    struct stat st;
    if (stat(cfg->tftp_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      snprintf(err, (size_t)errlen, "tftp_dir: directory '%s' does not exist", cfg->tftp_dir);
      return NULL;
    }
  }
  /* QEMU's user-net addresses. */
  net_user_cfg c;
  memset(&c, 0, sizeof c);
  c.restricted = cfg->restricted;
  c.ipv4 = c.ipv6 = 1;
  inet_pton(AF_INET, "10.0.2.0", &c.net);
  inet_pton(AF_INET, "255.255.255.0", &c.mask);
  inet_pton(AF_INET, "10.0.2.2", &c.host);
  inet_pton(AF_INET, "10.0.2.15", &c.dhcpstart);
  inet_pton(AF_INET, "10.0.2.3", &c.dns);
  inet_pton(AF_INET6, "fec0::", &c.prefix6);
  c.prefix6_len = 64;
  c.host6 = c.prefix6;
  c.host6.s6_addr[15] = 2;
  c.dns6 = c.prefix6;
  c.dns6.s6_addr[15] = 3;
  c.tftp_path = cfg->tftp_dir;
  c.bootfile = cfg->bootfile;
  c.disable_dns = cfg->no_dns;
  c.name = "user";
  return (lemu_user *)net_user_new(rt, (net_hub *)v, &c, err, errlen);
}

int lemu_user_hostfwd(lemu_user *u, int udp, const char *host_addr, int host_port,
                      const char *guest_addr, int guest_port) {
  struct in_addr h, g;
  if (inet_pton(AF_INET, host_addr ? host_addr : "127.0.0.1", &h) != 1) return -EINVAL;
  if (inet_pton(AF_INET, guest_addr ? guest_addr : "10.0.2.15", &g) != 1) return -EINVAL;
  if (host_port < 0 || host_port > 65535 || guest_port < 1 || guest_port > 65535) return -EINVAL;
  return net_user_hostfwd_add((net_user *)u, udp, h, host_port, g, guest_port);
}

void lemu_user_close(lemu_user *u) { net_user_close((net_user *)u); }
