#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>

#include "common/error.h"
#include "common/fnv.h"
#include "eval/evaluate_model.h"
#include "interfaces/collectives.h"
#include "loss/decorrelation.h"
#include "loss/gram_schmidt.h"
#include "optim/lr_schedule.h"
#include "train/center_imprint.h"
#include "train/checkpoint_store.h"
#include "train/metrics_file.h"
#include "train/metrics_log.h"
#include "train/progress.h"

namespace nsl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// FNV-1a over the tensors' bytes: replicas must be bit-identical, not merely close.
uint64_t fingerprint(const std::vector<torch::Tensor>& tensors) {
  uint64_t hash = kFnv1a64Offset;
  for (const auto& t : tensors) {
    const torch::Tensor c = t.detach().contiguous().cpu();
    hash = fnv1a64(c.data_ptr(), c.nbytes(), hash);
  }
  return hash;
}

std::string checkpoint_root(const std::string& out_dir) { return out_dir + "/checkpoints"; }

std::string format_fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

}  // namespace

Trainer::Trainer(const Config& config, Communicator& comm, TrainBatchSource& train,
                 EvalSource& test, int64_t in_channels, TrainerOptions options)
    : config_(config),
      comm_(comm),
      train_(train),
      test_(test),
      options_(std::move(options)),
      in_channels_(in_channels),
      device_(comm.device()) {
  if (config_.eval.recall_k.empty()) config_.eval.recall_k = default_recall_k("");
  torch::manual_seed(config_.seed);
  net_ = EmbeddingNet(config_.model, in_channels);
  if (!config_.model.pretrained.empty()) {
    pretrained_ = net_->load_backbone_weights(config_.model.pretrained);
  }
  loss_ = EmbeddingLoss(config_.loss, train_.num_classes(), config_.model.embedding_dim);
  // Initialised on the CPU (the same numbers whatever the device), then moved where the back end
  // computes: the GPU of this rank with NCCL.
  net_->to(device_);
  loss_->to(device_);
  broadcast_parameters();
  // Trainable BatchNorm normalises with the global batch's statistics (identical on every rank).
  net_->set_batch_norm_communicator(&comm_);

  for (auto& p : net_->parameters()) net_params_.push_back(p);
  AdamWOptions opt;
  opt.lr = config_.train.lr;
  opt.beta1 = config_.train.beta1;
  opt.beta2 = config_.train.beta2;
  optimizer_.set_options(opt);
  backbone_group_ =
      optimizer_.add_group(net_->backbone_parameters(), 1.0, config_.train.weight_decay);
  optimizer_.add_group(net_->head_parameters(), config_.train.head_lr_mult,
                       config_.train.weight_decay);
  // Centers are re-normalised by the loss; decaying their norm would only change their step size.
  if (loss_->has_centers()) {
    RowUpdate rows;
    rows.sgd = config_.train.center_optimizer == CenterOptimizer::kSgd;
    rows.momentum = config_.train.center_momentum;
    rows.reproject = config_.train.center_reproject;
    optimizer_.add_row_group(loss_->centers(), config_.train.center_lr_mult, rows);
  }

  if (comm_.size() > 1) {
    std::vector<torch::Tensor> dedicated;
    if (loss_->has_centers()) dedicated.push_back(loss_->centers());
    reducer_ = std::make_unique<GradientReducer>(
        comm_, net_params_, dedicated, static_cast<int64_t>(config_.dist.bucket_mb * (1 << 20)));
  }

  auto steps = on_device(torch::tensor({train_.steps_per_epoch()}, torch::kInt64));
  comm_.all_reduce(steps, ReduceOp::kMin);
  steps_per_epoch_ = steps.item<int64_t>();
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
  if (loss_->uses_epoch_gs()) {
    // Fails early, before any training, when C > d without block-wise mode. Only the grouping is
    // needed for that check, not a Gram-Schmidt pass over the centers.
    gram_schmidt_groups(train_.num_classes(), config_.model.embedding_dim, config_.seed, 0,
                        config_.loss.decorrelation.blockwise,
                        config_.loss.decorrelation.group_size);
  }
}

