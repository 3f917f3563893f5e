// CARS196: cars_annos.mat (struct array `annotations`, optional cell array `class_names`).
// Classes 1-98 are split "train", 99-196 "test" (the `test` field is ignored on purpose).
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "data/prep/converters.h"
#include "data/prep/mat_file.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kCarsClasses = 196;
constexpr int64_t kCarsTrainClasses = 98;

struct AnnotationsReader {
  std::string file;
  matvar_t* annotations;

  matvar_t* field(const char* name, size_t index) const {
    matvar_t* f = Mat_VarGetStructFieldByName(annotations, name, index);
    if (!f)
      throw DataError(file + ": annotations(" + std::to_string(index + 1) + ") has no field '" +
                      name + "'");
    return f;
  }
  double number(const char* name, size_t index) const {
    const auto v = mat_scalar(field(name, index));
    if (!v)
      throw DataError(file + ": annotations(" + std::to_string(index + 1) + ")." + name +
                      " is not a number");
    return *v;
  }
  std::string text(const char* name, size_t index) const {
    const auto v = mat_string(field(name, index));
    if (!v || v->empty())
      throw DataError(file + ": annotations(" + std::to_string(index + 1) + ")." + name +
                      " is not a non-empty string");
    return *v;
  }
};

std::vector<std::string> read_class_names(mat_t* mat, const std::string& file) {
  MatVar names(Mat_VarRead(mat, "class_names"));
  std::vector<std::string> out;
  if (!names) return out;  // optional
  if (names->class_type != MAT_C_CELL) throw DataError(file + ": class_names is not a cell array");
  const size_t n = mat_element_count(names.get());
  for (size_t i = 0; i < n; ++i) {
    const auto s = mat_string(Mat_VarGetCell(names.get(), static_cast<int>(i)));
    if (!s) throw DataError(file + ": class_names{" + std::to_string(i + 1) + "} is not a string");
    out.push_back(*s);
  }
  return out;
}

}  // namespace

PrepList list_cars196(const std::string& root, bool with_bboxes) {
  const fs::path dir(root);
  const std::string file = (dir / "cars_annos.mat").string();
  if (!fs::is_regular_file(file)) throw DataError("missing annotation file '" + file + "'");
  MatFile mat(Mat_Open(file.c_str(), MAT_ACC_RDONLY));
  if (!mat) throw DataError(file + ": not a readable MAT-file");
  MatVar annotations(Mat_VarRead(mat.get(), "annotations"));
  if (!annotations) throw DataError(file + ": no variable 'annotations'");
  if (annotations->class_type != MAT_C_STRUCT)
    throw DataError(file + ": 'annotations' is not a struct array");
  const std::vector<std::string> class_names = read_class_names(mat.get(), file);
  if (!class_names.empty() && class_names.size() != static_cast<size_t>(kCarsClasses))
    throw DataError(file + ": class_names has " + std::to_string(class_names.size()) +
                    " entries, expected " + std::to_string(kCarsClasses));

  const AnnotationsReader read{file, annotations.get()};
  PrepList list;
  list.has_bboxes = with_bboxes;
  const size_t count = mat_element_count(annotations.get());
  for (size_t i = 0; i < count; ++i) {
    const std::string rel = read.text("relative_im_path", i);
    const double cls = read.number("class", i);
    if (cls < 1 || cls > kCarsClasses || cls != static_cast<double>(static_cast<int64_t>(cls))) {
      std::ostringstream value;
      value << cls;
      throw DataError(file + ": annotations(" + std::to_string(i + 1) + ").class = " + value.str() +
                      " out of range 1.." + std::to_string(kCarsClasses));
    }
    const auto class_id = static_cast<int64_t>(cls);
    PrepItem item;
    item.file = (dir / rel).string();
    item.sample_path = rel;
    item.split = class_id <= kCarsTrainClasses ? "train" : "test";
    item.class_name = class_names.empty() ? std::to_string(class_id)
                                          : class_names[static_cast<size_t>(class_id - 1)];
    item.class_number = class_id;
    if (with_bboxes) {
      // MATLAB pixel coordinates: 1-based, corners inclusive.
      const double x1 = read.number("bbox_x1", i), y1 = read.number("bbox_y1", i);
      const double x2 = read.number("bbox_x2", i), y2 = read.number("bbox_y2", i);
      item.bbox = BoundingBox{x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1};
    }
    list.items.push_back(std::move(item));
  }
  return list;
}

}  // namespace nsl
