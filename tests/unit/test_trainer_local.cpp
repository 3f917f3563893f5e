#define BOOST_TEST_MODULE trainer_local
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <limits>

#include "common/error.h"
#include "config/config.h"
#include "dist/local_communicator.h"
#include "loss/gram_schmidt.h"
#include "support/memory_source.h"
#include "support/run_command.h"
#include "train/checkpoint.h"
#include "train/checkpoint_store.h"
#include "train/trainer.h"

namespace {

nsl::Config small_config() {
  nsl::Config c = nsl::parse_config(
      "data: {path: unused}\n"
      "model: {channels: [8, 16], norm_groups: 4, embedding_dim: 8, scale: 4}\n"
      "train: {epochs: 2, batch_size: 16, lr: 0.01}\n"
      "eval: {batch_size: 7}\n");
  return c;
}

struct Fixture {
  Fixture() { torch::set_num_threads(1); }
};

}  // namespace

BOOST_GLOBAL_FIXTURE(Fixture);

BOOST_AUTO_TEST_CASE(loss_decreases_and_recall_improves) {
  const auto cfg = small_config();
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(6, 16, 1), 6, 16);
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(6, 16, 1));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  nsl::Config c = cfg;
  c.train.epochs = 10;
  nsl::Trainer trainer(c, comm, train, test, 1, opts);
  const auto history = trainer.run();
  BOOST_TEST(history.size() == 11u);
  BOOST_TEST(history.front().epoch == 0);
  // Below the loss of uniform predictions, log(6) + s m = 2.19, and well below the start.
  BOOST_TEST(history.back().loss < 0.7 * history.front().loss);
  BOOST_TEST(history.back().loss < std::log(6.0) + 0.4);
  BOOST_TEST(history.back().retrieval.recall[0] > history.front().retrieval.recall[0]);
}

BOOST_AUTO_TEST_CASE(same_seed_same_run_bit_identical) {
  auto run = [] {
    nsl::LocalCommunicator comm;
    nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(4, 8, 2), 4, 8);
    nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 4, 3));
    nsl::TrainerOptions opts;
    opts.show_progress = false;
    nsl::Trainer trainer(small_config(), comm, train, test, 1, opts);
    trainer.begin_epoch(1);
    std::vector<double> losses;
    for (int i = 0; i < 4; ++i) losses.push_back(trainer.train_step());
    return losses;
  };
  const auto a = run();
  const auto b = run();
  BOOST_TEST(a == b, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(decorrelate_orthonormalises_centers_and_resets_their_moments) {
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(12, 4, 4), 12, 16);
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 4, 5));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  const auto cfg = small_config();  // d = 8 < 12 classes: block-wise
  nsl::Trainer trainer(cfg, comm, train, test, 1, opts);
  trainer.begin_epoch(1);
  trainer.train_step();
  const int64_t groups = trainer.decorrelate(1);
  BOOST_TEST(groups == 2);
  const auto w = trainer.loss()->centers().detach().to(torch::kFloat64);
  for (const auto& g : nsl::gram_schmidt_groups(12, 8, cfg.seed, 1, true)) {
    const auto rows = w.index_select(0, torch::tensor(g, torch::kInt64));
    const auto gram = torch::matmul(rows, rows.t());
    BOOST_TEST((gram - torch::eye(rows.size(0), torch::kFloat64)).abs().max().item<double>() <
               1e-5);
  }
  // The centers are the last optimiser slot: their moments are zero after the reset.
  const auto state = trainer.optimizer().state();
  BOOST_TEST(state[state.size() - 2].second.abs().sum().item<float>() == 0.0f);
  BOOST_TEST(state[state.size() - 1].second.abs().sum().item<float>() == 0.0f);
  BOOST_TEST(state[1].second.abs().sum().item<float>() > 0.0f);  // network moments untouched
}

