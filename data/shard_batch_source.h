#pragma once
// Batch sources over a converted dataset (manifest.json + HDF5 shards). Rank r owns the shards s of
// the split with s % world_size == r. Training batches come from a PrefetchLoader (reader thread +
// decode workers, data/prefetch_loader.h) driven by UniformShardSampler (data/index_sampler.h);
// evaluation loads the owned shards into memory.
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
#include "data/index_sampler.h"
#include "data/loader_train_source.h"
#include "data/manifest.h"
#include "data/prefetch_loader.h"
#include "interfaces/batch_source.h"

namespace nsl {

// float32 [n, C, H, W] = (x / 255 - 0.5) / 0.5 from uint8 [n, H, W, C].
torch::Tensor normalise_images(const torch::Tensor& images_nhwc_uint8);

// Shards of a split owned by `rank`: s % world_size == rank. Throws DataError if world_size is
// larger than the number of shards, ConfigError for a bad rank/world size.
std::vector<int64_t> owned_shards(int64_t num_shards, int64_t rank, int64_t world_size,
                                  const std::string& dataset_dir, const std::string& split);

// Global index of each shard's first sample: the running sum of the shards' counts.
std::vector<int64_t> shard_offsets(const Manifest::Split& split);

// The split's shards for a PrefetchLoader: counts and image shape from the manifest, each shard
// opened with open_checked_shard.
ShardSet manifest_shard_set(const std::string& dataset_dir, const Manifest& manifest,
                            const std::string& split);

class ShardTrainSource : public LoaderTrainSource {
 public:
  // manifest: dataset_dir's, read once by the caller. Checks the owned shards (and their labels)
  // against it before anything is read.
  ShardTrainSource(const std::string& dataset_dir, const Manifest& manifest,
                   const std::string& split, int64_t rank, int64_t world_size,
                   int64_t global_batch_size, uint64_t seed, const LoaderOptions& loader = {});

  // Samples this rank contributes to every step (sum of its shards' quotas).
  int64_t local_batch_size() const { return local_batch_; }

 private:
  int64_t local_batch_ = 0;
};

// Evaluation transform: out_size 0 keeps the stored size (with resize_ratio 1: no resampling at
// all); otherwise eval_resize_center_crop (data/augment.h).
struct EvalTransform {
  int64_t out_size = 0;
  double resize_ratio = 1.0;
};

class ShardEvalSource : public EvalSource {
 public:
  // manifest: dataset_dir's, read once by the caller.
  ShardEvalSource(const std::string& dataset_dir, const Manifest& manifest,
                  const std::string& split, int64_t rank, int64_t world_size,
                  const EvalTransform& transform = {});

  int64_t local_size() const override { return images_.size(0); }
  int64_t total_size() const override { return total_size_; }
  // Throws std::out_of_range unless 0 <= begin <= end <= local_size().
  Batch slice(int64_t begin, int64_t end) override;
  std::vector<int64_t> pieces() const override { return shard_sizes_; }

  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t num_classes_ = 0;
  int64_t total_size_ = 0;
  int64_t stored_size_ = 0;  // the manifest's image height: the crop size when out_size is 0
  EvalTransform transform_;
  torch::Tensor images_;   // uint8 [n, H, W, C], owned shards concatenated in increasing order
  torch::Tensor labels_;   // int64 [n]
  torch::Tensor indices_;  // int64 [n], global indices within the split
  std::vector<int64_t> shard_sizes_;  // owned shards' sample counts, in order
};

}  // namespace nsl
