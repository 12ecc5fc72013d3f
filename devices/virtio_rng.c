/* virtio_rng: fills every buffer the driver offers with random bytes from the host. */
#include "virtio_rng.h"

#include <sys/random.h>

static uint64_t vrng_features(void *dev) { (void)dev; return 0; }

static void vrng_notify(void *dev, virtio *vd, int q) {
  (void)dev;
  vq_chain c;
  uint8_t buf[256];
  int n = 0;
  while (vq_pop(vd, q, &c) > 0) {
    uint32_t done = 0;
    while (done < c.in_len) {
      size_t want = c.in_len - done < sizeof buf ? c.in_len - done : sizeof buf;
      ssize_t got = getrandom(buf, want, 0);
      if (got <= 0) break;
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
