#!/usr/bin/env bash
# Copies what bench/gpu/run_h200.sh needs into DEST (default /work/main/.gpuwork), for a device
# machine that receives only that folder: the C++/CUDA sources, the harness, and the Java bundle
# (a jlinked JRE as jre.tgz, javacpp.jar, the libnd4j-ops jar built by Maven, the compiled check).
# Run from the repository root after `mvn -o package -pl libnd4j-ops -DskipTests` (without the jar it
# stages the sources only, and the Java check is skipped). Then, on the device:
#   cd DEST/src && OUT=$OUT JAVA_DIR=$PWD/../java bash bench/gpu/run_h200.sh
set -euo pipefail
DEST=${1:-/work/main/.gpuwork}
JCP=${JAVACPP_JAR:-$HOME/.m2/repository/org/bytedeco/javacpp/1.5.7/javacpp-1.5.7.jar}
rm -rf "$DEST/src" "$DEST/java/classes"
mkdir -p "$DEST/src" "$DEST/java/classes"
cp -r --parents libnd4j-ops/src/main/cpp libnd4j-ops/src/test/cpp bench/gpu "$DEST/src/"
if ! ls libnd4j-ops/target/libnd4j-ops-*.jar >/dev/null 2>&1; then
  # No jar built: the device runs the C++/CUDA harness only (run_h200.sh reports the Java check SKIPPED).
  echo "stage_gpuwork: no libnd4j-ops jar (mvn -o package -pl libnd4j-ops -DskipTests): sources only" >&2
  du -sh "$DEST"
  exit 0
fi
if [ ! -f "$DEST/java/jre.tgz" ]; then
  T=$(mktemp -d)
  jlink --add-modules java.base,jdk.unsupported,java.logging --strip-debug --no-header-files --no-man-pages \
        --compress=2 --output "$T/jre"
  tar czf "$DEST/java/jre.tgz" -C "$T" jre
  rm -rf "$T"
fi
cp "$JCP" "$DEST/java/javacpp.jar"
cp libnd4j-ops/target/libnd4j-ops-*.jar "$DEST/java/libnd4j-ops.jar"
javac -d "$DEST/java/classes" -cp "$DEST/java/javacpp.jar:$DEST/java/libnd4j-ops.jar" bench/gpu/java/SwrCudaCheck.java
du -sh "$DEST"
