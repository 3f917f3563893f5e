#pragma once
// The centralized ranking losses with the centers sharded over the ranks (loss.centers: sharded,
// Partial FC's model parallelism for the last layer). Every rank sees the whole global batch's unit
// embeddings U (B x d, all-gathered) and scores them against its own centers only:
//  - softmax ranking: the normaliser sum_j e^{z_ij} comes from an all-reduced row maximum and
//    all-reduced sums of exponentials; the target logit from the rank that owns the class;
//  - hinge ranking: the positive cosine from its owner, the violations summed over the ranks.
// The losses L_i come out the same on every rank. In backward each rank's part of dL/dU is summed
// over the ranks and each rank keeps the rows of its own samples; dL/dW never leaves its rank.
//
// Gradient convention (as for the replicated losses): every rank back-propagates the sum of its
// own rows' losses / B, and the per-rank gradients of replicated parameters (the N-S scale) are
// summed by the trainer.
#include <torch/torch.h>

#include <cstdint>

#include "interfaces/communicator.h"

namespace nsl {

struct ShardedBatch {
  torch::Tensor unit;    // B x d, every rank's rows in rank order (gradient: to the rows' owners)
  torch::Tensor labels;  // int64 [B]
  int64_t offset = 0;    // this rank's rows: [offset, offset + rows)
  int64_t rows = 0;
};

// All-gathers this rank's unit embeddings (which must require grad in a training step, even with
// no rows: every rank's backward takes part in the gradient's all-reduce) and labels.
ShardedBatch gather_sharded_batch(Communicator& comm, const torch::Tensor& unit,
                                  const torch::Tensor& labels);

// Per-row losses [B] against the centers `centers` (m x d: this rank's centers in use);
// target[i] = the column of row i's class in `centers`, or -1 when another rank owns it.
// softmax ranking with additive margin (normalized softmax: margin 0):
torch::Tensor sharded_softmax_ranking(Communicator& comm, const ShardedBatch& batch,
                                      const torch::Tensor& centers, const torch::Tensor& target,
                                      const torch::Tensor& scale, double margin);
// hinge ranking over the `classes_in_use` classes of all ranks (mean over the negatives):
torch::Tensor sharded_hinge_ranking(Communicator& comm, const ShardedBatch& batch,
                                    const torch::Tensor& centers, const torch::Tensor& target,
                                    int64_t classes_in_use, double margin);

}  // namespace nsl
