/* luser: the C half of `vlan:user{...}` (lemu.usernet) — QEMU's -netdev user options turned into a
 * net_user, forwarding rules in QEMU's syntax, the local DNS table, smbd for `smb=`, the DHCP
 * leases seen on the wire, and user:info(). Option names and lists are normalised by
 * lua/lemu/user.lua before they get here. */
#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dnshosts.h"
#include "lmods.h"
#include "lnet.h"
#include "lobj.h"
#include "luser.h"
#include "smb.h"
#include "user.h"

#define USER "lemu.user"
#define MAXFWD 256
#define MAXLEASE 64

typedef struct fwd {
  char rule[256];
  char path[108];     /* a Unix-domain host socket (libslirp >= 4.7), else "" */
  int udp;
  struct in_addr haddr, gaddr;
  int hport, gport;
  int v6;                          /* an IPv6 forward: haddr6 and gaddr6, through slirp_add_hostxfwd */
  struct in6_addr haddr6, gaddr6;
} fwd;

typedef struct lease {
  uint8_t mac[6];
  struct in_addr ip;
  double at_ms;
} lease;

typedef struct luser {
  net_user *u;
  lstate *s;
  struct in_addr net, mask, host, dhcpstart, dns, smbserver;
  struct in6_addr prefix6, host6, dns6;
  int prefix6_len, ipv4, ipv6, restricted;
  dns_hosts *dns_hosts;
  fwd fwds[MAXFWD];
  int nfwd;
  lease leases[MAXLEASE];
  int nlease;
  char smbdir[PATH_MAX];
  uint8_t reply[2048];
} luser;

/* ---- parsing ---- */

static const char *opt_str(lua_State *L, int t, const char *key) {
  int ty = lua_getfield(L, t, key);
  const char *s = NULL;
  if (ty == LUA_TSTRING || ty == LUA_TNUMBER) s = lobj_cstr(L, -1, key);
  else if (ty != LUA_TNIL) luaL_error(L, "option '%s': expected a string, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);   /* the string stays alive in the options table */
  return s;
}

static int opt_bool(lua_State *L, int t, const char *key, int def) {
  int ty = lua_getfield(L, t, key);
  int r = def;
  if (ty == LUA_TBOOLEAN) r = lua_toboolean(L, -1);
  else if (ty == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "y")) r = 1;
    else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "n")) r = 0;
    else luaL_error(L, "option '%s': '%s' is not on or off", key, s);
  } else if (ty != LUA_TNIL) luaL_error(L, "option '%s': expected on/off, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return r;
}

static void opt_addr(lua_State *L, int t, const char *key, struct in_addr *a) {
  const char *s = opt_str(L, t, key);
  if (s && inet_pton(AF_INET, s, a) != 1)
    luaL_error(L, "option '%s': '%s' is not an IPv4 address", key, s);
}

static void opt_addr6(lua_State *L, int t, const char *key, struct in6_addr *a, int *set) {
  const char *s = opt_str(L, t, key);
  if (set) *set = s != NULL;
  if (s && inet_pton(AF_INET6, s, a) != 1)
    luaL_error(L, "option '%s': '%s' is not an IPv6 address", key, s);
}

static const char *ip4(struct in_addr a, char *buf) {
  inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
  return buf;
}

static int in_net(const luser *lu, struct in_addr a) {
  return (a.s_addr & lu->mask.s_addr) == lu->net.s_addr;
}

static int prefix_bits(struct in_addr mask) {
  uint32_t m = ntohl(mask.s_addr);
  int n = 0;
  while (m & 0x80000000u) { n++; m <<= 1; }
  return m ? -1 : n;   /* -1: not a contiguous mask */
}

/* net=addr[/bits|/mask]; without a mask, the class of the address decides (as QEMU does). */
static void parse_net(lua_State *L, const char *s, luser *lu) {
  char buf[64];
  if (strlen(s) >= sizeof buf) luaL_error(L, "option 'net': '%s' is too long", s);
  strcpy(buf, s);
  char *slash = strchr(buf, '/');
  if (slash) *slash = 0;
  if (inet_pton(AF_INET, buf, &lu->net) != 1) luaL_error(L, "option 'net': '%s' is not an IPv4 network", s);
  uint32_t a = ntohl(lu->net.s_addr), m;
  if (slash) {
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (*end == 0 && end != slash + 1) {
      if (bits < 8 || bits > 30) luaL_error(L, "option 'net': prefix length %d is outside 8..30", (int)bits);
      m = bits ? 0xffffffffu << (32 - bits) : 0;
    } else {
      struct in_addr mm;
      if (inet_pton(AF_INET, slash + 1, &mm) != 1 || prefix_bits(mm) < 8 || prefix_bits(mm) > 30)
        luaL_error(L, "option 'net': '%s' is not a netmask of 8 to 30 bits", slash + 1);
      m = ntohl(mm.s_addr);
    }
  } else if (!(a & 0x80000000u)) m = 0xff000000u;
  else if ((a & 0xfff00000u) == 0xac100000u) m = 0xfff00000u;
  else if ((a & 0xc0000000u) == 0x80000000u) m = 0xffff0000u;
  else if ((a & 0xffff0000u) == 0xc0a80000u) m = 0xffff0000u;
  else if ((a & 0xe0000000u) == 0xe0000000u) m = 0xffffff00u;
  else m = 0xffffff00u;
  if (a & ~m) luaL_error(L, "option 'net': '%s' has host bits set (the network is %s)", s, buf);
  lu->mask.s_addr = htonl(m);
}

