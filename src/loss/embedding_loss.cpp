#include "loss/embedding_loss.h"

#include <stdexcept>

#include "loss/decorrelation.h"
#include "loss/dgcrl.h"
#include "loss/gram_schmidt.h"
#include "loss/pair_losses.h"
#include "loss/proxy_losses.h"
#include "model/ns_layer.h"

namespace nsl {
namespace {

bool is_dgcrl(const LossConfig& c) { return c.name == "dgcrl"; }

bool loss_has_centers(const std::string& name) {
  return name == "dgcrl" || name == "normalized_softmax" || name == "proxy_nca" ||
         name == "proxy_nca_pp" || name == "proxy_anchor";
}

// Same value; the gradient reaching x is multiplied by `factor`. (x - x.detach()) is exactly 0.
torch::Tensor scale_gradient(const torch::Tensor& x, double factor) {
  if (factor == 1.0) return x;
  return x.detach() + (x - x.detach()) * factor;
}

}  // namespace

bool EmbeddingLossImpl::batch_loss() const {
  const auto& n = config_.name;
  return n == "triplet" || n == "contrastive" || n == "multi_similarity" || n == "proxy_anchor";
}

EmbeddingLossImpl::EmbeddingLossImpl(const LossConfig& config, int64_t num_classes, int64_t dim)
    : config_(config) {
  if (loss_has_centers(config_.name)) {
    centers_ = register_parameter("centers", NSLayerImpl::unit(torch::randn({num_classes, dim})));
  }
}

bool EmbeddingLossImpl::uses_epoch_gs() const {
  return is_dgcrl(config_) && config_.decorrelation.mode == "epoch_gs";
}

void EmbeddingLossImpl::start_epoch(uint64_t seed, int64_t epoch) {
  if (is_dgcrl(config_) && config_.decorrelation.mode == "iter_gs") {
    gs_groups_ =
        gram_schmidt_groups(centers_.size(0), centers_.size(1), seed, epoch,
                            config_.decorrelation.blockwise, config_.decorrelation.group_size);
  }
}

LossStep EmbeddingLossImpl::forward(const torch::Tensor& unit, const torch::Tensor& labels,
                                    const torch::Tensor& scale, int64_t global_batch,
                                    int world_size) {
  const auto& c = config_;
  LossStep step;
  torch::Tensor per_sample;
  torch::Tensor batch_value;
  if (c.name == "dgcrl" || c.name == "normalized_softmax") {
    if (c.name == "dgcrl" && c.ranking == "hinge") {
      per_sample = hinge_ranking_loss(center_cosines(unit, centers_), labels, c.margin);
    } else {
      per_sample = center_softmax_ranking_loss(unit, centers_, labels, scale,
                                               c.name == "dgcrl" ? c.margin : 0.0);
    }
  } else if (c.name == "proxy_nca") {
    per_sample = proxy_nca_loss(unit, centers_, labels, c.proxy_nca_scale);
  } else if (c.name == "proxy_nca_pp") {
    per_sample = proxy_nca_pp_loss(unit, centers_, labels, c.proxy_nca_pp_scale);
  } else {
    BatchLoss b;
    if (c.name == "triplet") {
      b = triplet_semihard_loss(unit, labels, c.triplet_margin);
    } else if (c.name == "contrastive") {
      b = contrastive_loss(unit, labels, c.contrastive_pos_margin, c.contrastive_neg_margin);
    } else if (c.name == "multi_similarity") {
      const auto& ms = c.multi_similarity;
      b = multi_similarity_loss(unit, labels, ms.alpha, ms.beta, ms.lambda, ms.epsilon);
    } else {
      // Every rank computes the same full loss: the proxies' summed gradient must count once.
      const torch::Tensor proxies = scale_gradient(centers_, 1.0 / world_size);
      b = {proxy_anchor_loss(unit, proxies, labels, c.proxy_anchor_alpha, c.proxy_anchor_delta),
           unit.size(0)};
    }
    batch_value = b.value;
    step.active = b.active;
  }

  if (per_sample.defined()) {
    step.objective = per_sample.sum() / static_cast<double>(global_batch);
    step.active = per_sample.size(0);
  } else {
    step.objective = batch_value;
  }
  const auto& dc = c.decorrelation;
  if (is_dgcrl(c) && (dc.mode == "iter_gs" || dc.mode == "inner_product")) {
    const double lambda =
        decorrelation_lambda(dc.mode, dc.lambda, dc.normalize_lambda, scale.item<double>(),
                             global_batch, centers_.size(0));
    torch::Tensor penalty;
    if (dc.mode == "iter_gs") {
      if (gs_groups_.empty()) throw std::logic_error("iter_gs: start_epoch() was not called");
      penalty = iter_gs_penalty(centers_, gs_groups_, lambda);
    } else {
      penalty = inner_product_penalty(centers_, lambda);
    }
    step.objective = step.objective + penalty / world_size;
  }
  // Batch losses: every rank holds the full value (and no penalty applies to them).
  step.reported = per_sample.defined() ? step.objective.item<double>()
                                       : batch_value.item<double>() / world_size;
  return step;
}

}  // namespace nsl
