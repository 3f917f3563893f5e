#!/usr/bin/env bash
# One-node launcher: launch/run_local.sh RANKS nsl_dist-arguments...
# Runs RANKS ranks of build/nsl_dist with mpirun, one LibTorch thread pool per rank sized
# cores / ranks (nsl_dist computes it), BLAS pools of the same size (OMP_NUM_THREADS etc. unless
# set), and the OpenMPI settings a single node needs. Relative paths in the arguments are relative
# to the repository root. launch/run_mpi.sh does the work (it also takes a hostfile: -H FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: launch/run_local.sh RANKS nsl_dist-arguments..." >&2; exit 2; }
exec launch/run_mpi.sh "$@"
