#include "loss/embedding_loss.h"

#include <stdexcept>

#include "interfaces/collectives.h"
#include "model/ns_layer.h"

namespace nsl {

EmbeddingLossImpl::EmbeddingLossImpl(const LossConfig& config, int64_t num_classes, int64_t dim,
                                     std::optional<CenterSharding> sharding)
    : name_(config.name), sharding_(std::move(sharding)), num_classes_(num_classes) {
  const LossEntry& entry = find_loss(config.name);
  properties_ = entry.properties;
  if (sharding_ && (!properties_.shardable || sharding_->comm == nullptr)) {
    throw std::logic_error("loss '" + name_ + "': sharded centers need a shardable loss and a " +
                           "communicator");
  }
  if (sharding_) {
    const ShardRange& r = sharding_->range;
    centers_ =
        register_parameter("centers", initial_center_rows(r.begin, r.end, dim, sharding_->seed));
  } else if (properties_.has_centers) {
    centers_ = register_parameter("centers", NSLayerImpl::unit(torch::randn({num_classes, dim})));
  }
  criterion_ = entry.create(config, num_classes, dim);
}

ShardRange EmbeddingLossImpl::shard() const {
  if (sharding_) return sharding_->range;
  ShardRange all;
  all.end = all.classes = num_classes_;
  return all;
}

torch::Tensor EmbeddingLossImpl::rows_to_update(bool present_only) const {
  return present_only ? present_rows_ : sampled_rows_;
}

LossStep EmbeddingLossImpl::forward_sharded(const torch::Tensor& unit, const torch::Tensor& labels,
                                            const torch::Tensor& scale, int64_t global_batch) {
  Communicator& comm = *sharding_->comm;
  const ShardRange& r = sharding_->range;
  const ShardedBatch batch = gather_sharded_batch(comm, unit, labels);
  const torch::Tensor in_range = (batch.labels >= r.begin) & (batch.labels < r.end);
  // The column of each row's class among this rank's rows (-1: another rank's class).
  torch::Tensor column =
      torch::where(in_range, batch.labels - r.begin, torch::full_like(batch.labels, -1));
  present_rows_ = torch::zeros({r.rows()}, torch::kBool);
  if (r.rows() > 0) {
    const torch::Tensor mine = column.masked_select(in_range).cpu();
    present_rows_.index_fill_(0, mine, true);
  }
  torch::Tensor centers = centers_;
  int64_t in_use = r.classes;
  sampled_rows_ = torch::Tensor();
  if (sharding_->sample_rate < 1.0) {
    sampled_rows_ =
        sampled_class_rows(r, batch.labels, sharding_->sample_rate, sharding_->seed, step_);
    const torch::Tensor rows = sampled_rows_.nonzero().squeeze(1);
    torch::Tensor position = torch::full({r.rows()}, int64_t{-1}, torch::kInt64);
    position.index_put_({rows}, torch::arange(rows.numel(), torch::kInt64));
    if (r.rows() > 0) {
      const torch::Tensor device_position = position.to(column.device());
      column = torch::where(in_range, device_position.index({column.clamp_min(0)}), column);
    }
    centers = centers_.index_select(0, rows.to(centers_.device()));
    in_use = all_reduce_value(comm, rows.numel(), ReduceOp::kSum);
  }
  ShardedCriterionInput in;
  in.comm = &comm;
  in.batch = &batch;
  in.centers = centers;
  in.target = column;
  in.scale = scale;
  in.classes_in_use = in_use;
  const torch::Tensor all = criterion_->forward_sharded(in);
  if (all.dim() != 1 || all.size(0) != batch.unit.size(0)) {
    throw std::logic_error("loss '" + name_ + "': a sharded loss must return one value per row");
  }
  LossStep step;
  step.objective = all.slice(0, batch.offset, batch.offset + batch.rows).sum() /
                   static_cast<double>(global_batch);
  step.active = batch.unit.size(0);
  step.reported = step.objective.item<double>();
  return step;
}

LossStep EmbeddingLossImpl::forward(const torch::Tensor& unit, const torch::Tensor& labels,
                                    const torch::Tensor& scale, int64_t global_batch,
                                    int world_size) {
  if (sharding_) return forward_sharded(unit, labels, scale, global_batch);
  const CriterionInput in{unit, labels, centers_, scale, global_batch, world_size};
  const CriterionOutput out = criterion_->forward(in);
  LossStep step;
  if (properties_.batch_loss) {
    // Every rank holds the full value.
    step.objective = out.value;
    step.active = out.active;
  } else {
    if (out.value.dim() != 1 || out.value.size(0) != unit.size(0)) {
      throw std::logic_error("loss '" + name_ +
                             "': a per-sample loss must return one value per row");
    }
    step.objective = out.value.sum() / static_cast<double>(global_batch);
    step.active = out.value.size(0);
  }
  const torch::Tensor penalty = criterion_->center_penalty(in);
  if (penalty.defined()) step.objective = step.objective + penalty / world_size;
  if (properties_.batch_loss) {
    step.reported = out.value.item<double>() / world_size;
    if (penalty.defined()) step.reported += penalty.item<double>() / world_size;
  } else {
    step.reported = step.objective.item<double>();
  }
  return step;
}

}  // namespace nsl
