#include "model/safetensors_format.h"

#include <nlohmann/json.hpp>

#include <limits>

#include "common/error.h"
#include "common/text.h"

namespace nsl {
namespace {

int64_t element_bytes_of(const std::string& dtype, const std::string& key,
                         const std::string& path) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  throw DataError(safetensors_file_name(path) + ": tensor '" + key + "' has dtype " + dtype +
                  ", which is not supported (F32, F16 or BF16): convert the weights to float");
}

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

[[noreturn]] void malformed(const std::string& path, const std::string& key,
                            const std::string& what) {
  throw DataError(safetensors_file_name(path) + ": tensor '" + key +
                  "' has a malformed entry: " + what);
}

// A JSON array of integers, checked before conversion: nlohmann's get<> would silently truncate
// (or, out of range, convert with undefined behaviour) floats, booleans and huge numbers.
std::vector<int64_t> shape_of(const nlohmann::json& value, const std::string& path,
                              const std::string& key) {
  if (!value.is_array()) malformed(path, key, "shape is not a list of integers");
  std::vector<int64_t> shape;
  for (const auto& d : value) {
    if (!d.is_number_integer() ||
        (d.is_number_unsigned() &&
         d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
      malformed(path, key, "shape " + value.dump() + " is not a list of 64-bit integers");
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

std::vector<uint64_t> offsets_of(const nlohmann::json& value, const std::string& path,
                                 const std::string& key) {
  if (!value.is_array()) malformed(path, key, "data_offsets is not a list of integers");
  std::vector<uint64_t> offsets;
  for (const auto& o : value) {
    if (!(o.is_number_unsigned() || (o.is_number_integer() && o.get<int64_t>() >= 0))) {
      throw DataError(safetensors_file_name(path) + ": tensor '" + key +
                      "' has data_offsets that do not match its shape and dtype or the file size");
    }
    offsets.push_back(o.get<uint64_t>());
  }
  return offsets;
}

}  // namespace

std::string safetensors_file_name(const std::string& path) {
  return "safetensors file '" + path + "'";
}

std::vector<SafetensorsEntry> parse_safetensors(const unsigned char* bytes, size_t size,
                                                const std::string& path) {
  const uint64_t file_size = size;
  if (file_size < 8) {
    throw DataError(safetensors_file_name(path) + " is " + std::to_string(file_size) +
                    " bytes: too short for the 8-byte header length (truncated download?)");
  }
  const uint64_t header_len = read_le64(bytes);
  if (header_len > file_size - 8) {
    throw DataError(safetensors_file_name(path) + ": header length " + std::to_string(header_len) +
                    " exceeds the file (" + std::to_string(file_size) +
                    " bytes): truncated or not a safetensors file");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(safetensors_file_name(path) + ": the JSON header is malformed: " + e.what());
  }
  if (!j.is_object())
    throw DataError(safetensors_file_name(path) + ": the JSON header is not an object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  std::vector<SafetensorsEntry> out;
  for (const auto& [key, entry] : j.items()) {
    if (key == "__metadata__") continue;
    if (ends_with(key, "num_batches_tracked")) continue;  // an int64 BN counter: not a weight
    try {
      SafetensorsEntry e;
      e.name = key;
      e.dtype = entry.at("dtype").get<std::string>();
      e.element_bytes = element_bytes_of(e.dtype, key, path);
      e.shape = shape_of(entry.at("shape"), path, key);
      const auto offsets = offsets_of(entry.at("data_offsets"), path, key);
      // numel * element_bytes with an attacker-chosen shape: computed only while it stays within
      // the data size, so it cannot overflow.
      bool has_zero = false;
      for (int64_t d : e.shape) {
        if (d < 0)
          throw DataError(safetensors_file_name(path) + ": tensor '" + key +
                          "' has a negative dimension");
        if (d == 0) has_zero = true;
      }
      const uint64_t max_numel = data_size / static_cast<uint64_t>(e.element_bytes);
      uint64_t numel = has_zero ? 0 : 1;
      bool too_big = false;
      for (int64_t d : e.shape) {
        if (has_zero) break;
        const auto ud = static_cast<uint64_t>(d);
        if (numel > max_numel / ud) {
          too_big = true;
          break;
        }
        numel *= ud;
      }
      if (too_big || offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size ||
          offsets[1] - offsets[0] != numel * static_cast<uint64_t>(e.element_bytes)) {
        throw DataError(
            safetensors_file_name(path) + ": tensor '" + key +
            "' has data_offsets that do not match its shape and dtype or the file size");
      }
      e.begin = data_start + offsets[0];
      e.end = data_start + offsets[1];
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception& e) {
      throw DataError(safetensors_file_name(path) + ": tensor '" + key +
                      "' has a malformed entry: " + e.what());
    }
  }
  return out;
}

}  // namespace nsl
