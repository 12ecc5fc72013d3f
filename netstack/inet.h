/* inet: what NIC models compute over the frames they carry — the Internet checksum (RFC 1071) of
 * checksum offload and segmentation, and the Ethernet CRC whose top bits index a multicast hash
 * filter. */
#ifndef LEMU_INET_H
#define LEMU_INET_H

#include <stddef.h>
#include <stdint.h>

/* Adds n bytes at p to a ones'-complement sum as big-endian 16-bit words (an odd last byte is
 * the high half of a word). Sums of separate pieces add up while each piece but the last is of
 * even length. */
uint32_t inet_sum(uint32_t sum, const uint8_t *p, size_t n);
/* The checksum of a sum: folded to 16 bits and complemented. */
uint16_t inet_checksum(uint32_t sum);
/* Ethernet's CRC-32 of n bytes, bit by bit from each byte's lowest bit, not complemented at the
 * end (QEMU's net_crc32): crc >> 26 is a MAC's index in a 64-bit multicast filter. */
uint32_t inet_ether_crc(const uint8_t *p, size_t n);

#endif
