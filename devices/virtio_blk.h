/* virtio_blk: a disk (device id 2) backed by a host image file, raw format. Requests are served
 * synchronously with pread/pwrite; FLUSH maps to fdatasync; read-only images refuse writes with
 * VIRTIO_BLK_S_IOERR and advertise VIRTIO_BLK_F_RO. */
#ifndef LEMU_VIRTIO_BLK_H
#define LEMU_VIRTIO_BLK_H

#include "virtio.h"

typedef struct vblk vblk;

/* Opens path; on failure returns NULL with a message in err. */
vblk *vblk_open(const char *path, int readonly, char *err, int errlen);
void vblk_close(vblk *b);
uint64_t vblk_sectors(const vblk *b);
extern const virtio_device_ops vblk_ops;   /* dev: the vblk */

#endif
