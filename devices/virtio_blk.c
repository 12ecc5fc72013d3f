/* virtio_blk: block requests (IN, OUT, FLUSH, GET_ID) against a raw image file. */
#include "virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };
enum { F_RO = 1ull << 5, F_BLK_SIZE = 1ull << 6, F_FLUSH = 1ull << 9, F_SEG_MAX = 1ull << 2 };

struct vblk {
  int fd;
  int readonly;
  uint64_t sectors;
  char id[20];
};

vblk *vblk_open(const char *path, int readonly, char *err, int errlen) {
  int fd = open(path, readonly ? O_RDONLY : O_RDWR);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open disk image '%s': %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 512) {
    snprintf(err, errlen, "disk image '%s' is smaller than one 512-byte sector", path);
    close(fd);
    return NULL;
  }
  vblk *b = calloc(1, sizeof *b);
  if (!b) { close(fd); snprintf(err, errlen, "out of memory"); return NULL; }
  b->fd = fd;
  b->readonly = readonly;
  b->sectors = (uint64_t)st.st_size / 512;
  const char *base = strrchr(path, '/');
  snprintf(b->id, sizeof b->id, "%s", base ? base + 1 : path);
  return b;
}

void vblk_close(vblk *b) {
  if (!b) return;
  close(b->fd);
  free(b);
}

uint64_t vblk_sectors(const vblk *b) { return b->sectors; }

static uint64_t vblk_features(void *dev) {
  vblk *b = dev;
  return F_FLUSH | F_BLK_SIZE | F_SEG_MAX | (b->readonly ? F_RO : 0);
}

static uint32_t vblk_config_read(void *dev, uint32_t off, int size) {
  vblk *b = dev;
  uint8_t cfg[24] = {0};
  for (int i = 0; i < 8; i++) cfg[i] = (uint8_t)(b->sectors >> (8 * i));    /* capacity */
  uint32_t seg_max = VIRTIO_MAX_SEGS - 2;
  for (int i = 0; i < 4; i++) cfg[12 + i] = (uint8_t)(seg_max >> (8 * i));  /* seg_max */
  cfg[20] = 0; cfg[21] = 2;                                                  /* blk_size 512 */
  uint32_t v = 0;
  for (int i = 0; i < size; i++)
    if (off + (uint32_t)i < sizeof cfg) v |= (uint32_t)cfg[off + (uint32_t)i] << (8 * i);
  return v;
}

/* Serves one request: header (16 bytes) in the readable part; data; a status byte at the end of
 * the writable part. Returns bytes written into the chain. */
static uint32_t serve(vblk *b, const vq_chain *c) {
  uint8_t h[16];
  if (vq_chain_read(c, 0, h, 16) != 16 || c->in_len < 1) return 0;
  uint32_t type = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
  uint64_t sector = 0;
  for (int i = 0; i < 8; i++) sector |= (uint64_t)h[8 + i] << (8 * i);
  uint8_t status = S_OK;
  uint32_t written = 0;
  size_t status_at = c->in_len - 1;
  switch (type) {
  case T_IN: {
    uint64_t len = status_at;
    if (len % 512 || sector > b->sectors || len / 512 > b->sectors - sector) { status = S_IOERR; break; }
    uint8_t buf[4096];
    for (uint64_t done = 0; done < len;) {
      size_t n = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
      if (pread(b->fd, buf, n, (off_t)(sector * 512 + done)) != (ssize_t)n) { status = S_IOERR; break; }
      vq_chain_write(c, done, buf, n);
      done += n;
    }
    if (status == S_OK) written = (uint32_t)len;
    break;
  }
  case T_OUT: {
    uint64_t len = c->out_len - 16;
    if (b->readonly) { status = S_IOERR; break; }
    if (len % 512 || sector > b->sectors || len / 512 > b->sectors - sector) { status = S_IOERR; break; }
    uint8_t buf[4096];
    for (uint64_t done = 0; done < len;) {
      size_t n = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
      vq_chain_read(c, 16 + done, buf, n);
      if (pwrite(b->fd, buf, n, (off_t)(sector * 512 + done)) != (ssize_t)n) { status = S_IOERR; break; }
      done += n;
    }
    break;
  }
  case T_FLUSH:
    if (!b->readonly && fdatasync(b->fd) != 0) status = S_IOERR;
    break;
  case T_GET_ID: {
    uint8_t id[20] = {0};
    memcpy(id, b->id, strnlen(b->id, sizeof b->id));
    size_t n = status_at < 20 ? status_at : 20;
    vq_chain_write(c, 0, id, n);
    written = (uint32_t)n;
    break;
  }
  default:
    status = S_UNSUPP;
  }
  vq_chain_write(c, status_at, &status, 1);
  return written + 1;
}

static void vblk_notify(void *dev, virtio *vd, int q) {
  vblk *b = dev;
  vq_chain c;
  int n = 0;
  while (vq_pop(vd, q, &c) > 0) {
    vq_push(vd, q, &c, serve(b, &c));
    n++;
  }
  if (n) vq_notify(vd, q);
}

const virtio_device_ops vblk_ops = {
  "virtio-blk", VIRTIO_ID_BLOCK, 1, vblk_features, vblk_config_read, NULL, vblk_notify, NULL, NULL,
};
