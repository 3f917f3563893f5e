#pragma once
// loss.decorrelation.mode epoch_gs at an epoch's end: rank 0's Gram-Schmidt of the class centers
// (loss/gram_schmidt.h), broadcast to every rank; sharded centers: every rank its own blocks. The
// optimizer restarts the moments of the rows it changed.
#include <cstdint>

#include "config/config.h"
#include "interfaces/communicator.h"
#include "loss/embedding_loss.h"
#include "optim/adamw.h"

namespace nsl {

// Returns the number of Gram-Schmidt groups (0 when the loss does not decorrelate per epoch).
int64_t decorrelate_centers(Communicator& comm, EmbeddingLoss& loss, AdamW& optimizer,
                            const DecorrelationConfig& config, uint64_t seed, int64_t epoch);

}  // namespace nsl