BOOST_AUTO_TEST_CASE(run_writes_metrics_and_a_loadable_checkpoint) {
  nsl::test::ScratchDir dir("trainer_out");
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(4, 8, 6), 4, 8);
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 4, 7));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  opts.out_dir = dir.str();
  const auto cfg = small_config();
  nsl::Trainer trainer(cfg, comm, train, test, 1, opts);
  trainer.run();

  std::ifstream in(dir.path() / "metrics.jsonl");
  std::string line;
  int64_t expected_epoch = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    BOOST_TEST(j.at("epoch").get<int64_t>() == expected_epoch++);
    for (const char* key :
         {"loss", "recall@1", "recall@2", "recall@4", "recall@8", "images_per_s", "seconds"}) {
      BOOST_TEST(j.contains(key), key);
    }
  }
  BOOST_TEST(expected_epoch == cfg.train.epochs + 1);

  // One checkpoint per epoch end (0 .. E), the newest checkpoint.keep of them kept.
  nsl::CheckpointStore store(dir.path() / "checkpoints", 3);
  const auto entry = store.latest_valid();
  BOOST_TEST_REQUIRE(entry.has_value());
  BOOST_TEST(entry->dir.string() == trainer.last_checkpoint());
  BOOST_TEST(entry->info.at("epoch").get<int64_t>() == cfg.train.epochs + 1);
  BOOST_TEST(entry->info.at("step").get<int64_t>() == 0);
  BOOST_TEST(entry->global_step == cfg.train.epochs * trainer.steps_per_epoch());
  BOOST_TEST(store.list().size() == std::min<size_t>(3, cfg.train.epochs + 1));

  torch::manual_seed(99);  // different initialisation: the load must overwrite everything
  nsl::EmbeddingNet net(cfg.model, 1);
  nsl::EmbeddingLoss loss(cfg.loss, 4, cfg.model.embedding_dim);
  nsl::read_model_file(entry->dir, *net, *loss);
  BOOST_TEST(torch::equal(loss->centers(), trainer.loss()->centers()));
  const auto a = net->named_parameters();
  const auto b = trainer.net()->named_parameters();
  for (const auto& item : a) BOOST_TEST(torch::equal(item.value(), b[item.key()]), item.key());

  nsl::EmbeddingLoss wrong(cfg.loss, 5, cfg.model.embedding_dim);
  BOOST_CHECK_THROW(nsl::read_model_file(entry->dir, *net, *wrong), nsl::DataError);
  BOOST_CHECK_THROW(
      nsl::check_model_identity(entry->info, nsl::model_identity(cfg, 5, 1), entry->dir.string()),
      nsl::DataError);
}

namespace {

std::vector<torch::Tensor> weights(nsl::Trainer& t) {
  std::vector<torch::Tensor> out;
  for (const auto& p : t.net()->parameters()) out.push_back(p.detach().clone());
  for (const auto& b : t.net()->buffers()) out.push_back(b.detach().clone());
  out.push_back(t.loss()->centers().detach().clone());
  for (const auto& [name, value] : t.optimizer().state()) out.push_back(value.clone());
  return out;
}

}  // namespace

