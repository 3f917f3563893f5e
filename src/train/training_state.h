#pragma once
// Every rank's copy of the training state made equal to rank 0's: the network, the loss's tensors
// (class centers), the optimizer state, LibTorch's CPU generator and the progress counters. Used
// at the start (replicas start from rank 0's initialisation) and on resume (rank 0 has loaded the
// checkpoint; the other ranks have not read it).
#include <torch/torch.h>

#include <optional>
#include <set>
#include <string>

#include "interfaces/communicator.h"
#include "optim/adamw.h"
#include "train/checkpoint.h"

namespace nsl {

// Rank 0's parameters and buffers of `net`, then of `loss`, on every rank (one broadcast each).
// `sharded`: names ("loss.centers", optimizer state names) of tensors each rank holds a different
// part of (loss.centers: sharded); they are not sent (train/center_state_transfer.h moves them).
void broadcast_weights(Communicator& comm, torch::nn::Module& net, torch::nn::Module& loss,
                       const std::set<std::string>& sharded = {});

// Rank 0's `root_progress` (nullopt: a fresh run, nothing more is sent) on every rank; when it is
// set, the weights, the optimizer state and the generator state follow. The same collectives on
// every rank whatever they hold in `root_progress`.
std::optional<TrainingProgress> sync_training_state(
    Communicator& comm, const std::optional<TrainingProgress>& root_progress,
    torch::nn::Module& net, torch::nn::Module& loss, AdamW& optimizer,
    const std::set<std::string>& sharded = {});

}  // namespace nsl
