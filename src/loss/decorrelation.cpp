#include "loss/decorrelation.h"

#include "loss/gram_schmidt.h"

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
