#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/error.h"
#include "common/fnv.h"
#include "config/yaml_reader.h"
#include "loss/loss_registry.h"

namespace nsl {
namespace {

// The schema: every key once, in order. ReadVisitor fills a Config from YAML (strictly), and
// WriteVisitor emits the resolved YAML, so reading and printing can never disagree on a key.
template <typename Visitor>
void visit_config(Visitor& root, Config& c) {
  root.field("seed", c.seed);
  root.section("data", [&](auto& s) {
    s.field("path", c.data.path);
    s.field("train_split", c.data.train_split);
    s.field("test_split", c.data.test_split);
    s.field("gallery_split", c.data.gallery_split);
    s.field("augment", c.data.augment);
    s.field("crop_scale", c.data.crop_scale);
    s.field("flip", c.data.flip);
    s.field("eval_resize_ratio", c.data.eval_resize_ratio);
    s.field("loader_workers", c.data.loader_workers);
    s.field("prefetch_batches", c.data.prefetch_batches);
  });
  root.section("model", [&](auto& s) {
    s.field("backbone", c.model.backbone);
    s.field("pooling", c.model.pooling);
    s.field("freeze_bn", c.model.freeze_bn);
    s.field("pretrained", c.model.pretrained);
    s.field("channels", c.model.channels);
    s.field("norm_groups", c.model.norm_groups);
    s.field("embedding_dim", c.model.embedding_dim);
    s.field("scale", c.model.scale);
    s.field("learn_scale", c.model.learn_scale);
    s.field("center_embeddings", c.model.center_embeddings);
    s.field("centering_momentum", c.model.centering_momentum);
  });
  root.section("loss", [&](auto& s) {
    s.field("name", c.loss.name);
    s.field("ranking", c.loss.ranking);
    s.field("margin", c.loss.margin);
    s.section("decorrelation", [&](auto& d) {
      d.field("mode", c.loss.decorrelation.mode);
      d.field("alpha", c.loss.decorrelation.alpha);
      d.field("lambda", c.loss.decorrelation.lambda);
      d.field("blockwise", c.loss.decorrelation.blockwise);
      d.field("group_size", c.loss.decorrelation.group_size);
      d.field("normalize_lambda", c.loss.decorrelation.normalize_lambda);
    });
    s.field("triplet_margin", c.loss.triplet_margin);
    s.field("contrastive_pos_margin", c.loss.contrastive_pos_margin);
    s.field("contrastive_neg_margin", c.loss.contrastive_neg_margin);
    s.section("multi_similarity", [&](auto& m) {
      m.field("alpha", c.loss.multi_similarity.alpha);
      m.field("beta", c.loss.multi_similarity.beta);
      m.field("lambda", c.loss.multi_similarity.lambda);
      m.field("epsilon", c.loss.multi_similarity.epsilon);
    });
    s.field("proxy_nca_scale", c.loss.proxy_nca_scale);
    s.field("proxy_nca_pp_scale", c.loss.proxy_nca_pp_scale);
    s.field("proxy_anchor_alpha", c.loss.proxy_anchor_alpha);
    s.field("proxy_anchor_delta", c.loss.proxy_anchor_delta);
    s.field("center_init", c.loss.center_init);
    s.field("centers", c.loss.centers);
    s.field("sample_rate", c.loss.sample_rate);
  });
  root.section("train", [&](auto& s) {
    s.field("epochs", c.train.epochs);
    s.field("batch_size", c.train.batch_size);
    s.field("sampler", c.train.sampler);
    s.field("pk_images_per_class", c.train.pk_images_per_class);
    s.field("lr", c.train.lr);
    s.field("lr_schedule", c.train.lr_schedule);
    s.field("center_lr_mult", c.train.center_lr_mult);
    s.field("head_lr_mult", c.train.head_lr_mult);
    s.field("center_optimizer", c.train.center_optimizer);
    s.field("center_momentum", c.train.center_momentum);
    s.field("center_update", c.train.center_update);
    s.field("center_reproject", c.train.center_reproject);
    s.field("weight_decay", c.train.weight_decay);
    s.field("beta1", c.train.beta1);
    s.field("beta2", c.train.beta2);
    s.field("max_steps_per_epoch", c.train.max_steps_per_epoch);
    s.field("freeze_backbone_epochs", c.train.freeze_backbone_epochs);
    s.field("threads_per_rank", c.train.threads_per_rank);
    s.field("grad_clip_value", c.train.grad_clip_value);
  });
  root.section("eval", [&](auto& s) {
    s.field("recall_k", c.eval.recall_k);
    s.field("batch_size", c.eval.batch_size);
    s.field("nmi", c.eval.nmi);
    s.field("chunk_mb", c.eval.chunk_mb);
  });
  root.section("dist", [&](auto& s) {
    s.field("backend", c.dist.backend);
    s.field("timeout_s", c.dist.timeout_s);
    s.field("bucket_mb", c.dist.bucket_mb);
  });
  root.section("checkpoint", [&](auto& s) {
    s.field("every_steps", c.checkpoint.every_steps);
    s.field("every_minutes", c.checkpoint.every_minutes);
    s.field("keep", c.checkpoint.keep);
  });
}

// Choice keys whose text is none of their words: key path -> the text. Validation reports them at
// the key's place in its order of checks, so the first error of a file stays the same.
using BadChoices = std::map<std::string, std::string>;

class ReadVisitor {
 public:
  ReadVisitor(YamlReader reader, BadChoices& bad) : reader_(std::move(reader)), bad_(bad) {}
  template <typename T>
  void field(const char* key, T& value) {
    if constexpr (std::is_enum_v<T>) {
      std::string text = choice_name(value);
      reader_.get(key, text);
      if (!parse_choice(text, value)) bad_[reader_.key_path(key)] = text;
    } else {
      reader_.get(key, value);
    }
  }
  template <typename Body>
  void section(const char* key, Body&& body) {
    ReadVisitor sub(reader_.section(key), bad_);
    body(sub);
    sub.finish();
  }
  void finish() const { reader_.finish(); }

