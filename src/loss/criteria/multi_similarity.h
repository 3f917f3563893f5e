#pragma once
// loss.name multi_similarity: multi-similarity with its pair mining (loss/pair_losses.h), a batch
// loss.
#include "loss/criterion.h"
#include "loss/pair_losses.h"

namespace nsl {

class MultiSimilarityCriterion : public Criterion {
 public:
  static constexpr const char* kName = "multi_similarity";
  static constexpr LossProperties kProperties{/*has_centers=*/false, /*batch_loss=*/true};

  MultiSimilarityCriterion(const LossConfig& config, int64_t /*num_classes*/, int64_t /*dim*/)
      : ms_(config.multi_similarity) {}

  CriterionOutput forward(const CriterionInput& in) override {
    const BatchLoss b =
        multi_similarity_loss(in.unit, in.labels, ms_.alpha, ms_.beta, ms_.lambda, ms_.epsilon);
    return {b.value, b.active};
  }

 private:
  MultiSimilarityConfig ms_;
};

}  // namespace nsl
