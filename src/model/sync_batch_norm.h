#pragma once
// BatchNorm2d whose training statistics are those of the global batch.
//
// In training mode each rank sums its part of the batch per channel (per-image sums over height and
// width in float32, then over the images in float64): first the values, for the mean, then the
// squared deviations from that mean, for the variance. Every rank's row of sums is all-reduced
// exactly (each entry has one non-zero term) and the rows are added in rank order on every rank. So
// every rank normalises with the same mean and variance, updates the same running statistics (the
// replica check covers them), and the result does not depend on how the global batch is split
// beyond float64 rounding. Backward all-reduces sum(dy) and sum(dy * x_hat) the same way. Without a
// communicator, or with a world of one, it is BatchNorm2d over this process's batch.
//
// Parameter and buffer names are torch.nn.BatchNorm2d's (weight, bias, running_mean, running_var,
// num_batches_tracked), so checkpoints and torchvision weights load unchanged. In eval mode it is
// torch::batch_norm with the running statistics. Every rank must run the same forward and backward
// passes in training mode: each is a collective.
#include <torch/torch.h>

#include "interfaces/communicator.h"

namespace nsl {

class SyncBatchNorm2dImpl : public torch::nn::Module {
 public:
  explicit SyncBatchNorm2dImpl(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  torch::Tensor forward(const torch::Tensor& x);
  // The ranks whose batches form the global batch; null: this process's batch alone.
  void set_communicator(Communicator* comm) { comm_ = comm; }
  bool synchronised() const { return comm_ != nullptr && comm_->size() > 1; }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  double eps_;
  double momentum_;
  Communicator* comm_ = nullptr;
};
TORCH_MODULE(SyncBatchNorm2d);

}  // namespace nsl
