#pragma once
// Picks the back end (dist.backend) and owns the MPI session for the program's lifetime:
//   "auto": NCCL when built with it (NSL_WITH_NCCL), a CUDA GPU is visible, LibTorch has CUDA and
//           an MPI launcher (mpirun, srun with PMI) started the process; else MPI when such a
//           launcher started it; else the size-1 back end.
//   "mpi":  MPI under an MPI launcher, the size-1 back end without one.
//   "nccl": NCCL (an MPI singleton without a launcher, so a 1-GPU run works); ConfigError when
//           not built with NCCL, DistributedError when no GPU is visible.
#include <memory>
#include <string>

#include "config/choices.h"
#include "interfaces/communicator.h"

namespace nsl {

class CommunicatorHandle {
 public:
  virtual ~CommunicatorHandle() = default;
  virtual Communicator& comm() = 0;
};

bool launched_by_mpi();
// The "auto" choice.
std::unique_ptr<CommunicatorHandle> make_communicator();
std::unique_ptr<CommunicatorHandle> make_communicator(DistBackend backend);
// backend as written in dist.backend: "auto" | "mpi" | "nccl"; anything else is a ConfigError.
std::unique_ptr<CommunicatorHandle> make_communicator(const std::string& backend);
std::string mpi_library_version();

}  // namespace nsl
