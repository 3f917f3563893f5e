#define BOOST_TEST_MODULE loss_registry
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "config/config.h"
#include "dist/local_communicator.h"
#include "loss/criterion.h"
#include "loss/embedding_loss.h"
#include "loss/loss_registry.h"
#include "support/memory_source.h"
#include "support/naive.h"
#include "test_paths.h"
#include "train/trainer.h"

namespace {

// A loss that exists only in this file: L_i = s (1 + m - cos(u_i, c_{y_i})), with a check of its
// own on loss.margin. Adding it takes this class and the registration line below, nothing else.
class CenterDistanceCriterion : public nsl::Criterion {
 public:
  static constexpr const char* kName = "test_center_distance";
  static constexpr nsl::LossProperties kProperties{/*has_centers=*/true, /*batch_loss=*/false};

  static void validate(const nsl::LossConfig& config) {
    if (config.margin > 1.0) {
      throw nsl::ConfigError("config key 'loss.margin': test_center_distance needs at most 1");
    }
  }

  CenterDistanceCriterion(const nsl::LossConfig& config, int64_t /*num_classes*/, int64_t /*dim*/)
      : margin_(config.margin) {}

  nsl::CriterionOutput forward(const nsl::CriterionInput& in) override {
    namespace F = torch::nn::functional;
    const torch::Tensor own =
        F::normalize(in.centers.index_select(0, in.labels), F::NormalizeFuncOptions().dim(1));
    return {in.scale * (1.0 + margin_ - (in.unit * own).sum(1))};
  }

 private:
  double margin_;
};

const bool kRegistered = nsl::register_loss(nsl::loss_entry<CenterDistanceCriterion>());

const std::vector<std::string> kBuiltin = {"dgcrl",        "normalized_softmax", "triplet",
                                           "contrastive",  "multi_similarity",   "proxy_nca",
                                           "proxy_nca_pp", "proxy_anchor"};

std::string error_of(const std::string& yaml) {
  try {
    nsl::parse_config(yaml);
  } catch (const nsl::ConfigError& e) {
    return e.what();
  }
  BOOST_FAIL("expected a ConfigError for:\n" << yaml);
  return "";
}

const char* kSmallModel =
    "data: {path: unused}\n"
    "model: {channels: [8, 16], norm_groups: 4, embedding_dim: 8, scale: 4}\n";

}  // namespace

BOOST_AUTO_TEST_CASE(builtin_losses_are_registered_with_their_properties) {
  BOOST_TEST(kRegistered);
  const auto names = nsl::registered_loss_names();
  BOOST_TEST_REQUIRE(names.size() == kBuiltin.size() + 1);
  for (size_t i = 0; i < kBuiltin.size(); ++i) BOOST_TEST(names[i] == kBuiltin[i]);
  BOOST_TEST(names.back() == "test_center_distance");

  struct Want {
    const char* name;
    bool centers, batch;
  };
  for (const Want& w : {Want{"dgcrl", true, false}, Want{"normalized_softmax", true, false},
                        Want{"triplet", false, true}, Want{"contrastive", false, true},
                        Want{"multi_similarity", false, true}, Want{"proxy_nca", true, false},
                        Want{"proxy_nca_pp", true, false}, Want{"proxy_anchor", true, true}}) {
    BOOST_TEST_CONTEXT(w.name) {
      const nsl::LossEntry& e = nsl::find_loss(w.name);
      BOOST_TEST(e.properties.has_centers == w.centers);
      BOOST_TEST(e.properties.batch_loss == w.batch);
      nsl::LossConfig config;
      config.name = w.name;
      nsl::EmbeddingLoss loss(config, 5, 4);
      BOOST_TEST(loss->has_centers() == w.centers);
      BOOST_TEST(loss->batch_loss() == w.batch);
      BOOST_TEST(loss->uses_epoch_gs() == (std::string(w.name) == "dgcrl"));
      if (w.centers) {
        BOOST_TEST(loss->named_parameters().contains("centers"));
        BOOST_TEST(loss->centers().size(0) == 5);
        BOOST_TEST(loss->centers().size(1) == 4);
      }
    }
  }
}

// The LibTorch-free fuzz build lists the built-in names itself: the same names, in the same order.
BOOST_AUTO_TEST_CASE(fuzz_stand_in_lists_the_builtin_names) {
  std::ifstream in(std::string(NSL_SOURCE_DIR) + "/tests/fuzz/fuzz_builtin_losses.cpp");
  BOOST_TEST_REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  const size_t start = source.find("for (const char* name :");
  const std::string list = source.substr(start, source.find("})", start) - start);
  const std::regex quoted("\"([a-z_]+)\"");
  std::vector<std::string> found;
  for (auto it = std::sregex_iterator(list.begin(), list.end(), quoted);
       it != std::sregex_iterator(); ++it) {
    found.push_back((*it)[1].str());
  }
  BOOST_TEST(found == kBuiltin, boost::test_tools::per_element());
  // Which of them shard (what configuration validation reads): the same in both.
  for (const auto& name : kBuiltin) {
    const bool shardable = nsl::find_loss(name).properties.shardable;
    BOOST_TEST(shardable == (source.find("e.name == \"" + name + "\"") != std::string::npos), name);
  }
}

