#pragma once
// The size-1 back end: every collective is the identity. Used when nsl_dist runs without mpirun.
#include "interfaces/communicator.h"

namespace nsl {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void all_reduce(torch::Tensor&, ReduceOp) override { ++next_seq_; }
  std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) override;
  void broadcast(torch::Tensor&, int) override { ++next_seq_; }
  torch::Tensor all_gather_rows(const torch::Tensor& tensor) override {
    ++next_seq_;
    return tensor.clone();
  }
  void barrier() override { ++next_seq_; }
  [[noreturn]] void abort(int exit_code) override;
  void set_timeout(double seconds) override { timeout_s_ = seconds; }
  double timeout_s() const override { return timeout_s_; }
  int64_t next_sequence() const override { return next_seq_; }

 private:
  double timeout_s_ = 600.0;
  int64_t next_seq_ = 1;
};

}  // namespace nsl
