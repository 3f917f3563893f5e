#pragma once
// Which samples a rank reads at (epoch, step), computed from the manifest alone (no image is
// loaded): the first stage of the training loader (data/prefetch_loader.h). Deterministic from
// (seed, epoch, step, rank, world) and safe to call from any thread.
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "data/pk_sampler.h"

namespace nsl {

class IndexSampler {
 public:
  virtual ~IndexSampler() = default;
  virtual int64_t global_batch_size() const = 0;
  virtual int64_t steps_per_epoch() const = 0;
  // This rank's global sample indices of the step, in the order of the batch rows.
  virtual std::vector<int64_t> local_indices(int64_t epoch, int64_t step) const = 0;
};

// q_s of the uniform sampler: B / S, the first B % S shards one more.
int64_t uniform_quota(int64_t global_batch, int64_t num_shards, int64_t shard);
// min over shards with q_s > 0 of count_s / q_s; 0 when not one step fits.
int64_t uniform_steps_per_epoch(const std::vector<int64_t>& shard_counts, int64_t global_batch);

// The uniform sampler (see data/shard_batch_source.h): each epoch shard s is permuted with
// derive_seed({seed, epoch, s}); step t takes positions [t q_s, (t+1) q_s); a rank's rows are its
// owned shards' parts in increasing shard order. Global index = offset of the shard + position.
class UniformShardSampler : public IndexSampler {
 public:
  // Throws std::invalid_argument when not one step fits (callers check first, with context).
  UniformShardSampler(std::vector<int64_t> shard_counts, std::vector<int64_t> owned_shards,
                      int64_t global_batch, uint64_t seed);

  int64_t global_batch_size() const override { return global_batch_; }
  int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  std::vector<int64_t> local_indices(int64_t epoch, int64_t step) const override;
  int64_t local_batch_size() const { return local_batch_; }

 private:
  std::vector<int64_t> counts_, offsets_, owned_;
  int64_t global_batch_ = 0, steps_per_epoch_ = 0, local_batch_ = 0;
  uint64_t seed_ = 0;
  // The owned shards' permutations of the last epoch asked for: O(count) to build, so once per
  // epoch rather than once per step.
  mutable std::mutex cache_mutex_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<std::vector<int64_t>> cached_permutations_;
};

// P x K: PKSampler's global batch of the step, of which this rank takes batch_part.
class PKIndexSampler : public IndexSampler {
 public:
  PKIndexSampler(std::shared_ptr<const PKSampler> sampler, int64_t rank, int64_t world_size);

  int64_t global_batch_size() const override { return sampler_->batch_size(); }
  int64_t steps_per_epoch() const override { return sampler_->steps_per_epoch(); }
  std::vector<int64_t> local_indices(int64_t epoch, int64_t step) const override;

 private:
  std::shared_ptr<const PKSampler> sampler_;
  int64_t rank_ = 0, world_size_ = 1;
};

}  // namespace nsl
