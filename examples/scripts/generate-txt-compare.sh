#!/usr/bin/env bash
# GenerateTxtModel: LSTM against Phalanx at equal training wall time (docs/GENERATE_TXT.md), one after the
# other on a QUIET machine. Run from anywhere; writes $OUT/{lstm,phalanx}.csv, samples and
# $OUT/generate-txt-loss-vs-time.png (and -vs-tokens.png).
#   examples/scripts/generate-txt-compare.sh                 # 300 s of training each, ~12 min in all
#   PROBE_SECONDS=60 examples/scripts/generate-txt-compare.sh probe   # threads 1 and 2 for each layer, ~6 min
# Settings (environment): SECONDS_EACH (300), EVAL_EVERY (30), LSTM_THREADS (1), PHALANX_THREADS (2),
# OUT (docs/generate-txt), EXTRA (more train options for both, e.g. "--val-chars 20000").
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${SECONDS_EACH:-300}
EVAL_EVERY=${EVAL_EVERY:-30}
LSTM_THREADS=${LSTM_THREADS:-1}
PHALANX_THREADS=${PHALANX_THREADS:-2}
PROBE_SECONDS=${PROBE_SECONDS:-60}
OUT=${OUT:-docs/generate-txt}
EXTRA=${EXTRA:-}
mvn -B -q -o -pl examples -am -DskipTests -Dphalanx.cuda.skip=true compile dependency:build-classpath \
    -Dmdep.outputFile=target/examples.classpath >/dev/null
CP="examples/target/classes:$(cat examples/target/examples.classpath)"
main() { java -Xmx4g -Dorg.bytedeco.javacpp.maxbytes=8G -cp "$CP" org.phalanx.examples.txt.GenerateTxtModel "$@"; }
train() {  # layer threads seconds out
  echo "== $1, $2 thread(s), $3 s of training -> $4"
  OMP_NUM_THREADS=$2 main train --layer "$1" --seconds "$3" --eval-every "$EVAL_EVERY" \
      --out "$4" $EXTRA 2>&1 | grep 'GenerateTxtModel' || true
  tail -1 "$4/$1.csv"
}
if [ "${1:-}" = probe ]; then
  for layer in lstm phalanx; do
    for t in 1 2; do
      train "$layer" "$t" "$PROBE_SECONDS" "target/generate-txt-probe/t$t"
    done
  done
  echo "(columns: step, tokens, seconds, train_bpc, val_bpc; pick each layer's thread count with more tokens)"
  exit 0
fi
mkdir -p "$OUT"
train lstm "$LSTM_THREADS" "$SECONDS_EACH" "$OUT"
train phalanx "$PHALANX_THREADS" "$SECONDS_EACH" "$OUT"
main plot --out "$OUT" "LSTM ($LSTM_THREADS thr)=$OUT/lstm.csv" "Phalanx ($PHALANX_THREADS thr)=$OUT/phalanx.csv" \
    2>&1 | grep 'GenerateTxtModel' || true
