#!/bin/sh
# fuzz.sh BUILD SECONDS TARGET...: runs each libFuzzer target BUILD/fuzz_TARGET for SECONDS from its
# corpus spec/fuzz/corpus/TARGET (new inputs go to BUILD/corpus/TARGET, not into the committed
# seeds) and prints executions and coverage per target. A crash, sanitizer report, leak or timeout
# stops with the input libFuzzer saved (BUILD/crash-*): turn it into a C test (docs/fuzzing.md).
B=$1; S=$2; shift 2
status=0
printf '%-16s %12s %10s %8s %8s  %s\n' target executions exec/s cov ft result
for t in "$@"; do
  seeds=spec/fuzz/corpus/$t
  work=$B/corpus/$t
  mkdir -p "$work" "$seeds"
  log=$B/fuzz_$t.log
  # -rss_limit_mb: a device model must not need more than this for any input
  if env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$B/fuzz_$t" -max_total_time="$S" -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
      -artifact_prefix="$B/crash-$t-" "$work" "$seeds" >"$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
