#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/fnv.h"
#include "config/yaml_reader.h"

namespace nsl {
namespace {

void read_sections(YamlReader& root, Config& c) {
  root.get("seed", c.seed);

  YamlReader data = root.section("data");
  data.get("path", c.data.path);
  data.get("train_split", c.data.train_split);
  data.get("test_split", c.data.test_split);
  data.finish();

  YamlReader model = root.section("model");
  model.get("backbone", c.model.backbone);
  model.get("pooling", c.model.pooling);
  model.get("freeze_bn", c.model.freeze_bn);
  model.get("pretrained", c.model.pretrained);
  model.get("channels", c.model.channels);
  model.get("norm_groups", c.model.norm_groups);
  model.get("embedding_dim", c.model.embedding_dim);
  model.get("scale", c.model.scale);
  model.get("learn_scale", c.model.learn_scale);
  model.finish();

  YamlReader loss = root.section("loss");
  loss.get("name", c.loss.name);
  loss.get("ranking", c.loss.ranking);
  loss.get("margin", c.loss.margin);
  YamlReader decor = loss.section("decorrelation");
  decor.get("mode", c.loss.decorrelation.mode);
  decor.get("alpha", c.loss.decorrelation.alpha);
  decor.get("lambda", c.loss.decorrelation.lambda);
  decor.get("blockwise", c.loss.decorrelation.blockwise);
  decor.finish();
  loss.get("triplet_margin", c.loss.triplet_margin);
  loss.get("contrastive_pos_margin", c.loss.contrastive_pos_margin);
  loss.get("contrastive_neg_margin", c.loss.contrastive_neg_margin);
  YamlReader ms = loss.section("multi_similarity");
  ms.get("alpha", c.loss.multi_similarity.alpha);
  ms.get("beta", c.loss.multi_similarity.beta);
  ms.get("lambda", c.loss.multi_similarity.lambda);
  ms.get("epsilon", c.loss.multi_similarity.epsilon);
  ms.finish();
  loss.get("proxy_nca_scale", c.loss.proxy_nca_scale);
  loss.get("proxy_anchor_alpha", c.loss.proxy_anchor_alpha);
  loss.get("proxy_anchor_delta", c.loss.proxy_anchor_delta);
  loss.finish();

  YamlReader train = root.section("train");
  train.get("epochs", c.train.epochs);
  train.get("batch_size", c.train.batch_size);
  train.get("lr", c.train.lr);
  train.get("center_lr_mult", c.train.center_lr_mult);
  train.get("weight_decay", c.train.weight_decay);
  train.get("beta1", c.train.beta1);
  train.get("beta2", c.train.beta2);
  train.get("max_steps_per_epoch", c.train.max_steps_per_epoch);
  train.get("freeze_backbone_epochs", c.train.freeze_backbone_epochs);
  train.get("threads_per_rank", c.train.threads_per_rank);
  train.finish();

  YamlReader eval = root.section("eval");
  eval.get("recall_k", c.eval.recall_k);
  eval.get("batch_size", c.eval.batch_size);
  eval.finish();

  root.finish();
}

void require(bool ok, const std::string& key, const std::string& message) {
  if (!ok) throw ConfigError("config key '" + key + "': " + message);
}

void require_choice(const std::string& value, const std::string& key,
                    const std::vector<std::string>& choices) {
  for (const auto& c : choices) {
    if (value == c) return;
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : " | ") + c;
  throw ConfigError("config key '" + key + "': '" + value + "' is not one of: " + list);
}

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
  YamlReader reader(root, "", &overridden);
  try {
    read_sections(reader, config);
  } catch (const ConfigError& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  validate_config(config);
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

void validate_config(const Config& c) {
  require(!c.data.path.empty(), "data.path", "missing: the dataset folder (with manifest.json)");
  require_choice(c.model.backbone, "model.backbone", {"small_cnn", "resnet18", "resnet50"});
  require_choice(c.model.pooling, "model.pooling", {"avg", "max", "avg+max"});
  const bool resnet = c.model.backbone != "small_cnn";
  require(resnet || c.model.pooling == "avg", "model.pooling",
          "small_cnn pools by average only (max and avg+max are for the resnets)");
  require(resnet || c.model.pretrained.empty(), "model.pretrained",
          "pretrained weights are for resnet18 / resnet50");
  require(resnet || !c.model.freeze_bn, "model.freeze_bn", "small_cnn has no BatchNorm");
  require(c.train.freeze_backbone_epochs >= 0 && c.train.freeze_backbone_epochs < c.train.epochs,
          "train.freeze_backbone_epochs", "must be in [0, train.epochs)");
  require(!c.model.channels.empty() && c.model.channels.size() <= 6, "model.channels",
          "needs 1 to 6 stages");
  for (int64_t ch : c.model.channels) {
    require(ch > 0 && ch % c.model.norm_groups == 0, "model.channels",
            "every stage must be positive and divisible by model.norm_groups (" +
                std::to_string(c.model.norm_groups) + "), got " + std::to_string(ch));
  }
  require(c.model.norm_groups >= 1, "model.norm_groups", "must be >= 1");
  require(c.model.embedding_dim >= 2, "model.embedding_dim", "must be >= 2");
  require(c.model.scale >= 1.0 && c.model.scale <= 128.0, "model.scale", "must be in [1, 128]");
  require_choice(c.loss.name, "loss.name",
                 {"dgcrl", "normalized_softmax", "triplet", "contrastive", "multi_similarity",
                  "proxy_nca", "proxy_anchor"});
  require_choice(c.loss.ranking, "loss.ranking", {"softmax", "hinge"});
  require(c.loss.margin >= 0.0 && c.loss.margin < 2.0, "loss.margin", "must be in [0, 2)");
  require_choice(c.loss.decorrelation.mode, "loss.decorrelation.mode",
                 {"epoch_gs", "iter_gs", "inner_product", "none"});
  require(c.loss.decorrelation.lambda >= 0.0, "loss.decorrelation.lambda", "must be >= 0");
  require(c.loss.triplet_margin >= 0.0, "loss.triplet_margin", "must be >= 0");
  require(c.loss.multi_similarity.alpha > 0.0 && c.loss.multi_similarity.beta > 0.0,
          "loss.multi_similarity", "alpha and beta must be > 0");
  require(c.loss.proxy_nca_scale > 0.0, "loss.proxy_nca_scale", "must be > 0");
  require(c.loss.proxy_anchor_alpha > 0.0, "loss.proxy_anchor_alpha", "must be > 0");
  require(c.loss.decorrelation.alpha >= 0.0 && c.loss.decorrelation.alpha <= 1.0,
          "loss.decorrelation.alpha", "must be in [0, 1]");
  require(c.train.epochs >= 1, "train.epochs", "must be >= 1");
  require(c.train.batch_size >= 2, "train.batch_size", "must be >= 2");
  require(c.train.lr > 0.0 && std::isfinite(c.train.lr), "train.lr", "must be > 0");
  require(c.train.center_lr_mult > 0.0, "train.center_lr_mult", "must be > 0");
  require(c.train.weight_decay >= 0.0, "train.weight_decay", "must be >= 0");
  require(c.train.beta1 >= 0.0 && c.train.beta1 < 1.0, "train.beta1", "must be in [0, 1)");
  require(c.train.beta2 >= 0.0 && c.train.beta2 < 1.0, "train.beta2", "must be in [0, 1)");
  require(c.train.max_steps_per_epoch >= 0, "train.max_steps_per_epoch", "must be >= 0");
  require(c.train.threads_per_rank >= 0, "train.threads_per_rank", "must be >= 0 (0: auto)");
  require(!c.eval.recall_k.empty(), "eval.recall_k", "needs at least one K");
  for (int64_t k : c.eval.recall_k) require(k >= 1, "eval.recall_k", "every K must be >= 1");
  require(c.eval.batch_size >= 1, "eval.batch_size", "must be >= 1");
}

std::string to_yaml(const Config& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "seed" << YAML::Value << c.seed;
  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "path" << YAML::Value << c.data.path;
  out << YAML::Key << "train_split" << YAML::Value << c.data.train_split;
  out << YAML::Key << "test_split" << YAML::Value << c.data.test_split;
  out << YAML::EndMap;
  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "backbone" << YAML::Value << c.model.backbone;
  out << YAML::Key << "pooling" << YAML::Value << c.model.pooling;
  out << YAML::Key << "freeze_bn" << YAML::Value << c.model.freeze_bn;
  out << YAML::Key << "pretrained" << YAML::Value << c.model.pretrained;
  out << YAML::Key << "channels" << YAML::Value << YAML::Flow << c.model.channels;
  out << YAML::Key << "norm_groups" << YAML::Value << c.model.norm_groups;
  out << YAML::Key << "embedding_dim" << YAML::Value << c.model.embedding_dim;
  out << YAML::Key << "scale" << YAML::Value << c.model.scale;
  out << YAML::Key << "learn_scale" << YAML::Value << c.model.learn_scale;
  out << YAML::EndMap;
  out << YAML::Key << "loss" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << c.loss.name;
  out << YAML::Key << "ranking" << YAML::Value << c.loss.ranking;
  out << YAML::Key << "margin" << YAML::Value << c.loss.margin;
  out << YAML::Key << "decorrelation" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mode" << YAML::Value << c.loss.decorrelation.mode;
  out << YAML::Key << "alpha" << YAML::Value << c.loss.decorrelation.alpha;
  out << YAML::Key << "lambda" << YAML::Value << c.loss.decorrelation.lambda;
  out << YAML::Key << "blockwise" << YAML::Value << c.loss.decorrelation.blockwise;
  out << YAML::EndMap;
  out << YAML::Key << "triplet_margin" << YAML::Value << c.loss.triplet_margin;
  out << YAML::Key << "contrastive_pos_margin" << YAML::Value << c.loss.contrastive_pos_margin;
  out << YAML::Key << "contrastive_neg_margin" << YAML::Value << c.loss.contrastive_neg_margin;
  out << YAML::Key << "multi_similarity" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "alpha" << YAML::Value << c.loss.multi_similarity.alpha;
  out << YAML::Key << "beta" << YAML::Value << c.loss.multi_similarity.beta;
  out << YAML::Key << "lambda" << YAML::Value << c.loss.multi_similarity.lambda;
  out << YAML::Key << "epsilon" << YAML::Value << c.loss.multi_similarity.epsilon;
  out << YAML::EndMap;
  out << YAML::Key << "proxy_nca_scale" << YAML::Value << c.loss.proxy_nca_scale;
  out << YAML::Key << "proxy_anchor_alpha" << YAML::Value << c.loss.proxy_anchor_alpha;
  out << YAML::Key << "proxy_anchor_delta" << YAML::Value << c.loss.proxy_anchor_delta;
  out << YAML::EndMap;
  out << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "epochs" << YAML::Value << c.train.epochs;
  out << YAML::Key << "batch_size" << YAML::Value << c.train.batch_size;
  out << YAML::Key << "lr" << YAML::Value << c.train.lr;
  out << YAML::Key << "center_lr_mult" << YAML::Value << c.train.center_lr_mult;
  out << YAML::Key << "weight_decay" << YAML::Value << c.train.weight_decay;
  out << YAML::Key << "beta1" << YAML::Value << c.train.beta1;
  out << YAML::Key << "beta2" << YAML::Value << c.train.beta2;
  out << YAML::Key << "max_steps_per_epoch" << YAML::Value << c.train.max_steps_per_epoch;
  out << YAML::Key << "freeze_backbone_epochs" << YAML::Value << c.train.freeze_backbone_epochs;
  out << YAML::Key << "threads_per_rank" << YAML::Value << c.train.threads_per_rank;
  out << YAML::EndMap;
  out << YAML::Key << "eval" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "recall_k" << YAML::Value << YAML::Flow << c.eval.recall_k;
  out << YAML::Key << "batch_size" << YAML::Value << c.eval.batch_size;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string config_hash(const Config& config) {
  const std::string text = to_yaml(config);
  return hex64(fnv1a64(text.data(), text.size()));
}

}  // namespace nsl
