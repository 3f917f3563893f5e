#pragma once
// loss.name dgcrl: the global centralized ranking loss of METHOD.md section 3 (softmax ranking with
// margin, or hinge ranking) against every class center, with loss.decorrelation's iter_gs or
// inner_product penalty on the centers, or epoch_gs at every epoch end.
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"
#include "loss/criterion.h"
#include "loss/decorrelation.h"
#include "loss/dgcrl.h"
#include "loss/gram_schmidt.h"

namespace nsl {

class DgcrlCriterion : public Criterion {
 public:
  static constexpr const char* kName = "dgcrl";
  static constexpr LossProperties kProperties{/*has_centers=*/true, /*batch_loss=*/false,
                                              /*shardable=*/true};

  DgcrlCriterion(const LossConfig& config, int64_t num_classes, int64_t dim)
      : ranking_(config.ranking),
        margin_(config.margin),
        decorrelation_(config.decorrelation),
        num_classes_(num_classes),
        dim_(dim) {}

  CriterionOutput forward(const CriterionInput& in) override {
    if (ranking_ == Ranking::kHinge) {
      return {hinge_ranking_loss(center_cosines(in.unit, in.centers), in.labels, margin_)};
    }
    return {center_softmax_ranking_loss(in.unit, in.centers, in.labels, in.scale, margin_)};
  }

  torch::Tensor forward_sharded(const ShardedCriterionInput& in) override {
    if (ranking_ == Ranking::kHinge) {
      return sharded_hinge_ranking(*in.comm, *in.batch, in.centers, in.target, in.classes_in_use,
                                   margin_);
    }
    return sharded_softmax_ranking(*in.comm, *in.batch, in.centers, in.target, in.scale, margin_);
  }

  // Sharded centers are decorrelated at the epoch end, rank by rank, or not at all.
  static void validate(const LossConfig& config) {
    const DecorrelationMode mode = config.decorrelation.mode;
    if (config.centers == CenterPlacement::kSharded && mode != DecorrelationMode::kEpochGs &&
        mode != DecorrelationMode::kNone) {
      throw ConfigError(
          "config key 'loss.decorrelation.mode': " + std::string(choice_name(mode)) +
          " needs every center on every rank; with loss.centers: sharded use epoch_gs or none");
    }
  }

  torch::Tensor center_penalty(const CriterionInput& in) override {
    const auto& dc = decorrelation_;
    if (dc.mode != DecorrelationMode::kIterGs && dc.mode != DecorrelationMode::kInnerProduct) {
      return {};
    }
    const double lambda =
        decorrelation_lambda(dc.mode, dc.lambda, dc.normalize_lambda, in.scale.item<double>(),
                             in.global_batch, in.centers.size(0));
    if (dc.mode == DecorrelationMode::kInnerProduct) {
      return inner_product_penalty(in.centers, lambda);
    }
    if (gs_groups_.empty()) throw std::logic_error("iter_gs: start_epoch() was not called");
    return iter_gs_penalty(in.centers, gs_groups_, lambda);
  }

  // Re-draws the iter_gs groups for the epoch (seeded; identical on every rank).
  void start_epoch(uint64_t seed, int64_t epoch) override {
    if (decorrelation_.mode == DecorrelationMode::kIterGs) {
      gs_groups_ = gram_schmidt_groups(num_classes_, dim_, seed, epoch, decorrelation_.blockwise,
                                       decorrelation_.group_size);
    }
  }

  bool uses_epoch_gs() const override { return decorrelation_.mode == DecorrelationMode::kEpochGs; }

 private:
  Ranking ranking_;
  double margin_;
  DecorrelationConfig decorrelation_;
  int64_t num_classes_;
  int64_t dim_;
  std::vector<std::vector<int64_t>> gs_groups_;
};

}  // namespace nsl