torch::Tensor Trainer::on_device(const torch::Tensor& t) const {
  return device_.is_cpu() ? t : t.to(device_);
}

void Trainer::note(const std::string& text) const {
  if (comm_.is_root() && options_.on_note) options_.on_note(text);
}

void Trainer::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& p : net_->parameters()) comm_.broadcast(p, 0);
  for (auto& b : net_->buffers()) comm_.broadcast(b, 0);
  if (loss_->has_centers()) comm_.broadcast(loss_->centers(), 0);
}

void Trainer::broadcast_optimizer_state() {
  std::vector<std::pair<std::string, torch::Tensor>> state = optimizer_.state();
  for (auto& [name, value] : state) {
    value = value.contiguous().clone();
    comm_.broadcast(value, 0);
  }
  optimizer_.load_state(state);
}

Trainer::ForwardResult Trainer::forward_loss(const Batch& batch, bool update_centering) {
  // Batch losses (pair-based, Proxy-Anchor) see the whole global batch on every rank, so their
  // mining and their value do not depend on how the batch is split (see LossStep).
  const bool global = loss_->batch_loss() && comm_.size() > 1;
  const int64_t n = batch.images.size(0);
  ForwardResult out;
  // With synchronised BatchNorm every rank runs every forward and backward (they are collectives),
  // even on an empty share of the batch.
  const bool sync_bn = net_->syncs_batch_norm();
  // Centering in training follows the global batch's mean: a collective as well.
  const bool centering = net_->centers_embeddings();
  if (n == 0 && !global && !sync_bn && !centering) return out;
  torch::Tensor unit;
  if (n > 0 || sync_bn) {
    const Embedding e = net_->forward(on_device(batch.images));
    unit = centering ? center_on_batch(e.raw, update_centering) : e.unit;
  } else {
    unit = torch::empty({0, config_.model.embedding_dim}, torch::TensorOptions(device_));
    if (centering) unit = center_on_batch(unit, update_centering);
  }
  const torch::Tensor own_rows = unit;
  if (n == 0 && !global) {
    out.objective = own_rows.sum() * 0.0;
    return out;
  }
  torch::Tensor labels = on_device(batch.labels);
  if (global) {
    const torch::Tensor rows = comm_.all_gather_rows(on_device(torch::tensor({n}, torch::kInt64)));
    const int64_t offset = rows.slice(0, 0, comm_.rank()).sum().item<int64_t>();
    const torch::Tensor all = comm_.all_gather_rows(unit.detach().contiguous());
    labels = comm_.all_gather_rows(labels.contiguous());
    // Other ranks' rows are constants here; this rank's rows carry the gradient.
    unit = torch::cat({all.slice(0, 0, offset), unit, all.slice(0, offset + n)});
  }
  const LossStep step =
      loss_->forward(unit, labels, net_->ns()->scale(), train_.global_batch_size(), comm_.size());
  out.objective = step.objective;
  // A loss without a gradient path on this rank would skip the BatchNorm backward collectives.
  if (sync_bn && (!out.objective.defined() || !out.objective.requires_grad()) &&
      own_rows.requires_grad()) {
    out.objective =
        (out.objective.defined() ? out.objective : torch::zeros({}, own_rows.options())) +
        own_rows.sum() * 0.0;
  }
  out.reported = step.reported;
  out.idle = step.active == 0 && (!global || comm_.is_root());
  return out;
}

bool Trainer::stop_requested() const {
  return options_.stop_signal != nullptr && options_.stop_signal->load() != 0;
}

