#pragma once
// The size-1 back end: every collective is the identity. Used when nsl_dist runs without mpirun.
#include "train/communicator.h"

namespace nsl {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void all_reduce(torch::Tensor&, ReduceOp) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather_rows(const torch::Tensor& tensor) override { return tensor.clone(); }
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override;
};

}  // namespace nsl