/* An address option inside the network, defaulting to net + offset. */
static void net_member(lua_State *L, int t, const char *key, luser *lu, struct in_addr *a, uint32_t off) {
  char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
  a->s_addr = lu->net.s_addr | htonl(off);
  opt_addr(L, t, key, a);
  uint32_t host = ntohl(a->s_addr) & ~ntohl(lu->mask.s_addr);
  if (!in_net(lu, *a))
    luaL_error(L, "option '%s': %s is outside the network %s/%d", key, ip4(*a, b1), ip4(lu->net, b2),
               prefix_bits(lu->mask));
  if (host == 0 || host == ~ntohl(lu->mask.s_addr))
    luaL_error(L, "option '%s': %s is the network's own or broadcast address", key, ip4(*a, b1));
}

static int in6_net(const struct in6_addr *a, const struct in6_addr *p, int len) {
  for (int i = 0; i < 16 && len > 0; i++, len -= 8) {
    uint8_t m = len >= 8 ? 0xff : (uint8_t)(0xff << (8 - len));
    if ((a->s6_addr[i] & m) != (p->s6_addr[i] & m)) return 0;
  }
  return 1;
}

/* Splits s at the first c: copies the part before into buf, advances *s past c. -1 if no c. */
static int take(char *buf, size_t cap, const char **s, char c) {
  const char *e = strchr(*s, c);
  if (!e || (size_t)(e - *s) >= cap) return -1;
  memcpy(buf, *s, (size_t)(e - *s));
  buf[e - *s] = 0;
  *s = e + 1;
  return 0;
}

static int port_of(const char *s, int min, long *out) {
  char *end;
  if (!*s) return -1;
  errno = 0;
  long v = strtol(s, &end, 0);   /* base 0, as QEMU: 0x50 and 080 are ports too */
  if (*end || errno || v < min || v > 65535) return -1;
  *out = v;
  return 0;
}

/* The IPv6 guest address of a forward that names none: the address SLAAC gives the default NIC
 * (MAC 52:54:00:12:34:56) in the network's prefix, fec0::5054:ff:fe12:3456 by default; as the
 * IPv4 default is the first DHCP address, the one the first guest gets. */
static void default_guest6(const luser *lu, struct in6_addr *a) {
  static const uint8_t iid[8] = {0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56};
  *a = lu->prefix6;
  memcpy(a->s6_addr + 8, iid, 8);
}

#define RULE_SYNTAX "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport, [tcp|udp]:[[ipv6]]:hostport-[[ipv6]]:guestport or unix:PATH-[guestaddr]:guestport"

/* hostfwd: "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport". full=0 accepts QEMU's
 * hostfwd_remove form "[tcp|udp]:[hostaddr]:hostport" as well. */
static void parse_hostfwd(lua_State *L, luser *lu, const char *rule, fwd *f, int full) {
  char buf[128];
  const char *p = rule;
  long hp, gp = 0;
  memset(f, 0, sizeof *f);
  if (strlen(rule) >= sizeof f->rule) luaL_error(L, "hostfwd rule '%s' is too long", rule);
  if (take(buf, sizeof buf, &p, ':') < 0) goto syntax;
  if (!strcmp(buf, "unix")) {
    /* unix:PATH-[guestaddr]:guestport; the guest part has no '-', so the path may. */
    const char *dash = strrchr(p, '-');
    size_t n = dash && full ? (size_t)(dash - p) : strlen(p);
    if (!full && dash && strchr(dash, ':')) n = (size_t)(dash - p);
    if (n == 0 || n >= sizeof f->path || p[0] != '/')
      luaL_error(L, "hostfwd rule '%s': the Unix socket path must be absolute and under %d bytes", rule,
                 (int)sizeof f->path);
    memcpy(f->path, p, n);
    f->path[n] = 0;
    snprintf(f->rule, sizeof f->rule, "%s", rule);
    if (!full && (!dash || !strchr(dash, ':'))) return;
    if (!dash) goto syntax;
    p = dash + 1;
    goto guest;
  }
  if (!strcmp(buf, "udp")) f->udp = 1;
  else if (strcmp(buf, "tcp") && buf[0]) luaL_error(L, "hostfwd rule '%s': protocol '%s' is not tcp, udp or unix", rule, buf);
  if (*p == '[') {
    /* lemu's extension of QEMU's syntax: an IPv6 host address in brackets, "[::1]:8080"; "[]" is
     * ::1, as an empty IPv4 address is 127.0.0.1. */
    p++;
    if (take(buf, sizeof buf, &p, ']') < 0)
      luaL_error(L, "hostfwd rule '%s': the IPv6 host address has no closing ']'", rule);
    if (*p++ != ':') luaL_error(L, "hostfwd rule '%s': expected ':' and the host port after ']'", rule);
    f->v6 = 1;
    if (!buf[0]) f->haddr6 = in6addr_loopback;
    else if (inet_pton(AF_INET6, buf, &f->haddr6) != 1)
      luaL_error(L, "hostfwd rule '%s': host address '[%s]' is not an IPv6 address", rule, buf);
    if (!lu->ipv6) luaL_error(L, "hostfwd rule '%s': an IPv6 forward needs ipv6=on", rule);
  } else {
    if (take(buf, sizeof buf, &p, ':') < 0) goto syntax;
    /* Unlike QEMU, an empty host address is loopback: exposing a port needs an explicit 0.0.0.0. */
    if (!buf[0]) inet_pton(AF_INET, "127.0.0.1", &f->haddr);
    else if (inet_pton(AF_INET, buf, &f->haddr) != 1)
      luaL_error(L, "hostfwd rule '%s': host address '%s' is not an IPv4 address%s", rule, buf,
                 strchr(buf, ']') ? " (an IPv6 address goes in brackets: [::1])" : "");
  }
  if (!full && !strchr(p, '-')) {
    if (port_of(p, 0, &hp) < 0) luaL_error(L, "hostfwd rule '%s': host port '%s' is not 0..65535", rule, p);
    f->hport = (int)hp;
    snprintf(f->rule, sizeof f->rule, "%s", rule);
    return;
  }
  if (take(buf, sizeof buf, &p, '-') < 0) goto syntax;
  if (port_of(buf, 0, &hp) < 0) luaL_error(L, "hostfwd rule '%s': host port '%s' is not 0..65535", rule, buf);
  f->hport = (int)hp;
guest:
  if (*p == '[') {
    p++;
    if (take(buf, sizeof buf, &p, ']') < 0)
      luaL_error(L, "hostfwd rule '%s': the IPv6 guest address has no closing ']'", rule);
    if (*p++ != ':') luaL_error(L, "hostfwd rule '%s': expected ':' and the guest port after ']'", rule);
    if (!f->v6) luaL_error(L, "hostfwd rule '%s': an IPv4 host address with an IPv6 guest address (both must be IPv6: [host]:port-[guest]:port)", rule);
    if (!buf[0]) default_guest6(lu, &f->gaddr6);
    else if (inet_pton(AF_INET6, buf, &f->gaddr6) != 1)
      luaL_error(L, "hostfwd rule '%s': guest address '[%s]' is not an IPv6 address", rule, buf);
    if (!in6_net(&f->gaddr6, &lu->prefix6, lu->prefix6_len)) {
      char b1[INET6_ADDRSTRLEN], b2[INET6_ADDRSTRLEN];
      luaL_error(L, "hostfwd rule '%s': guest address %s is outside the network %s/%d", rule,
                 inet_ntop(AF_INET6, &f->gaddr6, b1, sizeof b1), inet_ntop(AF_INET6, &lu->prefix6, b2, sizeof b2),
                 lu->prefix6_len);
    }
    goto gport;
  }
  if (take(buf, sizeof buf, &p, ':') < 0) goto syntax;
  if (f->v6) {
    if (buf[0]) luaL_error(L, "hostfwd rule '%s': an IPv6 host address with an IPv4 guest address '%s' (write the guest's IPv6 address in brackets, or leave it empty)", rule, buf);
    default_guest6(lu, &f->gaddr6);
    goto gport;
  }
  if (!buf[0]) f->gaddr = lu->dhcpstart;
  else if (inet_pton(AF_INET, buf, &f->gaddr) != 1)
    luaL_error(L, "hostfwd rule '%s': guest address '%s' is not an IPv4 address", rule, buf);
  if (lu->ipv4 && !in_net(lu, f->gaddr)) {
    char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
    luaL_error(L, "hostfwd rule '%s': guest address %s is outside the network %s/%d", rule,
               ip4(f->gaddr, b1), ip4(lu->net, b2), prefix_bits(lu->mask));
  }
gport:
  if (port_of(p, 1, &gp) < 0) luaL_error(L, "hostfwd rule '%s': guest port '%s' is not 1..65535", rule, p);
  f->gport = (int)gp;
  snprintf(f->rule, sizeof f->rule, "%s", rule);
  return;
syntax:
  luaL_error(L, "hostfwd rule '%s' is malformed: expected %s", rule, full ? RULE_SYNTAX : "[tcp|udp]:[hostaddr]:hostport");
}

