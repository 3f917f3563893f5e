#include "model/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <set>

#include "common/error.h"

namespace nsl {
namespace {

std::string where(const std::string& path) { return "safetensors file '" + path + "'"; }

struct DtypeInfo {
  torch::Dtype dtype;
  int64_t bytes;
};

DtypeInfo dtype_of(const std::string& name, const std::string& key, const std::string& path) {
  if (name == "F32") return {torch::kFloat32, 4};
  if (name == "F16") return {torch::kFloat16, 2};
  if (name == "BF16") return {torch::kBFloat16, 2};
  throw DataError(where(path) + ": tensor '" + key + "' has dtype " + name +
                  ", which is not supported (F32, F16 or BF16): convert the weights to float");
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(where(path) + " cannot be opened: check model.pretrained");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  if (file_size < 8) {
    throw DataError(where(path) + " is " + std::to_string(file_size) +
                    " bytes: too short for the 8-byte header length (truncated download?)");
  }
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  const uint64_t header_len = read_le64(len_bytes);
  if (header_len > file_size - 8) {
    throw DataError(where(path) + ": header length " + std::to_string(header_len) +
                    " exceeds the file (" + std::to_string(file_size) +
                    " bytes): truncated or not a safetensors file");
  }
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(where(path) + ": the JSON header is malformed: " + e.what());
  }
  if (!j.is_object()) throw DataError(where(path) + ": the JSON header is not an object");
  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<char> data(data_size);
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  if (!in) throw DataError(where(path) + ": reading the tensor data failed");

  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, entry] : j.items()) {
    if (key == "__metadata__") continue;
    if (ends_with(key, "num_batches_tracked")) continue;  // an int64 BN counter: not a weight
    try {
      const DtypeInfo info = dtype_of(entry.at("dtype").get<std::string>(), key, path);
      const auto shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      int64_t numel = 1;
      for (int64_t d : shape) {
        if (d < 0) throw DataError(where(path) + ": tensor '" + key + "' has a negative dimension");
        numel *= d;
      }
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size ||
          offsets[1] - offsets[0] != static_cast<uint64_t>(numel * info.bytes)) {
        throw DataError(
            where(path) + ": tensor '" + key +
            "' has data_offsets that do not match its shape and dtype or the file size");
      }
      auto t = torch::empty(shape, torch::TensorOptions().dtype(info.dtype));
      std::memcpy(t.data_ptr(), data.data() + offsets[0], offsets[1] - offsets[0]);
      out.emplace(key, t.to(torch::kFloat32));
    } catch (const nlohmann::json::exception& e) {
      throw DataError(where(path) + ": tensor '" + key + "' has a malformed entry: " + e.what());
    }
  }
  return out;
}

std::string map_resnet_key(const std::string& key) {
  std::string k = key;
  for (const char* prefix : {"module.", "model."}) {
    const std::string p(prefix);
    if (k.compare(0, p.size(), p) == 0) k = k.substr(p.size());
  }
  return k;
}

LoadReport load_pretrained(torch::nn::Module& module, const std::string& path) {
  const auto file = read_safetensors(path);
  std::map<std::string, torch::Tensor> mapped;
  for (const auto& [key, value] : file) mapped.emplace(map_resnet_key(key), value);

  LoadReport report;
  std::vector<std::string> missing, mis_shaped, unexpected;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  auto take = [&](const std::string& name, torch::Tensor& target) {
    auto it = mapped.find(name);
    if (it == mapped.end()) {
      missing.push_back(name);
      return;
    }
    used.insert(name);
    if (!it->second.sizes().equals(target.sizes())) {
      mis_shaped.push_back(name + " (file " + c10::str(it->second.sizes()) + ", model " +
                           c10::str(target.sizes()) + ")");
      return;
    }
    target.copy_(it->second.to(target.dtype()));
    ++report.loaded;
  };
  for (auto& item : module.named_parameters()) take(item.key(), item.value());
  for (auto& item : module.named_buffers()) {
    if (!ends_with(item.key(), "num_batches_tracked")) take(item.key(), item.value());
  }
  for (const auto& [name, value] : mapped) {
    if (used.count(name)) continue;
    if (name.compare(0, 3, "fc.") == 0) {
      report.ignored.push_back(name);
    } else {
      unexpected.push_back(name);
    }
  }
  if (!missing.empty() || !mis_shaped.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += "\n    " + x;
      return s;
    };
    std::string msg = where(path) + " does not fit the model:";
    if (!missing.empty()) msg += "\n  missing keys:" + list(missing);
    if (!unexpected.empty()) msg += "\n  unexpected keys:" + list(unexpected);
    if (!mis_shaped.empty()) msg += "\n  mis-shaped keys:" + list(mis_shaped);
    throw DataError(msg);
  }
  return report;
}

}  // namespace nsl
