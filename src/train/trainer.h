#pragma once
// The data-parallel training loop. It receives a Communicator and batch sources and never knows
// whether MPI, NCCL or a single process is underneath.
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "eval/recall.h"
#include "loss/embedding_loss.h"
#include "model/embedding_net.h"
#include "optim/adamw.h"
#include "train/batch_source.h"
#include "train/communicator.h"

namespace nsl {

struct EpochMetrics {
  int64_t epoch = 0;          // 0: the untrained network
  double loss = 0.0;          // mean loss over the epoch's steps (epoch 0: forward only)
  RecallResult recall;        // on the test split
  double images_per_s = 0.0;  // global training (epoch 0: forward-only) throughput
  double seconds = 0.0;       // wall time of the epoch, evaluation included
  int64_t steps = 0;
  int64_t gs_groups = 0;     // Gram-Schmidt groups at this epoch's end (0: none)
  int64_t idle_batches = 0;  // (rank, step) batches whose loss found no pair or triplet to use
};

nlohmann::json to_json(const EpochMetrics& m);

struct TrainerOptions {
  std::string out_dir;        // metrics.jsonl and checkpoint/ (rank 0); empty: write nothing
  bool show_progress = true;  // rank 0's progress line on stderr
  std::function<void(const EpochMetrics&)> on_epoch;  // every rank, after each epoch
};

class Trainer {
 public:
  Trainer(const Config& config, Communicator& comm, TrainBatchSource& train, EvalSource& test,
          int64_t in_channels, TrainerOptions options = {});

  // Epoch 0 (evaluation of the untrained network), then epochs 1..E; returns every epoch's metrics.
  std::vector<EpochMetrics> run();

  // Re-seeds the sampler and the loss (iter_gs groups) for the epoch.
  void begin_epoch(int64_t epoch);
  // One optimisation step on the next global batch; returns the global mean loss.
  double train_step();
  // Rank 0's epoch-end Gram-Schmidt, broadcast and replica check (epoch_gs); returns the groups.
  int64_t decorrelate(int64_t epoch);
  RecallResult evaluate();
  // Steps every rank will take per epoch (the minimum over ranks, capped by the config).
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

  EmbeddingNet& net() { return net_; }
  EmbeddingLoss& loss() { return loss_; }
  AdamW& optimizer() { return optimizer_; }
  // What model.pretrained loaded (empty when none).
  const LoadReport& pretrained() const { return pretrained_; }

 private:
  EpochMetrics run_epoch(int64_t epoch);
  // This rank's loss share (LossStep::reported); back-propagates when with_grad.
  double forward_loss(const Batch& batch, bool with_grad);
  void all_reduce_gradients(double& loss);
  void broadcast_parameters();
  void check_replicas(const torch::Tensor& tensor, const std::string& what);

  Config config_;
  Communicator& comm_;
  TrainBatchSource& train_;
  EvalSource& test_;
  TrainerOptions options_;
  EmbeddingNet net_{nullptr};
  EmbeddingLoss loss_{nullptr};
  int64_t idle_batches_ = 0;
  int backbone_group_ = 0;
  LoadReport pretrained_;
  AdamW optimizer_;
  std::vector<torch::Tensor> net_params_;
  int64_t steps_per_epoch_ = 0;
};

}  // namespace nsl
