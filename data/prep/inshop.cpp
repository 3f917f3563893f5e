// DeepFashion In-Shop: list_eval_partition.txt (count line, header line, then
// "<image_name> <item_id> <train|query|gallery>"). The class name is the item id, so query and
// gallery, which hold the same items, get the same class ids (checked by the runner).
#include <filesystem>

#include "common/error.h"
#include "data/prep/annotation_file.h"
#include "data/prep/converters.h"

namespace nsl {

namespace fs = std::filesystem;

PrepList list_inshop(const std::string& root) {
  const fs::path dir(root);
  AnnotationFile file((dir / "list_eval_partition.txt").string());
  std::vector<std::string> t;
  if (!file.next_tokens(t) || t.size() != 1) file.fail("expected the image count");
  const int64_t declared = file.to_int(t[0], "the image count");
  const std::vector<std::string> header = {"image_name", "item_id", "evaluation_status"};
  if (!file.next_tokens(t) || t != header)
    file.fail("expected the header 'image_name item_id evaluation_status'");
  PrepList list;
  list.same_class_splits.push_back({"query", "gallery"});
  while (file.next_tokens(t)) {
    if (t.size() != 3) file.fail("expected '<image_name> <item_id> <evaluation_status>'");
    if (t[2] != "train" && t[2] != "query" && t[2] != "gallery")
      file.fail("evaluation_status '" + t[2] + "' is not train, query or gallery");
    PrepItem item;
    item.file = (dir / t[0]).string();
    item.sample_path = t[0];
    item.split = t[2];
    item.class_name = t[1];
    list.items.push_back(std::move(item));
  }
  if (static_cast<int64_t>(list.items.size()) != declared)
    throw DataError(file.path() + ":1: declares " + std::to_string(declared) +
                    " images but the file lists " + std::to_string(list.items.size()));
  return list;
}

}  // namespace nsl
