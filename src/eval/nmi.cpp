#include "eval/nmi.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/error.h"
#include "common/fixed_split.h"
#include "common/seed.h"

namespace nsl {
namespace {

void check_inputs(const char* what, const torch::Tensor& unit, const torch::Tensor& labels) {
  if (unit.dim() != 2 || labels.dim() != 1 || labels.size(0) != unit.size(0)) {
    throw std::invalid_argument(std::string(what) + ": embeddings [N, d] and labels [N] expected");
  }
  if (!torch::isfinite(unit).all().item<bool>()) {
    throw DataError(std::string(what) +
                    ": the embeddings contain NaN or infinity; the model has diverged "
                    "(lower train.lr or check the data)");
  }
}

// Labels remapped to 0..k-1 (in increasing label order), as int64 on the CPU.
torch::Tensor dense_labels(const torch::Tensor& labels) {
  const torch::Tensor cpu = labels.to(torch::kCPU, torch::kInt64);
  return std::get<1>(torch::_unique(cpu, /*sorted=*/true, /*return_inverse=*/true));
}

double entropy(const std::map<int64_t, int64_t>& counts, double n) {
  double h = 0.0;
  for (const auto& kv : counts) {
    const double p = static_cast<double>(kv.second) / n;
    h -= p * std::log(p);
  }
  return h;
}

// Deterministic uniform double in [0, 1) from (seed, draw).
double uniform01(uint64_t seed, uint64_t draw) {
  return static_cast<double>(derive_seed({seed, draw}) >> 11) * 0x1.0p-53;
}

// Squared distances [rows, k] of the points `rows` to the centres.
torch::Tensor sq_distances(const torch::Tensor& rows, const torch::Tensor& centres) {
  return (rows.pow(2).sum(1, true) + centres.pow(2).sum(1).unsqueeze(0) -
          2.0 * torch::mm(rows, centres.t()))
      .clamp_min(0.0);
}

// Points per piece of the distance computations: each piece runs single-threaded
// (common/fixed_split.h), so the distances, and every choice made from them, do not depend on the
// thread count.
constexpr int64_t kPieceRows = 512;

int64_t row_pieces(int64_t n) { return (n + kPieceRows - 1) / kPieceRows; }

// Nearest centre of every point (lower centre index on ties) and its squared distance.
std::pair<torch::Tensor, torch::Tensor> assign(const torch::Tensor& x,
                                               const torch::Tensor& centres) {
  const int64_t n = x.size(0);
  torch::Tensor ids = torch::empty({n}, torch::kInt64);
  torch::Tensor dists = torch::empty({n}, x.options());
  for_each_piece(row_pieces(n), [&](int64_t p) {
    const int64_t begin = p * kPieceRows;
    const int64_t end = std::min(n, begin + kPieceRows);
    const auto best = sq_distances(x.slice(0, begin, end), centres).min(1);
    dists.slice(0, begin, end).copy_(std::get<0>(best));
    ids.slice(0, begin, end).copy_(std::get<1>(best));
  });
  return {ids, dists};
}

// Squared distance [n] of every point to one centre.
torch::Tensor distances_to(const torch::Tensor& x, const torch::Tensor& centre) {
  const int64_t n = x.size(0);
  torch::Tensor d = torch::empty({n}, x.options());
  for_each_piece(row_pieces(n), [&](int64_t p) {
    const int64_t begin = p * kPieceRows;
    const int64_t end = std::min(n, begin + kPieceRows);
    d.slice(0, begin, end)
        .copy_(sq_distances(x.slice(0, begin, end), centre.unsqueeze(0)).squeeze(1));
  });
  return d;
}

// Index of the point drawn with probability proportional to weight (lowest index if all zero).
int64_t draw_weighted(const torch::Tensor& weight, double u) {
  const torch::Tensor cum = weight.cumsum(0);
  const double total = cum[-1].item<double>();
  if (!(total > 0.0)) return 0;
  const int64_t i = (cum <= u * total).sum().item<int64_t>();
  return std::min<int64_t>(i, weight.size(0) - 1);
}

torch::Tensor kmeans_pp(const torch::Tensor& x, int64_t k, uint64_t seed) {
  const int64_t n = x.size(0);
  torch::Tensor centres = torch::empty({k, x.size(1)}, x.options());
  const auto first = static_cast<int64_t>(uniform01(seed, 0) * static_cast<double>(n));
  centres[0] = x[std::min(first, n - 1)];
  torch::Tensor d2 = distances_to(x, centres[0]);
  for (int64_t c = 1; c < k; ++c) {
    centres[c] = x[draw_weighted(d2, uniform01(seed, static_cast<uint64_t>(c)))];
    d2 = torch::minimum(d2, distances_to(x, centres[c]));
  }
  return centres;
}

// The point farthest from its centre (lowest index on ties) whose cluster keeps another member,
// or -1 when there is none; points already moved carry distance -1 and are never taken again.
int64_t farthest_movable(torch::Tensor dist, const torch::Tensor& ids,
                         const torch::Tensor& counts) {
  const torch::Tensor movable = (counts.index_select(0, ids) > 1.0) & (dist >= 0.0);
  if (!movable.any().item<bool>()) return -1;
  const torch::Tensor masked = torch::where(movable, dist, torch::full_like(dist, -2.0));
  return masked.argmax().item<int64_t>();
}

// Means of the assigned points; an empty cluster takes the point farthest from its own centre.
torch::Tensor update_centres(const torch::Tensor& x, torch::Tensor& ids, torch::Tensor dist,
                             int64_t k) {
  const auto x64 = x.to(torch::kFloat64);
  torch::Tensor counts = torch::bincount(ids, {}, k).to(torch::kFloat64);
  torch::Tensor sums = torch::zeros({k, x.size(1)}, x64.options()).index_add_(0, ids, x64);
  for (int64_t c = 0; c < k; ++c) {
    if (counts[c].item<double>() > 0.0) continue;
    const int64_t far = farthest_movable(dist, ids, counts);
    if (far < 0) break;
    const int64_t old = ids[far].item<int64_t>();
    counts[old] -= 1.0;
    sums[old] -= x64[far];
    counts[c] = 1.0;
    sums[c] = x64[far];
    ids[far] = c;
    dist[far] = -1.0;
  }
  return (sums / counts.clamp_min(1.0).unsqueeze(1)).to(x.scalar_type());
}

}  // namespace

double normalized_mutual_information(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("normalized_mutual_information: labellings of different sizes");
  }
  if (a.empty()) return 1.0;
  std::map<int64_t, int64_t> ca;
  std::map<int64_t, int64_t> cb;
  std::map<std::pair<int64_t, int64_t>, int64_t> joint;
  for (size_t i = 0; i < a.size(); ++i) {
    ++ca[a[i]];
    ++cb[b[i]];
    ++joint[{a[i], b[i]}];
  }
  const auto n = static_cast<double>(a.size());
  const double ha = entropy(ca, n);
  const double hb = entropy(cb, n);
  if (ha == 0.0 && hb == 0.0) return 1.0;
  double mi = 0.0;
  for (const auto& kv : joint) {
    const auto nij = static_cast<double>(kv.second);
    const auto ni = static_cast<double>(ca[kv.first.first]);
    const auto nj = static_cast<double>(cb[kv.first.second]);
    mi += nij / n * std::log(nij * n / (ni * nj));
  }
  return std::clamp(2.0 * mi / (ha + hb), 0.0, 1.0);
}

double nmi_kmeans(const torch::Tensor& unit, const torch::Tensor& labels, uint64_t seed,
                  int64_t iterations) {
  check_inputs("nmi_kmeans", unit, labels);
  const int64_t n = unit.size(0);
  if (n == 0) return 1.0;
  const torch::Tensor dense = dense_labels(labels);
  const int64_t k = dense.max().item<int64_t>() + 1;
  const torch::Tensor x = unit.to(torch::kCPU, torch::kFloat32).contiguous();
  torch::Tensor centres = kmeans_pp(x, k, seed);
  auto [ids, dist] = assign(x, centres);
  for (int64_t it = 0; it < iterations; ++it) {
    centres = update_centres(x, ids, dist, k);
    auto next = assign(x, centres);
    const bool stable = torch::equal(next.first, ids);
    ids = next.first;
    dist = next.second;
    if (stable) break;
  }
  const std::vector<int64_t> y(dense.data_ptr<int64_t>(), dense.data_ptr<int64_t>() + n);
  const torch::Tensor ids_c = ids.contiguous();
  const std::vector<int64_t> c(ids_c.data_ptr<int64_t>(), ids_c.data_ptr<int64_t>() + n);
  return normalized_mutual_information(y, c);
}

}  // namespace nsl
