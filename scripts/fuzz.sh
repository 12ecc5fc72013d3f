#!/bin/sh
# fuzz.sh BUILD SECONDS TARGET...: runs each libFuzzer target BUILD/fuzz_TARGET for SECONDS (or
# until FUZZ_RUNS executions, if set) from its corpus spec/fuzz/corpus/TARGET (new inputs go to
# BUILD/corpus/TARGET, not into the committed seeds), one after the other, and ends with a table of
# executions, their rate, coverage (libFuzzer's cov edges and ft features) and the result per
# target. A crash, sanitizer report, leak or timeout stops that target with the input libFuzzer
# saved (BUILD/crash-TARGET-*): turn it into a C test (docs/fuzzing.md).
B=$1; S=$2; shift 2
status=0
runs=${FUZZ_RUNS:+-runs=$FUZZ_RUNS}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
for t in "$@"; do
  seeds=spec/fuzz/corpus/$t
  work=$B/corpus/$t
  mkdir -p "$work" "$seeds"
  log=$B/fuzz_$t.log
  # opts: an input uses at most 16 options and 16 monitor lines, which 1 KiB holds; left to grow
  # (to 2.6 KB in long runs), inputs over 600 bytes took 7.7 ms each against 2 ms under 300
  extra=
  [ "$t" = opts ] && extra=-max_len=1024
  echo "fuzz: $t (${S} s${FUZZ_RUNS:+ or $FUZZ_RUNS executions}; log $log)"
  # -rss_limit_mb: a device model must not need more than this for any input
  if env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$B/fuzz_$t" -max_total_time="$S" $runs -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 $extra \
      -artifact_prefix="$B/crash-$t-" "$work" "$seeds" >"$log" 2>&1 </dev/null; then
    result=ok
  else
    rc=$?
    # 72: libFuzzer's exit when SIGINT or SIGTERM stopped it (its statistics are still printed)
    if [ "$rc" = 72 ]; then result="stopped by a signal"; else result="FINDING (see $log)"; fi
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result" >>"$table"
done
printf '%-16s %12s %10s %8s %8s  %s\n' target executions exec/s cov ft result
cat "$table"
exit $status
