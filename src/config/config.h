#pragma once
// The run configuration as typed structs. Loaded from YAML, overridden by --set, validated before
// any work starts; every field here is documented in the README's Configuration table.
#include <cstdint>
#include <string>
#include <vector>

#include "config/choices.h"

namespace nsl {

struct DataConfig {
  std::string path;  // dataset folder holding manifest.json (relative paths: from the working dir)
  std::string train_split = "train";
  std::string test_split = "test";
  // A separate gallery split (In-Shop: test_split query, gallery_split gallery); empty: the test
  // split is its own gallery.
  std::string gallery_split;
  // Training loader (data/prefetch_loader.h). Off by default, so batches are the stored images.
  bool augment = false;                         // random resized crop (+ flip), train only
  std::vector<double> crop_scale = {0.5, 1.0};  // crop area / image area, [min, max]
  bool flip = true;                             // horizontal flip, p = 0.5 (with augment)
  // Evaluation images (stored S x S): resized to round(S * ratio), then the central S x S
  // (torchvision's Resize(256) + CenterCrop(224) is 256 / 224); 1: used as stored.
  double eval_resize_ratio = 1.0;
  int64_t loader_workers = 0;    // decode threads per rank; 0: threads per rank
  int64_t prefetch_batches = 4;  // batches read ahead of the trainer
};

struct ModelConfig {
  Backbone backbone = Backbone::kSmallCnn;  // small_cnn | resnet18 | resnet50
  Pooling pooling = Pooling::kAvg;          // resnets: avg | max | avg+max (sum); small_cnn: avg
  bool freeze_bn = false;                   // resnets: BatchNorm in eval mode (running statistics)
  std::string pretrained;  // resnets: .safetensors weights (torchvision/timm names)
  std::vector<int64_t> channels = {32, 64, 128};  // small_cnn stages
  int64_t norm_groups = 8;  // GroupNorm groups: independent of the batch split
  int64_t embedding_dim = 64;
  double scale = 32.0;       // N-S layer scale s
  bool learn_scale = false;  // learn log(s), clamped to [1, 128]
  // Subtract a running mean of the head's outputs before the N-S layer. The untrained network maps
  // every image into one narrow cone; removing the common component spreads the embeddings (and
  // the imprinted centers) over the sphere. The mean is estimated over the training split before
  // the first step and then follows the global batch's mean with centering_momentum: the same bits
  // on every rank and for any world size.
  bool center_embeddings = false;
  double centering_momentum = 0.1;
};

struct DecorrelationConfig {
  // epoch_gs | iter_gs | inner_product | none
  DecorrelationMode mode = DecorrelationMode::kEpochGs;
  double alpha = 1.0;      // epoch_gs: W <- normalize((1-alpha) C + alpha GS(C))
  double lambda = 0.1;     // iter_gs and inner_product: weight of the penalty
  bool blockwise = true;   // GS in seeded groups of at most d classes when C > d
  int64_t group_size = 0;  // blockwise: classes per Gram-Schmidt group (0: d), at most d
  // iter_gs and inner_product: lambda times s / global batch, so that a center's penalty gradient
  // is on the scale of one sample's pull on its center (false: lambda as written, the v1 form).
  bool normalize_lambda = true;
};

struct MultiSimilarityConfig {
  double alpha = 2.0, beta = 50.0, lambda = 1.0, epsilon = 0.1;
};

struct LossConfig {
  // dgcrl | normalized_softmax | triplet | contrastive | multi_similarity | proxy_nca |
  // proxy_nca_pp | proxy_anchor, or a loss registered with register_loss (loss/loss_registry.h)
  std::string name = "dgcrl";
  Ranking ranking = Ranking::kSoftmax;  // dgcrl: softmax | hinge
  double margin = 0.1;                  // dgcrl: cosine units
  DecorrelationConfig decorrelation;    // dgcrl only
  double triplet_margin = 0.2;
  double contrastive_pos_margin = 0.0;
  double contrastive_neg_margin = 0.5;
  MultiSimilarityConfig multi_similarity;
  double proxy_nca_scale = 3.0;
  double proxy_nca_pp_scale = 9.0;  // proxy_nca_pp: logits -s ||u - p||^2 (temperature 1 / s)
  double proxy_anchor_alpha = 32.0;
  double proxy_anchor_delta = 0.1;
  // Losses with centers or proxies: "random" (unit Gaussian rows) or "class_mean" (each center the
  // normalised mean of its class's training embeddings under the untrained network: "imprinting").
  CenterInit center_init = CenterInit::kRandom;
  // Losses with centers: replicated (every rank holds all C x d centers and all-reduces their
  // gradient) or sharded (each rank owns a contiguous range of classes, their optimizer state and
  // their gradient; see loss/center_shards.h).
  CenterPlacement centers = CenterPlacement::kReplicated;
  // sharded: the fraction of the non-positive classes each step's softmax sees (Partial FC's
  // negative sampling, drawn per class from (seed, step)); 1: every class.
  double sample_rate = 1.0;
};

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;              // global: split across ranks
  Sampler sampler = Sampler::kUniform;  // uniform | pk (P = batch_size / K classes x K images)
  int64_t pk_images_per_class = 4;      // K of the pk sampler
  double lr = 1e-3;
  LrSchedule lr_schedule = LrSchedule::kConstant;  // constant | cosine (to 0 at the last step)
  double center_lr_mult = 10.0;
  double head_lr_mult = 1.0;  // the linear head (and a learned scale) against train.lr
  // Class centers / proxies: adamw (per-row step counts, so rows reset by epoch_gs restart their
  // bias correction) or sgd with momentum; center_update: all rows every step, or only the rows of
  // the classes in the global batch; center_reproject: rows back to unit length after each step.
  CenterOptimizer center_optimizer = CenterOptimizer::kAdamW;
  double center_momentum = 0.9;
  CenterUpdate center_update = CenterUpdate::kAll;
  bool center_reproject = false;
  double weight_decay = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  int64_t max_steps_per_epoch = 0;     // 0: the whole epoch
  int64_t freeze_backbone_epochs = 0;  // the backbone's weights stay fixed for the first N epochs
  int64_t threads_per_rank = 0;        // 0: cores on the node / ranks on the node
  // Clamp every gradient element to [-v, v] before the optimizer step (Proxy-Anchor's recipe uses
  // 10); 0: off. Applied to the all-reduced gradients, so identical on every rank.
  double grad_clip_value = 0.0;
};