bool Trainer::checkpoint_due() const {
  if (!comm_.is_root() || options_.out_dir.empty()) return false;
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
  ForwardResult f;
  {
    torch::AutoGradMode grad_mode(with_grad);
    f = forward_loss(batch, with_grad);
  }
  // The step's scalars travel in one small all-reduce that overlaps backward: the loss shares,
  // idle batches, and the two flags every rank must agree on (preemption, checkpoint timer).
  auto scalars = on_device(torch::tensor(
      {f.reported, f.idle ? 1.0 : 0.0, stop_requested() ? 1.0 : 0.0, save_due ? 1.0 : 0.0},
      torch::kFloat64));
  auto scalar_work = comm_.all_reduce_async(scalars, ReduceOp::kSum);
  last_local_loss_ = f.reported;
  if (with_grad) {
    select_center_rows(batch);
    if (f.objective.defined() && f.objective.requires_grad()) f.objective.backward();
    if (reducer_) {
      reducer_->finish_step();
    } else {
      for (auto& p : net_params_) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      }
    }
  }
  scalar_work->wait();
  if (with_grad) {
    AdamWOptions o = optimizer_.options();
    o.lr = scheduled_lr(config_.train.lr_schedule, config_.train.lr, global_step_,
                        config_.train.epochs * steps_per_epoch_);
    optimizer_.set_options(o);
    if (config_.train.grad_clip_value > 0.0) clip_gradients(config_.train.grad_clip_value);
    optimizer_.step();
    ++global_step_;
  }
  scalars = scalars.cpu();
  const double* s = scalars.data_ptr<double>();
  return {s[0], static_cast<int64_t>(std::llround(s[1])), s[2] > 0.0, s[3] > 0.0};
}

double Trainer::train_step() { return step(true, false).loss; }

torch::Tensor Trainer::center_on_batch(const torch::Tensor& raw, bool update_running_mean) {
  // The global batch's mean, the same bits on every rank (per-rank sums in float64 added in rank
  // order), moves the running mean first; the rows are then centred with the running mean. With
  // model.centering_momentum 1 that is the batch's own mean (BatchNorm-style, noisy with a P x K
  // batch of few classes); smaller momenta average over batches but trail a drifting network. The
  // mean is a constant for autograd: the common component is removed, not learned against.
  if (update_running_mean) {
    const int64_t d = config_.model.embedding_dim;
    const torch::Tensor raw64 = raw.detach().to(torch::kFloat64);
    const torch::Tensor local = torch::cat(
        {raw64.sum(0), torch::full({1}, static_cast<double>(raw.size(0)), raw64.options())});
    const torch::Tensor total = sum_in_rank_order(&comm_, local);
    const double count = total[d].item<double>();
    if (count > 0.0) net_->update_centering(total.slice(0, 0, d) / count);
  }
  return NSLayerImpl::unit(raw - net_->centering_mean().to(raw.scalar_type()));
}

void Trainer::clip_gradients(double value) {
  torch::NoGradGuard no_grad;
  for (auto& p : net_params_) {
    if (p.grad().defined()) p.mutable_grad().clamp_(-value, value);
  }
  if (loss_->has_centers() && loss_->centers().grad().defined())
    loss_->centers().mutable_grad().clamp_(-value, value);
}

void Trainer::select_center_rows(const Batch& batch) {
  if (!loss_->has_centers() || config_.train.center_update != CenterUpdate::kPresent) return;
  torch::Tensor labels = on_device(batch.labels.contiguous());
  if (comm_.size() > 1) labels = comm_.all_gather_rows(labels);
  torch::Tensor rows = torch::zeros({train_.num_classes()}, torch::kBool);
  rows.index_fill_(0, labels.cpu(), true);
  optimizer_.set_next_rows(rows);
}

