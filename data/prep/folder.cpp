// Class folders: ROOT/<class>/<image>. Classes sorted by name; the first half (rounded up) is
// split "train", the rest split "test" (class-disjoint, like the benchmark protocols).
#include <filesystem>

#include "common/error.h"
#include "data/prep/converters.h"
#include "data/prep/folder_scan.h"

namespace nsl {

namespace fs = std::filesystem;

PrepList list_folder(const std::string& root) {
  const fs::path dir(root);
  std::vector<std::string> classes;
  for (const auto& name : sorted_subfolders(root))
    if (!sorted_files((dir / name).string(), image_extensions()).empty()) classes.push_back(name);
  if (classes.empty())
    throw DataError("no class folders with images in '" + root + "' (expected <class>/<image>)");
  const size_t train_classes = (classes.size() + 1) / 2;
  PrepList list;
  for (size_t c = 0; c < classes.size(); ++c) {
    for (const auto& image : sorted_files((dir / classes[c]).string(), image_extensions())) {
      PrepItem item;
      item.file = (dir / classes[c] / image).string();
      item.sample_path = classes[c] + "/" + image;
      item.split = c < train_classes ? "train" : "test";
      item.class_name = classes[c];
      list.items.push_back(std::move(item));
    }
  }
  return list;
}

}  // namespace nsl
