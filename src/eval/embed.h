#pragma once
// Embedding an evaluation split: each rank embeds its part, then the parts are gathered and put in
// global index order, so every world size yields the same matrix.
#include <torch/torch.h>

#include "interfaces/batch_source.h"
#include "interfaces/communicator.h"
#include "model/embedding_net.h"

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
// With `raw`, the head's outputs before centering and normalisation instead (the unit rows are
// their normalised, centred versions).
torch::Tensor embed_images(EmbeddingNet& net, const torch::Tensor& images, bool raw = false);

// Batches of at most batch_size that never cross one of the source's pieces.
// `raw`: SplitEmbeddings::unit holds the raw head outputs (see embed_images).
SplitEmbeddings embed_local(EmbeddingNet& net, EvalSource& source, int64_t batch_size,
                            bool raw = false);
SplitEmbeddings gather_embeddings(Communicator& comm, const SplitEmbeddings& local);

}  // namespace nsl
