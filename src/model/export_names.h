#pragma once
// The names a trained network's tensors carry outside nsl_dist (`nsl_dist export`, README "Use the
// model from Python"): ResNet backbones under torchvision's names (conv1.weight,
// layer1.0.bn1.running_mean, ...), the small CNN under backbone.features.N.* and
// backbone.pooled_norm.* (its Sequential's indices: conv, GroupNorm, ReLU, conv, GroupNorm, ReLU,
// then a max-pool between stages), then head.weight [d, features], ns.log_scale [] and, with
// model.center_embeddings, centering_mean [d]. BatchNorm's num_batches_tracked counters are left
// out (a training counter, not a weight).
#include <torch/torch.h>

#include <map>
#include <string>

#include "config/choices.h"

namespace nsl {

// Every parameter and buffer of an EmbeddingNet under its export name (float32, detached, CPU).
std::map<std::string, torch::Tensor> exported_network_tensors(const torch::nn::Module& net,
                                                              Backbone backbone);

}  // namespace nsl
