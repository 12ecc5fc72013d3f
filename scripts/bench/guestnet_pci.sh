#!/bin/sh
# guestnet_pci.sh: guestnet.lua's lease, TCP and ping figures with the NIC on the PCIe host
# (virtio-net-pci) instead of virtio-mmio, lemu against qemu-system-riscv64.
B=${LEMU_BUILD:-build}
LEMU_BENCH_NIC=virtio-net-pci exec "$B/lemu" scripts/bench/guestnet.lua </dev/null
