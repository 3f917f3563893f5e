#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "common/error.h"
#include "eval/evaluate_model.h"
#include "interfaces/collectives.h"
#include "loss/decorrelation.h"
#include "loss/gram_schmidt.h"
#include "optim/lr_schedule.h"
#include "train/center_decorrelation.h"
#include "train/center_imprint.h"
#include "train/center_state_transfer.h"
#include "train/optimizer_groups.h"
#include "train/progress.h"
#include "train/stop_reasons.h"
#include "train/training_state.h"
#include "train/weights_check.h"

namespace nsl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

Trainer::Trainer(const Config& config, Communicator& comm, TrainBatchSource& train,
                 EvalSource& test, int64_t in_channels, TrainerOptions options)
    : config_(config),
      comm_(comm),
      train_(train),
      test_(test),
      options_(std::move(options)),
      in_channels_(in_channels) {
  if (config_.eval.recall_k.empty()) config_.eval.recall_k = default_recall_k("");
  torch::manual_seed(config_.seed);
  net_ = EmbeddingNet(config_.model, in_channels);
  if (!config_.model.pretrained.empty()) {
    pretrained_ = net_->load_backbone_weights(config_.model.pretrained);
  }
  std::optional<CenterSharding> sharding;
  if (config_.loss.centers == CenterPlacement::kSharded) {
    center_ranges_ = shard_ranges(
        train_.num_classes(), shard_block(config_.loss, config_.model.embedding_dim), comm_.size());
    sharding = CenterSharding{&comm_, center_ranges_[static_cast<size_t>(comm_.rank())],
                              config_.seed, config_.loss.sample_rate};
  }
  loss_ = EmbeddingLoss(config_.loss, train_.num_classes(), config_.model.embedding_dim, sharding);
  // Initialised on the CPU (the same numbers whatever the device), then moved where the back end
  // computes: the GPU of this rank with NCCL.
  net_->to(comm_.device());
  loss_->to(comm_.device());
  // Trainable BatchNorm normalises with the global batch's statistics (identical on every rank).
  net_->set_batch_norm_communicator(&comm_);

  for (auto& p : net_->parameters()) net_params_.push_back(p);
  backbone_group_ = add_parameter_groups(optimizer_, config_.train, net_, loss_);
  if (loss_->sharded()) sharded_names_ = names_of(sharded_parts(loss_, optimizer_));
  broadcast_weights(comm_, *net_, *loss_, sharded_names_);
  if (comm_.size() > 1) {
    std::vector<torch::Tensor> dedicated;
    // Sharded centers' gradients stay on their rank.
    if (loss_->has_centers() && !loss_->sharded()) dedicated.push_back(loss_->centers());
    reducer_ = std::make_unique<GradientReducer>(
        comm_, net_params_, dedicated, static_cast<int64_t>(config_.dist.bucket_mb * (1 << 20)));
  }
  forward_ = std::make_unique<BatchForward>(comm_, net_, loss_, config_.model.embedding_dim,
                                            train_.global_batch_size());
  run_dir_ = std::make_unique<RunDirectory>(
      comm_.is_root() ? options_.out_dir : std::string(), config_,
      model_identity(config_, train_.num_classes(), in_channels_),
      RunShape{comm_.size(), at::get_num_threads()}, [this](const std::string& t) { note(t); });

  steps_per_epoch_ = all_reduce_value(comm_, train_.steps_per_epoch(), ReduceOp::kMin);
  if (config_.train.max_steps_per_epoch > 0) {
    steps_per_epoch_ = std::min(steps_per_epoch_, config_.train.max_steps_per_epoch);
  }
  if (steps_per_epoch_ < 1) {
    throw DataError("the training split gives no full global batch of " +
                    std::to_string(train_.global_batch_size()) +
                    " images: lower train.batch_size or add data");
  }
  if ((imprints_centers() || net_->centers_embeddings()) && !options_.open_train_samples) {
    throw ConfigError(
        "loss.center_init: class_mean and model.center_embeddings need the training split's "
        "samples (TrainerOptions::open_train_samples)");
  }
  if (loss_->uses_epoch_gs() && !loss_->sharded()) {
    // (Sharded centers are always decorrelated in blocks.) Fails early, before any training, when C
    // > d without block-wise mode. Only the grouping is needed for that check, not a Gram-Schmidt
    // pass over the centers.
    gram_schmidt_groups(train_.num_classes(), config_.model.embedding_dim, config_.seed, 0,
                        config_.loss.decorrelation.blockwise,
                        config_.loss.decorrelation.group_size);
  }
}

