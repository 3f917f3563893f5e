#pragma once
// loss.name triplet: semi-hard triplets (loss/pair_losses.h), a batch loss.
#include "loss/criterion.h"
#include "loss/pair_losses.h"

namespace nsl {

class TripletCriterion : public Criterion {
 public:
  static constexpr const char* kName = "triplet";
  static constexpr LossProperties kProperties{/*has_centers=*/false, /*batch_loss=*/true};

  TripletCriterion(const LossConfig& config, int64_t /*num_classes*/, int64_t /*dim*/)
      : margin_(config.triplet_margin) {}

  CriterionOutput forward(const CriterionInput& in) override {
    const BatchLoss b = triplet_semihard_loss(in.unit, in.labels, margin_);
    return {b.value, b.active};
  }

 private:
  double margin_;
};

}  // namespace nsl
