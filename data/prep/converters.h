#pragma once
// One converter per dataset layout (README "Datasets"): each reads the annotation files under
// `root` and returns the images with their split and class, in the order of the annotations.
// Throws DataError naming the file (and line) for missing or malformed annotations.
#include <cstdint>
#include <string>
#include <vector>

#include "data/prep/prep_item.h"

namespace nsl {

// with_bboxes: read the bounding boxes (CUB: bounding_boxes.txt becomes required).
PrepList list_cub200(const std::string& root, bool with_bboxes);
PrepList list_cars196(const std::string& root, bool with_bboxes);
PrepList list_sop(const std::string& root);
PrepList list_inshop(const std::string& root);
// val_alphabets N > 0 (--val-alphabets): besides "train" and "test" (unchanged), the images of
// images_background are listed once more, split "val" for N of its A alphabets (subfolders sorted
// byte-wise; those at indices floor(i * A / N), i = 0..N-1) and "tune_train" for the others.
// ConfigError unless 0 <= N <= A - 1.
PrepList list_omniglot(const std::string& root, int64_t val_alphabets);
PrepList list_folder(const std::string& root);
PrepList list_csv(const std::string& csv_file);

// The names `nsl_dist prep --dataset` accepts, and whether a dataset has bounding boxes.
const std::vector<std::string>& prep_dataset_names();
bool prep_dataset_has_bboxes(const std::string& name);
// ConfigError "unknown dataset 'x' (known: ...)" unless name is one of prep_dataset_names().
void check_prep_dataset_name(const std::string& name);

// ConfigError unless val_alphabets is 0, or positive with name "omniglot" (--val-alphabets).
void check_prep_val_alphabets(const std::string& name, int64_t val_alphabets);

// Dispatches on the name; ConfigError for an unknown name, --bbox-crop without boxes or
// --val-alphabets on a dataset other than omniglot.
PrepList list_dataset(const std::string& name, const std::string& root, bool bbox_crop,
                      int64_t val_alphabets);

}  // namespace nsl
