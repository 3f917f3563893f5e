#pragma once
// Embedding an evaluation split: each rank embeds its part, then the parts are gathered and put in
// global index order, so every world size yields the same matrix.
#include <torch/torch.h>

#include "model/embedding_net.h"
#include "train/batch_source.h"
#include "train/communicator.h"

namespace nsl {

struct SplitEmbeddings {
  torch::Tensor unit;     // float32 [n, d], unit rows
  torch::Tensor labels;   // int64 [n]
  torch::Tensor indices;  // int64 [n]
};

// Batches of at most batch_size that never cross one of the source's pieces.
SplitEmbeddings embed_local(EmbeddingNet& net, EvalSource& source, int64_t batch_size);
SplitEmbeddings gather_embeddings(Communicator& comm, const SplitEmbeddings& local);

}  // namespace nsl
