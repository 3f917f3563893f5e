#include "data/dataset_checks.h"

#include <algorithm>

#include "common/error.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"

namespace nsl {

namespace {

std::string class_list(const Manifest::Split& sp, const std::vector<int64_t>& ids) {
  std::string out;
  const size_t shown = std::min<size_t>(ids.size(), 5);
  for (size_t i = 0; i < shown; ++i) {
    const auto id = static_cast<size_t>(ids[i]);
    out += (i ? ", " : "") + std::to_string(ids[i]);
    if (id < sp.class_names.size()) out += " '" + sp.class_names[id] + "'";
  }
  if (ids.size() > shown) out += ", ... (" + std::to_string(ids.size() - shown) + " more)";
  return out;
}

// Per-class image counts of a split, read from the shards' labels.
std::vector<int64_t> count_labels(const std::string& dir, const Manifest& m,
                                  const std::string& split) {
  const Manifest::Split& sp = manifest_split(m, split, dir);
  std::vector<int64_t> counts(static_cast<size_t>(sp.num_classes), 0);
  for (size_t s = 0; s < sp.shards.size(); ++s) {
    ShardFile f = open_checked_shard(dir, m, split, static_cast<int64_t>(s));
    const torch::Tensor labels = f.read_labels();
    check_shard_labels(f, labels, sp.num_classes);
    const int64_t* p = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < labels.numel(); ++i) ++counts[static_cast<size_t>(p[i])];
  }
  return counts;
}

std::vector<int64_t> classes_with(const std::vector<int64_t>& counts, int64_t n) {
  std::vector<int64_t> ids;
  for (size_t c = 0; c < counts.size(); ++c)
    if (counts[c] == n) ids.push_back(static_cast<int64_t>(c));
  return ids;
}

}  // namespace

std::vector<std::string> check_training_data(const std::string& dir, const Manifest& m,
                                             const std::string& train_split,
                                             const std::string& test_split) {
  std::vector<std::string> warnings;
  for (const std::string& split : {train_split, test_split}) {
    const Manifest::Split& sp = manifest_split(m, split, dir);
    const std::vector<int64_t> counts = count_labels(dir, m, split);
    const std::string where = "dataset '" + dir + "' split '" + split + "'";
    const std::vector<int64_t> empty = classes_with(counts, 0);
    if (!empty.empty())
      throw DataError(where + ": " + std::to_string(empty.size()) + " of " +
                      std::to_string(sp.num_classes) + " classes have no image (" +
                      class_list(sp, empty) +
                      "); class ids must be 0 .. classes-1 with images: re-run the converter "
                      "(nsl_dist prep)");
    if (counts != sp.class_histogram)
      throw DataError(where +
                      ": the labels in the shards do not match the manifest's class_histogram; "
                      "re-run the converter (nsl_dist prep)");
    if (split != test_split) continue;
    const std::vector<int64_t> single = classes_with(counts, 1);
    if (!single.empty() && single.size() == counts.size())
      throw DataError(where + ": every one of its " + std::to_string(counts.size()) +
                      " classes has a single image, so no query has a same-class partner and "
                      "Recall@K is undefined; use a test split with at least two images per class");
    if (!single.empty())
      warnings.push_back(where + ": " + std::to_string(single.size()) + " of " +
                         std::to_string(counts.size()) + " classes have a single image (" +
                         class_list(sp, single) +
                         "); their queries are left out of Recall@K and counted as lone_queries");
  }
  return warnings;
}

}  // namespace nsl
