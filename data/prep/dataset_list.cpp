#include <algorithm>

#include "common/error.h"
#include "data/prep/converters.h"

namespace nsl {

const std::vector<std::string>& prep_dataset_names() {
  static const std::vector<std::string> names = {"cub200",   "cars196", "sop", "inshop",
                                                 "omniglot", "folder",  "csv"};
  return names;
}

bool prep_dataset_has_bboxes(const std::string& name) {
  return name == "cub200" || name == "cars196";
}

void check_prep_dataset_name(const std::string& name) {
  const auto& names = prep_dataset_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("unknown dataset '" + name + "' (known: " + known + ")");
}

void check_prep_val_alphabets(const std::string& name, int64_t val_alphabets) {
  if (val_alphabets < 0)
    throw ConfigError("--val-alphabets must be 0 (no validation split) or more, got " +
                      std::to_string(val_alphabets));
  if (val_alphabets > 0 && name != "omniglot")
    throw ConfigError("--val-alphabets: dataset '" + name +
                      "' has no alphabets (only omniglot has a validation split)");
}

PrepList list_dataset(const std::string& name, const std::string& root, bool bbox_crop,
                      int64_t val_alphabets) {
  check_prep_dataset_name(name);
  if (bbox_crop && !prep_dataset_has_bboxes(name))
    throw ConfigError("--bbox-crop: dataset '" + name +
                      "' has no bounding boxes (only cub200 and cars196 have)");
  check_prep_val_alphabets(name, val_alphabets);
  if (name == "cub200") return list_cub200(root, bbox_crop);
  if (name == "cars196") return list_cars196(root, bbox_crop);
  if (name == "sop") return list_sop(root);
  if (name == "inshop") return list_inshop(root);
  if (name == "omniglot") return list_omniglot(root, val_alphabets);
  if (name == "folder") return list_folder(root);
  return list_csv(root);
}

}  // namespace nsl
