#!/bin/sh
# workers.sh: labs that use every core (docs/time.md, "Workers"). N = 1, 4, 8, 16 guests of the
# default image on one VLAN with user-net on the virtual clock, each taking a lease and running the
# same compute load (scripts/bench/workers_lab.lua), with -workers 1 and with one worker per host
# processor; against N qemu-system-riscv64 processes doing the same (scripts/bench/workers_qemu.lua,
# each on its own user-net). Whole-process wall time (median of RUNS, default 3, interleaved) and
# peak memory (lemu's process; the sum of QEMU's). WORKERS_N sets the guest counts, LOOPS the load.
B=${LEMU_BUILD:-build}
RUNS=${RUNS:-3}
LOOPS=${LOOPS:-20000}
NS=${WORKERS_N:-1 4 8 16}
CORES=$(nproc)
[ -f guest/images/Image.gz ] || { echo "   no guest/images: skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# timed NAME CMD...: one run; wall seconds and peak KB appended to $tmp/NAME.{wall,kb}.
timed() {
  name=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/time" timeout -k 5 900 "$@" </dev/null >"$tmp/out" 2>&1 ||
    { echo "   workers: $name failed: $(tail -3 "$tmp/out")"; return 1; }
  awk '{ print $1 }' "$tmp/time" >>"$tmp/$name.wall"
  kb=$(awk '/peak RSS summed/ { print $(NF - 1) }' "$tmp/out")
  [ -n "$kb" ] || kb=$(awk '{ print $2 }' "$tmp/time")
  echo "$kb" >>"$tmp/$name.kb"
}
have_qemu=0
command -v qemu-system-riscv64 >/dev/null && have_qemu=1
echo "   host: $CORES processors, load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs, loop $LOOPS"
printf "   %3s  %12s  %12s  %8s  %12s  %9s  %9s  %9s\n" N "lemu 1 wkr" "lemu $CORES wkr" "ratio" "qemu procs" "vs qemu" "lemu MB" "qemu MB"
for n in $NS; do
  i=0
  while [ $i -lt "$RUNS" ]; do
    timed w1_$n "$B/lemu" -workers 1 scripts/bench/workers_lab.lua "$n" "$LOOPS" || exit 0
    timed wn_$n "$B/lemu" -workers "$CORES" scripts/bench/workers_lab.lua "$n" "$LOOPS" || exit 0
    [ $have_qemu = 1 ] && { timed q_$n "$B/lemu" scripts/bench/workers_qemu.lua "$n" "$LOOPS" || exit 0; }
    i=$((i + 1))
  done
  a=$(median <"$tmp/w1_$n.wall"); b=$(median <"$tmp/wn_$n.wall")
  mb=$(median <"$tmp/wn_$n.kb" | awk '{ printf "%.0f", $1 / 1024 }')
  if [ $have_qemu = 1 ]; then
    q=$(median <"$tmp/q_$n.wall"); qmb=$(median <"$tmp/q_$n.kb" | awk '{ printf "%.0f", $1 / 1024 }')
  else q=""; qmb=""; fi
  awk -v n="$n" -v a="$a" -v b="$b" -v q="$q" -v mb="$mb" -v qmb="$qmb" 'BEGIN {
    printf "   %3d  %10.2f s  %10.2f s  %7.2fx  ", n, a, b, b / a
    if (q != "") printf "%10.2f s  %8.2fx  %9s  %9s\n", q, b / q, mb, qmb; else printf "%12s  %9s  %9s  %9s\n", "-", "-", mb, "-" }'
done
echo "   (ratio: lemu with $CORES workers / lemu with 1; vs qemu: lemu with $CORES workers / N QEMU processes)"
echo "   host load after: $(cut -d' ' -f1-3 /proc/loadavg)"
