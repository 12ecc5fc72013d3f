/* bench: a CoreMark-like compute kernel for lemu's CPU benchmark — linked-list walking and
 * reversal, integer matrix multiply, a CRC-16 over a buffer and a switch-driven state machine,
 * repeated ITER times. Prints a checksum on the console and reports through sifive_test, so the
 * same ELF runs on lemu and on qemu-system-riscv64 -M virt -bios none. */
#include "lib.h"

#ifndef ITER
#define ITER 4000
#endif
#define N 24
#define LIST 256

struct node { struct node *next; i32 val; };
static struct node nodes[LIST];
static i32 ma[N][N], mb[N][N], mc[N][N];
static unsigned char buf[1024];

static u32 crc16(u32 crc, unsigned char b) {
  crc ^= b;
  for (int i = 0; i < 8; i++) crc = (crc & 1) ? (crc >> 1) ^ 0xa001 : crc >> 1;
  return crc;
}

static struct node *reverse(struct node *h) {
  struct node *p = 0;
  while (h) { struct node *n = h->next; h->next = p; p = h; h = n; }
  return p;
}

static int state_machine(const unsigned char *s, int n) {
  int st = 0, count = 0;
  for (int i = 0; i < n; i++) {
    unsigned char ch = s[i];
    switch (st) {
    case 0: st = ch < 64 ? 1 : ch < 128 ? 2 : 3; break;
    case 1: st = (ch & 1) ? 2 : 0; count++; break;
    case 2: st = (ch & 2) ? 3 : 1; break;
    default: st = ch > 200 ? 0 : 2; count += 2; break;
    }
  }
  return count + st;
}

int main(void) {
  u32 seed = 1, crc = 0;
  i64 sum = 0;
  for (int i = 0; i < LIST; i++) {
    nodes[i].next = i + 1 < LIST ? &nodes[i + 1] : 0;
    seed = seed * 1103515245 + 12345;
    nodes[i].val = (i32)(seed >> 8);
  }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      seed = seed * 1103515245 + 12345;
      ma[i][j] = (i32)(seed >> 20);
      mb[j][i] = (i32)(seed >> 12) & 0xff;
    }
  for (int i = 0; i < (int)sizeof buf; i++) { seed = seed * 1103515245 + 12345; buf[i] = seed >> 16; }
  struct node *head = &nodes[0];
  for (int it = 0; it < ITER; it++) {
    head = reverse(head);
    for (struct node *p = head; p; p = p->next) sum += p->val ^ it;
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) {
        i32 acc = 0;
        for (int k = 0; k < N; k++) acc += ma[i][k] * mb[k][j];
        mc[i][j] = acc + it;
      }
    sum += mc[it % N][(it * 7) % N];
    for (int i = 0; i < (int)sizeof buf; i += 4) crc = crc16(crc, buf[i] ^ (unsigned char)it);
    sum += state_machine(buf, sizeof buf);
  }
  puts_("bench checksum ");
  puthex((u64)sum ^ crc);
  puts_("\n");
  return 0;
}