static luser *check(lua_State *L) {
  luser *lu = lobj_check(L, 1, USER);
  if (!lu->u) luaL_error(L, "attempt to use a closed user network");
  return lu;
}

static void push_fwd(lua_State *L, const fwd *f) {
  char b[INET6_ADDRSTRLEN];
  lua_createtable(L, 0, 6);
  lua_pushstring(L, f->rule);
  lua_setfield(L, -2, "rule");
  lua_pushstring(L, f->path[0] ? "unix" : f->udp ? "udp" : "tcp");
  lua_setfield(L, -2, "proto");
  if (f->path[0]) {
    lua_pushstring(L, f->path);
    lua_setfield(L, -2, "host_path");
  }
  lua_pushstring(L, f->v6 ? inet_ntop(AF_INET6, &f->haddr6, b, sizeof b) : ip4(f->haddr, b));
  lua_setfield(L, -2, "host_addr");
  lua_pushinteger(L, f->hport);
  lua_setfield(L, -2, "host_port");
  lua_pushstring(L, f->v6 ? inet_ntop(AF_INET6, &f->gaddr6, b, sizeof b) : ip4(f->gaddr, b));
  lua_setfield(L, -2, "guest_addr");
  lua_pushboolean(L, f->v6);
  lua_setfield(L, -2, "ipv6");
  lua_pushinteger(L, f->gport);
  lua_setfield(L, -2, "guest_port");
}

/* Host port 0 asks for any free port: pick one here, so that info() shows it and the rule can be
 * removed by it (slirp only knows rules by their host port). */
static int pick_port(const fwd *f) {
  int fd = socket(f->v6 ? AF_INET6 : AF_INET, f->udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = f->haddr, .sin_port = 0};
  struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_addr = f->haddr6, .sin6_port = 0};
  struct sockaddr *a = f->v6 ? (struct sockaddr *)&sa6 : (struct sockaddr *)&sa;
  socklen_t len = f->v6 ? sizeof sa6 : sizeof sa;
  int port = -1;
  if (bind(fd, a, len) == 0 && getsockname(fd, a, &len) == 0)
    port = ntohs(f->v6 ? sa6.sin6_port : sa.sin_port);
  close(fd);
  return port;
}

static int same_host(const fwd *a, const fwd *b) {
  if (a->path[0] || b->path[0] || a->v6 != b->v6 || a->udp != b->udp || a->hport != b->hport) return 0;
  return a->v6 ? !memcmp(&a->haddr6, &b->haddr6, sizeof a->haddr6) : a->haddr.s_addr == b->haddr.s_addr;
}

