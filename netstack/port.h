/* port: the endpoint of a wire. Every NIC and every backend (user-net, socket, tap, vde, scripted
 * endpoint) owns one port and attaches it to a hub (a VLAN). Frames sent by the owner enter the hub;
 * frames from the hub reach the owner through ops->receive. A port that cannot take a frame now
 * returns 0: the frame waits in the port's bounded queue until the owner calls net_port_ready;
 * when the queue is full, a frame is dropped and counted. The queue is fair between the ports the
 * frames came from: each source has its own FIFO, they are served in turn, and a full queue drops
 * from the source holding the most, so one port flooding a VLAN delays another's frames by at most
 * one of its own per turn and cannot push them out.
 *
 * Lifetime: the owner allocates the port and must keep its memory valid until the end of the loop
 * iteration in which it detaches it (lemu objects free memory from uv_close callbacks, which
 * satisfies this). Detaching releases the frames queued for the port; frames owed to other ports
 * are not affected, since every frame is reference counted. */
#ifndef LEMU_PORT_H
#define LEMU_PORT_H

#include <stdint.h>

#include "frame.h"
#include "lemu.h"

typedef struct net_port net_port;
struct impair;
struct impair_cfg;
struct net_switch;
typedef struct net_hub net_hub;

typedef struct net_port_ops {
  const char *kind;   /* "endpoint", "user", "socket", "tap", "vde", "virtio-net", ... */
  /* Deliver f to the owner. Return 1 if taken (frame_ref it to keep it after the call) or 0 if the
   * owner cannot take it now. May send frames in turn. */
  int (*receive)(net_port *p, net_frame *f);
} net_port_ops;

typedef struct net_counters { uint64_t frames, bytes, drops; } net_counters;

/* A capture hook: sees every frame a hub forwards, or every frame through a port (dir: 0 = into the
 * owner, 1 = from the owner). Used by pcap and by Lua taps. */
typedef struct net_tap {
  void (*fn)(struct net_tap *t, const net_frame *f, int dir);
  /* Optional: the port left its hub, or the hub is closing. The tap has already been removed and
   * must not touch the port or hub again (their memory may go away). */
  void (*gone)(struct net_tap *t);
  struct net_tap *next;
} net_tap;

struct net_port {
  const net_port_ops *ops;
  void *owner;
  net_hub *hub;
  char name[48];
  net_counters rx;            /* hub -> owner: delivered, and drops when the queue was full */
  net_counters tx;            /* owner -> hub: sent, and drops of malformed or oversize frames */
  /* Frames waiting for the owner, one FIFO per port they came from, served in turn (port.c). */
  struct port_flow *flows;
  unsigned nflows, capflows, rr;
  unsigned qlen, qlimit;      /* frames waiting in all of them, and their bound */
  int link_up;                /* a port with its link down neither sends nor receives */
  net_tap *taps;
  struct impair *imp[2];      /* impairments into the owner [0] and from it [1], or NULL */
  uint32_t order;             /* creation order: the virtual clock's tie-break between senders */
  int ready_pending;          /* in the virtual clock's list of ports to offer their queue to */
  struct switch_port *sw;     /* its 802.1Q membership on a switch (switch.c), NULL: access id 1 */
  /* While the owner takes a frame (ops->receive) the frames it sends in answer are tapped only
   * after that frame is, so the taps of one port see frames in the order they crossed it. */
  int in_rx;
  net_frame **txtap;
  unsigned ntxtap, captxtap;
};

void net_port_init(net_port *p, const net_port_ops *ops, void *owner, const char *name);
void net_port_attach(net_port *p, net_hub *h);
void net_port_detach(net_port *p);
/* Sends a frame into the hub. Returns 0, or -1 (counted in tx.drops) if len is out of range, the
 * port is not attached or its link is down. */
int net_port_send(net_port *p, const void *data, size_t len);
int net_port_send_frame(net_port *p, net_frame *f);
/* Deferred delivery, one place for the whole netstack: between net_hold() and the matching
 * net_release() (they nest) frames sent on any port of this thread are queued in order and
 * forwarded at the last release; past 65536 queued frames a send is dropped and counted in the
 * sender's tx.drops. A machine holds the netstack while its harts run, so frames its
 * devices send never run a receiver inside cpu_run. */
void net_hold(void);
void net_release(void);
/* The owner can take frames again: deliver what is queued until it refuses one. */
void net_port_ready(net_port *p);
void net_port_set_link(net_port *p, int up);
/* Sets the queue bound (frames); the default is 1024. 0: no queue, a refused frame is dropped and
 * counted (for owners that keep their own bounded queue, like scripted endpoints). */
void net_port_set_queue_limit(net_port *p, unsigned limit);
/* Impairs the frames through p in one direction (0: from the hub into the owner, 1: from the owner
 * into the hub; netstack/impair.h), or with cfg NULL removes the stage. Frames sent by the owner
 * are counted and tapped as they leave it, before the stage; frames into the owner when they reach
 * it, after. A port keeps its stages when it moves to another hub (what was in flight is dropped)
 * and loses them when it is detached. Returns 0, or -1 if p is on no hub or memory ran out. */
int net_port_impair(net_port *p, int dir, const struct impair_cfg *cfg);

/* Taps on a port see both directions. Detaching the port removes them and calls their gone(). */
void net_port_add_tap(net_port *p, net_tap *t);
void net_port_remove_tap(net_port *p, net_tap *t);

/* ---- hubs (VLANs) ---- */

/* A hub floods each frame to every attached port but the one it came from; it learns nothing
 * (unless it is made a switch: then switch.c decides where each frame goes).
 * Hubs are runtime objects: lemu_rt_free closes them, detaching every port. */
net_hub *net_hub_new(lemu_rt *rt, const char *name);
const char *net_hub_name(const net_hub *h);
void net_hub_close(net_hub *h);
int net_hub_nports(const net_hub *h);
net_port *net_hub_port(const net_hub *h, int i);
void net_hub_add_tap(net_hub *h, net_tap *t);
void net_hub_remove_tap(net_hub *h, net_tap *t);
/* Frames forwarded since creation. */
uint64_t net_hub_frames(const net_hub *h);
/* Makes h a learning switch (netstack/switch.h) whose entries age after ageing_ns; only while no
 * port is attached. 0, or -1 (ports attached, or no memory). */
int net_hub_make_switch(net_hub *h, uint64_t ageing_ns);
struct net_switch *net_hub_switch(const net_hub *h);   /* NULL for a hub */

#endif
