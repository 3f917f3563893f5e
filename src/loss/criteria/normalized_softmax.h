#pragma once
// loss.name normalized_softmax: softmax cross-entropy over every class center with logits
// s cos(u, c_j) (DGCRL's softmax ranking without margin or decorrelation).
#include "loss/criterion.h"
#include "loss/dgcrl.h"

namespace nsl {

class NormalizedSoftmaxCriterion : public Criterion {
 public:
  static constexpr const char* kName = "normalized_softmax";
  static constexpr LossProperties kProperties{/*has_centers=*/true, /*batch_loss=*/false,
                                              /*shardable=*/true};

  NormalizedSoftmaxCriterion(const LossConfig& /*config*/, int64_t /*num_classes*/,
                             int64_t /*dim*/) {}

  CriterionOutput forward(const CriterionInput& in) override {
    return {center_softmax_ranking_loss(in.unit, in.centers, in.labels, in.scale, 0.0)};
  }

  torch::Tensor forward_sharded(const ShardedCriterionInput& in) override {
    return sharded_softmax_ranking(*in.comm, *in.batch, in.centers, in.target, in.scale, 0.0);
  }
};

}  // namespace nsl
