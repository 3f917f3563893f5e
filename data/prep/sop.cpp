// Stanford Online Products: Ebay_train.txt is split "train", Ebay_test.txt split "test".
#include <filesystem>

#include "data/prep/annotation_file.h"
#include "data/prep/converters.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

void read_list(const fs::path& dir, const std::string& name, const std::string& split,
               PrepList& list) {
  AnnotationFile file((dir / name).string());
  const std::vector<std::string> header = {"image_id", "class_id", "super_class_id", "path"};
  std::vector<std::string> t;
  if (!file.next_tokens(t) || t != header)
    file.fail("expected the header 'image_id class_id super_class_id path'");
  const std::string expected = "'<image_id> <class_id> <super_class_id> <path>'";
  while (file.next_tokens(t)) {
    if (t.size() != 4) file.fail("expected " + expected);
    file.to_int(t[0], expected);
    const int64_t cls = file.to_int(t[1], expected);
    file.to_int(t[2], expected);
    if (cls < 1) file.fail("class id " + t[1] + " out of range (must be 1 or more)");
    PrepItem item;
    item.file = (dir / t[3]).string();
    item.sample_path = t[3];
    item.split = split;
    item.class_name = t[1];
    item.class_number = cls;
    list.items.push_back(std::move(item));
  }
}

}  // namespace

PrepList list_sop(const std::string& root) {
  PrepList list;
  read_list(root, "Ebay_train.txt", "train", list);
  read_list(root, "Ebay_test.txt", "test", list);
  return list;
}

}  // namespace nsl
