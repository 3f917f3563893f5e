#pragma once
// Picks the back end: MPI when the process was started by an MPI launcher (mpirun, srun with PMI),
// the size-1 back end otherwise. Owns the MPI session for the program's lifetime.
#include <memory>
#include <string>

#include "train/communicator.h"

namespace nsl {

class CommunicatorHandle {
 public:
  virtual ~CommunicatorHandle() = default;
  virtual Communicator& comm() = 0;
};

bool launched_by_mpi();
std::unique_ptr<CommunicatorHandle> make_communicator();
std::string mpi_library_version();

}  // namespace nsl
