#!/usr/bin/env bash
# Each kernel set's object files (core/src/ops/isa/*.cpp, compiled once per instruction set) must
# define symbols only inside the set's own namespace, kserde::ops::kernels_<set>. A weak or global
# symbol outside it (an instantiated std:: template, an inline function from a shared header)
# would be merged by the linker with the other sets' copies, and a copy compiled for AVX-512 could
# then run on a CPU without it.
#   kernel_symbols_test.sh NM SET 'OBJ|OBJ|...' [SET 'OBJ|...']...
set -euo pipefail
nm_tool="$1"
shift
status=0
checked=0
while [ $# -ge 2 ]; do
  set_name="$1"
  IFS='|' read -r -a objects <<<"$2"
  shift 2
  for obj in "${objects[@]}"; do
    [ -n "$obj" ] || continue
    checked=$((checked + 1))
    # Defined symbols that other objects can see: global (upper case) or weak/unique (W V u).
    while read -r _addr type name; do
      case "$type" in
        [A-Z] | u)
          case "$name" in
            "kserde::ops::kernels_${set_name}::"*) ;;
            *)
              echo "FAIL: $(basename "$obj") ($set_name) defines '$name' (type $type) outside kserde::ops::kernels_${set_name}"
              status=1
              ;;
          esac
          ;;
      esac
    done < <("$nm_tool" -C --defined-only "$obj")
  done
done
if [ "$checked" -eq 0 ]; then
  echo "FAIL: no kernel object files were given"
  exit 1
fi
echo "checked $checked kernel object files"
exit $status
