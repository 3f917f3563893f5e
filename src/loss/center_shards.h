#pragma once
// loss.centers: sharded. Rank r owns the class centers of one contiguous range of class ids and
// their optimizer state. Ranges are made of whole blocks of `block` classes (the Gram-Schmidt
// groups of epoch_gs: model.embedding_dim, or loss.decorrelation.group_size), so that the groups,
// the initial centers and the sampled classes are the same for every world size.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "config/config.h"

namespace nsl {

struct ShardRange {
  int64_t begin = 0;    // first class id owned
  int64_t end = 0;      // one past the last
  int64_t classes = 0;  // C, all ranks together
  int64_t rows() const { return end - begin; }
};

// The block of a sharded run: loss.decorrelation.group_size, or the embedding dimension.
int64_t shard_block(const LossConfig& loss, int64_t dim);
// Rank `rank`'s range: blocks dealt out contiguously, as evenly as whole blocks allow.
ShardRange shard_range(int64_t classes, int64_t block, int world, int rank);
std::vector<ShardRange> shard_ranges(int64_t classes, int64_t block, int world);

// Unit Gaussian rows [begin, end) of the C x d initial centers of a sharded run, drawn per block of
// kInitRows rows from (seed, block): the same rows whatever the world size. (Replicated runs draw
// the whole matrix from LibTorch's global generator, as before sharding existed.)
constexpr int64_t kInitRows = 1024;
torch::Tensor initial_center_rows(int64_t begin, int64_t end, int64_t dim, uint64_t seed);

// loss.sample_rate: the rows of `range` a step uses, as a bool mask [range.rows()]: every class in
// `positives` (the global batch's labels) and each other class with probability `rate`, drawn from
// (seed, step, class id) alone, so the sample does not depend on the world size.
torch::Tensor sampled_class_rows(const ShardRange& range, const torch::Tensor& positives,
                                 double rate, uint64_t seed, int64_t step);

}  // namespace nsl
