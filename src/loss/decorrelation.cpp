#include "loss/decorrelation.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/seed.h"
#include "common/shuffle.h"
#include "loss/gram_schmidt.h"
#include "model/ns_layer.h"

namespace nsl {

namespace {

constexpr uint64_t kBlockOrderStream = 0x53474F;  // "SGO": sharded Gram-Schmidt block order

// normalize((1 - alpha) C_hat + alpha GS(C_hat)) with Gram-Schmidt inside `groups` (row indices).
EpochGsResult mix_with_gram_schmidt(const torch::Tensor& centers, double alpha,
                                    const std::vector<std::vector<int64_t>>& groups) {
  const torch::Tensor w = centers.detach().to(torch::kFloat64);
  const torch::Tensor c_hat = w / w.norm(2, 1, true).clamp_min(1e-300);
  const torch::Tensor q = grouped_gram_schmidt(c_hat, groups);
  torch::Tensor mixed = (1.0 - alpha) * c_hat + alpha * q;
  mixed = mixed / mixed.norm(2, 1, true).clamp_min(1e-300);
  EpochGsResult result;
  result.centers = mixed.to(centers.dtype());
  result.changed_rows = (result.centers != centers.detach()).any(1);
  result.groups = static_cast<int64_t>(groups.size());
  return result;
}

}  // namespace

EpochGsResult epoch_gram_schmidt(const torch::Tensor& centers, double alpha, uint64_t seed,
                                 int64_t epoch, bool blockwise, int64_t group_size) {
  return mix_with_gram_schmidt(
      centers, alpha,
      gram_schmidt_groups(centers.size(0), centers.size(1), seed, epoch, blockwise, group_size));
}

EpochGsResult sharded_epoch_gram_schmidt(const torch::Tensor& centers, int64_t first_class,
                                         int64_t block, double alpha, uint64_t seed,
                                         int64_t epoch) {
  if (block < 1 || first_class % block != 0)
    throw std::invalid_argument("sharded_epoch_gram_schmidt: rows start at class " +
                                std::to_string(first_class) + ", not at a block of " +
                                std::to_string(block));
  const int64_t rows = centers.size(0);
  std::vector<std::vector<int64_t>> groups;
  for (int64_t start = 0; start < rows; start += block) {
    const int64_t size = std::min(block, rows - start);
    const auto index = static_cast<uint64_t>((first_class + start) / block);
    const std::vector<int64_t> order = seeded_permutation(
        size, derive_seed({seed, static_cast<uint64_t>(epoch), index, kBlockOrderStream}));
    std::vector<int64_t> group;
    for (int64_t k : order) group.push_back(start + k);
    groups.push_back(std::move(group));
  }
  return mix_with_gram_schmidt(centers, alpha, groups);
}

CenterCosines center_cosine_stats(const torch::Tensor& centers) {
  CenterCosines out;
  const int64_t rows = std::min<int64_t>(centers.size(0), kCenterCosRows);
  if (rows < 2) return out;
  torch::NoGradGuard no_grad;
  const torch::Tensor w = centers.detach().slice(0, 0, rows).to(torch::kCPU, torch::kFloat64);
  const torch::Tensor c = w / w.norm(2, 1, true).clamp_min(1e-300);
  double sum = 0.0, top = 0.0;
  // Blocks of rows against all rows: memory rows x block, not rows^2.
  constexpr int64_t kBlock = 1024;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t r1 = std::min(rows, r0 + kBlock);
    torch::Tensor cos = torch::mm(c.slice(0, r0, r1), c.t()).abs_();
    const torch::Tensor diagonal = torch::arange(r0, r1, torch::kInt64);
    cos.index_put_({torch::arange(r1 - r0, torch::kInt64), diagonal}, 0.0);
    sum += cos.sum().item<double>();
    top = std::max(top, cos.max().item<double>());
  }
  out.mean_abs = sum / (static_cast<double>(rows) * static_cast<double>(rows - 1));
  out.max_abs = top;
  return out;
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

double decorrelation_lambda(DecorrelationMode mode, double lambda, bool normalize, double scale,
                            int64_t global_batch, int64_t classes) {
  if (!normalize) return lambda;
  const double per_sample = scale / static_cast<double>(global_batch);
  const double c = static_cast<double>(classes);
  // iter_gs_penalty's gradient per center is (lambda' / C)(c_j - t_j); inner_product_penalty's is
  // 4 lambda' / (C (C - 1)) sum_k (c_j . c_k) c_k.
  if (mode == DecorrelationMode::kIterGs) return lambda * per_sample * c;
  if (mode == DecorrelationMode::kInnerProduct) return lambda * per_sample * c * (c - 1.0) / 4.0;
  return lambda;
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
