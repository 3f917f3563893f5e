#include "data/embedding_file.h"

#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fnv.h"
#include "data/h5_handle.h"

namespace nsl {

namespace {

namespace fs = std::filesystem;
using h5::Handle;
using h5::Kind;

// ---------------------------------------------------------------------------------------------
// Writing

Handle vlen_string_type(const std::string& file) {
  Handle type = h5::check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", file);
  h5::check(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", file);
  h5::check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", file);
  return type;
}

void put_string(hid_t loc, const char* name, const std::string& value, const std::string& file) {
  Handle type = vlen_string_type(file);
  Handle space = h5::check(H5Screate(H5S_SCALAR), Kind::kDataspace, "H5Screate", file);
  Handle attr = h5::check(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          Kind::kAttribute, std::string("creating attribute '") + name + "'", file);
  const char* pointer = value.c_str();
  h5::check(H5Awrite(attr.get(), type.get(), &pointer),
            std::string("writing attribute '") + name + "'", file);
}

void put_int(hid_t loc, const char* name, int64_t value, const std::string& file) {
  Handle space = h5::check(H5Screate(H5S_SCALAR), Kind::kDataspace, "H5Screate", file);
  Handle attr =
      h5::check(H5Acreate2(loc, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                Kind::kAttribute, std::string("creating attribute '") + name + "'", file);
  h5::check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value),
            std::string("writing attribute '") + name + "'", file);
}

// A dataset of `rank` dimensions `dims`, file type `file_type`, written from `data` in `mem_type`.
void put_dataset(hid_t loc, const char* name, hid_t file_type, hid_t mem_type, int rank,
                 const hsize_t* dims, const void* data, const std::string& file) {
  Handle space =
      h5::check(H5Screate_simple(rank, dims, nullptr), Kind::kDataspace, "H5Screate_simple", file);
  Handle dcpl = h5::check(H5Pcreate(H5P_DATASET_CREATE), Kind::kPropList, "H5Pcreate", file);
  // No modification times in object headers: the same embeddings give a bit-identical file.
  h5::check(H5Pset_obj_track_times(dcpl.get(), false), "H5Pset_obj_track_times", file);
  Handle dset =
      h5::check(H5Dcreate2(loc, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                Kind::kDataset, std::string("creating dataset '") + name + "'", file);
  hsize_t elements = 1;
  for (int i = 0; i < rank; ++i) elements *= dims[i];
  if (elements > 0)
    h5::check(H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
              std::string("writing dataset '") + name + "'", file);
}

void put_strings(hid_t loc, const char* name, const std::vector<std::string>& values,
                 const std::string& file) {
  Handle type = vlen_string_type(file);
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const std::string& v : values) pointers.push_back(v.c_str());
  const hsize_t n = values.size();
  put_dataset(loc, name, type.get(), type.get(), 1, &n, pointers.data(), file);
}

void check_fields(const EmbeddingFile& f, const std::string& path) {
  auto bad = [&](const std::string& what) {
    throw std::invalid_argument("write_embedding_file('" + path + "'): " + what);
  };
  if (!f.embeddings.defined() || f.embeddings.dim() != 2 ||
      f.embeddings.scalar_type() != torch::kFloat32)
    bad("embeddings must be a float32 [N, d] tensor");
  const int64_t n = f.embeddings.size(0);
  if (f.embeddings.size(1) < 1) bad("embedding dimension 0");
  for (const torch::Tensor* t : {&f.labels, &f.indices}) {
    if (!t->defined() || t->dim() != 1 || t->scalar_type() != torch::kInt64 || t->size(0) != n)
      bad("labels and indices must be int64 [N] with N = " + std::to_string(n));
  }
  if (static_cast<int64_t>(f.paths.size()) != n)
    bad(std::to_string(f.paths.size()) + " paths for " + std::to_string(n) + " rows");
  if (n > 0 && !f.class_names.empty()) {
    const int64_t lo = f.labels.min().item<int64_t>(), hi = f.labels.max().item<int64_t>();
    if (lo < 0 || hi >= static_cast<int64_t>(f.class_names.size()))
      bad("labels span [" + std::to_string(lo) + ", " + std::to_string(hi) + "] but " +
          std::to_string(f.class_names.size()) + " class names are given");
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

[[noreturn]] void bad_file(const std::string& path, const std::string& problem) {
  throw DataError("embeddings file '" + path + "': " + problem +
                  "; it is not a valid nsl_dist embeddings file (format v1): re-run nsl_dist "
                  "embed to rewrite it");
}

Handle open_attribute(hid_t loc, const char* name, const std::string& path) {
  if (H5Aexists(loc, name) <= 0) bad_file(path, std::string("missing attribute '") + name + "'");
  return h5::check(H5Aopen(loc, name, H5P_DEFAULT), Kind::kAttribute,
                   std::string("opening attribute '") + name + "'", path);
}

std::string get_string(hid_t loc, const char* name, const std::string& path) {
  Handle attr = open_attribute(loc, name, path);
  Handle type = h5::check(H5Aget_type(attr.get()), Kind::kDatatype, "H5Aget_type", path);
  Handle space = h5::check(H5Aget_space(attr.get()), Kind::kDataspace, "H5Aget_space", path);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1)
    bad_file(path, std::string("attribute '") + name + "' is not a single string");
  const htri_t variable = H5Tis_variable_str(type.get());
  h5::check(static_cast<herr_t>(variable), "H5Tis_variable_str", path);
  Handle mem = h5::check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", path);
  h5::check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), "H5Tset_cset", path);
  if (variable > 0) {
    h5::check(H5Tset_size(mem.get(), H5T_VARIABLE), "H5Tset_size", path);
    char* value = nullptr;
    h5::check(H5Aread(attr.get(), mem.get(), &value),
              std::string("reading attribute '") + name + "'", path);
    std::string result = value ? value : "";
    H5free_memory(value);
    return result;
  }
  const size_t size = H5Tget_size(type.get());
  h5::check(H5Tset_size(mem.get(), size + 1), "H5Tset_size", path);
  h5::check(H5Tset_strpad(mem.get(), H5T_STR_NULLTERM), "H5Tset_strpad", path);
  std::string buffer(size + 1, '\0');
  h5::check(H5Aread(attr.get(), mem.get(), buffer.data()),
            std::string("reading attribute '") + name + "'", path);
  return std::string(buffer.c_str());
}

int64_t get_int(hid_t loc, const char* name, const std::string& path) {
  Handle attr = open_attribute(loc, name, path);
  Handle type = h5::check(H5Aget_type(attr.get()), Kind::kDatatype, "H5Aget_type", path);
  Handle space = h5::check(H5Aget_space(attr.get()), Kind::kDataspace, "H5Aget_space", path);
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
    bad_file(path, std::string("attribute '") + name + "' is not a single integer");
  int64_t value = 0;
  h5::check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value),
            std::string("reading attribute '") + name + "'", path);
  return value;
}

