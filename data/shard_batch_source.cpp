#include "data/shard_batch_source.h"

#include "common/shuffle.h"

#include <filesystem>
#include <random>
#include <stdexcept>

#include "common/error.h"
#include "common/seed.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

ShardContents load_shard(const std::string& dir, const Manifest& m, const std::string& split,
                         int64_t s) {
  ShardFile file = open_checked_shard(dir, m, split, s);
  ShardContents c;
  c.split = file.split();
  c.shard_index = file.shard_index();
  c.num_shards = file.num_shards();
  c.images = file.read_images();
  c.labels = file.read_labels();
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

// ---------------------------------------------------------------------------------------------

ShardTrainSource::ShardTrainSource(const std::string& dataset_dir, const std::string& split,
                                   int64_t rank, int64_t world_size, int64_t global_batch_size,
                                   uint64_t seed)
    : manifest_(read_manifest(dataset_dir)),
      split_(split),
      global_batch_(global_batch_size),
      seed_(seed) {
  const Manifest::Split& sp = manifest_split(manifest_, split, dataset_dir);
  num_classes_ = sp.num_classes;
  if (global_batch_size < 1)
    throw ConfigError("global batch size must be at least 1, got " +
                      std::to_string(global_batch_size));
  const auto num_shards = static_cast<int64_t>(sp.shards.size());
  const std::vector<int64_t> owned = owned_shards(num_shards, rank, world_size, dataset_dir, split);
  const std::vector<int64_t> offsets = shard_offsets(sp);

  // Steps per epoch from the manifest counts of ALL shards, so every rank computes the same value.
  const auto quota = [&](int64_t s) {
    return global_batch_size / num_shards + (s < global_batch_size % num_shards ? 1 : 0);
  };
  int64_t steps = -1;
  for (int64_t s = 0; s < num_shards; ++s) {
    const int64_t q = quota(s);
    if (q == 0) continue;
    const int64_t st = sp.shards[static_cast<size_t>(s)].count / q;
    steps = steps < 0 ? st : std::min(steps, st);
  }
  if (steps <= 0) {
    int64_t smallest = sp.shards[0].count;
    for (const auto& sh : sp.shards) smallest = std::min(smallest, sh.count);
    throw DataError("global batch size " + std::to_string(global_batch_size) +
                    " is too large for split '" + split + "' of dataset '" + dataset_dir + "' (" +
                    std::to_string(sp.num_images) + " images in " + std::to_string(num_shards) +
                    " shards, the smallest holding " + std::to_string(smallest) +
                    "): not one step per epoch fits; lower the batch size");
  }
  steps_per_epoch_ = steps;

  for (int64_t s : owned) {
    ShardContents c = load_shard(dataset_dir, manifest_, split, s);
    OwnedShard o;
    o.index = s;
    o.offset = offsets[static_cast<size_t>(s)];
    o.quota = quota(s);
    o.images = std::move(c.images);
    o.labels = std::move(c.labels);
    shards_.push_back(std::move(o));
  }
}

int64_t ShardTrainSource::local_batch_size() const {
  int64_t n = 0;
  for (const auto& o : shards_) n += o.quota;
  return n;
}

void ShardTrainSource::start_epoch(int64_t epoch) {
  if (epoch < 0) throw std::invalid_argument("ShardTrainSource::start_epoch: negative epoch");
  for (auto& o : shards_)
    o.permutation = seeded_permutation(
        o.images.size(0),
        derive_seed({seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(o.index)}));
  epoch_ = epoch;
  step_ = 0;
}

Batch ShardTrainSource::next_batch() {
  if (epoch_ < 0) throw std::logic_error("ShardTrainSource::next_batch before start_epoch()");
  if (step_ >= steps_per_epoch_)
    throw std::logic_error("ShardTrainSource::next_batch called more than steps_per_epoch() = " +
                           std::to_string(steps_per_epoch_) + " times in epoch " +
                           std::to_string(epoch_));
  std::vector<torch::Tensor> images, labels, indices;
  for (const auto& o : shards_) {
    if (o.quota == 0) continue;
    const auto begin = o.permutation.begin() + step_ * o.quota;
    std::vector<int64_t> positions(begin, begin + o.quota);
    torch::Tensor pos = torch::tensor(positions, torch::kInt64);
    images.push_back(o.images.index_select(0, pos));
    labels.push_back(o.labels.index_select(0, pos));
    indices.push_back(pos + o.offset);
  }
  ++step_;
  Batch b;
  if (images.empty()) {
    b.images =
        torch::empty({0, manifest_.channels, manifest_.height, manifest_.width}, torch::kFloat32);
    b.labels = torch::empty({0}, torch::kInt64);
    b.indices = torch::empty({0}, torch::kInt64);
    return b;
  }
  b.images = normalise_images(torch::cat(images));
  b.labels = torch::cat(labels);
  b.indices = torch::cat(indices);
  return b;
}

// ---------------------------------------------------------------------------------------------

ShardEvalSource::ShardEvalSource(const std::string& dataset_dir, const std::string& split,
                                 int64_t rank, int64_t world_size)
    : manifest_(read_manifest(dataset_dir)) {
  const Manifest::Split& sp = manifest_split(manifest_, split, dataset_dir);
  num_classes_ = sp.num_classes;
  total_size_ = sp.num_images;
  const std::vector<int64_t> owned =
      owned_shards(static_cast<int64_t>(sp.shards.size()), rank, world_size, dataset_dir, split);
  const std::vector<int64_t> offsets = shard_offsets(sp);
  std::vector<torch::Tensor> images, labels, indices;
  for (int64_t s : owned) {
    ShardContents c = load_shard(dataset_dir, manifest_, split, s);
    indices.push_back(torch::arange(c.images.size(0), torch::kInt64) +
                      offsets[static_cast<size_t>(s)]);
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
  b.images = normalise_images(images_.slice(0, begin, end));
  b.labels = labels_.slice(0, begin, end).clone();
  b.indices = indices_.slice(0, begin, end).clone();
  return b;
}

}  // namespace nsl
