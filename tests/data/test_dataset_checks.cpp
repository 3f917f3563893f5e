// check_training_data: labels, empty classes and single-image test classes, found before training.
#define BOOST_TEST_MODULE dataset_checks
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <hdf5.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "data/dataset_checks.h"
#include "data/dataset_writer.h"
#include "data/manifest.h"
#include "support/run_command.h"

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

template <typename F>
std::string data_error(F&& f) {
  try {
    f();
  } catch (const nsl::DataError& e) {
    return e.what();
  }
  BOOST_FAIL("expected nsl::DataError");
  return "";
}

// train: classes t0..t2 with 3 images each; test: `test_sizes[c]` images of class "q<c>".
std::string write_dataset(const nsl::test::ScratchDir& dir, const std::vector<int>& test_sizes) {
  const std::string out = dir / "ds";
  nsl::DatasetWriter w(out, "toy", 2, 2, 1, 2);
  const std::vector<uint8_t> px(4, 7);
  for (int i = 0; i < 9; ++i) w.add("train", "t" + std::to_string(i % 3), px.data(), "x");
  for (size_t c = 0; c < test_sizes.size(); ++c)
    for (int i = 0; i < test_sizes[c]; ++i) w.add("test", "q" + std::to_string(c), px.data(), "y");
  w.finalize();
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(clean_data_passes_without_warnings) {
  nsl::test::ScratchDir dir("nsl_dataset_checks");
  const std::string ds = write_dataset(dir, {2, 3, 2});
  BOOST_TEST(nsl::check_training_data(ds, nsl::read_manifest(ds), "train", "test").empty());
}

BOOST_AUTO_TEST_CASE(single_image_test_classes_are_reported) {
  nsl::test::ScratchDir dir("nsl_dataset_checks");
  const std::string ds = write_dataset(dir, {2, 1, 3, 1});
  const auto warnings = nsl::check_training_data(ds, nsl::read_manifest(ds), "train", "test");
  BOOST_REQUIRE_EQUAL(warnings.size(), 1u);
  BOOST_TEST_MESSAGE(warnings[0]);
  BOOST_TEST(contains(warnings[0], "2 of 4 classes have a single image"));
  BOOST_TEST(contains(warnings[0], "1 'q1'"));
  BOOST_TEST(contains(warnings[0], "3 'q3'"));
  BOOST_TEST(contains(warnings[0], "lone_queries"));

  nsl::test::ScratchDir dir2("nsl_dataset_checks");
  const std::string all_single = write_dataset(dir2, {1, 1, 1});
  const std::string msg = data_error([&] {
    nsl::check_training_data(all_single, nsl::read_manifest(all_single), "train", "test");
  });
  BOOST_TEST(contains(msg, "every one of its 3 classes has a single image"));
  BOOST_TEST(contains(msg, "split 'test'"));
}

BOOST_AUTO_TEST_CASE(empty_class_and_histogram_mismatch_are_errors) {
  nsl::test::ScratchDir dir("nsl_dataset_checks");
  const std::string ds = write_dataset(dir, {2, 2});
  nsl::Manifest m = nsl::read_manifest(ds);
  auto& train = m.splits.at("train");
  train.num_classes += 1;
  train.class_names.push_back("ghost");
  train.class_histogram.push_back(0);
  std::string msg = data_error([&] { nsl::check_training_data(ds, m, "train", "test"); });
  BOOST_TEST_MESSAGE(msg);
  BOOST_TEST(contains(msg, "1 of 4 classes have no image (3 'ghost')"));

  m = nsl::read_manifest(ds);
  m.splits.at("test").class_histogram = {3, 1};
  msg = data_error([&] { nsl::check_training_data(ds, m, "train", "test"); });
  BOOST_TEST(contains(msg, "class_histogram"));
  BOOST_TEST(contains(msg, "split 'test'"));
}

BOOST_AUTO_TEST_CASE(label_out_of_range_names_the_shard) {
  nsl::test::ScratchDir dir("nsl_dataset_checks");
  const std::string ds = write_dataset(dir, {2, 2});
  // Overwrite one label of train shard 1 with raw HDF5 calls.
  const std::string shard = ds + "/train-00001.h5";
  hid_t file = H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  BOOST_REQUIRE(file >= 0);
  hid_t labels = H5Dopen2(file, "labels", H5P_DEFAULT);
  BOOST_REQUIRE(labels >= 0);
  std::vector<int64_t> values(4);
  BOOST_REQUIRE(H5Dread(labels, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >=
                0);
  values[1] = 99;
  BOOST_REQUIRE(H5Dwrite(labels, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >=
                0);
  H5Dclose(labels);
  H5Fclose(file);
  const std::string msg =
      data_error([&] { nsl::check_training_data(ds, nsl::read_manifest(ds), "train", "test"); });
  BOOST_TEST_MESSAGE(msg);
  BOOST_TEST(contains(msg, shard));
  BOOST_TEST(contains(msg, "99"));
  BOOST_TEST(contains(msg, "outside [0, 3)"));
}
