#include "dist/fault_injecting_communicator.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>

namespace nsl {
namespace {

// The stand-in for a skipped all-reduce: done at once, the tensor untouched.
class SkippedWork : public CollectiveWork {
 public:
  bool test() override { return true; }
  void wait() override {}
};

[[noreturn]] void hang() {
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

[[noreturn]] void kill_self() {
  for (;;) ::raise(SIGKILL);
}

}  // namespace

FaultInjectingCommunicator::FaultInjectingCommunicator(std::unique_ptr<Communicator> inner,
                                                       FaultPlan plan)
    : inner_(std::move(inner)), plan_(plan) {}

bool FaultInjectingCommunicator::inject(bool is_all_reduce) {
  switch (plan_.at(inner_->rank(), inner_->next_sequence(), is_all_reduce, skipped_)) {
    case FaultAction::kSkip:
      skipped_ = true;
      return true;
    case FaultAction::kHang:
      hang();
    case FaultAction::kKill:
      kill_self();
    case FaultAction::kNone:
      break;
  }
  return false;
}

void FaultInjectingCommunicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  if (!inject(/*is_all_reduce=*/true)) inner_->all_reduce(tensor, op);
}

std::unique_ptr<CollectiveWork> FaultInjectingCommunicator::all_reduce_async(torch::Tensor tensor,
                                                                             ReduceOp op) {
  if (inject(/*is_all_reduce=*/true)) return std::make_unique<SkippedWork>();
  return inner_->all_reduce_async(std::move(tensor), op);
}

void FaultInjectingCommunicator::broadcast(torch::Tensor& tensor, int root) {
  inject(/*is_all_reduce=*/false);
  inner_->broadcast(tensor, root);
}

torch::Tensor FaultInjectingCommunicator::all_gather_rows(const torch::Tensor& tensor) {
  inject(/*is_all_reduce=*/false);
  return inner_->all_gather_rows(tensor);
}

void FaultInjectingCommunicator::barrier() {
  inject(/*is_all_reduce=*/false);
  inner_->barrier();
}

void FaultInjectingCommunicator::abort(int exit_code) {
  inner_->abort(exit_code);
  std::_Exit(exit_code);  // not reached, but [[noreturn]] is not seen through a virtual call
}

std::unique_ptr<Communicator> with_faults(std::unique_ptr<Communicator> comm,
                                          const FaultPlan& plan) {
  if (plan.action == FaultAction::kNone) return comm;
  return std::make_unique<FaultInjectingCommunicator>(std::move(comm), plan);
}

}  // namespace nsl
