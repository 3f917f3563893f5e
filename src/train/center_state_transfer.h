#pragma once
// Sharded centers (loss.centers: sharded) between the ranks' parts and rank 0's whole tensors,
// for checkpoints: rank 0 writes and reads the centers and their optimizer state whole (C rows), as
// a replicated run does (train/checkpoint.h, WholeTensors). Row by row the ranks' parts are the
// ranges of loss/center_shards.h. Every rank calls these functions together; rank 0 alone holds a
// whole tensor, one at a time while gathering.
#include <torch/torch.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "interfaces/communicator.h"
#include "loss/center_shards.h"
#include "loss/embedding_loss.h"
#include "optim/adamw.h"
#include "train/checkpoint.h"

namespace nsl {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// This rank's parts, under their checkpoint names: "loss.centers" and the centers' optimizer state
// ("p<k>.exp_avg", ...). The tensors share storage with the loss and the optimizer.
NamedTensors sharded_parts(EmbeddingLoss& loss, const AdamW& optimizer);
std::set<std::string> names_of(const NamedTensors& tensors);

// Rank 0: every part concatenated in rank order; other ranks: empty.
WholeTensors gather_whole(Communicator& comm, const std::vector<ShardRange>& ranges,
                          const NamedTensors& parts);
// Rank 0's whole tensors copied, range by range, into every rank's parts (an entry missing or
// undefined on rank 0 is left alone on every rank).
void scatter_whole(Communicator& comm, const std::vector<ShardRange>& ranges,
                   const WholeTensors& whole, const NamedTensors& parts);
// The first `rows` rows of the whole centers on rank 0 (for diagnostics); empty elsewhere.
torch::Tensor gather_leading_rows(Communicator& comm, const std::vector<ShardRange>& ranges,
                                  const torch::Tensor& part, int64_t rows);

}  // namespace nsl
