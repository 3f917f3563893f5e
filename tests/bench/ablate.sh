#!/usr/bin/env bash
# DGCRL ablations on Omniglot (issue 8): configs/omniglot_dgcrl.yaml with one setting changed at a
# time (decorrelation mode, scale s, margin m, ranking, center init, center lr), same seed, data and schedule, under
# `mpirun -np 2`; prints one table (tests/bench/compare_table.cpp; its "epochs to ...'s best R@1"
# columns are against the unchanged config, "default").
#   tests/bench/ablate.sh [--out DIR] [--seed 1] [--only "name ..."] [-- TRAIN_ARGS...]
# A variant whose folder already holds its last epoch is not repeated.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/bench_runs.sh
OUT=runs/ablate
SEED=1
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "ablate.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
EXTRA=("$@")
CONFIG=configs/omniglot_dgcrl.yaml
# name | overrides of the default config
VARIANTS=(
  "default|"
  "epoch_gs_a0.5|loss.decorrelation.mode=epoch_gs loss.decorrelation.alpha=0.5"
  "epoch_gs_a1|loss.decorrelation.mode=epoch_gs loss.decorrelation.alpha=1"
  "iter_gs|loss.decorrelation.mode=iter_gs"
  "inner_product|loss.decorrelation.mode=inner_product"
  "no_decorrelation|loss.decorrelation.mode=none"
  "s16|model.scale=16"
  "s32|model.scale=32"
  "s64|model.scale=64"
  "m0|loss.margin=0"
  "m0.1|loss.margin=0.1"
  "m0.2|loss.margin=0.2"
  "softmax|loss.ranking=softmax"
  "hinge|loss.ranking=hinge"
  "random_init|loss.center_init=random"
  "class_mean_init|loss.center_init=class_mean"
  "center_lr_x1|train.center_lr_mult=1"
  "center_lr_x10|train.center_lr_mult=10"
)
[ -x build/nsl_dist ] && [ -x build/compare_table ] ||
  { echo "ablate.sh: build/nsl_dist or build/compare_table missing: run launch/setup.sh" >&2; exit 2; }
mkdir -p "$OUT"
echo "# ablate: $CONFIG, seed $SEED, $(nproc) cores, $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# extra train arguments: ${EXTRA[*]:-(none)}"
pairs=()
declare -A seen
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  sets=()
  for kv in ${v#*|}; do sets+=(--set "$kv"); done
  [ -z "$ONLY" ] || [[ " $ONLY " == *" $name "* ]] || [ "$name" = default ] || continue
  # A variant equal to the default (the setting it names is the default's) is the default's run.
  key=$(build/nsl_dist train --config "$CONFIG" "${sets[@]}" "${EXTRA[@]}" --dry-run 2>/dev/null |
        sed -n 's/^# resolved config (hash \(.*\))$/\1/p')
  if [ -n "${seen[$key]:-}" ]; then
    pairs+=("$name=${seen[$key]}")
    echo "# $name: the same config as ${seen[$key]}"
    continue
  fi
  run="$OUT/$name-s$SEED"
  seen[$key]=$run
  pairs+=("$name=$run")
  bench_train "$run" --config "$CONFIG" "${sets[@]}" --set seed="$SEED" "${EXTRA[@]}"
done
build/compare_table --reference default "${pairs[@]}" | tee "$OUT/table.md"
