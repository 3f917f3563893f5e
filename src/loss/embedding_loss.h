#pragma once
// The loss the trainer optimises, chosen by loss.name through the registry (loss/loss_registry.h):
// DGCRL (with its decorrelation mode), the normalised softmax, and the pair- and proxy-based
// baselines of METHOD.md section 5. Owns the centers; the criterion computes.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "loss/criterion.h"
#include "loss/loss_registry.h"

namespace nsl {

struct LossStep {
  // What this rank back-propagates; the trainer sums the gradients over ranks.
  // Per-sample losses (DGCRL, normalised softmax, Proxy-NCA) see this rank's part of the batch:
  //   sum over the part / global batch, so the summed gradients are those of the global mean.
  // Batch losses (pair-based, Proxy-Anchor) see the whole global batch, gathered, with only this
  //   rank's rows carrying gradient: the full value, whose gradient reaches each rank's rows
  //   once; proxies, seen by every rank, take 1 / world size of theirs.
  // Center penalties: value / world size.
  torch::Tensor objective;
  double reported = 0.0;  // this rank's share of the step's loss: the sum over ranks is the loss
  int64_t active = 0;     // contributing pairs / triplets / anchors (batch losses), else samples
};

class EmbeddingLossImpl : public torch::nn::Module {
 public:
  // The loss registered as config.name (loss/loss_registry.h); ConfigError for an unknown name.
  EmbeddingLossImpl(const LossConfig& config, int64_t num_classes, int64_t dim);

  // unit, labels: this rank's part of the batch, or the whole global batch when batch_loss().
  LossStep forward(const torch::Tensor& unit, const torch::Tensor& labels,
                   const torch::Tensor& scale, int64_t global_batch, int world_size);

  // True for the losses defined over the whole batch (triplet, contrastive, multi-similarity,
  // Proxy-Anchor): the trainer gives them the gathered global batch.
  bool batch_loss() const { return properties_.batch_loss; }

  // DGCRL centers or proxies (C x d); undefined for the pair-based losses.
  bool has_centers() const { return centers_.defined(); }
  torch::Tensor& centers() { return centers_; }
  // Re-draws the iter_gs groups for the epoch (seeded; identical on every rank).
  void start_epoch(uint64_t seed, int64_t epoch) { criterion_->start_epoch(seed, epoch); }
  // True when every epoch ends with rank 0's Gram-Schmidt of the centers.
  bool uses_epoch_gs() const { return criterion_->uses_epoch_gs(); }

 private:
  std::string name_;
  LossProperties properties_;
  torch::Tensor centers_;
  std::unique_ptr<Criterion> criterion_;
};
TORCH_MODULE(EmbeddingLoss);

}  // namespace nsl