// Resuming from a mid-epoch checkpoint continues bit-identically: the same weights, optimizer
// state and metrics as the uninterrupted run.
// With the cosine schedule and imprinted centers: the resumed run must neither restart the
// schedule nor imprint the centers again. Twice: the v1 recipe, and issue 18's (centred embeddings,
// SGD centers updated only for the batch's classes and re-projected, per-row step counts).
BOOST_AUTO_TEST_CASE(resume_from_a_mid_epoch_checkpoint_is_bit_identical) {
  for (const bool recipe : {false, true}) {
    BOOST_TEST_CONTEXT("issue 18 recipe: " << recipe) {
      std::vector<std::string> overrides = {"train.epochs=3", "checkpoint.every_steps=3",
                                            "checkpoint.keep=20", "train.lr_schedule=cosine",
                                            "loss.center_init=class_mean"};
      if (recipe) {
        for (const char* o : {"model.center_embeddings=true", "train.center_optimizer=sgd",
                              "train.center_lr_mult=100", "train.center_update=present",
                              "train.center_reproject=true", "loss.decorrelation.group_size=2"})
          overrides.push_back(o);
      }
      const auto cfg = nsl::parse_config(nsl::to_yaml(small_config()), overrides);
      nsl::LocalCommunicator comm;
      std::vector<double> last_lr;
      auto run = [&](const std::string& out, const std::string& resume) {
        nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(4, 8, 6), 4, 8);
        nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 4, 7));
        nsl::TrainerOptions opts;
        opts.show_progress = false;
        opts.out_dir = out;
        opts.resume = resume;
        opts.open_train_samples = [] {
          return std::make_unique<nsl::test::MemoryEvalSource>(
              nsl::test::make_pattern_data(4, 8, 6));
        };
        auto trainer = std::make_unique<nsl::Trainer>(cfg, comm, train, test, 1, opts);
        auto history = trainer->run();
        last_lr.push_back(trainer->optimizer().options().lr);
        return std::make_pair(weights(*trainer), history);
      };
      nsl::test::ScratchDir full("resume_full");
      const auto reference = run(full.str(), "none");

      // A second run from a mid-epoch checkpoint of the first: steps_per_epoch = 4, every 3 steps,
      // so global step 6 is epoch 2 after its second step.
      nsl::test::ScratchDir part("resume_part");
      std::filesystem::create_directories(part.path() / "checkpoints");
      std::filesystem::copy(full.path() / "checkpoints" / "step-000000000006",
                            part.path() / "checkpoints" / "step-000000000006",
                            std::filesystem::copy_options::recursive);
      {
        std::ifstream in(full.path() / "metrics.jsonl");
        std::ofstream out(part.path() / "metrics.jsonl");
        std::string line;
        for (int i = 0; i < 2 && std::getline(in, line); ++i) out << line << '\n';  // epochs 0, 1
        out << "{\"epoch\": 2, \"loss\": 0.5, \"recall@1\"";  // a line cut short by the crash
      }
      const auto info =
          nsl::CheckpointStore::verify(part.path() / "checkpoints" / "step-000000000006");
      BOOST_TEST(info.info.at("epoch").get<int64_t>() == 2);
      BOOST_TEST(info.info.at("step").get<int64_t>() == 2);
      const auto resumed = run(part.str(), "auto");

      BOOST_TEST_REQUIRE(resumed.first.size() == reference.first.size());
      for (size_t i = 0; i < reference.first.size(); ++i) {
        BOOST_TEST(torch::equal(resumed.first[i], reference.first[i]), "tensor " << i);
      }
      BOOST_TEST_REQUIRE(resumed.second.size() == reference.second.size());
      for (size_t e = 0; e < reference.second.size(); ++e) {
        BOOST_TEST(resumed.second[e].epoch == reference.second[e].epoch);
        BOOST_TEST(resumed.second[e].loss == reference.second[e].loss, "epoch " << e);
        BOOST_TEST(resumed.second[e].retrieval.recall == reference.second[e].retrieval.recall);
        BOOST_TEST(resumed.second[e].retrieval.map_at_r == reference.second[e].retrieval.map_at_r);
        BOOST_TEST(resumed.second[e].retrieval.nmi == reference.second[e].retrieval.nmi);
      }
      // 3 epochs x 4 steps: the last step (index 11) ran at lr (1 + cos(11 pi / 12)) / 2.
      const double want = 0.01 * 0.5 * (1.0 + std::cos(M_PI * 11.0 / 12.0));
      BOOST_TEST(last_lr == std::vector<double>({want, want}), boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(every_loss_and_decorrelation_mode_trains) {
  const std::vector<std::vector<std::string>> variants = {{"loss.name=normalized_softmax"},
                                                          {"loss.name=triplet"},
                                                          {"loss.name=contrastive"},
                                                          {"loss.name=multi_similarity"},
                                                          {"loss.name=proxy_nca"},
                                                          {"loss.name=proxy_anchor"},
                                                          {"loss.ranking=hinge"},
                                                          {"loss.decorrelation.mode=iter_gs"},
                                                          {"loss.decorrelation.mode=inner_product"},
                                                          {"loss.decorrelation.mode=none"}};
  for (const auto& overrides : variants) {
    BOOST_TEST_CONTEXT(overrides.front()) {
      std::vector<std::string> all = overrides;
      all.push_back("train.epochs=4");
      const nsl::Config cfg = nsl::parse_config(
          "data: {path: unused}\n"
          "model: {channels: [8, 16], norm_groups: 4, embedding_dim: 8, scale: 4}\n"
          "train: {batch_size: 16, lr: 0.01}\n",
          all);
      nsl::LocalCommunicator comm;
      nsl::test::FourPatternClasses data;
      nsl::TrainerOptions opts;
      opts.show_progress = false;
      nsl::Trainer trainer(cfg, comm, data.train, data.test, 1, opts);
      const auto history = trainer.run();
      for (const auto& m : history) BOOST_TEST(std::isfinite(m.loss));
      BOOST_TEST(history.back().loss < history.front().loss);
      // 4 classes in 16 images: pairs always exist. Multi-similarity's mining may still keep none
      // once the classes are well apart, which is counted, not an error.
      if (overrides.front() != "loss.name=multi_similarity") {
        BOOST_TEST(history.back().idle_batches == 0);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(frozen_backbone_and_frozen_batchnorm_do_not_move) {
  const nsl::Config cfg = nsl::parse_config(
      "data: {path: unused}\n"
      "model: {backbone: resnet18, freeze_bn: true, embedding_dim: 8, scale: 4}\n"
      "train: {epochs: 2, batch_size: 8, lr: 0.01, freeze_backbone_epochs: 1}\n");
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(4, 4, 13, 16), 4, 8);
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 2, 14, 16));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  nsl::Trainer trainer(cfg, comm, train, test, 1, opts);
  auto snapshot = [](const std::vector<torch::Tensor>& v) {
    std::vector<torch::Tensor> out;
    for (const auto& t : v) out.push_back(t.detach().clone());
    return out;
  };
  const auto backbone0 = snapshot(trainer.net()->backbone_parameters());
  const auto head0 = snapshot(trainer.net()->head_parameters());
  const auto running0 = trainer.net()->named_buffers()["backbone.bn1.running_mean"].clone();

  trainer.begin_epoch(1);  // frozen epoch
  trainer.train_step();
  const auto backbone1 = trainer.net()->backbone_parameters();
  for (size_t i = 0; i < backbone0.size(); ++i)
    BOOST_TEST(torch::equal(backbone0[i], backbone1[i]));
  BOOST_TEST(!torch::equal(head0[0], trainer.net()->head_parameters()[0]));

  trainer.begin_epoch(2);  // unfrozen
  trainer.train_step();
  BOOST_TEST(!torch::equal(backbone0[0], trainer.net()->backbone_parameters()[0]));
  // BatchNorm statistics never move when frozen, even after evaluation switched modes.
  trainer.evaluate();
  trainer.train_step();
  BOOST_TEST(torch::equal(running0, trainer.net()->named_buffers()["backbone.bn1.running_mean"]));
}

// A fresh run into a folder that already holds checkpoints is refused (its checkpoints would mix
// with the earlier run's); --resume auto continues instead, and at the end there is nothing to do.
BOOST_AUTO_TEST_CASE(fresh_run_over_earlier_checkpoints_is_refused) {
  nsl::test::ScratchDir dir("trainer_twice");
  nsl::LocalCommunicator comm;
  auto run = [&](const std::string& resume) {
    nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(4, 8, 6), 4, 8);
    nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 4, 7));
    nsl::TrainerOptions opts;
    opts.show_progress = false;
    opts.out_dir = dir.str();
    opts.resume = resume;
    nsl::Trainer trainer(small_config(), comm, train, test, 1, opts);
    return trainer.run();
  };
  BOOST_TEST(run("none").size() == 3u);
  BOOST_CHECK_THROW(run("none"), nsl::ConfigError);
  const auto again = run("auto");  // complete already: the history comes from metrics.jsonl
  BOOST_TEST(again.size() == 3u);
  BOOST_TEST(again.back().epoch == 2);
}

