// The built-in losses: one line each. A new loss is one file in criteria/ plus its line here.
#include "loss/criteria/contrastive.h"
#include "loss/criteria/dgcrl.h"
#include "loss/criteria/multi_similarity.h"
#include "loss/criteria/normalized_softmax.h"
#include "loss/criteria/proxy_anchor.h"
#include "loss/criteria/proxy_nca.h"
#include "loss/criteria/proxy_nca_pp.h"
#include "loss/criteria/triplet.h"
#include "loss/loss_registry.h"

namespace nsl {

std::vector<LossEntry> builtin_losses() {
  std::vector<LossEntry> losses;
  losses.push_back(loss_entry<DgcrlCriterion>());
  losses.push_back(loss_entry<NormalizedSoftmaxCriterion>());
  losses.push_back(loss_entry<TripletCriterion>());
  losses.push_back(loss_entry<ContrastiveCriterion>());
  losses.push_back(loss_entry<MultiSimilarityCriterion>());
  losses.push_back(loss_entry<ProxyNcaCriterion>());
  losses.push_back(loss_entry<ProxyNcaPpCriterion>());
  losses.push_back(loss_entry<ProxyAnchorCriterion>());
  return losses;
}

}  // namespace nsl
