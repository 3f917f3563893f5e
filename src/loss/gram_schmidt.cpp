#include "loss/gram_schmidt.h"

#include <cmath>
#include <string>

#include "common/error.h"
#include "common/seed.h"
#include "common/shuffle.h"

namespace nsl {
namespace {

constexpr uint64_t kGroupStream = 0x4753;  // "GS": keeps this stream apart from the samplers'

// Removes from v its components along the first `count` rows of basis (modified Gram-Schmidt).
void project_out(double* v, const double* basis, int64_t count, int64_t dim) {
  for (int64_t k = 0; k < count; ++k) {
    const double* q = basis + k * dim;
    double dot = 0.0;
    for (int64_t t = 0; t < dim; ++t) dot += q[t] * v[t];
    for (int64_t t = 0; t < dim; ++t) v[t] -= dot * q[t];
  }
}

double norm(const double* v, int64_t dim) {
  double s = 0.0;
  for (int64_t t = 0; t < dim; ++t) s += v[t] * v[t];
  return std::sqrt(s);
}

}  // namespace

torch::Tensor gram_schmidt(const torch::Tensor& rows, const std::vector<int64_t>& order) {
  const int64_t dim = rows.size(1);
  const auto count = static_cast<int64_t>(order.size());
  if (count > dim) {
    throw std::invalid_argument("gram_schmidt: " + std::to_string(count) +
                                " rows cannot be orthonormal in dimension " + std::to_string(dim));
  }
  const torch::Tensor input = rows.to(torch::kFloat64).contiguous();
  torch::Tensor out = input.clone();
  std::vector<double> basis(static_cast<size_t>(count * dim));
  std::vector<double> v(static_cast<size_t>(dim));
  const double* in = input.data_ptr<double>();
  for (int64_t k = 0; k < count; ++k) {
    const double* src = in + order[static_cast<size_t>(k)] * dim;
    v.assign(src, src + dim);
    const double original = norm(v.data(), dim);
    for (int pass = 0; pass < 2; ++pass) project_out(v.data(), basis.data(), k, dim);
    double n = norm(v.data(), dim);
    // Dependent row: try unit vectors e_t in turn (deterministic) until one has a residual.
    for (int64_t t = 0; n <= 1e-10 * std::max(original, 1.0) && t < dim; ++t) {
      std::fill(v.begin(), v.end(), 0.0);
      v[static_cast<size_t>(t)] = 1.0;
      for (int pass = 0; pass < 2; ++pass) project_out(v.data(), basis.data(), k, dim);
      n = norm(v.data(), dim);
    }
    double* q = basis.data() + k * dim;
    for (int64_t t = 0; t < dim; ++t) q[t] = v[static_cast<size_t>(t)] / n;
  }
  double* o = out.data_ptr<double>();
  for (int64_t k = 0; k < count; ++k) {
    std::copy(basis.data() + k * dim, basis.data() + (k + 1) * dim,
              o + order[static_cast<size_t>(k)] * dim);
  }
  return out;
}

std::vector<std::vector<int64_t>> gram_schmidt_groups(int64_t num_classes, int64_t dim,
                                                      uint64_t seed, int64_t epoch, bool blockwise,
                                                      int64_t group_size) {
  if (num_classes > dim && !blockwise) {
    throw ConfigError("Gram-Schmidt decorrelation of " + std::to_string(num_classes) +
                      " centers in dimension " + std::to_string(dim) +
                      " needs block-wise mode: set loss.decorrelation.blockwise: true, raise "
                      "model.embedding_dim to at least the class count, or use mode none");
  }
  const std::vector<int64_t> order = seeded_permutation(
      num_classes, derive_seed({seed, static_cast<uint64_t>(epoch), kGroupStream}));
  if (group_size < 0 || group_size > dim)
    throw ConfigError("Gram-Schmidt group size " + std::to_string(group_size) + " outside [0, " +
                      std::to_string(dim) + "] (0: the dimension)");
  const int64_t cap = blockwise && group_size > 0 ? group_size : dim;
  const int64_t groups = blockwise ? (num_classes + cap - 1) / cap : 1;
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(groups));
  // Sizes as equal as possible: the first (C mod groups) groups take one more class.
  int64_t pos = 0;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t size = num_classes / groups + (g < num_classes % groups ? 1 : 0);
    out[static_cast<size_t>(g)].assign(order.begin() + pos, order.begin() + pos + size);
    pos += size;
  }
  return out;
}

torch::Tensor grouped_gram_schmidt(const torch::Tensor& rows,
                                   const std::vector<std::vector<int64_t>>& groups) {
  torch::Tensor out = rows.to(torch::kFloat64).contiguous().clone();
  for (const auto& group : groups) {
    const torch::Tensor q = gram_schmidt(rows, group);
    const auto index = torch::tensor(group, torch::kInt64);
    out.index_copy_(0, index, q.index_select(0, index));
  }
  return out;
}

}  // namespace nsl