// loss.center_init: class_mean. Reference: each class's embeddings from a separate forward pass of
// the untrained network, summed one by one in double precision and normalised.
BOOST_AUTO_TEST_CASE(class_mean_init_sets_each_center_to_its_class_mean) {
  nsl::Config c = small_config();
  c.loss.center_init = nsl::CenterInit::kClassMean;
  const auto data = nsl::test::make_pattern_data(5, 6, 4);
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(data, 6, 10);  // class 5 has no sample: it keeps its row
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(5, 3, 5));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  {
    nsl::TrainerOptions missing = opts;
    BOOST_CHECK_THROW(nsl::Trainer(c, comm, train, test, 1, missing), nsl::ConfigError);
  }
  opts.open_train_samples = [&data] { return std::make_unique<nsl::test::MemoryEvalSource>(data); };
  nsl::Trainer trainer(c, comm, train, test, 1, opts);
  const torch::Tensor before = trainer.loss()->centers().detach().clone();
  torch::Tensor unit;
  {
    torch::NoGradGuard no_grad;
    trainer.net()->eval();
    unit = trainer.net()->forward(data.images).unit.to(torch::kFloat64);
    trainer.net()->train();
  }
  trainer.imprint_centers();
  const torch::Tensor after = trainer.loss()->centers().detach();
  for (int64_t k = 0; k < 5; ++k) {
    std::vector<double> sum(8, 0.0);
    for (int64_t i = 0; i < data.labels.size(0); ++i) {
      if (data.labels[i].item<int64_t>() != k) continue;
      for (int64_t j = 0; j < 8; ++j) sum[j] += unit[i][j].item<double>();
    }
    double norm = 0.0;
    for (double v : sum) norm += v * v;
    norm = std::sqrt(norm);
    for (int64_t j = 0; j < 8; ++j)
      BOOST_TEST(after[k][j].item<double>() == sum[j] / norm, boost::test_tools::tolerance(1e-6));
  }
  BOOST_TEST(torch::equal(after[5], before[5]));
  // Imprinted centers start training well below the loss of random ones on these classes.
  nsl::Config r = c;
  r.loss.center_init = nsl::CenterInit::kRandom;
  nsl::Trainer random_trainer(r, comm, train, test, 1, opts);
  trainer.begin_epoch(1);
  random_trainer.begin_epoch(1);
  BOOST_TEST(trainer.train_step() < random_trainer.train_step());
}

