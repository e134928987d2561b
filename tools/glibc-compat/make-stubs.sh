#!/usr/bin/env bash
# Builds link-time stand-ins for libdl.so.2, libpthread.so.0 and librt.so.1 so that a shared library
# linked against them binds the functions glibc 2.34 moved into libc.so.6 (dlopen, pthread_create,
# sem_init, shm_open, ...) at their old versions, as a library built on the older glibc would:
# dlopen@GLIBC_2.2.5 from libdl.so.2 instead of dlopen@GLIBC_2.34 from libc.so.6.
#
# Usage: make-stubs.sh OUTDIR [FLOOR]   (FLOOR: the oldest glibc to load on, default 2.27)
# then link with -LOUTDIR -ldl -lpthread -lrt. The stubs are only read by the linker; at run time the
# real libraries answer (glibc >= 2.34 keeps the old versions in libc.so.6 and the three library
# names as empty stand-ins). Which functions, and their old versions, are read from the libc.so.6 of
# the compiler ($CC, default gcc): every function whose default version is newer than FLOOR and
# that still carries a version at or below FLOOR. On a glibc older than 2.34 nothing is generated
# and the system's own libraries are linked. tools/glibc-compat/check-floor.sh checks the result.
set -euo pipefail
out=${1:?usage: make-stubs.sh OUTDIR [FLOOR]}
floor=${2:-2.27}
cc=${CC:-gcc}
rm -rf "$out"
mkdir -p "$out"

libc=$("$cc" -print-file-name=libc.so.6)
if [ ! -f "$libc" ]; then
  echo "glibc-compat: $cc has no libc.so.6; no stubs (linking the system libraries)"
  exit 0
fi

# "family version name" for each function to pin, family one of dl, pthread, rt.
objdump -T "$libc" | awk -v floor="$floor" '
  function vle(a, b,   x, y, i) {  # version a <= version b
    split(a, x, "."); split(b, y, ".")
    for (i = 1; i <= 3; i++) { if (x[i] + 0 < y[i] + 0) return 1; if (x[i] + 0 > y[i] + 0) return 0 }
    return 1
  }
  $3 == "DF" || $2 == "DF" {
    for (i = 1; i <= NF; i++) if ($i ~ /^\(?GLIBC_[0-9.]+\)?$/) {
      v = $i; hidden = (v ~ /^\(/); gsub(/[()]/, "", v); sub(/^GLIBC_/, "", v); n = $NF
      if (!hidden) def[n] = v
      else if (vle(v, floor) && (!(n in old) || vle(old[n], v))) old[n] = v
    }
  }
  END {
    for (n in def) {
      if (vle(def[n], floor) || !(n in old)) continue
      if (n ~ /^dl/) f = "dl"
      else if (n ~ /^(pthread_|__pthread_|_pthread_|sem_)/) f = "pthread"
      else if (n ~ /^(shm_|mq_|__mq_|aio_|aio64_|lio_|timer_)/) f = "rt"
      else continue
      print f, old[n], n
    }
  }' | sort > "$out/symbols.txt"

soname() { case $1 in dl) echo libdl.so.2 ;; pthread) echo libpthread.so.0 ;; rt) echo librt.so.1 ;; esac; }
for fam in dl pthread rt; do
  grep "^$fam " "$out/symbols.txt" > "$out/$fam.txt" || { rm -f "$out/$fam.txt"; continue; }
  awk '{ print "void " $3 "(void) {}" }' "$out/$fam.txt" > "$out/$fam.c"
  awk '{ names[$2] = names[$2] " " $3 ";" }
       END { first = 1; for (v in names) { printf "GLIBC_%s {\n  global:%s\n", v, names[v];
                                           if (first) { print "  local: *;"; first = 0 } print "};" } }' \
    "$out/$fam.txt" > "$out/$fam.map"
  "$cc" -shared -fPIC -nostdlib -fno-builtin -o "$out/lib$fam.so" "$out/$fam.c" \
    -Wl,--version-script="$out/$fam.map" -Wl,-soname,"$(soname $fam)"
done
echo "glibc-compat: $(wc -l < "$out/symbols.txt") functions pinned at or below GLIBC_$floor in $out"
