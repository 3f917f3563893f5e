#pragma once
// Batch sources over a converted dataset (manifest.json + HDF5 shards). Rank r owns the shards s of
// the split with s % world_size == r and loads only those into memory.
//
// Training sampling, identical global batch for every world size: with S shards and global batch
// B, shard s contributes q_s = B / S + (s < B % S) samples to every step. Each epoch shard s's
// samples are permuted with derive_seed({seed, epoch, s}); step t takes positions
// [t*q_s, (t+1)*q_s) of that permutation. steps_per_epoch = min over shards with q_s > 0 of
// count_s / q_s. A rank's batch is the concatenation over its owned shards in increasing order.
// Global sample index = (sum of counts of shards < s) + position within shard s.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/shuffle.h"
#include "data/manifest.h"
#include "train/batch_source.h"

namespace nsl {

// float32 [n, C, H, W] = (x / 255 - 0.5) / 0.5 from uint8 [n, H, W, C].
torch::Tensor normalise_images(const torch::Tensor& images_nhwc_uint8);

// Shards of a split owned by `rank`: s % world_size == rank. Throws DataError if world_size is
// larger than the number of shards, ConfigError for a bad rank/world size.
std::vector<int64_t> owned_shards(int64_t num_shards, int64_t rank, int64_t world_size,
                                  const std::string& dataset_dir, const std::string& split);

// Global index of each shard's first sample: the running sum of the shards' counts.
std::vector<int64_t> shard_offsets(const Manifest::Split& split);

class ShardTrainSource : public TrainBatchSource {
 public:
  ShardTrainSource(const std::string& dataset_dir, const std::string& split, int64_t rank,
                   int64_t world_size, int64_t global_batch_size, uint64_t seed);

  int64_t num_classes() const override { return num_classes_; }
  int64_t global_batch_size() const override { return global_batch_; }
  int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  void start_epoch(int64_t epoch) override;
  // Throws std::logic_error before start_epoch() or after steps_per_epoch() calls in an epoch.
  Batch next_batch() override;

  // Samples this rank contributes to every step (sum of its shards' quotas).
  int64_t local_batch_size() const;
  const Manifest& manifest() const { return manifest_; }

 private:
  struct OwnedShard {
    int64_t index = 0;
    int64_t offset = 0;    // global index of the shard's first sample
    int64_t quota = 0;     // q_s
    torch::Tensor images;  // uint8 [n, H, W, C]
    torch::Tensor labels;  // int64 [n]
    std::vector<int64_t> permutation;
  };
  Manifest manifest_;
  std::string split_;
  int64_t num_classes_ = 0;
  int64_t global_batch_ = 0;
  uint64_t seed_ = 0;
  int64_t steps_per_epoch_ = 0;
  std::vector<OwnedShard> shards_;
  int64_t epoch_ = -1;
  int64_t step_ = 0;
};

class ShardEvalSource : public EvalSource {
 public:
  ShardEvalSource(const std::string& dataset_dir, const std::string& split, int64_t rank,
                  int64_t world_size);

  int64_t local_size() const override { return images_.size(0); }
  int64_t total_size() const override { return total_size_; }
  // Throws std::out_of_range unless 0 <= begin <= end <= local_size().
  Batch slice(int64_t begin, int64_t end) override;

  int64_t num_classes() const { return num_classes_; }
  const Manifest& manifest() const { return manifest_; }

 private:
  Manifest manifest_;
  int64_t num_classes_ = 0;
  int64_t total_size_ = 0;
  torch::Tensor images_;   // uint8 [n, H, W, C], owned shards concatenated in increasing order
  torch::Tensor labels_;   // int64 [n]
  torch::Tensor indices_;  // int64 [n], global indices within the split
};

}  // namespace nsl
