#pragma once
// Gram-Schmidt over the rows of a matrix, in float64, for the decorrelation of the class centers
// (docs/METHOD.md section 4).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

// Orthonormalises rows[order[0]], rows[order[1]], ... in that order: the Q of a LAPACK QR of the
// ordered rows (float64), each sign fixed so that the vector points along the row's own component,
// which is what Gram-Schmidt gives; a group with a (numerically) dependent row takes the row-by-row
// modified Gram-Schmidt instead, where that row is replaced by a deterministic vector orthogonal to
// the earlier ones. Output row order[k] is the k-th orthonormal vector; the first row in the order
// keeps its direction. Needs order.size() <= dim.
torch::Tensor gram_schmidt(const torch::Tensor& rows, const std::vector<int64_t>& order);

// Partitions classes 0..C-1 into the groups Gram-Schmidt runs in, from a seeded permutation:
// without block-wise mode one group (C <= dim required, else a ConfigError); block-wise,
// ceil(C / g) groups of at most g = group_size classes (0: dim), sizes as equal as possible. In a
// group of dim rows the last row keeps little of its own direction (it is whatever is left
// orthogonal to dim - 1 others), so groups well below dim disturb the centers less.
std::vector<std::vector<int64_t>> gram_schmidt_groups(int64_t num_classes, int64_t dim,
                                                      uint64_t seed, int64_t epoch, bool blockwise,
                                                      int64_t group_size = 0);

// Gram-Schmidt inside every group; rows not in any group are returned unchanged.
torch::Tensor grouped_gram_schmidt(const torch::Tensor& rows,
                                   const std::vector<std::vector<int64_t>>& groups);

}  // namespace nsl