void Trainer::note(const std::string& text) const {
  if (comm_.is_root() && options_.on_note) options_.on_note(text);
}

bool Trainer::stop_requested() const {
  return options_.stop_signal != nullptr && options_.stop_signal->load() != 0;
}

bool Trainer::checkpoint_due() const {
  if (!run_dir_->writes()) return false;
  const auto& c = config_.checkpoint;
  if (c.every_steps > 0 && (global_step_ + 1) % c.every_steps == 0) return true;
  return c.every_minutes > 0 && seconds_since(last_save_) >= 60.0 * c.every_minutes;
}

Trainer::StepResult Trainer::step(bool with_grad, bool save_due) {
  Batch batch = train_.next_batch();
  if (with_grad) {
    optimizer_.zero_grad();  // with a reducer: the views into its buckets
    if (reducer_) reducer_->begin_step();
  }
  if (loss_->sharded()) loss_->set_step(global_step_);
  ForwardResult f;
  {
    torch::AutoGradMode grad_mode(with_grad);
    f = (*forward_)(batch, with_grad);
  }
  // The step's scalars travel in one small all-reduce that overlaps backward: the loss shares,
  // idle batches, and the two flags every rank must agree on (preemption, checkpoint timer).
  ScalarsInFlight scalars(
      comm_, {f.reported, f.idle ? 1.0 : 0.0, stop_requested() ? 1.0 : 0.0, save_due ? 1.0 : 0.0},
      ReduceOp::kSum);
  last_local_loss_ = f.reported;
  if (with_grad) {
    select_center_rows(optimizer_, comm_, config_.train, loss_, batch.labels);
    if (f.objective.defined() && f.objective.requires_grad()) f.objective.backward();
    if (reducer_) {
      reducer_->finish_step();
    } else {
      for (auto& p : net_params_) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      }
    }
  }
  const std::vector<double> s = scalars.wait();
  if (with_grad) {
    AdamWOptions o = optimizer_.options();
    o.lr = scheduled_lr(config_.train.lr_schedule, config_.train.lr, global_step_,
                        config_.train.epochs * steps_per_epoch_);
    optimizer_.set_options(o);
    if (config_.train.grad_clip_value > 0.0) {
      clip_gradients(net_params_, loss_, config_.train.grad_clip_value);
    }
    optimizer_.step();
    ++global_step_;
  }
  return {s[0], static_cast<int64_t>(std::llround(s[1])), s[2] > 0.0, s[3] > 0.0};
}

double Trainer::train_step() { return step(true, false).loss; }

std::vector<torch::Tensor> Trainer::replica_tensors() const {
  std::vector<torch::Tensor> tensors = net_params_;
  for (const auto& b : net_->buffers()) tensors.push_back(b);
  return tensors;
}

void Trainer::check_replicas() {
  const bool replicated_centers = loss_->has_centers() && !loss_->sharded();
  nsl::check_replicas(comm_, replica_tensors(),
                      replicated_centers ? loss_->centers() : torch::Tensor());
}

CenterCosines Trainer::center_cosines_now() {
  if (!loss_->sharded()) return center_cosine_stats(loss_->centers());
  // The first rows of the whole matrix, as a replicated run measures them, on every rank.
  const torch::Tensor rows =
      gather_leading_rows(comm_, center_ranges_, loss_->centers(), kCenterCosRows);
  CenterCosines cos;
  if (comm_.is_root()) cos = center_cosine_stats(rows);
  return broadcast_value(comm_, cos, 0);
}

int64_t Trainer::decorrelate(int64_t epoch) {
  return decorrelate_centers(comm_, loss_, optimizer_, config_.loss.decorrelation, config_.seed,
                             epoch);
}

RetrievalMetrics Trainer::evaluate() {
  return evaluate_model(comm_, net_, test_, options_.gallery, config_);
}

