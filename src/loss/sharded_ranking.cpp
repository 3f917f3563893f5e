#include "loss/sharded_ranking.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "loss/dgcrl.h"

namespace nsl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kNormEps = 1e-12;  // the N-S layer's eps, as in loss/dgcrl.cpp

// A Communicator travels through an autograd node's saved_data (which holds IValues) as an integer.
int64_t handle(Communicator& comm) {
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(&comm));
}
Communicator& from_handle(AutogradContext* ctx) {
  return *reinterpret_cast<Communicator*>(static_cast<intptr_t>(ctx->saved_data["comm"].toInt()));
}

torch::Tensor summed(Communicator& comm, const torch::Tensor& t) {
  torch::Tensor s = t.detach().contiguous().clone();
  comm.all_reduce(s, ReduceOp::kSum);
  return s;
}

// y = the sum over ranks of x; the gradient of x is the sum over ranks of y's gradients (every
// rank's objective uses y).
class AllReduceSum : public torch::autograd::Function<AllReduceSum> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return summed(*reinterpret_cast<Communicator*>(static_cast<intptr_t>(comm)), x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {summed(from_handle(ctx), grads[0]), torch::Tensor()};
  }
};

// Every rank's rows in rank order; backward sums the gathered gradient over the ranks and keeps
// this rank's rows.
class GatherRows : public torch::autograd::Function<GatherRows> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& own, int64_t comm,
                               int64_t offset) {
    ctx->saved_data["comm"] = comm;
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["rows"] = own.size(0);
    return reinterpret_cast<Communicator*>(static_cast<intptr_t>(comm))
        ->all_gather_rows(own.detach().contiguous());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t offset = ctx->saved_data["offset"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    return {summed(from_handle(ctx), grads[0]).slice(0, offset, offset + rows), torch::Tensor(),
            torch::Tensor()};
  }
};

