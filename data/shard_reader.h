#pragma once
// Reads shard files (format v1): whole, or sample by sample.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nsl {

struct ShardContents {
  torch::Tensor images;  // uint8 [N, H, W, C]
  torch::Tensor labels;  // int64 [N]
  std::vector<std::string> paths;
  std::string split;
  int64_t shard_index = 0;
  int64_t num_shards = 0;
};

// An open, validated shard. Throws DataError naming the file when it is not a v1 shard (see
// read_shard). Not thread-safe: one reader per thread.
class ShardFile {
 public:
  explicit ShardFile(const std::string& path);
  ShardFile(ShardFile&&) noexcept;
  ShardFile& operator=(ShardFile&&) noexcept;
  ~ShardFile();

  const std::string& path() const { return path_; }
  const std::string& split() const { return split_; }
  int64_t shard_index() const { return shard_index_; }
  int64_t num_shards() const { return num_shards_; }
  int64_t size() const { return size_; }
  const std::array<int64_t, 3>& image_shape() const { return image_shape_; }  // H, W, C

  torch::Tensor read_images();  // uint8 [N, H, W, C]
  torch::Tensor read_labels();  // int64 [N]
  std::vector<std::string> read_paths();
  // One sample's H * W * C bytes (one HDF5 chunk) into `out`.
  void read_image(int64_t position, uint8_t* out);

 private:
  std::string path_;
  struct Handles;  // the HDF5 identifiers (hdf5.h stays inside data/*.cpp)
  std::unique_ptr<Handles> h5_;
  std::string split_;
  int64_t shard_index_ = 0, num_shards_ = 0, size_ = 0;
  std::array<int64_t, 3> image_shape_{};
};

// Everything of an open shard but its paths (which training never needs).
ShardContents read_samples(ShardFile& file);

// Throws DataError naming the file when it is not a v1 shard (missing/wrong `format` attribute,
// other version), a dataset is missing or has the wrong type/rank, or the lengths disagree.
ShardContents read_shard(const std::string& path);

}  // namespace nsl
