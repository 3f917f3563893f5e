#pragma once
// MAP@R, R-Precision (Musgrave et al. 2020) and NMI of seeded k-means for retrieval on unseen
// classes (METHOD.md section 6). Every sample is a query against all the others (itself excluded
// by index); neighbours ranked by cosine similarity descending, ties broken by the lower index.
// Exact search in query chunks: memory grows with chunk x N, never N x N.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

struct MapAtRResult {
  double map_at_r = 0.0;     // mean over counted queries of (1/R) sum_{k<=R} P@k rel(k)
  double r_precision = 0.0;  // mean over counted queries of (relevant among the top R) / R
  int64_t queries = 0;       // queries counted (R >= 1)
  int64_t lone_queries = 0;  // queries whose class has no other sample: excluded and counted
};

// unit: L2-normalised float [N, d]; labels int64 [N]. Throws DataError on NaN/Inf embeddings and
// std::invalid_argument on shape mismatches or chunk < 1.
MapAtRResult map_at_r(const torch::Tensor& unit, const torch::Tensor& labels, int64_t chunk = 1024);

// NMI = 2 I(A;B) / (H(A) + H(B)) (arithmetic normalisation, sklearn's default), in [0, 1].
// Two single-cluster labellings give 1. Throws std::invalid_argument on a size mismatch.
double normalized_mutual_information(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// k-means with k = number of distinct labels: k-means++ initialisation drawn from `seed`
// (deterministic), Lloyd iterations until the assignments stop changing or `iterations`; an empty
// cluster is re-seeded with the point farthest from its centre. Returns NMI(labels, clusters).
double nmi_kmeans(const torch::Tensor& unit, const torch::Tensor& labels, uint64_t seed,
                  int64_t iterations = 50);

}  // namespace nsl
