#include "eval/retrieval_search.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "common/fixed_split.h"

namespace nsl {
namespace {

// Samples of `row` that beat the sample p with similarity t (see the header). Two branch-free
// counting loops the compiler vectorises; int32 partial counts keep the vectors wide.
template <typename T>
int64_t count_beating(const T* row, int64_t n, T t, int64_t p) {
  int32_t before = 0;
  for (int64_t x = 0; x < p; ++x) before += row[x] >= t ? 1 : 0;
  int32_t after = 0;
  for (int64_t x = p + 1; x < n; ++x) after += row[x] > t ? 1 : 0;
  return int64_t{before} + int64_t{after};
}

template <typename T>
void outcomes_of_rows(T* sims, int64_t n, const int64_t* labels, const ClassMembers& classes,
                      bool shared_set, int64_t begin, int64_t r0, int64_t r1, double* out) {
  std::vector<std::pair<T, int64_t>> same;  // (similarity, gallery index) of the same-class samples
  for (int64_t r = r0; r < r1; ++r) {
    T* row = sims + r * n;
    const int64_t q = begin + r;
    const int64_t self = shared_set ? q : -1;
    if (self >= 0) row[self] = -std::numeric_limits<T>::infinity();
    const auto [first, last] = classes.of(labels[q]);
    same.clear();
    for (const int64_t* p = first; p != last; ++p) {
      if (*p != self) same.emplace_back(row[*p], *p);
    }
    double* o = out + r * kOutcomeColumns;
    const auto big_r = static_cast<int64_t>(same.size());
    o[kQueryIndex] = static_cast<double>(q);
    o[kSameClass] = static_cast<double>(big_r);
    o[kFirstRank] = -1.0;
    o[kRHits] = 0.0;
    o[kApAtR] = 0.0;
    if (big_r == 0) continue;
    std::sort(same.begin(), same.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    int64_t hits = 0;
    double ap = 0.0;
    for (int64_t j = 0; j < big_r; ++j) {
      const int64_t rank = count_beating(row, n, same[j].first, same[j].second);
      if (j == 0) o[kFirstRank] = static_cast<double>(rank);
      if (rank >= big_r) break;
      ++hits;
      ap += static_cast<double>(j + 1) / static_cast<double>(rank + 1);
    }
    o[kRHits] = static_cast<double>(hits);
    o[kApAtR] = ap / static_cast<double>(big_r);
  }
}

}  // namespace

ClassMembers::ClassMembers(const torch::Tensor& labels) {
  const torch::Tensor l = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t n = l.numel();
  const int64_t* y = l.data_ptr<int64_t>();
  indices_.resize(static_cast<size_t>(n));
  std::iota(indices_.begin(), indices_.end(), int64_t{0});
  std::stable_sort(indices_.begin(), indices_.end(),
                   [y](int64_t a, int64_t b) { return y[a] < y[b]; });
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = y[indices_[static_cast<size_t>(i)]];
    if (labels_.empty() || labels_.back() != label) {
      labels_.push_back(label);
      offsets_.push_back(i);
    }
  }
  offsets_.push_back(n);
}

std::pair<const int64_t*, const int64_t*> ClassMembers::of(int64_t label) const {
  const auto it = std::lower_bound(labels_.begin(), labels_.end(), label);
  if (it == labels_.end() || *it != label) return {nullptr, nullptr};
  const auto i = static_cast<size_t>(it - labels_.begin());
  return {indices_.data() + offsets_[i], indices_.data() + offsets_[i + 1]};
}

torch::Tensor search_chunk(const torch::Tensor& queries, const torch::Tensor& query_labels,
                           const torch::Tensor& gallery, const ClassMembers& gallery_classes,
                           bool shared_set, int64_t begin, int64_t end) {
  if (begin < 0 || end < begin || end > queries.size(0)) {
    throw std::invalid_argument("search_chunk: need 0 <= begin <= end <= queries");
  }
  const int64_t rows = end - begin;
  const int64_t n = gallery.size(0);
  torch::Tensor out = torch::empty({rows, kOutcomeColumns}, torch::kFloat64);
  if (rows == 0) return out;
  // Fixed tiles, each single-threaded: the same bits for any thread count (common/fixed_split.h).
  torch::Tensor sims = matmul_nt_fixed(queries.slice(0, begin, end), gallery);
  const torch::Tensor labels = query_labels.to(torch::kCPU, torch::kInt64).contiguous();
  AT_DISPATCH_FLOATING_TYPES(sims.scalar_type(), "search_chunk", [&] {
    scalar_t* s = sims.data_ptr<scalar_t>();
    double* o = out.data_ptr<double>();
    const int64_t* y = labels.data_ptr<int64_t>();
    at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
      outcomes_of_rows<scalar_t>(s, n, y, gallery_classes, shared_set, begin, r0, r1, o);
    });
  });
  return out;
}

}  // namespace nsl
