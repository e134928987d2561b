#!/usr/bin/env bash
# Build, check, sanitize and time the SWR CUDA kernels and the fused Phalanx core on a GPU machine in
# ONE call.
#
#   bash bench/gpu/run_h200.sh [SRC]        (SRC: tree holding libnd4j-ops/ and bench/; default: repo root)
#
# Environment:
#   OUT        folder for the logs (default ./gpu-out); what the device tool brings back
#   JAVA_DIR   folder with jre.tgz (a jlinked JRE: java.base, jdk.unsupported, java.logging),
#              javacpp.jar, libnd4j-ops.jar and classes/SwrCudaCheck.class; the Java check is skipped
#              (and reported so) where it is missing
#   ARCH       nvcc -gencode for the harness (default sm_90)
#   SKIP_FLEX=1 skips the FlexAttention timings; FLEX_TIMEOUT (s, default 420) bounds them
#   SWR_BENCH_DTYPES=bf16,f32 times only those types (default: bf16, f16, f32, f64)
#   BENCH_MODE=quick times the default kernels only (swr_gpu_check quick; default: bench, all variants)
#   SANITIZERS="memcheck racecheck" runs only those compute-sanitizer tools (default: all four)
#   PROFILE=1  also profiles one launch of each default kernel with Nsight Compute (ncu.txt; NCU_ARGS adds
#              arguments, e.g. -k regex:backward)
#   SASS=1     also writes the harness's SASS (cuobjdump) to sass.txt.gz
#   STEP_TIMEOUT=s bounds each check, sanitizer and bench step (default 0: none), e.g. against a hang
#   AB_DEFINES="-DNAME ..." also builds the harness with those macros (a compile-time alternative kept in
#              the source for one experiment) and times it with BENCH_MODE after the main timing, same run:
#              bench_ab.log and a second summary table
# Logs under $OUT: build.log check.log sanitizer.log java.log bench.log flex.log summary.txt.
# The summary table is printed last. Exit status: 0 only if every check passed.
set -u
SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
OUT=${OUT:-$PWD/gpu-out}
ARCH=${ARCH:-arch=compute_90,code=sm_90}
mkdir -p "$OUT"
W=$(mktemp -d)
INC="-I$SRC/libnd4j-ops/src/main/cpp/include -I$SRC/libnd4j-ops/src/main/cpp/cpu -I$SRC/libnd4j-ops/src/test/cpp"
status=0
note() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

{
  date -u; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.limit --format=csv
  nvcc --version | tail -2
  set -x
  g++ -O2 -fopenmp -std=c++14 $INC -c "$SRC/libnd4j-ops/src/main/cpp/cpu/swr_cpu.cpp" -o "$W/swr_cpu.o" &&
  { [ -z "${AB_DEFINES:-}" ] ||
    nvcc -std=c++17 -O3 -gencode=$ARCH $AB_DEFINES -Xcompiler -fopenmp $INC \
         "$SRC/bench/gpu/swr_gpu_check.cu" "$SRC/libnd4j-ops/src/main/cpp/cuda/swr_cuda.cu" "$W/swr_cpu.o" \
         -o "$W/swr_gpu_check_ab" -lgomp > "$W/build_ab.log" 2>&1; } &
  nvcc -std=c++17 -O3 -gencode=$ARCH -Xptxas -v -Xcompiler -Wall,-fopenmp $INC \
       "$SRC/bench/gpu/swr_gpu_check.cu" "$SRC/libnd4j-ops/src/main/cpp/cuda/swr_cuda.cu" "$W/swr_cpu.o" \
       -o "$W/swr_gpu_check" -lgomp
  wait
  [ -f "$W/build_ab.log" ] && cat "$W/build_ab.log"
  set +x
} > "$OUT/build.log" 2>&1
if [ ! -x "$W/swr_gpu_check" ]; then note "BUILD FAILED (build.log)"; tail -30 "$OUT/build.log"; exit 1; fi
note "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader), $(date -u '+%Y-%m-%d %H:%M UTC')"
note "build: ok ($(grep -c 'spill stores' "$OUT/build.log") kernels; spills: $(grep 'spill stores' "$OUT/build.log" | grep -vc ' 0 bytes spill stores'))"

# 1. correctness
t0=$SECONDS
TO="timeout ${STEP_TIMEOUT:-0}"
if $TO "$W/swr_gpu_check" check > "$OUT/check.log" 2>&1; then r=ok; else r=FAILED; status=1; fi
note "check: $r ($(grep '^cases' "$OUT/check.log"), $((SECONDS - t0)) s)"
grep -A6 "^worst errors" "$OUT/check.log" | tee -a "$OUT/summary.txt"
grep -A4 "^core worst errors" "$OUT/check.log" | tee -a "$OUT/summary.txt"
grep -E "^core cases|^core (forward|backward) variant|argument checks" "$OUT/check.log" | tee -a "$OUT/summary.txt"

