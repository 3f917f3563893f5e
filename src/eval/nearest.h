#pragma once
// Exact k-nearest-neighbour search by cosine similarity (rows are unit vectors), ties broken by
// the lower index. Used where the neighbours themselves are wanted (query, report galleries);
// the evaluator's metrics only need ranks (eval/retrieval_search.h).
#include <torch/torch.h>

#include <cstdint>

namespace nsl {

struct Neighbours {
  torch::Tensor indices;  // int64 [q, k], best first
  torch::Tensor scores;   // float32 [q, k], the cosine similarities
};

// The k nearest samples of `embeddings` to each of rows [begin, end) of the same matrix, the row
// itself excluded by index. k <= N - 1.
Neighbours nearest_neighbours(const torch::Tensor& embeddings, int64_t begin, int64_t end,
                              int64_t k);

// The k nearest gallery rows to each query row (nothing excluded). k <= gallery rows. Queries are
// searched in chunks so memory grows with chunk x gallery size.
Neighbours nearest_in_gallery(const torch::Tensor& queries, const torch::Tensor& gallery, int64_t k,
                              int64_t max_chunk_elements = 1 << 24);

}  // namespace nsl