/* An IPv6 forward's host and guest sockaddrs. */
static void fwd6_addrs(const fwd *f, struct sockaddr_in6 *h, struct sockaddr_in6 *g) {
  memset(h, 0, sizeof *h);
  memset(g, 0, sizeof *g);
  h->sin6_family = g->sin6_family = AF_INET6;
  h->sin6_addr = f->haddr6;
  h->sin6_port = htons((uint16_t)f->hport);
  g->sin6_addr = f->gaddr6;
  g->sin6_port = htons((uint16_t)f->gport);
}

/* user:hostfwd_add(rule) */
static int user_hostfwd_add(lua_State *L) {
  luser *lu = check(L);
  const char *rule = lobj_checkcstr(L, 2, "hostfwd rule");
  fwd f;
  parse_hostfwd(L, lu, rule, &f, 1);
  if (lu->nfwd == MAXFWD) return luaL_error(L, "hostfwd rule '%s': too many rules (%d)", rule, MAXFWD);
  if (f.path[0]) {
    for (int i = 0; i < lu->nfwd; i++)
      if (!strcmp(lu->fwds[i].path, f.path))
        return luaL_error(L, "hostfwd rule '%s': %s is already forwarded by '%s'", rule, f.path, lu->fwds[i].rule);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    struct sockaddr_in gi = {.sin_family = AF_INET, .sin_addr = f.gaddr, .sin_port = htons((uint16_t)f.gport)};
    strcpy(su.sun_path, f.path);
    int r = net_user_hostxfwd_add(lu->u, (struct sockaddr *)&su, sizeof su, (struct sockaddr *)&gi, sizeof gi, 0);
    if (r < 0) return luaL_error(L, "hostfwd rule '%s': cannot listen on %s: %s", rule, f.path, strerror(-r));
    lu->fwds[lu->nfwd++] = f;
    push_fwd(L, &f);
    return 1;
  }
  if (f.hport == 0 && (f.hport = pick_port(&f)) < 0)
    return luaL_error(L, "hostfwd rule '%s': no free port: %s", rule, strerror(errno));
  for (int i = 0; i < lu->nfwd; i++) {
    fwd *o = &lu->fwds[i];
    if (same_host(o, &f))
      return luaL_error(L, "hostfwd rule '%s': host port %d is already forwarded by '%s'", rule, f.hport, o->rule);
  }
  int r;
  if (f.v6) {
    struct sockaddr_in6 h, g;
    fwd6_addrs(&f, &h, &g);
    r = net_user_hostxfwd_add(lu->u, (struct sockaddr *)&h, sizeof h, (struct sockaddr *)&g, sizeof g,
                              (f.udp ? NET_USER_FWD_UDP : 0) | NET_USER_FWD_V6ONLY);
  } else {
    r = net_user_hostfwd_add(lu->u, f.udp, f.haddr, f.hport, f.gaddr, f.gport);
  }
  if (r < 0) {
    char b[INET6_ADDRSTRLEN];
    return luaL_error(L, f.v6 ? "hostfwd rule '%s': cannot listen on %s [%s]:%d: %s" : "hostfwd rule '%s': cannot listen on %s %s:%d: %s",
                      rule, f.udp ? "UDP" : "TCP",
                      f.v6 ? inet_ntop(AF_INET6, &f.haddr6, b, sizeof b) : ip4(f.haddr, b), f.hport, strerror(-r));
  }
  lu->fwds[lu->nfwd++] = f;
  push_fwd(L, &f);
  return 1;
}

/* user:hostfwd_remove(rule): the full rule or QEMU's "[tcp|udp]:[hostaddr]:hostport". */
static int user_hostfwd_remove(lua_State *L) {
  luser *lu = check(L);
  const char *rule = lobj_checkcstr(L, 2, "hostfwd rule");
  fwd f;
  parse_hostfwd(L, lu, rule, &f, 0);
  for (int i = 0; i < lu->nfwd; i++) {
    fwd *o = &lu->fwds[i];
    int r;
    if (f.path[0] || o->path[0]) {
      if (strcmp(o->path, f.path)) continue;
      struct sockaddr_un su = {.sun_family = AF_UNIX};
      strcpy(su.sun_path, f.path);
      r = net_user_hostxfwd_remove(lu->u, (struct sockaddr *)&su, sizeof su, 0);
      if (r == 0) unlink(f.path);
    } else if (f.v6) {
      if (!same_host(o, &f)) continue;
      struct sockaddr_in6 h, g;
      fwd6_addrs(&f, &h, &g);
      r = net_user_hostxfwd_remove(lu->u, (struct sockaddr *)&h, sizeof h,
                                   (f.udp ? NET_USER_FWD_UDP : 0) | NET_USER_FWD_V6ONLY);
    } else {
      if (!same_host(o, &f)) continue;
      r = net_user_hostfwd_remove(lu->u, f.udp, f.haddr, f.hport);
    }
    if (r < 0) return luaL_error(L, "hostfwd rule '%s': slirp could not remove it: %s", rule, strerror(-r));
    memmove(o, o + 1, sizeof *o * (lu->nfwd - i - 1));
    lu->nfwd--;
    return 0;
  }
  return luaL_error(L, "hostfwd rule '%s': no such forward (see user:info().forwards)", rule);
}

/* user:_guestfwd_parse(rule) -> addr, port, target. "[tcp]:[server]:port-target"; an empty
 * server is 10.0.2.4's place in the network (QEMU's default). */
