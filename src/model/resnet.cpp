#include "model/resnet.h"

#include <stdexcept>

namespace nsl {
namespace nn = torch::nn;
namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

// conv-bn-relu twice (expansion 1) or three times (expansion 4), plus the shortcut.
class BlockImpl : public nn::Module {
 public:
  BlockImpl(int64_t in, int64_t width, int64_t stride, bool bottleneck) : bottleneck_(bottleneck) {
    const int64_t out = bottleneck ? width * 4 : width;
    if (bottleneck) {
      conv1_ = register_module("conv1", conv(in, width, 1, 1, 0));
      bn1_ = register_module("bn1", SyncBatchNorm2d(width));
      conv2_ = register_module("conv2", conv(width, width, 3, stride, 1));
      bn2_ = register_module("bn2", SyncBatchNorm2d(width));
      conv3_ = register_module("conv3", conv(width, out, 1, 1, 0));
      bn3_ = register_module("bn3", SyncBatchNorm2d(out));
    } else {
      conv1_ = register_module("conv1", conv(in, width, 3, stride, 1));
      bn1_ = register_module("bn1", SyncBatchNorm2d(width));
      conv2_ = register_module("conv2", conv(width, width, 3, 1, 1));
      bn2_ = register_module("bn2", SyncBatchNorm2d(width));
    }
    if (stride != 1 || in != out) {
      downsample_ = register_module(
          "downsample", nn::Sequential(conv(in, out, 1, stride, 0), SyncBatchNorm2d(out)));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    if (bottleneck_) y = bn3_->forward(conv3_->forward(torch::relu(y)));
    const torch::Tensor shortcut = downsample_.is_empty() ? x : downsample_->forward(x);
    return torch::relu(y + shortcut);
  }

 private:
  bool bottleneck_;
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  SyncBatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Block);

}  // namespace

ResNetImpl::ResNetImpl(int depth, int64_t in_channels) {
  if (depth != 18 && depth != 50) {
    throw std::invalid_argument("ResNet depth must be 18 or 50, got " + std::to_string(depth));
  }
  const bool bottleneck = depth == 50;
  const int64_t blocks[4] = {2, 2, 2, 2};
  const int64_t blocks50[4] = {3, 4, 6, 3};
  conv1_ = register_module("conv1", conv(in_channels, 64, 7, 2, 3));
  bn1_ = register_module("bn1", SyncBatchNorm2d(64));
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = 64 << stage;
    nn::Sequential seq;
    const int64_t count = bottleneck ? blocks50[stage] : blocks[stage];
    for (int64_t b = 0; b < count; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      seq->push_back(Block(in, width, stride, bottleneck));
      in = bottleneck ? width * 4 : width;
    }
    layers_[stage] = register_module("layer" + std::to_string(stage + 1), seq);
  }
  output_dim_ = in;
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = torch::relu(bn1_->forward(conv1_->forward(x)));
  x = torch::max_pool2d(x, 3, 2, 1);
  for (auto& layer : layers_) x = layer->forward(x);
  return x;
}

void ResNetImpl::freeze_batchnorm() {
  for (auto& m : modules(/*include_self=*/false)) {
    if (dynamic_cast<SyncBatchNorm2dImpl*>(m.get()) != nullptr) m->eval();
  }
}

void ResNetImpl::set_batch_norm_communicator(Communicator* comm) {
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* bn = dynamic_cast<SyncBatchNorm2dImpl*>(m.get())) bn->set_communicator(comm);
  }
}

}  // namespace nsl
