#include "data/dataset_writer.h"

#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/checksum.h"
#include "data/shard_writer.h"

namespace nsl {

namespace fs = std::filesystem;

namespace {

// out_dir without trailing separators, so that "<out_dir>.tmp-<pid>" is a sibling.
std::string normalised(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool valid_split_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

}  // namespace

std::string shard_file_name(const std::string& split, int64_t index) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "-%05lld.h5", static_cast<long long>(index));
  return split + buffer;
}

DatasetWriter::DatasetWriter(const std::string& out_dir, const std::string& name, int64_t height,
                             int64_t width, int64_t channels, int64_t shards_per_split)
    : out_dir_(normalised(out_dir)),
      name_(name),
      height_(height),
      width_(width),
      channels_(channels),
      shards_per_split_(shards_per_split) {
  if (out_dir_.empty() || out_dir_ == "." || out_dir_ == "/")
    throw ConfigError("dataset output folder '" + out_dir + "' is not usable");
  if (height < 1 || width < 1 || channels < 1)
    throw ConfigError("dataset image size must be positive");
  if (shards_per_split < 1)
    throw ConfigError("shards per split must be at least 1, got " +
                      std::to_string(shards_per_split));
  draft_ = std::make_unique<FolderDraft>(out_dir_, kExitData);
  tmp_dir_ = draft_->path().string();
}

DatasetWriter::~DatasetWriter() {
  if (finalized_) return;
  try {
    splits_.clear();  // closes any open shard files before their folder goes
  } catch (...) {
  }
  draft_.reset();  // removes the unpublished folder
}

void DatasetWriter::set_source(const nlohmann::json& source) { source_ = source; }

DatasetWriter::SplitState& DatasetWriter::split_state(const std::string& split) {
  auto it = splits_.find(split);
  if (it != splits_.end()) return it->second;
  if (!valid_split_name(split))
    throw ConfigError("split name '" + split + "' must be letters, digits, '_' or '-'");
  SplitState state;
  for (int64_t s = 0; s < shards_per_split_; ++s)
    state.shards.push_back(
        std::make_unique<ShardWriter>((fs::path(tmp_dir_) / shard_file_name(split, s)).string(),
                                      split, s, shards_per_split_, height_, width_, channels_));
  return splits_.emplace(split, std::move(state)).first->second;
}

void DatasetWriter::add(const std::string& split, const std::string& class_name,
                        const uint8_t* pixels, const std::string& sample_path) {
  if (finalized_) throw std::logic_error("DatasetWriter::add after finalize()");
  SplitState& st = split_state(split);
  auto [it, inserted] =
      st.class_ids.emplace(class_name, static_cast<int64_t>(st.class_names.size()));
  if (inserted) {
    st.class_names.push_back(class_name);
    st.histogram.push_back(0);
  }
  const int64_t label = it->second;
  st.shards[static_cast<size_t>(st.count % shards_per_split_)]->append(pixels, label, sample_path);
  ++st.histogram[static_cast<size_t>(label)];
  ++st.count;
}

Manifest DatasetWriter::finalize() {
  if (finalized_) throw std::logic_error("DatasetWriter::finalize called twice");
  if (splits_.empty())
    throw DataError("dataset '" + out_dir_ + "' has no images; nothing to write");
  Manifest m;
  m.name = name_;
  m.height = height_;
  m.width = width_;
  m.channels = channels_;
  m.source = source_;
  for (auto& [split, st] : splits_) {
    Manifest::Split s;
    s.num_classes = static_cast<int64_t>(st.class_names.size());
    s.num_images = st.count;
    s.class_names = st.class_names;
    s.class_histogram = st.histogram;
    for (auto& writer : st.shards) {
      writer->close();
      Manifest::Split::Shard sh;
      sh.file = fs::path(writer->path()).filename().string();
      sh.count = writer->count();
      sh.checksum = file_checksum(writer->path());
      sh.bytes = static_cast<int64_t>(fs::file_size(writer->path()));
      s.shards.push_back(sh);
    }
    m.splits.emplace(split, std::move(s));
  }
  write_manifest(tmp_dir_, m);

  draft_->publish();
  finalized_ = true;
  return m;
}

}  // namespace nsl
