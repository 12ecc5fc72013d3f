/* mapi: the public C interface to machines (lemu.h), over machine.h and the device registry. A
 * lemu_machine is a machine; the embedder's callbacks sit in a small record the machine's hooks
 * point at, freed by the machine's closed hook when the machine's memory goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu.h"
#include "machine.h"
#include "mdevices.h"

typedef struct api_rec { lemu_machine_callbacks cb; machine *m; } api_rec;

static void on_console(void *ud, const uint8_t *buf, size_t len) {
  api_rec *r = ud;
  if (r->cb.console) r->cb.console(r->cb.ud, buf, len);
}

static void on_exit_(void *ud, int status) {
  api_rec *r = ud;
  if (r->cb.exit) r->cb.exit(r->cb.ud, status, machine_stall_reason(r->m));
}

lemu_machine *lemu_machine_new(lemu_rt *rt, const lemu_machine_config *cfg,
                               const lemu_machine_callbacks *cb, char *err, size_t errlen) {
  api_rec *r = calloc(1, sizeof *r);
  if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
  if (cb) r->cb = *cb;
  machine_config mc;
  memset(&mc, 0, sizeof mc);
  if (cfg) {
    mc.type = cfg->type;
    mc.ram_size = cfg->ram_bytes;
    mc.smp = cfg->smp;
    mc.bios = cfg->bios;
    mc.kernel = cfg->kernel;
    mc.initrd = cfg->initrd;
    mc.append = cfg->append;
    mc.dtb = cfg->dtb;
  }
  machine_hooks h;
  memset(&h, 0, sizeof h);
  h.ud = r;
  h.console = on_console;
  h.exit = on_exit_;
  h.closed = free;
  r->m = machine_new(rt, &mc, &h, err, errlen);
  if (!r->m) { free(r); return NULL; }
  return (lemu_machine *)r->m;
}

int lemu_machine_add_device(lemu_machine *lm, const char *model, lemu_vlan *vlan,
                            const uint8_t mac[6], const char *file, char *err, size_t errlen) {
  static unsigned next_mac;
  const mdev_model *md = mdev_find(model ? model : "");
  if (!md) {
    snprintf(err, errlen, "device: unknown model '%s' (lemu -device help lists them)", model ? model : "");
    return -1;
  }
  mdev_params p;
  memset(&p, 0, sizeof p);
  p.vlan = (net_hub *)vlan;
  p.addr = -1;
  if (mac) memcpy(p.mac, mac, 6);
  else {
    static const uint8_t base[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    memcpy(p.mac, base, 6);
    p.mac[5] = (uint8_t)(base[5] + next_mac);
    p.mac[4] = (uint8_t)(base[4] + ((base[5] + next_mac) >> 8));
    if (md->kind == MDEV_NIC) next_mac++;
  }
  p.file = file;
  return md->plug((machine *)lm, md, &p, err, errlen) < 0 ? -1 : 0;
}

int lemu_machine_start(lemu_machine *m) { return machine_start((machine *)m); }
void lemu_machine_input(lemu_machine *m, const void *buf, size_t len) {
  machine_console_input((machine *)m, buf, len);
}
void lemu_machine_stop(lemu_machine *m, int status) { machine_stop((machine *)m, status); }

int lemu_machine_exit_status(const lemu_machine *m) {
  const machine *mm = (const machine *)m;
  return machine_state(mm) == MACHINE_EXITED ? machine_exit_status(mm) : -1;
}

void lemu_machine_close(lemu_machine *m) { machine_close((machine *)m); }
