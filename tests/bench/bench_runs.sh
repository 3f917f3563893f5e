# Sourced by tests/bench/compare.sh, ablate.sh and tune.sh (run from the repository root).
# omniglot_root: the Omniglot folder to prepare from (NSL_OMNIGLOT_ROOT, default ../shared/data/omniglot
# beside the repository); exits the script with what to do when it is not there.
# bench_train RUN_DIR TRAIN_ARGS...: trains RUN_DIR with `nsl_dist train TRAIN_ARGS` under
# `mpirun -np 2` (log: RUN_DIR.log) unless its metrics.jsonl already holds the config's last epoch;
# an interrupted run continues with --resume auto. Exits the script when the run fails. The binary:
# NSL_BIN (as launch/run_mpi.sh), default build/nsl_dist.
bench_train() {
  local run=$1
  shift
  local want start
  want=$("${NSL_BIN:-build/nsl_dist}" train "$@" --dry-run 2>/dev/null |
         sed -n 's/^  epochs: \([0-9]*\)$/\1/p;T;q')
  if [ -f "$run/metrics.jsonl" ] && grep -q "\"epoch\":$want," "$run/metrics.jsonl"; then
    echo "# $run: done earlier"
    return 0
  fi
  start=$(date +%s)
  launch/run_local.sh 2 train "$@" --out "$run" --resume auto --quiet > "$run.log" 2>&1 ||
    { echo "$(basename "$0"): $run failed (exit $?): see $run.log" >&2; exit 1; }
  echo "# $run: $(( $(date +%s) - start )) s wall, $(grep -c . "$run/metrics.jsonl") epoch lines"
}

omniglot_root() {
  local root=${NSL_OMNIGLOT_ROOT:-../shared/data/omniglot}
  if [ ! -d "$root/images_background" ] || [ ! -d "$root/images_evaluation" ]; then
    echo "$(basename "$0"): no Omniglot at '$root' (images_background/ and images_evaluation/):" \
         "set NSL_OMNIGLOT_ROOT to the folder holding them" >&2
    exit 2
  fi
  echo "$root"
}
