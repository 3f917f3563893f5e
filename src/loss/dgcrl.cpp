#include "loss/dgcrl.h"

#include <algorithm>

#include "model/ns_layer.h"

namespace nsl {

torch::Tensor center_cosines(const torch::Tensor& unit_embeddings, const torch::Tensor& centers) {
  return torch::matmul(unit_embeddings, NSLayerImpl::unit(centers).t());
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
