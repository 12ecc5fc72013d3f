/* virtio_net: the virtio network card — receive into the guest's ring (merging buffers when the
 * driver allows), transmit from it with checksum completion, link status, and a port on a VLAN. */
#include "virtio_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inet.h"
#include "log.h"

enum {
  F_CSUM = 1ull << 0, F_MAC = 1ull << 5, F_MRG_RXBUF = 1ull << 15, F_STATUS = 1ull << 16,
};
enum { HDR_F_NEEDS_CSUM = 1 };
enum { Q_RX = 0, Q_TX = 1 };
#define HDR_MAX 12
#define RX_MAX_BUFS 64                      /* merged buffers per frame */

struct vnet {
  nic base;                           /* port, MAC, link: first, so a nic * is a vnet * */
  virtio *vd;
  vq_chain first, c;                  /* a frame's first receive chain (it gets the header), others */
  vq_chain tx;                        /* apart from the receive chains: sending a frame can make a
                                       * backend answer at once, re-entering vnet_receive */
  uint8_t buf[HDR_MAX + NET_FRAME_MAX];
};

static int hdr_len(const vnet *n) {
  /* virtio 1.x always has num_buffers; legacy only with MRG_RXBUF. */
  if (!virtio_is_legacy(n->vd)) return 12;
  return (virtio_features(n->vd) & F_MRG_RXBUF) ? 12 : 10;
}

/* ---- receive: VLAN -> guest ---- */

static int vnet_receive(net_port *p, net_frame *f) {
  vnet *n = p->owner;
  virtio *vd = n->vd;
  if (!vd || !virtio_driver_ok(vd)) {
    p->rx.drops++;       /* no driver: the frame is lost, as on a card nobody listens to */
    return 1;
  }
  size_t hl = (size_t)hdr_len(n);
  int merge = (virtio_features(vd) & F_MRG_RXBUF) != 0;
  size_t need = hl + f->len, done = 0;
  int nb = 0;
  uint16_t heads[RX_MAX_BUFS];
  uint32_t lens[RX_MAX_BUFS];
  /* Pop as many chains as the frame needs; if the ring runs dry, give them back and let the frame
   * wait at the port until the driver adds buffers. */
  while (done < need) {
    vq_chain *c = nb == 0 ? &n->first : &n->c;
    if (nb == RX_MAX_BUFS) { vq_unpop(vd, Q_RX, nb); p->rx.drops++; return 1; }
    int r = vq_pop(vd, Q_RX, c);
    if (r < 0) return 1;                       /* broken device: the reset discards it anyway */
    if (r == 0) { vq_unpop(vd, Q_RX, nb); return 0; }
    if (c->in_len < (nb == 0 ? hl : 1)) {
      virtio_fail(vd, "receive buffer of %u bytes cannot hold a frame", c->in_len);
      return 1;
    }
    if (!merge && c->in_len < need) {
      /* Too small and no merging: consume the buffer empty and lose the frame, like hardware. */
      vq_push(vd, Q_RX, c, 0);
      vq_notify(vd, Q_RX);
      p->rx.drops++;
      return 1;
    }
    size_t off = nb == 0 ? hl : 0;
    size_t take = c->in_len - off < need - done - off ? c->in_len - off : need - done - off;
    vq_chain_write(c, off, f->data + (done ? done - hl : 0), take);
    heads[nb] = c->head;
    lens[nb] = (uint32_t)(off + take);
    nb++;
    done += off + take;
  }
  uint8_t hdr[HDR_MAX] = {0};
  if (hl == 12) { hdr[10] = (uint8_t)nb; hdr[11] = (uint8_t)(nb >> 8); }
  vq_chain_write(&n->first, 0, hdr, hl);
  for (int i = 0; i < nb; i++) {
    n->c.head = heads[i];
    vq_push(vd, Q_RX, &n->c, lens[i]);
  }
  vq_notify(vd, Q_RX);
  return 1;
}

static const net_port_ops vnet_port_ops = {"virtio-net", vnet_receive};

/* ---- transmit: guest -> VLAN ---- */

/* Completes a checksum the guest left to the device: the 16-bit ones' complement of the sum from
 * start to the end, seeded with what the guest stored at start+off (the pseudo-header sum). */
