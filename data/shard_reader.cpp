#include "data/shard_reader.h"

#include <cstdlib>
#include <stdexcept>

#include "common/error.h"
#include "data/h5_handle.h"
#include "data/shard_format.h"

namespace nsl {

namespace {

using h5::Handle;
using h5::Kind;

[[noreturn]] void bad_shard(const std::string& file, const std::string& problem) {
  throw DataError("shard '" + file + "': " + problem +
                  "; it is not a valid nsl_dist shard (format v1): re-run the converter "
                  "(nsl_dist prep) to rewrite the dataset");
}

Handle open_attribute(hid_t loc, const char* name, const std::string& file) {
  const htri_t exists = H5Aexists(loc, name);
  if (exists <= 0) bad_shard(file, std::string("missing root attribute '") + name + "'");
  return h5::check(H5Aopen(loc, name, H5P_DEFAULT), Kind::kAttribute,
                   std::string("opening attribute '") + name + "'", file);
}

std::string read_string_attribute(hid_t loc, const char* name, const std::string& file) {
  Handle attr = open_attribute(loc, name, file);
  Handle type = h5::check(H5Aget_type(attr.get()), Kind::kDatatype, "H5Aget_type", file);
  if (H5Tget_class(type.get()) != H5T_STRING)
    bad_shard(file, std::string("attribute '") + name + "' is not a string");
  Handle space = h5::check(H5Aget_space(attr.get()), Kind::kDataspace, "H5Aget_space", file);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    bad_shard(file, std::string("attribute '") + name + "' is not a single string");
  const htri_t variable = H5Tis_variable_str(type.get());
  h5::check(static_cast<herr_t>(variable), "H5Tis_variable_str", file);
  Handle mem = h5::check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", file);
  h5::check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), "H5Tset_cset", file);
  if (variable > 0) {
    h5::check(H5Tset_size(mem.get(), H5T_VARIABLE), "H5Tset_size", file);
    char* value = nullptr;
    h5::check(H5Aread(attr.get(), mem.get(), &value),
              std::string("reading attribute '") + name + "'", file);
    std::string result = value ? value : "";
    H5free_memory(value);
    return result;
  }
  const size_t size = H5Tget_size(type.get());
  if (size == 0) bad_shard(file, std::string("attribute '") + name + "' has size 0");
  h5::check(H5Tset_size(mem.get(), size + 1), "H5Tset_size", file);
  h5::check(H5Tset_strpad(mem.get(), H5T_STR_NULLTERM), "H5Tset_strpad", file);
  std::string buffer(size + 1, '\0');
  h5::check(H5Aread(attr.get(), mem.get(), buffer.data()),
            std::string("reading attribute '") + name + "'", file);
  return std::string(buffer.c_str());
}

int64_t read_int_attribute(hid_t loc, const char* name, const std::string& file) {
  Handle attr = open_attribute(loc, name, file);
  Handle type = h5::check(H5Aget_type(attr.get()), Kind::kDatatype, "H5Aget_type", file);
  if (H5Tget_class(type.get()) != H5T_INTEGER)
    bad_shard(file, std::string("attribute '") + name + "' is not an integer");
  Handle space = h5::check(H5Aget_space(attr.get()), Kind::kDataspace, "H5Aget_space", file);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    bad_shard(file, std::string("attribute '") + name + "' is not a single integer");
  int64_t value = 0;
  h5::check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value),
            std::string("reading attribute '") + name + "'", file);
  return value;
}

// Opens a dataset, checks its type class and rank, and returns its dimensions.
Handle open_dataset(hid_t file_id, const char* name, H5T_class_t type_class, int rank,
                    std::vector<hsize_t>& dims, const std::string& file) {
  if (H5Lexists(file_id, name, H5P_DEFAULT) <= 0)
    bad_shard(file, std::string("missing dataset '") + name + "'");
  Handle dset = h5::check(H5Dopen2(file_id, name, H5P_DEFAULT), Kind::kDataset,
                          std::string("opening dataset '") + name + "'", file);
  Handle type = h5::check(H5Dget_type(dset.get()), Kind::kDatatype, "H5Dget_type", file);
  if (H5Tget_class(type.get()) != type_class)
    bad_shard(file, std::string("dataset '") + name + "' has the wrong element type");
  Handle space = h5::check(H5Dget_space(dset.get()), Kind::kDataspace, "H5Dget_space", file);
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims != rank)
    bad_shard(file, std::string("dataset '") + name + "' has " + std::to_string(ndims) +
                        " dimensions, expected " + std::to_string(rank));
  dims.assign(static_cast<size_t>(rank), 0);
  h5::check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr),
            "H5Sget_simple_extent_dims", file);
  return dset;
}

