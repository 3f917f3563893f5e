#pragma once
// The training batch source a configuration asks for (train.sampler).
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "data/manifest.h"
#include "interfaces/batch_source.h"

namespace nsl {

struct LoaderOptions;

// The loader settings of data.loader_workers (0: train.threads_per_rank, else LibTorch's current
// thread count), data.prefetch_batches, data.augment, data.crop_scale and data.flip.
LoaderOptions loader_options(const Config& config);

// uniform: ShardTrainSource (every sample once per epoch); pk: ShardPKSource (P x K batches).
// Both read data.train_split of data.path, whose manifest the caller has read, through a
// PrefetchLoader configured by loader_options().
std::unique_ptr<TrainBatchSource> make_train_source(const Config& config, const Manifest& manifest,
                                                    int64_t rank, int64_t world_size);

}  // namespace nsl
