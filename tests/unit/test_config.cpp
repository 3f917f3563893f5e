#define BOOST_TEST_MODULE config
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <utility>

#include "common/error.h"
#include "config/config.h"
#include "support/run_command.h"
#include "test_paths.h"

using nsl::ConfigError;
using nsl::parse_config;

namespace {

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(yaml, overrides, "test.yaml");
  } catch (const ConfigError& e) {
    BOOST_CHECK_EQUAL(e.code(), nsl::kExitConfig);
    return e.what();
  }
  BOOST_FAIL("expected a ConfigError for:\n" << yaml);
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const char* kValid =
    "seed: 7\n"
    "data:\n"
    "  path: /tmp/data\n"
    "train:\n"
    "  lr: 0.01\n"
    "  epochs: 3\n";

}  // namespace

BOOST_AUTO_TEST_CASE(valid_config_reads_values_and_keeps_defaults) {
  const nsl::Config c = parse_config(kValid);
  BOOST_TEST(c.seed == 7u);
  BOOST_TEST(c.data.path == "/tmp/data");
  BOOST_TEST(c.train.lr == 0.01);
  BOOST_TEST(c.train.epochs == 3);
  BOOST_TEST(c.train.batch_size == 64);  // default
  BOOST_TEST((c.loss.decorrelation.mode == nsl::DecorrelationMode::kEpochGs));
}

BOOST_AUTO_TEST_CASE(unknown_key_names_path_and_line) {
  const std::string msg = error_of(std::string(kValid) + "  lrr: 3\n");
  BOOST_TEST(contains(msg, "train.lrr"), msg);
  BOOST_TEST(contains(msg, "line 7"), msg);
  const std::string nested =
      error_of("data:\n  path: x\nloss:\n  decorrelation:\n    mdoe: none\n");
  BOOST_TEST(contains(nested, "loss.decorrelation.mdoe"), nested);
  BOOST_TEST(contains(nested, "line 5"), nested);
  BOOST_TEST(contains(error_of("data: {path: x}\nbogus: 1\n"), "'bogus'"));
}

BOOST_AUTO_TEST_CASE(wrong_type_names_path_line_and_value) {
  const std::string msg = error_of("data:\n  path: x\ntrain:\n  epochs: many\n");
  BOOST_TEST(contains(msg, "train.epochs"), msg);
  BOOST_TEST(contains(msg, "an integer"), msg);
  BOOST_TEST(contains(msg, "'many'"), msg);
  BOOST_TEST(contains(msg, "line 4"), msg);
  BOOST_TEST(contains(error_of("data:\n  path: x\nmodel:\n  channels: 5\n"), "list of integers"));
  BOOST_TEST(contains(error_of("data: 3\n"), "'data' must be a mapping"));
}

BOOST_AUTO_TEST_CASE(invalid_values_and_missing_keys) {
  BOOST_TEST(contains(error_of("train: {lr: 0.1}\n"), "data.path"));
  BOOST_TEST(contains(error_of("data: {path: x}\nloss: {ranking: cubic}\n"), "softmax | hinge"));
  BOOST_TEST(contains(error_of("data: {path: x}\ntrain: {lr: -1}\n"), "train.lr"));
  BOOST_TEST(contains(error_of("data: {path: x}\nmodel: {channels: [12], norm_groups: 8}\n"),
                      "divisible"));
  BOOST_TEST(contains(error_of("a: [1, 2\n"), "not valid YAML"));
}

BOOST_AUTO_TEST_CASE(overrides_apply_and_are_checked) {
  const nsl::Config c =
      parse_config(kValid, {"train.lr=0.5", "model.channels=[8, 16]",
                            "loss.decorrelation.mode=none", "model.norm_groups=4"});
  BOOST_TEST(c.train.lr == 0.5);
  BOOST_TEST(c.model.channels == std::vector<int64_t>({8, 16}), boost::test_tools::per_element());
  BOOST_TEST((c.loss.decorrelation.mode == nsl::DecorrelationMode::kNone));
  const std::string msg = error_of(kValid, {"train.lrr=1"});
  BOOST_TEST(contains(msg, "train.lrr"), msg);
  BOOST_TEST(contains(msg, "from --set"), msg);
  BOOST_TEST(contains(error_of(kValid, {"train.epochs=x"}), "from --set"));
  BOOST_TEST(contains(error_of(kValid, {"no_equals_sign"}), "key.path=value"));
}

BOOST_AUTO_TEST_CASE(resolved_yaml_round_trips) {
  const nsl::Config a = parse_config(kValid, {"model.scale=16", "eval.recall_k=[1, 10]"});
  const nsl::Config b = parse_config(nsl::to_yaml(a));
  BOOST_TEST(nsl::to_yaml(a) == nsl::to_yaml(b));
  BOOST_TEST(nsl::config_hash(a) == nsl::config_hash(b));
  BOOST_TEST(nsl::config_hash(a) != nsl::config_hash(parse_config(kValid)));
}

