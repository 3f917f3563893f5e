#include "model/ns_layer.h"

#include <cmath>

namespace nsl {

namespace F = torch::nn::functional;

NSLayerImpl::NSLayerImpl(double scale, bool learn_scale) {
  auto value = torch::full({}, std::log(scale), torch::kFloat32);
  if (learn_scale) {
    log_scale_ = register_parameter("log_scale", value);
  } else {
    log_scale_ = register_buffer("log_scale", value);
  }
}

torch::Tensor NSLayerImpl::unit(const torch::Tensor& x) {
  return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(1).eps(1e-12));
}

torch::Tensor NSLayerImpl::scale() const {
  static const double kLogMin = 0.0;
  static const double kLogMax = std::log(128.0);
  return torch::exp(torch::clamp(log_scale_, kLogMin, kLogMax));
}

}  // namespace nsl
