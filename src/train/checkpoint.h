#pragma once
// What a training checkpoint holds. The files: model.pt (network and loss tensors by name, net.*
// and loss.*: the class centers are the full C x d matrix, so a checkpoint does not depend on the
// world size), optimizer.pt (AdamW state), rng.pt (LibTorch's CPU generator). The CheckpointStore
// adds manifest.json, whose info object is a TrainingProgress plus what identifies the model.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "config/config.h"
#include "optim/adamw.h"

namespace nsl {

// Where training stands: `step` steps of `epoch` are done (epoch 0 is the untrained evaluation;
// a checkpoint taken at an epoch's end says {epoch + 1, 0}).
struct TrainingProgress {
  int64_t epoch = 0;
  int64_t step = 0;
  int64_t global_step = 0;   // optimiser steps since the start of the run
  double loss_sum = 0.0;     // sum of this epoch's step losses so far
  int64_t idle_batches = 0;  // this epoch's so far, over all ranks
};

// What a checkpoint must agree on with the run that resumes it.
struct ModelIdentity {
  std::string backbone;
  int64_t num_classes = 0;
  int64_t embedding_dim = 0;
  int64_t in_channels = 0;
};

ModelIdentity model_identity(const Config& config, int64_t num_classes, int64_t in_channels);

// The manifest's info object.
nlohmann::json checkpoint_info(const TrainingProgress& progress, const ModelIdentity& model,
                               const Config& config, int world_size, const std::string& reason);
TrainingProgress progress_from_info(const nlohmann::json& info, const std::string& where);
// Throws DataError naming the checkpoint and the first mismatch (class count, embedding size,
// backbone, image channels) with what to do.
void check_model_identity(const nlohmann::json& info, const ModelIdentity& expected,
                          const std::string& where);

// Tensors a sharded run holds in parts (loss.centers: sharded): checkpoints store them whole (all C
// rows), as a replicated run does, so they resume at any world size and in either mode.
// name ("loss.centers", "p3.exp_avg", ...) -> the whole tensor.
using WholeTensors = std::map<std::string, torch::Tensor>;

// `whole`: tensors written in place of the module's or optimizer's entry of the same name.
void write_training_files(const std::filesystem::path& dir, const torch::nn::Module& net,
                          const torch::nn::Module& loss, const AdamW& optimizer,
                          const WholeTensors& whole = {});
// Loads tensors by name into the modules (shapes must match: DataError naming the tensor),
// the optimizer state and the generator state. The entries named in `whole` (when given) are read
// into it instead: `whole_rows` rows, the other dimensions as the module's part.
void read_training_files(const std::filesystem::path& dir, torch::nn::Module& net,
                         torch::nn::Module& loss, AdamW& optimizer, WholeTensors* whole = nullptr,
                         int64_t whole_rows = 0);
// Network and loss tensors only (evaluation, export).
void read_model_file(const std::filesystem::path& dir, torch::nn::Module& net,
                     torch::nn::Module& loss);
// The loss's tensors (class centers, proxies: model.pt's loss.* entries) by name without the
// "loss." prefix, whole, without building the loss; empty for a loss that has none.
std::map<std::string, torch::Tensor> read_loss_tensors(const std::filesystem::path& dir);
// Network tensors only (net.*): what embedding images needs.
void read_net_file(const std::filesystem::path& dir, torch::nn::Module& net);

}  // namespace nsl
