// CUB-200-2011: images.txt, image_class_labels.txt, classes.txt, bounding_boxes.txt (optional).
// Classes 1-100 are split "train", 101-200 "test" (train_test_split.txt is ignored on purpose).
#include <filesystem>
#include <map>

#include "common/error.h"
#include "data/prep/annotation_file.h"
#include "data/prep/converters.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kCubClasses = 200;
constexpr int64_t kCubTrainClasses = 100;

// "<id> <value>" lines into id -> value, in file order.
std::map<int64_t, std::string> read_id_pairs(const std::string& path, const std::string& expected) {
  AnnotationFile file(path);
  std::map<int64_t, std::string> out;
  std::vector<std::string> t;
  while (file.next_tokens(t)) {
    if (t.size() != 2) file.fail("expected '" + expected + "'");
    const int64_t id = file.to_int(t[0], "'" + expected + "'");
    if (!out.emplace(id, t[1]).second) file.fail("duplicate id " + t[0]);
  }
  return out;
}

std::map<int64_t, int64_t> read_image_classes(const std::string& path) {
  AnnotationFile file(path);
  std::map<int64_t, int64_t> out;
  std::vector<std::string> t;
  while (file.next_tokens(t)) {
    if (t.size() != 2) file.fail("expected '<image id> <class id>'");
    const int64_t id = file.to_int(t[0], "'<image id> <class id>'");
    const int64_t cls = file.to_int(t[1], "'<image id> <class id>'");
    if (cls < 1 || cls > kCubClasses)
      file.fail("class id " + t[1] + " out of range 1.." + std::to_string(kCubClasses));
    if (!out.emplace(id, cls).second) file.fail("duplicate image id " + t[0]);
  }
  return out;
}

std::map<int64_t, BoundingBox> read_boxes(const std::string& path) {
  AnnotationFile file(path);
  std::map<int64_t, BoundingBox> out;
  std::vector<std::string> t;
  const std::string expected = "'<id> <x> <y> <width> <height>'";
  while (file.next_tokens(t)) {
    if (t.size() != 5) file.fail("expected " + expected);
    const int64_t id = file.to_int(t[0], expected);
    BoundingBox b{file.to_double(t[1], expected), file.to_double(t[2], expected),
                  file.to_double(t[3], expected), file.to_double(t[4], expected)};
    if (!out.emplace(id, b).second) file.fail("duplicate image id " + t[0]);
  }
  return out;
}

}  // namespace

PrepList list_cub200(const std::string& root, bool with_bboxes) {
  const fs::path dir(root);
  const std::string images_txt = (dir / "images.txt").string();
  const std::string labels_txt = (dir / "image_class_labels.txt").string();
  const std::string classes_txt = (dir / "classes.txt").string();
  const std::string boxes_txt = (dir / "bounding_boxes.txt").string();

  const auto images = read_id_pairs(images_txt, "<id> <path>");
  const auto image_classes = read_image_classes(labels_txt);
  const auto class_names = read_id_pairs(classes_txt, "<class id> <name>");
  for (const auto& [cls, name] : class_names)
    if (cls < 1 || cls > kCubClasses)
      throw DataError(classes_txt + ": class id " + std::to_string(cls) + " out of range 1.." +
                      std::to_string(kCubClasses));
  std::map<int64_t, BoundingBox> boxes;
  if (with_bboxes) boxes = read_boxes(boxes_txt);

  PrepList list;
  list.has_bboxes = with_bboxes;
  for (const auto& [id, rel] : images) {
    const auto cls = image_classes.find(id);
    if (cls == image_classes.end())
      throw DataError(images_txt + ": image id " + std::to_string(id) + " ('" + rel +
                      "') has no class in " + labels_txt);
    const auto name = class_names.find(cls->second);
    if (name == class_names.end())
      throw DataError(labels_txt + ": class id " + std::to_string(cls->second) +
                      " has no name in " + classes_txt);
    PrepItem item;
    item.file = (dir / "images" / rel).string();
    item.sample_path = "images/" + rel;
    item.split = cls->second <= kCubTrainClasses ? "train" : "test";
    item.class_name = name->second;
    item.class_number = cls->second;
    if (with_bboxes) {
      const auto box = boxes.find(id);
      if (box == boxes.end())
        throw DataError(images_txt + ": image id " + std::to_string(id) + " ('" + rel +
                        "') has no bounding box in " + boxes_txt);
      item.bbox = box->second;
    }
    list.items.push_back(std::move(item));
  }
  for (const auto& [id, cls] : image_classes)
    if (!images.count(id))
      throw DataError(labels_txt + ": image id " + std::to_string(id) + " is not in " + images_txt);
  return list;
}

}  // namespace nsl
