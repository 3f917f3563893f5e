#include "launch/report/gallery.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "common/error.h"
#include "common/seed.h"
#include "common/shuffle.h"
#include "data/shard_batch_source.h"
#include "data/shard_checks.h"
#include "eval/nearest.h"

namespace nsl::report {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kQueryStream = 0x5245504f5254ULL;  // "REPORT": the sampling's own stream

// Reads images by global index from the split's shards, opening each shard once.
class ThumbnailWriter {
 public:
  ThumbnailWriter(const std::string& dataset_dir, const Manifest& manifest,
                  const std::string& split, int64_t thumb_px, fs::path out_dir)
      : dataset_dir_(dataset_dir),
        manifest_(manifest),
        split_(split),
        offsets_(shard_offsets(manifest_split(manifest, split, dataset_dir))),
        thumb_px_(thumb_px),
        out_dir_(std::move(out_dir)) {}

  // The thumbnail of image `index` (written on first use), relative to the report folder.
  std::string thumbnail(int64_t index) {
    auto done = written_.find(index);
    if (done != written_.end()) return done->second;
    const auto shard = static_cast<int64_t>(
        std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin() - 1);
    auto it = files_.find(shard);
    if (it == files_.end()) {
      it = files_.emplace(shard, open_checked_shard(dataset_dir_, manifest_, split_, shard)).first;
    }
    ShardFile& file = it->second;
    const auto [h, w, c] = file.image_shape();
    cv::Mat pixels(static_cast<int>(h), static_cast<int>(w), c == 3 ? CV_8UC3 : CV_8UC1);
    file.read_image(index - offsets_[static_cast<size_t>(shard)], pixels.data);
    if (c == 3) cv::cvtColor(pixels, pixels, cv::COLOR_RGB2BGR);  // shards hold RGB
    const double scale = static_cast<double>(thumb_px_) / static_cast<double>(std::max(h, w));
    cv::Mat thumb;
    cv::resize(pixels, thumb,
               cv::Size(std::max(1, static_cast<int>(static_cast<double>(w) * scale + 0.5)),
                        std::max(1, static_cast<int>(static_cast<double>(h) * scale + 0.5))),
               0, 0, scale >= 1.0 ? cv::INTER_NEAREST : cv::INTER_AREA);
    char name[48];
    std::snprintf(name, sizeof name, "thumbs/%08lld.png", static_cast<long long>(index));
    const fs::path target = out_dir_ / name;
    if (!cv::imwrite(target.string(), thumb) || !fs::is_regular_file(target)) {
      throw DataError("cannot write thumbnail '" + target.string() +
                      "': check the free space and permissions of the run folder");
    }
    written_.emplace(index, name);
    return name;
  }

 private:
  std::string dataset_dir_;
  const Manifest& manifest_;
  std::string split_;
  std::vector<int64_t> offsets_;
  int64_t thumb_px_;
  fs::path out_dir_;
  std::map<int64_t, ShardFile> files_;
  std::map<int64_t, std::string> written_;
};

std::string class_name(const Manifest::Split& split, int64_t label) {
  const auto i = static_cast<size_t>(label);
  if (label >= 0 && i < split.class_names.size() && !split.class_names[i].empty())
    return split.class_names[i];
  return "class " + std::to_string(label);
}

}  // namespace

std::vector<int64_t> sample_queries(const torch::Tensor& labels, int64_t count, uint64_t seed) {
  const torch::Tensor l = labels.to(torch::kInt64).contiguous();
  const int64_t n = l.numel();
  const int64_t* lab = l.data_ptr<int64_t>();
  std::map<int64_t, int64_t> per_class;
  for (int64_t i = 0; i < n; ++i) ++per_class[lab[i]];
  std::vector<int64_t> eligible;
  for (int64_t i = 0; i < n; ++i) {
    if (per_class[lab[i]] >= 2) eligible.push_back(i);
  }
  const std::vector<int64_t> order =
      seeded_permutation(static_cast<int64_t>(eligible.size()), derive_seed({seed, kQueryStream}));
  std::vector<int64_t> chosen;
  std::set<int64_t> classes, taken;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t o : order) {
      if (static_cast<int64_t>(chosen.size()) >= count) break;
      const int64_t i = eligible[static_cast<size_t>(o)];
      if (taken.count(i) || (pass == 0 && classes.count(lab[i]))) continue;
      chosen.push_back(i);
      taken.insert(i);
      classes.insert(lab[i]);
    }
  }
  return chosen;
}

Gallery build_gallery(const torch::Tensor& unit, const torch::Tensor& labels,
                      const std::string& dataset_dir, const Manifest& manifest,
                      const std::string& split, const GalleryOptions& options,
                      const fs::path& out_dir) {
  const Manifest::Split& sp = manifest_split(manifest, split, dataset_dir);
  Gallery g;
  g.split = split;
  g.split_size = unit.size(0);
  g.k = std::min<int64_t>(options.k, std::max<int64_t>(0, g.split_size - 1));
  const std::vector<int64_t> queries = sample_queries(labels, options.queries, options.seed);
  {
    const torch::Tensor counts = torch::bincount(labels.to(torch::kInt64));
    g.eligible = (counts.index_select(0, labels.to(torch::kInt64)) >= 2).sum().item<int64_t>();
  }
  if (queries.empty()) {
    throw DataError("split '" + split + "' of '" + dataset_dir +
                    "' has no class with two images: no query has a correct neighbour to show");
  }
  fs::create_directories(out_dir / "thumbs");
  ThumbnailWriter thumbs(dataset_dir, manifest, split, options.thumb_px, out_dir);
  const torch::Tensor lab = labels.to(torch::kInt64).contiguous();
  const int64_t* l = lab.data_ptr<int64_t>();
  for (int64_t q : queries) {
    const Neighbours nn = nearest_neighbours(unit, q, q + 1, g.k);
    const torch::Tensor idx = nn.indices.contiguous(), score = nn.scores.to(torch::kDouble);
    GalleryRow row;
    row.query = {q, l[q], class_name(sp, l[q]), thumbs.thumbnail(q), 1.0, true};
    for (int64_t j = 0; j < g.k; ++j) {
      const int64_t i = idx[0][j].item<int64_t>();
      row.neighbours.push_back({i, l[i], class_name(sp, l[i]), thumbs.thumbnail(i),
                                score[0][j].item<double>(), l[i] == l[q]});
    }
    g.rows.push_back(std::move(row));
  }
  return g;
}

}  // namespace nsl::report
