/* common: helpers the board's test programs share (hex printing over a putc they provide). */
#ifndef BOARD_COMMON_H
#define BOARD_COMMON_H

#include <stdint.h>

void putc_(char c);

static inline void puts_(const char *s) { while (*s) putc_(*s++); }

static inline void puthex(uint64_t v) {
  puts_("0x");
  int started = 0;
  for (int i = 60; i >= 0; i -= 4) {
    int d = (int)((v >> i) & 15);
    if (d || started || i == 0) { putc_((char)(d < 10 ? '0' + d : 'a' + d - 10)); started = 1; }
  }
}

static inline void putdec(uint64_t v) {
  char b[24];
  int n = 0;
  do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) putc_(b[--n]);
}

#define csrr(name) ({ uint64_t v_; __asm__ volatile("csrr %0, " #name : "=r"(v_) :: "memory"); v_; })
#define csrw(name, v) __asm__ volatile("csrw " #name ", %0" ::"r"((uint64_t)(v)) : "memory")
#define csrs(name, v) __asm__ volatile("csrs " #name ", %0" ::"r"((uint64_t)(v)) : "memory")
#define csrc(name, v) __asm__ volatile("csrc " #name ", %0" ::"r"((uint64_t)(v)) : "memory")

static inline uint32_t be32(const void *p) {
  const uint8_t *b = p;
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

#endif
