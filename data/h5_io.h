#pragma once
// Reading and writing the pieces nsl_dist's HDF5 files are made of (scalar attributes, checked
// datasets, string arrays), shared by the shard and embeddings file formats. Every function takes
// h5::lock() itself. Internal to data/, like h5_handle.h.
#include <cstdint>
#include <string>
#include <vector>

#include "data/h5_handle.h"

namespace nsl::h5 {

// A file being read, and how its format is named in errors: "<kind> '<path>': <problem>; <advice>".
struct Source {
  std::string path;
  const char* kind;    // "shard", "embeddings file"
  const char* advice;  // what to do about an invalid file
};

// Throws DataError "<kind> '<path>': <problem>; <advice>".
[[noreturn]] void invalid(const Source& file, const std::string& problem);

// Scalar attributes of `loc`; a missing one, or one of another type or size, is invalid(file).
std::string read_string_attribute(hid_t loc, const char* name, const Source& file);
int64_t read_int_attribute(hid_t loc, const char* name, const Source& file);

// Opens dataset `name` and checks its element class and rank; its dimensions go to `dims`.
Handle open_dataset(hid_t loc, const char* name, H5T_class_t type_class, int rank,
                    std::vector<hsize_t>& dims, const Source& file);

// The n strings of a 1-D string dataset, of fixed or variable length.
std::vector<std::string> read_strings(hid_t dataset, hsize_t n, const std::string& path);

// Writing: scalar attributes (strings of fixed length or variable length, UTF-8), a dataset of
// `rank` dimensions `dims` stored as `file_type` from `data` in `memory_type` (no modification
// times: the same content gives the same bytes), and a 1-D dataset of variable-length strings.
void write_fixed_string_attribute(hid_t loc, const char* name, const std::string& value,
                                  const std::string& path);
void write_string_attribute(hid_t loc, const char* name, const std::string& value,
                            const std::string& path);
void write_int_attribute(hid_t loc, const char* name, int64_t value, const std::string& path);
void write_dataset(hid_t loc, const char* name, hid_t file_type, hid_t memory_type, int rank,
                   const hsize_t* dims, const void* data, const std::string& path);
void write_strings(hid_t loc, const char* name, const std::vector<std::string>& values,
                   const std::string& path);

}  // namespace nsl::h5
