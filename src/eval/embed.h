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

// Unit embeddings [n, d] (float32, on the network's device) of images in eval mode. On the CPU the
// images go through the network in pieces of kEmbedPieceImages, each single-threaded
// (common/fixed_split.h), so an image's embedding does not depend on the thread count.
constexpr int64_t kEmbedPieceImages = 8;
torch::Tensor embed_images(EmbeddingNet& net, const torch::Tensor& images);

// Batches of at most batch_size that never cross one of the source's pieces.
SplitEmbeddings embed_local(EmbeddingNet& net, EvalSource& source, int64_t batch_size);
SplitEmbeddings gather_embeddings(Communicator& comm, const SplitEmbeddings& local);

}  // namespace nsl
