#include "dist/make_communicator.h"

#include <cstdlib>

#include "dist/local_communicator.h"
#include "dist/mpi_communicator.h"

namespace nsl {
namespace {

class LocalHandle : public CommunicatorHandle {
 public:
  Communicator& comm() override { return comm_; }

 private:
  LocalCommunicator comm_;
};

class MpiHandle : public CommunicatorHandle {
 public:
  Communicator& comm() override { return *comm_; }

 private:
  MpiSession session_;  // declared first: initialised before, finalised after the communicator
  std::unique_ptr<MpiCommunicator> comm_ = std::make_unique<MpiCommunicator>();
};

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

std::unique_ptr<CommunicatorHandle> make_communicator() {
  if (launched_by_mpi()) return std::make_unique<MpiHandle>();
  return std::make_unique<LocalHandle>();
}

std::string mpi_library_version() { return MpiSession::library_version(); }

}  // namespace nsl