// Opens dataset `name`, checks its element class and rank, returns its dimensions in `dims`.
Handle open_dataset(hid_t loc, const char* name, H5T_class_t type_class, int rank,
                    std::vector<hsize_t>& dims, const std::string& path) {
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
    bad_file(path, std::string("missing dataset '/") + name + "'");
  Handle dset = h5::check(H5Dopen2(loc, name, H5P_DEFAULT), Kind::kDataset,
                          std::string("opening dataset '") + name + "'", path);
  Handle type = h5::check(H5Dget_type(dset.get()), Kind::kDatatype, "H5Dget_type", path);
  if (H5Tget_class(type.get()) != type_class)
    bad_file(path, std::string("dataset '/") + name + "' has the wrong element type");
  Handle space = h5::check(H5Dget_space(dset.get()), Kind::kDataspace, "H5Dget_space", path);
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims != rank)
    bad_file(path, std::string("dataset '/") + name + "' has " + std::to_string(ndims) +
                       " dimensions, expected " + std::to_string(rank));
  dims.assign(static_cast<size_t>(rank), 0);
  h5::check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr),
            "H5Sget_simple_extent_dims", path);
  return dset;
}

std::vector<std::string> get_strings(hid_t loc, const char* name, const std::string& path) {
  std::vector<hsize_t> dims;
  Handle dset = open_dataset(loc, name, H5T_STRING, 1, dims, path);
  Handle type = h5::check(H5Dget_type(dset.get()), Kind::kDatatype, "H5Dget_type", path);
  if (H5Tis_variable_str(type.get()) <= 0)
    bad_file(path, std::string("dataset '/") + name + "' does not hold variable-length strings");
  std::vector<std::string> out;
  if (dims[0] == 0) return out;
  Handle mem = vlen_string_type(path);
  std::vector<char*> pointers(dims[0], nullptr);
  h5::check(H5Dread(dset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
            std::string("reading dataset '") + name + "'", path);
  out.reserve(pointers.size());
  for (char* p : pointers) out.emplace_back(p ? p : "");
  Handle space = h5::check(H5Dget_space(dset.get()), Kind::kDataspace, "H5Dget_space", path);
  H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, pointers.data());
  return out;
}

