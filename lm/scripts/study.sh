#!/usr/bin/env bash
# The study of docs/RESULTS.md: quality runs (T, S, P, R at sequence length 512 and 2048, equal tokens,
# seed 1; seed 2 again at 2048), then the table and plots. Run from the repository root:
#
#   lm/scripts/study.sh                 # all quality runs, JOBS at a time, THREADS threads each
#   lm/scripts/study.sh table           # only rebuild the table and plots from finished runs
#   lm/scripts/study.sh run-only        # only the runs (RUNS selects them; see below)
#
# Speeds are measured separately, on a quiet machine, with lm/scripts/speed.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/study}
TOKENS=${TOKENS:-524288}          # per run; 128 steps of 4096 tokens
THREADS=${THREADS:-1}
JOBS=${JOBS:-2}
NICE=${NICE:-19}
D=${D:-128}
LAYERS=${LAYERS:-4}
EVAL_TOKENS=${EVAL_TOKENS:-65536} # bytes of validation and of test text for the final bpb (each half is 233 KB)
export OMP_NUM_THREADS=$THREADS

classpath() {
  mvn -q -o -pl lm -am -DskipTests -Dphalanx.cuda.skip=true compile dependency:build-classpath \
      -Dmdep.outputFile=target/lm.classpath >/dev/null
  echo "lm/target/classes:$(cat lm/target/lm.classpath)"
}

run_one() {   # model seq_len batch seed; ROPE=1: rotary position encoding in the attention blocks
  local m=$1 len=$2 batch=$3 seed=$4 dir="$OUT/$1-$2-s$4${ROPE:+-rope}"
  if [[ -f $dir/result.properties ]]; then echo "done already: $dir"; return; fi
  mkdir -p "$dir"
  # ND4J's arrays live off the Java heap and are freed when the heap's garbage collector finds them
  # unreachable; JavaCPP forces a collection at maxphysicalbytes. Its default here (12G) would let two runs
  # side by side fill the machine, so the runs collect at 7G (speed.sh measures each model's memory need).
  nice -n "$NICE" java -Xmx4g -Dorg.bytedeco.javacpp.maxbytes=6G -Dorg.bytedeco.javacpp.maxphysicalbytes=7G \
      -cp "$CP" org.phalanx.lm.LmMain train --model "$m" --seq-len "$len" --batch "$batch" --d-model "$D" \
      --layers "$LAYERS" --tokens "$TOKENS" --seed "$seed" --threads "$THREADS" --eval-every 16 ${ROPE:+--rope} \
      --eval-tokens 16384 --final-eval-tokens "$EVAL_TOKENS" --sample 0 --out "$dir" \
      2>&1 | tr '\r' '\n' | grep -v "Added differentiated" > "$dir/stdout.txt"
  echo "finished $dir: $(grep -h val_bpb "$dir/result.properties" 2>/dev/null)"
}
export -f run_one

table() {
  echo "| model | seq | seed | params | val bpb | test bpb | train tok/s (this run) | peak RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for f in "$OUT"/*/result.properties; do
    [[ -f $f ]] || continue
    n=$(basename "$(dirname "$f")")
    awk -F= -v n="$n" '{v[$1]=$2} END {split(n, p, "-");
      printf "| %s%s | %s | %s | %d | %.4f | %.4f | %d | %d |\n", p[1], (p[4] == "rope" ? " (RoPE)" : ""), p[2], substr(p[3], 2), v["parameters"],
             v["val_bpb"], v["test_bpb"], v["train_tokens_per_s"], v["peak_rss_mib"]}' "$f"
  done
  for len in 512 2048; do
    args=()
    for m in T S P R; do
      [[ -f $OUT/$m-$len-s1/log.csv ]] && args+=("$m=$OUT/$m-$len-s1/log.csv")
    done
    # with speed.sh's figures, the time axis is tokens over the quiet-machine training speed
    speeds=()
    if [[ -f $OUT/speed-$len.csv ]]; then
      speeds=(--speed "$(awk -F, '$1 ~ /^[TSPR]$/ {printf "%s%s=%s", s, $1, $6; s=","}' "$OUT/speed-$len.csv")")
    fi
    if ((${#args[@]})); then
      java -cp "$CP" org.phalanx.lm.LmMain plot --out docs/results --prefix "seq$len-" "${speeds[@]}" "${args[@]}" >/dev/null
    fi
  done
}

CP=${CP:-$(classpath)}; export CP OUT TOKENS THREADS NICE D LAYERS EVAL_TOKENS ROPE
if [[ ${1:-} != table ]]; then
  # batch x length = 4096 tokens per step at both lengths
  # RUNS selects runs ("model length batch seed", comma-separated); the default is the whole study
  RUNS=${RUNS:-"T 2048 2 1,T 2048 2 2,S 2048 2 1,S 2048 2 2,P 2048 2 1,P 2048 2 2,R 2048 2 1,R 2048 2 2,T 512 8 1,S 512 8 1,P 512 8 1,R 512 8 1"}
  tr ',' '\n' <<< "$RUNS" | xargs -P "$JOBS" -L 1 bash -c 'run_one $0 $1 $2 $3'
fi
[[ ${1:-} == run-only ]] || table
