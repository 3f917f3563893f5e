#!/usr/bin/env bash
# The main job end to end: set-up and build, a generated fine-grained dataset, `mpirun -np 2
# nsl_dist train` on configs/demo.yaml, the retrieval table of the unseen test classes, and the
# HTML report (curves and a retrieval gallery) of the run.
# Environment: NSL_RANKS (default 2), NSL_DEMO_OUT (default runs/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Only the packages that build and run nsl_dist, and only its target: the tests and their packages
# (clang, Boost.Test, Chromium, Slurm, ...) are launch/test.sh's.
NSL_SETUP_TESTS=0 NSL_BUILD_TARGET=nsl_dist launch/setup.sh
echo "demo: install and build $(($(date +%s) - start)) s"
if [ "${NSL_CONFIGURE_ONLY:-0}" = 1 ]; then
  echo "demo: NSL_CONFIGURE_ONLY=1: stopping after set-up and cmake's configure step"
  exit 0
fi

RANKS=${NSL_RANKS:-2}
OUT=${NSL_DEMO_OUT:-runs/demo}
DATA=runs/data/synth
build/nsl_dist info
data_start=$(date +%s)
if [ ! -f "$DATA/manifest.json" ]; then
  build/nsl_dist synth --out "$DATA" --classes 300 --images-per-class 16 --image-size 32 --shards 8 --seed 1
fi
echo "demo: dataset $(($(date +%s) - data_start)) s"
rm -rf "$OUT"  # the demo starts afresh; a real run would add --resume auto
train_start=$(date +%s)
launch/run_local.sh "$RANKS" train --config configs/demo.yaml --set data.path="$DATA" --out "$OUT"
end=$(date +%s)
build/nsl_dist report --run "$OUT"
echo "demo: training and evaluation $((end - train_start)) s, report $(($(date +%s) - end)) s, whole demo $(($(date +%s) - start)) s"
echo "demo: metrics in $OUT/metrics.jsonl, checkpoints in $OUT/checkpoints (resume: add --resume auto)"
echo "demo: report in $OUT/report/index.html (open it in a browser)"
