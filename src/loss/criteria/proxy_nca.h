#pragma once
// loss.name proxy_nca: Proxy-NCA (loss/proxy_losses.h), one proxy per class, per sample.
#include "loss/criterion.h"
#include "loss/proxy_losses.h"

namespace nsl {

class ProxyNcaCriterion : public Criterion {
 public:
  static constexpr const char* kName = "proxy_nca";
  static constexpr LossProperties kProperties{/*has_centers=*/true, /*batch_loss=*/false};

  ProxyNcaCriterion(const LossConfig& config, int64_t /*num_classes*/, int64_t /*dim*/)
      : scale_(config.proxy_nca_scale) {}

  CriterionOutput forward(const CriterionInput& in) override {
    return {proxy_nca_loss(in.unit, in.centers, in.labels, scale_)};
  }

 private:
  double scale_;
};

}  // namespace nsl
