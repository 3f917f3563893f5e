#include "data/h5_io.h"

#include <algorithm>

#include "common/error.h"

namespace nsl::h5 {
namespace {

Handle open_attribute(hid_t loc, const char* name, const Source& file) {
  if (H5Aexists(loc, name) <= 0) invalid(file, std::string("missing attribute '") + name + "'");
  return check(H5Aopen(loc, name, H5P_DEFAULT), Kind::kAttribute,
               std::string("opening attribute '") + name + "'", file.path);
}

// A memory type for strings of the file type `type`'s character set: variable length, or fixed
// length `size` (NUL-terminated).
Handle string_memory_type(hid_t type, bool variable, size_t size, const std::string& path) {
  Handle mem = check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", path);
  check(H5Tset_cset(mem.get(), H5Tget_cset(type)), "H5Tset_cset", path);
  if (variable) {
    check(H5Tset_size(mem.get(), H5T_VARIABLE), "H5Tset_size", path);
  } else {
    check(H5Tset_size(mem.get(), size), "H5Tset_size", path);
    check(H5Tset_strpad(mem.get(), H5T_STR_NULLTERM), "H5Tset_strpad", path);
  }
  return mem;
}

Handle utf8_string_type(const std::string& path) {
  Handle type = check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", path);
  check(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", path);
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", path);
  return type;
}

void write_attribute(hid_t loc, const char* name, hid_t file_type, hid_t memory_type,
                     const void* value, const std::string& path) {
  Handle space = check(H5Screate(H5S_SCALAR), Kind::kDataspace, "H5Screate", path);
  Handle attr = check(H5Acreate2(loc, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                      Kind::kAttribute, std::string("creating attribute '") + name + "'", path);
  check(H5Awrite(attr.get(), memory_type, value), std::string("writing attribute '") + name + "'",
        path);
}

}  // namespace

void invalid(const Source& file, const std::string& problem) {
  throw DataError(std::string(file.kind) + " '" + file.path + "': " + problem + "; " + file.advice);
}

std::string read_string_attribute(hid_t loc, const char* name, const Source& file) {
  const auto guard = lock();
  Handle attr = open_attribute(loc, name, file);
  Handle type = check(H5Aget_type(attr.get()), Kind::kDatatype, "H5Aget_type", file.path);
  Handle space = check(H5Aget_space(attr.get()), Kind::kDataspace, "H5Aget_space", file.path);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1)
    invalid(file, std::string("attribute '") + name + "' is not a single string");
  const htri_t variable = H5Tis_variable_str(type.get());
  check(static_cast<herr_t>(variable), "H5Tis_variable_str", file.path);
  const size_t size = variable > 0 ? 0 : H5Tget_size(type.get());
  if (variable <= 0 && size == 0) invalid(file, std::string("attribute '") + name + "' has size 0");
  Handle mem = string_memory_type(type.get(), variable > 0, size + 1, file.path);
  const std::string reading = std::string("reading attribute '") + name + "'";
  if (variable > 0) {
    char* value = nullptr;
    check(H5Aread(attr.get(), mem.get(), &value), reading, file.path);
    std::string result = value ? value : "";
    H5free_memory(value);
    return result;
  }
  std::string buffer(size + 1, '\0');
  check(H5Aread(attr.get(), mem.get(), buffer.data()), reading, file.path);
  return std::string(buffer.c_str());
}

int64_t read_int_attribute(hid_t loc, const char* name, const Source& file) {
  const auto guard = lock();
  Handle attr = open_attribute(loc, name, file);
  Handle type = check(H5Aget_type(attr.get()), Kind::kDatatype, "H5Aget_type", file.path);
  Handle space = check(H5Aget_space(attr.get()), Kind::kDataspace, "H5Aget_space", file.path);
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1)
    invalid(file, std::string("attribute '") + name + "' is not a single integer");
  int64_t value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value),
        std::string("reading attribute '") + name + "'", file.path);
  return value;
}

