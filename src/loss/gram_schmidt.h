#pragma once
// Gram-Schmidt over the rows of a matrix, in float64, for the decorrelation of the class centers
// (METHOD.md section 4).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

// Orthonormalises rows[order[0]], rows[order[1]], ... in that order (modified Gram-Schmidt with a
// second re-orthogonalisation pass, stable to float64 round-off). Output row order[k] is the k-th
// orthonormal vector; the first row in the order keeps its direction. Needs order.size() <= dim.
// A row that is (numerically) dependent on the earlier ones is replaced by a deterministic vector
// orthogonal to them.
torch::Tensor gram_schmidt(const torch::Tensor& rows, const std::vector<int64_t>& order);

// Partitions classes 0..C-1 into the groups Gram-Schmidt runs in: one group in a seeded order when
// C <= dim; otherwise (block-wise) ceil(C/dim) groups of at most dim classes from a seeded
// permutation. C > dim without block-wise is a ConfigError.
std::vector<std::vector<int64_t>> gram_schmidt_groups(int64_t num_classes, int64_t dim,
                                                      uint64_t seed, int64_t epoch, bool blockwise);

// Gram-Schmidt inside every group; rows not in any group are returned unchanged.
torch::Tensor grouped_gram_schmidt(const torch::Tensor& rows,
                                   const std::vector<std::vector<int64_t>>& groups);

}  // namespace nsl
