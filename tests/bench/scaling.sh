#!/usr/bin/env bash
# Scaling table: training images/s of the demo config at np=1 (all cores' threads in one rank)
# and np=2 (one rank per core), measured in one run of this script, each twice in alternation.
# Usage: tests/bench/scaling.sh [STEPS_PER_EPOCH (default 60)]. Needs build/nsl_dist.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-60}
DATA=runs/data/synth
WORK=$(mktemp -d /tmp/nsl_scaling.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ ! -f "$DATA/manifest.json" ]; then
  build/nsl_dist synth --out "$DATA" --classes 300 --images-per-class 16 --image-size 32 --shards 8 --seed 1 >/dev/null
fi
CORES=$(nproc)
COMMON=(train --config configs/demo.yaml --set data.path="$DATA" --set train.epochs=1
        --set train.max_steps_per_epoch="$STEPS" --quiet)

# images_per_s of epoch 1 (training only: evaluation is excluded by the trainer's measurement).
rate() { sed -n 's/.*"epoch":1,.*"images_per_s":\([0-9.e+]*\).*/\1/p' "$1/metrics.jsonl"; }

run() {  # run RANKS THREADS_PER_RANK OUT
  local ranks=$1 threads=$2 out=$3
  if [ "$ranks" -eq 1 ]; then
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads build/nsl_dist "${COMMON[@]}" \
      --set train.threads_per_rank="$threads" --out "$out" >/dev/null
  else
    launch/run_local.sh "$ranks" "${COMMON[@]}" --set train.threads_per_rank="$threads" \
      --out "$out" >/dev/null
  fi
  rate "$out"
}

echo "# scaling: configs/demo.yaml, $STEPS steps of global batch 64, $CORES cores, $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-32s %12s %12s %12s\n' "setting" "run 1 img/s" "run 2 img/s" "mean"
declare -A R
for round in 1 2; do
  R[np1,$round]=$(run 1 "$CORES" "$WORK/np1_$round")
  R[np2,$round]=$(run 2 $((CORES / 2 > 0 ? CORES / 2 : 1)) "$WORK/np2_$round")
done
for key in np1 np2; do
  label="np=1, $CORES threads"
  [ "$key" = np2 ] && label="np=2, $((CORES / 2 > 0 ? CORES / 2 : 1)) thread(s) per rank"
  mean=$(awk -v a="${R[$key,1]}" -v b="${R[$key,2]}" 'BEGIN { printf "%.1f", (a + b) / 2 }')
  printf '%-32s %12.1f %12.1f %12s\n' "$label" "${R[$key,1]}" "${R[$key,2]}" "$mean"
done
awk -v a="${R[np1,1]}" -v b="${R[np1,2]}" -v c="${R[np2,1]}" -v d="${R[np2,2]}" \
  'BEGIN { printf "speed-up np=2 / np=1: %.2f\n", (c + d) / (a + b) }'
