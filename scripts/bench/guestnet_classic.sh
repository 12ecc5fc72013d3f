#!/bin/sh
# guestnet_classic.sh: guestnet.lua's lease, TCP and ping figures for each classic PCI NIC
# (e1000, rtl8139, ne2k_pci), lemu against qemu-system-riscv64 with the same images and -device.
B=${LEMU_BUILD:-build}
# QEMU's ne2k_pci drops frames when its ring is full (slirp logs "Failed to send packet") and moves
# host -> guest TCP at about 1.3 Mbit/s: 8 MiB would not finish within guestnet.lua's 20 s wait,
# so that model moves 2 MiB each way.
for nic in ${LEMU_BENCH_NICS:-e1000 rtl8139 ne2k_pci}; do
  echo "-- $nic"
  if [ "$nic" = ne2k_pci ]; then mb=2; else mb=""; fi
  LEMU_BENCH_NIC=$nic LEMU_BENCH_H2G_MB=${mb:-${LEMU_BENCH_H2G_MB:-8}} LEMU_BENCH_G2H_MB=${mb:-${LEMU_BENCH_G2H_MB:-4}} \
    "$B/lemu" scripts/bench/guestnet.lua </dev/null || echo "   ($nic: failed with status $?)"
done
