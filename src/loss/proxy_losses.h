#pragma once
// Proxy-based baselines of METHOD.md section 5: one learned proxy per class, compared on the unit
// sphere (proxies are normalised inside the loss).
#include <torch/torch.h>

namespace nsl {

// Proxy-NCA, per sample: -log( e^{-s d(u, p_y)} / sum_{z != y} e^{-s d(u, p_z)} ) with
// d = ||u - p/||p||||^2 (the positive proxy is not in the denominator). With one class the
// denominator is empty and the loss is 0.
torch::Tensor proxy_nca_loss(const torch::Tensor& unit, const torch::Tensor& proxies,
                             const torch::Tensor& labels, double scale);

// ProxyNCA++ (Teh et al. 2020), per sample: softmax cross-entropy over all proxies, the positive in
// the denominator, with logits -s d(u, p_z) (the paper's temperature T = 1 / s; s = 9 gives
// 18 cos(u, p_z) up to a constant).
torch::Tensor proxy_nca_pp_loss(const torch::Tensor& unit, const torch::Tensor& proxies,
                                const torch::Tensor& labels, double scale);

// Proxy-Anchor (Kim et al. 2020) on cosine similarities s(x, p):
//   1/|P+| sum_{p in P+} log(1 + sum_{x in X_p+} e^{-alpha (s(x,p) - delta)})
// + 1/|P|  sum_{p in P}  log(1 + sum_{x in X_p-} e^{ alpha (s(x,p) + delta)})
// P+ = proxies with at least one positive in the batch, P = all proxies.
torch::Tensor proxy_anchor_loss(const torch::Tensor& unit, const torch::Tensor& proxies,
                                const torch::Tensor& labels, double alpha, double delta);

}  // namespace nsl
