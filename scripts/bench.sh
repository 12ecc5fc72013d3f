#!/bin/sh
# bench.sh BUILD: runs every benchmark under scripts/bench/ (*.lua through build/lemu, *.sh with sh)
# and prints their reports. Benchmarks report figures, and ratios against QEMU where it does the
# same job; they never fail on speed.
B=${1:-build}
found=0
for b in scripts/bench/*.lua scripts/bench/*.sh; do
  [ -e "$b" ] || continue
  found=1
  echo "== $(basename "$b")"
  case "$b" in
    *.lua) LEMU_BUILD=$B "$B/lemu" "$b" ;;
    *.sh) LEMU_BUILD=$B sh "$b" ;;
  esac || echo "   (benchmark failed with status $?)"
done
[ "$found" -eq 1 ] || echo "no benchmarks yet"
