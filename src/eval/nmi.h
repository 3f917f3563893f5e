#pragma once
// NMI of seeded k-means over embeddings (METHOD.md section 6): how well k-means with k = the number
// of classes recovers the classes.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

// NMI = 2 I(A;B) / (H(A) + H(B)) (arithmetic normalisation, sklearn's default), in [0, 1].
// Two single-cluster labellings give 1. Throws std::invalid_argument on a size mismatch.
double normalized_mutual_information(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// k-means with k = number of distinct labels: k-means++ initialisation drawn from `seed`
// (deterministic), Lloyd iterations until the assignments stop changing or `iterations`; an empty
// cluster is re-seeded with the point farthest from its centre. Returns NMI(labels, clusters).
double nmi_kmeans(const torch::Tensor& unit, const torch::Tensor& labels, uint64_t seed,
                  int64_t iterations = 50);

}  // namespace nsl
