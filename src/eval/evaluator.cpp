#include "eval/evaluator.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common/error.h"
#include "eval/nmi.h"
#include "eval/retrieval_search.h"
#include "interfaces/collectives.h"

namespace nsl {
namespace {

void check_set(const EvalSet& set, const char* what) {
  if (set.unit.dim() != 2 || set.labels.dim() != 1 || set.labels.size(0) != set.unit.size(0)) {
    throw std::invalid_argument(std::string("evaluate_retrieval: ") + what +
                                ": embeddings [n, d] and labels [n] expected");
  }
  if (!torch::isfinite(set.unit).all().item<bool>()) {
    throw DataError(std::string("evaluation: the ") + what +
                    " embeddings contain NaN or infinity; the model has diverged (lower train.lr, "
                    "or resume from an earlier checkpoint)");
  }
}

// Query rows per chunk: fixed by the gallery size and the memory cap, never by the world size, so
// every query is searched by the same matrix product whichever rank does it.
int64_t chunk_rows(int64_t gallery_size, const EvalOptions& options) {
  return std::max<int64_t>(1, options.max_chunk_elements / std::max<int64_t>(1, gallery_size));
}

// Outcomes of the chunks c with c % world == rank, in chunk order.
torch::Tensor search_share(const EvalSet& queries, const EvalSet& gallery, bool shared_set,
                           const EvalOptions& options, int rank, int world) {
  const ClassMembers classes(gallery.labels);
  const int64_t n = queries.unit.size(0);
  const int64_t chunk = chunk_rows(gallery.unit.size(0), options);
  std::vector<torch::Tensor> parts;
  for (int64_t c = rank, begin = rank * chunk; begin < n; c += world, begin = c * chunk) {
    parts.push_back(search_chunk(queries.unit, queries.labels, gallery.unit, classes, shared_set,
                                 begin, std::min(n, begin + chunk)));
  }
  if (parts.empty()) return torch::zeros({0, kOutcomeColumns}, torch::kFloat64);
  return torch::cat(parts);
}

// Sums over the queries in index order (the order fixes the floating-point sums).
RetrievalMetrics summarise(const torch::Tensor& outcomes, const EvalOptions& options,
                           int64_t gallery_size) {
  const torch::Tensor sorted =
      outcomes.index_select(0, outcomes.select(1, kQueryIndex).argsort()).contiguous();
  RetrievalMetrics m;
  m.ks = options.recall_k;
  m.gallery = gallery_size;
  std::vector<int64_t> hits(m.ks.size(), 0);
  double ap = 0.0;
  double rp = 0.0;
  const double* o = sorted.data_ptr<double>();
  for (int64_t q = 0; q < sorted.size(0); ++q, o += kOutcomeColumns) {
    if (o[kSameClass] == 0.0) {
      ++m.lone_queries;
      continue;
    }
    ++m.queries;
    for (size_t i = 0; i < m.ks.size(); ++i) {
      if (o[kFirstRank] < static_cast<double>(m.ks[i])) ++hits[i];
    }
    ap += o[kApAtR];
    rp += o[kRHits] / o[kSameClass];
  }
  const double counted = std::max<double>(1.0, static_cast<double>(m.queries));
  for (int64_t h : hits) m.recall.push_back(static_cast<double>(h) / counted);
  m.map_at_r = ap / counted;
  m.r_precision = rp / counted;
  return m;
}

double nmi_of(const EvalSet& queries, const EvalSet* gallery, const EvalOptions& options) {
  if (gallery == nullptr) {
    return nmi_kmeans(queries.unit, queries.labels, options.seed, options.kmeans_iterations);
  }
  return nmi_kmeans(torch::cat({queries.unit, gallery->unit}),
                    torch::cat({queries.labels, gallery->labels}), options.seed,
                    options.kmeans_iterations);
}

void check_inputs(const EvalSet& queries, const EvalSet* gallery, const EvalOptions& options) {
  check_set(queries, "query");
  if (gallery != nullptr) {
    check_set(*gallery, "gallery");
    if (gallery->unit.size(1) != queries.unit.size(1) ||
        gallery->unit.scalar_type() != queries.unit.scalar_type()) {
      throw std::invalid_argument("evaluate_retrieval: query and gallery differ in dim or dtype");
    }
  }
  if (options.recall_k.empty() ||
      *std::min_element(options.recall_k.begin(), options.recall_k.end()) < 1) {
    throw std::invalid_argument("evaluate_retrieval: recall_k needs K >= 1");
  }
}

}  // namespace

RetrievalMetrics evaluate_retrieval(const EvalSet& queries, const EvalSet* gallery,
                                    const EvalOptions& options) {
  check_inputs(queries, gallery, options);
  const EvalSet& g = gallery != nullptr ? *gallery : queries;
  RetrievalMetrics m = summarise(search_share(queries, g, gallery == nullptr, options, 0, 1),
                                 options, g.unit.size(0));
  if (options.nmi) m.nmi = nmi_of(queries, gallery, options);
  return m;
}

RetrievalMetrics evaluate_retrieval(Communicator& comm, const EvalSet& queries,
                                    const EvalSet* gallery, const EvalOptions& options) {
  check_inputs(queries, gallery, options);
  const EvalSet& g = gallery != nullptr ? *gallery : queries;
  const torch::Tensor mine =
      search_share(queries, g, gallery == nullptr, options, comm.rank(), comm.size());
  const torch::Tensor all = comm.all_gather_rows(mine.to(comm.device())).cpu();
  RetrievalMetrics m = summarise(all, options, g.unit.size(0));
  if (options.nmi) {
    m.nmi = broadcast_value(comm, comm.is_root() ? nmi_of(queries, gallery, options) : 0.0, 0);
  }
  return m;
}

void add_retrieval_fields(nlohmann::json& j, const RetrievalMetrics& m) {
  for (size_t i = 0; i < m.ks.size(); ++i) j["recall@" + std::to_string(m.ks[i])] = m.recall[i];
  j["map@r"] = m.map_at_r;
  j["r_precision"] = m.r_precision;
  if (!std::isnan(m.nmi)) j["nmi"] = m.nmi;
  j["queries"] = m.queries;
  j["lone_queries"] = m.lone_queries;
  j["gallery"] = m.gallery;
}

EvalOptions eval_options(const Config& config) {
  EvalOptions o;
  o.recall_k = config.eval.recall_k;
  o.max_chunk_elements = std::max<int64_t>(
      1, static_cast<int64_t>(config.eval.chunk_mb * 1024.0 * 1024.0 / sizeof(float)));
  o.nmi = config.eval.nmi;
  o.seed = config.seed;
  return o;
}

std::vector<int64_t> default_recall_k(const std::string& dataset) {
  if (dataset == "sop") return {1, 10, 100, 1000};
  if (dataset == "inshop") return {1, 10, 20, 30, 40, 50};
  return {1, 2, 4, 8};
}

}  // namespace nsl
