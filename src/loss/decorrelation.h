#pragma once
// epoch_gs (METHOD.md section 4): W <- normalize((1 - alpha) C_hat + alpha GS(C_hat)), with
// C_hat = rows of W normalised and GS run block-wise over a class order drawn from (seed, epoch).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

struct EpochGsResult {
  torch::Tensor centers;       // new W, same dtype as the input
  torch::Tensor changed_rows;  // bool [C]: rows whose value changed (their optimizer state resets)
  int64_t groups = 0;
};

EpochGsResult epoch_gram_schmidt(const torch::Tensor& centers, double alpha, uint64_t seed,
                                 int64_t epoch, bool blockwise);

}  // namespace nsl

namespace nsl {

// iter_gs: lambda/(2C) || C_hat - stopgrad(GS(C_hat)) ||_F^2 with C_hat the normalised rows of the
// centers and GS run within `groups` (gram_schmidt_groups); its gradient with respect to C_hat is
// (lambda/C)(C_hat - GS(C_hat)), pushed through the normalisation by autograd.
torch::Tensor iter_gs_penalty(const torch::Tensor& centers,
                              const std::vector<std::vector<int64_t>>& groups, double lambda);

// inner_product: lambda * mean over i != j of (c_i . c_j)^2, the direct minimisation kept as the
// ablation baseline. Zero for a single center.
torch::Tensor inner_product_penalty(const torch::Tensor& centers, double lambda);

}  // namespace nsl
