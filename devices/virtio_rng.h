/* virtio_rng: an entropy source (device id 4) fed from the host's getrandom(), so guests do not
 * block on entropy at boot. */
#ifndef LEMU_VIRTIO_RNG_H
#define LEMU_VIRTIO_RNG_H

#include "virtio.h"

extern const virtio_device_ops vrng_ops;   /* dev: unused (NULL) */

#endif
