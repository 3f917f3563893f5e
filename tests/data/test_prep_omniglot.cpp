// nsl_dist prep on the real Omniglot folder (NSL_OMNIGLOT_ROOT; default ../shared/data/omniglot
// beside the source tree): split and class counts of
// the official background/evaluation protocol, and pixels against an independent decode. Passes
// with a loud SKIPPED message when the data is absent. --val-alphabets (splits val and tune_train)
// on a fixture tree in the official layout: which alphabets, classes, images and pixels, train and
// test unchanged byte for byte, determinism, and the bad values.
#define BOOST_TEST_MODULE data_prep_omniglot
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "data/manifest.h"
#include "data/prep/prep_runner.h"
#include "data/shard_reader.h"

#include "support/run_command.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace {

std::string omniglot_root() {
  const char* root = std::getenv("NSL_OMNIGLOT_ROOT");
  return root != nullptr && *root != '\0' ? root : NSL_SHARED_DIR "/data/omniglot";
}
constexpr int kSize = 28;

}  // namespace

BOOST_AUTO_TEST_CASE(omniglot_background_train_evaluation_test) {
  const std::string root = omniglot_root();
  if (!fs::is_directory(root)) {
    const std::string message =
        "SKIPPED: " + root + " not found (NSL_OMNIGLOT_ROOT names the Omniglot folder)";
    BOOST_TEST_MESSAGE(message);
    std::cerr << "\n*** " << message << " ***\n\n";
    return;
  }
  nsl::test::ScratchDir tmp("omniglot");
  nsl::PrepOptions o;
  o.dataset = "omniglot";
  o.root = root;
  o.out = tmp / "out";
  o.image_size = kSize;
  o.channels = 1;
  o.shards = 4;
  o.workers = 0;
  o.progress = false;
  const nsl::PrepResult r = nsl::prep_dataset(o);
  const auto& train = r.manifest.splits.at("train");
  const auto& test = r.manifest.splits.at("test");
  const int64_t images = train.num_images + test.num_images;
  const std::string timing = "omniglot: " + std::to_string(images) + " images in " +
                             std::to_string(r.seconds) + " s (" +
                             std::to_string(static_cast<double>(images) / r.seconds) +
                             " images/s, " + std::to_string(r.workers) + " workers)";
  BOOST_TEST_MESSAGE(timing);
  std::cerr << timing << "\n";

  BOOST_CHECK_EQUAL(r.manifest.splits.size(), 2u);
  BOOST_CHECK_EQUAL(train.num_classes, 964);
  BOOST_CHECK_EQUAL(train.num_images, 19280);
  BOOST_CHECK_EQUAL(test.num_classes, 659);
  BOOST_CHECK_EQUAL(test.num_images, 13180);
  BOOST_CHECK(r.skipped.empty());
  for (int64_t n : train.class_histogram) BOOST_CHECK_EQUAL(n, 20);
  for (int64_t n : test.class_histogram) BOOST_CHECK_EQUAL(n, 20);
  BOOST_CHECK(std::is_sorted(train.class_names.begin(), train.class_names.end()));
  BOOST_CHECK_EQUAL(train.class_names.front(), "Alphabet_of_the_Magi/character01");
  // Class-disjoint alphabets.
  std::set<std::string> train_alphabets, test_alphabets;
  for (const auto& c : train.class_names) train_alphabets.insert(c.substr(0, c.find('/')));
  for (const auto& c : test.class_names) test_alphabets.insert(c.substr(0, c.find('/')));
  BOOST_CHECK_EQUAL(train_alphabets.size(), 30u);
  BOOST_CHECK_EQUAL(test_alphabets.size(), 20u);
  for (const auto& a : test_alphabets) BOOST_CHECK(!train_alphabets.count(a));

  // Labels and pixels of the first shard of each split against an independent gray decode.
  for (const std::string split : {"train", "test"}) {
    const auto& s = r.manifest.splits.at(split);
    const nsl::ShardContents c = nsl::read_shard(o.out + "/" + s.shards[0].file);
    BOOST_REQUIRE_EQUAL(c.images.size(3), 1);
    const auto images_tensor = c.images.contiguous();
    const uint8_t* data = images_tensor.data_ptr<uint8_t>();
    for (size_t i = 0; i < c.paths.size(); i += 97) {
      const std::string& rel = c.paths[i];  // images_<x>/<alphabet>/<character>/NN.png
      const size_t a = rel.find('/') + 1, f = rel.rfind('/');
      const std::string cls = rel.substr(a, f - a);
      BOOST_CHECK_EQUAL(
          s.class_names.at(static_cast<size_t>(c.labels[static_cast<int64_t>(i)].item<int64_t>())),
          cls);
      cv::Mat gray = cv::imread(root + "/" + rel, cv::IMREAD_GRAYSCALE), small;
      cv::resize(gray, small, cv::Size(kSize, kSize), 0, 0, cv::INTER_AREA);
      const uint8_t* p = data + i * kSize * kSize;
      BOOST_CHECK_MESSAGE(std::equal(p, p + kSize * kSize, small.data), rel);
    }
  }
}