static int complete_csum(uint8_t *d, size_t len, size_t start, size_t off) {
  if (start >= len || off + 2 > len - start) return -1;
  uint16_t c = inet_checksum(inet_sum(0, d + start, len - start));
  d[start + off] = (uint8_t)(c >> 8);
  d[start + off + 1] = (uint8_t)c;
  return 0;
}

static void transmit(vnet *n) {
  virtio *vd = n->vd;
  int hl = hdr_len(n);
  int sent = 0;
  for (;;) {
    int r = vq_pop(vd, Q_TX, &n->tx);
    if (r <= 0) break;
    size_t len = n->tx.out_len;
    if (len < (size_t)hl + NET_FRAME_MIN || len > (size_t)hl + NET_FRAME_MAX) {
      n->base.port.tx.drops++;
    } else {
      vq_chain_read(&n->tx, 0, n->buf, len);
      uint8_t *frame = n->buf + hl;
      size_t flen = len - (size_t)hl;
      int ok = 1;
      if ((n->buf[0] & HDR_F_NEEDS_CSUM) && (virtio_features(vd) & F_CSUM)) {
        size_t start = (size_t)(n->buf[6] | n->buf[7] << 8), off = (size_t)(n->buf[8] | n->buf[9] << 8);
        ok = complete_csum(frame, flen, start, off) == 0;
      }
      if (n->buf[1] != 0) ok = 0;  /* segmentation offload was never offered */
      if (ok) net_port_send(&n->base.port, frame, flen);
      else n->base.port.tx.drops++;
    }
    vq_push(vd, Q_TX, &n->tx, 0);
    sent++;
  }
  if (sent) vq_notify(vd, Q_TX);
}

/* ---- device ops ---- */

static uint64_t vnet_features(void *dev) {
  (void)dev;
  return F_CSUM | F_MAC | F_MRG_RXBUF | F_STATUS;
}

static uint32_t vnet_config_read(void *dev, uint32_t off, int size) {
  vnet *n = dev;
  uint8_t cfg[8] = {0};
  memcpy(cfg, n->base.mac, 6);
  cfg[6] = (uint8_t)n->base.link_up;        /* VIRTIO_NET_S_LINK_UP */
  uint32_t v = 0;
  for (int i = 0; i < size; i++)
    if (off + (uint32_t)i < sizeof cfg) v |= (uint32_t)cfg[off + (uint32_t)i] << (8 * i);
  return v;
}

static void vnet_config_write(void *dev, uint32_t off, uint32_t val, int size) {
  vnet *n = dev;
  /* Legacy drivers may write the MAC (without VIRTIO_NET_F_CTRL_MAC_ADDR). */
  for (int i = 0; i < size; i++)
    if (off + (uint32_t)i < 6) n->base.mac[off + (uint32_t)i] = (uint8_t)(val >> (8 * i));
}

static void vnet_notify(void *dev, virtio *vd, int q) {
  vnet *n = dev;
  (void)vd;
  if (q == Q_TX) transmit(n);
  else if (q == Q_RX) net_port_ready(&n->base.port);   /* new buffers: deliver what waited */
}

static void vnet_reset(void *dev) {
  (void)dev;
}

static void vnet_ready(void *dev, virtio *vd) {
  vnet *n = dev;
  (void)vd;
  net_port_ready(&n->base.port);
}

const virtio_device_ops vnet_ops = {
  "virtio-net", VIRTIO_ID_NET, 2, vnet_features, vnet_config_read, vnet_config_write,
  vnet_notify, vnet_reset, vnet_ready,
};

/* The link changed (nic_set_link): the driver sees it in the status field, told by a
 * configuration interrupt, as on QEMU. */
static void vnet_link_changed(nic *b) {
  vnet *n = (vnet *)b;
  if (n->vd) virtio_config_changed(n->vd);
}

vnet *vnet_new(const uint8_t mac[6], const char *name) {
  vnet *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  nic_init(&n->base, &vnet_port_ops, n, mac, name, vnet_link_changed);
  return n;
}

void vnet_bind(vnet *n, virtio *vd) { n->vd = vd; }
void vnet_free(vnet *n) { free(n); }
nic *vnet_nic(vnet *n) { return &n->base; }
net_port *vnet_port(vnet *n) { return &n->base.port; }
void vnet_set_link(vnet *n, int up) { nic_set_link(&n->base, up); }
