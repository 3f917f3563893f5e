#include "eval/embed.h"

#include <algorithm>
#include <vector>

#include "common/fixed_split.h"

namespace nsl {

torch::Tensor embed_images(EmbeddingNet& net, const torch::Tensor& images, bool raw) {
  torch::NoGradGuard no_grad;
  const torch::Device device = net->parameters().front().device();
  const torch::Tensor input = images.to(device);
  auto pick = [raw](const Embedding& e) { return raw ? e.raw : e.unit; };
  if (input.is_cuda()) return pick(net->forward(input));
  const int64_t n = input.size(0);
  torch::Tensor out = torch::empty({n, net->dim()}, torch::kFloat32);
  const int64_t pieces = (n + kEmbedPieceImages - 1) / kEmbedPieceImages;
  for_each_piece(pieces, [&](int64_t p) {
    torch::NoGradGuard piece_no_grad;  // grad mode is per thread
    const int64_t begin = p * kEmbedPieceImages;
    const int64_t end = std::min(n, begin + kEmbedPieceImages);
    out.slice(0, begin, end).copy_(pick(net->forward(input.slice(0, begin, end))));
  });
  return out;
}

SplitEmbeddings embed_local(EmbeddingNet& net, EvalSource& source, int64_t batch_size, bool raw) {
  torch::NoGradGuard no_grad;
  net->eval();
  std::vector<torch::Tensor> units, labels, indices;
  int64_t piece_begin = 0;
  for (int64_t piece : source.pieces()) {
    const int64_t piece_end = piece_begin + piece;
    for (int64_t begin = piece_begin; begin < piece_end; begin += batch_size) {
      const int64_t end = std::min(piece_end, begin + batch_size);
      Batch batch = source.slice(begin, end);
      units.push_back(embed_images(net, batch.images, raw).cpu());
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