// --val-alphabets on a fixture tree -------------------------------------------------------------

namespace {

constexpr int kFixtureSize = 8;

struct FixtureClass {
  std::string alphabet, character;
  std::vector<std::string> paths;  // sample paths, "images_background/<alphabet>/<character>/x.png"
  std::string name() const { return alphabet + "/" + character; }
};

// A deterministic gray noise image.
cv::Mat gray_pattern(int seed) {
  cv::Mat m(20, 20, CV_8UC1);
  uint32_t state = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) {
      state = state * 1664525u + 1013904223u;
      m.at<uint8_t>(r, c) = static_cast<uint8_t>(state >> 24);
    }
  return m;
}

// images_background/<alphabet>/<characterNN>/<k>.png for `characters` characters per alphabet,
// 2 or 3 images each; returns the background classes. A hidden folder that prep must ignore.
std::vector<FixtureClass> make_omniglot(const std::string& root,
                                        const std::map<std::string, int>& characters,
                                        const std::map<std::string, int>& evaluation) {
  static int seed = 0;
  std::vector<FixtureClass> background;
  for (const auto& [folder, alphabets] :
       {std::pair{std::string("images_background"), characters},
        std::pair{std::string("images_evaluation"), evaluation}}) {
    for (const auto& [alphabet, count] : alphabets) {
      fs::create_directories(fs::path(root) / folder / alphabet);
      for (int c = 1; c <= count; ++c) {
        FixtureClass cls{alphabet, "character0" + std::to_string(c), {}};
        for (int k = 0; k < 2 + c % 2; ++k) {
          const std::string rel =
              folder + "/" + alphabet + "/" + cls.character + "/" + std::to_string(k) + ".png";
          fs::create_directories((fs::path(root) / rel).parent_path());
          BOOST_REQUIRE(cv::imwrite(root + "/" + rel, gray_pattern(seed++)));
          cls.paths.push_back(rel);
        }
        if (folder == "images_background") background.push_back(cls);
      }
    }
  }
  fs::create_directories(fs::path(root) / "images_background/.hidden/character01");
  BOOST_REQUIRE(
      cv::imwrite(root + "/images_background/.hidden/character01/0.png", gray_pattern(seed++)));
  return background;
}

// Five background alphabets whose byte order (upper case first) is not their insertion order:
// sorted, they are Beta_b, Delta, Gamma, Zeta, alpha.
const std::map<std::string, int> kAlphabets = {
    {"Zeta", 2}, {"alpha", 1}, {"Beta_b", 2}, {"Gamma", 3}, {"Delta", 1}};
const std::map<std::string, int> kEvaluation = {{"Eval_one", 2}, {"Eval_two", 1}};

