#pragma once
// Reads one whole shard file (format v1) into memory.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nsl {

struct ShardContents {
  torch::Tensor images;  // uint8 [N, H, W, C]
  torch::Tensor labels;  // int64 [N]
  std::vector<std::string> paths;
  std::string split;
  int64_t shard_index = 0;
  int64_t num_shards = 0;
};

// Throws DataError naming the file when it is not a v1 shard (missing/wrong `format` attribute,
// other version), a dataset is missing or has the wrong type/rank, or the lengths disagree.
ShardContents read_shard(const std::string& path);

}  // namespace nsl