std::vector<std::string> read_paths(hid_t dset, hsize_t n, const std::string& file) {
  std::vector<std::string> out;
  out.reserve(n);
  Handle type = h5::check(H5Dget_type(dset), Kind::kDatatype, "H5Dget_type", file);
  const htri_t variable = H5Tis_variable_str(type.get());
  h5::check(static_cast<herr_t>(variable), "H5Tis_variable_str", file);
  if (n == 0) return out;
  Handle mem = h5::check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", file);
  h5::check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), "H5Tset_cset", file);
  if (variable > 0) {
    h5::check(H5Tset_size(mem.get(), H5T_VARIABLE), "H5Tset_size", file);
    std::vector<char*> pointers(n, nullptr);
    h5::check(H5Dread(dset, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
              "reading dataset 'paths'", file);
    for (char* p : pointers) out.emplace_back(p ? p : "");
    Handle space = h5::check(H5Dget_space(dset), Kind::kDataspace, "H5Dget_space", file);
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, pointers.data());
    return out;
  }
  const size_t size = H5Tget_size(type.get()) + 1;
  h5::check(H5Tset_size(mem.get(), size), "H5Tset_size", file);
  h5::check(H5Tset_strpad(mem.get(), H5T_STR_NULLTERM), "H5Tset_strpad", file);
  std::vector<char> buffer(size * n, '\0');
  h5::check(H5Dread(dset, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()),
            "reading dataset 'paths'", file);
  for (hsize_t i = 0; i < n; ++i) out.emplace_back(buffer.data() + i * size);
  return out;
}

}  // namespace

struct ShardFile::Handles {
  Handle file, images, labels, paths;
};

ShardFile::ShardFile(ShardFile&&) noexcept = default;
ShardFile& ShardFile::operator=(ShardFile&&) noexcept = default;
ShardFile::~ShardFile() = default;

ShardFile::ShardFile(const std::string& path) : path_(path), h5_(std::make_unique<Handles>()) {
  h5::silence_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw DataError("shard '" + path +
                    "' does not exist or is not an HDF5 file; re-run the converter "
                    "(nsl_dist prep) to rewrite the dataset");
  h5_->file = h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), Kind::kFile,
                        "opening the shard file", path);
  const hid_t f = h5_->file.get();
  const std::string format = read_string_attribute(f, "format", path);
  if (format != shard_format::kFormat)
    bad_shard(path,
              "attribute 'format' is '" + format + "', expected '" + shard_format::kFormat + "'");
  const int64_t version = read_int_attribute(f, "version", path);
  if (version != shard_format::kVersion)
    bad_shard(path, "format version " + std::to_string(version) + " is not supported (expected " +
                        std::to_string(shard_format::kVersion) + ")");
  split_ = read_string_attribute(f, "split", path);
  shard_index_ = read_int_attribute(f, "shard_index", path);
  num_shards_ = read_int_attribute(f, "num_shards", path);
  if (num_shards_ < 1 || shard_index_ < 0 || shard_index_ >= num_shards_)
    bad_shard(path, "shard_index " + std::to_string(shard_index_) + " / num_shards " +
                        std::to_string(num_shards_) + " are inconsistent");

  std::vector<hsize_t> image_dims, label_dims, path_dims;
  h5_->images = open_dataset(f, shard_format::kImages, H5T_INTEGER, 4, image_dims, path);
  h5_->labels = open_dataset(f, shard_format::kLabels, H5T_INTEGER, 1, label_dims, path);
  h5_->paths = open_dataset(f, shard_format::kPaths, H5T_STRING, 1, path_dims, path);
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
  torch::Tensor out =
      torch::empty({size_, image_shape_[0], image_shape_[1], image_shape_[2]}, torch::kUInt8);
  if (size_ > 0)
    h5::check(H5Dread(h5_->images.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      out.data_ptr<uint8_t>()),
              "reading dataset 'images'", path_);
  return out;
}

torch::Tensor ShardFile::read_labels() {
  torch::Tensor out = torch::empty({size_}, torch::kInt64);
  if (size_ > 0)
    h5::check(H5Dread(h5_->labels.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      out.data_ptr<int64_t>()),
              "reading dataset 'labels'", path_);
  return out;
}

std::vector<std::string> ShardFile::read_paths() {
  return nsl::read_paths(h5_->paths.get(), static_cast<hsize_t>(size_), path_);
}

void ShardFile::read_image(int64_t position, uint8_t* out) {
  if (position < 0 || position >= size_)
    throw std::out_of_range("shard '" + path_ + "': sample " + std::to_string(position) +
                            " outside [0, " + std::to_string(size_) + ")");
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
