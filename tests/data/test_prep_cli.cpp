// nsl_dist prep through the binary: exit codes (2 for bad options, 3 for bad data), messages,
// the end summary, the skipped-image list, progress on stderr, nothing left behind on failure;
// omniglot --val-alphabets (the line naming the val alphabets, the extra splits, bad values).
#define BOOST_TEST_MODULE data_prep_cli
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "cli/cli_support.h"

namespace fs = std::filesystem;
using nsl::test::contains;
using nsl::test::run_command;

namespace {

// list.csv with three 12 x 12 PNG images: classes b (train), a (train), c (test).
std::string make_csv(const nsl::test::ScratchDir& tmp) {
  for (const std::string name : {"x", "y", "z"}) {
    cv::Mat image(12, 12, CV_8UC3, cv::Scalar(10, static_cast<double>(name[0]), 200));
    fs::create_directories(tmp / "data");
    cv::imwrite(tmp / ("data/" + name + ".png"), image);
  }
  std::ofstream(tmp / "data/list.csv") << "x.png,b\ny.png,a\nz.png,c,test\n";
  return tmp / "data/list.csv";
}

std::string prep(const std::string& args) { return nsl::test::nsl_dist() + " prep " + args; }

// An Omniglot tree: background alphabets C_three, A_one, B_two (one character, 2 images each), one
// evaluation alphabet.
std::string make_omniglot(const nsl::test::ScratchDir& tmp) {
  int seed = 0;
  for (const std::string rel : {"images_background/C_three", "images_background/A_one",
                                "images_background/B_two", "images_evaluation/Eval"}) {
    fs::create_directories(tmp / ("omniglot/" + rel + "/character01"));
    for (const std::string image : {"1.png", "2.png"}) {
      cv::Mat gray(12, 12, CV_8UC1, cv::Scalar(20 * ++seed));
      cv::imwrite(tmp / ("omniglot/" + rel + "/character01/" + image), gray);
    }
  }
  return tmp / "omniglot";
}

bool nothing_left(const nsl::test::ScratchDir& tmp) {
  for (const auto& e : fs::directory_iterator(tmp.path()))
    if (e.path().filename().string().rfind("out", 0) == 0) return false;
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(converts_and_prints_the_summary) {
  nsl::test::ScratchDir tmp;
  const std::string csv = make_csv(tmp);
  const auto r = run_command(prep("--dataset csv --root " + csv + " --out " + (tmp / "out") +
                                  " --image-size 8 --shards 1 --workers 2"));
  BOOST_TEST_MESSAGE(r.output);
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  BOOST_CHECK(contains(r.output, "train         2 classes        2 images"));
  BOOST_CHECK(contains(r.output, "test          1 classes        1 images"));
  BOOST_CHECK(contains(r.output, "bytes in 1 shards"));
  BOOST_CHECK(contains(r.output, "wrote " + (tmp / "out") + ": 3 images in"));
  // stderr is a pipe here: progress as lines, the last one complete.
  BOOST_CHECK(contains(r.output, "prep 100% 3/3 images"));
  BOOST_CHECK(contains(r.output, "images/s  ETA"));
  BOOST_CHECK(fs::exists(tmp / "out/manifest.json"));

  const auto quiet = run_command(
      prep("--dataset csv --root " + csv + " --out " + (tmp / "out") + " --image-size 8 --quiet"));
  BOOST_CHECK_EQUAL(quiet.exit_code, 0);
  BOOST_CHECK(!contains(quiet.output, "ETA"));
}

BOOST_AUTO_TEST_CASE(bad_options_exit_2) {
  nsl::test::ScratchDir tmp;
  const std::string csv = make_csv(tmp);
  const std::string out = " --out " + (tmp / "out");

  auto r = run_command(prep("--dataset csv" + out));
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK_MESSAGE(contains(r.output, "--root") && contains(r.output, "required"), r.output);

  r = run_command(prep("--dataset imagenet --root " + csv + out));
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK_MESSAGE(contains(r.output, "config error: unknown dataset 'imagenet' (known: "),
                      r.output);

  r = run_command(prep("--dataset cub200 --root " + (tmp / "no_such_folder") + out));
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK_MESSAGE(contains(r.output, "no_such_folder' does not exist"), r.output);

  r = run_command(prep("--dataset csv --root " + csv + out + " --on-bad-image ignore"));
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK_MESSAGE(contains(r.output, "--on-bad-image"), r.output);
  BOOST_CHECK(nothing_left(tmp));
}

BOOST_AUTO_TEST_CASE(bad_data_exit_3_or_skipped) {
  nsl::test::ScratchDir tmp;
  const std::string csv = make_csv(tmp);
  const std::string bad = tmp / "data/y.png";
  std::ofstream(bad, std::ios::binary) << "\x89PNG\r\n\x1a\n garbage";
  const std::string args = "--dataset csv --root " + csv + " --out " + (tmp / "out") + " --quiet";

  auto r = run_command(prep(args));
  BOOST_CHECK_EQUAL(r.exit_code, 3);
  BOOST_CHECK_MESSAGE(contains(r.output, "data error: bad image '" + bad + "'"), r.output);
  BOOST_CHECK(nothing_left(tmp));

  r = run_command(prep(args + " --on-bad-image skip"));
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  BOOST_CHECK_MESSAGE(contains(r.output, "skipped 1 bad images:\n  " + bad + "\n"), r.output);
  BOOST_CHECK(contains(r.output, "train         1 classes        1 images"));

  std::ofstream(csv) << "x.png\n";
  r = run_command(prep(args));
  BOOST_CHECK_EQUAL(r.exit_code, 3);
  BOOST_CHECK_MESSAGE(contains(r.output, "list.csv:1: expected 'path,label[,split]'"), r.output);
}

BOOST_AUTO_TEST_CASE(omniglot_val_alphabets) {
  nsl::test::ScratchDir tmp;
  const std::string root = make_omniglot(tmp);
  const std::string args = "--dataset omniglot --root " + root + " --out " + (tmp / "out") +
                           " --image-size 8 --channels 1 --shards 1";

  // Sorted: A_one, B_two, C_three; N = 2 takes indices floor(0 * 3 / 2) = 0 and floor(3 / 2) = 1.
  auto r = run_command(prep(args + " --val-alphabets 2"));
  BOOST_TEST_MESSAGE(r.output);
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  BOOST_CHECK_MESSAGE(contains(r.output, "\nval alphabets (2): A_one, B_two\n"), r.output);
  BOOST_CHECK(contains(r.output, "train         3 classes        6 images"));
  BOOST_CHECK(contains(r.output, "test          1 classes        2 images"));
  BOOST_CHECK(contains(r.output, "val           2 classes        4 images"));
  BOOST_CHECK(contains(r.output, "tune_train      1 classes        2 images"));
  BOOST_CHECK(contains(r.output, "wrote " + (tmp / "out") + ": 14 images in"));

  r = run_command(prep(args + " --val-alphabets 1 --quiet"));
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  BOOST_CHECK_MESSAGE(!contains(r.output, "val alphabets"), r.output);
  BOOST_CHECK(contains(r.output, "val           1 classes        2 images"));

  // Without the flag: no val line, no extra splits.
  r = run_command(prep(args));
  BOOST_CHECK_EQUAL(r.exit_code, 0);
  BOOST_CHECK_MESSAGE(!contains(r.output, "\nval "), r.output);
  BOOST_CHECK(!contains(r.output, "tune_train"));
  fs::remove_all(tmp / "out");

  for (const std::string bad : {"3", "=-1", "two"}) {
    r = run_command(prep(args + " --val-alphabets" + (bad[0] == '=' ? "" : " ") + bad));
    BOOST_CHECK_EQUAL(r.exit_code, 2);
    BOOST_CHECK_MESSAGE(contains(r.output, "--val-alphabets"), r.output);
  }
  r = run_command(prep(args + " --val-alphabets 3"));
  BOOST_CHECK_MESSAGE(contains(r.output, "config error: --val-alphabets must be in 1..2 (") &&
                          contains(r.output, "has 3 alphabets), got 3"),
                      r.output);
  r = run_command(prep("--dataset csv --root " + make_csv(tmp) + " --out " + (tmp / "out") +
                       " --val-alphabets 1"));
  BOOST_CHECK_EQUAL(r.exit_code, 2);
  BOOST_CHECK_MESSAGE(contains(r.output, "config error: --val-alphabets: dataset 'csv'"), r.output);
  BOOST_CHECK(nothing_left(tmp));
}
