#pragma once
// Evaluating a network on a dataset's test split (and gallery split): the code path shared by the
// trainer's per-epoch evaluation and `nsl_dist eval`. Each rank embeds its shards, the embeddings
// are gathered in global index order, and the search is split across the ranks.
#include "config/config.h"
#include "eval/evaluator.h"
#include "interfaces/batch_source.h"
#include "interfaces/communicator.h"
#include "model/embedding_net.h"

namespace nsl {

// gallery == nullptr: the test split is its own gallery. config.eval.recall_k must be resolved.
RetrievalMetrics evaluate_model(Communicator& comm, EmbeddingNet& net, EvalSource& test,
                                EvalSource* gallery, const Config& config);

}  // namespace nsl
