// RUN/metrics.jsonl through train/metrics_file.h: the tolerant reader every consumer uses (a line
// cut short by a crash is left out and named, a later line of an epoch wins), the one parser of
// recall@K keys, and the EpochMetrics round trip. The file is written by hand here.
#define BOOST_TEST_MODULE metrics_file
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "support/run_command.h"
#include "train/metrics_file.h"

namespace fs = std::filesystem;

BOOST_AUTO_TEST_CASE(cut_lines_are_left_out_and_named_and_the_later_line_of_an_epoch_wins) {
  nsl::test::ScratchDir dir("metrics_file");
  const fs::path file = dir.path() / "metrics.jsonl";
  std::ofstream(file)
      << R"({"epoch":0,"loss":3.5,"recall@1":0.25,"recall@10":0.5,"recall@2":0.375,)"
      << R"("recall@x":1,"recall@":1,"recall@0":1,"nmi":null})"
      << "\n"
      << "\n"
      << R"({"epoch":1,"loss":2.0,"recall@1":0.4})"
      << "\n"
      << R"({"epoch":2,"loss":1.5,"rec)"
      << "\n"
      << R"({"epoch":1,"loss":1.75,"recall@1":0.45})"
      << "\n"
      << R"({"loss":1.0})"
      << "\n"
      << R"({"epoch":1.5,"loss":1.0})"
      << "\n";
  const nsl::MetricsLines lines = nsl::read_metrics_file(file);
  BOOST_REQUIRE_EQUAL(lines.epochs.size(), 2u);
  BOOST_TEST(lines.epochs[0]["epoch"].get<int>() == 0);
  BOOST_TEST(lines.epochs[1]["loss"].get<double>() == 1.75);
  BOOST_REQUIRE_EQUAL(lines.skipped.size(), 3u);
  BOOST_TEST(lines.skipped[0].rfind(file.string() + ":4: not a JSON object", 0) == 0u,
             lines.skipped[0]);
  BOOST_TEST(lines.skipped[1].rfind(file.string() + ":6: no integer", 0) == 0u, lines.skipped[1]);
  BOOST_TEST(lines.skipped[2].rfind(file.string() + ":7: no integer", 0) == 0u, lines.skipped[2]);
  BOOST_TEST(nsl::recall_ks(lines.epochs) == (std::vector<int64_t>{1, 2, 10}),
             boost::test_tools::per_element());
  BOOST_TEST(!nsl::metric(lines.epochs[0], "nmi").has_value());
  BOOST_TEST(*nsl::metric(lines.epochs[0], "recall@2") == 0.375);

  const nsl::EpochMetrics m = nsl::epoch_metrics_from_json(lines.epochs[0]);
  BOOST_TEST(m.retrieval.ks == (std::vector<int64_t>{1, 2, 10}), boost::test_tools::per_element());
  BOOST_TEST(m.retrieval.recall == (std::vector<double>{0.25, 0.375, 0.5}),
             boost::test_tools::per_element());
  BOOST_TEST(std::isnan(m.retrieval.nmi));

  BOOST_TEST(nsl::read_metrics_file(dir.path() / "none.jsonl").epochs.empty());
}

BOOST_AUTO_TEST_CASE(epoch_metrics_round_trip_and_rewrite) {
  nsl::EpochMetrics m;
  m.epoch = 3;
  m.loss = 0.625;
  m.retrieval.ks = {1, 4};
  m.retrieval.recall = {0.5, 0.75};
  m.retrieval.map_at_r = 0.125;
  m.retrieval.queries = 40;
  m.seconds = 2.5;
  m.steps = 7;
  m.center_cos_mean = 0.25;
  m.center_cos_max = 0.5;
  const nlohmann::json j = nsl::to_json(m);
  BOOST_TEST(j.dump().find(R"("recall@4":0.75)") != std::string::npos, j.dump());
  const nsl::EpochMetrics back = nsl::epoch_metrics_from_json(j);
  BOOST_TEST(back.epoch == 3);
  BOOST_TEST(back.loss == 0.625);
  BOOST_TEST(back.retrieval.recall == m.retrieval.recall, boost::test_tools::per_element());
  BOOST_TEST(back.retrieval.queries == 40);
  BOOST_TEST(back.center_cos_max == 0.5);
  BOOST_TEST(std::isnan(back.retrieval.nmi));

  nsl::test::ScratchDir dir("metrics_rewrite");
  const fs::path file = dir.path() / "metrics.jsonl";
  nsl::rewrite_metrics_file(file, {j, j});
  std::ifstream in(file);
  std::string first, second, third;
  std::getline(in, first);
  std::getline(in, second);
  BOOST_TEST(first == j.dump());
  BOOST_TEST(second == j.dump());
  BOOST_TEST(!std::getline(in, third));
}