Handle open_dataset(hid_t loc, const char* name, H5T_class_t type_class, int rank,
                    std::vector<hsize_t>& dims, const Source& file) {
  const auto guard = lock();
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
    invalid(file, std::string("missing dataset '") + name + "'");
  Handle dset = check(H5Dopen2(loc, name, H5P_DEFAULT), Kind::kDataset,
                      std::string("opening dataset '") + name + "'", file.path);
  Handle type = check(H5Dget_type(dset.get()), Kind::kDatatype, "H5Dget_type", file.path);
  if (H5Tget_class(type.get()) != type_class)
    invalid(file, std::string("dataset '") + name + "' has the wrong element type");
  Handle space = check(H5Dget_space(dset.get()), Kind::kDataspace, "H5Dget_space", file.path);
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims != rank)
    invalid(file, std::string("dataset '") + name + "' has " + std::to_string(ndims) +
                      " dimensions, expected " + std::to_string(rank));
  dims.assign(static_cast<size_t>(rank), 0);
  check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "H5Sget_simple_extent_dims",
        file.path);
  return dset;
}

std::vector<std::string> read_strings(hid_t dataset, hsize_t n, const std::string& path) {
  const auto guard = lock();
  std::vector<std::string> out;
  out.reserve(n);
  Handle type = check(H5Dget_type(dataset), Kind::kDatatype, "H5Dget_type", path);
  const htri_t variable = H5Tis_variable_str(type.get());
  check(static_cast<herr_t>(variable), "H5Tis_variable_str", path);
  if (n == 0) return out;
  const size_t size = variable > 0 ? 0 : H5Tget_size(type.get()) + 1;
  Handle mem = string_memory_type(type.get(), variable > 0, size, path);
  if (variable > 0) {
    std::vector<char*> pointers(n, nullptr);
    check(H5Dread(dataset, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
          "reading a string dataset", path);
    for (char* p : pointers) out.emplace_back(p ? p : "");
    Handle space = check(H5Dget_space(dataset), Kind::kDataspace, "H5Dget_space", path);
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, pointers.data());
    return out;
  }
  std::vector<char> buffer(size * n, '\0');
  check(H5Dread(dataset, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()),
        "reading a string dataset", path);
  for (hsize_t i = 0; i < n; ++i) out.emplace_back(buffer.data() + i * size);
  return out;
}

void write_fixed_string_attribute(hid_t loc, const char* name, const std::string& value,
                                  const std::string& path) {
  const auto guard = lock();
  Handle type = check(H5Tcopy(H5T_C_S1), Kind::kDatatype, "H5Tcopy", path);
  check(H5Tset_size(type.get(), value.empty() ? 1 : value.size()), "H5Tset_size", path);
  check(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), "H5Tset_strpad", path);
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", path);
  std::vector<char> buffer(value.begin(), value.end());
  buffer.resize(std::max<size_t>(value.size(), 1), '\0');
  write_attribute(loc, name, type.get(), type.get(), buffer.data(), path);
}

void write_string_attribute(hid_t loc, const char* name, const std::string& value,
                            const std::string& path) {
  const auto guard = lock();
  Handle type = utf8_string_type(path);
  const char* pointer = value.c_str();
  write_attribute(loc, name, type.get(), type.get(), &pointer, path);
}

void write_int_attribute(hid_t loc, const char* name, int64_t value, const std::string& path) {
  const auto guard = lock();
  write_attribute(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, path);
}

void write_dataset(hid_t loc, const char* name, hid_t file_type, hid_t memory_type, int rank,
                   const hsize_t* dims, const void* data, const std::string& path) {
  const auto guard = lock();
  Handle space =
      check(H5Screate_simple(rank, dims, nullptr), Kind::kDataspace, "H5Screate_simple", path);
  Handle dcpl = check(H5Pcreate(H5P_DATASET_CREATE), Kind::kPropList, "H5Pcreate", path);
  check(H5Pset_obj_track_times(dcpl.get(), false), "H5Pset_obj_track_times", path);
  Handle dset =
      check(H5Dcreate2(loc, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
            Kind::kDataset, std::string("creating dataset '") + name + "'", path);
  hsize_t elements = 1;
  for (int i = 0; i < rank; ++i) elements *= dims[i];
  if (elements > 0)
    check(H5Dwrite(dset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
          std::string("writing dataset '") + name + "'", path);
}

void write_strings(hid_t loc, const char* name, const std::vector<std::string>& values,
                   const std::string& path) {
  const auto guard = lock();
  Handle type = utf8_string_type(path);
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const std::string& v : values) pointers.push_back(v.c_str());
  const hsize_t n = values.size();
  write_dataset(loc, name, type.get(), type.get(), 1, &n, pointers.data(), path);
}

}  // namespace nsl::h5
