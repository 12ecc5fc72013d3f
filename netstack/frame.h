/* frame: an Ethernet frame (no FCS) shared by reference, so a hub hands one copy to every port. */
#ifndef LEMU_FRAME_H
#define LEMU_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define NET_FRAME_MIN 14      /* an Ethernet header */
#define NET_FRAME_MAX 65535   /* larger frames are refused at the port that sends them */

typedef struct net_frame {
  int refs;
  uint32_t len;
  uint64_t ts_ns;             /* runtime time when it entered the network (pcap timestamps) */
  uint8_t data[];
} net_frame;

/* Copies len bytes into a new frame with one reference. NULL if len is out of range or no memory. */
net_frame *frame_new(const void *data, size_t len, uint64_t ts_ns);
static inline net_frame *frame_ref(net_frame *f) { f->refs++; return f; }
void frame_unref(net_frame *f);

#endif
