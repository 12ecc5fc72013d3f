/* machine_int: the machine's internals shared by its parts — the board (machine.c), the device
 * tree (mfdt.c), the built-in SBI (msbi.c), virtio wiring (mvirtio.c) and the PCIe host (mpci.c). Nothing outside board/
 * includes this. */
#ifndef LEMU_MACHINE_INT_H
#define LEMU_MACHINE_INT_H

#include <uv.h>

#include "bus.h"
#include "clint.h"
#include "clock.h"
#include "cpu.h"
#include "dtimer.h"
#include "goldfish_rtc.h"
#include "loader.h"
#include "machine.h"
#include "pci.h"
#include "plic.h"
#include "rt.h"
#include "sifive_test.h"
#include "uart.h"
#include "virtio.h"
#include "nic.h"
#include "port.h"
#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "virtio_slot.h"

/* QEMU virt's memory map. */
#define VIRT_MROM      0x1000ull
#define VIRT_MROM_SIZE 0x11000ull
#define VIRT_TEST      0x100000ull
#define VIRT_RTC       0x101000ull
#define VIRT_CLINT     0x2000000ull
#define VIRT_PLIC      0xc000000ull
#define VIRT_UART0     0x10000000ull
#define VIRT_DRAM      0x80000000ull
#define VIRT_UART0_IRQ 10
#define VIRT_RTC_IRQ   11
/* The PCIe host (mpci.c). */
#define VIRT_PCIE_PIO       0x3000000ull
#define VIRT_PCIE_PIO_SIZE  0x10000ull
#define VIRT_PCIE_ECAM      0x30000000ull
#define VIRT_PCIE_ECAM_SIZE 0x10000000ull
#define VIRT_PCIE_MMIO      0x40000000ull
#define VIRT_PCIE_MMIO_SIZE 0x40000000ull
#define VIRT_PCIE_MMIO_HIGH_SIZE (16ull << 30)
#define VIRT_PCIE_IRQ       32          /* INTA..INTD of the host: PLIC 32..35 */

enum hart_run { HART_RUN, HART_WFI, HART_STOPPED };

#define MDEV_MAX 32            /* devices one machine takes through the registry */

typedef struct hart {
  cpu *c;
  enum hart_run run;
  int start_pending;     /* HSM: started, waiting for its first slice */
  int spins;             /* CPU_YIELDs in a row: WFI in a wait loop with an interrupt pending */
  uint64_t nap_until;    /* a spinning hart parked until then (uv_hrtime), or 0 */
} hart;

/* A virtio device model plugged into a slot through its transport (mvirtio.c). */
typedef struct mvdev {
  machine *m;
  int index;
  virtio_mmio *t;
  virtio *vd;
  const virtio_device_ops *ops;
  void *dev;
  void (*dev_free)(void *dev);
} mvdev;

/* A device plugged into the PCIe host (mpci.c): a virtio model behind its virtio PCI function
 * (t, vd, ops set), or a model that is a PCI function of its own (a classic NIC: t NULL). */
typedef struct mpdev {
  pci_dev *pd;             /* the function plugged; NULL: the slot is free */
  virtio_pci *t;
  virtio *vd;
  const virtio_device_ops *ops;
  void *dev;
  void (*dev_free)(void *dev);
} mpdev;

typedef struct outbuf { uint8_t *p; size_t n, cap; } outbuf;

/* A virtio-mmio slot: the bus region forwards to whatever device is plugged in. */
typedef struct vslot { const bus_dev_ops *ops; void *dev; } vslot;

struct machine {
  rt_obj obj;
  lemu_rt *rt;
  machine_config cfg;
  char *bios, *kernel, *initrd, *append, *dtbfile, *type;
  int spike, builtin_sbi;
  int accel;                    /* CPU_ACCEL_*: the harts' engine */
  machine_hooks h;
  enum machine_state state;
  int exit_status, exit_notified, halting;
  char stall[240];       /* why the machine stalled (every hart waiting for nothing), or "" */
  int resetting;

