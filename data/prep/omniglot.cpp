// Omniglot: images_background/<alphabet>/<character>/*.png is split "train",
// images_evaluation/... split "test"; the class is "<alphabet>/<character>".
#include <filesystem>

#include "common/error.h"
#include "data/prep/converters.h"
#include "data/prep/folder_scan.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

void add_split(const fs::path& dir, const std::string& folder, const std::string& split,
               PrepList& list) {
  const size_t before = list.items.size();
  for (const auto& alphabet : sorted_subfolders((dir / folder).string())) {
    for (const auto& character : sorted_subfolders((dir / folder / alphabet).string())) {
      const fs::path class_dir = dir / folder / alphabet / character;
      for (const auto& image : sorted_files(class_dir.string(), {".png"})) {
        PrepItem item;
        item.file = (class_dir / image).string();
        item.sample_path = folder + "/" + alphabet + "/" + character + "/" + image;
        item.split = split;
        item.class_name = alphabet + "/" + character;
        list.items.push_back(std::move(item));
      }
    }
  }
  if (list.items.size() == before)
    throw DataError("no images in '" + (dir / folder).string() +
                    "' (expected <alphabet>/<character>/*.png)");
}

}  // namespace

PrepList list_omniglot(const std::string& root) {
  PrepList list;
  add_split(root, "images_background", "train", list);
  add_split(root, "images_evaluation", "test", list);
  return list;
}

}  // namespace nsl
