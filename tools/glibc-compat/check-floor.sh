#!/usr/bin/env bash
# Fails when a shared library needs a newer runtime than the oldest Linux we support has, read from
# its ELF version needs (what the dynamic loader checks before running anything) and its NEEDED list.
# Floors: glibc 2.27 (ND4J's libnd4jcpu; Ubuntu 18.04, Debian 10, RHEL 8), libstdc++ GLIBCXX_3.4.22 /
# CXXABI_1.3.10 and libgcc_s GCC_7.0.0 (GCC 6/7 runtimes; libnd4jcpu needs GLIBCXX_3.4.22),
# libgomp GOMP_4.5 / OMP_4.5 (GCC 7; nd4j-native ships its libgomp, GCC 7.5). Override one with
# e.g. FLOOR_GLIBC=2.28.
# Usage: check-floor.sh LIB.so...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: check-floor.sh LIB.so..." >&2; exit 2; }
declare -A floor=([GLIBC]=${FLOOR_GLIBC:-2.27} [GLIBCXX]=${FLOOR_GLIBCXX:-3.4.22} [CXXABI]=${FLOOR_CXXABI:-1.3.10}
                  [GCC]=${FLOOR_GCC:-7.0.0} [GOMP]=${FLOOR_GOMP:-4.5} [OMP]=${FLOOR_OMP:-4.5})
# Libraries every supported system has (glibc's, GCC's runtimes, and the libgomp nd4j-native ships).
allowed_needed=" libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 ld-linux-x86-64.so.2 libstdc++.so.6 libgcc_s.so.1 libgomp.so.1 "

newer() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]; }  # $1 > $2
status=0
for lib in "$@"; do
  [ -f "$lib" ] || { echo "FAIL $lib: no such file"; status=1; continue; }
  declare -A top=()
  while read -r name; do  # every version the library needs, e.g. GLIBC_2.14
    fam=${name%_*}; ver=${name##*_}
    [ -n "${floor[$fam]:-}" ] || continue
    if [ -z "${top[$fam]:-}" ] || newer "$ver" "${top[$fam]}"; then top[$fam]=$ver; fi
  done < <(readelf -V -W "$lib" | sed -n '/Version needs section/,$p' | awk '$2 == "Name:" { print $3 }')
  summary=""
  for fam in GLIBC GLIBCXX CXXABI GCC GOMP OMP; do
    [ -n "${top[$fam]:-}" ] || continue
    summary+=" ${fam}_${top[$fam]}"
    if newer "${top[$fam]}" "${floor[$fam]}"; then
      echo "FAIL $lib needs ${fam}_${top[$fam]}, above the floor ${fam}_${floor[$fam]}; from:"
      objdump -T "$lib" | awk -v f="$fam" '
        { for (i = 1; i <= NF; i++) if ($i ~ "^\\(?" f "_[0-9.]+\\)?$") { v = $i; gsub(/[()]/, "", v); print v, $NF } }' \
        | sort -u | while read -r v sym; do if newer "${v##*_}" "${floor[$fam]}"; then echo "    $sym@$v"; fi; done
      status=1
    fi
  done
  for needed in $(readelf -d -W "$lib" | awk '/\(NEEDED\)/ { gsub(/[\[\]]/, "", $NF); print $NF }'); do
    case "$allowed_needed" in
      *" $needed "*) ;;
      *) echo "FAIL $lib needs $needed, which the supported systems do not all have"; status=1 ;;
    esac
  done
  echo "$lib needs:$summary"
  unset top
done
[ $status -eq 0 ] && echo "glibc floor: OK (GLIBC <= ${floor[GLIBC]}, GLIBCXX <= ${floor[GLIBCXX]}, CXXABI <= ${floor[CXXABI]})"
exit $status
