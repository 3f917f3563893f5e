#pragma once
// backbone -> global pooling -> linear to d -> N-S layer. Backbones: the small CPU network
// (pools inside, average only) or torchvision-compatible ResNet-18/50 (pooled here: avg, max or
// their sum).
#include <torch/torch.h>

#include "config/config.h"
#include "model/ns_layer.h"
#include "model/resnet.h"
#include "model/safetensors.h"
#include "model/small_cnn.h"

namespace nsl {

struct Embedding {
  torch::Tensor raw;   // [n, d] linear output x
  torch::Tensor unit;  // [n, d] (x - mean) / ||x - mean||: the retrieval descriptor; mean is the
                       // centering mean with model.center_embeddings, else 0
};

class EmbeddingNetImpl : public torch::nn::Module {
 public:
  EmbeddingNetImpl(const ModelConfig& config, int64_t in_channels);
  Embedding forward(const torch::Tensor& images);
  NSLayer& ns() { return ns_; }
  int64_t dim() const { return dim_; }
  // The backbone's parameters (frozen during train.freeze_backbone_epochs); the rest is the head.
  std::vector<torch::Tensor> backbone_parameters() const;
  std::vector<torch::Tensor> head_parameters() const;
  // model.pretrained into the ResNet backbone.
  LoadReport load_backbone_weights(const std::string& path);
  // Keeps frozen BatchNorm layers in eval mode whenever the network is put in training mode.
  void train(bool on = true) override;
  // Trainable BatchNorm (ResNet without model.freeze_bn) takes its training statistics over the
  // global batch of comm's ranks; every rank must then run every training forward and backward.
  void set_batch_norm_communicator(Communicator* comm);
  // True when a training-mode forward or backward is a collective (see above).
  bool syncs_batch_norm() const { return syncs_batch_norm_; }

  // model.center_embeddings: the mean subtracted from the head's outputs (buffer
  // "centering_mean", checkpointed and covered by the replica check like BatchNorm's statistics).
  bool centers_embeddings() const { return centering_mean_.defined(); }
  const torch::Tensor& centering_mean() const { return centering_mean_; }
  void set_centering_mean(const torch::Tensor& mean);
  // mean <- (1 - momentum) mean + momentum batch_mean, where batch_mean is the global batch's mean
  // of the raw outputs (identical on every rank).
  void update_centering(const torch::Tensor& batch_mean);

 private:
  torch::Tensor pool(const torch::Tensor& features) const;

  SmallCnn small_{nullptr};
  ResNet resnet_{nullptr};
  torch::nn::Linear head_{nullptr};
  NSLayer ns_{nullptr};
  Pooling pooling_;
  bool freeze_bn_ = false;
  bool syncs_batch_norm_ = false;
  torch::Tensor centering_mean_;
  double centering_momentum_ = 0.0;
  int64_t dim_;
};
TORCH_MODULE(EmbeddingNet);

}  // namespace nsl
