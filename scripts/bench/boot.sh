#!/bin/sh
# boot.sh: whole-process time to boot the virt board to a powered-off guest — Debian's OpenSBI
# handing over to guest/board/payload.elf — on lemu and on qemu-system-riscv64 with the same
# command line (best of 3 wall-clock runs), plus lemu's built-in SBI on the same payload.
B=${LEMU_BUILD:-build}
FW=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
P=guest/board/payload.elf
now() { date +%s.%N; }
best() {
  b=""
  for i in 1 2 3; do
    t0=$(now)
    "$@" </dev/null >/dev/null 2>&1 || { echo "boot: failed: $*" >&2; return 1; }
    t1=$(now)
    b=$(echo "$t0 $t1 $b" | awk '{ t = $2 - $1; if ($3 == "" || t < $3) print t; else print $3 }')
  done
  echo "$b"
}
[ -r "$FW" ] || { echo "boot: Debian's opensbi is not installed"; exit 0; }
l=$(best "$B/lemu" -M virt -m 256M -nographic -bios "$FW" -kernel "$P") || exit 1
s=$(best "$B/lemu" -M virt -m 256M -nographic -kernel "$P") || exit 1
printf "  lemu, OpenSBI + payload:        %.3f s\n" "$l"
printf "  lemu, built-in SBI + payload:   %.3f s\n" "$s"
if command -v qemu-system-riscv64 >/dev/null; then
  q=$(best qemu-system-riscv64 -M virt -m 256M -nographic -bios "$FW" -kernel "$P") || exit 1
  printf "  qemu, OpenSBI + payload:        %.3f s\n" "$q"
  echo "$l $q" | awk '{ printf "  lemu/qemu (OpenSBI boot):       %.2fx the time\n", $1 / $2 }'
fi