BOOST_AUTO_TEST_CASE(unknown_name_lists_every_registered_loss) {
  const std::string msg = error_of("data: {path: x}\nloss: {name: arcface}\n");
  BOOST_TEST(msg ==
             "config key 'loss.name': 'arcface' is not one of: dgcrl | normalized_softmax | "
             "triplet | contrastive | multi_similarity | proxy_nca | proxy_nca_pp | proxy_anchor "
             "| test_center_distance");
  BOOST_CHECK_THROW(nsl::find_loss("arcface"), nsl::ConfigError);
  nsl::LossConfig config;
  config.name = "arcface";
  BOOST_CHECK_THROW(nsl::EmbeddingLoss(config, 3, 4), nsl::ConfigError);
  // A name is registered once.
  BOOST_CHECK_THROW(nsl::register_loss(nsl::loss_entry<CenterDistanceCriterion>()),
                    std::logic_error);
}

BOOST_AUTO_TEST_CASE(registered_loss_is_validated_by_name) {
  const nsl::Config c = nsl::parse_config("data: {path: x}\nloss: {name: test_center_distance}\n");
  BOOST_TEST(c.loss.name == "test_center_distance");
  BOOST_TEST(error_of("data: {path: x}\nloss: {name: test_center_distance, margin: 1.5}\n") ==
             "config key 'loss.margin': test_center_distance needs at most 1");
  // Its check applies to it alone.
  BOOST_CHECK_NO_THROW(nsl::parse_config("data: {path: x}\nloss: {margin: 1.5}\n"));
}

// Through EmbeddingLoss: the value and the embeddings' gradient against a double-precision
// reference written out per row.
BOOST_AUTO_TEST_CASE(registered_loss_forward_and_backward_match_a_naive_reference) {
  const nsl::Config c =
      nsl::parse_config("data: {path: x}\nloss: {name: test_center_distance, margin: 0.25}\n");
  const int64_t classes = 5, dim = 6, rows = 7, global_batch = 12;
  torch::manual_seed(3);
  nsl::EmbeddingLoss loss(c.loss, classes, dim);
  BOOST_TEST_REQUIRE(loss->has_centers());
  BOOST_TEST(!loss->batch_loss());
  const torch::Tensor unit =
      torch::nn::functional::normalize(torch::randn({rows, dim}),
                                       torch::nn::functional::NormalizeFuncOptions().dim(1))
          .requires_grad_(true);
  const torch::Tensor labels = torch::randint(0, classes, {rows}, torch::kInt64);
  const torch::Tensor scale = torch::full({}, 3.0f);
  loss->start_epoch(1, 1);
  const nsl::LossStep step = loss->forward(unit, labels, scale, global_batch, 1);
  step.objective.backward();

  const auto u = nsl::test::to_matrix(unit.detach());
  const auto w = nsl::test::to_matrix(loss->centers().detach());
  const auto y = nsl::test::to_labels(labels);
  double sum = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const auto center = nsl::test::unit(w[y[i]]);
    sum += 3.0 * (1.0 + 0.25 - nsl::test::dot(u[i], center));
    for (int64_t j = 0; j < dim; ++j) {
      BOOST_TEST(unit.grad()[i][j].item<double>() == -3.0 * center[j] / global_batch,
                 boost::test_tools::tolerance(1e-6));
    }
  }
  BOOST_TEST(step.objective.item<double>() == sum / global_batch,
             boost::test_tools::tolerance(1e-6));
  BOOST_TEST(step.reported == step.objective.item<double>());
  BOOST_TEST(step.active == rows);
  BOOST_TEST(loss->centers().grad().defined());
}

// The real trainer, chosen by name from the YAML: the loss falls and the centers move.
BOOST_AUTO_TEST_CASE(registered_loss_trains_through_the_trainer) {
  torch::set_num_threads(1);
  const nsl::Config cfg =
      nsl::parse_config(std::string(kSmallModel) + "loss: {name: test_center_distance}\n",
                        {"train.epochs=3", "train.batch_size=16", "train.lr=0.01"});
  nsl::LocalCommunicator comm;
  nsl::test::FourPatternClasses data;
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  nsl::Trainer trainer(cfg, comm, data.train, data.test, 1, opts);
  BOOST_TEST_REQUIRE(trainer.loss()->has_centers());
  const torch::Tensor before = trainer.loss()->centers().detach().clone();
  const auto history = trainer.run();
  BOOST_TEST_REQUIRE(history.size() == 4u);
  for (const auto& m : history) BOOST_TEST(std::isfinite(m.loss));
  BOOST_TEST(history.back().loss < history.front().loss);
  BOOST_TEST(!torch::equal(before, trainer.loss()->centers().detach()));
}
