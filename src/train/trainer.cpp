#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "common/fnv.h"
#include "eval/embed.h"
#include "loss/decorrelation.h"
#include "loss/gram_schmidt.h"
#include "train/checkpoint.h"
#include "train/metrics_log.h"
#include "train/progress.h"

namespace nsl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// FNV-1a over the tensor's bytes: replicas must be bit-identical, not merely close.
int64_t tensor_fingerprint(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous();
  return static_cast<int64_t>(fnv1a64(c.data_ptr(), c.nbytes()) >> 1);
}

}  // namespace

nlohmann::json to_json(const EpochMetrics& m) {
  nlohmann::json j;
  j["epoch"] = m.epoch;
  j["loss"] = m.loss;
  for (size_t i = 0; i < m.recall.ks.size(); ++i) {
    j["recall@" + std::to_string(m.recall.ks[i])] = m.recall.recall[i];
  }
  j["images_per_s"] = m.images_per_s;
  j["seconds"] = m.seconds;
  j["steps"] = m.steps;
  j["queries"] = m.recall.queries;
  j["lone_queries"] = m.recall.lone_queries;
  j["gs_groups"] = m.gs_groups;
  j["idle_batches"] = m.idle_batches;
  return j;
}

Trainer::Trainer(const Config& config, Communicator& comm, TrainBatchSource& train,
                 EvalSource& test, int64_t in_channels, TrainerOptions options)
    : config_(config), comm_(comm), train_(train), test_(test), options_(std::move(options)) {
  torch::manual_seed(config_.seed);
  net_ = EmbeddingNet(config_.model, in_channels);
  if (!config_.model.pretrained.empty()) {
    pretrained_ = net_->load_backbone_weights(config_.model.pretrained);
  }
  loss_ = EmbeddingLoss(config_.loss, train_.num_classes(), config_.model.embedding_dim);
  broadcast_parameters();

  for (auto& p : net_->parameters()) net_params_.push_back(p);
  AdamWOptions opt;
  opt.lr = config_.train.lr;
  opt.beta1 = config_.train.beta1;
  opt.beta2 = config_.train.beta2;
  optimizer_.set_options(opt);
  backbone_group_ =
      optimizer_.add_group(net_->backbone_parameters(), 1.0, config_.train.weight_decay);
  optimizer_.add_group(net_->head_parameters(), 1.0, config_.train.weight_decay);
  // Centers are re-normalised by the loss; decaying their norm would only change their step size.
  if (loss_->has_centers())
    optimizer_.add_group({loss_->centers()}, config_.train.center_lr_mult, 0.0);

  auto steps = torch::tensor({train_.steps_per_epoch()}, torch::kInt64);
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
  if (loss_->uses_epoch_gs()) {
    // Fails early, before any training, when C > d without block-wise mode. Only the grouping is
    // needed for that check, not a Gram-Schmidt pass over the centers.
    gram_schmidt_groups(train_.num_classes(), config_.model.embedding_dim, config_.seed, 0,
                        config_.loss.decorrelation.blockwise);
  }
}

void Trainer::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& p : net_->parameters()) comm_.broadcast(p, 0);
  for (auto& b : net_->buffers()) comm_.broadcast(b, 0);
  if (loss_->has_centers()) comm_.broadcast(loss_->centers(), 0);
}

double Trainer::forward_loss(const Batch& batch, bool with_grad) {
  // Batch losses (pair-based, Proxy-Anchor) see the whole global batch on every rank, so their
  // mining and their value do not depend on how the batch is split (see LossStep).
  const bool global = loss_->batch_loss() && comm_.size() > 1;
  const int64_t n = batch.images.size(0);
  if (n == 0 && !global) return 0.0;
  torch::Tensor unit = n > 0 ? net_->forward(batch.images).unit
                             : torch::empty({0, config_.model.embedding_dim}, torch::kFloat32);
  torch::Tensor labels = batch.labels;
  if (global) {
    const torch::Tensor rows = comm_.all_gather_rows(torch::tensor({n}, torch::kInt64));
    const int64_t offset = rows.slice(0, 0, comm_.rank()).sum().item<int64_t>();
    const torch::Tensor all = comm_.all_gather_rows(unit.detach().contiguous());
    labels = comm_.all_gather_rows(batch.labels.contiguous());
    // Other ranks' rows are constants here; this rank's rows carry the gradient.
    unit = torch::cat({all.slice(0, 0, offset), unit, all.slice(0, offset + n)});
  }
  const LossStep step =
      loss_->forward(unit, labels, net_->ns()->scale(), train_.global_batch_size(), comm_.size());
  if (step.active == 0 && (!global || comm_.is_root())) ++idle_batches_;
  if (with_grad && step.objective.requires_grad()) step.objective.backward();
  return step.reported;
}

void Trainer::all_reduce_gradients(double& loss) {
  // Each rank's objective is its share of the global loss (LossStep): summing the gradients over
  // ranks gives exactly the gradient of the global loss, however the batch is split. The centers'
  // gradient has its own buffer; the loss shares ride along with the network's.
  std::vector<torch::Tensor> grads;
  for (auto& p : net_params_) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad().flatten());
  }
  grads.push_back(torch::tensor({loss}, torch::kFloat32));
  torch::Tensor flat = torch::cat(grads);
  if (comm_.size() > 1) {
    comm_.all_reduce(flat, ReduceOp::kSum);
    if (loss_->has_centers()) {
      torch::Tensor& centers = loss_->centers();
      if (!centers.grad().defined()) centers.mutable_grad() = torch::zeros_like(centers);
      torch::Tensor center_grad = centers.grad().contiguous();
      comm_.all_reduce(center_grad, ReduceOp::kSum);
      if (!center_grad.is_same(centers.grad())) centers.mutable_grad().copy_(center_grad);
    }
  }
  int64_t offset = 0;
  for (auto& p : net_params_) {
    const int64_t n = p.numel();
    p.mutable_grad().copy_(flat.slice(0, offset, offset + n).view_as(p));
    offset += n;
  }
  loss = flat[offset].item<double>();
}

