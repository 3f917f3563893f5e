#pragma once
// What a command started that must outlive it: the communicator (and its MPI session). main()
// keeps the context alive around its single error handler, so that handler can end every rank
// with MPI_Abort instead of leaving the others waiting in a collective.
#include <memory>

#include "dist/make_communicator.h"

namespace nsl {

class JobContext {
 public:
  // backend: dist.backend.
  Communicator& start_communicator(DistBackend backend = DistBackend::kAuto) {
    if (!handle_) handle_ = make_communicator(backend);
    return handle_->comm();
  }
  Communicator* comm() { return handle_ ? &handle_->comm() : nullptr; }

 private:
  std::unique_ptr<CommunicatorHandle> handle_;
};

}  // namespace nsl
