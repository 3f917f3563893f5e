#pragma once
// A small CPU-friendly backbone: stages of conv3x3 -> GroupNorm -> ReLU (-> 2x2 max-pool between
// stages), then global average pooling and a per-sample LayerNorm of the pooled vector. GroupNorm
// normalises each sample on its own, so results do not depend on how a global batch is split across
// ranks.
#include <torch/torch.h>

#include <vector>

namespace nsl {

class SmallCnnImpl : public torch::nn::Module {
 public:
  SmallCnnImpl(int64_t in_channels, const std::vector<int64_t>& channels, int64_t norm_groups);
  torch::Tensor forward(torch::Tensor x);  // [n, c, h, w] -> [n, channels.back()]
  int64_t output_dim() const { return output_dim_; }

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::LayerNorm pooled_norm_{nullptr};
  int64_t output_dim_;
};
TORCH_MODULE(SmallCnn);

}  // namespace nsl
