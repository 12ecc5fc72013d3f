#!/bin/sh
# guestnet_classic.sh: guestnet.lua's lease, TCP and ping figures for each classic PCI NIC
# (e1000, rtl8139, ne2k_pci), lemu against qemu-system-riscv64 with the same images and -device.
B=${LEMU_BUILD:-build}
for nic in ${LEMU_BENCH_NICS:-e1000 rtl8139 ne2k_pci}; do
  echo "-- $nic"
  LEMU_BENCH_NIC=$nic "$B/lemu" scripts/bench/guestnet.lua </dev/null || echo "   ($nic: failed with status $?)"
done
