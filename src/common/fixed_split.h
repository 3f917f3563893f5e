#pragma once
// Results that do not depend on the number of threads.
//
// A float32 matrix product through a multi-threaded BLAS splits its output between the threads, and
// the BLAS kernels round a row differently depending on where it falls in a thread's part (OpenBLAS
// with OPENBLAS_CORETYPE=Haswell does). So the same product gives other bits with 1 and with 2
// threads. Here the work is cut into pieces whose boundaries depend on the data's shape alone, the
// pieces are dealt to LibTorch's intra-op threads, and each piece runs single-threaded: inside an
// active OpenMP parallel region ATen's own loops run inline and an OpenMP BLAS (OpenBLAS's openmp
// build, MKL) uses one thread. A piece's bits then depend on the piece alone. CUDA tensors are
// computed directly (a GPU's kernels do not depend on the host's threads).
#include <torch/torch.h>

#include <cstdint>
#include <functional>

namespace nsl {

// Calls fn(p) for every p in [0, pieces), each call on one thread with single-threaded maths.
// The first exception thrown by a call is rethrown.
void for_each_piece(int64_t pieces, const std::function<void(int64_t)>& fn);

// a [m, k] times b [n, k] transposed: [m, n], computed in tiles of kFixedTileRows x
// kFixedTileColumns fixed from the top left corner, one single-threaded library product each.
// Identical bits for any thread count (on CPU); a row's bits do not depend on the other rows of b
// beyond its tile's.
constexpr int64_t kFixedTileRows = 512;
constexpr int64_t kFixedTileColumns = 2048;
torch::Tensor matmul_nt_fixed(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace nsl
