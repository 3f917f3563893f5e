#include "data/shard_checks.h"

#include <filesystem>

#include "common/error.h"

namespace nsl {

namespace {

[[noreturn]] void disagrees(const std::string& path, const std::string& what) {
  throw DataError("shard '" + path + "' disagrees with the dataset's manifest: " + what +
                  "; re-run the converter (nsl_dist prep) to rewrite the dataset");
}

}  // namespace

ShardFile open_checked_shard(const std::string& dataset_dir, const Manifest& m,
                             const std::string& split, int64_t s) {
  const Manifest::Split& sp = m.splits.at(split);
  const auto& entry = sp.shards[static_cast<size_t>(s)];
  const std::string path = (std::filesystem::path(dataset_dir) / entry.file).string();
  ShardFile f(path);
  const std::string where = " (split '" + split + "', shard " + std::to_string(s) + ")";
  if (f.split() != split) disagrees(path, "its split attribute is '" + f.split() + "'" + where);
  if (f.shard_index() != s || f.num_shards() != static_cast<int64_t>(sp.shards.size()))
    disagrees(path, "it says shard " + std::to_string(f.shard_index()) + " of " +
                        std::to_string(f.num_shards()) + where);
  if (f.size() != entry.count)
    disagrees(path, "it has " + std::to_string(f.size()) + " samples, the manifest records " +
                        std::to_string(entry.count) + where);
  const auto& shape = f.image_shape();
  if (shape[0] != m.height || shape[1] != m.width || shape[2] != m.channels)
    disagrees(path, "its image size differs from the manifest's " + std::to_string(m.height) + "x" +
                        std::to_string(m.width) + "x" + std::to_string(m.channels) + where);
  return f;
}

void check_shard_labels(const ShardFile& f, const torch::Tensor& labels, int64_t num_classes) {
  if (labels.numel() == 0) return;
  const int64_t lo = labels.min().item<int64_t>();
  const int64_t hi = labels.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes)
    disagrees(f.path(), "labels lie in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                            "], outside [0, " + std::to_string(num_classes) + ")");
}

}  // namespace nsl
