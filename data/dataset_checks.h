#pragma once
// What `nsl_dist train` checks about its data before any training starts, beyond the manifest and
// shard checksums (verify_dataset): the labels in the shards and the class sizes.
#include <string>
#include <vector>

#include "data/manifest.h"

namespace nsl {

// Reads the labels of every shard of both splits and compares them with the manifest. Throws
// DataError naming the shard for a label outside [0, classes); naming the split for a class with
// no image (its center would never see a positive), for labels whose per-class counts differ from
// the manifest's histogram, and for a test split in which no class has two images (Recall@K would
// have no query). Returns warnings for test classes with a single image (their queries are left
// out of Recall@K and counted as lone queries).
std::vector<std::string> check_training_data(const std::string& dataset_dir,
                                             const Manifest& manifest,
                                             const std::string& train_split,
                                             const std::string& test_split);

}  // namespace nsl
