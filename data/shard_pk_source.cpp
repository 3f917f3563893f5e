#include "data/shard_pk_source.h"

#include <mutex>

#include "common/error.h"
#include "data/index_sampler.h"
#include "data/pk_sampler.h"
#include "data/shard_batch_source.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"

namespace nsl {

ShardPKSource::ShardPKSource(const std::string& dataset_dir, const Manifest& manifest,
                             const std::string& split, int64_t rank, int64_t world_size,
                             int64_t global_batch_size, int64_t images_per_class, uint64_t seed,
                             const LoaderOptions& loader) {
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
  const Manifest::Split& sp = manifest_split(manifest, split, dataset_dir);
  std::vector<int64_t> labels;
  for (size_t s = 0; s < sp.shards.size(); ++s) {
    ShardFile file = open_checked_shard(dataset_dir, manifest, split, static_cast<int64_t>(s));
    const torch::Tensor l = file.read_labels();
    check_shard_labels(file, l, sp.num_classes);
    labels.insert(labels.end(), l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  }
  auto pk = std::make_shared<const PKSampler>(labels, global_batch_size / images_per_class,
                                              images_per_class, seed);
  set_loader(std::make_unique<PrefetchLoader>(
      std::make_shared<PKIndexSampler>(std::move(pk), rank, world_size),
      manifest_shard_set(dataset_dir, manifest, split), seed, loader));
}

}  // namespace nsl
