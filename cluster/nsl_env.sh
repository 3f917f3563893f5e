# Recommended environment for nsl_dist ranks; sourced by cluster/train.sbatch and
# launch/run_mpi.sh. Values already set in the environment win, so a site can override any of them.
# shellcheck shell=bash

# Threads: one LibTorch/BLAS pool per rank. NSL_THREADS (CPUs per task, set by the caller) is
# authoritative: sbatch copies the submitting shell's environment, whose OMP_NUM_THREADS belongs
# to the login node, not to the allocation.
if [ -n "${NSL_THREADS:-}" ]; then
  export OMP_NUM_THREADS=$NSL_THREADS OPENBLAS_NUM_THREADS=$NSL_THREADS MKL_NUM_THREADS=$NSL_THREADS
else
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$OMP_NUM_THREADS}
  export MKL_NUM_THREADS=${MKL_NUM_THREADS:-$OMP_NUM_THREADS}
fi

# Open MPI. The ring algorithm for the non-blocking all-reduce of the gradient buckets (nsl_dist
# sets it itself too; see BENCHMARKS.md "Communication"); a failed rank ends the whole job.
export OMPI_MCA_coll_libnbc_iallreduce_algorithm=${OMPI_MCA_coll_libnbc_iallreduce_algorithm:-ring}
export OMPI_MCA_orte_abort_on_non_zero_status=${OMPI_MCA_orte_abort_on_non_zero_status:-1}
# Restrict TCP traffic to the cluster network when nodes have several (uncomment and adapt):
# export OMPI_MCA_btl_tcp_if_include=ib0
# export OMPI_MCA_oob_tcp_if_include=ib0

# NCCL (GPU nodes, dist.backend nccl/auto). Warnings only; uncomment to pin the network.
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
# export NCCL_SOCKET_IFNAME=ib0
# export NCCL_IB_HCA=mlx5