 private:
  YamlReader reader_;
  BadChoices& bad_;
};

class WriteVisitor {
 public:
  explicit WriteVisitor(YAML::Emitter& out) : out_(out) {}
  template <typename T>
  void field(const char* key, const T& value) {
    if constexpr (std::is_enum_v<T>) {
      field(key, std::string(choice_name(value)));
    } else {
      out_ << YAML::Key << key << YAML::Value << value;
    }
  }
  // yaml-cpp writes a string holding control characters (a CR, say) as a plain scalar that reads
  // back as a different string; double quotes escape them. Other strings keep yaml-cpp's choice,
  // so config_hash() of ordinary configurations is unchanged.
  void field(const char* key, const std::string& value) {
    out_ << YAML::Key << key << YAML::Value;
    for (unsigned char c : value) {
      if (c < 0x20 || c == 0x7f) {
        out_ << YAML::DoubleQuoted;
        break;
      }
    }
    out_ << value;
  }
  void field(const char* key, const std::vector<int64_t>& value) {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << value;
  }
  void field(const char* key, const std::vector<double>& value) {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << value;
  }
  template <typename Body>
  void section(const char* key, Body&& body) {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    body(*this);
    out_ << YAML::EndMap;
  }

 private:
  YAML::Emitter& out_;
};

void require(bool ok, const std::string& key, const std::string& message) {
  if (!ok) throw ConfigError("config key '" + key + "': " + message);
}

// E: the key's enum, for the list of its words.
template <typename E>
void require_choice(const BadChoices& bad, const std::string& key) {
  const auto it = bad.find(key);
  if (it == bad.end()) return;
  throw ConfigError("config key '" + key + "': '" + it->second +
                    "' is not one of: " + choice_list<E>());
}

void validate(const Config& c, const BadChoices& bad);

}  // namespace

Config parse_config(const std::string& yaml_text, const std::vector<std::string>& overrides,
                    const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ": not valid YAML at line " + std::to_string(e.mark.line + 1) +
                      ": " + e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  std::set<std::string> overridden;
  for (const auto& assignment : overrides) apply_override(root, assignment, overridden);

  Config config;
  BadChoices bad;
  ReadVisitor reader(YamlReader(root, "", &overridden), bad);
  try {
    visit_config(reader, config);
    reader.finish();
  } catch (const ConfigError& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  validate(config, bad);
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) {
    throw ConfigError("cannot open config file '" + path +
                      "': check the path (configs/demo.yaml is an example)");
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), overrides, path);
}

void validate_config(const Config& config) { validate(config, BadChoices()); }

