#pragma once
// The loss the trainer optimises, chosen by loss.name: DGCRL (with its decorrelation mode), the
// normalised softmax, and the pair- and proxy-based baselines of METHOD.md section 5.
#include <torch/torch.h>

#include <cstdint>

#include "config/config.h"

namespace nsl {

struct LossStep {
  // What this rank back-propagates. Per-sample losses: sum over the local batch / global batch,
  // so the gradients summed over ranks are those of the global mean. Batch losses (pair-based,
  // Proxy-Anchor; computed within each rank's batch) and penalties: value / world size, so the
  // summed gradients are their average over ranks.
  torch::Tensor objective;
  double reported = 0.0;  // this rank's share of the step's loss: the sum over ranks is the loss
  int64_t active = 0;     // contributing pairs / triplets / anchors (batch losses), else samples
};

class EmbeddingLossImpl : public torch::nn::Module {
 public:
  EmbeddingLossImpl(const LossConfig& config, int64_t num_classes, int64_t dim);

  LossStep forward(const torch::Tensor& unit, const torch::Tensor& labels,
                   const torch::Tensor& scale, int64_t global_batch, int world_size);

  // DGCRL centers or proxies (C x d); undefined for the pair-based losses.
  bool has_centers() const { return centers_.defined(); }
  torch::Tensor& centers() { return centers_; }
  // Re-draws the iter_gs groups for the epoch (seeded; identical on every rank).
  void start_epoch(uint64_t seed, int64_t epoch);
  // True when every epoch ends with rank 0's Gram-Schmidt of the centers.
  bool uses_epoch_gs() const;

 private:
  LossConfig config_;
  torch::Tensor centers_;
  std::vector<std::vector<int64_t>> gs_groups_;
};
TORCH_MODULE(EmbeddingLoss);

}  // namespace nsl
