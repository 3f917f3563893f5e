#pragma once
// A trained network brought back from a checkpoint, for the commands that use one without training
// (eval, embed, query, report). The run's configuration travels in the checkpoint's manifest, so
// the network is rebuilt exactly as it was trained.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/embedding_net.h"

namespace nsl {

struct CheckpointModel {
  std::filesystem::path dir;  // the checkpoint folder that was loaded (step-N)
  nlohmann::json info;        // its manifest's info object (epoch, step, config_hash, ...)
  Config config;              // the training run's config, with the caller's overrides applied
  int64_t in_channels = 0;
  EmbeddingNet net{nullptr};  // weights loaded, in eval mode, on the requested device
};

// `path` may be a checkpoint folder (holds manifest.json), a run's checkpoints/ folder or a run
// folder (holds checkpoints/): the newest checkpoint that verifies is taken then, older ones when
// newer ones are damaged (each skip is reported through `notes`). Every file is checked against
// the manifest before use. `overrides` are --set KEY=VALUE applied to the stored config (data.path
// for a dataset that moved, say); model keys cannot change the stored weights' shapes.
// Throws DataError naming the folder and the problem, ConfigError for a bad override.
CheckpointModel load_checkpoint_model(const std::string& path,
                                      const std::vector<std::string>& overrides = {},
                                      torch::Device device = torch::kCPU,
                                      std::vector<std::string>* notes = nullptr);

// The help text of the --checkpoint option of the commands that take one.
inline constexpr const char* kCheckpointOptionHelp =
    "checkpoint folder (OUT/checkpoints/step-N), a run's checkpoints/ folder or the run folder "
    "(its newest valid checkpoint)";

// The checkpoint folder `path` names (see load_checkpoint_model), verified.
std::filesystem::path resolve_checkpoint(const std::string& path,
                                         std::vector<std::string>* notes = nullptr);

}  // namespace nsl