struct EvalConfig {
  std::vector<int64_t> recall_k;  // empty: the dataset's grid (eval/evaluator.h default_recall_k)
  int64_t batch_size = 256;
  bool nmi = true;       // NMI of seeded k-means (k = test classes) at every evaluation
  double chunk_mb = 64;  // similarity rows searched at once (MiB per rank): chunk x gallery
};

struct DistConfig {
  // auto (nccl when the model runs on CUDA, else mpi) | mpi | nccl
  DistBackend backend = DistBackend::kAuto;
  double timeout_s = 600.0;  // watchdog: a collective slower than this ends the job
  double bucket_mb = 25.0;   // gradient all-reduce bucket size (MiB)
};

struct CheckpointConfig {
  int64_t every_steps = 0;      // also checkpoint every N optimiser steps (0: epoch ends only)
  double every_minutes = 30.0;  // also checkpoint when this long has passed (0: never)
  int64_t keep = 3;             // newest checkpoints kept under OUT/checkpoints
};

struct Config {
  uint64_t seed = 1;
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  TrainConfig train;
  EvalConfig eval;
  DistConfig dist;
  CheckpointConfig checkpoint;
};

// Reads, overrides and validates; throws ConfigError naming the key path (and line) on any problem.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
Config parse_config(const std::string& yaml_text, const std::vector<std::string>& overrides = {},
                    const std::string& origin = "<string>");
void validate_config(const Config& config);
// The fully resolved configuration, every key present, as YAML.
std::string to_yaml(const Config& config);
// FNV-1a of to_yaml(): identifies a configuration in checkpoints and metrics.
std::string config_hash(const Config& config);

}  // namespace nsl
