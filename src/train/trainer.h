#pragma once
// The data-parallel training loop. It receives a Communicator and batch sources and never knows
// whether MPI, NCCL or a single process is underneath.
//
// Fault tolerance: rank 0 writes checkpoints (OUT/checkpoints, see CheckpointStore) at every
// epoch's end and, when configured, every N steps or minutes; run() resumes from one when asked.
// A preemption signal (TrainerOptions::stop_signal) on any rank is agreed on at the next step
// boundary: every rank stops there, rank 0 checkpoints, and run() throws Preempted (exit 75).
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "eval/evaluator.h"
#include "interfaces/batch_source.h"
#include "interfaces/communicator.h"
#include "loss/decorrelation.h"
#include "loss/embedding_loss.h"
#include "model/embedding_net.h"
#include "optim/adamw.h"
#include "train/batch_forward.h"
#include "train/checkpoint.h"
#include "train/gradient_reducer.h"
#include "train/metrics_file.h"
#include "train/run_directory.h"

namespace nsl {

struct TrainerOptions {
  std::string out_dir;        // metrics.jsonl and checkpoints/ (rank 0); empty: write nothing
  bool show_progress = true;  // rank 0's progress line on stderr
  // "" or "none": start fresh; "auto": the newest valid checkpoint under out_dir/checkpoints
  // (fresh when there is none); otherwise a checkpoint folder.
  std::string resume;
  // Set (to the signal's number) by a preemption signal handler; read at every step boundary.
  const std::atomic<int>* stop_signal = nullptr;
  std::function<void(const EpochMetrics&)> on_epoch;  // every rank, after each epoch
  std::function<void(const std::string&)> on_note;    // rank 0: resume and checkpoint notes
  EvalSource* gallery = nullptr;  // data.gallery_split's samples (In-Shop); null: none
  // Opens this rank's part of the training split read like an evaluation split (no sampling, no
  // augmentation): needed for loss.center_init: class_mean with a loss that has centers. Called
  // once, before epoch 0 of a fresh run; the source is released right after.
  std::function<std::unique_ptr<EvalSource>()> open_train_samples;
};

class Trainer {
 public:
  Trainer(const Config& config, Communicator& comm, TrainBatchSource& train, EvalSource& test,
          int64_t in_channels, TrainerOptions options = {});

  // Epoch 0 (evaluation of the untrained network), then epochs 1..E; returns every epoch's metrics
  // (with a resumed run, the earlier epochs come from metrics.jsonl). Throws Preempted after the
  // preemption checkpoint.
  std::vector<EpochMetrics> run();

  // Re-seeds the sampler (at `first_step`) and the loss (iter_gs groups) for the epoch.
  void begin_epoch(int64_t epoch, int64_t first_step = 0);
  // One optimisation step on the next global batch; returns the global mean loss.
  double train_step();
  // Rank 0's epoch-end Gram-Schmidt, broadcast and replica check (epoch_gs); returns the groups.
  int64_t decorrelate(int64_t epoch);
  // Embeds the test (and gallery) split on every rank and evaluates; config.eval.recall_k must be
  // resolved (not empty).
  RetrievalMetrics evaluate();
  // loss.center_init: class_mean: sets the centers to the class means of the training split's
  // embeddings (TrainerOptions::open_train_samples) under the current network; the same on every
  // rank.
  // run() calls it once, before epoch 0 of a fresh run.
  void imprint_centers();
  // Throws DistributedError unless the network and the centers are bit-identical on every rank.
  void check_replicas();
  // Steps every rank will take per epoch (the minimum over ranks, capped by the config).
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

  EmbeddingNet& net() { return net_; }
  EmbeddingLoss& loss() { return loss_; }
  AdamW& optimizer() { return optimizer_; }
  // What model.pretrained loaded (empty when none).
  const LoadReport& pretrained() const { return pretrained_; }
  // The checkpoint run() resumed from and the newest it wrote (rank 0; empty when none).
  const std::string& resumed_from() const { return run_dir_->resumed_from(); }
  const std::string& last_checkpoint() const { return run_dir_->last_checkpoint(); }

 private:
  struct StepResult {
    double loss = 0.0;
    int64_t idle = 0;
    bool stop = false;  // some rank got a preemption signal
    bool save = false;  // rank 0's checkpoint timer fired
  };
  EpochMetrics run_epoch(const TrainingProgress& start);
  StepResult step(bool with_grad, bool save_due);
  bool checkpoint_due() const;
  bool stop_requested() const;
  bool agree_on_stop();
  void save(const TrainingProgress& progress, const std::string& reason);
  bool imprints_centers() const;
  [[noreturn]] void stop_preempted(const TrainingProgress& progress);
  // A non-finite global loss (every rank sees the same sum): all ranks stop together, naming the
  // first rank whose own share was not finite and the last good checkpoint.
  [[noreturn]] void stop_diverged(int64_t epoch, int64_t step, double loss);
  // Every rank (replicas are identical, so every rank decides alike): StoppedTogether unless the
  // weights and centers are all finite. Guards every checkpoint and evaluation.
  void check_finite_weights(const TrainingProgress& progress, const std::string& before);
  // Rank 0 chooses and loads the checkpoint (RunDirectory); every rank then takes its state.
  TrainingProgress restore();
  std::vector<torch::Tensor> replica_tensors() const;
  // The mean and max |cos| between the first centers, the same on every rank (sharded: gathered).
  CenterCosines center_cosines_now();
  void note(const std::string& text) const;

  Config config_;
  Communicator& comm_;
  TrainBatchSource& train_;
  EvalSource& test_;
  TrainerOptions options_;
  int64_t in_channels_ = 1;
  EmbeddingNet net_{nullptr};
  EmbeddingLoss loss_{nullptr};
  int backbone_group_ = 0;
  LoadReport pretrained_;
  AdamW optimizer_;
  std::vector<torch::Tensor> net_params_;
  std::unique_ptr<GradientReducer> reducer_;
  // loss.centers: sharded: every rank's range of classes, and the checkpoint names of the tensors
  // each rank holds a part of (empty when replicated).
  std::vector<ShardRange> center_ranges_;
  std::set<std::string> sharded_names_;
  std::unique_ptr<BatchForward> forward_;
  std::unique_ptr<RunDirectory> run_dir_;  // rank 0's view of options.out_dir
  int64_t steps_per_epoch_ = 0;
  int64_t global_step_ = 0;
  double last_local_loss_ = 0.0;  // this rank's share of the last step's loss
  std::chrono::steady_clock::time_point last_save_ = std::chrono::steady_clock::now();
};

}  // namespace nsl
