#!/bin/sh
# Checks that every option of the fragment ended up as asked and every option of the off-list is
# off in a kernel .config: Kconfig silently drops options whose dependencies are missing.
# usage: check-config.sh FRAGMENT OFFLIST CONFIG
set -e
frag=$1 off=$2 cfg=$3 bad=0
for opt in $(grep '^CONFIG_' "$frag"); do
  grep -qx "$opt" "$cfg" || { echo "check-config: $opt asked for, .config has: $(grep "^${opt%%=*}[= ]" "$cfg" || echo "${opt%%=*} not set")"; bad=1; }
done
for opt in $(grep '^CONFIG_' "$off"); do
  if grep -q "^$opt=" "$cfg"; then echo "check-config: $opt should be off"; bad=1; fi
done
exit $bad
