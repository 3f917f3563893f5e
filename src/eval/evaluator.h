#pragma once
// Retrieval evaluation on unseen classes (METHOD.md section 6), split across the ranks of a
// communicator. Every query is searched exactly against the gallery; a query whose class has no
// other gallery sample (a lone query) is excluded from Recall@K, MAP@R and R-Precision and counted.
//
// Work split: the queries are cut into chunks of a fixed number of rows (independent of the world
// size); rank r searches chunks c with c % world == r and keeps per-query results; these are
// gathered and summed in query order on every rank, so any world size gives the same numbers, bit
// for bit. Memory per rank grows with chunk x gallery size, never N x N.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "config/config.h"
#include "interfaces/communicator.h"

namespace nsl {

struct EvalSet {
  torch::Tensor unit;    // float32 [n, d], L2-normalised rows (CPU)
  torch::Tensor labels;  // int64 [n]
};

struct EvalOptions {
  std::vector<int64_t> recall_k = {1, 2, 4, 8};
  int64_t max_chunk_elements = 1 << 24;  // query rows per chunk x gallery size
  bool nmi = true;                       // k-means NMI (k = number of classes), on rank 0
  uint64_t seed = 1;                     // k-means++ seed
  int64_t kmeans_iterations = 50;
};

struct RetrievalMetrics {
  std::vector<int64_t> ks;
  std::vector<double> recall;  // recall[i] for ks[i], in [0, 1]
  double map_at_r = 0.0;       // Musgrave et al. 2020, in [0, 1]
  double r_precision = 0.0;
  double nmi = std::numeric_limits<double>::quiet_NaN();  // NaN: not computed
  int64_t queries = 0;                                    // queries counted
  int64_t lone_queries = 0;  // queries without a same-class gallery sample: excluded, counted
  int64_t gallery = 0;       // gallery size
};

// gallery == nullptr: the queries are their own gallery, each query's own row excluded by index.
// Otherwise (In-Shop) queries are searched in a separate gallery; NMI is then computed over the
// union of both sets. Collective: every rank calls it with the same (whole) sets and gets the same
// result. Throws DataError on NaN/Inf embeddings, std::invalid_argument on shape mismatches.
RetrievalMetrics evaluate_retrieval(Communicator& comm, const EvalSet& queries,
                                    const EvalSet* gallery, const EvalOptions& options);
// The same in one process.
RetrievalMetrics evaluate_retrieval(const EvalSet& queries, const EvalSet* gallery,
                                    const EvalOptions& options);

// The Recall@K grid of METHOD.md section 6 for a dataset converted by `nsl_dist prep --dataset`:
// sop 1,10,100,1000; inshop 1,10,20,30,40,50; anything else (cub200, cars196, omniglot, folders,
// synthetic) 1,2,4,8.
std::vector<int64_t> default_recall_k(const std::string& dataset);

// Writes the metrics into j as metrics.jsonl and `nsl_dist eval --json` name them: recall@K,
// map@r, r_precision, nmi (when computed), queries, lone_queries, gallery.
void add_retrieval_fields(nlohmann::json& j, const RetrievalMetrics& m);

// The options of config.eval (recall_k must have been resolved: not empty) and config.seed.
EvalOptions eval_options(const Config& config);

}  // namespace nsl
