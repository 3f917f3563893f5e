#define BOOST_TEST_MODULE cli
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/cli_support.h"

using namespace nsl::test;

namespace {

struct Workspace {
  ScratchDir dir{"cli"};
  std::string data = (dir.path() / "data").string();
  Workspace() { make_dataset(data); }
  std::string write_config(const std::string& body) const {
    const auto path = dir.path() / "config.yaml";
    std::ofstream(path) << body;
    return path.string();
  }
  std::string valid() const {
    return "data:\n  path: " + data +
           "\nmodel:\n  channels: [8]\n  norm_groups: 4\n  embedding_dim: 8\n"
           "train:\n  epochs: 1\n  batch_size: 16\n";
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cli, Workspace)

BOOST_AUTO_TEST_CASE(unknown_key_exits_2_naming_path_and_line) {
  const auto r =
      run_command(nsl_dist() + " train --config " + write_config(valid() + "  learning_rate: 3\n"));
  BOOST_TEST(r.exit_code == 2, r.output);
  BOOST_TEST(contains(r.output, "train.learning_rate"), r.output);
  BOOST_TEST(contains(r.output, "line 10"), r.output);
}

BOOST_AUTO_TEST_CASE(wrong_type_exits_2) {
  const auto r = run_command(nsl_dist() + " train --config " + write_config(valid()) +
                             " --set train.epochs=ten");
  BOOST_TEST(r.exit_code == 2, r.output);
  BOOST_TEST(contains(r.output, "train.epochs"), r.output);
  BOOST_TEST(contains(r.output, "from --set"), r.output);
}

BOOST_AUTO_TEST_CASE(missing_config_file_exits_2) {
  const auto r = run_command(nsl_dist() + " train --config /nonexistent/cfg.yaml");
  BOOST_TEST(r.exit_code == 2, r.output);
  BOOST_TEST(contains(r.output, "/nonexistent/cfg.yaml"), r.output);
}

BOOST_AUTO_TEST_CASE(missing_dataset_exits_3_with_a_hint) {
  const auto r = run_command(nsl_dist() + " train --config " + write_config(valid()) +
                             " --set data.path=/nonexistent/data");
  BOOST_TEST(r.exit_code == 3, r.output);
  BOOST_TEST(contains(r.output, "nsl_dist synth"), r.output);
}

BOOST_AUTO_TEST_CASE(dry_run_prints_resolved_config_and_trains_nothing) {
  const std::string out = (dir.path() / "run").string();
  const auto r = run_command(nsl_dist() + " train --dry-run --config " + write_config(valid()) +
                             " --set train.lr=0.25 --out " + out);
  BOOST_TEST(r.exit_code == 0, r.output);
  BOOST_TEST(contains(r.output, "lr: 0.25"), r.output);
  BOOST_TEST(contains(r.output, "margin: 0.1"), r.output);  // defaults are shown too
  BOOST_TEST(contains(r.output, "12 classes, 144 images, 4 shards"), r.output);
  BOOST_TEST(!std::filesystem::exists(out));
}

// A resume under other threads per rank (Slurm may requeue a job onto other CPUs) continues, and
// says that it is not bit-identical to a run that did not stop; under the same shape it says
// nothing.
BOOST_AUTO_TEST_CASE(resume_with_other_threads_per_rank_is_announced) {
  const std::string out = (dir.path() / "run").string();
  const std::string config = write_config(valid());
  const auto first = run_command(nsl_dist() + " train --quiet --config " + config +
                                 " --set train.threads_per_rank=1 --out " + out);
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.output);
  const auto same = run_command(nsl_dist() + " train --config " + config +
                                " --set train.threads_per_rank=1 --set train.epochs=2 --resume auto"
                                " --out " +
                                out);
  BOOST_TEST_REQUIRE(same.exit_code == 0, same.output);
  BOOST_TEST(contains(same.output, "resuming from"), same.output);
  BOOST_TEST(!contains(same.output, "not bit-identically"), same.output);
  const auto other =
      run_command(nsl_dist() + " train --config " + config +
                  " --set train.threads_per_rank=2 --set train.epochs=3 --resume auto"
                  " --out " +
                  out);
  BOOST_TEST_REQUIRE(other.exit_code == 0, other.output);
  BOOST_TEST(
      contains(other.output,
               "the checkpoint was written by 1 rank(s) x 1 thread(s) per rank, this run has "
               "1 rank(s) x 2 thread(s) per rank: training continues from the same state but "
               "not bit-identically"),
      other.output);
}

BOOST_AUTO_TEST_CASE(dry_run_detects_a_corrupt_shard) {
  const auto shard = std::filesystem::path(data) / "train-00001.h5";
  BOOST_REQUIRE(std::filesystem::exists(shard));
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(shard) - 10));
    f.put('\x5a');
  }
  const auto r = run_command(nsl_dist() + " train --dry-run --config " + write_config(valid()));
  BOOST_TEST(r.exit_code == 3, r.output);
  BOOST_TEST(contains(r.output, "train-00001.h5"), r.output);
}

BOOST_AUTO_TEST_CASE(test_split_without_pairs_stops_before_training) {
  // A folder dataset (first half of the classes train, the rest test) whose test classes hold one
  // image each, written as binary PGM files by hand and converted with nsl_dist prep.
  const auto root = dir.path() / "folder";
  for (int c = 0; c < 8; ++c) {
    const auto class_dir = root / ("c" + std::to_string(c));
    std::filesystem::create_directories(class_dir);
    for (int i = 0; i < (c < 4 ? 3 : 1); ++i) {
      std::ofstream pgm(class_dir / ("i" + std::to_string(i) + ".pgm"), std::ios::binary);
      pgm << "P5\n4 4\n255\n" << std::string(16, static_cast<char>(10 * c + i));
    }
  }
  const std::string single = (dir.path() / "single").string();
  const auto made =
      run_command(nsl_dist() + " prep --dataset folder --root " + root.string() + " --out " +
                  single + " --image-size 8 --channels 1 --shards 2" + " --quiet");
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  const std::string out = (dir.path() / "run_single").string();
  const auto r = run_command(nsl_dist() + " train --config " + write_config(valid()) +
                             " --set data.path=" + single + " --out " + out);
  BOOST_TEST(r.exit_code == 3, r.output);
  BOOST_TEST(contains(r.output, "split 'test'"), r.output);
  BOOST_TEST(contains(r.output, "every one of its 4 classes has a single image"), r.output);
  BOOST_TEST(!std::filesystem::exists(out));
}

BOOST_AUTO_TEST_CASE(bad_command_line_exits_2) {
  BOOST_TEST(run_command(nsl_dist() + " train").exit_code == 2);
  BOOST_TEST(run_command(nsl_dist() + " frobnicate").exit_code == 2);
}

BOOST_AUTO_TEST_CASE(info_reports_versions_and_gemm_rate) {
  const auto r = run_command(nsl_dist() + " info --gemm-size 512");
  BOOST_TEST(r.exit_code == 0, r.output);
  for (const char* part : {"LibTorch", "1.13", "MPI", "HDF5", "NCCL", "GFLOP/s", "threads/rank"}) {
    BOOST_TEST(contains(r.output, part), part << "\n" << r.output);
  }
  // With 2 threads or more the self-check of the evaluation's products runs.
  if (std::thread::hardware_concurrency() >= 2) {
    BOOST_TEST(contains(r.output, "evaluation      thread-independent"), r.output);
  }
}

BOOST_AUTO_TEST_SUITE_END()
