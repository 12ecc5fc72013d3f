/* fuzz_sock: libFuzzer target for what a socket peer sends lemu (netstack/sock*.c): the input is
 * the byte stream a peer writes to a listening stream socket (QEMU's 4-byte length framing), or,
 * when its first byte is odd, datagrams sent to a VXLAN backend (each behind a 2-byte length in
 * the input). The peer must be framed, refused or dropped, never crash lemu or make it read past
 * what it received; the loop is run until the listener has dropped the peer or a bound is hit. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "port.h"
#include "rt.h"
#include "sock.h"

static lemu_rt *rt;
static net_hub *hub;
static net_sock *listener, *vxlan;
static char path[108];
static struct sockaddr_in vx_addr;

typedef struct sink { net_port port; uint64_t frames; } sink;
static sink out;
static int sink_rx(net_port *p, net_frame *f) {
  (void)f;
  ((sink *)p->owner)->frames++;
  return 1;
}
static const net_port_ops sink_ops = {"fuzz", sink_rx};

static void setup(void) {
  const char *err;
  rt = lemu_rt_new(&err);
  hub = net_hub_new(rt, "fuzz");
  net_port_init(&out.port, &sink_ops, &out, "sink");
  net_port_attach(&out.port, hub);
  snprintf(path, sizeof path, "/tmp/lemu-fuzz-%d.sock", (int)getpid());
  unlink(path);
  char addr[128], e[256];
  snprintf(addr, sizeof addr, "unix:%s", path);
  net_sock_config c = {NET_SOCK_LISTEN, addr, NULL, 0, 300, 0, 0};
  listener = net_sock_open(rt, hub, &c, e, sizeof e);
  if (!listener) { fprintf(stderr, "fuzz_sock: %s\n", e); abort(); }
  /* A VXLAN backend on 127.0.0.1 (an ephemeral port: several fuzzers may run at once). */
  int probe = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  bind(probe, (struct sockaddr *)&a, sizeof a);
  getsockname(probe, (struct sockaddr *)&a, &al);
  close(probe);
  char loc[64];
  snprintf(loc, sizeof loc, "127.0.0.1:%u", ntohs(a.sin_port));
  net_sock_config v = {NET_SOCK_VXLAN, "127.0.0.1:9", loc, 0, 0, 0, 42};
  vxlan = net_sock_open(rt, hub, &v, e, sizeof e);
  if (!vxlan) { fprintf(stderr, "fuzz_sock: %s\n", e); abort(); }
  vx_addr = a;
}

/* The runtime's SIGINT and SIGTERM watchers would take those signals (libFuzzer keeps a handler
 * it finds), and a run told to stop would go on: they go back to the default before libFuzzer
 * installs its own. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  setup();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size && (data[0] & 1)) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    for (size_t i = 1; i + 2 <= size;) {
      size_t n = (size_t)data[i] | (size_t)data[i + 1] << 8;
      i += 2;
      if (n > size - i) n = size - i;
      sendto(fd, data + i, n, 0, (struct sockaddr *)&vx_addr, sizeof vx_addr);
      i += n;
    }
    close(fd);
    for (int k = 0; k < 20; k++) uv_run(rt_loop(rt), UV_RUN_NOWAIT);
    return 0;
  }
  unsigned dropped = net_sock_dropped(listener);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&un, sizeof un) < 0) { close(fd); return 0; }
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) break;
    done += (size_t)w;
    uv_run(rt_loop(rt), UV_RUN_NOWAIT);
  }
  close(fd);
  /* The peer's end of file makes the listener drop it; a bad length drops it sooner. */
  for (int k = 0; k < 2000 && net_sock_dropped(listener) == dropped; k++) uv_run(rt_loop(rt), UV_RUN_NOWAIT);
  if (net_sock_dropped(listener) == dropped) {
    fprintf(stderr, "fuzz_sock: the listener kept a peer that had closed\n");
    abort();
  }
  return 0;
}
