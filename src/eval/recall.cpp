#include "eval/recall.h"

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace nsl {

torch::Tensor nearest_neighbours(const torch::Tensor& embeddings, int64_t begin, int64_t end,
                                 int64_t k) {
  const int64_t rows = end - begin;
  torch::Tensor sims = torch::matmul(embeddings.slice(0, begin, end), embeddings.t());
  const auto self = torch::arange(begin, end, torch::kInt64).unsqueeze(1);
  sims.scatter_(1, self, -std::numeric_limits<double>::infinity());
  // Exactly k per row with ties at the k-th value resolved towards lower indices: everything
  // strictly above the k-th value, then the first of the equal ones in index order.
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
  const torch::Tensor order =
      std::get<1>(sims.gather(1, chosen).sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  return chosen.gather(1, order);
}

RecallResult recall_at_k(const torch::Tensor& embeddings, const torch::Tensor& labels,
                         const std::vector<int64_t>& ks, int64_t max_chunk_elements) {
  if (embeddings.dim() != 2 || labels.dim() != 1 || labels.size(0) != embeddings.size(0)) {
    throw std::invalid_argument("recall_at_k: embeddings [N, d] and labels [N] expected");
  }
  if (!torch::isfinite(embeddings).all().item<bool>()) {
    throw Error(kExitRuntime,
                "recall_at_k: the embeddings contain NaN or infinity; the model has diverged "
                "(lower train.lr or check the data)");
  }
  const int64_t n = embeddings.size(0);
  RecallResult result;
  result.ks = ks;
  result.recall.assign(ks.size(), 0.0);
  if (n < 2) return result;

  // Same-class partners of each sample: a query without one can never be answered correctly.
  const torch::Tensor labels_cpu = labels.to(torch::kCPU, torch::kInt64);
  const torch::Tensor counts = torch::bincount(labels_cpu);
  const torch::Tensor has_partner = counts.index_select(0, labels_cpu) > 1;
  result.lone_queries = n - has_partner.sum().item<int64_t>();
  result.queries = n - result.lone_queries;
  if (result.queries == 0) return result;

  const int64_t kmax = std::min<int64_t>(*std::max_element(ks.begin(), ks.end()), n - 1);
  const int64_t chunk = std::max<int64_t>(1, max_chunk_elements / n);
  std::vector<int64_t> hits(ks.size(), 0);
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    const torch::Tensor nn = nearest_neighbours(embeddings, begin, end, kmax);
    const torch::Tensor match = labels_cpu.index_select(0, nn.flatten()).view(nn.sizes()) ==
                                labels_cpu.slice(0, begin, end).unsqueeze(1);
    // first_hit[i] = position of the first correct neighbour (kmax when none).
    const torch::Tensor any_hit = match.any(1);
    const torch::Tensor first_hit = torch::where(any_hit, match.to(torch::kInt64).argmax(1),
                                                 torch::full_like(any_hit, kmax, torch::kInt64));
    const torch::Tensor valid = has_partner.slice(0, begin, end);
    for (size_t i = 0; i < ks.size(); ++i) {
      hits[i] += ((first_hit < ks[i]) & valid).sum().item<int64_t>();
    }
  }
  for (size_t i = 0; i < ks.size(); ++i) {
    result.recall[i] = static_cast<double>(hits[i]) / static_cast<double>(result.queries);
  }
  return result;
}

}  // namespace nsl
