#pragma once
// Sorted folder listings for the folder-based layouts (Omniglot, class folders). Hidden entries
// (names starting with '.') are skipped; sorting is by byte order of the name.
#include <string>
#include <vector>

namespace nsl {

// Subfolder names of `dir`. Throws DataError "missing folder '<dir>'" when dir is not a folder.
std::vector<std::string> sorted_subfolders(const std::string& dir);

// File names in `dir` whose extension (case-insensitive, e.g. ".png") is one of `extensions`.
std::vector<std::string> sorted_files(const std::string& dir,
                                      const std::vector<std::string>& extensions);

// The extensions prep decodes: .jpg .jpeg .png .pgm .bmp
const std::vector<std::string>& image_extensions();

}  // namespace nsl
