#include "loss/embedding_loss.h"

#include <stdexcept>

#include "model/ns_layer.h"

namespace nsl {

EmbeddingLossImpl::EmbeddingLossImpl(const LossConfig& config, int64_t num_classes, int64_t dim)
    : name_(config.name) {
  const LossEntry& entry = find_loss(config.name);
  properties_ = entry.properties;
  if (properties_.has_centers) {
    centers_ = register_parameter("centers", NSLayerImpl::unit(torch::randn({num_classes, dim})));
  }
  criterion_ = entry.create(config, num_classes, dim);
}

LossStep EmbeddingLossImpl::forward(const torch::Tensor& unit, const torch::Tensor& labels,
                                    const torch::Tensor& scale, int64_t global_batch,
                                    int world_size) {
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
