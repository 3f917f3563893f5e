// libFuzzer target: the annotation parsers of the dataset converters (data/prep): the first input
// byte picks the format, the rest is split on NUL bytes into the files that format reads, written
// under their official names into a scratch folder (files not given are removed, so "missing
// annotation file" is covered too):
//   0 CSV list       list.csv
//   1 CUB-200-2011   images.txt, image_class_labels.txt, classes.txt[, bounding_boxes.txt: boxes]
//   2 Stanford Online Products  Ebay_train.txt, Ebay_test.txt
//   3 In-Shop        list_eval_partition.txt
// DataError and ConfigError (nsl::Error) are the expected outcomes of bad annotations.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/prep/converters.h"
#include "fuzz_support.h"

namespace {

struct Format {
  std::vector<const char*> files;
};

const Format kFormats[] = {
    {{"list.csv"}},
    {{"images.txt", "image_class_labels.txt", "classes.txt", "bounding_boxes.txt"}},
    {{"Ebay_train.txt", "Ebay_test.txt"}},
    {{"list_eval_partition.txt"}},
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_annotations: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t which = data[0] % 4;
  const Format& format = kFormats[which];
  const auto& dir = nsl::fuzz::scratch_dir("annotations");
  const auto parts =
      nsl::fuzz::split_on(std::string(reinterpret_cast<const char*>(data) + 1, size - 1), '\0');
  for (size_t i = 0; i < format.files.size(); ++i) {
    std::error_code ec;
    if (i < parts.size()) {
      nsl::fuzz::write_file(dir / format.files[i], parts[i]);
    } else {
      std::filesystem::remove(dir / format.files[i], ec);
    }
  }
  try {
    nsl::PrepList list;
    switch (which) {
      case 0:
        list = nsl::list_csv((dir / "list.csv").string());
        break;
      case 1:
        list = nsl::list_cub200(dir.string(), parts.size() >= 4);
        break;
      case 2:
        list = nsl::list_sop(dir.string());
        break;
      default:
        list = nsl::list_inshop(dir.string());
        break;
    }
    for (const auto& item : list.items) {
      check(!item.file.empty() && !item.sample_path.empty(), "an item without a path");
      check(!item.split.empty() && !item.class_name.empty(), "an item without split or class");
      check(item.bbox.has_value() == list.has_bboxes, "bbox presence differs from has_bboxes");
    }
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "ok: %zu items\n", list.items.size());
  } catch (const nsl::Error& e) {
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 0;
}
