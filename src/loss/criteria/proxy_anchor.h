#pragma once
// loss.name proxy_anchor: Proxy-Anchor (loss/proxy_losses.h), a batch loss with one proxy per
// class.
#include "loss/criterion.h"
#include "loss/proxy_losses.h"

namespace nsl {

class ProxyAnchorCriterion : public Criterion {
 public:
  static constexpr const char* kName = "proxy_anchor";
  static constexpr LossProperties kProperties{/*has_centers=*/true, /*batch_loss=*/true};

  ProxyAnchorCriterion(const LossConfig& config, int64_t /*num_classes*/, int64_t /*dim*/)
      : alpha_(config.proxy_anchor_alpha), delta_(config.proxy_anchor_delta) {}

  CriterionOutput forward(const CriterionInput& in) override {
    // Every rank computes the same full loss: the proxies' summed gradient must count once. Same
    // value; the gradient reaching the proxies is scaled ((x - x.detach()) is exactly 0).
    torch::Tensor proxies = in.centers;
    if (in.world_size != 1) {
      proxies = in.centers.detach() + (in.centers - in.centers.detach()) * (1.0 / in.world_size);
    }
    return {proxy_anchor_loss(in.unit, proxies, in.labels, alpha_, delta_), in.unit.size(0)};
  }

 private:
  double alpha_;
  double delta_;
};

}  // namespace nsl
