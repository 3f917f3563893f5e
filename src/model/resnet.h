#pragma once
// ResNet-18 and ResNet-50 with torchvision's layer and parameter names (conv1, bn1,
// layer1.0.conv1, layer1.0.downsample.0, ...), so ImageNet weights map one to one. Returns the
// feature map of layer4; pooling is done by the embedding network. BatchNorm layers are
// SyncBatchNorm2d: trained on the statistics of the global batch once given the communicator.
#include <torch/torch.h>

#include <string>

#include "model/sync_batch_norm.h"

namespace nsl {

class ResNetImpl : public torch::nn::Module {
 public:
  // depth 18 (BasicBlock) or 50 (Bottleneck).
  ResNetImpl(int depth, int64_t in_channels);
  torch::Tensor forward(torch::Tensor x);  // [n, c, h, w] -> [n, output_dim, h/32, w/32]
  int64_t output_dim() const { return output_dim_; }
  // Puts every BatchNorm in eval mode (running statistics, no update) while the rest trains.
  void freeze_batchnorm();
  // BatchNorm statistics over the global batch of these ranks (model/sync_batch_norm.h); null:
  // this process's batch alone.
  void set_batch_norm_communicator(Communicator* comm);

 private:
  torch::nn::Conv2d conv1_{nullptr};
  SyncBatchNorm2d bn1_{nullptr};
  torch::nn::Sequential layers_[4];
  int64_t output_dim_ = 0;
};
TORCH_MODULE(ResNet);

}  // namespace nsl
