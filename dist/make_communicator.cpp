#include "dist/make_communicator.h"

#include <cstdlib>

#include "common/error.h"
#include "dist/fault_injecting_communicator.h"
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

// A back end over MPI (MpiCommunicator, NcclCommunicator) with its MPI session (a singleton
// without a launcher), inside the fault injection of NSL_FAULT when that is set.
template <class Backend>
class MpiHandle : public CommunicatorHandle {
 public:
  Communicator& comm() override { return *comm_; }

 private:
  static std::unique_ptr<Communicator> open() {
    const FaultPlan faults = FaultPlan::from_environment();  // a malformed one fails first
    return with_faults(std::make_unique<Backend>(), faults);
  }

  MpiSession session_;  // declared first: initialised before, finalised after the communicator
  std::unique_ptr<Communicator> comm_ = open();
};

#ifdef NSL_HAVE_NCCL
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
      return std::make_unique<MpiHandle<NcclCommunicator>>();
#else
      throw ConfigError(
          "dist.backend: nccl needs a build with -DNSL_WITH_NCCL=ON (this nsl_dist was built "
          "without NCCL; 'nsl_dist info' shows the build); set dist.backend: mpi or auto");
#endif
    case DistBackend::kAuto:
#ifdef NSL_HAVE_NCCL
      if (launched_by_mpi() && nccl_usable_here())
        return std::make_unique<MpiHandle<NcclCommunicator>>();
#endif
      break;
    case DistBackend::kMpi:
      break;
  }
  if (launched_by_mpi()) return std::make_unique<MpiHandle<MpiCommunicator>>();
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
