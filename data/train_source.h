#pragma once
// The training batch source a configuration asks for (train.sampler).
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "train/batch_source.h"

namespace nsl {

// uniform: ShardTrainSource (every sample once per epoch); pk: ShardPKSource (P x K batches).
std::unique_ptr<TrainBatchSource> make_train_source(const Config& config, int64_t rank,
                                                    int64_t world_size);

}  // namespace nsl
