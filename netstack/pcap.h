/* pcap: classic pcap files (magic 0xa1b2c3d4, version 2.4, linktype 1 = Ethernet), the format
 * QEMU's -net dump and filter-dump write and tshark/Wireshark read. */
#ifndef LEMU_PCAP_H
#define LEMU_PCAP_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

typedef struct net_pcap net_pcap;

/* Creates (truncates) path and writes the file header. snaplen: bytes kept per frame (1..65535+;
 * 0 means 65535). wall_offset_ns is added to a frame's ts_ns (runtime time) to get wall-clock
 * time since the epoch. Returns NULL with a message in err on failure. */
net_pcap *net_pcap_open(const char *path, uint32_t snaplen, int64_t wall_offset_ns, char *err, size_t errlen);
/* Appends one record in one write, so the file is valid while it is being written. Returns 0 or
 * -1: an I/O error (a full disk, EFBIG past a file size limit) cuts the file back to its last whole
 * record and stops the capture; later frames are skipped and counted. */
int net_pcap_write(net_pcap *pc, const net_frame *f);
/* Why the capture stopped (strerror of the failed write), or NULL while it runs. */
const char *net_pcap_error(const net_pcap *pc);
/* Frames written, and frames lost to I/O errors. */
uint64_t net_pcap_frames(const net_pcap *pc);
uint64_t net_pcap_errors(const net_pcap *pc);
/* Closes the file; returns 0, or -1 if anything failed to reach it. */
int net_pcap_close(net_pcap *pc);

#endif