static int user_guestfwd_parse(lua_State *L) {
  luser *lu = check(L);
  const char *rule = lobj_checkcstr(L, 2, "guestfwd rule");
  char buf[128], b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
  const char *p = rule;
  struct in_addr a;
  long port;
  if (take(buf, sizeof buf, &p, ':') < 0) goto syntax;
  if (strcmp(buf, "tcp") && buf[0]) return luaL_error(L, "guestfwd rule '%s': only tcp is supported, not '%s'", rule, buf);
  if (take(buf, sizeof buf, &p, ':') < 0) goto syntax;
  if (!buf[0]) a.s_addr = lu->net.s_addr | htonl(4);
  else if (inet_pton(AF_INET, buf, &a) != 1)
    return luaL_error(L, "guestfwd rule '%s': server '%s' is not an IPv4 address", rule, buf);
  if (take(buf, sizeof buf, &p, '-') < 0) goto syntax;
  if (port_of(buf, 1, &port) < 0) return luaL_error(L, "guestfwd rule '%s': port '%s' is not 1..65535", rule, buf);
  if (!in_net(lu, a) || a.s_addr == lu->host.s_addr || a.s_addr == lu->dns.s_addr)
    return luaL_error(L, "guestfwd rule '%s': %s must be an unused address inside the network %s/%d", rule,
                      ip4(a, b1), ip4(lu->net, b2), prefix_bits(lu->mask));
  lua_pushstring(L, ip4(a, b1));
  lua_pushinteger(L, port);
  lua_pushstring(L, p);
  return 3;
syntax:
  return luaL_error(L, "guestfwd rule '%s' is malformed: expected [tcp]:[server]:port-TARGET", rule);
}

static void checkaddr(lua_State *L, int idx, struct in_addr *a) {
  const char *s = lobj_checkcstr(L, idx, "guestfwd address");
  if (inet_pton(AF_INET, s, a) != 1) luaL_error(L, "'%s' is not an IPv4 address", s);
}

/* user:_guestfwd_exec(addr, port, cmd) / _guestfwd_unix(addr, port, path) / _guestfwd_remove */
static int user_guestfwd_exec(lua_State *L) {
  luser *lu = check(L);
  struct in_addr a;
  checkaddr(L, 2, &a);
  int port = (int)luaL_checkinteger(L, 3);
  int unix_ = lua_toboolean(L, lua_upvalueindex(1));
  const char *target = lobj_checkcstr(L, 4, "guestfwd target");
  int r = unix_ ? net_user_add_unix(lu->u, target, a, port) : net_user_add_exec(lu->u, target, a, port);
  if (r < 0) return luaL_error(L, "guestfwd %s:%d: slirp refused it (the address and port may be in use)",
                               lua_tostring(L, 2), port);
  return 0;
}

static int user_guestfwd_remove(lua_State *L) {
  luser *lu = check(L);
  struct in_addr a;
  checkaddr(L, 2, &a);
  int port = (int)luaL_checkinteger(L, 3);
  lua_pushboolean(L, net_user_remove_guestfwd(lu->u, a, port) == 0);
  return 1;
}

/* ---- DHCP leases, seen in slirp's replies ---- */

static void watch(net_user *u, const uint8_t *f, size_t len, void *ud) {
  luser *lu = ud;
  (void)u;
  if (len < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0x00) return;
  const uint8_t *ip = f + 14;
  size_t hl = (size_t)(ip[0] & 0xf) * 4;
  if (ip[9] != 17 || len < 14 + hl + 8 + 240) return;
  const uint8_t *udp = ip + hl;
  if (udp[0] != 0 || udp[1] != 67 || udp[2] != 0 || udp[3] != 68) return;
  const uint8_t *b = udp + 8;
  if (b[0] != 2 || memcmp(b + 236, "\x63\x82\x53\x63", 4) != 0) return;
  size_t end = len - (size_t)(b - f);
  int type = 0;
  for (size_t i = 240; i + 1 < end;) {
    uint8_t o = b[i];
    if (o == 255) break;
    if (o == 0) { i++; continue; }
    if (i + 2 + b[i + 1] > end) break;
    if (o == 53 && b[i + 1] == 1) type = b[i + 2];
    i += 2 + b[i + 1];
  }
  if (type != 5) return;   /* DHCPACK */
  int k;
  for (k = 0; k < lu->nlease; k++) if (!memcmp(lu->leases[k].mac, b + 28, 6)) break;
  if (k == lu->nlease) {
    if (lu->nlease == MAXLEASE) return;
    lu->nlease++;
  }
  memcpy(lu->leases[k].mac, b + 28, 6);
  memcpy(&lu->leases[k].ip, b + 16, 4);
  lu->leases[k].at_ms = (double)lemu_rt_now_ns(net_user_rt(lu->u)) / 1e6;
}

static int filter(net_user *u, const uint8_t *f, size_t len, void *ud) {
  luser *lu = ud;
  if (!lu->dns_hosts) return 0;
  int n = dns_hosts_answer(lu->dns_hosts, f, len, lu->reply, sizeof lu->reply);
  if (n > 0) net_user_send(u, lu->reply, (size_t)n);
  return n != 0;   /* answered, or a query we must not forward: never reaches slirp */
}

/* ---- smb ---- */

static void smb_cleanup(luser *lu) {
  smb_rmtree(lu->smbdir);
  lu->smbdir[0] = 0;
}

/* As QEMU: smbd started per connection to smbserver:139 and :445 with its stdio as the connection. */
static void smb_setup(lua_State *L, luser *lu, const char *dir, const char *smbd) {
  char cmd[4 * PATH_MAX], err[PATH_MAX + 128];
  if (smb_prepare(dir, smbd, lu->smbdir, sizeof lu->smbdir, cmd, sizeof cmd, err, sizeof err) != 0)
    luaL_error(L, "option 'smb': %s", err);
  if (net_user_add_exec(lu->u, cmd, lu->smbserver, 139) < 0 || net_user_add_exec(lu->u, cmd, lu->smbserver, 445) < 0)
    luaL_error(L, "option 'smb': slirp could not forward %s:139 and :445 to smbd", inet_ntoa(lu->smbserver));
}

