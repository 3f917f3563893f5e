#pragma once
// Recall@K for retrieval on unseen classes (METHOD.md section 6): every sample is a query against
// all the others (itself excluded by index); neighbours ranked by cosine similarity, ties broken by
// the lower index. Exact search in query chunks: memory grows with chunk x N, never N x N.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

struct RecallResult {
  std::vector<int64_t> ks;
  std::vector<double> recall;  // recall[i] for ks[i], in [0, 1]
  int64_t queries = 0;         // queries counted (those with at least one same-class sample)
  int64_t lone_queries = 0;    // queries whose class has no other sample: excluded and counted
};

// The `k` nearest neighbours of every query in [begin, end), as indices [end-begin, k].
torch::Tensor nearest_neighbours(const torch::Tensor& embeddings, int64_t begin, int64_t end,
                                 int64_t k);

// embeddings [N, d] (unit rows, any float dtype), labels int64 [N].
RecallResult recall_at_k(const torch::Tensor& embeddings, const torch::Tensor& labels,
                         const std::vector<int64_t>& ks, int64_t max_chunk_elements = 1 << 24);

}  // namespace nsl
