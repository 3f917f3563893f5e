#include "train/center_imprint.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "loss/decorrelation.h"
#include "model/ns_layer.h"

namespace nsl {

torch::Tensor class_mean_centers(const SplitEmbeddings& split, const torch::Tensor& fallback,
                                 int64_t first_class, int64_t classes) {
  const int64_t rows = fallback.size(0), dim = fallback.size(1);
  if (classes < 0) classes = rows;
  if (split.unit.dim() != 2 || split.unit.size(1) != dim)
    throw std::invalid_argument("class_mean_centers: embeddings of width " +
                                std::to_string(split.unit.dim() == 2 ? split.unit.size(1) : -1) +
                                " for centers of width " + std::to_string(dim));
  if (split.labels.numel() > 0 &&
      (split.labels.min().item<int64_t>() < 0 || split.labels.max().item<int64_t>() >= classes))
    throw std::out_of_range("class_mean_centers: a label outside [0, " + std::to_string(classes) +
                            ")");
  // index_add_ on the CPU adds rows in order, so the sums do not depend on threads.
  const torch::Tensor labels = split.labels.to(torch::kCPU, torch::kInt64);
  const torch::Tensor mine = (labels >= first_class) & (labels < first_class + rows);
  torch::Tensor sums = torch::zeros({rows, dim}, torch::kFloat64);
  sums.index_add_(0, labels.masked_select(mine) - first_class,
                  split.unit.to(torch::kCPU, torch::kFloat64).index({mine}));
  const torch::Tensor norms = sums.norm(2, 1, true);
  const torch::Tensor present = norms.squeeze(1) > 0.0;
  const torch::Tensor means = (sums / norms.clamp_min(1e-300)).to(fallback.scalar_type());
  const torch::Tensor keep = fallback.detach().to(torch::kCPU);
  return torch::where(present.unsqueeze(1), means, keep);
}

torch::Tensor mean_in_row_order(const torch::Tensor& rows) {
  if (rows.dim() != 2 || rows.size(0) == 0)
    throw std::invalid_argument("mean_in_row_order: a non-empty [n, d] matrix expected");
  torch::Tensor sum = torch::zeros({1, rows.size(1)}, torch::kFloat64);
  sum.index_add_(0, torch::zeros({rows.size(0)}, torch::kInt64),
                 rows.to(torch::kCPU, torch::kFloat64));
  return sum.squeeze(0) / static_cast<double>(rows.size(0));
}

}  // namespace nsl

namespace nsl {
namespace {

std::string format_fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

}  // namespace

void prepare_centers(Communicator& comm, EmbeddingNet& net, EmbeddingLoss& loss,
                     EvalSource& samples, int64_t batch_size, bool imprint,
                     const std::function<void(const std::string&)>& note) {
  const auto start = std::chrono::steady_clock::now();
  // Raw head outputs of every training image, in global index order on every rank.
  SplitEmbeddings all = gather_embeddings(comm, embed_local(net, samples, batch_size, true));
  torch::NoGradGuard no_grad;
  const int64_t n = all.unit.size(0);
  if (net->centers_embeddings() && n > 0) {
    const torch::Tensor mean = mean_in_row_order(all.unit);
    net->set_centering_mean(mean);
    all.unit = all.unit - mean.to(all.unit.scalar_type());
    note("embeddings centred: mean of the head's outputs over " + std::to_string(n) +
         " training images (norm " + format_fixed(mean.norm().item<double>(), 3) + ")");
  }
  all.unit = NSLayerImpl::unit(all.unit);
  if (imprint) {
    torch::Tensor& centers = loss->centers();
    const ShardRange range = loss->shard();
    centers.copy_(class_mean_centers(all, centers.cpu(), range.begin, range.classes));
    const CenterCosines cos = center_cosine_stats(centers);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    note("centers initialised as the class means of " + std::to_string(n) +
         " training images (mean |cos| between centers " + format_fixed(cos.mean_abs, 3) +
         ", max " + format_fixed(cos.max_abs, 3) + "; " + std::to_string(std::llround(seconds)) +
         " s)");
  }
}

}  // namespace nsl