/* ---- creation ---- */

static void closed_hook(net_user *u, void *ud) {
  luser *lu = ud;
  (void)u;
  lu->u = NULL;
  smb_cleanup(lu);
  for (int i = 0; i < lu->nfwd; i++)
    if (lu->fwds[i].path[0]) unlink(lu->fwds[i].path);   /* slirp leaves its socket files */
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* user:_dns_hosts(table): the local DNS table (set once, right after creation). */
static int user_dns_hosts(lua_State *L) {
  luser *lu = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  if (!lu->dns_hosts) lu->dns_hosts = dns_hosts_new();
  if (!lu->dns_hosts) return luaL_error(L, "out of memory");
  dns_hosts_set_server(lu->dns_hosts, lu->dns, lu->ipv6 ? &lu->dns6 : NULL);
  /* The entries in name order, not table order: with two bad ones the error is always the same. */
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    size_t len;
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "option 'dns_hosts': keys must be host names");
    const char *name = lua_tolstring(L, -2, &len);
    if (strlen(name) != len) luaL_error(L, "option 'dns_hosts': host name '%s' has a NUL inside", name);
    lua_pop(L, 1);
    n++;
  }
  /* The names point into the table's own keys, which it keeps while this runs. */
  const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    lua_pop(L, 1);
    names[i++] = lua_tostring(L, -1);
  }
  qsort(names, n, sizeof *names, cmp_names);
  for (i = 0; i < n; i++) {
    const char *name = names[i];
    lua_getfield(L, 2, name);
    /* A value is an address or a list of addresses (IPv4 and IPv6). */
    int count = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 1;
    for (int j = 1; j <= count; j++) {
      if (lua_istable(L, -1)) lua_geti(L, -1, j); else lua_pushvalue(L, -1);
      const char *v = lua_tostring(L, -1);
      uint8_t a[16];
      int fam = v && inet_pton(AF_INET, v, a) == 1 ? AF_INET : v && inet_pton(AF_INET6, v, a) == 1 ? AF_INET6 : 0;
      if (!fam) luaL_error(L, "option 'dns_hosts': '%s' for %s is not an IP address", v ? v : "?", name);
      if (dns_hosts_add(lu->dns_hosts, name, fam, a) != 0)
        luaL_error(L, "option 'dns_hosts': '%s' is not a valid DNS name", name);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* user:_smb(dir[, smbd]): smbd is the program to run instead of the one found on the system. */
static int user_smb(lua_State *L) {
  luser *lu = check(L);
  smb_setup(L, lu, lobj_checkcstr(L, 2, "smb="), lobj_optcstr(L, 3, NULL, "smbd"));
  return 0;
}

/* usernet.new(vlan, opts) with canonical option names ("ipv6-net", "dns-hosts", ...). */
static int l_new(lua_State *L) {
  net_hub *hub = lnet_checkvlan(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luser *lu = lua_newuserdatauv(L, sizeof *lu, 0);   /* scratch until the backend exists */
  memset(lu, 0, sizeof *lu);
  int t = 2;
  lu->ipv4 = opt_bool(L, t, "ipv4", 1);
  lu->ipv6 = opt_bool(L, t, "ipv6", 1);
  if (!lu->ipv4 && !lu->ipv6) luaL_error(L, "options 'ipv4' and 'ipv6': at least one must be on");
  lu->restricted = opt_bool(L, t, "restrict", 0);
  parse_net(L, opt_str(L, t, "net") ? opt_str(L, t, "net") : "10.0.2.0/24", lu);
  net_member(L, t, "host", lu, &lu->host, 2);
  net_member(L, t, "dhcpstart", lu, &lu->dhcpstart, 15);
  net_member(L, t, "dns", lu, &lu->dns, 3);
  net_member(L, t, "smbserver", lu, &lu->smbserver, 4);
  if (lu->host.s_addr == lu->dns.s_addr) luaL_error(L, "options 'host' and 'dns' must differ");

  /* IPv6: ipv6-net=prefix/len, or the older ipv6-prefix + ipv6-prefixlen. */
  inet_pton(AF_INET6, "fec0::", &lu->prefix6);
  lu->prefix6_len = 64;
  const char *net6 = opt_str(L, t, "ipv6-net");
  const char *pfx = opt_str(L, t, "ipv6-prefix");
  if (net6 && pfx) luaL_error(L, "options 'ipv6-net' and 'ipv6-prefix' cannot both be given");
  if (net6 || pfx) {
    char buf[64];
    const char *s = net6 ? net6 : pfx;
    if (strlen(s) >= sizeof buf) luaL_error(L, "option '%s': '%s' is too long", net6 ? "ipv6-net" : "ipv6-prefix", s);
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    if (slash) {
      *slash = 0;
      char *end;
      long len = strtol(slash + 1, &end, 10);
      if (*end || end == slash + 1 || len < 0 || len > 126)
        luaL_error(L, "option 'ipv6-net': prefix length '%s' is not 0..126", slash + 1);
      lu->prefix6_len = (int)len;
    }
    if (inet_pton(AF_INET6, buf, &lu->prefix6) != 1)
      luaL_error(L, "option '%s': '%s' is not an IPv6 prefix", net6 ? "ipv6-net" : "ipv6-prefix", s);
  }
  lua_getfield(L, t, "ipv6-prefixlen");
  if (!lua_isnil(L, -1)) {
    lua_Integer n = lua_tointeger(L, -1);
    if (!lua_isinteger(L, -1) && !lua_isstring(L, -1)) luaL_error(L, "option 'ipv6-prefixlen': expected a number");
    if (n < 0 || n > 126) luaL_error(L, "option 'ipv6-prefixlen': %d is not 0..126", (int)n);
    lu->prefix6_len = (int)n;
  }
  lua_pop(L, 1);
  int set;
  lu->host6 = lu->prefix6;
  lu->host6.s6_addr[15] |= 2;
  opt_addr6(L, t, "ipv6-host", &lu->host6, &set);
  if (!in6_net(&lu->host6, &lu->prefix6, lu->prefix6_len)) luaL_error(L, "option 'ipv6-host': outside the ipv6-net prefix");
  lu->dns6 = lu->prefix6;
  lu->dns6.s6_addr[15] |= 3;
  opt_addr6(L, t, "ipv6-dns", &lu->dns6, &set);
  if (!in6_net(&lu->dns6, &lu->prefix6, lu->prefix6_len)) luaL_error(L, "option 'ipv6-dns': outside the ipv6-net prefix");

  net_user_cfg c;
  memset(&c, 0, sizeof c);
  c.restricted = lu->restricted;
  c.ipv4 = lu->ipv4;
  c.ipv6 = lu->ipv6;
  c.net = lu->net;
  c.mask = lu->mask;
  c.host = lu->host;
  c.dhcpstart = lu->dhcpstart;
  c.dns = lu->dns;
  c.prefix6 = lu->prefix6;
  c.prefix6_len = lu->prefix6_len;
  c.host6 = lu->host6;
  c.dns6 = lu->dns6;
  c.hostname = opt_str(L, t, "hostname");
  if (c.hostname && strlen(c.hostname) > 32) luaL_error(L, "option 'hostname': '%s' is longer than 32 bytes", c.hostname);
  c.domainname = opt_str(L, t, "domainname");
  if (c.domainname && !*c.domainname) luaL_error(L, "option 'domainname': cannot be empty");
  c.tftp_path = opt_str(L, t, "tftp");
  if (c.tftp_path) {
    struct stat st;
    if (stat(c.tftp_path, &st) != 0 || !S_ISDIR(st.st_mode))
      luaL_error(L, "option 'tftp': directory '%s' does not exist", c.tftp_path);
  }
  c.bootfile = opt_str(L, t, "bootfile");
  c.tftp_server_name = opt_str(L, t, "tftp-server-name");
  c.name = opt_str(L, t, "name");
  const char *search[33];
  if (lua_getfield(L, t, "dnssearch") == LUA_TTABLE) {
    int n = (int)luaL_len(L, -1);
    if (n > 32) luaL_error(L, "option 'dnssearch': at most 32 domains");
    for (int i = 0; i < n; i++) {
      lua_geti(L, -1, i + 1);
      search[i] = lua_tostring(L, -1);
      if (!search[i] || !*search[i] || strlen(search[i]) > 253)
        luaL_error(L, "option 'dnssearch': entry %d is not a domain name", i + 1);
      lua_pop(L, 1);
    }
    search[n] = NULL;
    if (n) c.dnssearch = search;
  }
  lua_pop(L, 1);
  /* With a local table slirp forwards no DNS at all: nothing leaves the machine. */
  c.disable_dns = lua_getfield(L, t, "dns-hosts") != LUA_TNIL;
  lua_pop(L, 1);

  /* The options hold; now the object that owns resources. */
  luser *real = calloc(1, sizeof *real);
  if (!real) return luaL_error(L, "out of memory");
  *real = *lu;
  lu = real;
  lu->s = lstate_get(L);
  char err[256];
  lu->u = net_user_new(lu->s->rt, hub, &c, err, sizeof err);
  if (!lu->u) {
    free(lu);
    return luaL_error(L, "user network: %s", err);
  }
  net_user_set_hooks(lu->u, filter, watch, closed_hook, lu);
  lobj_new(L, USER, lu);
  return 1;
}

/* ---- methods ---- */

static int user_close(lua_State *L) {
  int closed;
  luser *lu = lobj_checkopen(L, 1, USER, &closed);
  if (closed) return 0;
  lobj_forget(L, lu);
  if (lu->u) net_user_close(lu->u);   /* calls closed_hook */
  smb_cleanup(lu);
  dns_hosts_free(lu->dns_hosts);
  free(lu);
  return 0;
}

static void push_mac(lua_State *L, const uint8_t *m) {
  char b[18];
  snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  lua_pushstring(L, b);
}

/* Parses slirp_connection_info's table into a list of connections. */
static void push_connections(lua_State *L, luser *lu) {
  lua_newtable(L);
  char *info = net_user_connection_info(lu->u);
  if (!info) return;
  int n = 0;
  char *save = NULL;
  for (char *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char proto[64], src[64], dst[64];
    int fd, sport, dport, rq, sq;
    if (sscanf(line, " %63s %d %63s %d %63s %d %d %d", proto, &fd, src, &sport, dst, &dport, &rq, &sq) != 8)
      continue;
    char *br = strchr(proto, '[');
    lua_createtable(L, 0, 8);
    if (br) {
      char *e = strchr(br, ']');
      if (e) *e = 0;
      lua_pushstring(L, br + 1);
      lua_setfield(L, -2, "state");
      *br = 0;
    }
    lua_pushstring(L, proto);
    lua_setfield(L, -2, "proto");
    lua_pushinteger(L, fd);
    lua_setfield(L, -2, "fd");
    lua_pushstring(L, src);
    lua_setfield(L, -2, "src_addr");
    lua_pushinteger(L, sport);
    lua_setfield(L, -2, "src_port");
    lua_pushstring(L, dst);
    lua_setfield(L, -2, "dst_addr");
    lua_pushinteger(L, dport);
    lua_setfield(L, -2, "dst_port");
    lua_pushinteger(L, rq);
    lua_setfield(L, -2, "recvq");
    lua_pushinteger(L, sq);
    lua_setfield(L, -2, "sendq");
    lua_rawseti(L, -2, ++n);
  }
  free(info);
}

static void setint(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* user:info() -> { forwards, connections, leases, counters, config } */
static int user_info(lua_State *L) {
  luser *lu = check(L);
  char b[INET6_ADDRSTRLEN];
  lua_createtable(L, 0, 6);
  lua_createtable(L, lu->nfwd, 0);
  for (int i = 0; i < lu->nfwd; i++) {
    push_fwd(L, &lu->fwds[i]);
    lua_pushliteral(L, "hostfwd");
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "forwards");
  push_connections(L, lu);
  lua_setfield(L, -2, "connections");
  lua_createtable(L, lu->nlease, 0);
  for (int i = 0; i < lu->nlease; i++) {
    lua_createtable(L, 0, 3);
    push_mac(L, lu->leases[i].mac);
    lua_setfield(L, -2, "mac");
    lua_pushstring(L, ip4(lu->leases[i].ip, b));
    lua_setfield(L, -2, "ip");
    lua_pushnumber(L, lu->leases[i].at_ms);
    lua_setfield(L, -2, "at");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "leases");
  net_port *p = net_user_port(lu->u);
  lnet_push_port_info(L, p);
  net_user_stats st = net_user_get_stats(lu->u);
  setint(L, "polls", (uint64_t)st.polls);
  setint(L, "cycles", st.cycles);
  setint(L, "timer_wakeups", st.timer_wakeups);
  setint(L, "guest_errors", st.guest_errors);
  setint(L, "foreign_frames", st.foreign_frames);
  setint(L, "refused_no_fds", st.refused_no_fds);
  if (lu->dns_hosts) {
    dns_hosts_stats ds = dns_hosts_get_stats(lu->dns_hosts);
    lua_createtable(L, 0, 4);
    setint(L, "queries", ds.queries);
    setint(L, "answered", ds.answered);
    setint(L, "nxdomain", ds.nxdomain);
    setint(L, "malformed", ds.malformed);
    lua_setfield(L, -2, "dns");
  }
  lua_setfield(L, -2, "counters");
  lua_createtable(L, 0, 10);
  lua_pushfstring(L, "%s/%d", ip4(lu->net, b), prefix_bits(lu->mask));
  lua_setfield(L, -2, "net");
  lua_pushstring(L, ip4(lu->host, b));
  lua_setfield(L, -2, "host");
  lua_pushstring(L, ip4(lu->dhcpstart, b));
  lua_setfield(L, -2, "dhcpstart");
  lua_pushstring(L, ip4(lu->dns, b));
  lua_setfield(L, -2, "dns");
  lua_pushstring(L, ip4(lu->smbserver, b));
  lua_setfield(L, -2, "smbserver");
  inet_ntop(AF_INET6, &lu->prefix6, b, sizeof b);
  lua_pushfstring(L, "%s/%d", b, lu->prefix6_len);
  lua_setfield(L, -2, "ipv6-net");
  lua_pushstring(L, inet_ntop(AF_INET6, &lu->host6, b, sizeof b));
  lua_setfield(L, -2, "ipv6-host");
  lua_pushstring(L, inet_ntop(AF_INET6, &lu->dns6, b, sizeof b));
  lua_setfield(L, -2, "ipv6-dns");
  lua_pushboolean(L, lu->ipv4);
  lua_setfield(L, -2, "ipv4");
  lua_pushboolean(L, lu->ipv6);
  lua_setfield(L, -2, "ipv6");
  lua_pushboolean(L, lu->restricted);
  lua_setfield(L, -2, "restrict");
  if (lu->smbdir[0]) {
    lua_pushstring(L, lu->smbdir);
    lua_setfield(L, -2, "smb_dir");
  }
  lua_setfield(L, -2, "config");
  return 1;
}

static int user_port(lua_State *L) {
  luser *lu = check(L);
  lnet_push_port_info(L, net_user_port(lu->u));
  return 1;
}

/* usernet.mkdtemp(prefix) / usernet.rmtree(dir): private directories for guestfwd sockets. */
static int l_mkdtemp(lua_State *L) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "/tmp/%s.XXXXXX", lobj_checkcstr(L, 1, "mkdtemp prefix"));
  if (!mkdtemp(buf)) return luaL_error(L, "cannot create a temporary directory: %s", strerror(errno));
  lua_pushstring(L, buf);
  return 1;
}

static int l_rmtree(lua_State *L) {
  const char *dir = lobj_checkcstr(L, 1, "rmtree");
  if (strncmp(dir, "/tmp/", 5) != 0) return luaL_error(L, "rmtree: refusing '%s' (only /tmp)", dir);
  smb_rmtree(dir);
  return 0;
}

int luaopen_lemu_usernet(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"hostfwd_add", user_hostfwd_add}, {"hostfwd_remove", user_hostfwd_remove},
    {"_guestfwd_parse", user_guestfwd_parse}, {"_guestfwd_remove", user_guestfwd_remove},
    {"_dns_hosts", user_dns_hosts}, {"_smb", user_smb}, {"info", user_info}, {"port", user_port}, {"close", user_close}, {NULL, NULL}
  };
  lobj_class(L, USER, "user network", methods);
  luaL_getmetatable(L, USER);
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, user_guestfwd_exec, 1);
  lua_setfield(L, -2, "_guestfwd_exec");
  lua_pushboolean(L, 1);
  lua_pushcclosure(L, user_guestfwd_exec, 1);
  lua_setfield(L, -2, "_guestfwd_unix");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"new", l_new}, {"mkdtemp", l_mkdtemp}, {"rmtree", l_rmtree},
                                {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
