/* virtio_rng: an entropy source (device id 4) fed from the host's getrandom(), so guests do not
 * block on entropy at boot, or from a seeded stream, so a seeded run repeats itself. */
#ifndef LEMU_VIRTIO_RNG_H
#define LEMU_VIRTIO_RNG_H

#include "virtio.h"

/* dev: NULL for the host's randomness, or a stream (freed with vrng_stream_free). */
extern const virtio_device_ops vrng_ops;
typedef struct vrng_stream vrng_stream;
vrng_stream *vrng_stream_new(uint64_t seed);
void vrng_stream_free(void *dev);

#endif
