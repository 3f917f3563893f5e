#include "data/embedding_file.h"

#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fnv.h"
#include "data/h5_handle.h"
#include "data/h5_io.h"

namespace nsl {

namespace {

namespace fs = std::filesystem;
using h5::Handle;
using h5::Kind;

// ---------------------------------------------------------------------------------------------
// Writing

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

h5::Source embeddings_source(const std::string& path) {
  return {path, "embeddings file",
          "it is not a valid nsl_dist embeddings file (format v1): re-run nsl_dist embed to "
          "rewrite it"};
}

[[noreturn]] void bad_file(const std::string& path, const std::string& problem) {
  h5::invalid(embeddings_source(path), problem);
}

std::string get_string(hid_t loc, const char* name, const std::string& path) {
  return h5::read_string_attribute(loc, name, embeddings_source(path));
}

int64_t get_int(hid_t loc, const char* name, const std::string& path) {
  return h5::read_int_attribute(loc, name, embeddings_source(path));
}

std::vector<std::string> get_strings(hid_t loc, const char* name, const std::string& path) {
  std::vector<hsize_t> dims;
  Handle dset = h5::open_dataset(loc, name, H5T_STRING, 1, dims, embeddings_source(path));
  return h5::read_strings(dset.get(), dims[0], path);
}

torch::Tensor get_int64s(hid_t loc, const char* name, const std::string& path) {
  std::vector<hsize_t> dims;
  Handle dset = h5::open_dataset(loc, name, H5T_INTEGER, 1, dims, embeddings_source(path));
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
        const auto guard = h5::lock();
        const std::string tmp = tmp_path.string();
        Handle file = h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                                Kind::kFile, "creating the embeddings file", tmp);
        const hid_t root = file.get();
        const hsize_t n = static_cast<hsize_t>(f.size());
        const hsize_t shape[2] = {n, static_cast<hsize_t>(f.dim())};
        h5::write_dataset(root, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, shape,
                          f.embeddings.data_ptr<float>(), tmp);
        h5::write_dataset(root, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n,
                          f.labels.data_ptr<int64_t>(), tmp);
        h5::write_dataset(root, "indices", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &n,
                          f.indices.data_ptr<int64_t>(), tmp);
        h5::write_strings(root, "paths", f.paths, tmp);
        h5::write_strings(root, "class_names", f.class_names, tmp);
        h5::write_string_attribute(root, "format", kEmbeddingFormat, tmp);
        h5::write_int_attribute(root, "version", kEmbeddingVersion, tmp);
        h5::write_string_attribute(root, "split", f.split, tmp);
        h5::write_string_attribute(root, "dataset", f.dataset, tmp);
        h5::write_string_attribute(root, "dataset_path", f.dataset_path, tmp);
        h5::write_string_attribute(root, "source_root", f.source_root, tmp);
        h5::write_string_attribute(root, "checkpoint", f.checkpoint, tmp);
        h5::write_int_attribute(root, "epoch", f.epoch, tmp);
        h5::write_int_attribute(root, "step", f.step, tmp);
        h5::write_int_attribute(root, "global_step", f.global_step, tmp);
        h5::write_string_attribute(root, "config_hash", f.config_hash, tmp);
        h5::write_string_attribute(root, "weights_fnv1a64", f.weights_fnv1a64, tmp);
        h5::write_int_attribute(root, "embedding_dim", f.dim(), tmp);
        h5::write_int_attribute(root, "image_size", f.image_size, tmp);
        h5::write_int_attribute(root, "channels", f.channels, tmp);
        h5::write_int_attribute(root, "bbox_crop", f.bbox_crop ? 1 : 0, tmp);
        h5::write_string_attribute(root, "embeddings_fnv1a64", f.fingerprint, tmp);
        h5::check(H5Fflush(root, H5F_SCOPE_LOCAL), "flushing the embeddings file", tmp);
        h5::close_checked(file, "closing the embeddings file", tmp);
      },
      kExitData);
}

EmbeddingFile read_embedding_file(const std::string& path) {
  const auto guard = h5::lock();
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
    Handle dset = h5::open_dataset(root, "embeddings", H5T_FLOAT, 2, dims, embeddings_source(path));
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
