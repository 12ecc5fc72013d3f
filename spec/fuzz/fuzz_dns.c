/* fuzz_dns: libFuzzer target for the local DNS table's query parser (netstack/dnshosts.c): any
 * frame a guest sends, answered from a table with a few records, the reply built into a buffer of
 * the size user-net gives it. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "dnshosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static dns_hosts *d;
  if (!d) {
    d = dns_hosts_new();
    struct in_addr a4, dns4;
    struct in6_addr a6, dns6;
    inet_pton(AF_INET, "10.0.2.2", &a4);
    inet_pton(AF_INET6, "fec0::2", &a6);
    inet_pton(AF_INET, "10.0.2.3", &dns4);
    inet_pton(AF_INET6, "fec0::3", &dns6);
    dns_hosts_add(d, "host.lemu", AF_INET, &a4);
    dns_hosts_add(d, "host.lemu", AF_INET6, &a6);
    dns_hosts_add(d, "a.very.long.name.in.the.lab.example", AF_INET, &a4);
    dns_hosts_set_server(d, dns4, &dns6);
  }
  uint8_t out[1600];
  int n = dns_hosts_answer(d, data, size, out, sizeof out);
  if (n > (int)sizeof out) __builtin_trap();
  /* a frame of the size lemu's smallest reply buffer allows must not overflow either */
  uint8_t small[64];
  (void)dns_hosts_answer(d, data, size, small, sizeof small);
  return 0;
}
