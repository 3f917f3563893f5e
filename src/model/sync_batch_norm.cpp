#include "model/sync_batch_norm.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#include "interfaces/collectives.h"

namespace nsl {
namespace {

torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }

// Per-channel sum over images, height and width: per-image sums in the input's type, then float64.
torch::Tensor channel_sums(const torch::Tensor& x) {
  return x.sum({2, 3}).to(torch::kFloat64).sum(0);
}

// The communicator travels through the autograd context as an integer (IValues hold no pointers);
// it outlives every graph built with it (the trainer owns both).
int64_t handle_of(Communicator* comm) {
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(comm));
}
Communicator* comm_of(int64_t handle) {
  return reinterpret_cast<Communicator*>(static_cast<intptr_t>(handle));
}

// Training-mode batch normalisation over the global batch, with the backward written out. With M
// values per channel, x_hat = (x - mean) * invstd and y = weight * x_hat + bias:
//   dx = weight * invstd * (dy - sum(dy) / M - x_hat * sum(dy * x_hat) / M)   (global sums)
//   dweight = sum(dy * x_hat), dbias = sum(dy)                                 (this rank's part;
//   the gradient all-reduce adds the ranks' parts)
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& mean, const torch::Tensor& invstd, double count,
                               int64_t comm) {
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["count"] = count;
    ctx->saved_data["comm"] = comm;
    return (x - per_channel(mean)) * per_channel(invstd * weight) + per_channel(bias);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const torch::Tensor &x = v[0], &weight = v[1], &mean = v[2], &invstd = v[3];
    const double count = ctx->saved_data["count"].toDouble();
    Communicator* comm = comm_of(ctx->saved_data["comm"].toInt());
    const torch::Tensor dy = grads[0].defined() ? grads[0] : torch::zeros_like(x);
    const int64_t c = x.size(1);
    const torch::Tensor x_hat = (x - per_channel(mean)) * per_channel(invstd);
    const torch::Tensor local = torch::cat({channel_sums(dy), channel_sums(dy * x_hat)});
    const torch::Tensor total = sum_in_rank_order(comm, local) / count;
    const torch::Tensor mean_dy = total.slice(0, 0, c).to(x.scalar_type());
    const torch::Tensor mean_dy_xhat = total.slice(0, c, 2 * c).to(x.scalar_type());
    const torch::Tensor dx = (dy - per_channel(mean_dy) - x_hat * per_channel(mean_dy_xhat)) *
                             per_channel(invstd * weight);
    return {dx,
            local.slice(0, c, 2 * c).to(weight.scalar_type()),
            local.slice(0, 0, c).to(weight.scalar_type()),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(int64_t channels, double eps, double momentum)
    : eps_(eps), momentum_(momentum) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kInt64));
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != weight.size(0)) {
    throw std::invalid_argument("SyncBatchNorm2d: input [n, " + std::to_string(weight.size(0)) +
                                ", h, w] expected, got " + std::to_string(x.dim()) +
                                " dimensions with " + std::to_string(x.dim() > 1 ? x.size(1) : 0) +
                                " channels");
  }
  if (!is_training()) {
    return torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/false,
                             momentum_, eps_, /*cudnn_enabled=*/true);
  }
  const int64_t c = x.size(1);
  const torch::Tensor xd = x.detach();
  // Two passes (mean, then squared deviations from it), each one all-reduce: E[x^2] - E[x]^2
  // cancels catastrophically when a channel's spread is small next to its mean (deep layers with
  // few values per channel), and would turn rounding differences into visible ones.
  const torch::Tensor first = sum_in_rank_order(
      comm_,
      torch::cat({channel_sums(xd),
                  torch::full({1}, static_cast<double>(x.numel() / c),
                              torch::TensorOptions().dtype(torch::kFloat64).device(x.device()))}));
  const double count = first[c].item<double>();
  if (count <= 1.0) {
    throw std::invalid_argument(
        "SyncBatchNorm2d: training needs more than one value per channel over the global batch "
        "(images x height x width = " +
        std::to_string(static_cast<int64_t>(count)) +
        "); use a larger train.batch_size or larger images, or model.freeze_bn: true");
  }
  const torch::Tensor mean64 = first.slice(0, 0, c) / count;
  const torch::Tensor mean = mean64.to(x.scalar_type());
  const torch::Tensor centred = xd - per_channel(mean);
  const torch::Tensor var64 = sum_in_rank_order(comm_, channel_sums(centred * centred)) / count;
  const torch::Tensor invstd = (var64 + eps_).rsqrt().to(x.scalar_type());
  {
    torch::NoGradGuard no_grad;
    running_mean.mul_(1.0 - momentum_).add_(mean64.to(running_mean.scalar_type()), momentum_);
    running_var.mul_(1.0 - momentum_)
        .add_((var64 * (count / (count - 1.0))).to(running_var.scalar_type()), momentum_);
    num_batches_tracked.add_(1);
  }
  return SyncBatchNormFunction::apply(x, weight, bias, mean, invstd, count,
                                      handle_of(synchronised() ? comm_ : nullptr));
}

}  // namespace nsl
