#include "eval/nearest.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "common/fixed_split.h"

namespace nsl {
namespace {

// Exactly k per row of `sims` with ties at the k-th value resolved towards lower indices:
// everything strictly above the k-th value, then the first of the equal ones in index order.
Neighbours top_k_by_index(const torch::Tensor& sims, int64_t k) {
  const int64_t rows = sims.size(0);
  if (k == 0 || rows == 0) {
    return {torch::zeros({rows, k}, torch::kInt64), torch::zeros({rows, k}, sims.options())};
  }
  const torch::Tensor kth = std::get<0>(sims.topk(k, 1)).select(1, k - 1).unsqueeze(1);
  const torch::Tensor above = sims > kth;
  const torch::Tensor equal = sims == kth;
  const torch::Tensor need = k - above.sum(1, true);
  // Usually only the k-th value itself equals it and every equal one is taken; the running count
  // (a full pass over the chunk in int64) is only needed when a row has more ties than room.
  const bool extra_ties = (equal.sum(1, true) > need).any().item<bool>();
  const torch::Tensor take = extra_ties ? equal & (equal.cumsum(1) <= need) : equal;
  const torch::Tensor chosen = (above | take).nonzero().select(1, 1).view({rows, k});
  // nonzero() lists columns in increasing order; a stable descending sort keeps that for ties.
  const torch::Tensor values = sims.gather(1, chosen);
  const auto [sorted, order] = values.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true);
  return {chosen.gather(1, order), sorted};
}

void check_unit_rows(const torch::Tensor& t, const char* what) {
  if (t.dim() != 2) throw std::invalid_argument(std::string(what) + ": [rows, d] expected");
}

}  // namespace

Neighbours nearest_neighbours(const torch::Tensor& embeddings, int64_t begin, int64_t end,
                              int64_t k) {
  check_unit_rows(embeddings, "nearest_neighbours");
  if (begin < 0 || end < begin || end > embeddings.size(0) || k < 0 || k > embeddings.size(0) - 1)
    throw std::invalid_argument("nearest_neighbours: need 0 <= begin <= end <= N and k <= N - 1");
  torch::Tensor sims = matmul_nt_fixed(embeddings.slice(0, begin, end), embeddings);
  const auto self = torch::arange(begin, end, torch::kInt64).unsqueeze(1);
  sims.scatter_(1, self, -std::numeric_limits<double>::infinity());
  return top_k_by_index(sims, k);
}

Neighbours nearest_in_gallery(const torch::Tensor& queries, const torch::Tensor& gallery, int64_t k,
                              int64_t max_chunk_elements) {
  check_unit_rows(queries, "nearest_in_gallery (queries)");
  check_unit_rows(gallery, "nearest_in_gallery (gallery)");
  if (queries.size(1) != gallery.size(1))
    throw std::invalid_argument("nearest_in_gallery: queries and gallery differ in dimension");
  if (k < 0 || k > gallery.size(0))
    throw std::invalid_argument("nearest_in_gallery: k must be at most the gallery size");
  const int64_t n = queries.size(0);
  const int64_t chunk =
      std::max<int64_t>(1, max_chunk_elements / std::max<int64_t>(1, gallery.size(0)));
  std::vector<torch::Tensor> indices, scores;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    Neighbours part = top_k_by_index(matmul_nt_fixed(queries.slice(0, begin, end), gallery), k);
    indices.push_back(part.indices);
    scores.push_back(part.scores);
  }
  if (indices.empty()) {
    return {torch::zeros({0, k}, torch::kInt64), torch::zeros({0, k}, queries.options())};
  }
  return {torch::cat(indices), torch::cat(scores)};
}

}  // namespace nsl
