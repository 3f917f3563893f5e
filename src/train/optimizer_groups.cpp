#include "train/optimizer_groups.h"

namespace nsl {

int add_parameter_groups(AdamW& optimizer, const TrainConfig& train, EmbeddingNet& net,
                         EmbeddingLoss& loss) {
  AdamWOptions opt;
  opt.lr = train.lr;
  opt.beta1 = train.beta1;
  opt.beta2 = train.beta2;
  optimizer.set_options(opt);
  const int backbone = optimizer.add_group(net->backbone_parameters(), 1.0, train.weight_decay);
  optimizer.add_group(net->head_parameters(), train.head_lr_mult, train.weight_decay);
  // Centers are re-normalised by the loss; decaying their norm would only change their step size.
  if (loss->has_centers()) {
    RowUpdate rows;
    rows.sgd = train.center_optimizer == CenterOptimizer::kSgd;
    rows.momentum = train.center_momentum;
    rows.reproject = train.center_reproject;
    optimizer.add_row_group(loss->centers(), train.center_lr_mult, rows);
  }
  return backbone;
}

void select_center_rows(AdamW& optimizer, Communicator& comm, const TrainConfig& train,
                        EmbeddingLoss& loss, const torch::Tensor& labels) {
  if (!loss->has_centers()) return;
  if (loss->sharded()) {
    // The loss knows its batch's classes and its sampled rows (no collective needed).
    optimizer.set_next_rows(loss->rows_to_update(train.center_update == CenterUpdate::kPresent));
    return;
  }
  if (train.center_update != CenterUpdate::kPresent) return;
  torch::Tensor all = labels.contiguous().to(comm.device());
  if (comm.size() > 1) all = comm.all_gather_rows(all);
  torch::Tensor rows = torch::zeros({loss->centers().size(0)}, torch::kBool);
  rows.index_fill_(0, all.cpu(), true);
  optimizer.set_next_rows(rows);
}

void clip_gradients(const std::vector<torch::Tensor>& params, EmbeddingLoss& loss, double value) {
  torch::NoGradGuard no_grad;
  for (auto p : params) {
    if (p.grad().defined()) p.mutable_grad().clamp_(-value, value);
  }
  if (loss->has_centers() && loss->centers().grad().defined())
    loss->centers().mutable_grad().clamp_(-value, value);
}

}  // namespace nsl
