#!/bin/sh
# cpu.sh: guest MIPS of lemu's CPU on a CoreMark-like compute kernel (guest/isa/bench.c, bare
# metal, ~0.5 G instructions): `lemu -M virt -bios none -kernel` against the same command line
# of qemu-system-riscv64, as whole-process wall and CPU time ratios (best of 3 each; the machine
# may be shared, so best-of is the fairest figure). The instruction count and the interpreter's
# own speed come from the CPU test harness (spec/c/cpu_harness.c) built as $B/cpu_run, which is
# also the lemu side if this build has no virt machine yet.
B=${LEMU_BUILD:-build}
ELF=guest/isa/bin/bench.elf
LIBS="$(pkg-config --libs libuv zlib 2>/dev/null) -lslirp -lfdt -lvdeplug -lm"
cc -O2 -Icore -Ispec/c -o "$B/cpu_run" scripts/bench/cpu_run.c spec/c/cpu_harness.c \
  "$B/liblemu.a" $LIBS || { echo "cpu: cannot build $B/cpu_run"; exit 1; }
now() { date +%s.%N; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# CPU seconds (user + sys) used so far by this shell's finished children.
# (times runs in this shell, not in a command substitution, so it sees our children.)
tms=$(mktemp)
trap 'rm -f "$tmp" "$tms"' EXIT
cputime() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$tms"; }
# best() runs "$@" 3 times; sets $wall and $cpu to the best wall and CPU times (output of the
# last run kept in $tmp).
best() {
  wall=""
  cpu=""
  for i in 1 2 3; do
    times >"$tms"
    c0=$(cputime)
    t0=$(now)
    "$@" >"$tmp" 2>&1 || { echo "cpu: failed: $*: $(cat "$tmp")" >&2; return 1; }
    t1=$(now)
    times >"$tms"
    c1=$(cputime)
    wall=$(echo "$t0 $t1 $wall" | awk '{ t = $2 - $1; if ($3 == "" || t < $3) print t; else print $3 }')
    cpu=$(echo "$c0 $c1 $cpu" | awk '{ t = $2 - $1; if ($3 == "" || t < $3) print t; else print $3 }')
  done
}
"$B/cpu_run" "$ELF" >"$tmp" 2>&1 || { echo "cpu: $B/cpu_run failed: $(cat "$tmp")"; exit 1; }
insns=$(awk '/^instructions/ { print $2 }' "$tmp")
cpumips=$(awk '/^instructions/ { print $6 }' "$tmp")
sum=$(awk '/checksum/ { print $3 }' "$tmp")
# Engines: the interpreter, and the block translator where this host has one (x86-64).
engines="interp"
"$B/lemu" -accel jit -M virt -m 128M -bios none -nographic -kernel "$ELF" </dev/null >/dev/null 2>&1 &&
  engines="interp jit"
qt=""
if command -v qemu-system-riscv64 >/dev/null; then
  best qemu-system-riscv64 -M virt -m 128M -bios none -nographic -kernel "$ELF" </dev/null || exit 1
  qt=$wall
  qc=$cpu
  qsum=$(awk '/checksum/ { print $3 }' "$tmp")
  [ "$qsum" = "$sum" ] || echo "   WARNING: checksums differ (lemu $sum, qemu $qsum)"
  echo "   qemu-system-riscv64 -M virt -bios none: whole process $qt s wall, $qc s CPU," \
    "$(awk -v n="$insns" -v t="$qt" 'BEGIN { printf "%.0f", n / t / 1e6 }') MIPS"
else
  echo "   qemu-system-riscv64 not installed (qemu-system-misc): no ratios"
fi
for eng in $engines; do
  best "$B/lemu" -accel $eng -M virt -m 128M -bios none -nographic -kernel "$ELF" </dev/null || exit 1
  lt=$wall
  lc=$cpu
  lsum=$(awk '/checksum/ { print $3 }' "$tmp")
  [ "$lsum" = "$sum" ] || echo "   WARNING: checksums differ (harness $sum, lemu -accel $eng $lsum)"
  echo "   lemu -accel $eng -M virt -bios none: $insns instructions, whole process $lt s wall, $lc s CPU," \
    "$(awk -v n="$insns" -v t="$lt" 'BEGIN { printf "%.0f", n / t / 1e6 }') MIPS, checksum $lsum"
  [ -n "$qt" ] && awk -v e="$eng" -v l="$lt" -v q="$qt" -v lc="$lc" -v qc="$qc" 'BEGIN {
    printf "   ratio lemu -accel %s / qemu compute time: %.2fx wall, %.2fx CPU (speed %.2fx QEMU'"'"'s)\n",
      e, l / q, lc / qc, q / l }'
