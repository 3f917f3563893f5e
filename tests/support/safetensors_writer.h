#pragma once
// Writes safetensors files for tests, byte by byte (independent of model/safetensors.cpp's reader).
#include <torch/torch.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace nsl::test {

// Writes an 8-byte little-endian header length, the header text, then the data bytes.
inline void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
}

// A safetensors file of every parameter and buffer of `module` (F32), keys prefixed, plus extras.
inline void write_module(const std::string& path, torch::nn::Module& module,
                         const std::string& prefix,
                         const std::map<std::string, torch::Tensor>& extra = {},
                         const std::string& skip = "") {
  std::map<std::string, torch::Tensor> all;
  for (const auto& p : module.named_parameters()) all[prefix + p.key()] = p.value();
  for (const auto& b : module.named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) all[prefix + b.key()] = b.value();
  for (const auto& [k, v] : extra) all[k] = v;
  all.erase(skip);
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const auto& [k, v] : all) {
    const auto c = v.to(torch::kFloat32).contiguous();
    const size_t begin = data.size();
    data.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    std::string shape;
    for (int64_t d : c.sizes()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += ",\"" + k + "\":{\"dtype\":\"F32\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  write_raw(path, header + "}", data);
}

}  // namespace nsl::test
