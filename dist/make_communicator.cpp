#include "dist/make_communicator.h"

#include <cstdlib>

#include "common/error.h"
#include "dist/local_communicator.h"
#include "dist/mpi_communicator.h"
#include "nsl/build_config.h"
#ifdef NSL_HAVE_NCCL
#include "dist/nccl_communicator.h"
#endif

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

#ifdef NSL_HAVE_NCCL
class NcclHandle : public CommunicatorHandle {
 public:
  Communicator& comm() override { return *comm_; }

 private:
  MpiSession session_;  // first: MPI (a singleton without a launcher) outlives the communicator
  std::unique_ptr<NcclCommunicator> comm_ = std::make_unique<NcclCommunicator>();
};

bool nccl_usable_here() { return visible_cuda_devices() > 0 && torch::cuda::is_available(); }
#endif

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

std::unique_ptr<CommunicatorHandle> make_communicator() {
  return make_communicator(DistBackend::kAuto);
}

std::unique_ptr<CommunicatorHandle> make_communicator(DistBackend backend) {
  switch (backend) {
    case DistBackend::kNccl:
#ifdef NSL_HAVE_NCCL
      return std::make_unique<NcclHandle>();
#else
      throw ConfigError(
          "dist.backend: nccl needs a build with -DNSL_WITH_NCCL=ON (this nsl_dist was built "
          "without NCCL; 'nsl_dist info' shows the build); set dist.backend: mpi or auto");
#endif
    case DistBackend::kAuto:
#ifdef NSL_HAVE_NCCL
      if (launched_by_mpi() && nccl_usable_here()) return std::make_unique<NcclHandle>();
#endif
      break;
    case DistBackend::kMpi:
      break;
  }
  if (launched_by_mpi()) return std::make_unique<MpiHandle>();
  return std::make_unique<LocalHandle>();
}

std::unique_ptr<CommunicatorHandle> make_communicator(const std::string& backend) {
  DistBackend choice = DistBackend::kAuto;
  if (!parse_choice(backend, choice)) {
    throw ConfigError("dist.backend: unknown back end '" + backend +
                      "' (expected auto, mpi or nccl)");
  }
  return make_communicator(choice);
}

std::string mpi_library_version() { return MpiSession::library_version(); }

}  // namespace nsl