BOOST_AUTO_TEST_CASE(missing_file_is_a_config_error) {
  try {
    nsl::load_config("/nonexistent/x.yaml");
    BOOST_FAIL("no error");
  } catch (const ConfigError& e) {
    BOOST_TEST(contains(e.what(), "/nonexistent/x.yaml"));
  }
}

BOOST_AUTO_TEST_CASE(shipped_configs_are_valid) {
  for (const char* name : {"demo.yaml", "tiny.yaml"}) {
    const std::string path = std::string(NSL_SOURCE_DIR) + "/configs/" + name;
    BOOST_TEST_CONTEXT(path) { BOOST_CHECK_NO_THROW(nsl::load_config(path)); }
  }
}

// config_hash() is stored in checkpoints and metrics: the values computed before the choice keys
// became enums (issue 19) must stay.
BOOST_AUTO_TEST_CASE(config_hash_of_shipped_configs_is_unchanged) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"demo.yaml", "0eb2dbd6f43a6ee9"},
      {"tiny.yaml", "a25af623ad4f61e6"},
      {"omniglot.yaml", "ba2b5d608100d6d5"},
      {"omniglot_proxy_anchor.yaml", "66912b669ff0bfe3"},
      {"omniglot_triplet.yaml", "6ee467417e18792d"},
      {"cub200_r50.yaml", "f5834d1f287162d3"},
      {"cars196_r50.yaml", "624ebb15a7292b52"}};
  for (const auto& [name, hash] : expected) {
    const std::string path = std::string(NSL_SOURCE_DIR) + "/configs/" + name;
    BOOST_TEST_CONTEXT(path) { BOOST_TEST(nsl::config_hash(nsl::load_config(path)) == hash); }
  }
  // Keys added later (issue 20) count once they leave their defaults.
  const std::string plain = nsl::config_hash(parse_config(kValid));
  BOOST_TEST(nsl::config_hash(parse_config(kValid, {"loss.centers=sharded"})) != plain);
  BOOST_TEST(
      nsl::config_hash(parse_config(kValid, {"loss.centers=sharded", "loss.sample_rate=0.5"})) !=
      nsl::config_hash(parse_config(kValid, {"loss.centers=sharded"})));
  // Every word of every choice key, written back as read.
  const nsl::Config c = parse_config(
      kValid, {"model.backbone=resnet50", "model.pooling=avg+max", "loss.ranking=hinge",
               "loss.center_init=class_mean", "loss.decorrelation.mode=inner_product",
               "train.sampler=pk", "train.lr_schedule=cosine", "train.center_optimizer=sgd",
               "train.center_update=present", "dist.backend=nccl"});
  const std::string yaml = nsl::to_yaml(c);
  for (const char* line :
       {"backbone: resnet50", "pooling: avg+max", "ranking: hinge", "center_init: class_mean",
        "mode: inner_product", "sampler: pk", "lr_schedule: cosine", "center_optimizer: sgd",
        "center_update: present", "backend: nccl"}) {
    BOOST_TEST(contains(yaml, std::string("  ") + line + "\n"), line);
  }
  BOOST_TEST((c.model.backbone == nsl::Backbone::kResnet50));
  BOOST_TEST((c.dist.backend == nsl::DistBackend::kNccl));
}

// A word outside a choice key's list: the same message as before the keys became enums, reported
// at the key's place among the checks (data.path is checked first).
BOOST_AUTO_TEST_CASE(unknown_choice_words_keep_their_message_and_order) {
  BOOST_TEST(error_of("data: {path: x}\nmodel: {backbone: resnet34}\n") ==
             "config key 'model.backbone': 'resnet34' is not one of: small_cnn | resnet18 | "
             "resnet50");
  BOOST_TEST(error_of("data: {path: x}\ndist: {backend: gloo}\n") ==
             "config key 'dist.backend': 'gloo' is not one of: auto | mpi | nccl");
  BOOST_TEST(error_of("data: {path: x}\nloss: {name: arcface}\n") ==
             "config key 'loss.name': 'arcface' is not one of: dgcrl | normalized_softmax | "
             "triplet | contrastive | multi_similarity | proxy_nca | proxy_nca_pp | proxy_anchor");
  BOOST_TEST(contains(error_of("model: {backbone: resnet34}\n"), "'data.path'"));
  BOOST_TEST(
      contains(error_of(kValid, {"model.backbone=resnet34", "loss.name=x"}), "'model.backbone'"));
  BOOST_TEST(contains(error_of(kValid, {"model.backbone=[1]"}), "must be a string"));
}
