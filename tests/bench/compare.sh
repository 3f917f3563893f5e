#!/usr/bin/env bash
# Loss comparison on Omniglot (issue 8): trains each loss's configs/omniglot_<loss>.yaml with the
# same seed, data, model and schedule under `mpirun -np 2`, evaluating after every epoch, then
# prints one table (tests/bench/compare_table.cpp) and draws Recall@1 against training time
# (the first seed's runs).
#   tests/bench/compare.sh [--out DIR] [--seeds "1 2 3"] [--losses "dgcrl triplet ..."]
#                          [--reference triplet] [-- TRAIN_ARGS...]
# TRAIN_ARGS are added to every run (e.g. --set train.epochs=4). A run whose folder already holds
# its last epoch is not repeated; an interrupted one continues with --resume auto. Needs
# build/nsl_dist and build/compare_table (launch/setup.sh builds both), and gnuplot. Data:
# runs/data/omniglot, prepared on first use from NSL_OMNIGLOT_ROOT (default ../shared/data/omniglot).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/bench_runs.sh
OUT=runs/compare
SEEDS="1"
LOSSES="dgcrl triplet normalized_softmax multi_similarity proxy_anchor proxy_nca proxy_nca_pp contrastive"
REFERENCE=triplet
CONFIG_PREFIX=configs/omniglot_
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --losses) LOSSES=$2; shift 2 ;;
    --reference) REFERENCE=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "compare.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
EXTRA=("$@")
DATA=runs/data/omniglot
for tool in build/nsl_dist build/compare_table; do
  [ -x "$tool" ] || { echo "compare.sh: $tool missing: run launch/setup.sh first" >&2; exit 2; }
done
if [ ! -f "$DATA/manifest.json" ]; then
  omniglot=$(omniglot_root)
  build/nsl_dist prep --dataset omniglot --root "$omniglot" --out "$DATA" \
    --image-size 32 --channels 1 --shards 8 --quiet
fi
mkdir -p "$OUT"
echo "# compare: losses [$LOSSES], seeds [$SEEDS], $(nproc) cores, $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# extra train arguments: ${EXTRA[*]:-(none)}"

pairs=()
for seed in $SEEDS; do
  for loss in $LOSSES; do
    config="$CONFIG_PREFIX$loss.yaml"
    [ -f "$config" ] || { echo "compare.sh: no $config" >&2; exit 2; }
    run="$OUT/$loss-s$seed"
    pairs+=("$loss=$run")
    bench_train "$run" --config "$config" --set seed="$seed" "${EXTRA[@]}"
  done
done

build/compare_table --reference "$REFERENCE" --plot "$OUT/recall_vs_time.dat" "${pairs[@]}" |
  tee "$OUT/table.md"
# The plot shows the first seed's runs, one line per loss. compare_table writes one data block per
# run, grouped by loss in the order of LOSSES, seeds in the order of SEEDS within each.
read -r -a loss_list <<< "$LOSSES"
read -r -a seed_list <<< "$SEEDS"
first_seed=${seed_list[0]}
{
  echo "set terminal pngcairo size 900,600 noenhanced"
  echo "set output '$OUT/recall_vs_time.png'"
  echo "set title 'Omniglot, unseen classes, seed $first_seed'"
  echo "set xlabel 'training time (s, evaluation excluded)'"
  echo "set ylabel 'Recall@1 on the unseen classes (%)'"
  echo "set key right bottom"
  echo "set grid"
  printf "plot "
  for i in "${!loss_list[@]}"; do
    printf "'%s' index %d using 2:3 with linespoints title '%s'" "$OUT/recall_vs_time.dat" "$((i * ${#seed_list[@]}))" "${loss_list[$i]}"
    [ "$i" -lt $((${#loss_list[@]} - 1)) ] && printf ", "
  done
  echo
} > "$OUT/recall_vs_time.gp"
gnuplot "$OUT/recall_vs_time.gp" && echo "# plot: $OUT/recall_vs_time.png"
