#pragma once
// The exact-search kernel of the evaluator: for each query of a chunk, where its same-class gallery
// samples rank among all gallery samples. Ranking: cosine similarity descending, ties broken by the
// lower gallery index; with a shared query/gallery set the query's own row is excluded by index.
//
// A gallery sample g "beats" a same-class sample p when s(g) > s(p), or s(g) == s(p) and g < p;
// p's 0-based rank is the number of samples that beat it. Taking the same-class samples in ranking
// order (j = 0, 1, ...) with ranks r_j, for R same-class samples:
//   Recall@K hit  <=>  r_0 < K
//   AP@R = (1/R) sum over j with r_j < R of (j + 1) / (r_j + 1)      (Musgrave et al. 2020)
//   R-Precision = #{j : r_j < R} / R
// Each r_j is one counting pass over the query's similarity row; the passes stop at the first
// r_j >= R (later ones rank lower still). No sort of the gallery, no top-k.
#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace nsl {

// Gallery indices grouped by label.
class ClassMembers {
 public:
  explicit ClassMembers(const torch::Tensor& labels);
  // The gallery indices with `label`, increasing; empty when there is none.
  std::pair<const int64_t*, const int64_t*> of(int64_t label) const;

 private:
  std::vector<int64_t> labels_;   // distinct labels, increasing
  std::vector<int64_t> offsets_;  // members of labels_[i]: indices_[offsets_[i] .. offsets_[i+1])
  std::vector<int64_t> indices_;
};

// Columns of a query outcome table (float64 [queries, kOutcomeColumns]; integers are exact).
enum OutcomeColumn : int64_t {
  kQueryIndex = 0,
  kFirstRank = 1,  // r_0; -1 for a lone query (R = 0)
  kSameClass = 2,  // R
  kRHits = 3,      // same-class samples within the first R
  kApAtR = 4,
  kOutcomeColumns = 5,
};

// Outcomes of queries [begin, end). queries/gallery: [n, d] and [N, d] of one floating dtype
// (float32 or float64, CPU); labels int64. shared_set: the gallery is the query set itself.
torch::Tensor search_chunk(const torch::Tensor& queries, const torch::Tensor& query_labels,
                           const torch::Tensor& gallery, const ClassMembers& gallery_classes,
                           bool shared_set, int64_t begin, int64_t end);

}  // namespace nsl