nsl::PrepOptions fixture_options(const std::string& root, const std::string& out, int64_t n) {
  nsl::PrepOptions o;
  o.dataset = "omniglot";
  o.root = root;
  o.out = out;
  o.image_size = kFixtureSize;
  o.channels = 1;
  o.shards = 2;
  o.workers = 2;
  o.progress = false;
  o.val_alphabets = n;
  return o;
}

struct Stored {
  std::string class_name;
  std::vector<uint8_t> pixels;
};

// Every sample of a split: sample path -> (class name from the label, pixels).
std::map<std::string, Stored> read_split(const std::string& dir, const nsl::Manifest& m,
                                         const std::string& split) {
  std::map<std::string, Stored> out;
  const auto& s = m.splits.at(split);
  for (const auto& shard : s.shards) {
    const nsl::ShardContents c = nsl::read_shard(dir + "/" + shard.file);
    BOOST_REQUIRE_EQUAL(c.split, split);
    const auto images = c.images.contiguous();
    const uint8_t* data = images.data_ptr<uint8_t>();
    const size_t bytes = kFixtureSize * kFixtureSize;
    for (size_t i = 0; i < c.paths.size(); ++i) {
      const auto label = c.labels[static_cast<int64_t>(i)].item<int64_t>();
      Stored st{s.class_names.at(static_cast<size_t>(label)),
                std::vector<uint8_t>(data + i * bytes, data + (i + 1) * bytes)};
      BOOST_REQUIRE_MESSAGE(out.emplace(c.paths[i], st).second, "duplicate " + c.paths[i]);
    }
  }
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

template <class E>
void expect_prep_error(const nsl::PrepOptions& o, const std::vector<std::string>& parts) {
  try {
    nsl::prep_dataset(o);
    BOOST_ERROR("no error for --val-alphabets " + std::to_string(o.val_alphabets));
  } catch (const E& e) {
    for (const auto& part : parts)
      BOOST_CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos,
                          "'" + part + "' not in: " + e.what());
  }
  BOOST_CHECK(!fs::exists(o.out));
}

}  // namespace