// The softmax ranking of loss/dgcrl.cpp's CenterSoftmaxRanking with the C columns split over the
// ranks: the same formulas, with the row maxima, the sums of exponentials, the target logits and,
// in backward, the rows' incoming gradients all-reduced.
class ShardedSoftmaxRanking : public torch::autograd::Function<ShardedSoftmaxRanking> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& unit,
                               const torch::Tensor& centers, const torch::Tensor& scale,
                               const torch::Tensor& target, int64_t comm_handle, double margin) {
    Communicator& comm = *reinterpret_cast<Communicator*>(static_cast<intptr_t>(comm_handle));
    const int64_t rows = unit.size(0), columns = centers.size(0);
    const torch::Tensor own = target >= 0;
    const torch::Tensor column = target.clamp_min(0).unsqueeze(1);
    const torch::Tensor raw_norms = centers.norm(2, 1);
    const torch::Tensor norms = raw_norms.clamp_min(kNormEps);
    const torch::Tensor cosines = torch::mm(unit, centers.t()).div_(norms.unsqueeze(0));
    torch::Tensor z = cosines * scale;
    torch::Tensor top =
        torch::full({rows}, -std::numeric_limits<float>::infinity(), unit.options());
    torch::Tensor positive = torch::zeros({rows}, unit.options());
    if (columns > 0) {
      z.scatter_add_(1, column, (own.to(z.scalar_type()) * (scale * -margin)).unsqueeze(1));
      top = std::get<0>(z.max(1));
      positive = torch::where(own, z.gather(1, column).squeeze(1), positive);
    }
    top = top.contiguous();
    comm.all_reduce(top, ReduceOp::kMax);
    torch::Tensor p = (z - top.unsqueeze(1)).exp_();
    const torch::Tensor totals = summed(comm, torch::stack({p.sum(1), positive}));
    const torch::Tensor total = totals[0];
    p.div_(total.unsqueeze(1));
    ctx->save_for_backward({unit, centers, scale, target, cosines, norms, raw_norms, p});
    ctx->saved_data["comm"] = comm_handle;
    ctx->saved_data["margin"] = margin;
    return total.log() + top - totals[1];
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto v = ctx->get_saved_variables();
    const torch::Tensor &unit = v[0], &centers = v[1], &scale = v[2], &target = v[3];
    const torch::Tensor &cosines = v[4], &norms = v[5], &raw_norms = v[6], &p = v[7];
    const double margin = ctx->saved_data["margin"].toDouble();
    // Each rank's objective holds its own rows: their sum is every row's gradient.
    const torch::Tensor g = summed(from_handle(ctx), grads[0]);
    const torch::Tensor own = target >= 0;
    const torch::Tensor column = target.clamp_min(0).unsqueeze(1);
    const torch::Tensor g_own = torch::where(own, g, torch::zeros_like(g));
    torch::Tensor d = p * g.unsqueeze(1);
    torch::Tensor p_target = torch::zeros_like(g);
    if (centers.size(0) > 0) {
      d.scatter_add_(1, column, -g_own.unsqueeze(1));  // D = g (p - e_y) on this rank's columns
      p_target = p.gather(1, column).squeeze(1);
    }
    const torch::Tensor d_cos = (d * cosines).sum(0);
    torch::Tensor grad_unit, grad_centers, grad_scale;
    if (ctx->needs_input_grad(2))
      grad_scale = (d_cos.sum() + margin * (g_own * (1.0 - p_target)).sum()).reshape(scale.sizes());
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
      const torch::Tensor grad_products = d.mul_(scale / norms);
      if (ctx->needs_input_grad(0)) grad_unit = torch::mm(grad_products, centers);
      if (ctx->needs_input_grad(1)) {
        const torch::Tensor radial =
            (d_cos * -scale / (norms * norms)).masked_fill_(raw_norms <= kNormEps, 0.0);
        grad_centers = torch::addmm(centers * radial.unsqueeze(1), grad_products.t(), unit);
      }
    }
    return {grad_unit, grad_centers, grad_scale, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

ShardedBatch gather_sharded_batch(Communicator& comm, const torch::Tensor& unit,
                                  const torch::Tensor& labels) {
  ShardedBatch b;
  b.rows = unit.size(0);
  const torch::Tensor counts =
      comm.all_gather_rows(torch::tensor({b.rows}, torch::kInt64).to(comm.device()));
  b.offset = counts.slice(0, 0, comm.rank()).sum().item<int64_t>();
  b.unit = GatherRows::apply(unit, handle(comm), b.offset);
  b.labels = comm.all_gather_rows(labels.contiguous());
  return b;
}

torch::Tensor sharded_softmax_ranking(Communicator& comm, const ShardedBatch& batch,
                                      const torch::Tensor& centers, const torch::Tensor& target,
                                      const torch::Tensor& scale, double margin) {
  return ShardedSoftmaxRanking::apply(batch.unit, centers, scale, target, handle(comm), margin);
}

torch::Tensor sharded_hinge_ranking(Communicator& comm, const ShardedBatch& batch,
                                    const torch::Tensor& centers, const torch::Tensor& target,
                                    int64_t classes_in_use, double margin) {
  const torch::Tensor cosines = center_cosines(batch.unit, centers);
  const int64_t rows = cosines.size(0), columns = cosines.size(1);
  const torch::Tensor own = target >= 0;
  const torch::Tensor column = target.clamp_min(0).unsqueeze(1);
  torch::Tensor positive = torch::zeros({rows}, cosines.options());
  torch::Tensor negative = torch::ones_like(cosines);
  if (columns > 0) {
    positive = torch::where(own, cosines.gather(1, column).squeeze(1), positive);
    negative.scatter_(1, column, (~own).to(cosines.scalar_type()).unsqueeze(1));
  }
  const torch::Tensor cos_pos = AllReduceSum::apply(positive, handle(comm));
  // m + (2 - 2 cos_y) - (2 - 2 cos_j) = m + 2 (cos_j - cos_y), as in hinge_ranking_loss
  const torch::Tensor violation = torch::relu(margin + 2.0 * (cosines - cos_pos.unsqueeze(1)));
  const torch::Tensor total = AllReduceSum::apply((violation * negative).sum(1), handle(comm));
  return total / static_cast<double>(std::max<int64_t>(classes_in_use - 1, 1));
}

}  // namespace nsl
