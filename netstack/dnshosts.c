/* dnshosts: the local DNS table — parsing a guest's UDP query frame and building the reply frame
 * (Ethernet, IPv4 or IPv6, UDP with its checksum, DNS). */
#include "dnshosts.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct dns_rec {
  char name[256];        /* lower case, no trailing dot */
  int has4, has6;
  struct in_addr a4;
  struct in6_addr a6;
} dns_rec;

struct dns_hosts {
  dns_rec *recs;
  int n, cap;
  struct in_addr dns4;
  struct in6_addr dns6;
  int have6;
  dns_hosts_stats stats;
};

enum { T_A = 1, T_AAAA = 28, TTL = 60 };

dns_hosts *dns_hosts_new(void) { return calloc(1, sizeof(dns_hosts)); }

void dns_hosts_free(dns_hosts *d) {
  if (!d) return;
  free(d->recs);
  free(d);
}

static int norm_name(char *dst, const char *src) {
  size_t n = strlen(src);
  if (n > 0 && src[n - 1] == '.') n--;
  if (n == 0 || n > 253) return -1;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '.') {
      if (label == 0) return -1;
      label = 0;
    } else {
      if (c <= ' ' || c >= 127 || ++label > 63) return -1;
    }
    dst[i] = (char)tolower(c);
  }
  dst[n] = 0;
  return 0;
}

static dns_rec *find(dns_hosts *d, const char *name) {
  for (int i = 0; i < d->n; i++)
    if (strcmp(d->recs[i].name, name) == 0) return &d->recs[i];
  return NULL;
}

int dns_hosts_add(dns_hosts *d, const char *name, int family, const void *addr) {
  char key[256];
  if (norm_name(key, name) != 0) return -1;
  dns_rec *r = find(d, key);
  if (!r) {
    if (d->n == d->cap) {
      int n = d->cap ? d->cap * 2 : 8;
      dns_rec *nr = realloc(d->recs, sizeof *nr * n);
      if (!nr) return -1;
      d->recs = nr;
      d->cap = n;
    }
    r = &d->recs[d->n++];
    memset(r, 0, sizeof *r);
    strcpy(r->name, key);
  }
  if (family == AF_INET) { r->has4 = 1; memcpy(&r->a4, addr, 4); }
  else { r->has6 = 1; memcpy(&r->a6, addr, 16); }
  return 0;
}

void dns_hosts_set_server(dns_hosts *d, struct in_addr dns4, const struct in6_addr *dns6) {
  d->dns4 = dns4;
  d->have6 = dns6 != NULL;
  if (dns6) d->dns6 = *dns6;
}

dns_hosts_stats dns_hosts_get_stats(const dns_hosts *d) { return d->stats; }

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint32_t sum(uint32_t s, const uint8_t *p, size_t n) {
  for (; n > 1; p += 2, n -= 2) s += get16(p);
  if (n) s += (uint32_t)p[0] << 8;
  return s;
}

static unsigned fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/* Reads the question name at q (uncompressed, as every resolver sends it) into name. Returns the
 * bytes it occupies, or -1. */
static int read_qname(const uint8_t *q, size_t len, char *name) {
  size_t i = 0, o = 0;
  for (;;) {
    if (i >= len) return -1;
    unsigned l = q[i++];
    if (l == 0) break;
    if (l > 63 || i + l > len || o + l + 1 > 254) return -1;
    if (o) name[o++] = '.';
    for (unsigned k = 0; k < l; k++) name[o++] = (char)tolower(q[i + k]);
    i += l;
  }
  name[o] = 0;
  return (int)i;
}

