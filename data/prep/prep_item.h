#pragma once
// What a dataset converter produces from its annotation files: the images to convert, each with
// its split, class and optional bounding box. Converters only parse; prep_runner decodes and
// writes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nsl {

// Pixel rectangle in the source image: 0-based, origin at the top-left corner, half-open.
struct BoundingBox {
  double x = 0, y = 0, width = 0, height = 0;
};

struct PrepItem {
  std::string file;         // filesystem path of the image (root joined with the annotation path)
  std::string sample_path;  // the path as the annotations give it; stored in the shard
  std::string split;
  std::string class_name;
  // The dataset's own class number when it has one (CUB, CARS, SOP, numeric CSV labels): classes
  // of a split are ordered by it; -1 = order by class_name.
  int64_t class_number = -1;
  std::optional<BoundingBox> bbox;
};

struct PrepList {
  std::vector<PrepItem> items;
  bool has_bboxes = false;
  // Splits whose class ids must agree (In-Shop query and gallery).
  std::vector<std::vector<std::string>> same_class_splits;
  // Omniglot with --val-alphabets: the background alphabets whose images form split "val".
  std::vector<std::string> val_alphabets;
};

}  // namespace nsl
