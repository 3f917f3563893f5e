#pragma once
// One converter per dataset layout (README "Datasets"): each reads the annotation files under
// `root` and returns the images with their split and class, in the order of the annotations.
// Throws DataError naming the file (and line) for missing or malformed annotations.
#include <string>
#include <vector>

#include "data/prep/prep_item.h"

namespace nsl {

// with_bboxes: read the bounding boxes (CUB: bounding_boxes.txt becomes required).
PrepList list_cub200(const std::string& root, bool with_bboxes);
PrepList list_cars196(const std::string& root, bool with_bboxes);
PrepList list_sop(const std::string& root);
PrepList list_inshop(const std::string& root);
PrepList list_omniglot(const std::string& root);
PrepList list_folder(const std::string& root);
PrepList list_csv(const std::string& csv_file);

// The names `nsl_dist prep --dataset` accepts, and whether a dataset has bounding boxes.
const std::vector<std::string>& prep_dataset_names();
bool prep_dataset_has_bboxes(const std::string& name);
// ConfigError "unknown dataset 'x' (known: ...)" unless name is one of prep_dataset_names().
void check_prep_dataset_name(const std::string& name);

// Dispatches on the name; ConfigError for an unknown name or --bbox-crop without boxes.
PrepList list_dataset(const std::string& name, const std::string& root, bool bbox_crop);

}  // namespace nsl
