#pragma once
// nsl_dist prep: a dataset's annotations -> its images decoded and resized in parallel -> HDF5
// shards written through DatasetWriter in a fixed order (split, then class order, then annotation
// order), so the output is byte-identical whatever the number of workers.
#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"

namespace nsl {

struct PrepOptions {
  std::string dataset;  // one of prep_dataset_names()
  std::string root;     // dataset folder (csv: the CSV file)
  std::string out;      // output dataset folder
  int64_t shards = 8;   // per split
  int64_t image_size = 64;
  int64_t channels = 3;  // 1 (gray) or 3 (RGB)
  bool bbox_crop = false;
  int64_t workers = 0;  // 0: hardware concurrency
  bool skip_bad_images = false;
  bool progress = true;  // progress on stderr
  // omniglot: N > 0 adds splits "val" (N whole background alphabets) and "tune_train" (the other
  // background alphabets); "train" and "test" are unchanged (converters.h list_omniglot).
  int64_t val_alphabets = 0;
};

struct PrepResult {
  Manifest manifest;
  std::vector<std::string> skipped;  // image files skipped as unreadable (--on-bad-image skip)
  std::vector<std::string> val_alphabets;  // the alphabets of split "val" (val_alphabets > 0)
  int64_t workers = 0;
  double seconds = 0;
};

// ConfigError for unusable options (unknown dataset, missing root, sizes out of range,
// --val-alphabets on a dataset without alphabets).
void validate_prep_options(const PrepOptions& options);

// Converts; out is replaced atomically. DataError for bad annotations or (unless skipping) a bad
// image; on any error nothing is left at out or in its temporary folder.
PrepResult prep_dataset(const PrepOptions& options);

}  // namespace nsl
