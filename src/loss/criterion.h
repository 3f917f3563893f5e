#pragma once
// The interface of one loss (src/loss/criteria/: one file each), the model of flashlight's
// criterion classes. EmbeddingLoss owns the centers and turns a criterion's value into each rank's
// share of the objective; a criterion only computes. A loss class provides
//   static constexpr const char* kName;               its loss.name
//   static constexpr LossProperties kProperties;      has centers / is a batch loss
//   Constructor(const LossConfig&, int64_t num_classes, int64_t dim)
//   optionally static void validate(const LossConfig&) (ConfigError naming the key)
// and is registered by one line: loss_entry<TheClass>() in builtin_losses.cpp, or
// register_loss(loss_entry<TheClass>()) elsewhere.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <stdexcept>

#include "config/config.h"
#include "loss/loss_registry.h"
#include "loss/sharded_ranking.h"

namespace nsl {

struct CriterionInput {
  torch::Tensor unit;     // unit embeddings: this rank's rows, or the gathered batch (batch losses)
  torch::Tensor labels;   // int64, one per row
  torch::Tensor centers;  // C x d (has_centers), else undefined
  torch::Tensor scale;    // the N-S layer's scale s, 0-d
  int64_t global_batch = 0;
  int world_size = 1;
};

// loss.centers: sharded (loss/sharded_ranking.h): the gathered global batch against this rank's
// centers in use.
struct ShardedCriterionInput {
  Communicator* comm = nullptr;
  const ShardedBatch* batch = nullptr;
  torch::Tensor centers;       // m x d: this rank's centers in this step (all, or the sampled ones)
  torch::Tensor target;        // int64 [B]: the column of each row's class in `centers`, or -1
  torch::Tensor scale;         // the N-S layer's scale s, 0-d
  int64_t classes_in_use = 0;  // columns of all ranks together
};

struct CriterionOutput {
  // Per-sample losses: [rows], one per row of the input. Batch losses: the batch's loss, 0-d.
  torch::Tensor value;
  int64_t active = 0;  // batch losses: contributing pairs / triplets / anchors (per-sample: unused)
};

class Criterion {
 public:
  virtual ~Criterion() = default;
  virtual CriterionOutput forward(const CriterionInput& in) = 0;
  // Losses with LossProperties::shardable: the per-row losses of the whole global batch [B], the
  // same on every rank.
  virtual torch::Tensor forward_sharded(const ShardedCriterionInput& /*in*/) {
    throw std::logic_error("this loss has no sharded form");
  }
  // A penalty on the centers, added to every rank's objective as penalty / world size; undefined:
  // none. Called after forward() for the same input.
  virtual torch::Tensor center_penalty(const CriterionInput& /*in*/) { return {}; }
  // Called before each epoch's steps with the run's seed (the same on every rank).
  virtual void start_epoch(uint64_t /*seed*/, int64_t /*epoch*/) {}
  // True when every epoch ends with rank 0's Gram-Schmidt of the centers.
  virtual bool uses_epoch_gs() const { return false; }

  // The default of a loss class's static validate: nothing beyond the keys' own checks.
  static void validate(const LossConfig& /*config*/) {}
};

template <typename T>
LossEntry loss_entry() {
  LossEntry e;
  e.name = T::kName;
  e.properties = T::kProperties;
  e.validate = &T::validate;
  e.create = [](const LossConfig& config, int64_t num_classes, int64_t dim) {
    return std::unique_ptr<Criterion>(std::make_unique<T>(config, num_classes, dim));
  };
  return e;
}

}  // namespace nsl