void Trainer::check_replicas() {
  std::vector<torch::Tensor> tensors = net_params_;
  for (const auto& b : net_->buffers()) tensors.push_back(b);
  const uint64_t net_hash = fingerprint(tensors);
  const uint64_t center_hash = loss_->has_centers() ? fingerprint({loss_->centers()}) : 0;
  // Each hash as two exact 32-bit halves: min == max over ranks iff every rank agrees.
  auto lo = on_device(torch::tensor(
      {static_cast<int64_t>(net_hash >> 32), static_cast<int64_t>(net_hash & 0xffffffffULL),
       static_cast<int64_t>(center_hash >> 32), static_cast<int64_t>(center_hash & 0xffffffffULL)},
      torch::kInt64));
  auto hi = lo.clone();
  comm_.all_reduce(lo, ReduceOp::kMin);
  comm_.all_reduce(hi, ReduceOp::kMax);
  lo = lo.cpu();
  hi = hi.cpu();
  const bool net_same = torch::equal(lo.slice(0, 0, 2), hi.slice(0, 0, 2));
  const bool centers_same = torch::equal(lo.slice(0, 2, 4), hi.slice(0, 2, 4));
  if (!net_same || !centers_same) {
    throw DistributedError(std::string("replica check failed: ") +
                           (!centers_same ? "the class centers" : "the network weights") +
                           " differ between ranks (rank " + std::to_string(comm_.rank()) +
                           "'s fingerprint differs from another rank's)");
  }
}

int64_t Trainer::decorrelate(int64_t epoch) {
  const auto& dc = config_.loss.decorrelation;
  if (!loss_->uses_epoch_gs()) return 0;
  torch::NoGradGuard no_grad;
  torch::Tensor& centers = loss_->centers();
  const torch::Tensor before = centers.detach().clone();
  int64_t groups = 0;
  if (comm_.is_root()) {
    EpochGsResult gs =
        epoch_gram_schmidt(centers, dc.alpha, config_.seed, epoch, dc.blockwise, dc.group_size);
    centers.copy_(gs.centers);
    groups = gs.groups;
  }
  comm_.broadcast(centers, 0);
  optimizer_.reset_rows(centers, (centers != before).any(1));
  auto g = on_device(torch::tensor({groups}, torch::kInt64));
  comm_.broadcast(g, 0);
  return g.item<int64_t>();
}

RetrievalMetrics Trainer::evaluate() {
  return evaluate_model(comm_, net_, test_, options_.gallery, config_);
}

bool Trainer::imprints_centers() const {
  return loss_->has_centers() && config_.loss.center_init == CenterInit::kClassMean;
}

void Trainer::imprint_centers() {
  const bool centering = net_->centers_embeddings();
  if (!imprints_centers() && !centering) return;
  const auto start = Clock::now();
  const std::unique_ptr<EvalSource> samples = options_.open_train_samples();
  // Raw head outputs of every training image, in global index order on every rank.
  SplitEmbeddings all =
      gather_embeddings(comm_, embed_local(net_, *samples, config_.eval.batch_size, true));
  torch::NoGradGuard no_grad;
  const int64_t n = all.unit.size(0);
  if (centering && n > 0) {
    const torch::Tensor mean = mean_in_row_order(all.unit);
    net_->set_centering_mean(mean);
    all.unit = all.unit - mean.to(all.unit.scalar_type());
    note("embeddings centred: mean of the head's outputs over " + std::to_string(n) +
         " training images (norm " + format_fixed(mean.norm().item<double>(), 3) + ")");
  }
  all.unit = NSLayerImpl::unit(all.unit);
  if (imprints_centers()) {
    torch::Tensor& centers = loss_->centers();
    centers.copy_(class_mean_centers(all, centers.cpu()));
    const CenterCosines cos = center_cosine_stats(centers);
    note("centers initialised as the class means of " + std::to_string(n) +
         " training images (mean |cos| between centers " + format_fixed(cos.mean_abs, 3) +
         ", max " + format_fixed(cos.max_abs, 3) + "; " +
         std::to_string(std::llround(seconds_since(start))) + " s)");
  }
}

void Trainer::begin_epoch(int64_t epoch, int64_t first_step) {
  optimizer_.set_frozen(backbone_group_,
                        epoch >= 1 && epoch <= config_.train.freeze_backbone_epochs);
  train_.start_epoch_at(epoch, first_step);
  loss_->start_epoch(config_.seed, epoch);
}

std::string Trainer::last_good_checkpoint() const {
  if (!last_checkpoint_.empty()) return last_checkpoint_;
  if (!resumed_from_.empty()) return resumed_from_ + " (the one this run resumed from)";
  return "none (this run has not written one yet)";
}

