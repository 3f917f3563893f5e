#include "data/prep/folder_scan.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/error.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> sorted_entries(const std::string& dir, bool folders,
                                        const std::vector<std::string>& extensions) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError("missing folder '" + dir + "'");
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (folders) {
      if (it->is_directory(ec)) names.push_back(name);
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end())
      names.push_back(name);
  }
  if (ec) throw DataError("cannot list folder '" + dir + "': " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<std::string> sorted_subfolders(const std::string& dir) {
  return sorted_entries(dir, true, {});
}

std::vector<std::string> sorted_files(const std::string& dir,
                                      const std::vector<std::string>& extensions) {
  return sorted_entries(dir, false, extensions);
}

const std::vector<std::string>& image_extensions() {
  static const std::vector<std::string> ext = {".jpg", ".jpeg", ".png", ".pgm", ".bmp"};
  return ext;
}

}  // namespace nsl
