#!/bin/sh
# check-layers.sh [ROOT]: the C folders form a DAG, lowest first:
#   core (runtime, bus, CPU, log) < netstack < devices < board < lua
# A file may include headers of its own folder or of a lower one, never of a higher one. Prints
# each upward include as "file: includes header (folder) from a lower layer (folder)" and exits 1
# if there is any; a header found in no folder (or in two) is an error too.
root=${1:-.}
layers="core netstack devices board lua"
rank() {
  i=0
  for l in $layers; do
    [ "$l" = "$1" ] && { echo $i; return; }
    i=$((i + 1))
  done
  echo -1
}
bad=0
for dir in $layers; do
  [ -d "$root/$dir" ] || continue
  r=$(rank "$dir")
  for f in "$root/$dir"/*.c "$root/$dir"/*.h; do
    [ -e "$f" ] || continue
    for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
      where=""
      for l in $layers; do [ -e "$root/$l/$h" ] && where="$where $l"; done
      set -- $where
      if [ $# -eq 0 ]; then
        # Generated headers (build/gen) and headers beside the file are not layered.
        [ -e "$(dirname "$f")/$h" ] && continue
        case "$h" in luasrc.h) continue ;; esac
        echo "${f#$root/}: includes \"$h\", which is in none of: $layers"
        bad=1
      elif [ $# -gt 1 ]; then
        echo "${f#$root/}: includes \"$h\", which is in more than one folder:$where"
        bad=1
      elif [ "$(rank "$1")" -gt "$r" ]; then
        echo "${f#$root/}: includes \"$h\" ($1) from a lower layer ($dir)"
        bad=1
      fi
    done
  done
done
[ $bad -eq 0 ] && echo "layers: no upward includes ($layers, lowest first)"
exit $bad
