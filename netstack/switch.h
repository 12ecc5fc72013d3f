/* switch: the forwarding of a VLAN that is a learning switch instead of a hub — MAC learning per
 * 802.1Q VLAN id with ageing, flooding of broadcast, multicast and unknown unicast to the members of
 * the frame's VLAN id, and access and trunk ports (a frame enters an access port untagged and is
 * given the port's id; a trunk carries the ids it allows tagged, its native id untagged). Every port
 * is an access port of id 1 until configured. The hub (port.c) owns one and hands it each frame. */
#ifndef LEMU_SWITCH_H
#define LEMU_SWITCH_H

#include <stdint.h>

#include "frame.h"
#include "lemu.h"

struct net_port;
typedef struct net_switch net_switch;

#define SWITCH_VID_MAX 4094
#define SWITCH_AGEING_DEFAULT_S 300

typedef struct switch_stats {
  uint64_t forwarded;     /* frames sent to the one port their destination was learned on */
  uint64_t flooded;       /* frames sent to every member of their VLAN id */
  uint64_t filtered;      /* dropped: a VLAN id the ingress port does not carry, or a runt tag */
  uint64_t learned;       /* table entries made */
  uint64_t table_full;    /* source addresses not learned: the table was full */
  uint32_t entries;       /* live now */
} switch_stats;

/* One forwarding-table entry, for listings. */
typedef struct switch_entry { uint8_t mac[6]; uint16_t vid; struct net_port *port; uint64_t age_ns; } switch_entry;

net_switch *net_switch_new(lemu_rt *rt, uint64_t ageing_ns);
void net_switch_free(net_switch *s);
uint64_t net_switch_ageing(const net_switch *s);

/* Port configuration: access port of vid; or trunk carrying the ids in allowed (a 4096-bit map,
 * bit v = id v) with native the id its untagged frames belong to (0: none, untagged frames are
 * dropped). Returns 0, or -1 for an id out of 1..4094 or no memory. */
int net_switch_access(net_switch *s, struct net_port *p, uint16_t vid);
int net_switch_trunk(net_switch *s, struct net_port *p, const uint64_t allowed[64], uint16_t native);
/* The port's mode: 0 access (vid = its id) or 1 trunk (native; allowed copied if non-NULL). */
int net_switch_port_mode(const net_switch *s, const struct net_port *p, uint16_t *vid, uint64_t allowed[64]);
void net_switch_port_gone(net_switch *s, struct net_port *p);    /* its entries and configuration */

/* Forwards f from src to the ports given (the hub's, src among them) through offer. */
void net_switch_forward(net_switch *s, struct net_port *const *ports, int n, struct net_port *src,
                        net_frame *f, void (*offer)(struct net_port *p, net_frame *f));

void net_switch_flush(net_switch *s);
void net_switch_stats(const net_switch *s, switch_stats *st);
/* Calls fn for each live entry. */
void net_switch_each(const net_switch *s, void (*fn)(void *ud, const switch_entry *e), void *ud);

#endif
