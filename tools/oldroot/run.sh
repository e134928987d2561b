#!/usr/bin/env bash
# Shows the native libraries working on an old Linux, not only by their symbol tables: builds an
# Ubuntu 18.04 root (glibc 2.27, ND4J's own floor; GCC 8's libstdc++; no libgomp installed) with
# its openjdk-17, and runs org.phalanx.portability.PortabilityCheck inside it: SwrCpu loaded before
# ND4J on raw buffers against the float64 reference, then ND4J and Swr, then the CUDA library's
# load, and one OpenMP runtime in the process. Also prints what the old dynamic loader makes of
# each library (ldd). Not part of CI: needs root (debootstrap, chroot), the network (about 90 MB
# from archive.ubuntu.com, once; the root is reused) and ~3 minutes, most of it the Maven build.
#
# Usage: tools/oldroot/run.sh [ROOT]   (default /tmp/phalanx-oldroot-bionic)
# Environment: PHALANX_OLDROOT_MIRROR (default http://archive.ubuntu.com/ubuntu),
#              PHALANX_OLDROOT_SKIP_BUILD=1 to use the modules as last built.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(realpath -m "${1:-/tmp/phalanx-oldroot-bionic}")
mirror=${PHALANX_OLDROOT_MIRROR:-http://archive.ubuntu.com/ubuntu}
[ "$(id -u)" = 0 ] || { echo "oldroot: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "oldroot: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }

if [ ! -x "$root/usr/bin/java" ]; then
  echo "== building an Ubuntu 18.04 root in $root"
  keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
  # Debian hosts have no Ubuntu keyring package; apt inside the root verifies with the root's own.
  if [ -f $keyring ]; then check=(--keyring=$keyring); else check=(--no-check-gpg); fi
  debootstrap --variant=minbase "${check[@]}" bionic "$root" "$mirror" > "$root.debootstrap.log" 2>&1 \
    || { tail -20 "$root.debootstrap.log"; exit 1; }
  printf 'deb %s bionic%s main universe\n' "$mirror" "" "$mirror" -updates "$mirror" -security > "$root/etc/apt/sources.list"
  mount -t proc proc "$root/proc"
  trap 'umount "$root/proc"' EXIT
  chroot "$root" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless \
    > "$root.apt.log" 2>&1 || { tail -20 "$root.apt.log"; exit 1; }
  umount "$root/proc"; trap - EXIT
fi

# The test classpath of dl4j-phalanx (our two modules' classes, ND4J, DL4J), built here; without
# nd4j-cuda's Java API (provided scope, for the CUDA dispatch tests), as in an application on the CPU.
cpfile=dl4j-phalanx/target/oldroot-classpath.txt
if [ "${PHALANX_OLDROOT_SKIP_BUILD:-0}" != 1 ] || [ ! -f "$cpfile" ]; then
  echo "== building the modules (mvn test-compile)"
  JAVA_TOOL_OPTIONS="-Dorg.bytedeco.javacpp.cachedir=$PWD/.jcache" mvn -B -q -pl dl4j-phalanx -am test-compile \
    dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$PWD/$cpfile"
fi
dest=/opt/phalanx
rm -rf "$root$dest"; mkdir -p "$root$dest/lib"
inner=/opt/phalanx/test-classes
cp -r dl4j-phalanx/target/test-classes "$root$inner"
IFS=: read -ra entries <<< "$PWD/dl4j-phalanx/target/classes:$(cat "$cpfile")"
for e in "${entries[@]}"; do
  case "$e" in
    */nd4j-cuda-*) continue ;;
    */target/classes) name=$dest/$(basename "$(dirname "$(dirname "$e")")")-classes ;;  # a reactor module
    *) name=$dest/lib/$(basename "$e") ;;
  esac
  cp -r "$e" "$root$name"; inner+=:$name
done
libs=$root$dest/libnd4j-ops-classes/org/phalanx/nativeops/linux-x86_64

echo "== inside the root: $(chroot "$root" ldd --version | head -1); libgomp installed: $(chroot "$root" sh -c 'ls /usr/lib/x86_64-linux-gnu/libgomp* /lib/x86_64-linux-gnu/libgomp* 2>/dev/null || echo no')"
for so in "$libs"/*.so; do
  echo "-- ldd $(basename "$so") (libgomp comes from nd4j-native's jar at run time)"
  chroot "$root" ldd "${so#"$root"}" 2>&1 | sed 's/^/   /'
done

echo "== PortabilityCheck inside the root"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
start=$(date +%s)
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root \
  java -Xmx2g -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp-cache -cp "$inner" org.phalanx.portability.PortabilityCheck
echo "== oldroot: OK ($(( $(date +%s) - start )) s inside the root)"
