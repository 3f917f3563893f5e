#include "dist/local_communicator.h"

#include <cstdlib>

namespace nsl {
namespace {

class CompletedWork : public CollectiveWork {
 public:
  bool test() override { return true; }
  void wait() override {}
};

}  // namespace

std::unique_ptr<CollectiveWork> LocalCommunicator::all_reduce_async(torch::Tensor tensor,
                                                                    ReduceOp op) {
  all_reduce(tensor, op);
  return std::make_unique<CompletedWork>();
}

void LocalCommunicator::abort(int exit_code) { std::_Exit(exit_code); }

}  // namespace nsl
