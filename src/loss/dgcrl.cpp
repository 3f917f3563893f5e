#include "loss/dgcrl.h"

#include <algorithm>

#include "model/ns_layer.h"

namespace nsl {

namespace {

constexpr double kNormEps = 1e-12;  // the N-S layer's eps

torch::Tensor center_norms(const torch::Tensor& centers) {
  return centers.norm(2, 1).clamp_min(kNormEps);
}

// DGCRL's softmax ranking from unit embeddings U and raw centers W in one autograd node, with the
// backward written out. Recorded op by op, the ~10 elementwise steps over the B x C logits and the
// normalisation of W cost as much again as the matrix product at small B and C
// (tests/bench/loss_bench). With n_j = max(|w_j|, eps), cos = U W^T / n, z the margin-adjusted
// logits s cos - s m e_y, p = softmax(z) and D = g (p - e_y) for the incoming gradient g:
//   dL/dcos = s D,  dL/dU = (s D / n) W,  dL/dW = (s D / n)^T U - (s colsum(D cos) / n^2) W
//   (the last term only where |w_j| > eps),  dL/ds = sum(D cos) + m sum_i g_i (1 - p_iy).
class CenterSoftmaxRanking : public torch::autograd::Function<CenterSoftmaxRanking> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& unit,
                               const torch::Tensor& centers, const torch::Tensor& scale,
                               const torch::Tensor& labels, double margin) {
    const auto target = labels.unsqueeze(1);
    const torch::Tensor raw_norms = centers.norm(2, 1);
    const torch::Tensor norms = raw_norms.clamp_min(kNormEps);
    const torch::Tensor cosines = torch::mm(unit, centers.t()).div_(norms.unsqueeze(0));
    torch::Tensor z = cosines * scale;
    z.scatter_add_(1, target, (scale * -margin).expand({z.size(0), 1}));
    const torch::Tensor top = std::get<0>(z.max(1, true));
    torch::Tensor p = (z - top).exp_();
    const torch::Tensor total = p.sum(1, true);
    p.div_(total);
    const torch::Tensor loss = (total.log() + top - z.gather(1, target)).squeeze(1);
    ctx->save_for_backward({unit, centers, scale, labels, cosines, norms, raw_norms, p});
    ctx->saved_data["margin"] = margin;
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const torch::Tensor &unit = v[0], &centers = v[1], &scale = v[2], &labels = v[3];
    const torch::Tensor &cosines = v[4], &norms = v[5], &raw_norms = v[6], &p = v[7];
    const double margin = ctx->saved_data["margin"].toDouble();
    const auto target = labels.unsqueeze(1);
    const torch::Tensor g = grads[0].unsqueeze(1);  // [B, 1]
    torch::Tensor d = p * g;
    d.scatter_add_(1, target, -g);                     // D = g (p - e_y)
    const torch::Tensor d_cos = (d * cosines).sum(0);  // [C]
    torch::Tensor grad_unit, grad_centers, grad_scale;
    if (ctx->needs_input_grad(2))
      grad_scale =
          (d_cos.sum() + margin * (g * (1.0 - p.gather(1, target))).sum()).reshape(scale.sizes());
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
      const torch::Tensor grad_products = d.mul_(scale / norms);  // dL/d(U W^T)
      if (ctx->needs_input_grad(0)) grad_unit = torch::mm(grad_products, centers);
      if (ctx->needs_input_grad(1)) {
        const torch::Tensor radial =
            (d_cos * -scale / (norms * norms)).masked_fill_(raw_norms <= kNormEps, 0.0);
        grad_centers = torch::addmm(centers * radial.unsqueeze(1), grad_products.t(), unit);
      }
    }
    return {grad_unit, grad_centers, grad_scale, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor center_cosines(const torch::Tensor& unit_embeddings, const torch::Tensor& centers) {
  return torch::matmul(unit_embeddings, centers.t()) / center_norms(centers).unsqueeze(0);
}

torch::Tensor softmax_ranking_loss(const torch::Tensor& cosines, const torch::Tensor& labels,
                                   const torch::Tensor& scale, double margin) {
  const torch::Tensor logits = scale * cosines;
  const auto target = labels.unsqueeze(1);
  // The margin only touches the positive logit: written into place, no C-wide one-hot.
  const torch::Tensor positive = logits.gather(1, target) - scale * margin;
  const torch::Tensor adjusted = logits.scatter(1, target, positive);
  return torch::logsumexp(adjusted, 1) - positive.squeeze(1);
}

torch::Tensor center_softmax_ranking_loss(const torch::Tensor& unit_embeddings,
                                          const torch::Tensor& centers, const torch::Tensor& labels,
                                          const torch::Tensor& scale, double margin) {
  return CenterSoftmaxRanking::apply(unit_embeddings, centers, scale, labels, margin);
}

torch::Tensor hinge_ranking_loss(const torch::Tensor& cosines, const torch::Tensor& labels,
                                 double margin) {
  const int64_t classes = cosines.size(1);
  const torch::Tensor cos_pos = cosines.gather(1, labels.unsqueeze(1));
  // m + (2 - 2 cos_y) - (2 - 2 cos_j) = m + 2 (cos_j - cos_y)
  torch::Tensor violation = torch::relu(margin + 2.0 * (cosines - cos_pos));
  const auto negative = 1.0 - torch::one_hot(labels, classes).to(cosines.dtype());
  // One class has no negatives: the loss is 0 (never 0/0).
  return (violation * negative).sum(1) / static_cast<double>(std::max<int64_t>(classes - 1, 1));
}

}  // namespace nsl