# 2. compute-sanitizer on small shapes
: > "$OUT/sanitizer.log"
for tool in ${SANITIZERS:-memcheck racecheck initcheck synccheck}; do
  t0=$SECONDS
  $TO compute-sanitizer --tool $tool --error-exitcode 9 "$W/swr_gpu_check" small > "$W/san.log" 2>&1
  rc=$?
  { echo "=== $tool (rc $rc)"; cat "$W/san.log"; } >> "$OUT/sanitizer.log"
  summ=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$W/san.log" | tail -1)
  [ $rc -ne 0 ] && status=1
  note "sanitizer $tool: rc $rc, ${summ:-no summary line} ($((SECONDS - t0)) s)"
done

# 2b. PROFILE=1: Nsight Compute on one launch of each default kernel (swr_gpu_check profile)
if [ "${PROFILE:-0}" = 1 ]; then
  if command -v ncu > /dev/null; then
    $TO ncu --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
        --section MemoryWorkloadAnalysis ${NCU_ARGS:-} "$W/swr_gpu_check" profile > "$OUT/ncu.txt" 2>&1
    note "ncu: rc $? ($(grep -c 'Section: GPU Speed Of Light' "$OUT/ncu.txt") kernels profiled, ncu.txt)"
  else
    note "ncu: not on this machine"
  fi
fi

# 2c. SASS=1: the harness's machine code (sass.txt.gz), for instruction counts
if [ "${SASS:-0}" = 1 ]; then
  cuobjdump -sass "$W/swr_gpu_check" 2> /dev/null | gzip > "$OUT/sass.txt.gz"
  note "sass: $(zcat "$OUT/sass.txt.gz" | grep -c 'Function :') functions (sass.txt.gz)"
fi

# 3. Java through JavaCPP
JAVA_DIR=${JAVA_DIR:-}
if [ -n "$JAVA_DIR" ] && [ -f "$JAVA_DIR/jre.tgz" ]; then
  mkdir -p "$W/jre" && tar xzf "$JAVA_DIR/jre.tgz" -C "$W/jre" --strip-components=1
  CP="$JAVA_DIR/classes:$JAVA_DIR/javacpp.jar:$JAVA_DIR/libnd4j-ops.jar"
  if "$W/jre/bin/java" -Dorg.bytedeco.javacpp.cachedir="$W/jcache" -cp "$CP" SwrCudaCheck > "$OUT/java.log" 2>&1; then
    r=ok; else r=FAILED; status=1; fi
  note "java (JavaCPP SwrCuda vs SwrCpu): $r; $(grep -c ' ok$' "$OUT/java.log") cases ok"
else
  note "java: SKIPPED (no JAVA_DIR with jre.tgz)"
fi

# 4. timing
$TO "$W/swr_gpu_check" "${BENCH_MODE:-bench}" > "$OUT/bench.log" 2>&1 || status=1
if [ "${SKIP_FLEX:-0}" != 1 ]; then
  PYTHONUNBUFFERED=1 timeout "${FLEX_TIMEOUT:-420}" python3 "$SRC/bench/gpu/flex_attention_bench.py" > "$OUT/flex.log" 2>&1 ||
    note "flex: FAILED or timed out (flex.log)"
fi

if [ -n "${AB_DEFINES:-}" ]; then
  if [ -x "$W/swr_gpu_check_ab" ]; then
    $TO "$W/swr_gpu_check_ab" "${BENCH_MODE:-bench}" > "$OUT/bench_ab.log" 2>&1 || status=1
  else note "A/B build ($AB_DEFINES) FAILED (build.log)"; status=1; fi
fi

# 5. summary table (and the A/B build's)
cat > "$W/summary.py" <<'PY'
import re, sys
def kv(line):
    return dict(re.findall(r"(\w+)=([\w.]+)", line))
bench = [kv(l) for l in open(sys.argv[1]) if l.startswith("BENCH")]
try:
    flex = {(int(d["B"]), int(d["L"])): d for d in (kv(l) for l in open(sys.argv[2]) if l.startswith("FLEX"))}
except OSError:
    flex = {}
for l in open(sys.argv[1]):
    if l.startswith(("GPU:", "copy bandwidth", "WINDOW")):
        print(l.rstrip())
