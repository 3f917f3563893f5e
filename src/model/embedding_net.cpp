#include "model/embedding_net.h"

#include <stdexcept>

namespace nsl {

EmbeddingNetImpl::EmbeddingNetImpl(const ModelConfig& config, int64_t in_channels)
    : pooling_(config.pooling), freeze_bn_(config.freeze_bn), dim_(config.embedding_dim) {
  int64_t features = 0;
  if (config.backbone == Backbone::kSmallCnn) {
    small_ =
        register_module("backbone", SmallCnn(in_channels, config.channels, config.norm_groups));
    features = small_->output_dim();
  } else {
    resnet_ = register_module(
        "backbone", ResNet(config.backbone == Backbone::kResnet50 ? 50 : 18, in_channels));
    features = resnet_->output_dim();
  }
  head_ = register_module(
      "head",
      torch::nn::Linear(torch::nn::LinearOptions(features, config.embedding_dim).bias(false)));
  ns_ = register_module("ns", NSLayer(config.scale, config.learn_scale));
  if (config.center_embeddings) {
    centering_mean_ = register_buffer("centering_mean", torch::zeros({config.embedding_dim}));
    centering_momentum_ = config.centering_momentum;
  }
  if (freeze_bn_ && resnet_) resnet_->freeze_batchnorm();
}

torch::Tensor EmbeddingNetImpl::pool(const torch::Tensor& f) const {
  switch (pooling_) {
    case Pooling::kMax:
      return f.amax({2, 3});
    case Pooling::kAvgMax:
      return f.mean({2, 3}) + f.amax({2, 3});
    case Pooling::kAvg:
      break;
  }
  return f.mean({2, 3});
}

Embedding EmbeddingNetImpl::forward(const torch::Tensor& images) {
  const torch::Tensor pooled = small_ ? small_->forward(images) : pool(resnet_->forward(images));
  torch::Tensor x = head_->forward(pooled);
  return {x, NSLayerImpl::unit(centering_mean_.defined() ? x - centering_mean_ : x)};
}

void EmbeddingNetImpl::set_centering_mean(const torch::Tensor& mean) {
  if (!centering_mean_.defined()) throw std::logic_error("model.center_embeddings is off");
  torch::NoGradGuard no_grad;
  centering_mean_.copy_(mean);
}

void EmbeddingNetImpl::update_centering(const torch::Tensor& batch_mean) {
  if (!centering_mean_.defined()) throw std::logic_error("model.center_embeddings is off");
  torch::NoGradGuard no_grad;
  centering_mean_.mul_(1.0 - centering_momentum_)
      .add_(batch_mean.to(centering_mean_.options()), centering_momentum_);
}

std::vector<torch::Tensor> EmbeddingNetImpl::backbone_parameters() const {
  return small_ ? small_->parameters() : resnet_->parameters();
}

std::vector<torch::Tensor> EmbeddingNetImpl::head_parameters() const {
  std::vector<torch::Tensor> out = head_->parameters();
  for (const auto& p : ns_->parameters()) out.push_back(p);
  return out;
}

LoadReport EmbeddingNetImpl::load_backbone_weights(const std::string& path) {
  if (!resnet_) throw std::logic_error("pretrained weights are for the ResNet backbones");
  return load_pretrained(*resnet_, path);
}

void EmbeddingNetImpl::set_batch_norm_communicator(Communicator* comm) {
  if (!resnet_) return;
  resnet_->set_batch_norm_communicator(comm);
  syncs_batch_norm_ = !freeze_bn_ && comm != nullptr && comm->size() > 1;
}

void EmbeddingNetImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (on && freeze_bn_ && resnet_) resnet_->freeze_batchnorm();
}

}  // namespace nsl
