#pragma once
// The errors that stop every rank together (common/error.h StoppedTogether), worded once: a loss
// or weights that are not finite, a preemption signal.
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "train/checkpoint.h"

namespace nsl {

// `bad`: the tensors that are not finite; `before`: what is skipped ("the epoch's evaluation").
StoppedTogether weights_diverged(const std::vector<std::string>& bad,
                                 const TrainingProgress& progress, const std::string& before,
                                 const std::string& last_good_checkpoint);

// `first_rank`: the first rank whose own share of the loss was not finite, or `world_size` when
// every share was finite and only their sum is not.
StoppedTogether loss_diverged(double loss, int64_t epoch, int64_t step, int64_t global_step,
                              int64_t first_rank, int world_size,
                              const std::string& last_good_checkpoint);

// `when`: " after epoch 3" or ": stopped at epoch 2 after step 17"; `checkpoint` may be empty.
Preempted preempted(const std::string& when, const std::string& checkpoint);

}  // namespace nsl
