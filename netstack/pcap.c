/* pcap: writes classic pcap files, one record per frame with one write(2), so the file is whole
 * after every frame and a write that fails (a full disk, a file size limit) can be cut back. */
#include "pcap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct net_pcap {
  int fd;
  uint32_t snaplen;
  int64_t wall_offset_ns;
  uint64_t frames, errors;
  off_t good;        /* the end of the last whole record */
  int err;           /* errno of the first failed write, 0: none */
};

/* Writes all of buf; -1 with errno set if the file took less (a short write is an error: the
 * limit or the disk was reached part way). */
static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

net_pcap *net_pcap_open(const char *path, uint32_t snaplen, int64_t wall_offset_ns, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
    return NULL;
  }
  net_pcap *pc = calloc(1, sizeof *pc);
  if (!pc) {
    close(fd);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pc->fd = fd;
  pc->snaplen = snaplen ? snaplen : 65535;
  pc->wall_offset_ns = wall_offset_ns;
  /* Written in host byte order: the magic tells readers which order that is. */
  struct { uint32_t magic; uint16_t major, minor; int32_t zone; uint32_t sigfigs, snaplen, linktype; } h = {
    0xa1b2c3d4, 2, 4, 0, 0, pc->snaplen, 1
  };
  if (write_all(fd, &h, sizeof h) != 0) {
    snprintf(err, errlen, "cannot write to '%s': %s", path, strerror(errno));
    close(fd);
    free(pc);
    return NULL;
  }
  pc->good = sizeof h;
  return pc;
}

int net_pcap_write(net_pcap *pc, const net_frame *f) {
  if (pc->errors) {
    pc->errors++;
    return -1;
  }
  int64_t t = (int64_t)f->ts_ns + pc->wall_offset_ns;
  if (t < 0) t = 0;
  uint32_t incl = f->len < pc->snaplen ? f->len : pc->snaplen;
  struct { uint32_t sec, usec, incl, orig; } r = {
    (uint32_t)(t / 1000000000), (uint32_t)(t % 1000000000 / 1000), incl, f->len
  };
  unsigned char buf[sizeof r + NET_FRAME_MAX];
  memcpy(buf, &r, sizeof r);
  memcpy(buf + sizeof r, f->data, incl);
  if (write_all(pc->fd, buf, sizeof r + incl) != 0) {
    /* Once a write fails the capture stops: cut the file back to its last whole record, so what
     * was captured stays readable, and count what is lost from here on. */
    pc->err = errno;
    pc->errors++;
    if (ftruncate(pc->fd, pc->good) == 0) lseek(pc->fd, pc->good, SEEK_SET);
    return -1;
  }
  pc->good += (off_t)(sizeof r + incl);
  pc->frames++;
  return 0;
}

const char *net_pcap_error(const net_pcap *pc) { return pc->err ? strerror(pc->err) : NULL; }

uint64_t net_pcap_frames(const net_pcap *pc) { return pc->frames; }
uint64_t net_pcap_errors(const net_pcap *pc) { return pc->errors; }

int net_pcap_close(net_pcap *pc) {
  int r = pc->errors ? -1 : 0;
  if (close(pc->fd) != 0) r = -1;
  free(pc);
  return r;
}
