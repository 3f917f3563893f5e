#include "loss/decorrelation.h"

#include "loss/gram_schmidt.h"
#include "model/ns_layer.h"

namespace nsl {

EpochGsResult epoch_gram_schmidt(const torch::Tensor& centers, double alpha, uint64_t seed,
                                 int64_t epoch, bool blockwise) {
  const torch::Tensor w = centers.detach().to(torch::kFloat64);
  const torch::Tensor c_hat = w / w.norm(2, 1, true).clamp_min(1e-300);
  const auto groups = gram_schmidt_groups(w.size(0), w.size(1), seed, epoch, blockwise);
  const torch::Tensor q = grouped_gram_schmidt(c_hat, groups);
  torch::Tensor mixed = (1.0 - alpha) * c_hat + alpha * q;
  mixed = mixed / mixed.norm(2, 1, true).clamp_min(1e-300);
  EpochGsResult result;
  result.centers = mixed.to(centers.dtype());
  result.changed_rows = (result.centers != centers.detach()).any(1);
  result.groups = static_cast<int64_t>(groups.size());
  return result;
}

}  // namespace nsl

namespace nsl {

torch::Tensor iter_gs_penalty(const torch::Tensor& centers,
                              const std::vector<std::vector<int64_t>>& groups, double lambda) {
  const auto c_hat = NSLayerImpl::unit(centers);
  const auto target = grouped_gram_schmidt(c_hat.detach(), groups).to(centers.dtype());
  const double c = static_cast<double>(centers.size(0));
  return lambda / (2.0 * c) * (c_hat - target).pow(2).sum();
}

torch::Tensor inner_product_penalty(const torch::Tensor& centers, double lambda) {
  const int64_t c = centers.size(0);
  if (c < 2) return centers.sum() * 0.0;
  const auto c_hat = NSLayerImpl::unit(centers);
  const auto gram = torch::matmul(c_hat, c_hat.t());
  const auto off = gram.pow(2).sum() - torch::diagonal(gram).pow(2).sum();
  return lambda * off / static_cast<double>(c * (c - 1));
}

}  // namespace nsl
