// nsl_dist prep on the real Omniglot folder (../shared/data/omniglot): split and class counts of
// the official background/evaluation protocol, and pixels against an independent decode. Passes
// with a loud SKIPPED message when the data is absent.
#define BOOST_TEST_MODULE data_prep_omniglot
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <iostream>
#include <set>

#include "data/manifest.h"
#include "data/prep/prep_runner.h"
#include "data/shard_reader.h"

#include "support/run_command.h"

namespace fs = std::filesystem;

namespace {

constexpr const char* kRoot = "/work/shared/data/omniglot";
constexpr int kSize = 28;

}  // namespace

BOOST_AUTO_TEST_CASE(omniglot_background_train_evaluation_test) {
  if (!fs::is_directory(kRoot)) {
    const std::string message = std::string("SKIPPED: ") + kRoot + " not found";
    BOOST_TEST_MESSAGE(message);
    std::cerr << "\n*** " << message << " ***\n\n";
    return;
  }
  nsl::test::ScratchDir tmp("omniglot");
  nsl::PrepOptions o;
  o.dataset = "omniglot";
  o.root = kRoot;
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
      cv::Mat gray = cv::imread(std::string(kRoot) + "/" + rel, cv::IMREAD_GRAYSCALE), small;
      cv::resize(gray, small, cv::Size(kSize, kSize), 0, 0, cv::INTER_AREA);
      const uint8_t* p = data + i * kSize * kSize;
      BOOST_CHECK_MESSAGE(std::equal(p, p + kSize * kSize, small.data), rel);
    }
  }
}