BOOST_AUTO_TEST_CASE(unknown_center_init_is_a_config_error) {
  BOOST_CHECK_THROW(nsl::parse_config("data: {path: x}\nloss: {center_init: means}\n"),
                    nsl::ConfigError);
}

// Weights that turned non-finite without the loss showing it yet (here: set by hand after epoch 1)
// are caught before the epoch-end checkpoint: StoppedTogether naming the tensor and the last good
// checkpoint (epoch 0's), and nothing is written for epoch 1.
BOOST_AUTO_TEST_CASE(non_finite_weights_are_never_checkpointed) {
  nsl::test::ScratchDir dir("trainer_nan_weights");
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(nsl::test::make_pattern_data(4, 8, 6), 4, 8);
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(4, 4, 7));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  opts.out_dir = dir.str();
  nsl::Trainer* self = nullptr;
  opts.on_epoch = [&](const nsl::EpochMetrics& m) {
    if (m.epoch != 1) return;
    torch::NoGradGuard no_grad;
    self->net()->parameters().front().view(-1)[3] = std::numeric_limits<float>::infinity();
  };
  nsl::Trainer trainer(small_config(), comm, train, test, 1, opts);
  self = &trainer;
  std::string message;
  try {
    trainer.run();
  } catch (const nsl::StoppedTogether& e) {
    message = e.what();
    BOOST_TEST(e.code() == nsl::kExitRuntime);
  }
  BOOST_TEST_MESSAGE(message);
  const std::string first = "net." + trainer.net()->named_parameters().begin()->key();
  BOOST_TEST(message.find("the weights are not finite (" + first +
                          ") after global step 4 (end of epoch 1); the epoch end checkpoint is "
                          "skipped and nothing was written") != std::string::npos,
             message);
  const auto step0 = (dir.path() / "checkpoints" / "step-000000000000").string();
  BOOST_TEST(message.find("Last good checkpoint: " + step0) != std::string::npos, message);
  nsl::CheckpointStore store(dir.path() / "checkpoints", 3);
  BOOST_TEST(store.list().size() == 1u);
  BOOST_TEST(store.latest_valid()->dir.string() == step0);
}

