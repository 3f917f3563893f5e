#include "data/shard_batch_source.h"

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "common/error.h"
#include "data/augment.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"

namespace nsl {

namespace {

ShardContents load_shard(const std::string& dir, const Manifest& m, const std::string& split,
                         int64_t s) {
  ShardFile file = open_checked_shard(dir, m, split, s);
  ShardContents c = read_samples(file);
  check_shard_labels(file, c.labels, m.splits.at(split).num_classes);
  return c;
}

}  // namespace

std::vector<int64_t> shard_offsets(const Manifest::Split& sp) {
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (const auto& sh : sp.shards) {
    offsets.push_back(total);
    total += sh.count;
  }
  return offsets;
}

torch::Tensor normalise_images(const torch::Tensor& images) {
  return images.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0).sub(0.5).div(0.5).contiguous();
}

std::vector<int64_t> owned_shards(int64_t num_shards, int64_t rank, int64_t world_size,
                                  const std::string& dataset_dir, const std::string& split) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw ConfigError("rank " + std::to_string(rank) + " is outside world size " +
                      std::to_string(world_size));
  if (world_size > num_shards)
    throw DataError("dataset '" + dataset_dir + "' split '" + split + "' has " +
                    std::to_string(num_shards) + " shards but the job has " +
                    std::to_string(world_size) +
                    " ranks; every rank needs at least one shard: re-run prep with --shards >= " +
                    std::to_string(world_size));
  std::vector<int64_t> owned;
  for (int64_t s = rank; s < num_shards; s += world_size) owned.push_back(s);
  return owned;
}

ShardSet manifest_shard_set(const std::string& dataset_dir, const Manifest& manifest,
                            const std::string& split) {
  const Manifest::Split& sp = manifest_split(manifest, split, dataset_dir);
  ShardSet set;
  for (const auto& sh : sp.shards) set.counts.push_back(sh.count);
  set.image_shape = {manifest.height, manifest.width, manifest.channels};
  set.num_classes = sp.num_classes;
  set.open = [dataset_dir, manifest, split](int64_t s) {
    return open_checked_shard(dataset_dir, manifest, split, s);
  };
  return set;
}

// ---------------------------------------------------------------------------------------------

ShardTrainSource::ShardTrainSource(const std::string& dataset_dir, const Manifest& manifest,
                                   const std::string& split, int64_t rank, int64_t world_size,
                                   int64_t global_batch_size, uint64_t seed,
                                   const LoaderOptions& loader) {
  const Manifest::Split& sp = manifest_split(manifest, split, dataset_dir);
  if (global_batch_size < 1)
    throw ConfigError("global batch size must be at least 1, got " +
                      std::to_string(global_batch_size));
  const auto num_shards = static_cast<int64_t>(sp.shards.size());
  const std::vector<int64_t> owned = owned_shards(num_shards, rank, world_size, dataset_dir, split);

  // Steps per epoch from the manifest counts of ALL shards, so every rank computes the same value.
  ShardSet shards = manifest_shard_set(dataset_dir, manifest, split);
  if (uniform_steps_per_epoch(shards.counts, global_batch_size) <= 0) {
    int64_t smallest = sp.shards[0].count;
    for (const auto& sh : sp.shards) smallest = std::min(smallest, sh.count);
    throw DataError("global batch size " + std::to_string(global_batch_size) +
                    " is too large for split '" + split + "' of dataset '" + dataset_dir + "' (" +
                    std::to_string(sp.num_images) + " images in " + std::to_string(num_shards) +
                    " shards, the smallest holding " + std::to_string(smallest) +
                    "): not one step per epoch fits; lower the batch size");
  }
  // Fail here, before training starts, on an owned shard that disagrees with the manifest.
  for (int64_t s : owned) {
    ShardFile file = open_checked_shard(dataset_dir, manifest, split, s);
    check_shard_labels(file, file.read_labels(), sp.num_classes);
  }
  auto sampler =
      std::make_shared<UniformShardSampler>(shards.counts, owned, global_batch_size, seed);
  local_batch_ = sampler->local_batch_size();
  set_loader(std::make_unique<PrefetchLoader>(std::move(sampler), std::move(shards), seed, loader));
}

// ---------------------------------------------------------------------------------------------

ShardEvalSource::ShardEvalSource(const std::string& dataset_dir, const Manifest& manifest,
                                 const std::string& split, int64_t rank, int64_t world_size,
                                 const EvalTransform& transform)
    : stored_size_(manifest.height), transform_(transform) {
  const Manifest::Split& sp = manifest_split(manifest, split, dataset_dir);
  num_classes_ = sp.num_classes;
  total_size_ = sp.num_images;
  const std::vector<int64_t> owned =
      owned_shards(static_cast<int64_t>(sp.shards.size()), rank, world_size, dataset_dir, split);
  const std::vector<int64_t> offsets = shard_offsets(sp);
  std::vector<torch::Tensor> images, labels, indices;
  for (int64_t s : owned) {
    ShardContents c = load_shard(dataset_dir, manifest, split, s);
    indices.push_back(torch::arange(c.images.size(0), torch::kInt64) +
                      offsets[static_cast<size_t>(s)]);
    shard_sizes_.push_back(c.images.size(0));
    images.push_back(std::move(c.images));
    labels.push_back(std::move(c.labels));
  }
  images_ = torch::cat(images);
  labels_ = torch::cat(labels);
  indices_ = torch::cat(indices);
}

Batch ShardEvalSource::slice(int64_t begin, int64_t end) {
  if (begin < 0 || end < begin || end > local_size())
    throw std::out_of_range("ShardEvalSource::slice [" + std::to_string(begin) + ", " +
                            std::to_string(end) + ") outside [0, " + std::to_string(local_size()) +
                            ")");
  Batch b;
  const torch::Tensor raw = images_.slice(0, begin, end);
  b.images = transform_.out_size == 0 && transform_.resize_ratio == 1.0
                 ? normalise_images(raw)
                 : eval_resize_center_crop(
                       raw, transform_.out_size > 0 ? transform_.out_size : stored_size_,
                       transform_.resize_ratio);
  b.labels = labels_.slice(0, begin, end).clone();
  b.indices = indices_.slice(0, begin, end).clone();
  return b;
}

}  // namespace nsl
