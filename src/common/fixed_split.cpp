#include "common/fixed_split.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <stdexcept>

namespace nsl {

void for_each_piece(int64_t pieces, const std::function<void(int64_t)>& fn) {
  if (pieces <= 0) return;
  if (at::get_num_threads() <= 1 || at::in_parallel_region()) {
    // One thread: ATen's loops and the BLAS are single-threaded already.
    for (int64_t p = 0; p < pieces; ++p) fn(p);
    return;
  }
  // At least two iterations, so that at::parallel_for opens a parallel region (and the BLAS inside
  // sees it) even for a single piece.
  at::parallel_for(0, std::max<int64_t>(pieces, 2), 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < std::min(end, pieces); ++p) fn(p);
  });
}

torch::Tensor matmul_nt_fixed(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1)) {
    throw std::invalid_argument("matmul_nt_fixed: a [m, k] and b [n, k] expected");
  }
  if (a.is_cuda()) return torch::mm(a, b.t());
  const int64_t m = a.size(0);
  const int64_t n = b.size(0);
  torch::Tensor out = torch::empty({m, n}, a.options());
  const int64_t row_tiles = (m + kFixedTileRows - 1) / kFixedTileRows;
  const int64_t column_tiles = (n + kFixedTileColumns - 1) / kFixedTileColumns;
  if (m == 0 || n == 0) return out;
  const torch::Tensor bt = b.t();
  for_each_piece(row_tiles * column_tiles, [&](int64_t tile) {
    const int64_t r0 = (tile / column_tiles) * kFixedTileRows;
    const int64_t c0 = (tile % column_tiles) * kFixedTileColumns;
    const int64_t r1 = std::min(m, r0 + kFixedTileRows);
    const int64_t c1 = std::min(n, c0 + kFixedTileColumns);
    torch::Tensor view = out.slice(0, r0, r1).slice(1, c0, c1);
    torch::mm_out(view, a.slice(0, r0, r1), bt.slice(1, c0, c1));
  });
  return out;
}

}  // namespace nsl
