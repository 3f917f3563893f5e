#include "model/embedding_net.h"

namespace nsl {

EmbeddingNetImpl::EmbeddingNetImpl(const ModelConfig& config, int64_t in_channels)
    : dim_(config.embedding_dim) {
  backbone_ =
      register_module("backbone", SmallCnn(in_channels, config.channels, config.norm_groups));
  head_ = register_module(
      "head",
      torch::nn::Linear(
          torch::nn::LinearOptions(backbone_->output_dim(), config.embedding_dim).bias(false)));
  ns_ = register_module("ns", NSLayer(config.scale, config.learn_scale));
}

Embedding EmbeddingNetImpl::forward(const torch::Tensor& images) {
  torch::Tensor x = head_->forward(backbone_->forward(images));
  return {x, NSLayerImpl::unit(x)};
}

}  // namespace nsl
