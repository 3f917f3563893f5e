#include "model/export_names.h"

#include <stdexcept>

#include "common/text.h"

namespace nsl {

std::map<std::string, torch::Tensor> exported_network_tensors(const torch::nn::Module& net,
                                                              Backbone backbone) {
  const std::string prefix = "backbone.";
  std::map<std::string, torch::Tensor> out;
  auto add = [&](const std::string& key, const torch::Tensor& value) {
    if (ends_with(key, "num_batches_tracked")) return;
    std::string name = key;
    if (backbone != Backbone::kSmallCnn && name.compare(0, prefix.size(), prefix) == 0)
      name = name.substr(prefix.size());
    if (!out.emplace(name, value.detach().to(torch::kCPU, torch::kFloat32).contiguous()).second)
      throw std::logic_error("exported_network_tensors: two tensors named '" + name + "'");
  };
  for (const auto& item : net.named_parameters()) add(item.key(), item.value());
  for (const auto& item : net.named_buffers()) add(item.key(), item.value());
  return out;
}

}  // namespace nsl
