#!/usr/bin/env bash
# Training and decode speeds of T, S, P, R (docs/RESULTS.md), on a QUIET machine: one JVM per model, the
# same thread setting for every model; a few minutes in all. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
DECODE_TOKENS=${DECODE_TOKENS:-512}   # timed decode tokens after the context (64 proved too few: JIT and GC noise)
OUT=${OUT:-runs/study}            # speed-2048.csv and speed-512.csv go here (study.sh's plots use them)
mkdir -p "$OUT"
export OMP_NUM_THREADS=$THREADS
mvn -q -o -pl lm -am -DskipTests -Dphalanx.cuda.skip=true compile dependency:build-classpath \
    -Dmdep.outputFile=target/lm.classpath >/dev/null
CP="lm/target/classes:$(cat lm/target/lm.classpath)"
# one JVM per model, so that each model's peak resident set is its own
run() {
  echo "model,pattern,params,seq_len,batch,train_tokens_per_s,peak_rss_mib,decode_context,decode_tokens_per_s,state_bytes"
  for m in T S P R; do
    java -Xmx4g -Dorg.bytedeco.javacpp.maxbytes=8G -cp "$CP" org.phalanx.lm.LmMain speed --models "$m" \
        --threads "$THREADS" "$@" 2>&1 | grep "^[TSPR],"
  done
}
echo "# seq 2048, batch 2; decode at context 2048"
run --seq-len 2048 --batch 2 --steps 3 --context 2048 --decode-tokens "$DECODE_TOKENS" | tee "$OUT/speed-2048.csv"
echo "# seq 512, batch 8; decode at context 512"
run --seq-len 512 --batch 8 --steps 3 --context 512 --decode-tokens "$DECODE_TOKENS" | tee "$OUT/speed-512.csv"
