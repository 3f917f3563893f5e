#include "train/center_decorrelation.h"

#include "interfaces/collectives.h"
#include "loss/decorrelation.h"

namespace nsl {

int64_t decorrelate_centers(Communicator& comm, EmbeddingLoss& loss, AdamW& optimizer,
                            const DecorrelationConfig& config, uint64_t seed, int64_t epoch) {
  if (!loss->uses_epoch_gs()) return 0;
  torch::NoGradGuard no_grad;
  torch::Tensor& centers = loss->centers();
  if (loss->sharded()) {
    // Every rank its own blocks, in parallel; nothing travels but the group count.
    const int64_t block = config.group_size > 0 ? config.group_size : centers.size(1);
    const EpochGsResult gs =
        sharded_epoch_gram_schmidt(centers, loss->shard().begin, block, config.alpha, seed, epoch);
    centers.copy_(gs.centers);
    optimizer.reset_rows(centers, gs.changed_rows);
    return all_reduce_value(comm, gs.groups, ReduceOp::kSum);
  }
  const torch::Tensor before = centers.detach().clone();
  int64_t groups = 0;
  if (comm.is_root()) {
    EpochGsResult gs =
        epoch_gram_schmidt(centers, config.alpha, seed, epoch, config.blockwise, config.group_size);
    centers.copy_(gs.centers);
    groups = gs.groups;
  }
  comm.broadcast(centers, 0);
  optimizer.reset_rows(centers, (centers != before).any(1));
  return broadcast_value(comm, groups, 0);
}

}  // namespace nsl
