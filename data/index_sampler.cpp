#include "data/index_sampler.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/seed.h"
#include "common/shuffle.h"

namespace nsl {

int64_t uniform_quota(int64_t global_batch, int64_t num_shards, int64_t shard) {
  return global_batch / num_shards + (shard < global_batch % num_shards ? 1 : 0);
}

int64_t uniform_steps_per_epoch(const std::vector<int64_t>& counts, int64_t global_batch) {
  const auto num_shards = static_cast<int64_t>(counts.size());
  int64_t steps = -1;
  for (int64_t s = 0; s < num_shards; ++s) {
    const int64_t q = uniform_quota(global_batch, num_shards, s);
    if (q == 0) continue;
    const int64_t st = counts[static_cast<size_t>(s)] / q;
    steps = steps < 0 ? st : std::min(steps, st);
  }
  return std::max<int64_t>(steps, 0);
}

UniformShardSampler::UniformShardSampler(std::vector<int64_t> shard_counts,
                                         std::vector<int64_t> owned_shards, int64_t global_batch,
                                         uint64_t seed)
    : counts_(std::move(shard_counts)),
      owned_(std::move(owned_shards)),
      global_batch_(global_batch),
      seed_(seed) {
  if (counts_.empty() || global_batch < 1)
    throw std::invalid_argument("UniformShardSampler: no shards or a batch size below 1");
  steps_per_epoch_ = uniform_steps_per_epoch(counts_, global_batch);
  if (steps_per_epoch_ == 0)
    throw std::invalid_argument("UniformShardSampler: not one step of " +
                                std::to_string(global_batch) + " fits");
  int64_t total = 0;
  for (int64_t c : counts_) {
    offsets_.push_back(total);
    total += c;
  }
  const auto num_shards = static_cast<int64_t>(counts_.size());
  for (int64_t s : owned_) {
    if (s < 0 || s >= num_shards)
      throw std::invalid_argument("UniformShardSampler: shard " + std::to_string(s) +
                                  " out of range");
    local_batch_ += uniform_quota(global_batch, num_shards, s);
  }
}

std::vector<int64_t> UniformShardSampler::local_indices(int64_t epoch, int64_t step) const {
  if (epoch < 0 || step < 0 || step >= steps_per_epoch_)
    throw std::out_of_range("UniformShardSampler: epoch " + std::to_string(epoch) + " step " +
                            std::to_string(step) + " outside the epoch's " +
                            std::to_string(steps_per_epoch_) + " steps");
  const auto num_shards = static_cast<int64_t>(counts_.size());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cached_epoch_ != epoch) {
    cached_permutations_.clear();
    for (int64_t s : owned_)
      cached_permutations_.push_back(seeded_permutation(
          counts_[static_cast<size_t>(s)],
          derive_seed({seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(s)})));
    cached_epoch_ = epoch;
  }
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(local_batch_));
  for (size_t k = 0; k < owned_.size(); ++k) {
    const int64_t s = owned_[k];
    const int64_t q = uniform_quota(global_batch_, num_shards, s);
    const std::vector<int64_t>& perm = cached_permutations_[k];
    for (int64_t i = step * q; i < (step + 1) * q; ++i)
      out.push_back(offsets_[static_cast<size_t>(s)] + perm[static_cast<size_t>(i)]);
  }
  return out;
}

PKIndexSampler::PKIndexSampler(std::shared_ptr<const PKSampler> sampler, int64_t rank,
                               int64_t world_size)
    : sampler_(std::move(sampler)), rank_(rank), world_size_(world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw std::invalid_argument("PKIndexSampler: rank outside the world size");
}

std::vector<int64_t> PKIndexSampler::local_indices(int64_t epoch, int64_t step) const {
  const std::vector<int64_t> global = sampler_->global_batch(epoch, step);
  const BatchPart part = batch_part(static_cast<int64_t>(global.size()), rank_, world_size_);
  return std::vector<int64_t>(global.begin() + part.begin, global.begin() + part.end);
}

}  // namespace nsl
