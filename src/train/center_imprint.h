#pragma once
// loss.center_init: class_mean ("imprinting"): each class center starts as the normalised mean of
// its class's training embeddings under the untrained network. Trained from scratch with random
// centers, the centralized losses sit for thousands of steps on a plateau at loss = log(classes)
// (BENCHMARKS.md, "Center initialisation"); imprinted centers give every class its own pull from
// the first step.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

#include "config/config.h"
#include "eval/embed.h"
#include "interfaces/batch_source.h"
#include "interfaces/communicator.h"
#include "loss/embedding_loss.h"
#include "model/embedding_net.h"

namespace nsl {

// Row c: the unit mean of the rows of `split.unit` labelled first_class + c, summed in float64 in
// the order of the rows (gather_embeddings' global index order: the same bits for any world size).
// Classes without a sample keep their row of `fallback` [rows, d]; labels must lie in
// [0, classes) (classes < 0: fallback's rows). Sharded centers pass their range.
torch::Tensor class_mean_centers(const SplitEmbeddings& split, const torch::Tensor& fallback,
                                 int64_t first_class = 0, int64_t classes = -1);

// The mean of the rows of `rows` [n, d] (n > 0), summed in float64 in row order: the same bits for
// any thread count (float64 [d]).
torch::Tensor mean_in_row_order(const torch::Tensor& rows);

// Before epoch 0 of a fresh run, from the raw head outputs of every training image (`samples`:
// this rank's part, gathered in global index order on every rank): model.center_embeddings sets
// the centering mean to their mean, and `imprint` sets the centers to the class means. Notes (rank
// 0) say what was done.
void prepare_centers(Communicator& comm, EmbeddingNet& net, EmbeddingLoss& loss,
                     EvalSource& samples, int64_t batch_size, bool imprint,
                     const std::function<void(const std::string&)>& note);

}  // namespace nsl