// model.center_embeddings with class_mean: the centering mean is the mean of the untrained head's
// raw outputs over the training split, and each center the normalised class mean of the centred,
// normalised embeddings. Reference: a separate forward pass, sums in double written out.
BOOST_AUTO_TEST_CASE(centering_mean_and_centred_imprint) {
  nsl::Config c = small_config();
  c.loss.center_init = nsl::CenterInit::kClassMean;
  c.model.center_embeddings = true;
  const auto data = nsl::test::make_pattern_data(5, 6, 4);
  nsl::LocalCommunicator comm;
  nsl::test::MemoryTrainSource train(data, 5, 10);
  nsl::test::MemoryEvalSource test(nsl::test::make_pattern_data(5, 3, 5));
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  opts.open_train_samples = [&data] { return std::make_unique<nsl::test::MemoryEvalSource>(data); };
  nsl::Trainer trainer(c, comm, train, test, 1, opts);
  torch::Tensor raw;
  {
    torch::NoGradGuard no_grad;
    trainer.net()->eval();
    raw = trainer.net()->forward(data.images).raw.to(torch::kFloat64);
    trainer.net()->train();
  }
  trainer.imprint_centers();
  const int64_t n = raw.size(0), d = raw.size(1);
  std::vector<double> mean(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[j] += raw[i][j].item<double>() / static_cast<double>(n);
  const torch::Tensor got = trainer.net()->centering_mean().clone();
  for (int64_t j = 0; j < d; ++j)
    BOOST_TEST(got[j].item<double>() == mean[j], boost::test_tools::tolerance(1e-5));
  const torch::Tensor centers = trainer.loss()->centers().detach();
  for (int64_t k = 0; k < 5; ++k) {
    std::vector<double> sum(d, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      if (data.labels[i].item<int64_t>() != k) continue;
      double norm = 0.0;
      for (int64_t j = 0; j < d; ++j) norm += std::pow(raw[i][j].item<double>() - mean[j], 2);
      for (int64_t j = 0; j < d; ++j)
        sum[j] += (raw[i][j].item<double>() - mean[j]) / std::sqrt(norm);
    }
    double norm = 0.0;
    for (double v : sum) norm += v * v;
    for (int64_t j = 0; j < d; ++j)
      BOOST_TEST(centers[k][j].item<double>() == sum[j] / std::sqrt(norm),
                 boost::test_tools::tolerance(1e-4));
  }
  // Evaluation embeddings are centred with that mean.
  {
    torch::NoGradGuard no_grad;
    trainer.net()->eval();
    const torch::Tensor unit = trainer.net()->forward(data.images).unit;
    trainer.net()->train();
    const torch::Tensor expect =
        torch::nn::functional::normalize(raw.to(torch::kFloat32) - got.to(torch::kFloat32),
                                         torch::nn::functional::NormalizeFuncOptions().dim(1));
    BOOST_TEST(torch::allclose(unit, expect, 1e-5, 1e-5));
  }
  // A training step moves the mean towards the batch's: it changes, and stays finite.
  trainer.begin_epoch(1);
  trainer.train_step();
  const torch::Tensor moved = trainer.net()->centering_mean();
  BOOST_TEST(!torch::equal(moved, got));
  BOOST_TEST(torch::isfinite(moved).all().item<bool>());
}
