#pragma once
// nsl_dist report: the retrieval gallery. A few sampled test images (queries) with their nearest
// neighbours among the rest of the test split, each written as a thumbnail PNG.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/manifest.h"

namespace nsl::report {

struct GalleryOptions {
  int64_t queries = 12;   // sampled queries (fewer when the split has fewer eligible images)
  int64_t k = 8;          // neighbours shown per query
  uint64_t seed = 1;      // query sampling
  int64_t thumb_px = 96;  // longest side of a thumbnail
};

struct GalleryImage {
  int64_t index = 0;  // global index in the split
  int64_t label = 0;
  std::string class_name;
  std::string thumb;     // PNG path relative to the report folder
  double score = 0.0;    // cosine similarity to the query (neighbours)
  bool correct = false;  // same class as the query (neighbours)
};

struct GalleryRow {
  GalleryImage query;
  std::vector<GalleryImage> neighbours;  // best first
};

struct Gallery {
  std::string split;
  int64_t split_size = 0;
  int64_t eligible = 0;  // images whose class has another image in the split
  int64_t k = 0;
  std::vector<GalleryRow> rows;
};

// Up to `count` indices of images whose class holds at least two images (a query with a possible
// correct neighbour), drawn with a seeded permutation; distinct classes first, then any. Returns
// them in drawing order; the same (labels, count, seed) always gives the same queries.
std::vector<int64_t> sample_queries(const torch::Tensor& labels, int64_t count, uint64_t seed);

// Searches the neighbours of the sampled queries among `unit` (float32 [n, d] unit rows in global
// index order, self excluded by index, ties by index) and writes the thumbnails of every image
// shown into out_dir/thumbs/, read from the split's shards under `dataset_dir`. Throws DataError
// when the split has no class with two images, or a shard disagrees with the manifest.
Gallery build_gallery(const torch::Tensor& unit, const torch::Tensor& labels,
                      const std::string& dataset_dir, const Manifest& manifest,
                      const std::string& split, const GalleryOptions& options,
                      const std::filesystem::path& out_dir);

}  // namespace nsl::report
