#pragma once
// The Normalize-Scale layer (METHOD.md section 1): f = s * x / ||x||, with s fixed or learned as
// log(s) clamped to [1, 128].
#include <torch/torch.h>

namespace nsl {

class NSLayerImpl : public torch::nn::Module {
 public:
  NSLayerImpl(double scale, bool learn_scale);
  // Unit-length rows x / ||x||; an all-zero row stays zero (no NaN).
  static torch::Tensor unit(const torch::Tensor& x);
  torch::Tensor scale() const;  // 0-d tensor s (differentiable when learned)
  torch::Tensor forward(const torch::Tensor& x) { return scale() * unit(x); }

 private:
  torch::Tensor log_scale_;
};
TORCH_MODULE(NSLayer);

}  // namespace nsl
