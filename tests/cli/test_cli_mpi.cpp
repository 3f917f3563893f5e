#define BOOST_TEST_MODULE cli_mpi
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cli/cli_support.h"

using namespace nsl::test;

namespace {

std::string line_of_epoch(const std::string& run, int64_t epoch) {
  std::ifstream in(std::filesystem::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (nlohmann::json::parse(line).at("epoch").get<int64_t>() == epoch) return line;
  }
  return "{}";
}

}  // namespace

// `mpirun -np 2 nsl_dist train` end to end: progress, metrics.jsonl from epoch 0, checkpoint,
// and the Recall table.
BOOST_AUTO_TEST_CASE(mpirun_two_ranks_trains_end_to_end) {
  ScratchDir dir("cli_mpi");
  const std::string data = (dir.path() / "data").string();
  make_dataset(data);
  const std::string out = (dir.path() / "run").string();
  const auto r = run_command(mpirun(2) + nsl_dist() + " train --config " + NSL_SOURCE_DIR +
                             "/configs/tiny.yaml --set data.path=" + data + " --out " + out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
  BOOST_TEST(contains(r.output, "2 rank(s) over mpi"), r.output);
  BOOST_TEST(contains(r.output, "img/s"), r.output);
  BOOST_TEST(contains(r.output, "ETA"), r.output);
  BOOST_TEST(contains(r.output, "Retrieval on the unseen test classes"), r.output);

  std::ifstream in(std::filesystem::path(out) / "metrics.jsonl");
  std::string line;
  int64_t epoch = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    BOOST_TEST(j.at("epoch").get<int64_t>() == epoch++);
    for (const char* key :
         {"loss", "recall@1", "recall@2", "recall@4", "recall@8", "images_per_s", "seconds"}) {
      BOOST_TEST(j.contains(key), key);
    }
    BOOST_TEST(j.at("recall@1").get<double>() <= j.at("recall@8").get<double>());
  }
  BOOST_TEST(epoch == 3);  // epochs 0 (untrained), 1, 2
  // Epoch-end checkpoints 0, 1, 2 (global steps 0, S, 2S); the newest 3 are kept.
  const auto checkpoints = std::filesystem::path(out) / "checkpoints";
  int64_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(checkpoints)) {
    ++count;
    for (const char* f : {"model.pt", "optimizer.pt", "rng.pt", "manifest.json"}) {
      BOOST_TEST(std::filesystem::exists(entry.path() / f), entry.path().string() << "/" << f);
    }
  }
  BOOST_TEST(count == 3);
  BOOST_TEST(contains(r.output, "checkpoint: " + checkpoints.string() + "/step-"), r.output);

  // `nsl_dist eval` of the newest checkpoint, alone and with two ranks: the same numbers, bit for
  // bit, as each other and as the evaluation the training run made after its last epoch.
  const std::string one = (dir.path() / "eval1.json").string();
  const std::string two = (dir.path() / "eval2.json").string();
  const auto e1 = run_command(nsl_dist() + " eval --checkpoint " + out + " --json " + one);
  BOOST_TEST_REQUIRE(e1.exit_code == 0, e1.output);
  BOOST_TEST(contains(e1.output, "epoch 2 "), e1.output);
  const auto e2 =
      run_command(mpirun(2) + nsl_dist() + " eval --checkpoint " + out + " --json " + two);
  BOOST_TEST_REQUIRE(e2.exit_code == 0, e2.output);
  BOOST_TEST(contains(e2.output, "2 rank(s)"), e2.output);
  auto read_json = [](const std::string& path) {
    std::ifstream f(path);
    return nlohmann::json::parse(f);
  };
  const auto a = read_json(one);
  const auto b = read_json(two);
  const auto trained = nlohmann::json::parse(line_of_epoch(out, 2));
  for (const char* key : {"recall@1", "recall@2", "recall@4", "recall@8", "map@r", "r_precision",
                          "nmi", "queries", "lone_queries", "gallery"}) {
    BOOST_TEST_REQUIRE(a.contains(key), key);
    BOOST_TEST(a.at(key) == b.at(key), key << ": " << a.at(key) << " vs " << b.at(key));
    BOOST_TEST(a.at(key) == trained.at(key), key << ": " << a.at(key) << " vs " << trained.at(key));
  }
}

// `nsl_dist eval --json` of one checkpoint with 1 and 2 ranks x 1 and 2 threads per rank: the same
// file, byte for byte. ctest sets OPENBLAS_CORETYPE=Haswell where the CPU has AVX2 and FMA: there,
// before the evaluation computed its products in fixed single-threaded pieces, the threads changed
// Recall@1 and MAP@R of this run.
BOOST_AUTO_TEST_CASE(evaluation_identical_for_any_ranks_and_threads) {
  ScratchDir dir("cli_mpi_threads");
  const std::string data = (dir.path() / "data").string();
  make_dataset(data);
  const std::string out = (dir.path() / "run").string();
  const auto r = run_command(mpirun(2) + nsl_dist() + " train --quiet --config " + NSL_SOURCE_DIR +
                             "/configs/tiny.yaml --set data.path=" + data + " --out " + out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
  auto read_file = [](const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  std::string first, first_name;
  for (int ranks : {1, 2}) {
    for (int threads : {1, 2}) {
      const std::string name =
          std::to_string(ranks) + " rank(s) x " + std::to_string(threads) + " thread(s)";
      const std::string json =
          (dir.path() / ("eval_" + std::to_string(ranks) + "x" + std::to_string(threads) + ".json"))
              .string();
      const auto e = run_command((ranks > 1 ? mpirun(ranks) : std::string()) + nsl_dist() +
                                 " eval --checkpoint " + out + " --json " + json +
                                 " --set train.threads_per_rank=" + std::to_string(threads));
      BOOST_TEST_REQUIRE(e.exit_code == 0, name << ": " << e.output);
      const std::string text = read_file(json);
      BOOST_TEST_REQUIRE(contains(text, "recall@1"), text);
      if (first.empty()) {
        first = text;
        first_name = name;
      } else {
        BOOST_TEST(text == first, name << " vs " << first_name << ":\n" << text << "\n" << first);
      }
    }
  }
  // And the training run's own evaluation of that checkpoint (2 ranks x 1 thread).
  const auto trained = nlohmann::json::parse(line_of_epoch(out, 2));
  const auto evaluated = nlohmann::json::parse(first);
  for (const char* key : {"recall@1", "recall@8", "map@r", "r_precision", "nmi"}) {
    BOOST_TEST(evaluated.at(key) == trained.at(key), key);
  }
}

// One rank failing (here: more ranks than shards) ends the whole job with the documented code.
BOOST_AUTO_TEST_CASE(a_failing_rank_ends_the_job) {
  ScratchDir dir("cli_mpi_fail");
  const std::string data = (dir.path() / "data").string();
  make_dataset(data, 24, 1);
  const auto r = run_command(mpirun(2) + nsl_dist() + " train --config " + NSL_SOURCE_DIR +
                             "/configs/tiny.yaml --set data.path=" + data + " --out " +
                             (dir.path() / "run").string());
  BOOST_TEST(r.exit_code == 3, r.output);
  BOOST_TEST(contains(r.output, "shard"), r.output);
}
