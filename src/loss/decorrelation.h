#pragma once
// epoch_gs (METHOD.md section 4): W <- normalize((1 - alpha) C_hat + alpha GS(C_hat)), with
// C_hat = rows of W normalised and GS run block-wise over a class order drawn from (seed, epoch).
#include <torch/torch.h>

#include <cstdint>

namespace nsl {

struct EpochGsResult {
  torch::Tensor centers;       // new W, same dtype as the input
  torch::Tensor changed_rows;  // bool [C]: rows whose value changed (their optimizer state resets)
  int64_t groups = 0;
};

EpochGsResult epoch_gram_schmidt(const torch::Tensor& centers, double alpha, uint64_t seed,
                                 int64_t epoch, bool blockwise);

}  // namespace nsl
