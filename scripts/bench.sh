#!/bin/sh
# bench.sh BUILD: runs every benchmark under scripts/bench/ and prints their reports. Benchmarks
# report figures and ratios against QEMU where it does the same job; they never fail on speed.
B=${1:-build}
found=0
for b in scripts/bench/*.lua; do
  [ -e "$b" ] || continue
  found=1
  echo "== $(basename "$b" .lua)"
  LEMU_BUILD=$B "$B/lemu" "$b" || echo "   (benchmark failed with status $?)"
done
[ "$found" -eq 1 ] || echo "no benchmarks yet"
