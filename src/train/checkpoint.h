#pragma once
// A checkpoint is a directory: model.pt (network + centers by name), optimizer.pt, meta.json.
// It is written to a temporary sibling, fsynced, then renamed into place, so a crash never leaves
// a half-written checkpoint under the final name.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <string>

#include "optim/adamw.h"

namespace nsl {

void save_checkpoint(const std::string& dir, const torch::nn::Module& net,
                     const torch::nn::Module& loss, const AdamW& optimizer,
                     const nlohmann::json& meta);

// Loads tensors by name into the given modules (shapes must match); returns meta.json.
nlohmann::json load_checkpoint(const std::string& dir, torch::nn::Module& net,
                               torch::nn::Module& loss, AdamW* optimizer);

}  // namespace nsl