BOOST_AUTO_TEST_CASE(val_alphabets_are_whole_alphabets_spread_over_the_sorted_list) {
  nsl::test::ScratchDir tmp("omniglot_val");
  const std::vector<FixtureClass> classes = make_omniglot(tmp / "root", kAlphabets, kEvaluation);
  // The rule floor(i * 5 / N), i < N, over Beta_b, Delta, Gamma, Zeta, alpha, worked out by hand.
  const std::map<int64_t, std::vector<std::string>> expected = {
      {1, {"Beta_b"}},
      {2, {"Beta_b", "Gamma"}},
      {3, {"Beta_b", "Delta", "Zeta"}},
      {4, {"Beta_b", "Delta", "Gamma", "Zeta"}}};

  const std::string out0 = tmp / "out0";
  const nsl::PrepResult r0 = nsl::prep_dataset(fixture_options(tmp / "root", out0, 0));
  const auto train = read_split(out0, r0.manifest, "train");
  BOOST_CHECK_EQUAL(train.size(), 24u);  // 9 classes of 2 or 3 images; .hidden left out

  for (const auto& [n, val_alphabets] : expected) {
    BOOST_TEST_CONTEXT("--val-alphabets " << n) {
      const std::string out = tmp / ("out" + std::to_string(n));
      const nsl::PrepResult r = nsl::prep_dataset(fixture_options(tmp / "root", out, n));
      BOOST_CHECK_EQUAL_COLLECTIONS(r.val_alphabets.begin(), r.val_alphabets.end(),
                                    val_alphabets.begin(), val_alphabets.end());
      BOOST_CHECK(r.manifest.source.at("val_alphabets") == nlohmann::json(val_alphabets));
      BOOST_REQUIRE_EQUAL(r.manifest.splits.size(), 4u);

      // Expected classes and images, from the fixture.
      std::vector<std::string> val_classes, tune_classes;
      std::set<std::string> val_paths, tune_paths;
      for (const auto& c : classes) {
        const bool in_val = std::count(val_alphabets.begin(), val_alphabets.end(), c.alphabet) != 0;
        (in_val ? val_classes : tune_classes).push_back(c.name());
        (in_val ? val_paths : tune_paths).insert(c.paths.begin(), c.paths.end());
      }
      std::sort(val_classes.begin(), val_classes.end());
      std::sort(tune_classes.begin(), tune_classes.end());
      const auto& val = r.manifest.splits.at("val");
      const auto& tune = r.manifest.splits.at("tune_train");
      BOOST_CHECK_EQUAL_COLLECTIONS(val.class_names.begin(), val.class_names.end(),
                                    val_classes.begin(), val_classes.end());
      BOOST_CHECK_EQUAL_COLLECTIONS(tune.class_names.begin(), tune.class_names.end(),
                                    tune_classes.begin(), tune_classes.end());
      BOOST_CHECK_EQUAL(val.num_images, static_cast<int64_t>(val_paths.size()));
      BOOST_CHECK_EQUAL(tune.num_images, static_cast<int64_t>(tune_paths.size()));

      // No overlap; together exactly train's classes and images.
      std::set<std::string> both(val.class_names.begin(), val.class_names.end());
      for (const auto& c : tune.class_names) BOOST_CHECK_MESSAGE(both.insert(c).second, c);
      const auto& tr = r.manifest.splits.at("train");
      BOOST_CHECK(both == std::set<std::string>(tr.class_names.begin(), tr.class_names.end()));
      BOOST_CHECK_EQUAL(val.num_images + tune.num_images, tr.num_images);
      BOOST_CHECK(tr.class_names == r0.manifest.splits.at("train").class_names);

      // Each stored sample: the right split, its own class, the same pixels as in train.
      for (const auto& [split, paths] : {std::pair{std::string("val"), val_paths},
                                         std::pair{std::string("tune_train"), tune_paths}}) {
        const auto stored = read_split(out, r.manifest, split);
        std::set<std::string> got;
        for (const auto& [path, st] : stored) {
          got.insert(path);
          const auto t = train.find(path);
          BOOST_REQUIRE_MESSAGE(t != train.end(), path);
          BOOST_CHECK_EQUAL(st.class_name, t->second.class_name);
          BOOST_CHECK_MESSAGE(st.pixels == t->second.pixels, path);
        }
        BOOST_CHECK(got == paths);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(val_alphabets_keep_train_and_test_byte_identical_and_are_deterministic) {
  nsl::test::ScratchDir tmp("omniglot_val_bytes");
  make_omniglot(tmp / "root", kAlphabets, kEvaluation);
  const std::string out0 = tmp / "out0", out2 = tmp / "out2", again = tmp / "again";
  nsl::PrepOptions o0 = fixture_options(tmp / "root", out0, 0);
  nsl::PrepOptions plain = o0;  // without touching the option at all
  plain.val_alphabets = nsl::PrepOptions{}.val_alphabets;
  plain.out = tmp / "plain";
  nsl::prep_dataset(o0);
  nsl::prep_dataset(plain);
  nsl::prep_dataset(fixture_options(tmp / "root", out2, 2));
  nsl::PrepOptions o2 = fixture_options(tmp / "root", again, 2);
  o2.workers = 3;
  nsl::prep_dataset(o2);

  // Without the flag: two splits, no val_alphabets in the manifest, the default's bytes.
  const std::vector<std::string> files0 = files_in(out0);
  const std::vector<std::string> want0 = {"manifest.json", "test-00000.h5", "test-00001.h5",
                                          "train-00000.h5", "train-00001.h5"};
  BOOST_CHECK_EQUAL_COLLECTIONS(files0.begin(), files0.end(), want0.begin(), want0.end());
  auto m0 = nlohmann::json::parse(file_bytes(out0 + "/manifest.json"));
  BOOST_CHECK(!m0.at("source").contains("val_alphabets"));
  for (const auto& f : files0)
    BOOST_CHECK_MESSAGE(file_bytes(out0 + "/" + f) == file_bytes(tmp / ("plain/" + f)), f);

  // With it: the same train and test shards, the manifest only gains val, tune_train and the
  // list of val alphabets.
  const std::vector<std::string> files2 = files_in(out2);
  BOOST_CHECK_EQUAL(files2.size(), 9u);
  for (const auto& f : files0)
    if (f != "manifest.json")
      BOOST_CHECK_MESSAGE(file_bytes(out0 + "/" + f) == file_bytes(out2 + "/" + f), f);
  auto m2 = nlohmann::json::parse(file_bytes(out2 + "/manifest.json"));
  BOOST_CHECK(m2.at("source").at("val_alphabets") ==
              nlohmann::json(std::vector<std::string>{"Beta_b", "Gamma"}));
  BOOST_CHECK(m2.at("splits").contains("val") && m2.at("splits").contains("tune_train"));
  m2.at("splits").erase("val");
  m2.at("splits").erase("tune_train");
  m2.at("source").erase("val_alphabets");
  BOOST_CHECK_EQUAL(m2.dump(1), m0.dump(1));

  // Deterministic: another run (another worker count) writes the same bytes.
  const std::vector<std::string> files_again = files_in(again);
  BOOST_CHECK_EQUAL_COLLECTIONS(files2.begin(), files2.end(), files_again.begin(),
                                files_again.end());
  for (const auto& f : files2)
    BOOST_CHECK_MESSAGE(file_bytes(out2 + "/" + f) == file_bytes(again + "/" + f), f);
}

BOOST_AUTO_TEST_CASE(bad_val_alphabets_are_errors) {
  nsl::test::ScratchDir tmp("omniglot_val_bad");
  make_omniglot(tmp / "root", kAlphabets, kEvaluation);
  const std::string root = tmp / "root", out = tmp / "out";
  expect_prep_error<nsl::ConfigError>(
      fixture_options(root, out, 5),
      {"--val-alphabets must be in 1..4", "has 5 alphabets), got 5"});
  expect_prep_error<nsl::ConfigError>(fixture_options(root, out, 30),
                                      {"--val-alphabets must be in 1..4", "got 30"});
  expect_prep_error<nsl::ConfigError>(fixture_options(root, out, -1),
                                      {"--val-alphabets must be 0 (no validation split) or more"});
  nsl::PrepOptions folder = fixture_options(root + "/images_background", out, 1);
  folder.dataset = "folder";
  expect_prep_error<nsl::ConfigError>(folder, {"--val-alphabets", "'folder'", "only omniglot"});
  BOOST_CHECK_THROW(nsl::validate_prep_options(folder), nsl::ConfigError);

  // One alphabet: nothing to hold out.
  make_omniglot(tmp / "one", {{"Only", 2}}, kEvaluation);
  expect_prep_error<nsl::ConfigError>(fixture_options(tmp / "one", out, 1),
                                      {"has only 1 alphabet"});
  // An alphabet without images chosen for val (index 0 of the sorted list): no empty split.
  make_omniglot(tmp / "empty", {{"Aaa_empty", 0}, {"Bbb", 1}, {"Ccc", 1}}, kEvaluation);
  fs::create_directories(fs::path(tmp / "empty") / "images_background/Aaa_empty/character01");
  expect_prep_error<nsl::DataError>(fixture_options(tmp / "empty", out, 1),
                                    {"split 'val' would hold no images"});
  const auto ok = nsl::prep_dataset(fixture_options(tmp / "empty", out, 2));  // Aaa_empty, Bbb
  BOOST_CHECK_EQUAL(ok.manifest.splits.at("val").num_classes, 1);
  BOOST_CHECK_EQUAL(ok.manifest.splits.at("tune_train").num_classes, 1);
}
