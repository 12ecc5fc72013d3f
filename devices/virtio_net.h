/* virtio_net: a virtio network card (device id 1) whose wire is a netstack port. Features: MAC,
 * STATUS (link up/down from Lua), MRG_RXBUF, and CSUM (the guest may leave transmit checksums to
 * the device, which completes them before the frame enters the VLAN). A full receive ring holds
 * frames at the port (backpressure) instead of dropping them. */
#ifndef LEMU_VIRTIO_NET_H
#define LEMU_VIRTIO_NET_H

#include <stdint.h>

#include "nic.h"
#include "virtio.h"

typedef struct vnet vnet;

vnet *vnet_new(const uint8_t mac[6], const char *name);
void vnet_free(vnet *n);       /* detach its port first (net_port_detach) */
/* The device ops and state to give a transport; then vnet_bind the transport's virtio. */
extern const virtio_device_ops vnet_ops;
void vnet_bind(vnet *n, virtio *vd);
nic *vnet_nic(vnet *n);           /* its NIC base: port, MAC, link */
net_port *vnet_port(vnet *n);
void vnet_set_link(vnet *n, int up);

#endif
