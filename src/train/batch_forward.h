#pragma once
// The forward half of a training step on this rank's share of the global batch: embeddings
// (centred when model.center_embeddings), the gathered global batch for the batch losses, and the
// loss. Every rank calls it in every step: with synchronised BatchNorm, centring or a batch loss it
// runs collectives, even on an empty share.
#include <torch/torch.h>

#include <cstdint>

#include "interfaces/batch_source.h"
#include "interfaces/communicator.h"
#include "loss/embedding_loss.h"
#include "model/embedding_net.h"

namespace nsl {

struct ForwardResult {
  torch::Tensor objective;  // what this rank back-propagates (undefined: nothing)
  double reported = 0.0;    // this rank's share of the step's loss
  bool idle = false;        // the loss found nothing to learn from in this batch
};

class BatchForward {
 public:
  BatchForward(Communicator& comm, EmbeddingNet net, EmbeddingLoss loss, int64_t embedding_dim,
               int64_t global_batch);
  // update_centering: a training step (the running centering mean follows the batch).
  ForwardResult operator()(const Batch& batch, bool update_centering);

 private:
  // Unit rows of `raw` minus the running centering mean, which first moves towards the global
  // batch's mean when asked (a collective).
  torch::Tensor center_on_batch(const torch::Tensor& raw, bool update_running_mean);

  Communicator& comm_;
  EmbeddingNet net_;
  EmbeddingLoss loss_;
  int64_t embedding_dim_;
  int64_t global_batch_;
};

}  // namespace nsl
