#pragma once
// P x K training batches over a converted dataset (the pair-based losses' sampler). Every global
// batch is drawn from the whole split by PKSampler (data/pk_sampler.h), so unlike
// ShardTrainSource a rank reads from every shard: it keeps all labels in memory (for the sampler)
// and its PrefetchLoader reads the images of its part of each batch (batch_part) sample by
// sample, one HDF5 chunk each, ahead of the trainer.
#include <cstdint>
#include <string>

#include "data/loader_train_source.h"
#include "data/manifest.h"
#include "data/prefetch_loader.h"

namespace nsl {

class ShardPKSource : public LoaderTrainSource {
 public:
  // manifest: dataset_dir's, read once by the caller. global_batch_size must be a multiple of
  // images_per_class (P = batch / K); throws ConfigError otherwise, DataError for a shard that
  // disagrees with the manifest.
  ShardPKSource(const std::string& dataset_dir, const Manifest& manifest, const std::string& split,
                int64_t rank, int64_t world_size, int64_t global_batch_size,
                int64_t images_per_class, uint64_t seed, const LoaderOptions& loader = {});
};

}  // namespace nsl
