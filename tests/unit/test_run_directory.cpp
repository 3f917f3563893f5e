// train/run_directory: the checkpoint a run resumes from (fresh, auto, a folder; refused when the
// model does not fit), the notes it gives, metrics.jsonl kept up to the resumed epoch, and the
// info a saved checkpoint carries. Files are checked by reading them directly (nlohmann, fstream).
#define BOOST_TEST_MODULE run_directory
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "support/run_command.h"
#include "train/run_directory.h"

namespace fs = std::filesystem;

namespace {

struct Fixture {
  nsl::test::ScratchDir dir{"run_directory"};
  nsl::Config config;
  std::vector<std::string> notes;

  nsl::RunDirectory run(nsl::ModelIdentity model = {"small_cnn", 10, 64, 1},
                        nsl::RunShape shape = {2, 1}) {
    return nsl::RunDirectory(dir.path().string(), config, model, shape,
                             [this](const std::string& t) { notes.push_back(t); });
  }
  bool noted(const std::string& part) const {
    for (const auto& n : notes)
      if (n.find(part) != std::string::npos) return true;
    return false;
  }
};

void save(nsl::RunDirectory& run, int64_t epoch, int64_t global_step) {
  run.save_checkpoint({epoch, 0, global_step, 0.0, 0}, "epoch end", 0x0123456789abcdefULL,
                      [](const fs::path& tmp) { std::ofstream(tmp / "model.pt") << "weights"; });
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(fresh_run_refuses_a_folder_with_an_earlier_runs_checkpoints, Fixture) {
  auto first = run();
  BOOST_TEST(!first.choose_checkpoint("").has_value());
  save(first, 1, 10);
  auto second = run();
  BOOST_CHECK_EXCEPTION(
      second.choose_checkpoint("none"), nsl::ConfigError, [](const nsl::ConfigError& e) {
        return std::string(e.what()).find("already holds checkpoints") != std::string::npos;
      });
}

BOOST_FIXTURE_TEST_CASE(auto_without_checkpoints_starts_from_scratch, Fixture) {
  auto r = run();
  BOOST_TEST(!r.choose_checkpoint("auto").has_value());
  BOOST_TEST(noted("no checkpoint under"));
  BOOST_TEST(r.resumed_from().empty());
  BOOST_TEST(r.last_good_checkpoint() == "none (this run has not written one yet)");
}

BOOST_FIXTURE_TEST_CASE(auto_takes_the_newest_checkpoint_and_notes_what_differs, Fixture) {
  {
    auto writer = run();
    save(writer, 1, 10);
    save(writer, 2, 20);
    BOOST_TEST(writer.last_checkpoint() == (dir.path() / "checkpoints/step-000000000020").string());
  }
  config.train.lr = 0.5;  // another config hash
  auto r = run({"small_cnn", 10, 64, 1}, {1, 1});
  const auto point = r.choose_checkpoint("auto");
  BOOST_REQUIRE(point.has_value());
  const nsl::CheckpointEntry* entry = &point->checkpoint;
  BOOST_TEST(entry->global_step == 20);
  BOOST_TEST(point->progress.epoch == 2);
  BOOST_TEST(point->progress.step == 0);
  BOOST_TEST(point->progress.global_step == 20);
  BOOST_TEST(r.resumed_from() == entry->dir.string());
  BOOST_TEST(noted("resuming from " + entry->dir.string() + " (epoch 2, step 0, written by 2"));
  BOOST_TEST(noted("the config differs from the checkpoint's"));
  BOOST_TEST(noted("written by 2 rank(s) x 1 thread(s) per rank, this run has 1 rank(s)"));
  BOOST_TEST(r.last_good_checkpoint() == entry->dir.string() + " (the one this run resumed from)");
}

BOOST_FIXTURE_TEST_CASE(a_checkpoint_of_another_model_is_refused, Fixture) {
  {
    auto writer = run();
    save(writer, 1, 10);
  }
  auto r = run({"small_cnn", 12, 64, 1});
  BOOST_CHECK_EXCEPTION(r.choose_checkpoint("auto"), nsl::DataError, [](const nsl::DataError& e) {
    return std::string(e.what()).find(
               "10 training classes but this run "
               "has 12") != std::string::npos;
  });
}

BOOST_FIXTURE_TEST_CASE(saved_checkpoint_carries_progress_shape_and_fingerprint, Fixture) {
  auto r = run({"small_cnn", 10, 64, 1}, {2, 3});
  r.save_checkpoint({3, 7, 47, 12.5, 2}, "periodic", 0x0123456789abcdefULL,
                    [](const fs::path& tmp) { std::ofstream(tmp / "model.pt") << "weights"; });
  std::ifstream in(fs::path(r.last_checkpoint()) / "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  const nlohmann::json& info = manifest.at("info");
  BOOST_TEST(info.at("epoch") == 3);
  BOOST_TEST(info.at("step") == 7);
  BOOST_TEST(info.at("global_step") == 47);
  BOOST_TEST(info.at("loss_sum") == 12.5);
  BOOST_TEST(info.at("idle_batches") == 2);
  BOOST_TEST(info.at("world_size") == 2);
  BOOST_TEST(info.at("threads_per_rank") == 3);
  BOOST_TEST(info.at("reason") == "periodic");
  BOOST_TEST(info.at("weights_fnv1a64") == "0123456789abcdef");
  BOOST_TEST(info.at("num_classes") == 10);
}

BOOST_FIXTURE_TEST_CASE(metrics_keep_the_epochs_before_the_resumed_one, Fixture) {
  const fs::path file = dir.path() / "metrics.jsonl";
  std::ofstream(file) << R"({"epoch":0,"loss":3.0,"recall@1":0.1})"
                      << "\n"
                      << R"({"epoch":1,"loss":2.0,"recall@1":0.2})"
                      << "\n"
                      << R"({"epoch":2,"loss":1.0,"recall@1":0.3})"
                      << "\n"
                      << R"({"epoch":3,"lo)";
  auto r = run();
  const std::vector<nsl::EpochMetrics> kept = r.open_metrics(2);
  BOOST_REQUIRE_EQUAL(kept.size(), 2u);
  BOOST_TEST(kept[1].loss == 2.0);
  nsl::EpochMetrics m;
  m.epoch = 2;
  m.loss = 0.5;
  r.append_metrics(m);
  const auto lines = lines_of(file);
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  BOOST_TEST(nlohmann::json::parse(lines[0]).at("epoch") == 0);
  BOOST_TEST(nlohmann::json::parse(lines[1]).at("loss") == 2.0);
  BOOST_TEST(nlohmann::json::parse(lines[2]).at("loss") == 0.5);
}

BOOST_FIXTURE_TEST_CASE(a_run_without_a_folder_writes_nothing, Fixture) {
  nsl::RunDirectory r("", config, {"small_cnn", 10, 64, 1}, {1, 1}, nullptr);
  BOOST_TEST(!r.writes());
  BOOST_TEST(r.open_metrics(0).empty());
  save(r, 1, 10);
  BOOST_TEST(r.last_checkpoint().empty());
  BOOST_CHECK_THROW(r.choose_checkpoint("auto"), nsl::ConfigError);
}
