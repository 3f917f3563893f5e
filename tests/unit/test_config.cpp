#define BOOST_TEST_MODULE config
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>

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
  BOOST_TEST(c.loss.decorrelation.mode == "epoch_gs");
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
  BOOST_TEST(c.loss.decorrelation.mode == "none");
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