/* Builds the DNS reply for the query msg into out; returns its length or -1. */
static int dns_reply(dns_hosts *d, const uint8_t *msg, size_t len, uint8_t *out, size_t cap) {
  if (len < 12) return -1;
  unsigned flags = get16(msg + 2);
  if (flags & 0x8000) return -1;                     /* a response, not a query */
  unsigned opcode = (flags >> 11) & 0xf;
  unsigned rcode = 0;
  char name[256];
  int qlen = -1;
  if (opcode != 0) rcode = 4;                         /* NOTIMP */
  else if (get16(msg + 4) != 1) rcode = 1;            /* FORMERR: exactly one question */
  else if ((qlen = read_qname(msg + 12, len - 12, name)) < 0 || 12 + (size_t)qlen + 4 > len) return -1;
  size_t qsize = rcode ? 0 : (size_t)qlen + 4;
  if (12 + qsize + 28 > cap) return -1;
  memcpy(out, msg, 2);
  put16(out + 4, rcode ? 0 : 1);
  put16(out + 6, 0);
  put16(out + 8, 0);
  put16(out + 10, 0);
  memcpy(out + 12, msg + 12, qsize);
  size_t o = 12 + qsize;
  if (!rcode) {
    unsigned qtype = get16(msg + 12 + qlen), qclass = get16(msg + 12 + qlen + 2);
    dns_rec *r = find(d, name);
    if (!r) {
      rcode = 3;                                      /* NXDOMAIN */
      d->stats.nxdomain++;
    } else if (qclass == 1 && ((qtype == T_A && r->has4) || (qtype == T_AAAA && r->has6))) {
      size_t rdlen = qtype == T_A ? 4 : 16;
      put16(out + o, 0xc00c);                         /* the question's name */
      put16(out + o + 2, qtype);
      put16(out + o + 4, 1);
      put16(out + o + 6, 0);
      put16(out + o + 8, TTL);
      put16(out + o + 10, (unsigned)rdlen);
      memcpy(out + o + 12, qtype == T_A ? (const void *)&r->a4 : (const void *)&r->a6, rdlen);
      o += 12 + rdlen;
      put16(out + 6, 1);
      d->stats.answered++;
    } else {
      d->stats.answered++;                            /* the name exists: empty NOERROR */
    }
  }
  /* QR, AA, RD copied, RA. */
  put16(out + 2, 0x8000 | opcode << 11 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode);
  return (int)o;
}

int dns_hosts_answer(dns_hosts *d, const uint8_t *f, size_t len, uint8_t *out, size_t cap) {
  if (len < 14) return 0;
  unsigned type = get16(f + 12);
  const uint8_t *udp;
  size_t iphl, avail;
  int v6;
  if (type == 0x0800) {
    if (len < 14 + 20) return 0;
    const uint8_t *ip = f + 14;
    iphl = (size_t)(ip[0] & 0xf) * 4;
    if ((ip[0] >> 4) != 4 || iphl < 20 || ip[9] != 17 || memcmp(ip + 16, &d->dns4, 4) != 0) return 0;
    size_t tot = get16(ip + 2);
    if (tot < iphl + 8 || 14 + tot > len) return 0;
    if (get16(ip + 6) & 0x3fff) return 0;             /* fragments go to slirp (which drops them) */
    udp = ip + iphl;
    avail = tot - iphl;
    v6 = 0;
  } else if (type == 0x86dd && d->have6) {
    if (len < 14 + 40 + 8) return 0;
    const uint8_t *ip = f + 14;
    if (ip[6] != 17 || memcmp(ip + 24, &d->dns6, 16) != 0) return 0;
    iphl = 40;
    avail = get16(ip + 4);
    if (avail < 8 || 14 + 40 + avail > len) return 0;
    udp = ip + 40;
    v6 = 1;
  } else {
    return 0;
  }
  if (get16(udp + 2) != 53) return 0;
  size_t ulen = get16(udp + 4);
  if (ulen < 8 || ulen > avail) return 0;
  d->stats.queries++;
  size_t hdr = 14 + (v6 ? 40 : 20) + 8;
  if (cap < hdr + 12) return -1;
  int dl = dns_reply(d, udp + 8, ulen - 8, out + hdr, cap - hdr);
  if (dl < 0) { d->stats.malformed++; return -1; }
  /* Ethernet: back to the sender, from the address it sent to. */
  memcpy(out, f + 6, 6);
  memcpy(out + 6, f, 6);
  put16(out + 12, type);
  const uint8_t *qip = f + 14;
  uint8_t *ip = out + 14;
  size_t ul = 8 + (size_t)dl;
  uint8_t *u = ip + (v6 ? 40 : 20);
  put16(u, 53);
  memcpy(u + 2, udp, 2);
  put16(u + 4, (unsigned)ul);
  put16(u + 6, 0);
  uint32_t s;
  if (!v6) {
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (unsigned)(20 + ul));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, qip + 16, 4);
    memcpy(ip + 16, qip + 12, 4);
    put16(ip + 10, fold(sum(0, ip, 20)));
    s = sum(0, ip + 12, 8);
  } else {
    memset(ip, 0, 40);
    ip[0] = 0x60;
    put16(ip + 4, (unsigned)ul);
    ip[6] = 17;
    ip[7] = 64;
    memcpy(ip + 8, qip + 24, 16);
    memcpy(ip + 24, qip + 8, 16);
    s = sum(0, ip + 8, 32);
  }
  s += 17 + (uint32_t)ul;
  s = sum(s, u, ul);
  unsigned c = fold(s);
  put16(u + 6, c ? c : 0xffff);
  return (int)(hdr + (size_t)dl);
}