bool Trainer::imprints_centers() const {
  return loss_->has_centers() && config_.loss.center_init == CenterInit::kClassMean;
}

void Trainer::imprint_centers() {
  if (!imprints_centers() && !net_->centers_embeddings()) return;
  const std::unique_ptr<EvalSource> samples = options_.open_train_samples();
  prepare_centers(comm_, net_, loss_, *samples, config_.eval.batch_size, imprints_centers(),
                  [this](const std::string& t) { note(t); });
}

void Trainer::begin_epoch(int64_t epoch, int64_t first_step) {
  optimizer_.set_frozen(backbone_group_,
                        epoch >= 1 && epoch <= config_.train.freeze_backbone_epochs);
  train_.start_epoch_at(epoch, first_step);
  loss_->start_epoch(config_.seed, epoch);
}

void Trainer::check_finite_weights(const TrainingProgress& progress, const std::string& before) {
  std::vector<std::string> bad = non_finite_parameters(*net_, "net.");
  for (auto& name : non_finite_parameters(*loss_, "loss.")) bad.push_back(std::move(name));
  // Each rank holds other centers: every rank must learn of another's non-finite part.
  if (loss_->sharded()) {
    const int64_t first = all_reduce_value(
        comm_, bad.empty() ? int64_t{comm_.size()} : int64_t{comm_.rank()}, ReduceOp::kMin);
    if (bad.empty() && first < comm_.size()) {
      bad.push_back("loss.centers (the part of rank " + std::to_string(first) + ")");
    }
  }
  if (!bad.empty()) {
    throw weights_diverged(bad, progress, before, run_dir_->last_good_checkpoint());
  }
}

void Trainer::stop_diverged(int64_t epoch, int64_t step, double loss) {
  // The sum is non-finite on every rank alike, so every rank takes part in this extra collective.
  const int64_t first_rank = all_reduce_value(
      comm_, std::isfinite(last_local_loss_) ? int64_t{comm_.size()} : int64_t{comm_.rank()},
      ReduceOp::kMin);
  throw loss_diverged(loss, epoch, step, global_step_, first_rank, comm_.size(),
                      run_dir_->last_good_checkpoint());
}

void Trainer::save(const TrainingProgress& progress, const std::string& reason) {
  last_save_ = Clock::now();
  check_finite_weights(progress, "the " + reason + " checkpoint");
  // Sharded centers travel to rank 0 (every rank takes part: out_dir is the same on every rank).
  WholeTensors whole;
  if (loss_->sharded() && !options_.out_dir.empty()) {
    whole = gather_whole(comm_, center_ranges_, sharded_parts(loss_, optimizer_));
  }
  if (!run_dir_->writes()) return;
  std::vector<torch::Tensor> tensors = replica_tensors();
  if (loss_->sharded()) {
    tensors.push_back(whole.at("loss.centers"));
  } else if (loss_->has_centers()) {
    tensors.push_back(loss_->centers());
  }
  run_dir_->save_checkpoint(progress, reason, weights_fingerprint(tensors),
                            [&](const std::filesystem::path& tmp) {
                              write_training_files(tmp, *net_, *loss_, optimizer_, whole);
                            });
}

void Trainer::stop_preempted(const TrainingProgress& progress) {
  save(progress, "preempted");
  comm_.barrier();  // every rank leaves only once the checkpoint is on disk
  throw preempted(": stopped at epoch " + std::to_string(progress.epoch) + " after step " +
                      std::to_string(progress.step),
                  run_dir_->last_checkpoint());
}

bool Trainer::agree_on_stop() {
  return all_reduce_value(comm_, stop_requested() ? 1 : 0, ReduceOp::kMax) != 0;
}

