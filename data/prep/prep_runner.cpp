#include "data/prep/prep_runner.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "common/error.h"
#include "data/dataset_writer.h"
#include "data/prep/converters.h"
#include "data/prep/image_decode.h"
#include "data/prep/ordered_parallel.h"
#include "data/prep/progress_meter.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

using ClassSets = std::map<std::string, std::set<std::string>>;  // split -> class names

// DatasetWriter numbers the classes of a split in order of first appearance: writing the items
// grouped by class, in class order, makes the ids follow the dataset's class order.
void order_for_writing(std::vector<PrepItem>& items) {
  std::stable_sort(items.begin(), items.end(), [](const PrepItem& a, const PrepItem& b) {
    return std::tie(a.split, a.class_number, a.class_name) <
           std::tie(b.split, b.class_number, b.class_name);
  });
}

// One name per class number and one number per name within a split (DatasetWriter keys by name).
void check_class_numbers(const std::vector<PrepItem>& items) {
  std::map<std::pair<std::string, std::string>, int64_t> number_of;
  std::map<std::pair<std::string, int64_t>, std::string> name_of;
  for (const auto& item : items) {
    const auto n = number_of.emplace(std::pair(item.split, item.class_name), item.class_number);
    if (n.first->second != item.class_number)
      throw DataError("split '" + item.split + "': class name '" + item.class_name +
                      "' is given to class ids " + std::to_string(n.first->second) + " and " +
                      std::to_string(item.class_number));
    if (item.class_number < 0) continue;
    const auto m = name_of.emplace(std::pair(item.split, item.class_number), item.class_name);
    if (m.first->second != item.class_name)
      throw DataError("split '" + item.split + "': class id " + std::to_string(item.class_number) +
                      " has two names, '" + m.first->second + "' and '" + item.class_name + "'");
  }
}

void check_same_classes(const ClassSets& classes,
                        const std::vector<std::vector<std::string>>& groups,
                        const std::string& when) {
  for (const auto& group : groups) {
    for (size_t k = 1; k < group.size(); ++k) {
      const auto a = classes.find(group[0]), b = classes.find(group[k]);
      const std::set<std::string> none;
      const auto& sa = a == classes.end() ? none : a->second;
      const auto& sb = b == classes.end() ? none : b->second;
      if (sa == sb) continue;
      std::vector<std::string> diff;
      std::set_symmetric_difference(sa.begin(), sa.end(), sb.begin(), sb.end(),
                                    std::back_inserter(diff));
      throw DataError("splits '" + group[0] + "' and '" + group[k] +
                      "' must have the same classes so that their class ids agree, but " +
                      std::to_string(diff.size()) + " " + when +
                      " classes are in only one (first: '" + diff.front() + "')");
    }
  }
}

struct Decoded {
  std::vector<uint8_t> pixels;
  std::string error;  // DataError text when the image is bad
};

}  // namespace

void validate_prep_options(const PrepOptions& o) {
  check_prep_dataset_name(o.dataset);
  std::error_code ec;
  if (o.root.empty() || !fs::exists(o.root, ec))
    throw ConfigError("--root '" + o.root + "' does not exist");
  if (o.dataset == "csv" && !fs::is_regular_file(o.root, ec))
    throw ConfigError("--root '" + o.root + "' must be a CSV file for --dataset csv");
  if (o.dataset != "csv" && !fs::is_directory(o.root, ec))
    throw ConfigError("--root '" + o.root + "' must be a folder for --dataset " + o.dataset);
  if (o.out.empty()) throw ConfigError("--out is empty");
  if (o.image_size < 1 || o.image_size > 4096)
    throw ConfigError("--image-size must be in 1..4096, got " + std::to_string(o.image_size));
  if (o.channels != 1 && o.channels != 3)
    throw ConfigError("--channels must be 1 or 3, got " + std::to_string(o.channels));
  if (o.shards < 1) throw ConfigError("--shards must be at least 1");
  if (o.workers < 0) throw ConfigError("--workers must be 0 (all cores) or more");
  if (o.bbox_crop && !prep_dataset_has_bboxes(o.dataset))
    throw ConfigError("--bbox-crop: dataset '" + o.dataset +
                      "' has no bounding boxes (only cub200 and cars196 have)");
  check_prep_val_alphabets(o.dataset, o.val_alphabets);
}

PrepResult prep_dataset(const PrepOptions& o) {
  validate_prep_options(o);
  const auto start = std::chrono::steady_clock::now();
  PrepList list = list_dataset(o.dataset, o.root, o.bbox_crop, o.val_alphabets);
  if (list.items.empty()) throw DataError("no images listed in '" + o.root + "'");
  check_class_numbers(list.items);
  ClassSets listed;
  for (const auto& item : list.items) listed[item.split].insert(item.class_name);
  check_same_classes(listed, list.same_class_splits, "listed");
  order_for_writing(list.items);

  PrepResult result;
  result.workers =
      o.workers > 0 ? o.workers : std::max<int64_t>(1, std::thread::hardware_concurrency());
  use_single_threaded_opencv();
  DatasetWriter writer(o.out, o.dataset, o.image_size, o.image_size, o.channels, o.shards);
  ProgressMeter progress(static_cast<int64_t>(list.items.size()), o.progress);
  ClassSets written;
  std::vector<std::string> skipped_samples;
  const auto& items = list.items;
  ordered_parallel<Decoded>(
      static_cast<int64_t>(items.size()), result.workers, result.workers * 16,
      [&](int64_t i) {
        const PrepItem& item = items[static_cast<size_t>(i)];
        Decoded d;
        try {
          d.pixels = load_image(item.file, item.bbox, o.image_size, o.channels);
        } catch (const DataError& e) {
          d.error = e.what();
        }
        return d;
      },
      [&](int64_t i, Decoded&& d) {
        const PrepItem& item = items[static_cast<size_t>(i)];
        if (d.error.empty()) {
          writer.add(item.split, item.class_name, d.pixels.data(), item.sample_path);
          written[item.split].insert(item.class_name);
        } else if (o.skip_bad_images) {
          result.skipped.push_back(item.file);
          skipped_samples.push_back(item.sample_path);
        } else {
          throw DataError(d.error + " (--on-bad-image skip leaves such images out)");
        }
        progress.update(i + 1);
      });
  progress.finish();
  check_same_classes(written, list.same_class_splits, "written (after skipping bad images)");

  nlohmann::json source = {
      {"converter", "nsl_dist prep"},
      {"dataset", o.dataset},
      {"root", fs::absolute(o.root).lexically_normal().string()},
      {"image_size", o.image_size},
      {"channels", o.channels},
      {"bbox_crop", o.bbox_crop},
      {"resize", "optional bbox crop, then the whole image to image_size^2 with INTER_AREA"},
      {"skipped", skipped_samples},
  };
  // Only with --val-alphabets, so that the manifest without it stays as it always was.
  if (!list.val_alphabets.empty()) source["val_alphabets"] = list.val_alphabets;
  writer.set_source(source);
  result.manifest = writer.finalize();
  result.val_alphabets = list.val_alphabets;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace nsl
