#pragma once
// loss.name contrastive: contrastive loss on cosine distances (loss/pair_losses.h), a batch loss.
#include "loss/criterion.h"
#include "loss/pair_losses.h"

namespace nsl {

class ContrastiveCriterion : public Criterion {
 public:
  static constexpr const char* kName = "contrastive";
  static constexpr LossProperties kProperties{/*has_centers=*/false, /*batch_loss=*/true};

  ContrastiveCriterion(const LossConfig& config, int64_t /*num_classes*/, int64_t /*dim*/)
      : pos_margin_(config.contrastive_pos_margin), neg_margin_(config.contrastive_neg_margin) {}

  CriterionOutput forward(const CriterionInput& in) override {
    const BatchLoss b = contrastive_loss(in.unit, in.labels, pos_margin_, neg_margin_);
    return {b.value, b.active};
  }

 private:
  double pos_margin_;
  double neg_margin_;
};

}  // namespace nsl