print("prev b: the backward default before (swr_gpu_check PREV_BWD), prev f: forward variant 7 (every step in the tiles), same run, x floor")
raw = [d for d in bench if float(d.get("bwd8_ms", 0)) > 0]
if raw:
    print("backward alone at rows not 16-byte aligned, x its floor: default, variant 8 (cp.async chunks read in place), prev")
    for d in raw:
        bwf = float(d["bwd_floor_ms"])
        print(f"{d['dtype']:5} ({int(d['B'])}, {int(d['L']):5}) " + " ".join(f"{n} {float(d[k]):.4f} {float(d[k]) / bwf:5.2f}" for n, k in (("default", "bwd_ms"), ("v8", "bwd8_ms"), ("prev", "prev_bwd_ms"))))
print("copy f / b: cudaMemcpy of the bytes the forward / backward moves, same run, x the same floor")
print(f"{'dtype':5} {'(B, L)':12} {'fwd ms':>8} {'x floor':>7} {'bwd ms':>8} {'x floor':>7} {'f+b ms':>8} {'x floor':>7} {'prev b':>7} {'f+b':>5} {'prev f':>6} {'copy f':>6} {'b':>5} | {'flex fwd':>8} {'flex f+b':>8} {'speedup f':>9} {'f+b':>6}")
for d in bench:
    B, L = int(d["B"]), int(d["L"])
    f, ff, fb, fbf = (float(d[x]) for x in ("fwd_ms", "fwd_floor_ms", "fb_ms", "fb_floor_ms"))
    fx = flex.get((B, L)) if d["dtype"] == "bf16" else None
    extra = ""
    if fx:
        a, b = float(fx["fwd_ms"]), float(fx["fb_ms"])
        extra = f"{a:8.3f} {b:8.3f} {a / f:8.1f}x {b / fb:5.1f}x"
    ofb, ob = (float(d.get(x, 0)) for x in ("prev_fb_ms", "prev_bwd_ms"))
    bw, bwf = float(d["bwd_ms"]), float(d["bwd_floor_ms"])
    old = f"{ob / bwf:7.2f} {ofb / fbf:5.2f}" if ob > 0 else f"{'':7} {'':5}"
    cf, cb, of = (float(d.get(x, 0)) for x in ("copy_fwd_ms", "copy_bwd_ms", "prev_fwd_ms"))
    print(f"{d['dtype']:5} ({B}, {L:5}) {f:8.4f} {f / ff:7.2f} {bw:8.4f} {bw / bwf:7.2f} {fb:8.4f} {fb / fbf:7.2f} {old} {of / ff:6.2f} {cf / ff:6.2f} {cb / bwf:5.2f} | {extra}")
core = [kv(l) for l in open(sys.argv[1]) if l.startswith("CORE")]
if core:
    print("fused Phalanx core (k = 2): ms and x its floor; unfused = u = beta v, SWR, m = y c + v as separate kernels")
    print("bwd v2 / v3: the fused backward with the carries recomputed / exchanged between threads, v4 / v5: v3 with the group sums in registers (2 / 3 CTAs per SM hinted); fwd v2: the forward with every step in the tiles (no row ends apart); x floor")
    print(f"{'dtype':5} {'(B, L)':12} {'kvH':>4} {'fwd ms':>8} {'x floor':>7} {'bwd ms':>8} {'x floor':>7} {'f+b ms':>8} {'x floor':>7} {'bwd v2':>6} {'v3':>5} {'v4':>5} {'v5':>5} {'fwd v2':>6} | {'unfused fwd':>11} {'unfused bwd':>11}")
    for d in core:
        g = lambda x: float(d.get(x, 0))
        print(f"{d['dtype']:5} ({int(d['B'])}, {int(d['L']):5}) {int(d['kvH']):4} {g('fwd_ms'):8.4f} {g('fwd_ms') / g('fwd_floor_ms'):7.2f} "
              f"{g('bwd_ms'):8.4f} {g('bwd_ms') / g('bwd_floor_ms'):7.2f} {g('fb_ms'):8.4f} {g('fb_ms') / g('fb_floor_ms'):7.2f} "
              f"{g('bwd2_ms') / g('bwd_floor_ms'):6.2f} {g('bwd3_ms') / g('bwd_floor_ms'):5.2f} {g('bwd4_ms') / g('bwd_floor_ms'):5.2f} {g('bwd5_ms') / g('bwd_floor_ms'):5.2f} {g('fwd2_ms') / g('fwd_floor_ms'):6.2f} | "
              f"{g('unfused_fwd_ms'):11.4f} {g('unfused_bwd_ms'):11.4f}")
PY
python3 "$W/summary.py" "$OUT/bench.log" "$OUT/flex.log" | tee -a "$OUT/summary.txt"
if [ -f "$OUT/bench_ab.log" ]; then
  note "A/B: the same, built with $AB_DEFINES"
  python3 "$W/summary.py" "$OUT/bench_ab.log" /nonexistent | tee -a "$OUT/summary.txt"
fi
note "overall: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
rm -rf "$W"
exit $status
