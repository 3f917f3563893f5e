#pragma once
// The evaluation side of a configuration, over a dataset whose manifest was read once: the
// transform, the splits to embed and the Recall@K grid.
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "data/manifest.h"
#include "data/shard_batch_source.h"

namespace nsl {

// data.eval_resize_ratio as the evaluation transform of ShardEvalSource (stored size kept).
EvalTransform eval_transform(const Config& config);

// This rank's part of data.test_split and, when data.gallery_split is set, of that split; gallery
// is null otherwise (the test split is its own gallery). Both with eval_transform(config).
struct EvalSplits {
  std::unique_ptr<ShardEvalSource> test;
  std::unique_ptr<ShardEvalSource> gallery;
};
EvalSplits open_eval_splits(const Config& config, const Manifest& manifest, int64_t rank,
                            int64_t world_size);

// eval.recall_k, or when it is empty the grid of the dataset the manifest names
// (default_recall_k of source.dataset): the one list every evaluation of a job uses.
std::vector<int64_t> resolve_recall_k(const Config& config, const Manifest& manifest);

}  // namespace nsl
