#pragma once
// The byte-level layout of a .safetensors file, without LibTorch (so it can be fuzzed on its own):
// an 8-byte little-endian header length N, N bytes of JSON {"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw tensor bytes, offsets
// relative to the end of the header. read_safetensors() (model/safetensors.h) builds the tensors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nsl {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;          // "F32", "F16" or "BF16" (the only ones accepted)
  int64_t element_bytes = 0;  // 4 or 2
  std::vector<int64_t> shape;
  // The tensor's bytes: [begin, end) of the whole file's bytes (header included), so
  // end - begin == product(shape) * element_bytes.
  uint64_t begin = 0, end = 0;
};

// "safetensors file 'PATH'": how every message about such a file names it.
std::string safetensors_file_name(const std::string& path);

// Parses and validates the whole file held in bytes[0, size): the header length, the JSON header
// and every entry's dtype, shape and data_offsets against the data size, in name order. Skips
// "__metadata__" and "*num_batches_tracked" (an int64 BatchNorm counter, not a weight). Throws
// DataError naming the file (`path`, for messages only) and the tensor on any defect.
std::vector<SafetensorsEntry> parse_safetensors(const unsigned char* bytes, size_t size,
                                                const std::string& path);

}  // namespace nsl
