#pragma once
// Opening a shard of a dataset and checking it against the dataset's manifest.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "data/shard_reader.h"

namespace nsl {

// Opens shard `s` of `split` under `dataset_dir` and throws DataError naming the file when its
// split, index, sample count or image size disagree with the manifest.
ShardFile open_checked_shard(const std::string& dataset_dir, const Manifest& manifest,
                             const std::string& split, int64_t s);

// Throws DataError naming the file when a label lies outside [0, num_classes).
void check_shard_labels(const ShardFile& file, const torch::Tensor& labels, int64_t num_classes);

}  // namespace nsl
