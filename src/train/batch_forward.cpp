#include "train/batch_forward.h"

#include "interfaces/collectives.h"
#include "model/ns_layer.h"

namespace nsl {

BatchForward::BatchForward(Communicator& comm, EmbeddingNet net, EmbeddingLoss loss,
                           int64_t embedding_dim, int64_t global_batch)
    : comm_(comm),
      net_(std::move(net)),
      loss_(std::move(loss)),
      embedding_dim_(embedding_dim),
      global_batch_(global_batch) {}

ForwardResult BatchForward::operator()(const Batch& batch, bool update_centering) {
  // Batch losses (pair-based, Proxy-Anchor) see the whole global batch on every rank, so their
  // mining and their value do not depend on how the batch is split (see LossStep).
  const bool global = loss_->batch_loss() && comm_.size() > 1;
  const int64_t n = batch.images.size(0);
  const torch::Device device = comm_.device();
  ForwardResult out;
  // With synchronised BatchNorm every rank runs every forward and backward (they are collectives),
  // even on an empty share of the batch.
  const bool sync_bn = net_->syncs_batch_norm();
  // Centering in training follows the global batch's mean: a collective as well.
  const bool centering = net_->centers_embeddings();
  // Sharded centers: every rank scores the whole gathered batch against its own centers.
  const bool sharded = loss_->sharded();
  if (n == 0 && !global && !sync_bn && !centering && !sharded) return out;
  torch::Tensor unit;
  if (n > 0 || sync_bn) {
    const Embedding e = net_->forward(batch.images.to(device));
    unit = centering ? center_on_batch(e.raw, update_centering) : e.unit;
  } else {
    unit = torch::empty({0, embedding_dim_}, torch::TensorOptions(device));
    if (centering) unit = center_on_batch(unit, update_centering);
    // The sharded loss's backward is a collective: this rank's (empty) rows take part in it.
    if (sharded && torch::GradMode::is_enabled()) unit.requires_grad_(true);
  }
  const torch::Tensor own_rows = unit;
  if (n == 0 && !global && !sharded) {
    out.objective = own_rows.sum() * 0.0;
    return out;
  }
  torch::Tensor labels = batch.labels.to(device);
  if (global) {
    const torch::Tensor rows = comm_.all_gather_rows(torch::tensor({n}, torch::kInt64).to(device));
    const int64_t offset = rows.slice(0, 0, comm_.rank()).sum().item<int64_t>();
    const torch::Tensor all = comm_.all_gather_rows(unit.detach().contiguous());
    labels = comm_.all_gather_rows(labels.contiguous());
    // Other ranks' rows are constants here; this rank's rows carry the gradient.
    unit = torch::cat({all.slice(0, 0, offset), unit, all.slice(0, offset + n)});
  }
  const LossStep step =
      loss_->forward(unit, labels, net_->ns()->scale(), global_batch_, comm_.size());
  out.objective = step.objective;
  // A loss without a gradient path on this rank would skip the BatchNorm backward collectives.
  if (sync_bn && (!out.objective.defined() || !out.objective.requires_grad()) &&
      own_rows.requires_grad()) {
    out.objective =
        (out.objective.defined() ? out.objective : torch::zeros({}, own_rows.options())) +
        own_rows.sum() * 0.0;
  }
  out.reported = step.reported;
  out.idle = step.active == 0 && (!global || comm_.is_root());
  return out;
}

torch::Tensor BatchForward::center_on_batch(const torch::Tensor& raw, bool update_running_mean) {
  // The global batch's mean, the same bits on every rank (per-rank sums in float64 added in rank
  // order), moves the running mean first; the rows are then centred with the running mean. With
  // model.centering_momentum 1 that is the batch's own mean (BatchNorm-style, noisy with a P x K
  // batch of few classes); smaller momenta average over batches but trail a drifting network. The
  // mean is a constant for autograd: the common component is removed, not learned against.
  if (update_running_mean) {
    const torch::Tensor raw64 = raw.detach().to(torch::kFloat64);
    const torch::Tensor local = torch::cat(
        {raw64.sum(0), torch::full({1}, static_cast<double>(raw.size(0)), raw64.options())});
    const torch::Tensor total = sum_in_rank_order(&comm_, local);
    const double count = total[embedding_dim_].item<double>();
    if (count > 0.0) net_->update_centering(total.slice(0, 0, embedding_dim_) / count);
  }
  return NSLayerImpl::unit(raw - net_->centering_mean().to(raw.scalar_type()));
}

}  // namespace nsl
