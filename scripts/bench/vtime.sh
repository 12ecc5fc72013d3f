#!/bin/sh
# vtime.sh: what the virtual clock (-icount, docs/time.md) costs and saves, against the real clock.
#  - compute: the CoreMark-like kernel (guest/isa/bin/bench.elf, bare metal, no idle time) with
#    and without `-icount shift=0,sleep=off`: whole-process wall and CPU time, medians of runs
#    interleaved real/virtual, and host instructions counted by cachegrind (one run each: the count
#    does not depend on the host's load; VTIME_CACHEGRIND=0 skips it).
#  - boot to a DHCP lease of the default guest on a restricted user-net: real clock, virtual with
#    sleep=on (idle time passes at the host's pace) and sleep=off (idle time is skipped).
# RUNS (default 5) runs of each; the host's load average is printed with the figures.
B=${LEMU_BUILD:-build}
RUNS=${RUNS:-5}
ELF=guest/isa/bin/bench.elf
LEMU=$B/lemu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# CPU seconds (user + sys) of this shell's finished children, from the last `times >"$tmp/t"`
# (times must run in this shell, not in a command substitution, to see our children).
cputime() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$tmp/t"; }
# run NAME CMD...: one timed run, appended to $tmp/NAME.wall and $tmp/NAME.cpu.
run() {
  name=$1; shift
  times >"$tmp/t"; c0=$(cputime); t0=$(now)
  timeout -k 5 300 "$@" </dev/null >"$tmp/out" 2>&1 || { echo "   vtime: $name failed: $(tail -3 "$tmp/out")"; return 1; }
  t1=$(now); times >"$tmp/t"; c1=$(cputime)
  echo "$t0 $t1" | awk '{ print $2 - $1 }' >>"$tmp/$name.wall"
  echo "$c0 $c1" | awk '{ print $2 - $1 }' >>"$tmp/$name.cpu"
}
med() { median <"$tmp/$1.$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "   host load before: $(load); $RUNS runs of each, interleaved"
real="$LEMU -M virt -m 128M -bios none -nographic -kernel $ELF"
virt="$LEMU -icount shift=0,sleep=off -M virt -m 128M -bios none -nographic -kernel $ELF"
i=0
while [ $i -lt "$RUNS" ]; do
  run creal $real || exit 0
  run cvirt $virt || exit 0
  i=$((i + 1))
done
echo "   compute, real clock:    median $(med creal wall) s wall, $(med creal cpu) s CPU"
echo "   compute, virtual clock: median $(med cvirt wall) s wall, $(med cvirt cpu) s CPU"
echo "   compute, virtual/real:  $(ratio "$(med cvirt wall)" "$(med creal wall)") wall," \
  "$(ratio "$(med cvirt cpu)" "$(med creal cpu)") CPU (goal: at most 1.10)"
if [ "${VTIME_CACHEGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
  for mode in real virt; do
    eval "cmd=\$$mode"
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null $cmd \
      </dev/null >"$tmp/cg.$mode" 2>&1
    awk '/I *refs:/ { gsub(/,/, "", $4); print $4 }' "$tmp/cg.$mode" >"$tmp/ir.$mode"
  done
  ir_r=$(cat "$tmp/ir.real"); ir_v=$(cat "$tmp/ir.virt")
  if [ -n "$ir_r" ] && [ -n "$ir_v" ]; then
    echo "   compute, host instructions (cachegrind): real $ir_r, virtual $ir_v," \
      "virtual/real $(ratio "$ir_v" "$ir_r")"
  fi
fi

if [ ! -f guest/images/Image.gz ]; then echo "   no guest/images: no boot-to-lease figures"; exit 0; fi
cat >"$tmp/lease.lua" <<'EOF'
local mode = arg[1]
if mode ~= "real" then lemu.clock { mode = "virtual", shift = 0, sleep = mode == "sleep", seed = 1 } end
local v = lemu.vlan("lan")
v:user { restrict = true }
local m = lemu.machine { ram = "256M", kernel = "guest/images/Image.gz", initrd = "guest/images/initramfs.cpio.gz",
                         append = "console=ttyS0", start = false }
m:nic { vlan = v }
m:start()
m.console:expect("# ", { timeout = 60000 })
local _, st = m.console:run("udhcpc -i eth0 -q -n -t 5 -T 1", { timeout = 30000 })
assert(st == 0, "no lease")
print(("lease at %.1f ms of guest time"):format(lemu.now()))
lemu.closeall()
EOF
i=0
while [ $i -lt "$RUNS" ]; do
  run lreal "$LEMU" "$tmp/lease.lua" real || exit 0
  run lsleep "$LEMU" "$tmp/lease.lua" sleep || exit 0
  run lskip "$LEMU" "$tmp/lease.lua" skip || exit 0
  i=$((i + 1))
done
echo "   boot to lease, real clock:              median $(med lreal wall) s wall, $(med lreal cpu) s CPU"
echo "   boot to lease, virtual clock sleep=on:  median $(med lsleep wall) s wall, $(med lsleep cpu) s CPU," \
  "$(ratio "$(med lsleep wall)" "$(med lreal wall)") of real"
echo "   boot to lease, virtual clock sleep=off: median $(med lskip wall) s wall, $(med lskip cpu) s CPU," \
  "$(ratio "$(med lskip wall)" "$(med lreal wall)") of real ($(cat "$tmp/out"))"
echo "   host load after: $(load)"
