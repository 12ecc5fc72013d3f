/* virtio_rng: fills every buffer the driver offers with random bytes: the host's, or a seeded
 * stream's. */
#include "virtio_rng.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct vrng_stream { uint64_t s; };

vrng_stream *vrng_stream_new(uint64_t seed) {
  vrng_stream *r = malloc(sizeof *r);
  if (r) r->s = seed;
  return r;
}

void vrng_stream_free(void *dev) { free(dev); }

/* splitmix64: small, and every seed gives a full-period stream. */
static void stream_fill(vrng_stream *r, uint8_t *buf, size_t n) {
  while (n) {
    uint64_t x = (r->s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    size_t k = n < 8 ? n : 8;
    memcpy(buf, &x, k);
    buf += k;
    n -= k;
  }
}

static uint64_t vrng_features(void *dev) { (void)dev; return 0; }

static void vrng_notify(void *dev, virtio *vd, int q) {
  vq_chain c;
  uint8_t buf[256];
  int n = 0;
  while (vq_pop(vd, q, &c) > 0) {
    uint32_t done = 0;
    while (done < c.in_len) {
      size_t want = c.in_len - done < sizeof buf ? c.in_len - done : sizeof buf;
      ssize_t got = (ssize_t)want;
      if (dev) stream_fill(dev, buf, want);
      else if ((got = getrandom(buf, want, 0)) <= 0) break;
      vq_chain_write(&c, done, buf, (size_t)got);
      done += (uint32_t)got;
    }
    vq_push(vd, q, &c, done);
    n++;
  }
  if (n) vq_notify(vd, q);
}

const virtio_device_ops vrng_ops = {
  "virtio-rng", VIRTIO_ID_RNG, 1, vrng_features, NULL, NULL, vrng_notify, NULL, NULL,
};
