/* ldevices: `lemu.cdevices` — plugging virtio devices (net, rng, blk) into a machine handle from
 * lemu.cmachine, in virtio-mmio slots or as PCI functions, and the NIC's link and counters. The
 * machine owns the devices; Lua refers to them by (machine handle, device id), so a closed machine
 * makes them an error to use, never a crash. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "ldevices.h"
#include "lmachine.h"
#include "lnet.h"
#include "lobj.h"
#include "machine.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "virtio_rng.h"

static void vnet_dev_free(void *dev) {
  vnet *n = dev;
  net_port_detach(vnet_port(n));
  vnet_free(n);
}

static void vblk_dev_free(void *dev) { vblk_close(dev); }

/* Where a device goes: a virtio-mmio slot (pci 0), or a PCI slot (pci 1; slot < 0: the first free). */
typedef struct where { int pci, slot, legacy; } where;

static int add(machine *m, const where *w, const virtio_device_ops *ops, void *dev,
               void (*dev_free)(void *), virtio **vd, char *err, size_t errlen) {
  if (w->pci) return machine_add_virtio_pci(m, ops, dev, dev_free, w->slot, vd, err, errlen);
  return machine_add_virtio(m, ops, dev, dev_free, w->legacy, vd, err, errlen);
}

static int plugged(lua_State *L, machine *m, const virtio_device_ops *ops, void *dev,
                   void (*dev_free)(void *), const where *w) {
  char err[256];
  int slot = add(m, w, ops, dev, dev_free, NULL, err, sizeof err);
  if (slot < 0) {
    if (dev_free) dev_free(dev);
    return luaL_error(L, "%s", err);
  }
  lua_pushinteger(L, slot);
  return 1;
}

/* nic(machine, vlan|nil, mac|nil, legacy, name) -> id, mac; nic_pci(machine, vlan|nil, mac|nil,
 * slot|nil, name) -> id, mac */
static int add_nic(lua_State *L, const where *w) {
  machine *m = lmachine_check(L, 1);
  net_hub *h = lua_isnoneornil(L, 2) ? NULL : lnet_checkvlan(L, 2);
  uint8_t mac[6];
  const char *smac = luaL_optstring(L, 3, NULL);
  if (smac) {
    if (lnet_parse_mac(smac, mac) != 0)
      return luaL_error(L, "nic: mac '%s' is not a MAC address like 52:54:00:12:34:56", smac);
    if (mac[0] & 1) return luaL_error(L, "nic: mac '%s' is a multicast address", smac);
    lnet_claim_mac(L, mac);
  } else {
    lnet_default_mac(L, mac);
  }
  const char *name = luaL_optstring(L, 5, "virtio-net");
  if (machine_state(m) != MACHINE_CREATED)
    return luaL_error(L, "nic: NICs are plugged before the machine starts "
                         "(lemu.machine{start=false}, then m:start())");
  vnet *n = vnet_new(mac, name);
  if (!n) return luaL_error(L, "out of memory");
  virtio *vd;
  char err[256];
  int slot = add(m, w, &vnet_ops, n, vnet_dev_free, &vd, err, sizeof err);
  if (slot < 0) {
    vnet_free(n);
    return luaL_error(L, "nic: %s", err);
  }
  vnet_bind(n, vd);
  if (h) net_port_attach(vnet_port(n), h);
  char buf[18];
  snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
           mac[4], mac[5]);
  lua_pushinteger(L, slot);
  lua_pushstring(L, buf);
  return 2;
}

static int l_nic(lua_State *L) {
  where w = {0, -1, lua_toboolean(L, 4)};
  return add_nic(L, &w);
}

static int pci_slot(lua_State *L, int idx) { return (int)luaL_optinteger(L, idx, -1); }

static int l_nic_pci(lua_State *L) {
  where w = {1, pci_slot(L, 4), 0};
  return add_nic(L, &w);
}

static vnet *check_nic(lua_State *L) {
  machine *m = lmachine_check(L, 1);
  const virtio_device_ops *ops;
  vnet *n = machine_virtio_dev(m, (int)luaL_checkinteger(L, 2), &ops);
  if (!n || ops != &vnet_ops) luaL_error(L, "no NIC with device id %d", (int)lua_tointeger(L, 2));
  return n;
}

/* nic_link(machine, slot[, up]) -> up */
static int l_nic_link(lua_State *L) {
  vnet *n = check_nic(L);
  if (!lua_isnoneornil(L, 3)) vnet_set_link(n, lua_toboolean(L, 3));
  lua_pushboolean(L, vnet_link(n));
  return 1;
}

/* nic_info(machine, slot) -> port info table */
static int l_nic_info(lua_State *L) {
  vnet *n = check_nic(L);
  lnet_push_port_info(L, vnet_port(n));
  return 1;
}

/* nic_attach(machine, slot, vlan|nil): moves the NIC's wire to another VLAN (or unplugs it). */
static int l_nic_attach(lua_State *L) {
  vnet *n = check_nic(L);
  if (lua_isnoneornil(L, 3)) net_port_detach(vnet_port(n));
  else net_port_attach(vnet_port(n), lnet_checkvlan(L, 3));
  return 0;
}

/* rng(machine, legacy) -> id; rng_pci(machine, slot|nil) -> id */
static int l_rng(lua_State *L) {
  where w = {0, -1, lua_toboolean(L, 2)};
  return plugged(L, lmachine_check(L, 1), &vrng_ops, NULL, NULL, &w);
}

static int l_rng_pci(lua_State *L) {
  where w = {1, pci_slot(L, 2), 0};
  return plugged(L, lmachine_check(L, 1), &vrng_ops, NULL, NULL, &w);
}

static int add_disk(lua_State *L, const where *w) {
  machine *m = lmachine_check(L, 1);
  const char *file = luaL_checkstring(L, 2);
  char err[512];
  vblk *b = vblk_open(file, lua_toboolean(L, 3), err, sizeof err);
  if (!b) return luaL_error(L, "disk: %s", err);
  return plugged(L, m, &vblk_ops, b, vblk_dev_free, w);
}

/* disk(machine, file, readonly, legacy) -> id; disk_pci(machine, file, readonly, slot|nil) -> id */
static int l_disk(lua_State *L) {
  where w = {0, -1, lua_toboolean(L, 4)};
  return add_disk(L, &w);
}

static int l_disk_pci(lua_State *L) {
  where w = {1, pci_slot(L, 4), 0};
  return add_disk(L, &w);
}

int luaopen_lemu_cdevices(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"nic", l_nic}, {"nic_link", l_nic_link}, {"nic_info", l_nic_info},
    {"nic_attach", l_nic_attach}, {"rng", l_rng}, {"disk", l_disk}, {"nic_pci", l_nic_pci},
    {"rng_pci", l_rng_pci}, {"disk_pci", l_disk_pci}, {NULL, NULL}
  };
  luaL_newlib(L, fns);
  return 1;
}
