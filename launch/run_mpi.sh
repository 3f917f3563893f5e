#!/usr/bin/env bash
# mpirun launcher for nsl_dist WITHOUT Slurm (under Slurm use cluster/train.sbatch), one node or
# several:
#
#   launch/run_mpi.sh [-H HOSTFILE] RANKS nsl_dist-arguments...
#   launch/run_mpi.sh 2 train --config configs/demo.yaml --out runs/job1          # this machine
#   launch/run_mpi.sh -H cluster/hostfile 16 train --config C --out /shared/runs/job1   # 2 nodes x 8
#
# Threads per rank: NSL_THREADS, else cores of this machine / ranks per node (ranks per node =
# RANKS / hosts in HOSTFILE, rounded up; nodes are assumed alike). It sizes the BLAS/OpenMP pools
# (cluster/nsl_env.sh: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS; values already set
# win); nsl_dist sizes LibTorch's own pool as cores / ranks on the node unless
# train.threads_per_rank is set, which this script does for `train` when NSL_THREADS is given (a
# later --set in the arguments still wins).
#
# With -H: mpirun --hostfile HOSTFILE (OpenMPI syntax, see cluster/hostfile.example); mpirun starts
# the remote ranks over ssh, so every node needs password-less ssh from this one, the same paths
# (nsl_dist binary, config, data, and OUT at least on the node of rank 0: it writes the checkpoints
# and metrics), and the same working directory. Relative paths are relative to the current folder.
#
# Environment: NSL_BIN (default: build/nsl_dist of this checkout), NSL_THREADS, NSL_MPIRUN_ARGS
# (extra mpirun arguments, e.g. "--oversubscribe" or "--mca btl_tcp_if_include ib0"), and everything
# of cluster/nsl_env.sh. Exit code: nsl_dist's (README "Exit codes"), or mpirun's when it fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
usage() {
  echo "usage: launch/run_mpi.sh [-H HOSTFILE] RANKS nsl_dist-arguments..." >&2
  exit 2
}
HOSTFILE=
if [ "${1:-}" = -H ] || [ "${1:-}" = --hostfile ]; then
  [ $# -ge 2 ] || usage
  HOSTFILE=$2
  shift 2
  [ -r "$HOSTFILE" ] || { echo "run_mpi: cannot read hostfile '$HOSTFILE'" >&2; exit 2; }
fi
[ $# -ge 1 ] || usage
RANKS=$1
shift
[[ $RANKS =~ ^[1-9][0-9]*$ ]] || { echo "run_mpi: RANKS must be a positive number, not '$RANKS'" >&2; usage; }
NSL_BIN=${NSL_BIN:-$ROOT/build/nsl_dist}
[ -x "$NSL_BIN" ] || { echo "run_mpi: no nsl_dist binary at $NSL_BIN (build it, or set NSL_BIN)" >&2; exit 2; }

# Ranks per node: all on this machine, or spread over the hostfile's hosts.
HOSTS=1
if [ -n "$HOSTFILE" ]; then
  HOSTS=$(sed 's/#.*//' "$HOSTFILE" | awk 'NF {print $1}' | sort -u | wc -l)
  [ "$HOSTS" -ge 1 ] || { echo "run_mpi: no hosts in $HOSTFILE" >&2; exit 2; }
fi
PER_NODE=$(((RANKS + HOSTS - 1) / HOSTS))
CORES=$(nproc)
THREADS_GIVEN=${NSL_THREADS:+1}
export NSL_THREADS=${NSL_THREADS:-$((CORES / PER_NODE > 0 ? CORES / PER_NODE : 1))}
# shellcheck source=cluster/nsl_env.sh
source "$ROOT/cluster/nsl_env.sh"

MPI_ARGS=(-np "$RANKS" --bind-to none)
[ "$(id -u)" -eq 0 ] && MPI_ARGS+=(--allow-run-as-root)
[ -n "$HOSTFILE" ] && MPI_ARGS+=(--hostfile "$HOSTFILE")
# The thread settings and every NCCL_* variable go to the ranks on every node (OMPI_MCA_* variables
# are passed on by mpirun itself).
for var in OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS $(compgen -e | grep '^NCCL_' || true); do
  MPI_ARGS+=(-x "$var")
done
# shellcheck disable=SC2206
MPI_ARGS+=(${NSL_MPIRUN_ARGS:-})

ARGS=("$@")
if [ -n "$THREADS_GIVEN" ] && [ "${ARGS[0]:-}" = train ]; then
  ARGS=(train --set "train.threads_per_rank=$NSL_THREADS" "${ARGS[@]:1}")
fi
exec mpirun "${MPI_ARGS[@]}" "$NSL_BIN" "${ARGS[@]}"
