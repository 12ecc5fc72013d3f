/* pcap: writes classic pcap files, one flushed record per frame. */
#include "pcap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct net_pcap {
  FILE *f;
  uint32_t snaplen;
  int64_t wall_offset_ns;
  uint64_t frames, errors;
};

net_pcap *net_pcap_open(const char *path, uint32_t snaplen, int64_t wall_offset_ns, char *err, size_t errlen) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
    return NULL;
  }
  net_pcap *pc = calloc(1, sizeof *pc);
  if (!pc) {
    fclose(f);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pc->f = f;
  pc->snaplen = snaplen ? snaplen : 65535;
  pc->wall_offset_ns = wall_offset_ns;
  /* Written in host byte order: the magic tells readers which order that is. */
  struct { uint32_t magic; uint16_t major, minor; int32_t zone; uint32_t sigfigs, snaplen, linktype; } h = {
    0xa1b2c3d4, 2, 4, 0, 0, pc->snaplen, 1
  };
  if (fwrite(&h, sizeof h, 1, f) != 1 || fflush(f) != 0) {
    snprintf(err, errlen, "cannot write to '%s': %s", path, strerror(errno));
    fclose(f);
    free(pc);
    return NULL;
  }
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
  if (fwrite(&r, sizeof r, 1, pc->f) != 1 || fwrite(f->data, 1, incl, pc->f) != incl || fflush(pc->f) != 0) {
    pc->errors++;
    return -1;
  }
  pc->frames++;
  return 0;
}

uint64_t net_pcap_frames(const net_pcap *pc) { return pc->frames; }
uint64_t net_pcap_errors(const net_pcap *pc) { return pc->errors; }

int net_pcap_close(net_pcap *pc) {
  int r = pc->errors ? -1 : 0;
  if (fclose(pc->f) != 0) r = -1;
  free(pc);
  return r;
}