torch::Tensor get_int64s(hid_t loc, const char* name, const std::string& path) {
  std::vector<hsize_t> dims;
  Handle dset = open_dataset(loc, name, H5T_INTEGER, 1, dims, path);
  torch::Tensor out = torch::empty({static_cast<int64_t>(dims[0])}, torch::kInt64);
  if (dims[0] > 0)
    h5::check(H5Dread(dset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      out.data_ptr<int64_t>()),
              std::string("reading dataset '") + name + "'", path);
  return out;
}

}  // namespace

std::string EmbeddingFile::label_name(int64_t label) const {
  if (label >= 0 && label < static_cast<int64_t>(class_names.size()))
    return class_names[static_cast<size_t>(label)];
  return std::to_string(label);
}

std::string embeddings_fingerprint(const torch::Tensor& embeddings) {
  const torch::Tensor e = embeddings.to(torch::kFloat32).contiguous().cpu();
  return hex64(fnv1a64(e.data_ptr<float>(), static_cast<size_t>(e.numel()) * sizeof(float)));
}

void write_embedding_file(const std::string& path, EmbeddingFile& f) {
  check_fields(f, path);
  f.embeddings = f.embeddings.contiguous().cpu();
  f.labels = f.labels.contiguous().cpu();
  f.indices = f.indices.contiguous().cpu();
  f.fingerprint = embeddings_fingerprint(f.embeddings);
  h5::silence_errors();

  const fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      throw DataError("cannot create the folder of '" + path + "': " + ec.message() +
                      "; choose another --out");
  }
  write_file_atomically(
      target,
      [&](const fs::path& tmp_path) {
        const std::string tmp = tmp_path.string();
        Handle file = h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                                Kind::kFile, "creating the embeddings file", tmp);
        const hid_t root = file.get();
        const hsize_t n = static_cast<hsize_t>(f.size());
        const hsize_t shape[2] = {n, static_cast<hsize_t>(f.dim())};
        put_dataset(root, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, shape,
                    f.embeddings.data_ptr<float>(), tmp);
        put_dataset(root, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n,
                    f.labels.data_ptr<int64_t>(), tmp);
        put_dataset(root, "indices", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n,
                    f.indices.data_ptr<int64_t>(), tmp);
        put_strings(root, "paths", f.paths, tmp);
        put_strings(root, "class_names", f.class_names, tmp);
        put_string(root, "format", kEmbeddingFormat, tmp);
        put_int(root, "version", kEmbeddingVersion, tmp);
        put_string(root, "split", f.split, tmp);
        put_string(root, "dataset", f.dataset, tmp);
        put_string(root, "dataset_path", f.dataset_path, tmp);
        put_string(root, "source_root", f.source_root, tmp);
        put_string(root, "checkpoint", f.checkpoint, tmp);
        put_int(root, "epoch", f.epoch, tmp);
        put_int(root, "step", f.step, tmp);
        put_int(root, "global_step", f.global_step, tmp);
        put_string(root, "config_hash", f.config_hash, tmp);
        put_string(root, "weights_fnv1a64", f.weights_fnv1a64, tmp);
        put_int(root, "embedding_dim", f.dim(), tmp);
        put_int(root, "image_size", f.image_size, tmp);
        put_int(root, "channels", f.channels, tmp);
        put_int(root, "bbox_crop", f.bbox_crop ? 1 : 0, tmp);
        put_string(root, "embeddings_fnv1a64", f.fingerprint, tmp);
        h5::check(H5Fflush(root, H5F_SCOPE_LOCAL), "flushing the embeddings file", tmp);
        h5::close_checked(file, "closing the embeddings file", tmp);
      },
      kExitData);
}