namespace {

void validate(const Config& c, const BadChoices& bad) {
  require(!c.data.path.empty(), "data.path", "missing: the dataset folder (with manifest.json)");
  require(c.data.eval_resize_ratio >= 1.0 && c.data.eval_resize_ratio <= 4.0,
          "data.eval_resize_ratio",
          "must be in [1, 4] (1: evaluate the stored images as they are)");
  require(c.data.crop_scale.size() == 2 && c.data.crop_scale[0] > 0.0 &&
              c.data.crop_scale[0] <= c.data.crop_scale[1] && c.data.crop_scale[1] <= 1.0,
          "data.crop_scale", "must be [min, max] with 0 < min <= max <= 1");
  require(c.data.loader_workers >= 0, "data.loader_workers", "must be >= 0 (0: threads per rank)");
  require(c.data.prefetch_batches >= 1, "data.prefetch_batches", "must be >= 1");
  require_choice<Backbone>(bad, "model.backbone");
  require_choice<Pooling>(bad, "model.pooling");
  const bool resnet = c.model.backbone != Backbone::kSmallCnn;
  require(resnet || c.model.pooling == Pooling::kAvg, "model.pooling",
          "small_cnn pools by average only (max and avg+max are for the resnets)");
  require(resnet || c.model.pretrained.empty(), "model.pretrained",
          "pretrained weights are for resnet18 / resnet50");
  require(resnet || !c.model.freeze_bn, "model.freeze_bn", "small_cnn has no BatchNorm");
  require(c.train.freeze_backbone_epochs >= 0 && c.train.freeze_backbone_epochs < c.train.epochs,
          "train.freeze_backbone_epochs", "must be in [0, train.epochs)");
  require(!c.model.channels.empty() && c.model.channels.size() <= 6, "model.channels",
          "needs 1 to 6 stages");
  // Before the divisibility check below: a zero divisor is undefined behaviour (SIGFPE).
  require(c.model.norm_groups >= 1, "model.norm_groups", "must be >= 1");
  for (int64_t ch : c.model.channels) {
    require(ch > 0 && ch % c.model.norm_groups == 0, "model.channels",
            "every stage must be positive and divisible by model.norm_groups (" +
                std::to_string(c.model.norm_groups) + "), got " + std::to_string(ch));
  }
  require(c.model.embedding_dim >= 2, "model.embedding_dim", "must be >= 2");
  require(c.model.scale >= 1.0 && c.model.scale <= 128.0, "model.scale", "must be in [1, 128]");
  const LossEntry& loss = find_loss(c.loss.name);
  require_choice<Ranking>(bad, "loss.ranking");
  require_choice<CenterInit>(bad, "loss.center_init");
  require_choice<CenterPlacement>(bad, "loss.centers");
  require_choice<LrSchedule>(bad, "train.lr_schedule");
  require(c.loss.margin >= 0.0 && c.loss.margin < 2.0, "loss.margin", "must be in [0, 2)");
  require_choice<DecorrelationMode>(bad, "loss.decorrelation.mode");
  require(c.loss.decorrelation.lambda >= 0.0, "loss.decorrelation.lambda", "must be >= 0");
  require(c.loss.triplet_margin >= 0.0, "loss.triplet_margin", "must be >= 0");
  require(c.loss.multi_similarity.alpha > 0.0 && c.loss.multi_similarity.beta > 0.0,
          "loss.multi_similarity", "alpha and beta must be > 0");
  require(c.loss.proxy_nca_scale > 0.0, "loss.proxy_nca_scale", "must be > 0");
  require(c.loss.proxy_nca_pp_scale > 0.0, "loss.proxy_nca_pp_scale", "must be > 0");
  require(c.train.grad_clip_value >= 0.0, "train.grad_clip_value", "must be >= 0 (0: off)");
  require(c.loss.proxy_anchor_alpha > 0.0, "loss.proxy_anchor_alpha", "must be > 0");
  require(c.loss.decorrelation.alpha >= 0.0 && c.loss.decorrelation.alpha <= 1.0,
          "loss.decorrelation.alpha", "must be in [0, 1]");
  require(c.train.epochs >= 1, "train.epochs", "must be >= 1");
  require(c.train.batch_size >= 2, "train.batch_size", "must be >= 2");
  require_choice<Sampler>(bad, "train.sampler");
  require(c.train.pk_images_per_class >= 2, "train.pk_images_per_class",
          "must be >= 2 (every class in a batch needs a positive pair)");
  require(c.train.sampler != Sampler::kPk || c.train.batch_size % c.train.pk_images_per_class == 0,
          "train.batch_size",
          "must be a multiple of train.pk_images_per_class (" +
              std::to_string(c.train.pk_images_per_class) + ") with train.sampler: pk");
  require(c.train.lr > 0.0 && std::isfinite(c.train.lr), "train.lr", "must be > 0");
  require(c.train.center_lr_mult > 0.0, "train.center_lr_mult", "must be > 0");
  require(c.train.head_lr_mult > 0.0, "train.head_lr_mult", "must be > 0");
  require_choice<CenterOptimizer>(bad, "train.center_optimizer");
  require(c.train.center_momentum >= 0.0 && c.train.center_momentum < 1.0, "train.center_momentum",
          "must be in [0, 1)");
  require_choice<CenterUpdate>(bad, "train.center_update");
  require(c.model.centering_momentum > 0.0 && c.model.centering_momentum <= 1.0,
          "model.centering_momentum", "must be in (0, 1]");
  require(c.loss.decorrelation.group_size >= 0, "loss.decorrelation.group_size",
          "must be >= 0 (0: the embedding dimension)");
  require(c.loss.decorrelation.group_size <= c.model.embedding_dim, "loss.decorrelation.group_size",
          "must be at most model.embedding_dim (" + std::to_string(c.model.embedding_dim) +
              "): more than d centers cannot be orthogonal");
  require(c.train.weight_decay >= 0.0, "train.weight_decay", "must be >= 0");
  require(c.train.beta1 >= 0.0 && c.train.beta1 < 1.0, "train.beta1", "must be in [0, 1)");
  require(c.train.beta2 >= 0.0 && c.train.beta2 < 1.0, "train.beta2", "must be in [0, 1)");
  require(c.train.max_steps_per_epoch >= 0, "train.max_steps_per_epoch", "must be >= 0");
  require(c.train.threads_per_rank >= 0, "train.threads_per_rank", "must be >= 0 (0: auto)");
  for (int64_t k : c.eval.recall_k) require(k >= 1, "eval.recall_k", "every K must be >= 1");
  require(c.eval.batch_size >= 1, "eval.batch_size", "must be >= 1");
  require(c.eval.chunk_mb > 0, "eval.chunk_mb", "must be > 0");
  require(c.data.gallery_split != c.data.test_split, "data.gallery_split",
          "must differ from data.test_split (leave it empty to search the test split itself)");
  require_choice<DistBackend>(bad, "dist.backend");
  require(c.dist.timeout_s > 0.0 && std::isfinite(c.dist.timeout_s), "dist.timeout_s",
          "must be > 0 seconds");
  require(c.dist.bucket_mb > 0.0 && c.dist.bucket_mb <= 4096.0, "dist.bucket_mb",
          "must be in (0, 4096] MiB");
  require(c.checkpoint.every_steps >= 0, "checkpoint.every_steps", "must be >= 0 (0: off)");
  require(c.checkpoint.every_minutes >= 0.0, "checkpoint.every_minutes", "must be >= 0 (0: off)");
  require(c.checkpoint.keep >= 1, "checkpoint.keep", "must be >= 1");
  const bool sharded = c.loss.centers == CenterPlacement::kSharded;
  require(!sharded || loss.properties.shardable, "loss.centers",
          "sharded centers are implemented for dgcrl and normalized_softmax, not for '" +
              c.loss.name + "': use loss.centers: replicated");
  require(c.loss.sample_rate > 0.0 && c.loss.sample_rate <= 1.0, "loss.sample_rate",
          "must be in (0, 1] (1: every class in every step)");
  require(sharded || c.loss.sample_rate == 1.0, "loss.sample_rate",
          "negative sampling needs loss.centers: sharded");
  if (loss.validate) loss.validate(c.loss);
}

}  // namespace

std::string to_yaml(const Config& config) {
  Config copy = config;
  YAML::Emitter out;
  // 15 significant digits: 0.1 prints as 0.1, and decimal -> double -> decimal is exact.
  out.SetDoublePrecision(15);
  out << YAML::BeginMap;
  WriteVisitor writer(out);
  visit_config(writer, copy);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_hash(const Config& config) {
  std::string text = to_yaml(config);
  // Keys added after checkpoints began to record the hash are left out while they hold their
  // defaults, so that a run resumed across the upgrade keeps its hash.
  for (const char* added : {"\n  centers: replicated\n", "\n  sample_rate: 1\n"}) {
    const std::string line = added;
    const size_t at = text.find(line);
    if (at != std::string::npos) text.erase(at, line.size() - 1);
  }
  return hex64(fnv1a64(text.data(), text.size()));
}

}  // namespace nsl
