#include "loss/center_shards.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <stdexcept>

#include "common/seed.h"
#include "model/ns_layer.h"

namespace nsl {
namespace {

constexpr uint64_t kInitStream = 0x43494E;    // "CIN": initial centers
constexpr uint64_t kSampleStream = 0x534D50;  // "SMP": sampled classes

}  // namespace

int64_t shard_block(const LossConfig& loss, int64_t dim) {
  return loss.decorrelation.group_size > 0 ? loss.decorrelation.group_size : dim;
}

ShardRange shard_range(int64_t classes, int64_t block, int world, int rank) {
  if (block < 1 || world < 1 || rank < 0 || rank >= world)
    throw std::invalid_argument("shard_range: block " + std::to_string(block) + ", rank " +
                                std::to_string(rank) + " of " + std::to_string(world));
  const int64_t blocks = (classes + block - 1) / block;
  const int64_t first = blocks * rank / world;
  const int64_t last = blocks * (rank + 1) / world;
  ShardRange r;
  r.classes = classes;
  r.begin = std::min(classes, first * block);
  r.end = std::min(classes, last * block);
  return r;
}

std::vector<ShardRange> shard_ranges(int64_t classes, int64_t block, int world) {
  std::vector<ShardRange> ranges;
  for (int r = 0; r < world; ++r) ranges.push_back(shard_range(classes, block, world, r));
  return ranges;
}

torch::Tensor initial_center_rows(int64_t begin, int64_t end, int64_t dim, uint64_t seed) {
  std::vector<torch::Tensor> parts;
  for (int64_t block = begin / kInitRows; block * kInitRows < end; ++block) {
    auto gen = at::detail::createCPUGenerator(
        derive_seed({seed, static_cast<uint64_t>(block), kInitStream}));
    const torch::Tensor rows =
        at::normal(0.0, 1.0, {kInitRows, dim}, gen, torch::TensorOptions(torch::kFloat32));
    const int64_t from = std::max(begin, block * kInitRows) - block * kInitRows;
    const int64_t to = std::min(end, (block + 1) * kInitRows) - block * kInitRows;
    parts.push_back(rows.slice(0, from, to));
  }
  if (parts.empty()) return torch::empty({0, dim});
  return NSLayerImpl::unit(torch::cat(parts));
}

torch::Tensor sampled_class_rows(const ShardRange& range, const torch::Tensor& positives,
                                 double rate, uint64_t seed, int64_t step) {
  torch::Tensor mask = torch::zeros({range.rows()}, torch::kBool);
  bool* m = mask.data_ptr<bool>();
  // A class is drawn when the top 53 bits of its hash, as a fraction of 2^53, fall below `rate`.
  const auto threshold = static_cast<uint64_t>(rate * 9007199254740992.0);
  const uint64_t step_seed = derive_seed({seed, static_cast<uint64_t>(step), kSampleStream});
  for (int64_t c = range.begin; c < range.end; ++c) {
    m[c - range.begin] = (splitmix64(step_seed ^ static_cast<uint64_t>(c)) >> 11) < threshold;
  }
  const torch::Tensor labels = positives.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* l = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (l[i] >= range.begin && l[i] < range.end) m[l[i] - range.begin] = true;
  }
  return mask;
}

}  // namespace nsl
