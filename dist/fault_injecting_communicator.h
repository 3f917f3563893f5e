#pragma once
// Carries out a FaultPlan (NSL_FAULT) around any communicator, in the manner of c10d's
// ProcessGroupWrapper: make_communicator puts it around the MPI and NCCL back ends only when
// NSL_FAULT is set, so the back ends and their watchdog know nothing of faults.
//
// A collective call's number is the inner communicator's next_sequence() at the call. Hang and
// kill happen before the inner call, so the rank never announces that collective. A skipped
// all-reduce leaves its tensor as it is and never reaches the inner communicator, so its number
// is not used up: this rank's next collective takes it, as on a rank whose code never made the
// call, while the peers move on.
#include <memory>

#include "dist/fault_injection.h"
#include "interfaces/communicator.h"

namespace nsl {

class FaultInjectingCommunicator : public Communicator {
 public:
  FaultInjectingCommunicator(std::unique_ptr<Communicator> inner, FaultPlan plan);

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int local_rank() const override { return inner_->local_rank(); }
  int local_size() const override { return inner_->local_size(); }
  std::string backend() const override { return inner_->backend(); }
  torch::Device device() const override { return inner_->device(); }
  [[noreturn]] void abort(int exit_code) override;

  // Each of these first carries out the fault due at its number.
  void all_reduce(torch::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) override;
  void broadcast(torch::Tensor& tensor, int root) override;
  torch::Tensor all_gather_rows(const torch::Tensor& tensor) override;
  void barrier() override;

  void set_timeout(double seconds) override { inner_->set_timeout(seconds); }
  double timeout_s() const override { return inner_->timeout_s(); }
  int64_t next_sequence() const override { return inner_->next_sequence(); }

 private:
  // Carries out the fault due at this call: hangs, kills, or returns true when the call is an
  // all-reduce to skip.
  bool inject(bool is_all_reduce);

  std::unique_ptr<Communicator> inner_;
  FaultPlan plan_;
  bool skipped_ = false;  // the plan's skip has fired
};

// `comm` as it is when `plan` holds no fault, else `comm` inside a FaultInjectingCommunicator.
std::unique_ptr<Communicator> with_faults(std::unique_ptr<Communicator> comm,
                                          const FaultPlan& plan);

}  // namespace nsl
