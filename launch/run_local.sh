#!/usr/bin/env bash
# One-node launcher: launch/run_local.sh RANKS nsl_dist-arguments...
# Runs RANKS ranks of build/nsl_dist with mpirun, one LibTorch thread pool per rank sized
# cores / ranks (nsl_dist computes it), and the OpenMPI settings a single node needs.
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:?usage: launch/run_local.sh RANKS nsl_dist-arguments...}
shift
MPI_ARGS=(-np "$RANKS" --bind-to none)
[ "$(id -u)" -eq 0 ] && MPI_ARGS+=(--allow-run-as-root)
# BLAS inside a rank must not start its own threads on top of LibTorch's.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / RANKS > 0 ? $(nproc) / RANKS : 1 ))}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$OMP_NUM_THREADS}
exec mpirun "${MPI_ARGS[@]}" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS build/nsl_dist "$@"
