// Omniglot: images_background/<alphabet>/<character>/*.png is split "train",
// images_evaluation/... split "test"; the class is "<alphabet>/<character>". With --val-alphabets N
// the background images are listed a second time, split "val" (N whole alphabets) or "tune_train"
// (the rest), for hyper-parameter tuning that never sees the test classes.
#include <filesystem>
#include <set>

#include "common/error.h"
#include "data/prep/converters.h"
#include "data/prep/folder_scan.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBackground = "images_background";
constexpr const char* kEvaluation = "images_evaluation";

// val: the alphabets of split "val" (empty: no val/tune_train copies). Returns the number of
// copies listed as "val".
int64_t add_split(const fs::path& dir, const std::string& folder, const std::string& split,
                  const std::set<std::string>& val, PrepList& list) {
  const size_t before = list.items.size();
  int64_t val_items = 0;
  for (const auto& alphabet : sorted_subfolders((dir / folder).string())) {
    const bool in_val = val.count(alphabet) > 0;
    for (const auto& character : sorted_subfolders((dir / folder / alphabet).string())) {
      const fs::path class_dir = dir / folder / alphabet / character;
      for (const auto& image : sorted_files(class_dir.string(), {".png"})) {
        PrepItem item;
        item.file = (class_dir / image).string();
        item.sample_path = folder + "/" + alphabet + "/" + character + "/" + image;
        item.split = split;
        item.class_name = alphabet + "/" + character;
        if (!val.empty()) {
          PrepItem copy = item;
          copy.split = in_val ? "val" : "tune_train";
          val_items += in_val ? 1 : 0;
          list.items.push_back(std::move(copy));
        }
        list.items.push_back(std::move(item));
      }
    }
  }
  if (list.items.size() == before)
    throw DataError("no images in '" + (dir / folder).string() +
                    "' (expected <alphabet>/<character>/*.png)");
  return val_items;
}

// The rule of converters.h: indices floor(i * A / N), i = 0..N-1, of the sorted alphabets.
std::vector<std::string> pick_val_alphabets(const fs::path& background, int64_t n) {
  const std::vector<std::string> alphabets = sorted_subfolders(background.string());
  const auto a = static_cast<int64_t>(alphabets.size());
  if (a == 0) return {};  // add_split reports the empty folder
  if (a < 2)
    throw ConfigError("--val-alphabets: '" + background.string() +
                      "' has only 1 alphabet, a validation split needs at least 2");
  if (n < 1 || n > a - 1)
    throw ConfigError("--val-alphabets must be in 1.." + std::to_string(a - 1) + " ('" +
                      background.string() + "' has " + std::to_string(a) + " alphabets), got " +
                      std::to_string(n));
  std::vector<std::string> picked;
  for (int64_t i = 0; i < n; ++i) picked.push_back(alphabets[static_cast<size_t>(i * a / n)]);
  return picked;
}

}  // namespace

PrepList list_omniglot(const std::string& root, int64_t val_alphabets) {
  if (val_alphabets < 0)
    throw ConfigError("--val-alphabets must be 0 (no validation split) or more, got " +
                      std::to_string(val_alphabets));
  PrepList list;
  if (val_alphabets > 0)
    list.val_alphabets = pick_val_alphabets(fs::path(root) / kBackground, val_alphabets);
  const std::set<std::string> val(list.val_alphabets.begin(), list.val_alphabets.end());
  const size_t before = list.items.size();
  const int64_t val_items = add_split(root, kBackground, "train", val, list);
  if (!val.empty()) {
    // Each background image was listed twice: once as "train", once as "val" or "tune_train".
    const auto tune_items = static_cast<int64_t>(list.items.size() - before) / 2 - val_items;
    if (val_items == 0 || tune_items == 0)
      throw DataError("--val-alphabets " + std::to_string(val_alphabets) + ": split '" +
                      (val_items == 0 ? "val" : "tune_train") + "' would hold no images (in '" +
                      (fs::path(root) / kBackground).string() + "')");
  }
  add_split(root, kEvaluation, "test", {}, list);
  return list;
}

}  // namespace nsl
