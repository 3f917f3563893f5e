#pragma once
// epoch_gs (METHOD.md section 4): W <- normalize((1 - alpha) C_hat + alpha GS(C_hat)), with
// C_hat = rows of W normalised and GS run block-wise over a class order drawn from (seed, epoch).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "config/choices.h"

namespace nsl {

struct EpochGsResult {
  torch::Tensor centers;       // new W, same dtype as the input
  torch::Tensor changed_rows;  // bool [C]: rows whose value changed (their optimizer state resets)
  int64_t groups = 0;
};

EpochGsResult epoch_gram_schmidt(const torch::Tensor& centers, double alpha, uint64_t seed,
                                 int64_t epoch, bool blockwise, int64_t group_size = 0);

// The same for sharded centers (loss.centers: sharded): `centers` are the rows of classes
// [first_class, first_class + rows), first_class a multiple of `block`. The groups are the fixed
// blocks of `block` consecutive class ids, each in an order drawn from (seed, epoch, block): every
// rank decorrelates its own blocks, and the result does not depend on how the blocks are dealt.
EpochGsResult sharded_epoch_gram_schmidt(const torch::Tensor& centers, int64_t first_class,
                                         int64_t block, double alpha, uint64_t seed, int64_t epoch);

// Mean and max of |cos| between distinct centers (rows), in float64; over the first
// kCenterCosRows rows when there are more. Both 0 for fewer than two rows.
constexpr int64_t kCenterCosRows = 16384;
struct CenterCosines {
  double mean_abs = 0.0;
  double max_abs = 0.0;
};
CenterCosines center_cosine_stats(const torch::Tensor& centers);

}  // namespace nsl

namespace nsl {

// iter_gs: lambda/(2C) || C_hat - stopgrad(GS(C_hat)) ||_F^2 with C_hat the normalised rows of the
// centers and GS run within `groups` (gram_schmidt_groups); its gradient with respect to C_hat is
// (lambda/C)(C_hat - GS(C_hat)), pushed through the normalisation by autograd.
torch::Tensor iter_gs_penalty(const torch::Tensor& centers,
                              const std::vector<std::vector<int64_t>>& groups, double lambda);

// inner_product: lambda * mean over i != j of (c_i . c_j)^2, the direct minimisation kept as the
// ablation baseline. Zero for a single center.
//
// loss.decorrelation.normalize_lambda passes these two functions an effective lambda
// (decorrelation_lambda below) chosen so that the penalty's gradient on a unit center c_j is
//   iter_gs:        lambda * (s / B) * (c_j - GS(C)_j)
//   inner_product:  lambda * (s / B) * sum_{k != j} (c_j . c_k) c_k
// (before the projection onto the sphere's tangent), on the scale of one sample's pull on its own
// center in the softmax ranking loss, (s / B)(1 - p) u. With C centers the v1 form of iter_gs put
// 1 / C of that on each center (about 1e-4 at lambda 0.1 on Omniglot): no measurable effect.
torch::Tensor inner_product_penalty(const torch::Tensor& centers, double lambda);

// The lambda to pass: `lambda` itself without normalisation, else as described above for a
// logit scale s, global batch B and C centers.
double decorrelation_lambda(DecorrelationMode mode, double lambda, bool normalize, double scale,
                            int64_t global_batch, int64_t classes);

}  // namespace nsl