done
echo "   (interpreter alone in the CPU harness: $cpumips MIPS of CPU time)"
[ -n "$qt" ] || exit 0

# Boot workload: Debian's OpenSBI (fw_dynamic) boots and hands over to the board's S-mode test
# payload, which prints over SBI and powers off — the same command line on both.
FW=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
PAYLOAD=guest/board/payload.elf
if [ ! -f "$FW" ] || [ ! -f "$PAYLOAD" ] || [ ! -x "$B/lemu" ]; then
  echo "   boot: needs $FW (opensbi), $PAYLOAD and the virt machine: skipped"
  exit 0
fi
best qemu-system-riscv64 -M virt -m 128M -nographic -bios "$FW" -kernel "$PAYLOAD" </dev/null || exit 1
qt=$wall; qc=$cpu
for eng in $engines; do
  best "$B/lemu" -accel $eng -M virt -m 128M -nographic -bios "$FW" -kernel "$PAYLOAD" </dev/null || exit 1
  echo "   boot (OpenSBI + payload, power-off): lemu -accel $eng $wall s wall, $cpu s CPU; qemu $qt s wall, $qc s CPU"
  awk -v e="$eng" -v l="$wall" -v q="$qt" -v lc="$cpu" -v qc="$qc" 'BEGIN {
    printf "   ratio lemu -accel %s / qemu boot: %.2fx wall, %.2fx CPU\n", e, l / q, (qc > 0 ? lc / qc : 0) }'
done

# Linux boot: the project's guest (guest/images from the guest branch) from power-on to its shell
# prompt ("lemu-guest: ready"), through Debian's OpenSBI on both, best of 3.
IMG=guest/images/Image.gz
INITRD=guest/images/initramfs.cpio.gz
if [ ! -f "$IMG" ] || [ ! -f "$INITRD" ]; then
  echo "   linux boot: needs $IMG and $INITRD (guest branch): skipped"
  exit 0
fi
raw=$(mktemp)
trap 'rm -f "$tmp" "$tms" "$raw"' EXIT
gzip -dc "$IMG" >"$raw"    # QEMU 7.2 does not load a gzip'd Image; give both the same raw one
ready() {   # seconds from start to the guest's shell prompt; the emulator is then stopped by pid
  log=$(mktemp)
  t0=$(now)
  "$@" </dev/null >"$log" 2>&1 &
  pid=$!
  n=0
  while ! grep -q "lemu-guest: ready" "$log" && kill -0 $pid 2>/dev/null && [ $n -lt 3000 ]; do
    sleep 0.02
    n=$((n + 1))
  done
  t1=$(now)
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  if grep -q "lemu-guest: ready" "$log"; then echo "$t0 $t1" | awk '{ print $2 - $1 }'; else echo 999; fi
  rm -f "$log"
}
bestready() {
  b=999
  for i in 1 2 3; do
    t=$(ready "$@")
    b=$(echo "$t $b" | awk '{ print ($1 < $2) ? $1 : $2 }')
  done
  echo "$b"
}
args="-M virt -m 256M -nographic -bios $FW -kernel $raw -initrd $INITRD -append console=ttyS0"
qt=$(bestready qemu-system-riscv64 $args)
for eng in $engines; do
  lt=$(bestready "$B/lemu" -accel $eng $args)
  echo "   linux boot to the shell prompt (OpenSBI, 256M): lemu -accel $eng $lt s, qemu $qt s"
  awk -v e="$eng" -v l="$lt" -v q="$qt" 'BEGIN { printf "   ratio lemu -accel %s / qemu linux boot: %.2fx\n", e, l / q }'
done