  bus *bus;
  uint8_t *ram;
  hart harts[MACHINE_MAX_HARTS];
  int nharts;
  clint *clint;
  plic *plic;
  uart *uart;
  goldfish_rtc *rtc;
  sifive_test test;
  vslot slots[VIRTIO_SLOTS];
  mvdev vdevs[VIRTIO_SLOTS];
  /* The devices plugged through the registry (mdevices.c), in order. */
  struct mdevice { const struct mdev_model *model; void *dev; int slot; nic *nic; } devs[MDEV_MAX];
  int ndevs;
  pci_bus *pci;            /* the PCIe host's root bus (virt only) */
  pci_dev pci_host;        /* 00:00.0 */
  pci_window pci_win[3];   /* I/O, 32-bit and 64-bit memory windows */
  uint64_t pci_high;       /* base of the 64-bit memory window */
  mpdev pdevs[MACHINE_PCI_SLOTS];   /* by slot (function 0) */

  uv_idle_t idle;
  uv_timer_t timer;
  int handles_open;

  /* Guest time is host_now() - clock_base; host_now() is uv_hrtime, or on the virtual clock the
   * machine's place on the runtime's time (vt plus the running hart's progress). */
  uint64_t clock_base;     /* host_now at guest time 0, shifted by pauses */
  dtimer_clock clock;      /* device timers, on guest time */
  uint64_t paused_at;
  int virt;                /* runs on the runtime's virtual clock (decided at start) */
  clock_runner runner;
  clock_runner rrunner;    /* real clock with workers: its place in the clock's slice batch */
  uint64_t vt;             /* virtual: runtime time this machine has reached */
  uint64_t vt_hart0;       /* virtual: vt and instret when the running hart began its turn */
  uint64_t vinstret0;
  int vhart;               /* virtual: the hart inside cpu_run, or -1 */
  int rr;                  /* virtual: the hart that goes first in the next round */
  int in_vrun;             /* virtual: inside its quantum (maybe on a worker thread) */

  loader_image fw, kern;
  uint64_t kernel_entry, initrd_start, initrd_end;
  uint64_t tohost, fromhost;
  uint8_t *fdt;
  size_t fdt_len;
  uint64_t fdt_addr;

  outbuf out, in;          /* console output of this slice; input not yet taken by the UART */
  int serial_fd;
};

/* mfdt.c: builds m->fdt from the board (or from cfg.dtb with chosen updated). */
int mfdt_build(machine *m, char *err, size_t errlen);
/* msbi.c: the built-in SBI (cpu_hooks.sbi) and the S-mode hand-over it starts harts with. */
int msbi_call(void *ud, cpu *c);
void msbi_enter_smode(machine *m, int hart, uint64_t pc, uint64_t a1);
/* mvirtio.c: resets and frees the virtio devices plugged into the slots. */
void mvirtio_reset(machine *m);
void mvirtio_free(machine *m);
/* mpci.c: the PCIe host — built with the board, reset and freed with it. */
int mpci_init(machine *m);
void mpci_reset(machine *m);
void mpci_free(machine *m);
uint64_t mpci_high_base(uint64_t ram_size);
void *mpci_virtio_dev(machine *m, int slot, const virtio_device_ops **ops);
/* machine.c helpers the parts use. */
void machine_out(machine *m, const uint8_t *p, size_t n);
int machine_getchar(machine *m);
void machine_finish(machine *m, int status);
void machine_wake(machine *m, int hart);
/* Puts the option ("-kernel") before a loader's "PATH: why" in err; returns -1. */
int machine_err_option(const char *opt, char *err, size_t errlen);
void machine_request_reset(machine *m);
uint64_t machine_ticks(const machine *m);
/* Drops a hart's decoded instructions for all of ROM and RAM (reset, remote FENCE.I). */
void machine_invalidate_code(machine *m, int hart);

#endif
