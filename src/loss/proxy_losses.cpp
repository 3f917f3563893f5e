#include "loss/proxy_losses.h"

#include <limits>

#include "model/ns_layer.h"

namespace nsl {

torch::Tensor proxy_nca_loss(const torch::Tensor& unit, const torch::Tensor& proxies,
                             const torch::Tensor& labels, double scale) {
  const auto p = NSLayerImpl::unit(proxies);
  const auto dist = (2.0 - 2.0 * torch::matmul(unit, p.t())).clamp_min(0.0);
  const auto logits = -scale * dist;
  const auto positive = torch::one_hot(labels, proxies.size(0)).to(torch::kBool);
  const double inf = std::numeric_limits<double>::infinity();
  if (proxies.size(0) == 1) return logits.sum(1) * 0.0;
  const auto negatives = torch::where(positive, torch::full_like(logits, -inf), logits);
  return torch::logsumexp(negatives, 1) - logits.gather(1, labels.unsqueeze(1)).squeeze(1);
}

torch::Tensor proxy_nca_pp_loss(const torch::Tensor& unit, const torch::Tensor& proxies,
                                const torch::Tensor& labels, double scale) {
  const auto p = NSLayerImpl::unit(proxies);
  const auto logits = -scale * (2.0 - 2.0 * torch::matmul(unit, p.t())).clamp_min(0.0);
  return torch::logsumexp(logits, 1) - logits.gather(1, labels.unsqueeze(1)).squeeze(1);
}

torch::Tensor proxy_anchor_loss(const torch::Tensor& unit, const torch::Tensor& proxies,
                                const torch::Tensor& labels, double alpha, double delta) {
  const auto sim = torch::matmul(unit, NSLayerImpl::unit(proxies).t());  // [B, C]
  const auto positive = torch::one_hot(labels, proxies.size(0)).to(torch::kBool);
  const double inf = std::numeric_limits<double>::infinity();
  // log(1 + sum over the batch) per proxy, as a log-sum-exp with an extra zero row.
  auto soft = [&](const torch::Tensor& z, const torch::Tensor& keep) {
    const auto masked = torch::where(keep, z, torch::full_like(z, -inf));
    const auto with_one = torch::cat({masked, torch::zeros({1, z.size(1)}, z.options())}, 0);
    return torch::logsumexp(with_one, 0);  // [C]
  };
  const auto pos_term = soft(-alpha * (sim - delta), positive);
  const auto neg_term = soft(alpha * (sim + delta), ~positive);
  const auto with_pos = positive.any(0);
  const int64_t n_with_pos = with_pos.sum().item<int64_t>();
  const auto pos =
      n_with_pos > 0 ? (pos_term * with_pos.to(sim.dtype())).sum() / static_cast<double>(n_with_pos)
                     : sim.sum() * 0.0;
  return pos + neg_term.mean();
}

}  // namespace nsl