EpochMetrics Trainer::run_epoch(const TrainingProgress& start) {
  const int64_t epoch = start.epoch;
  const auto started = Clock::now();
  EpochMetrics m;
  m.epoch = epoch;
  m.steps = steps_per_epoch_;
  begin_epoch(epoch, start.step);
  ProgressLine progress(epoch, config_.train.epochs, steps_per_epoch_);
  const bool show = options_.show_progress && comm_.is_root();
  TrainingProgress now = start;
  for (int64_t s = start.step; s < steps_per_epoch_; ++s) {
    const StepResult r = step(epoch > 0, checkpoint_due());
    if (!std::isfinite(r.loss)) stop_diverged(epoch, s + 1, r.loss);
    now.step = s + 1;
    now.global_step = global_step_;
    now.loss_sum += r.loss;
    now.idle_batches += r.idle;
    if (show) {
      progress.update(now.step, now.loss_sum / static_cast<double>(now.step),
                      (now.step - start.step) * train_.global_batch_size());
    }
    if (r.stop) {
      if (show) progress.finish();
      // Epoch 0 trains nothing: its resume point is its start.
      stop_preempted(epoch == 0 ? TrainingProgress{} : now);
    }
    if (r.save && epoch > 0) save(now, "periodic");
  }
  if (show) progress.finish();
  check_finite_weights(now, "the epoch's evaluation");
  const double train_seconds = seconds_since(started);
  m.loss = now.loss_sum / static_cast<double>(steps_per_epoch_);
  m.idle_batches = now.idle_batches;
  m.images_per_s =
      static_cast<double>((steps_per_epoch_ - start.step) * train_.global_batch_size()) /
      std::max(train_seconds, 1e-9);
  if (epoch > 0) m.gs_groups = decorrelate(epoch);
  if (loss_->has_centers()) {
    const CenterCosines cos = center_cosines_now();
    m.center_cos_mean = cos.mean_abs;
    m.center_cos_max = cos.max_abs;
  }
  check_replicas();
  m.retrieval = evaluate();
  m.seconds = seconds_since(started);
  return m;
}

TrainingProgress Trainer::restore() {
  std::optional<TrainingProgress> loaded;
  WholeTensors whole;  // sharded: rank 0 reads the centers and their state whole
  if (comm_.is_root()) {
    const std::optional<ResumePoint> point = run_dir_->choose_checkpoint(options_.resume);
    if (point) {
      for (const auto& name : sharded_names_) whole[name] = torch::Tensor();
      read_training_files(point->checkpoint.dir, *net_, *loss_, optimizer_,
                          loss_->sharded() ? &whole : nullptr, train_.num_classes());
      loaded = point->progress;
    }
  }
  const std::optional<TrainingProgress> progress =
      sync_training_state(comm_, loaded, *net_, *loss_, optimizer_, sharded_names_);
  if (!progress) return TrainingProgress{};
  if (loss_->sharded()) {
    scatter_whole(comm_, center_ranges_, whole, sharded_parts(loss_, optimizer_));
  }
  global_step_ = progress->global_step;
  if (progress->step > steps_per_epoch_) {
    throw DataError("checkpoint " + run_dir_->resumed_from() + " is at step " +
                    std::to_string(progress->step) + " of epoch " +
                    std::to_string(progress->epoch) + " but an epoch now has " +
                    std::to_string(steps_per_epoch_) +
                    " steps (train.max_steps_per_epoch or "
                    "train.batch_size changed)");
  }
  return *progress;
}

std::vector<EpochMetrics> Trainer::run() {
  const TrainingProgress start = restore();
  std::vector<EpochMetrics> history = run_dir_->open_metrics(start.epoch);
  if (start.epoch > config_.train.epochs) {
    note("the checkpoint is at the end of training (epoch " + std::to_string(start.epoch - 1) +
         " of " + std::to_string(config_.train.epochs) + "): nothing to do");
    return history;
  }
  if (start.epoch == 0) imprint_centers();
  for (int64_t epoch = start.epoch; epoch <= config_.train.epochs; ++epoch) {
    const TrainingProgress from =
        epoch == start.epoch ? start : TrainingProgress{epoch, 0, global_step_, 0.0, 0};
    history.push_back(run_epoch(from));
    run_dir_->append_metrics(history.back());
    if (options_.on_epoch) options_.on_epoch(history.back());
    save(TrainingProgress{epoch + 1, 0, global_step_, 0.0, 0}, "epoch end");
    if (epoch < config_.train.epochs && agree_on_stop()) {
      comm_.barrier();
      throw preempted(" after epoch " + std::to_string(epoch), run_dir_->last_checkpoint());
    }
  }
  comm_.barrier();
  return history;
}

}  // namespace nsl
