/* inet: see inet.h. */
#include "inet.h"

uint32_t inet_sum(uint32_t sum, const uint8_t *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  return sum;
}

uint16_t inet_checksum(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

uint32_t inet_ether_crc(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = p[i];
    for (int k = 0; k < 8; k++, b >>= 1) {
      uint32_t carry = (crc >> 31) ^ (b & 1u);
      crc <<= 1;
      if (carry) crc ^= 0x04c11db7u;
    }
  }
  return crc;
}