EmbeddingFile read_embedding_file(const std::string& path) {
  h5::silence_errors();
  if (!fs::exists(path))
    throw DataError("embeddings file '" + path +
                    "' does not exist: write it with `nsl_dist embed --checkpoint CKPT --out " +
                    path + "`");
  if (H5Fis_hdf5(path.c_str()) <= 0)
    bad_file(path, "not an HDF5 file (truncated or another format)");
  Handle file = h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), Kind::kFile,
                          "opening the embeddings file", path);
  const hid_t root = file.get();
  const std::string format = get_string(root, "format", path);
  if (format != kEmbeddingFormat)
    bad_file(path, "attribute 'format' is '" + format + "', expected '" + kEmbeddingFormat + "'");
  const int64_t version = get_int(root, "version", path);
  if (version != kEmbeddingVersion)
    bad_file(path, "format version " + std::to_string(version) + " is not supported (expected " +
                       std::to_string(kEmbeddingVersion) + ")");

  EmbeddingFile f;
  f.split = get_string(root, "split", path);
  f.dataset = get_string(root, "dataset", path);
  f.dataset_path = get_string(root, "dataset_path", path);
  f.source_root = get_string(root, "source_root", path);
  f.checkpoint = get_string(root, "checkpoint", path);
  f.epoch = get_int(root, "epoch", path);
  f.step = get_int(root, "step", path);
  f.global_step = get_int(root, "global_step", path);
  f.config_hash = get_string(root, "config_hash", path);
  f.weights_fnv1a64 = get_string(root, "weights_fnv1a64", path);
  f.image_size = get_int(root, "image_size", path);
  f.channels = get_int(root, "channels", path);
  f.bbox_crop = get_int(root, "bbox_crop", path) != 0;
  const int64_t dim = get_int(root, "embedding_dim", path);
  const std::string recorded = get_string(root, "embeddings_fnv1a64", path);
  if (f.config_hash.empty()) bad_file(path, "attribute 'config_hash' is empty");
  if (f.image_size < 1 || (f.channels != 1 && f.channels != 3))
    bad_file(path, "image_size " + std::to_string(f.image_size) + " / channels " +
                       std::to_string(f.channels) + " are not a valid image shape");

  std::vector<hsize_t> dims;
  {
    Handle dset = open_dataset(root, "embeddings", H5T_FLOAT, 2, dims, path);
    if (static_cast<int64_t>(dims[1]) != dim || dim < 1)
      bad_file(path, "dataset '/embeddings' has " + std::to_string(dims[1]) +
                         " columns but attribute 'embedding_dim' says " + std::to_string(dim));
    f.embeddings = torch::empty({static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1])},
                                torch::kFloat32);
    if (dims[0] > 0)
      h5::check(H5Dread(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        f.embeddings.data_ptr<float>()),
                "reading dataset 'embeddings'", path);
  }
  const int64_t n = f.size();
  if (n == 0) bad_file(path, "it holds no embeddings");
  f.labels = get_int64s(root, "labels", path);
  f.indices = get_int64s(root, "indices", path);
  f.paths = get_strings(root, "paths", path);
  f.class_names = get_strings(root, "class_names", path);
  if (f.labels.size(0) != n || f.indices.size(0) != n || static_cast<int64_t>(f.paths.size()) != n)
    bad_file(path, "inconsistent lengths: embeddings " + std::to_string(n) + ", labels " +
                       std::to_string(f.labels.size(0)) + ", indices " +
                       std::to_string(f.indices.size(0)) + ", paths " +
                       std::to_string(f.paths.size()));
  if (!f.class_names.empty()) {
    const int64_t lo = f.labels.min().item<int64_t>(), hi = f.labels.max().item<int64_t>();
    if (lo < 0 || hi >= static_cast<int64_t>(f.class_names.size()))
      bad_file(path, "labels span [" + std::to_string(lo) + ", " + std::to_string(hi) + "] but " +
                         std::to_string(f.class_names.size()) + " class names are stored");
  }
  f.fingerprint = embeddings_fingerprint(f.embeddings);
  if (f.fingerprint != recorded)
    bad_file(path, "the embeddings' fingerprint is " + f.fingerprint + ", the file records " +
                       recorded + " (the data was changed or damaged)");
  if (!torch::isfinite(f.embeddings).all().item<bool>())
    bad_file(path, "dataset '/embeddings' holds NaN or Inf values");
  return f;
}

}  // namespace nsl
