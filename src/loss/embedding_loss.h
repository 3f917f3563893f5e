#pragma once
// The loss the trainer optimises, chosen by loss.name through the registry (loss/loss_registry.h):
// DGCRL (with its decorrelation mode), the normalised softmax, and the pair- and proxy-based
// baselines of METHOD.md section 5. Owns the centers; the criterion computes.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "interfaces/communicator.h"
#include "loss/center_shards.h"
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

// loss.centers: sharded: this rank's part (loss/center_shards.h, loss/sharded_ranking.h).
struct CenterSharding {
  Communicator* comm = nullptr;
  ShardRange range;
  uint64_t seed = 0;  // the initial centers and the sampled classes
  double sample_rate = 1.0;
};

class EmbeddingLossImpl : public torch::nn::Module {
 public:
  // The loss registered as config.name (loss/loss_registry.h); ConfigError for an unknown name.
  // With `sharding`, the centers parameter holds this rank's rows only.
  EmbeddingLossImpl(const LossConfig& config, int64_t num_classes, int64_t dim,
                    std::optional<CenterSharding> sharding = std::nullopt);

  // unit, labels: this rank's part of the batch, or the whole global batch when batch_loss().
  LossStep forward(const torch::Tensor& unit, const torch::Tensor& labels,
                   const torch::Tensor& scale, int64_t global_batch, int world_size);

  // True for the losses defined over the whole batch (triplet, contrastive, multi-similarity,
  // Proxy-Anchor): the trainer gives them the gathered global batch.
  bool batch_loss() const { return properties_.batch_loss; }

  // DGCRL centers or proxies (C x d, or this rank's rows when sharded); undefined for the
  // pair-based losses.
  bool has_centers() const { return centers_.defined(); }
  torch::Tensor& centers() { return centers_; }

  bool sharded() const { return sharding_.has_value(); }
  // Sharded: the classes this rank owns; otherwise all of them.
  ShardRange shard() const;
  // Sharded: the global step whose classes the next forward samples (loss.sample_rate).
  void set_step(int64_t global_step) { step_ = global_step; }
  // Sharded: the rows of this rank's centers the next optimizer step should update, bool
  // [rows]: the classes of the last forward's global batch (present_only), else the sampled rows
  // (undefined: all).
  torch::Tensor rows_to_update(bool present_only) const;
  // Re-draws the iter_gs groups for the epoch (seeded; identical on every rank).
  void start_epoch(uint64_t seed, int64_t epoch) { criterion_->start_epoch(seed, epoch); }
  // True when every epoch ends with rank 0's Gram-Schmidt of the centers.
  bool uses_epoch_gs() const { return criterion_->uses_epoch_gs(); }

 private:
  LossStep forward_sharded(const torch::Tensor& unit, const torch::Tensor& labels,
                           const torch::Tensor& scale, int64_t global_batch);

  std::string name_;
  LossProperties properties_;
  std::optional<CenterSharding> sharding_;
  int64_t num_classes_ = 0;
  int64_t step_ = 0;
  torch::Tensor sampled_rows_;  // the last sharded forward's (undefined: every row)
  torch::Tensor present_rows_;  // the last sharded forward's batch classes
  torch::Tensor centers_;
  std::unique_ptr<Criterion> criterion_;
};
TORCH_MODULE(EmbeddingLoss);

}  // namespace nsl
