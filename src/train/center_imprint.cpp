#include "train/center_imprint.h"

#include <stdexcept>
#include <string>

namespace nsl {

torch::Tensor class_mean_centers(const SplitEmbeddings& split, const torch::Tensor& fallback) {
  const int64_t classes = fallback.size(0), dim = fallback.size(1);
  if (split.unit.dim() != 2 || split.unit.size(1) != dim)
    throw std::invalid_argument("class_mean_centers: embeddings of width " +
                                std::to_string(split.unit.dim() == 2 ? split.unit.size(1) : -1) +
                                " for centers of width " + std::to_string(dim));
  if (split.labels.numel() > 0 &&
      (split.labels.min().item<int64_t>() < 0 || split.labels.max().item<int64_t>() >= classes))
    throw std::out_of_range("class_mean_centers: a label outside [0, " + std::to_string(classes) +
                            ")");
  // index_add_ on the CPU adds rows in order, so the sums do not depend on threads.
  torch::Tensor sums = torch::zeros({classes, dim}, torch::kFloat64);
  sums.index_add_(0, split.labels, split.unit.to(torch::kFloat64));
  const torch::Tensor norms = sums.norm(2, 1, true);
  const torch::Tensor present = norms.squeeze(1) > 0.0;
  const torch::Tensor means = (sums / norms.clamp_min(1e-300)).to(fallback.scalar_type());
  const torch::Tensor keep = fallback.detach().to(torch::kCPU);
  return torch::where(present.unsqueeze(1), means, keep);
}

torch::Tensor mean_in_row_order(const torch::Tensor& rows) {
  if (rows.dim() != 2 || rows.size(0) == 0)
    throw std::invalid_argument("mean_in_row_order: a non-empty [n, d] matrix expected");
  torch::Tensor sum = torch::zeros({1, rows.size(1)}, torch::kFloat64);
  sum.index_add_(0, torch::zeros({rows.size(0)}, torch::kInt64),
                 rows.to(torch::kCPU, torch::kFloat64));
  return sum.squeeze(0) / static_cast<double>(rows.size(0));
}

}  // namespace nsl
