// CSV list: lines "path,label[,split]" with an optional header line "path,label[,split]"; paths
// relative to the CSV file's folder (absolute paths are kept); split defaults to "train". No
// quoting: fields cannot contain commas. When every label is an integer, classes are ordered
// numerically, otherwise by name.
#include <cctype>
#include <filesystem>

#include "data/prep/annotation_file.h"
#include "data/prep/converters.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    fields.push_back(trimmed(line.substr(start, comma - start)));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

bool valid_split_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

}  // namespace

PrepList list_csv(const std::string& csv_file) {
  AnnotationFile file(csv_file);
  const fs::path base = fs::path(csv_file).parent_path();
  PrepList list;
  bool all_numeric = true;
  std::string line;
  while (file.next_line(line)) {
    if (trimmed(line).empty()) continue;
    const auto f = split_commas(line);
    if (file.line_number() == 1 && f.size() >= 2 && f[0] == "path" && f[1] == "label") continue;
    if (f.size() < 2 || f.size() > 3 || f[0].empty() || f[1].empty() ||
        (f.size() == 3 && f[2].empty()))
      file.fail("expected 'path,label[,split]'");
    PrepItem item;
    item.file = (base / f[0]).string();  // an absolute f[0] replaces base
    item.sample_path = f[0];
    item.split = f.size() == 3 ? f[2] : "train";
    if (!valid_split_name(item.split))
      file.fail("split '" + item.split + "' must be letters, digits, '_' or '-'");
    item.class_name = f[1];
    int64_t number = 0;
    if (parse_int(f[1], number) && number >= 0)
      item.class_number = number;
    else
      all_numeric = false;
    list.items.push_back(std::move(item));
  }
  if (!all_numeric)
    for (auto& item : list.items) item.class_number = -1;
  return list;
}

}  // namespace nsl