void Trainer::check_finite_weights(const TrainingProgress& progress, const std::string& before) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> bad;
  for (const auto& item : net_->named_parameters()) {
    if (!torch::isfinite(item.value()).all().item<bool>()) bad.push_back("net." + item.key());
  }
  if (loss_->has_centers() && !torch::isfinite(loss_->centers()).all().item<bool>())
    bad.push_back("loss.centers");
  if (bad.empty()) return;
  std::string names;
  for (size_t i = 0; i < bad.size() && i < 3; ++i) names += (i ? ", " : "") + bad[i];
  if (bad.size() > 3) names += " and " + std::to_string(bad.size() - 3) + " more";
  // A progress of (epoch e, step 0) is the end of epoch e - 1.
  const std::string when =
      progress.step == 0 && progress.epoch > 0
          ? "end of epoch " + std::to_string(progress.epoch - 1)
          : "epoch " + std::to_string(progress.epoch) + ", step " + std::to_string(progress.step);
  throw StoppedTogether(
      kExitRuntime,
      "training diverged: the weights are not finite (" + names + ") after global step " +
          std::to_string(progress.global_step) + " (" + when + "); " + before +
          " is skipped and nothing was written. Last good checkpoint: " + last_good_checkpoint() +
          ". Lower train.lr and rerun with --resume auto");
}

[[noreturn]] void Trainer::stop_diverged(int64_t epoch, int64_t step, double loss) {
  // The sum is non-finite on every rank alike, so every rank takes part in this extra collective.
  auto first = on_device(torch::tensor(
      {std::isfinite(last_local_loss_) ? static_cast<int64_t>(comm_.size()) : comm_.rank()},
      torch::kInt64));
  comm_.all_reduce(first, ReduceOp::kMin);
  const int64_t rank = first.cpu().item<int64_t>();
  const std::string where =
      rank < comm_.size()
          ? "first on rank " + std::to_string(rank) + " of " + std::to_string(comm_.size())
          : "in the sum over ranks (every rank's own share was finite)";
  throw StoppedTogether(
      kExitRuntime, "training diverged: the loss is " + std::to_string(loss) + " at epoch " +
                        std::to_string(epoch) + " step " + std::to_string(step) + " (global step " +
                        std::to_string(global_step_) + "), " + where +
                        "; no checkpoint is written from these weights. Last good checkpoint: " +
                        last_good_checkpoint() + ". Lower train.lr and rerun with --resume auto");
}

void Trainer::save(const TrainingProgress& progress, const std::string& reason) {
  last_save_ = Clock::now();
  check_finite_weights(progress, "the " + reason + " checkpoint");
  if (!comm_.is_root() || options_.out_dir.empty()) return;
  CheckpointStore store(checkpoint_root(options_.out_dir),
                        static_cast<int>(config_.checkpoint.keep));
  nlohmann::json info =
      checkpoint_info(progress, model_identity(config_, train_.num_classes(), in_channels_),
                      config_, comm_.size(), reason);
  info["threads_per_rank"] = at::get_num_threads();
  // The weights' own fingerprint (not the files'): equal runs give equal values.
  std::vector<torch::Tensor> tensors = net_params_;
  for (const auto& b : net_->buffers()) tensors.push_back(b);
  if (loss_->has_centers()) tensors.push_back(loss_->centers());
  info["weights_fnv1a64"] = hex64(fingerprint(tensors));
  const auto dir = store.save(
      progress.global_step,
      [&](const std::filesystem::path& tmp) {
        write_training_files(tmp, *net_, *loss_, optimizer_);
      },
      info);
  last_checkpoint_ = dir.string();
}

void Trainer::stop_preempted(const TrainingProgress& progress) {
  save(progress, "preempted");
  comm_.barrier();  // every rank leaves only once the checkpoint is on disk
  throw Preempted("preempted by a signal: stopped at epoch " + std::to_string(progress.epoch) +
                  " after step " + std::to_string(progress.step) +
                  (last_checkpoint_.empty() ? std::string() : ", checkpoint " + last_checkpoint_) +
                  "; rerun with --resume auto to continue");
}

