#include "data/train_source.h"

#include "data/shard_batch_source.h"
#include "data/shard_pk_source.h"

namespace nsl {

std::unique_ptr<TrainBatchSource> make_train_source(const Config& c, int64_t rank,
                                                    int64_t world_size) {
  if (c.train.sampler == "pk")
    return std::make_unique<ShardPKSource>(c.data.path, c.data.train_split, rank, world_size,
                                           c.train.batch_size, c.train.pk_images_per_class,
                                           c.seed);
  return std::make_unique<ShardTrainSource>(c.data.path, c.data.train_split, rank, world_size,
                                            c.train.batch_size, c.seed);
}

}  // namespace nsl
