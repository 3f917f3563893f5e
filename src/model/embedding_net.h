#pragma once
// backbone -> global pooling -> linear to d -> N-S layer.
#include <torch/torch.h>

#include "config/config.h"
#include "model/ns_layer.h"
#include "model/small_cnn.h"

namespace nsl {

struct Embedding {
  torch::Tensor raw;   // [n, d] linear output x
  torch::Tensor unit;  // [n, d] x / ||x||: the retrieval descriptor
};

class EmbeddingNetImpl : public torch::nn::Module {
 public:
  EmbeddingNetImpl(const ModelConfig& config, int64_t in_channels);
  Embedding forward(const torch::Tensor& images);
  NSLayer& ns() { return ns_; }
  int64_t dim() const { return dim_; }

 private:
  SmallCnn backbone_{nullptr};
  torch::nn::Linear head_{nullptr};
  NSLayer ns_{nullptr};
  int64_t dim_;
};
TORCH_MODULE(EmbeddingNet);

}  // namespace nsl
