#include "model/small_cnn.h"

namespace nsl {

namespace nn = torch::nn;

SmallCnnImpl::SmallCnnImpl(int64_t in_channels, const std::vector<int64_t>& channels,
                           int64_t norm_groups)
    : output_dim_(channels.back()) {
  nn::Sequential seq;
  int64_t in = in_channels;
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t out = channels[i];
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
    seq->push_back(nn::GroupNorm(nn::GroupNormOptions(norm_groups, out)));
    seq->push_back(nn::ReLU());
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    seq->push_back(nn::GroupNorm(nn::GroupNormOptions(norm_groups, out)));
    seq->push_back(nn::ReLU());
    if (i + 1 < channels.size()) seq->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    in = out;
  }
  features_ = register_module("features", seq);
  pooled_norm_ =
      register_module("pooled_norm", nn::LayerNorm(nn::LayerNormOptions({channels.back()})));
}

torch::Tensor SmallCnnImpl::forward(torch::Tensor x) {
  x = features_->forward(x);
  // ReLU features pooled over space share a large positive mean, which would put every
  // embedding in one narrow cone (mean pairwise cosine 0.99 at initialisation) and let the loss
  // collapse them. Normalising each pooled vector across its channels (per sample, so independent
  // of the batch split) removes that common component.
  return pooled_norm_->forward(x.mean({2, 3}));
}

}  // namespace nsl
