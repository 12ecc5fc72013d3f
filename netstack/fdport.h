/* fdport: a VLAN port fed by a file descriptor that carries one frame per read and write (a TAP
 * device, a VDE plug). It owns the flow control the host backends share: reading stops while every
 * other port on the VLAN is backlogged, and a frame the descriptor cannot take now waits in the
 * port's bounded queue until the descriptor is writable again. */
#ifndef LEMU_FDPORT_H
#define LEMU_FDPORT_H

#include <sys/types.h>
#include <uv.h>

#include "port.h"

typedef struct net_fdport net_fdport;

typedef struct net_fdport_ops {
  /* One frame into buf; -1 with errno (EAGAIN: nothing now). */
  ssize_t (*read)(net_fdport *fp, uint8_t *buf, size_t len);
  /* One frame out; -1 with errno (EAGAIN: try again when writable). */
  ssize_t (*write)(net_fdport *fp, const uint8_t *buf, size_t len);
  /* Both libuv handles have closed: the owner may free itself. */
  void (*closed)(net_fdport *fp);
} net_fdport_ops;

struct net_fdport {
  net_port port;
  const net_fdport_ops *ops;
  void *owner;
  int fd;
  uv_poll_t poll;
  uv_timer_t tick;
  int paused, wwait, closing, nclosed;
  net_counters from_host, to_host;   /* frames that crossed the descriptor; drops on errors */
  char peer[64];                     /* what is on the other side: an interface, a VDE URL */
  uint8_t *buf;
};

/* Starts polling fd and attaches the port to hub. kind is the port kind ("tap", "vde"). */
int net_fdport_start(net_fdport *fp, uv_loop_t *loop, net_hub *hub, int fd, const net_fdport_ops *ops,
                     const net_port_ops *pops, void *owner, const char *name);
/* Detaches the port and closes the handles (not the fd); ops->closed runs when they are gone. */
void net_fdport_stop(net_fdport *fp);

/* The receive function for the net_port_ops of fd-backed owners (kind is theirs). */
int net_fdport_receive(net_port *p, net_frame *f);

/* The fd port behind port p if its receive is net_fdport_receive, else NULL. */
const net_fdport *net_fdport_of(const net_port *p);

/* Backends that write to sockets call this when they open: a write to a peer that has gone raises
 * SIGPIPE, which would end the whole process silently (libuv and libvdeplug write without
 * MSG_NOSIGNAL); ignored, the write fails with EPIPE instead. A handler the embedder installed is
 * left alone. */
void net_ignore_sigpipe(void);

/* Some other port on p's VLAN could take a frame now (QEMU's hub semantics). */
int net_vlan_has_room(const net_port *p);

#endif
