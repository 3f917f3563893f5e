#pragma once
// Builds a converted dataset folder: per split, `shards_per_split` shard files
// (`<split>-<index:05>.h5`) plus manifest.json. Everything is written into
// temporary_sibling(out_dir) (common/atomic_file.h); finalize() publishes it with publish_folder
// (every file fsynced, the old folder moved aside, the new one renamed in), so out_dir is the old
// complete dataset or the new complete one, never half-written.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/manifest.h"

namespace nsl {

class FolderDraft;

class ShardWriter;

class DatasetWriter {
 public:
  DatasetWriter(const std::string& out_dir, const std::string& name, int64_t height, int64_t width,
                int64_t channels, int64_t shards_per_split);
  // Without finalize(): removes the temporary folder. Never throws.
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Adds one image (height*width*channels bytes, H, W, C order). Class ids of a split are assigned
  // 0, 1, ... in order of first appearance of `class_name` in that split; samples of a split are
  // dealt round-robin over its shards in insertion order. `split`: letters, digits, '_' or '-'.
  void add(const std::string& split, const std::string& class_name, const uint8_t* pixels,
           const std::string& sample_path);

  // Free-form provenance stored as manifest "source".
  void set_source(const nlohmann::json& source);

  // Closes the shards, writes manifest.json, then replaces out_dir. Returns the manifest.
  Manifest finalize();

  const std::string& temp_dir() const { return tmp_dir_; }

 private:
  struct SplitState {
    std::vector<std::unique_ptr<ShardWriter>> shards;
    std::map<std::string, int64_t> class_ids;
    std::vector<std::string> class_names;
    std::vector<int64_t> histogram;
    int64_t count = 0;
  };
  SplitState& split_state(const std::string& split);

  std::string out_dir_;
  std::unique_ptr<FolderDraft> draft_;
  std::string tmp_dir_;  // draft_'s folder
  std::string name_;
  int64_t height_, width_, channels_, shards_per_split_;
  nlohmann::json source_ = nlohmann::json::object();
  std::map<std::string, SplitState> splits_;
  bool finalized_ = false;
};

// "<split>-<index:05>.h5", e.g. "train-00003.h5".
std::string shard_file_name(const std::string& split, int64_t index);

}  // namespace nsl
