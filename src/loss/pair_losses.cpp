#include "loss/pair_losses.h"

#include <limits>

namespace nsl {
namespace {

struct PairMasks {
  torch::Tensor positive;  // [B, B] same label, not self
  torch::Tensor negative;  // [B, B] different label
};

PairMasks pair_masks(const torch::Tensor& labels) {
  const auto same = labels.unsqueeze(0) == labels.unsqueeze(1);
  const auto self = torch::eye(labels.size(0), torch::dtype(torch::kBool));
  return {same & ~self, ~same};
}

// Mean of `values` over `mask`, or an exact zero (with zero gradient) when the mask is empty.
torch::Tensor masked_mean(const torch::Tensor& values, const torch::Tensor& mask, int64_t& count) {
  count = mask.sum().item<int64_t>();
  const auto zero = values.sum() * 0.0;
  if (count == 0) return zero;
  return (values * mask.to(values.dtype())).sum() / static_cast<double>(count);
}

}  // namespace

BatchLoss triplet_semihard_loss(const torch::Tensor& unit, const torch::Tensor& labels,
                                double margin) {
  const auto masks = pair_masks(labels);
  const auto dist = (2.0 - 2.0 * torch::matmul(unit, unit.t())).clamp_min(0.0);  // ||a - b||^2
  // Each anchor's negative distances in ascending order (non-negatives pushed to the end): the
  // semi-hard negative of (a, p) is the first one above d(a,p), found by binary search, so the cost
  // is O(B^2 log B) rather than O(B^3).
  const double inf = std::numeric_limits<double>::infinity();
  const auto sorted =
      std::get<0>(torch::where(masks.negative, dist, torch::full_like(dist, inf)).sort(1));
  const auto negatives = masks.negative.sum(1, true);  // [B, 1]
  const auto first_above =
      torch::searchsorted(sorted.detach().contiguous(), dist.detach().contiguous(), false, true);
  // No negative farther than the positive: FaceNet's fallback, the farthest negative.
  const auto farthest = (negatives - 1).clamp_min(0).expand_as(first_above);
  const auto pick = torch::where(first_above < negatives, first_above, farthest);
  const auto valid = masks.positive & (negatives > 0);
  // Invalid entries read a finite stand-in so that no infinity reaches the gradient.
  const auto chosen = torch::where(valid, sorted.gather(1, pick), dist);
  const auto per_pair = torch::relu(dist - chosen + margin);
  BatchLoss out;
  out.value = masked_mean(per_pair, valid, out.active);
  return out;
}

BatchLoss contrastive_loss(const torch::Tensor& unit, const torch::Tensor& labels,
                           double pos_margin, double neg_margin) {
  const auto masks = pair_masks(labels);
  const auto dist = 1.0 - torch::matmul(unit, unit.t());
  int64_t n_pos = 0, n_neg = 0;
  const auto pos = masked_mean(torch::relu(dist - pos_margin), masks.positive, n_pos);
  const auto neg = masked_mean(torch::relu(neg_margin - dist), masks.negative, n_neg);
  return {pos + neg, n_pos + n_neg};
}

BatchLoss multi_similarity_loss(const torch::Tensor& unit, const torch::Tensor& labels,
                                double alpha, double beta, double lambda, double epsilon) {
  const auto masks = pair_masks(labels);
  const auto sim = torch::matmul(unit, unit.t());
  const double inf = std::numeric_limits<double>::infinity();
  const auto sim_d = sim.detach();
  const auto max_neg =
      std::get<0>(torch::where(masks.negative, sim_d, torch::full_like(sim_d, -inf)).max(1, true));
  const auto min_pos =
      std::get<0>(torch::where(masks.positive, sim_d, torch::full_like(sim_d, inf)).min(1, true));
  const auto keep_pos = masks.positive & (sim_d - epsilon < max_neg);
  const auto keep_neg = masks.negative & (sim_d + epsilon > min_pos);
  // log(1 + sum exp(z)) over the kept entries, as a log-sum-exp with a zero term.
  auto soft = [inf](const torch::Tensor& z, const torch::Tensor& keep) {
    const auto masked = torch::where(keep, z, torch::full_like(z, -inf));
    const auto with_one = torch::cat({masked, torch::zeros({z.size(0), 1}, z.options())}, 1);
    return torch::logsumexp(with_one, 1);
  };
  const auto pos_term = soft(-alpha * (sim - lambda), keep_pos) / alpha;
  const auto neg_term = soft(beta * (sim - lambda), keep_neg) / beta;
  const auto anchors = keep_pos.any(1) | keep_neg.any(1);
  BatchLoss out;
  out.value = masked_mean(pos_term + neg_term, anchors, out.active);
  return out;
}

}  // namespace nsl