bool Trainer::agree_on_stop() {
  auto flag = on_device(torch::tensor({stop_requested() ? int64_t{1} : int64_t{0}}, torch::kInt64));
  comm_.all_reduce(flag, ReduceOp::kMax);
  return flag.item<int64_t>() != 0;
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
      stop_preempted(epoch == 0 ? TrainingProgress{0, 0, 0, 0.0, 0} : now);
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
    const CenterCosines cos = center_cosine_stats(loss_->centers());
    m.center_cos_mean = cos.mean_abs;
    m.center_cos_max = cos.max_abs;
  }
  check_replicas();
  m.retrieval = evaluate();
  m.seconds = seconds_since(started);
  return m;
}

std::vector<EpochMetrics> Trainer::earlier_metrics(int64_t before_epoch) {
  std::vector<EpochMetrics> kept;
  if (!comm_.is_root() || options_.out_dir.empty()) return kept;
  const std::filesystem::path path = options_.out_dir + "/metrics.jsonl";
  std::vector<nlohmann::json> lines;
  for (auto& j : read_metrics_file(path).epochs) {
    try {
      const EpochMetrics m = epoch_metrics_from_json(j);
      if (m.epoch >= before_epoch) continue;  // redone after the resume
      kept.push_back(m);
      lines.push_back(std::move(j));
    } catch (const std::exception&) {
      // not a whole metrics line: dropped
    }
  }
  rewrite_metrics_file(path, lines);
  return kept;
}

TrainingProgress Trainer::restore() {
  TrainingProgress progress;
  const std::string& resume = options_.resume;
  auto found = torch::zeros({6}, torch::kInt64);
  auto loss_sum = torch::zeros({1}, torch::kFloat64);
  const bool fresh = resume.empty() || resume == "none";
  if (comm_.is_root() && fresh && !options_.out_dir.empty()) {
    // A fresh run must not mix its checkpoints with an earlier run's: a later --resume auto
    // would pick whichever has the highest step.
    CheckpointStore store(checkpoint_root(options_.out_dir),
                          static_cast<int>(config_.checkpoint.keep));
    if (!store.list().empty()) {
      throw ConfigError("'" + store.root().string() +
                        "' already holds checkpoints of an earlier "
                        "run: continue it with --resume auto, or start afresh with another --out "
                        "(or delete that folder)");
    }
  }
  if (comm_.is_root() && !fresh) {
    std::optional<CheckpointEntry> entry;
    if (resume == "auto") {
      if (options_.out_dir.empty()) throw ConfigError("--resume auto needs --out");
      std::vector<std::string> skipped;
      CheckpointStore store(checkpoint_root(options_.out_dir),
                            static_cast<int>(config_.checkpoint.keep));
      entry = store.latest_valid(&skipped);
      for (const auto& s : skipped) note(s);
      if (!entry) note("no checkpoint under " + store.root().string() + ": starting from scratch");
    } else {
      entry = CheckpointStore::verify(resume);
    }
    if (entry) {
      const std::string where = entry->dir.string();
      check_model_identity(entry->info, model_identity(config_, train_.num_classes(), in_channels_),
                           where);
      const std::string hash = entry->info.value("config_hash", std::string());
      if (hash != config_hash(config_)) {
        note("the config differs from the checkpoint's (hash " + hash + " -> " +
             config_hash(config_) + "): continuing with the new one");
      }
      read_training_files(entry->dir, *net_, *loss_, optimizer_);
      progress = progress_from_info(entry->info, where);
      resumed_from_ = where;
      note("resuming from " + where + " (epoch " + std::to_string(progress.epoch) + ", step " +
           std::to_string(progress.step) + ", written by " +
           std::to_string(entry->info.value("world_size", 0)) + " rank(s))");
      note_changed_shape(entry->info);
      found = torch::tensor({int64_t{1}, progress.epoch, progress.step, progress.global_step,
                             progress.idle_batches, int64_t{0}},
                            torch::kInt64);
      loss_sum[0] = progress.loss_sum;
    }
  }
  found = on_device(found);
  comm_.broadcast(found, 0);
  found = found.cpu();
  if (found[0].item<int64_t>() == 0) return TrainingProgress{};
  loss_sum = on_device(loss_sum);
  comm_.broadcast(loss_sum, 0);
  loss_sum = loss_sum.cpu();
  progress = {found[1].item<int64_t>(), found[2].item<int64_t>(), found[3].item<int64_t>(),
              loss_sum.item<double>(), found[4].item<int64_t>()};
  broadcast_parameters();
  broadcast_optimizer_state();
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    torch::Tensor state;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      state = on_device(gen.get_state().contiguous().clone());
    }
    comm_.broadcast(state, 0);
    state = state.cpu();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  global_step_ = progress.global_step;
  if (progress.step > steps_per_epoch_) {
    throw DataError("checkpoint " + resumed_from_ + " is at step " + std::to_string(progress.step) +
                    " of epoch " + std::to_string(progress.epoch) + " but an epoch now has " +
                    std::to_string(steps_per_epoch_) +
                    " steps (train.max_steps_per_epoch or "
                    "train.batch_size changed)");
  }
  return progress;
}

