// The fuzz build is LibTorch-free, so it cannot link src/loss/builtin_losses.cpp (the loss
// classes). Configuration validation only needs the built-in names and whether they shard: this
// stand-in lists them, in the same order, without factories. test_loss_registry checks the two
// lists agree.
#include "loss/loss_registry.h"

namespace nsl {

std::vector<LossEntry> builtin_losses() {
  std::vector<LossEntry> entries;
  for (const char* name : {"dgcrl", "normalized_softmax", "triplet", "contrastive",
                           "multi_similarity", "proxy_nca", "proxy_nca_pp", "proxy_anchor"}) {
    LossEntry e;
    e.name = name;
    // What configuration validation reads of the properties.
    e.properties.shardable = e.name == "dgcrl" || e.name == "normalized_softmax";
    entries.push_back(e);
  }
  return entries;
}

}  // namespace nsl
