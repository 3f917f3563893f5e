#include "data/train_source.h"

#include <torch/torch.h>

#include <algorithm>

#include "data/prefetch_loader.h"
#include "data/shard_batch_source.h"
#include "data/shard_pk_source.h"

namespace nsl {

LoaderOptions loader_options(const Config& c) {
  LoaderOptions o;
  const int64_t threads =
      c.train.threads_per_rank > 0 ? c.train.threads_per_rank : torch::get_num_threads();
  o.workers = c.data.loader_workers > 0 ? c.data.loader_workers : std::max<int64_t>(1, threads);
  o.prefetch_batches = c.data.prefetch_batches;
  o.augment.enabled = c.data.augment;
  o.augment.scale_min = c.data.crop_scale.at(0);
  o.augment.scale_max = c.data.crop_scale.at(1);
  o.augment.flip = c.data.flip;
  return o;
}

std::unique_ptr<TrainBatchSource> make_train_source(const Config& c, const Manifest& manifest,
                                                    int64_t rank, int64_t world_size) {
  const LoaderOptions loader = loader_options(c);
  if (c.train.sampler == Sampler::kPk)
    return std::make_unique<ShardPKSource>(c.data.path, manifest, c.data.train_split, rank,
                                           world_size, c.train.batch_size,
                                           c.train.pk_images_per_class, c.seed, loader);
  return std::make_unique<ShardTrainSource>(c.data.path, manifest, c.data.train_split, rank,
                                            world_size, c.train.batch_size, c.seed, loader);
}

}  // namespace nsl