void Trainer::note_changed_shape(const nlohmann::json& info) const {
  const int64_t ranks = info.value("world_size", int64_t{0});
  const int64_t threads = info.value("threads_per_rank", int64_t{0});  // 0: an older checkpoint
  const bool other_ranks = ranks != comm_.size();
  const bool other_threads = threads > 0 && threads != at::get_num_threads();
  if (!other_ranks && !other_threads) return;
  auto shape = [](int64_t r, int64_t t) {
    return std::to_string(r) + " rank(s) x " + (t > 0 ? std::to_string(t) : "?") +
           " thread(s) per rank";
  };
  note("the checkpoint was written by " + shape(ranks, threads) + ", this run has " +
       shape(comm_.size(), at::get_num_threads()) +
       ": training continues from the same state but not bit-identically to a run that did not "
       "stop (float32 products and sums round differently when the work is split otherwise). "
       "Evaluation results do not depend on either");
}

std::vector<EpochMetrics> Trainer::run() {
  const TrainingProgress start = restore();
  if (comm_.is_root() && !options_.out_dir.empty()) {
    std::filesystem::create_directories(options_.out_dir);
  }
  std::vector<EpochMetrics> history = earlier_metrics(start.epoch);
  if (start.epoch > config_.train.epochs) {
    note("the checkpoint is at the end of training (epoch " + std::to_string(start.epoch - 1) +
         " of " + std::to_string(config_.train.epochs) + "): nothing to do");
    return history;
  }
  std::unique_ptr<MetricsLog> log;
  if (comm_.is_root() && !options_.out_dir.empty()) {
    log = std::make_unique<MetricsLog>(options_.out_dir + "/metrics.jsonl", /*append=*/true);
  }
  if (start.epoch == 0) imprint_centers();
  for (int64_t epoch = start.epoch; epoch <= config_.train.epochs; ++epoch) {
    const TrainingProgress from =
        epoch == start.epoch ? start : TrainingProgress{epoch, 0, global_step_, 0.0, 0};
    history.push_back(run_epoch(from));
    if (log) log->write(to_json(history.back()));
    if (options_.on_epoch) options_.on_epoch(history.back());
    const TrainingProgress done{epoch + 1, 0, global_step_, 0.0, 0};
    save(done, "epoch end");
    if (epoch < config_.train.epochs && agree_on_stop()) {
      comm_.barrier();
      throw Preempted(
          "preempted by a signal after epoch " + std::to_string(epoch) +
          (last_checkpoint_.empty() ? std::string() : ", checkpoint " + last_checkpoint_) +
          "; rerun with --resume auto to continue");
    }
  }
  comm_.barrier();
  return history;
}

}  // namespace nsl
