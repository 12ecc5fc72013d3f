/* machine: a whole RISC-V board on a runtime's loop — QEMU virt's memory map (or spike's), its
 * harts, devices, device tree and boot protocol. The machine runs its harts in slices from the
 * loop and sleeps (no CPU) while every hart waits in WFI, until a timer deadline or a device
 * interrupt. Console output is batched per slice to the hooks; console input is queued. */
#ifndef LEMU_MACHINE_H
#define LEMU_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "lemu.h"

typedef struct machine machine;

typedef struct machine_config {
  const char *type;       /* "virt" (default) or "spike" */
  uint64_t ram_size;      /* bytes (default 128 MiB, as QEMU) */
  int smp;                /* harts (default 1) */
  const char *bios;       /* NULL: lemu's built-in SBI; "none": no firmware; else a file */
  const char *kernel, *initrd, *append, *dtb;
  const char *accel;      /* "interp", "jit" (x86-64 hosts), or NULL: $LEMU_ACCEL, else interp */
} machine_config;

enum machine_state { MACHINE_CREATED, MACHINE_RUNNING, MACHINE_PAUSED, MACHINE_EXITED };

typedef struct machine_hooks {
  void *ud;
  /* Console output (UART, SBI console, HTIF), once per slice. */
  void (*console)(void *ud, const uint8_t *buf, size_t len);
  /* The guest ended the machine: status is the process exit status QEMU would give (0 for a
   * poweroff or a passing test, the failure code otherwise). */
  void (*exit)(void *ud, int status);
  /* Optional: the machine's memory is going (after machine_close or with its runtime); no hook
   * runs after this one. */
  void (*closed)(void *ud);
} machine_hooks;

#define MACHINE_MAX_HARTS 64

/* Builds the board and loads its images; NULL with err (naming the file or option) on failure. */
machine *machine_new(lemu_rt *rt, const machine_config *cfg, const machine_hooks *h, char *err,
                     size_t errlen);
/* Starts closing; the memory goes once libuv has closed the machine's handles. */
void machine_close(machine *m);

int machine_start(machine *m);          /* CREATED -> RUNNING */
void machine_pause(machine *m);
void machine_resume(machine *m);
/* Resets harts and devices and reloads the images (what the guest's reboot does). */
int machine_reset(machine *m, char *err, size_t errlen);
/* Ends the machine as if powered off with the given status (no guest involvement). */
void machine_stop(machine *m, int status);
enum machine_state machine_state(const machine *m);
int machine_exit_status(const machine *m);
/* Why the machine ended itself with status 1 because no hart could ever run again, or NULL. */
const char *machine_stall_reason(const machine *m);

/* Plugs a virtio device model into the next free virtio-mmio slot; only before the machine
 * starts. The machine owns dev from then on and calls dev_free(dev) when it is freed. Returns the
 * slot (0..7) or -1 with err. legacy: the transport shows version 1 (QEMU's force-legacy). */
struct virtio_device_ops;
struct virtio;
int machine_add_virtio(machine *m, const struct virtio_device_ops *ops, void *dev,
                       void (*dev_free)(void *dev), int legacy, struct virtio **vd, char *err,
                       size_t errlen);

/* Plugs a virtio device model into the PCIe host as a transitional virtio PCI function (QEMU's
 * virtio-net-pci, virtio-blk-pci, virtio-rng-pci) at PCI slot `slot` (1..31), or at the first free
 * slot from 1 up if slot < 0; only before the machine starts. The machine owns dev as with
 * machine_add_virtio. Returns the device's id, MACHINE_PCI_ID(slot), or -1 with err. */
#define MACHINE_PCI_SLOTS 32
#define MACHINE_PCI_ID(slot) (0x100 + (slot))
int machine_add_virtio_pci(machine *m, const struct virtio_device_ops *ops, void *dev,
                           void (*dev_free)(void *dev), int slot, struct virtio **vd, char *err,
                           size_t errlen);

/* Plugs a PCI function that is a device model of its own (devices/e1000.c and the other classic
 * NICs) at PCI slot `slot` (1..31), or at the first free one from 1 up if slot < 0; only before the
 * machine starts. The machine owns dev from then on: when it is freed it unplugs d and calls
 * dev_free(dev). name is the model's, for errors. Returns MACHINE_PCI_ID(slot), or -1 with err. */
struct pci_dev;
int machine_add_pci(machine *m, struct pci_dev *d, const char *name, void *dev,
                    void (*dev_free)(void *dev), int slot, char *err, size_t errlen);
/* The clock device timers run on (core/dtimer.h): guest time, standing still while paused. */
struct dtimer_clock;
struct dtimer_clock *machine_clock(machine *m);

/* The device with an id from machine_add_virtio (its virtio-mmio slot) or machine_add_virtio_pci,
 * and its ops; NULL if there is none. */
void *machine_virtio_dev(machine *m, int id, const struct virtio_device_ops **ops);

/* Queues console input for the UART (and SBI getchar). */
void machine_console_input(machine *m, const uint8_t *buf, size_t len);
/* Also writes console output to fd (-1: none), e.g. 1 for -serial stdio / -nographic. */
void machine_set_serial_fd(machine *m, int fd);

/* For device layers (virtio, PCI): the machine's bus (DMA goes through bus_ram_ptr), a PLIC source
 * line to drive, and plugging a device into virtio-mmio slot i (0..7, IRQ 1 + i) in place of the
 * empty transport. ops NULL empties the slot again. Returns -1 for a bad slot or source. */
bus *machine_bus(machine *m);
int machine_set_irq_line(machine *m, int source, int level);
int machine_virtio_slot(machine *m, int slot, const bus_dev_ops *ops, void *dev);
/* The PCIe host's root bus (NULL on spike): plug a pci_dev (devices/pci.h) before the machine
 * starts; its INTx reaches PLIC 32 + (slot + pin - 1) mod 4 and its DMA goes through pci_dma_map. */
struct pci_bus *machine_pci(machine *m);

/* The flattened device tree the machine hands its firmware. */
const void *machine_dtb(const machine *m, size_t *len);
uint64_t machine_dtb_addr(const machine *m);
uint64_t machine_instret(const machine *m);
uint64_t machine_hart_instret(const machine *m, int hart);   /* 0 for a hart that does not exist */
/* A hart's pc, privilege (0 U, 1 S, 3 M) and whether it runs (0), waits in WFI (1) or is stopped
 * (2); -1 for a bad index. For debugging and scenario checks. */
int machine_hart_state(const machine *m, int hart, uint64_t *pc, int *priv);
int machine_harts(const machine *m);
const char *machine_type(const machine *m);
const char *machine_accel(const machine *m);   /* "jit" or "interp": what -accel chose */

#endif
