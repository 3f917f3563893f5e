#include "model/safetensors.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "common/error.h"
#include "common/text.h"
#include "model/safetensors_format.h"

namespace nsl {
namespace {

torch::Dtype torch_dtype(const std::string& name) {
  if (name == "F16") return torch::kFloat16;
  if (name == "BF16") return torch::kBFloat16;
  return torch::kFloat32;  // parse_safetensors() accepts F32, F16 and BF16 only
}

// Keys of a file that are weights of something other than the backbone.
bool not_backbone(const std::string& key) {
  return starts_with(key, "fc.") || starts_with(key, "head.") || starts_with(key, "ns.") ||
         key == "centering_mean";
}

}  // namespace

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw DataError(safetensors_file_name(path) + " cannot be opened: check model.pretrained");
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (end < 0)
    throw DataError(safetensors_file_name(path) + " cannot be read: check model.pretrained");
  const auto file_size = static_cast<uint64_t>(end);
  in.seekg(0);
  std::vector<unsigned char> bytes(file_size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(file_size));
  if (!in) throw DataError(safetensors_file_name(path) + ": reading the tensor data failed");

  std::map<std::string, torch::Tensor> out;
  for (const auto& entry : parse_safetensors(bytes.data(), bytes.size(), path)) {
    auto t = torch::empty(entry.shape, torch::TensorOptions().dtype(torch_dtype(entry.dtype)));
    if (entry.end > entry.begin)
      std::memcpy(t.data_ptr(), bytes.data() + entry.begin, entry.end - entry.begin);
    out.emplace(entry.name, t.to(torch::kFloat32));
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
    if (not_backbone(name)) {
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
    std::string msg = safetensors_file_name(path) + " does not fit the model:";
    if (!missing.empty()) msg += "\n  missing keys:" + list(missing);
    if (!unexpected.empty()) msg += "\n  unexpected keys:" + list(unexpected);
    if (!mis_shaped.empty()) msg += "\n  mis-shaped keys:" + list(mis_shaped);
    throw DataError(msg);
  }
  return report;
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("write_safetensors: reserved name");
    if (tensor.scalar_type() != torch::kFloat32)
      throw std::invalid_argument("write_safetensors: tensor '" + name + "' is not float32");
    const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.nbytes());
    header[name] = {
        {"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  std::string text = header.dump();
  // The data start 8-byte aligned, as the format's own writers pad the header with spaces.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(length), sizeof(length));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const torch::Tensor& t : data)
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  out.flush();
  if (!out)
    throw Error(kExitRuntime, "writing " + safetensors_file_name(path) + " failed (" +
                                  std::strerror(errno) +
                                  "): check the free space and permissions of its folder");
}

}  // namespace nsl
