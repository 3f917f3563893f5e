#include "data/shard_reader.h"

#include <cstdlib>
#include <stdexcept>

#include "common/error.h"
#include "data/h5_handle.h"
#include "data/h5_io.h"
#include "data/shard_format.h"

namespace nsl {

namespace {

using h5::Handle;
using h5::Kind;

h5::Source shard_source(const std::string& file) {
  return {file, "shard",
          "it is not a valid nsl_dist shard (format v1): re-run the converter (nsl_dist prep) "
          "to rewrite the dataset"};
}

[[noreturn]] void bad_shard(const std::string& file, const std::string& problem) {
  h5::invalid(shard_source(file), problem);
}

}  // namespace

struct ShardFile::Handles {
  Handle file, images, labels, paths;
};

ShardFile::ShardFile(ShardFile&&) noexcept = default;
ShardFile& ShardFile::operator=(ShardFile&&) noexcept = default;
ShardFile::~ShardFile() = default;

ShardFile::ShardFile(const std::string& path) : path_(path), h5_(std::make_unique<Handles>()) {
  const auto guard = h5::lock();
  h5::silence_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw DataError("shard '" + path +
                    "' does not exist or is not an HDF5 file; re-run the converter "
                    "(nsl_dist prep) to rewrite the dataset");
  h5_->file = h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), Kind::kFile,
                        "opening the shard file", path);
  const hid_t f = h5_->file.get();
  const h5::Source source = shard_source(path);
  const std::string format = h5::read_string_attribute(f, "format", source);
  if (format != shard_format::kFormat)
    bad_shard(path,
              "attribute 'format' is '" + format + "', expected '" + shard_format::kFormat + "'");
  const int64_t version = h5::read_int_attribute(f, "version", source);
  if (version != shard_format::kVersion)
    bad_shard(path, "format version " + std::to_string(version) + " is not supported (expected " +
                        std::to_string(shard_format::kVersion) + ")");
  split_ = h5::read_string_attribute(f, "split", source);
  shard_index_ = h5::read_int_attribute(f, "shard_index", source);
  num_shards_ = h5::read_int_attribute(f, "num_shards", source);
  if (num_shards_ < 1 || shard_index_ < 0 || shard_index_ >= num_shards_)
    bad_shard(path, "shard_index " + std::to_string(shard_index_) + " / num_shards " +
                        std::to_string(num_shards_) + " are inconsistent");

  std::vector<hsize_t> image_dims, label_dims, path_dims;
  h5_->images = h5::open_dataset(f, shard_format::kImages, H5T_INTEGER, 4, image_dims, source);
  h5_->labels = h5::open_dataset(f, shard_format::kLabels, H5T_INTEGER, 1, label_dims, source);
  h5_->paths = h5::open_dataset(f, shard_format::kPaths, H5T_STRING, 1, path_dims, source);
  const hsize_t n = image_dims[0];
  if (label_dims[0] != n || path_dims[0] != n)
    bad_shard(path, "inconsistent lengths: images " + std::to_string(n) + ", labels " +
                        std::to_string(label_dims[0]) + ", paths " + std::to_string(path_dims[0]));
  for (int d = 1; d < 4; ++d) {
    if (image_dims[d] == 0) bad_shard(path, "dataset 'images' has an empty image dimension");
    image_shape_[static_cast<size_t>(d - 1)] = static_cast<int64_t>(image_dims[d]);
  }
  size_ = static_cast<int64_t>(n);
}

torch::Tensor ShardFile::read_images() {
  const auto guard = h5::lock();
  torch::Tensor out =
      torch::empty({size_, image_shape_[0], image_shape_[1], image_shape_[2]}, torch::kUInt8);
  if (size_ > 0)
    h5::check(H5Dread(h5_->images.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      out.data_ptr<uint8_t>()),
              "reading dataset 'images'", path_);
  return out;
}

torch::Tensor ShardFile::read_labels() {
  const auto guard = h5::lock();
  torch::Tensor out = torch::empty({size_}, torch::kInt64);
  if (size_ > 0)
    h5::check(H5Dread(h5_->labels.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      out.data_ptr<int64_t>()),
              "reading dataset 'labels'", path_);
  return out;
}

std::vector<std::string> ShardFile::read_paths() {
  return h5::read_strings(h5_->paths.get(), static_cast<hsize_t>(size_), path_);
}

void ShardFile::read_image(int64_t position, uint8_t* out) {
  if (position < 0 || position >= size_)
    throw std::out_of_range("shard '" + path_ + "': sample " + std::to_string(position) +
                            " outside [0, " + std::to_string(size_) + ")");
  const auto guard = h5::lock();
  const hsize_t start[4] = {static_cast<hsize_t>(position), 0, 0, 0};
  const hsize_t count[4] = {1, static_cast<hsize_t>(image_shape_[0]),
                            static_cast<hsize_t>(image_shape_[1]),
                            static_cast<hsize_t>(image_shape_[2])};
  Handle file_space =
      h5::check(H5Dget_space(h5_->images.get()), Kind::kDataspace, "H5Dget_space", path_);
  h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
            "selecting sample " + std::to_string(position), path_);
  Handle memory_space =
      h5::check(H5Screate_simple(4, count, nullptr), Kind::kDataspace, "H5Screate_simple", path_);
  h5::check(H5Dread(h5_->images.get(), H5T_NATIVE_UINT8, memory_space.get(), file_space.get(),
                    H5P_DEFAULT, out),
            "reading sample " + std::to_string(position) + " of dataset 'images'", path_);
}

ShardContents read_samples(ShardFile& file) {
  ShardContents out;
  out.split = file.split();
  out.shard_index = file.shard_index();
  out.num_shards = file.num_shards();
  out.images = file.read_images();
  out.labels = file.read_labels();
  return out;
}

ShardContents read_shard(const std::string& path) {
  ShardFile file(path);
  ShardContents out = read_samples(file);
  out.paths = file.read_paths();
  return out;
}

}  // namespace nsl
