#!/bin/sh
# test.sh BUILD: runs the C unit tests and the busted specs against BUILD, prints their TAP lines,
# and ends with "N passed, N failed". Skipped specs (missing root, tun, ...) are counted apart.
B=${1:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"$B/ctest" >"$out" 2>&1 || status=1
cat "$out"
plan_c=$(grep -c '^1\.\.' "$out")
cp "$out" "$out.all"
# Under ASan the stock lua5.4 that loads the module needs the runtime preloaded; leaks are checked in
# the C tests and in every run of the (fully instrumented) host program, not in busted's interpreter.
preload=""
if nm "$B/lemu.so" 2>/dev/null | grep -q __asan_init; then
  preload="LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0"
  export LEMU_ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
fi
# Under TSan the runtime cannot be preloaded (it crashes the shells the specs start), so busted
# runs inside the instrumented host program (`lemu test`); a race report makes the process that
# saw it exit with 66.
tsan=0
nm "$B/lemu.so" 2>/dev/null | grep -q __tsan_init && tsan=1
specs() {
  if [ $tsan = 1 ]; then env LEMU_BUILD="$B" "$B/lemu" test spec -o TAP
  else env $preload LEMU_BUILD="$B" LUA_CPATH="$B/?.so;;" lua5.4 /usr/bin/busted --no-auto-insulate \
         --lpath="spec/?.lua" -o TAP spec
  fi
}
# Every user-mode network in the suite answers DNS from its local table: nothing leaves the machine.
export LEMU_DNS_LOCAL=1
# busted with the module just built; LEMU_BUILD lets specs find build/lemu. Files are not insulated:
# lemu binds to the Lua state once, so every spec file shares the one module.
# Its lines are shown as they come (a long run is not silent) and kept for the count below.
{ specs 2>&1 || echo "::busted-failed" ; } | tee "$out"
grep -q '^::busted-failed$' "$out" && status=1
cat "$out" >>"$out.all"
plans=$(grep -c '^1\.\.' "$out.all")
passed=$(grep -E '^ok [0-9]+' "$out.all" | grep -vc '# SKIP')
skipped=$(grep -E '^ok [0-9]+' "$out.all" | grep -c '# SKIP')
failed=$(grep -cE '^not ok [0-9]+' "$out.all")
rm -f "$out.all"
if [ "$plans" -lt 2 ] || [ "$plan_c" -lt 1 ]; then
  echo "# a test runner crashed before finishing (see above)"
  failed=$((failed + 1))
fi
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
[ "$skipped" -gt 0 ] && echo "# $skipped skipped (see the SKIP lines above for why)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
