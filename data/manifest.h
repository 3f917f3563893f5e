#pragma once
// dataset_dir/manifest.json: what a converted dataset holds (image size, splits, classes, shards
// with their sample counts and checksums). Written last by DatasetWriter, read first by sources.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nsl {

inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kManifestFormat = "nsl_dist.dataset";

struct Manifest {
  int version = 1;
  std::string name;
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;
  struct Split {
    int64_t num_classes = 0;
    int64_t num_images = 0;
    std::vector<std::string> class_names;  // index = class id within the split
    std::vector<int64_t> class_histogram;  // images per class id
    struct Shard {
      std::string file;      // relative to the dataset folder, e.g. "train-00003.h5"
      int64_t count = 0;     // samples in the shard
      std::string checksum;  // file_checksum() of the file
      int64_t bytes = -1;    // file size; -1 = not recorded (size check skipped)
    };
    std::vector<Shard> shards;  // index = shard index
  };
  std::map<std::string, Split> splits;
  nlohmann::json source = nlohmann::json::object();  // free-form provenance (converter, options)
};

nlohmann::json manifest_to_json(const Manifest& m);
// `where` names the origin in error messages (usually the file path).
Manifest manifest_from_json(const nlohmann::json& j, const std::string& where);

// Writes dir/manifest.json (pretty-printed). Throws DataError if it cannot be written.
void write_manifest(const std::string& dir, const Manifest& m);
// Parses and validates the JSON text of a manifest; `where` names it in errors. DataError for
// invalid JSON and, like manifest_from_json, for a missing or bad key.
Manifest parse_manifest(const std::string& text, const std::string& where);
// Reads and validates dir/manifest.json. Throws DataError naming the file and the missing or bad
// key (e.g. "splits.train.shards[2].checksum").
Manifest read_manifest(const std::string& dir);

// The split `name` of m, or DataError listing the splits that exist.
const Manifest::Split& manifest_split(const Manifest& m, const std::string& name,
                                      const std::string& dir);

// Checks that every shard file of every split exists and matches its recorded size and checksum.
// Throws DataError naming the shard file and telling to re-run the converter.
void verify_dataset(const std::string& dir, const Manifest& m);

}  // namespace nsl
