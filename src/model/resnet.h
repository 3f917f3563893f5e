#pragma once
// ResNet-18 and ResNet-50 with torchvision's layer and parameter names (conv1, bn1,
// layer1.0.conv1, layer1.0.downsample.0, ...), so ImageNet weights map one to one. Returns the
// feature map of layer4; pooling is done by the embedding network.
#include <torch/torch.h>

#include <string>

namespace nsl {

class ResNetImpl : public torch::nn::Module {
 public:
  // depth 18 (BasicBlock) or 50 (Bottleneck).
  ResNetImpl(int depth, int64_t in_channels);
  torch::Tensor forward(torch::Tensor x);  // [n, c, h, w] -> [n, output_dim, h/32, w/32]
  int64_t output_dim() const { return output_dim_; }
  // Puts every BatchNorm in eval mode (running statistics, no update) while the rest trains.
  void freeze_batchnorm();

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Sequential layers_[4];
  int64_t output_dim_ = 0;
};
TORCH_MODULE(ResNet);

}  // namespace nsl
