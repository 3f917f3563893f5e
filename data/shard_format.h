#pragma once
// Names and constants of shard format v1 (one HDF5 file per shard):
//   /images  uint8 [N, H, W, C], chunked [1, H, W, C] (one sample per chunk, uncompressed)
//   /labels  int64 [N]
//   /paths   variable-length UTF-8 strings [N]
//   root attributes: format = "nsl_dist.shard", version = 1, split, shard_index, num_shards
#include <cstdint>

namespace nsl::shard_format {

inline constexpr const char* kFormat = "nsl_dist.shard";
inline constexpr int64_t kVersion = 1;
inline constexpr const char* kImages = "images";
inline constexpr const char* kLabels = "labels";
inline constexpr const char* kPaths = "paths";

}  // namespace nsl::shard_format
