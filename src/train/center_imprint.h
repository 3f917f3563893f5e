#pragma once
// loss.center_init: class_mean ("imprinting"): each class center starts as the normalised mean of
// its class's training embeddings under the untrained network. Trained from scratch with random
// centers, the centralized losses sit for thousands of steps on a plateau at loss = log(classes)
// (BENCHMARKS.md, "Center initialisation"); imprinted centers give every class its own pull from
// the first step.
#include <torch/torch.h>

#include <cstdint>

#include "eval/embed.h"

namespace nsl {

// Row c: the unit mean of the rows of `split.unit` labelled c, summed in float64 in the order of
// the rows (gather_embeddings' global index order: the same bits for any world size). Classes
// without a sample keep their row of `fallback` [classes, d].
torch::Tensor class_mean_centers(const SplitEmbeddings& split, const torch::Tensor& fallback);

// The mean of the rows of `rows` [n, d] (n > 0), summed in float64 in row order: the same bits for
// any thread count (float64 [d]).
torch::Tensor mean_in_row_order(const torch::Tensor& rows);

}  // namespace nsl
