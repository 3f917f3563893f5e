#include "data/shard_writer.h"

#include <stdexcept>
#include <vector>

#include "common/error.h"
#include "data/h5_handle.h"
#include "data/h5_io.h"
#include "data/shard_format.h"

namespace nsl {

using h5::Handle;
using h5::Kind;

struct ShardWriter::Impl {
  std::string path;
  std::string split;
  int64_t shard_index = 0;
  int64_t num_shards = 0;
  hsize_t dims[4] = {0, 0, 0, 0};  // N, H, W, C
  Handle file;
  Handle images;
  std::vector<int64_t> labels;
  std::vector<std::string> paths;
  bool closed = false;
};

ShardWriter::ShardWriter(const std::string& path, const std::string& split, int64_t shard_index,
                         int64_t num_shards, int64_t height, int64_t width, int64_t channels)
    : impl_(std::make_unique<Impl>()) {
  if (height < 1 || width < 1 || channels < 1)
    throw ConfigError("ShardWriter: image size must be positive, got " + std::to_string(height) +
                      "x" + std::to_string(width) + "x" + std::to_string(channels) + " for '" +
                      path + "'");
  if (num_shards < 1 || shard_index < 0 || shard_index >= num_shards)
    throw ConfigError("ShardWriter: shard index " + std::to_string(shard_index) +
                      " is outside [0, " + std::to_string(num_shards) + ") for '" + path + "'");
  const auto guard = h5::lock();
  h5::silence_errors();
  Impl& m = *impl_;
  m.path = path;
  m.split = split;
  m.shard_index = shard_index;
  m.num_shards = num_shards;
  m.dims[1] = static_cast<hsize_t>(height);
  m.dims[2] = static_cast<hsize_t>(width);
  m.dims[3] = static_cast<hsize_t>(channels);
  m.file = h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), Kind::kFile,
                     "creating the shard file", path);
  const hsize_t max_dims[4] = {H5S_UNLIMITED, m.dims[1], m.dims[2], m.dims[3]};
  const hsize_t chunk[4] = {1, m.dims[1], m.dims[2], m.dims[3]};
  Handle space =
      h5::check(H5Screate_simple(4, m.dims, max_dims), Kind::kDataspace, "H5Screate_simple", path);
  Handle dcpl = h5::check(H5Pcreate(H5P_DATASET_CREATE), Kind::kPropList, "H5Pcreate", path);
  h5::check(H5Pset_chunk(dcpl.get(), 4, chunk), "H5Pset_chunk", path);
  // Chunks are allocated as they are written; unwritten space is never read.
  h5::check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", path);
  // No modification times in object headers: the same input gives a bit-identical file.
  h5::check(H5Pset_obj_track_times(dcpl.get(), false), "H5Pset_obj_track_times", path);
  m.images = h5::check(H5Dcreate2(m.file.get(), shard_format::kImages, H5T_STD_U8LE, space.get(),
                                  H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                       Kind::kDataset, "creating dataset 'images'", path);
}

ShardWriter::~ShardWriter() = default;
ShardWriter::ShardWriter(ShardWriter&&) noexcept = default;
ShardWriter& ShardWriter::operator=(ShardWriter&&) noexcept = default;

int64_t ShardWriter::count() const { return static_cast<int64_t>(impl_->labels.size()); }
const std::string& ShardWriter::path() const { return impl_->path; }

void ShardWriter::append(const uint8_t* pixels, int64_t label, const std::string& sample_path) {
  Impl& m = *impl_;
  if (m.closed) throw std::logic_error("ShardWriter::append after close() for '" + m.path + "'");
  const auto guard = h5::lock();
  const hsize_t n = m.labels.size();
  hsize_t new_dims[4] = {n + 1, m.dims[1], m.dims[2], m.dims[3]};
  h5::check(H5Dset_extent(m.images.get(), new_dims), "extending dataset 'images'", m.path);
  Handle file_space =
      h5::check(H5Dget_space(m.images.get()), Kind::kDataspace, "H5Dget_space", m.path);
  const hsize_t start[4] = {n, 0, 0, 0};
  const hsize_t count[4] = {1, m.dims[1], m.dims[2], m.dims[3]};
  h5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
            "H5Sselect_hyperslab", m.path);
  Handle mem_space =
      h5::check(H5Screate_simple(4, count, nullptr), Kind::kDataspace, "H5Screate_simple", m.path);
  h5::check(H5Dwrite(m.images.get(), H5T_NATIVE_UINT8, mem_space.get(), file_space.get(),
                     H5P_DEFAULT, pixels),
            "writing sample " + std::to_string(n) + " of 'images'", m.path);
  m.dims[0] = n + 1;
  m.labels.push_back(label);
  m.paths.push_back(sample_path);
}

void ShardWriter::close() {
  Impl& m = *impl_;
  if (m.closed) return;
  const auto guard = h5::lock();
  const hsize_t n = m.labels.size();
  const hid_t file = m.file.get();
  h5::write_dataset(file, shard_format::kLabels, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n,
                    m.labels.data(), m.path);
  h5::write_strings(file, shard_format::kPaths, m.paths, m.path);
  h5::write_fixed_string_attribute(file, "format", shard_format::kFormat, m.path);
  h5::write_int_attribute(file, "version", shard_format::kVersion, m.path);
  h5::write_fixed_string_attribute(file, "split", m.split, m.path);
  h5::write_int_attribute(file, "shard_index", m.shard_index, m.path);
  h5::write_int_attribute(file, "num_shards", m.num_shards, m.path);
  h5::close_checked(m.images, "closing dataset 'images'", m.path);
  h5::check(H5Fflush(file, H5F_SCOPE_LOCAL), "flushing the shard file", m.path);
  h5::close_checked(m.file, "closing the shard file", m.path);
  m.closed = true;
}

}  // namespace nsl
