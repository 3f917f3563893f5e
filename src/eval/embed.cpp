#include "eval/embed.h"

#include <algorithm>
#include <vector>

namespace nsl {

SplitEmbeddings embed_local(EmbeddingNet& net, EvalSource& source, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const torch::Device device = net->parameters().front().device();
  net->eval();
  std::vector<torch::Tensor> units, labels, indices;
  int64_t piece_begin = 0;
  for (int64_t piece : source.pieces()) {
    const int64_t piece_end = piece_begin + piece;
    for (int64_t begin = piece_begin; begin < piece_end; begin += batch_size) {
      const int64_t end = std::min(piece_end, begin + batch_size);
      Batch batch = source.slice(begin, end);
      units.push_back(net->forward(batch.images.to(device)).unit.cpu());
      labels.push_back(batch.labels);
      indices.push_back(batch.indices);
    }
    piece_begin = piece_end;
  }
  net->train();
  if (units.empty()) {
    return {torch::zeros({0, net->dim()}), torch::zeros({0}, torch::kInt64),
            torch::zeros({0}, torch::kInt64)};
  }
  return {torch::cat(units), torch::cat(labels), torch::cat(indices)};
}

SplitEmbeddings gather_embeddings(Communicator& comm, const SplitEmbeddings& local) {
  // The collectives run where the back end wants their tensors (the GPU with NCCL); the search
  // itself runs on the CPU.
  auto gather = [&](const torch::Tensor& t) {
    return comm.all_gather_rows(t.to(comm.device()).contiguous()).cpu();
  };
  SplitEmbeddings all{gather(local.unit), gather(local.labels), gather(local.indices)};
  const torch::Tensor order = all.indices.argsort();
  return {all.unit.index_select(0, order), all.labels.index_select(0, order),
          all.indices.index_select(0, order)};
}

}  // namespace nsl
