#include "data/shard_pk_source.h"

#include <algorithm>
#include <stdexcept>

#include "common/error.h"
#include "data/shard_batch_source.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"

namespace nsl {

ShardPKSource::ShardPKSource(const std::string& dataset_dir, const std::string& split,
                             int64_t rank, int64_t world_size, int64_t global_batch_size,
                             int64_t images_per_class, uint64_t seed)
    : manifest_(read_manifest(dataset_dir)), rank_(rank), world_size_(world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw ConfigError("rank " + std::to_string(rank) + " is outside world size " +
                      std::to_string(world_size));
  if (images_per_class < 1 || global_batch_size % images_per_class != 0)
    throw ConfigError("P x K sampler: train.batch_size " + std::to_string(global_batch_size) +
                      " is not a multiple of train.pk_images_per_class " +
                      std::to_string(images_per_class));
  if (global_batch_size < world_size)
    throw ConfigError("train.batch_size " + std::to_string(global_batch_size) +
                      " is smaller than the " + std::to_string(world_size) +
                      " ranks: every rank needs a sample per step");
  const Manifest::Split& sp = manifest_split(manifest_, split, dataset_dir);
  num_classes_ = sp.num_classes;
  offsets_ = shard_offsets(sp);
  for (size_t s = 0; s < sp.shards.size(); ++s) {
    auto file = std::make_unique<ShardFile>(
        open_checked_shard(dataset_dir, manifest_, split, static_cast<int64_t>(s)));
    const torch::Tensor labels = file->read_labels();
    check_shard_labels(*file, labels, num_classes_);
    labels_.insert(labels_.end(), labels.data_ptr<int64_t>(),
                   labels.data_ptr<int64_t>() + labels.numel());
    shards_.push_back(std::move(file));
  }
  sampler_ = std::make_unique<PKSampler>(labels_, global_batch_size / images_per_class,
                                         images_per_class, seed);
}

ShardPKSource::~ShardPKSource() = default;

void ShardPKSource::start_epoch(int64_t epoch) {
  if (epoch < 0) throw std::invalid_argument("ShardPKSource::start_epoch: negative epoch");
  epoch_ = epoch;
  step_ = 0;
}

Batch ShardPKSource::next_batch() {
  if (epoch_ < 0) throw std::logic_error("ShardPKSource::next_batch before start_epoch()");
  if (step_ >= steps_per_epoch())
    throw std::logic_error("ShardPKSource::next_batch called more than steps_per_epoch() = " +
                           std::to_string(steps_per_epoch()) + " times in epoch " +
                           std::to_string(epoch_));
  const std::vector<int64_t> global = sampler_->global_batch(epoch_, step_++);
  const BatchPart part =
      batch_part(static_cast<int64_t>(global.size()), rank_, world_size_);
  const int64_t n = part.end - part.begin;
  torch::Tensor images =
      torch::empty({n, manifest_.height, manifest_.width, manifest_.channels}, torch::kUInt8);
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  torch::Tensor indices = torch::empty({n}, torch::kInt64);
  const int64_t image_bytes = manifest_.height * manifest_.width * manifest_.channels;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t index = global[static_cast<size_t>(part.begin + i)];
    const auto shard = static_cast<size_t>(
        std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin() - 1);
    shards_[shard]->read_image(index - offsets_[shard],
                               images.data_ptr<uint8_t>() + i * image_bytes);
    labels[i] = labels_[static_cast<size_t>(index)];
    indices[i] = index;
  }
  Batch b;
  b.images = normalise_images(images);
  b.labels = labels;
  b.indices = indices;
  return b;
}

}  // namespace nsl