double Trainer::train_step() {
  Batch batch = train_.next_batch();
  optimizer_.zero_grad();
  double loss = forward_loss(batch, true);
  all_reduce_gradients(loss);
  optimizer_.step();
  return loss;
}

void Trainer::check_replicas(const torch::Tensor& tensor, const std::string& what) {
  auto lo = torch::tensor({tensor_fingerprint(tensor)}, torch::kInt64);
  auto hi = lo.clone();
  comm_.all_reduce(lo, ReduceOp::kMin);
  comm_.all_reduce(hi, ReduceOp::kMax);
  if (lo.item<int64_t>() != hi.item<int64_t>()) {
    throw DistributedError("replica check failed: " + what + " differs between ranks on rank " +
                           std::to_string(comm_.rank()));
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
    EpochGsResult gs = epoch_gram_schmidt(centers, dc.alpha, config_.seed, epoch, dc.blockwise);
    centers.copy_(gs.centers);
    groups = gs.groups;
  }
  comm_.broadcast(centers, 0);
  check_replicas(centers, "the class centers after Gram-Schmidt");
  optimizer_.reset_rows(centers, (centers != before).any(1));
  auto g = torch::tensor({groups}, torch::kInt64);
  comm_.broadcast(g, 0);
  return g.item<int64_t>();
}

RecallResult Trainer::evaluate() {
  const SplitEmbeddings local = embed_local(net_, test_, config_.eval.batch_size);
  const SplitEmbeddings all = gather_embeddings(comm_, local);
  return recall_at_k(all.unit, all.labels, config_.eval.recall_k);
}

void Trainer::begin_epoch(int64_t epoch) {
  optimizer_.set_frozen(backbone_group_,
                        epoch >= 1 && epoch <= config_.train.freeze_backbone_epochs);
  train_.start_epoch(epoch);
  loss_->start_epoch(config_.seed, epoch);
  idle_batches_ = 0;
}

EpochMetrics Trainer::run_epoch(int64_t epoch) {
  const auto start = Clock::now();
  EpochMetrics m;
  m.epoch = epoch;
  m.steps = steps_per_epoch_;
  begin_epoch(epoch);
  ProgressLine progress(epoch, config_.train.epochs, steps_per_epoch_);
  const bool show = options_.show_progress && comm_.is_root();
  double loss_total = 0.0;
  const auto train_start = Clock::now();
  for (int64_t step = 0; step < steps_per_epoch_; ++step) {
    double loss = 0.0;
    if (epoch == 0) {
      torch::NoGradGuard no_grad;
      auto t = torch::tensor({forward_loss(train_.next_batch(), false)}, torch::kFloat64);
      comm_.all_reduce(t, ReduceOp::kSum);
      loss = t.item<double>();
    } else {
      loss = train_step();
    }
    if (!std::isfinite(loss)) {
      throw Error(kExitRuntime, "loss is " + std::to_string(loss) + " at epoch " +
                                    std::to_string(epoch) + " step " + std::to_string(step + 1) +
                                    ": training diverged (lower train.lr)");
    }
    loss_total += loss;
    if (show)
      progress.update(step + 1, loss_total / static_cast<double>(step + 1),
                      (step + 1) * train_.global_batch_size());
  }
  if (show) progress.finish();
  const double train_seconds = seconds_since(train_start);
  m.loss = loss_total / static_cast<double>(steps_per_epoch_);
  m.images_per_s = static_cast<double>(steps_per_epoch_ * train_.global_batch_size()) /
                   std::max(train_seconds, 1e-9);
  auto idle = torch::tensor({idle_batches_}, torch::kInt64);
  comm_.all_reduce(idle, ReduceOp::kSum);
  m.idle_batches = idle.item<int64_t>();
  if (epoch > 0) m.gs_groups = decorrelate(epoch);
  m.recall = evaluate();
  m.seconds = seconds_since(start);
  return m;
}

std::vector<EpochMetrics> Trainer::run() {
  std::unique_ptr<MetricsLog> log;
  if (comm_.is_root() && !options_.out_dir.empty()) {
    std::filesystem::create_directories(options_.out_dir);
    log = std::make_unique<MetricsLog>(options_.out_dir + "/metrics.jsonl");
  }
  std::vector<EpochMetrics> history;
  for (int64_t epoch = 0; epoch <= config_.train.epochs; ++epoch) {
    history.push_back(run_epoch(epoch));
    if (log) log->write(to_json(history.back()));
    if (options_.on_epoch) options_.on_epoch(history.back());
  }
  if (comm_.is_root() && !options_.out_dir.empty()) {
    nlohmann::json meta;
    meta["epoch"] = config_.train.epochs;
    meta["step"] = optimizer_.steps();
    meta["world_size"] = comm_.size();
    meta["config_hash"] = config_hash(config_);
    meta["config"] = to_yaml(config_);
    meta["num_classes"] = train_.num_classes();
    meta["embedding_dim"] = config_.model.embedding_dim;
    save_checkpoint(options_.out_dir + "/checkpoint", *net_, *loss_, optimizer_, meta);
  }
  comm_.barrier();
  return history;
}

}  // namespace nsl
