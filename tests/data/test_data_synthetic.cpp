// The synthetic generator: spec validation, determinism, class-disjoint splits, image statistics.
#define BOOST_TEST_MODULE data_synthetic
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "common/error.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "data/synthetic.h"

#include "support/run_command.h"

namespace fs = std::filesystem;

namespace {

using TempDir = nsl::test::ScratchDir;

std::vector<std::string> checksums(const nsl::Manifest& m) {
  std::vector<std::string> out;
  for (const auto& [name, s] : m.splits)
    for (const auto& sh : s.shards) out.push_back(name + ":" + sh.checksum);
  return out;
}

double mean_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(double(a[i]) - double(b[i]));
  return sum / double(a.size());
}

nsl::SyntheticSpec small_spec(uint64_t seed) {
  nsl::SyntheticSpec s;
  s.classes = 10;
  s.images_per_class = 5;
  s.image_size = 24;
  s.shards = 3;
  s.seed = seed;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(spec_validation) {
  const nsl::SyntheticSpec good;
  BOOST_CHECK_NO_THROW(nsl::validate(good));
  BOOST_CHECK_GE(good.classes, 200);
  BOOST_CHECK_GE(good.images_per_class, 12);
  auto bad = good;
  bad.classes = 3;
  BOOST_CHECK_THROW(nsl::validate(bad), nsl::ConfigError);
  bad = good;
  bad.images_per_class = 1;
  BOOST_CHECK_THROW(nsl::validate(bad), nsl::ConfigError);
  bad = good;
  bad.image_size = 15;
  BOOST_CHECK_THROW(nsl::validate(bad), nsl::ConfigError);
  bad.image_size = 513;
  BOOST_CHECK_THROW(nsl::validate(bad), nsl::ConfigError);
  bad = good;
  bad.shards = 0;
  BOOST_CHECK_THROW(nsl::validate(bad), nsl::ConfigError);
  TempDir tmp;
  BOOST_CHECK_THROW(nsl::write_synthetic(bad, (tmp.path() / "x").string()), nsl::ConfigError);
  BOOST_CHECK(!fs::exists(tmp.path() / "x"));
}

BOOST_AUTO_TEST_CASE(same_seed_same_bytes_other_seed_other_bytes) {
  TempDir tmp;
  const std::string a = (tmp.path() / "a").string(), b = (tmp.path() / "b").string(),
                    c = (tmp.path() / "c").string();
  nsl::write_synthetic(small_spec(7), a);
  // A second apart: HDF5 object headers must not record modification times.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  nsl::write_synthetic(small_spec(7), b);
  nsl::write_synthetic(small_spec(8), c);
  const auto ma = nsl::read_manifest(a), mb = nsl::read_manifest(b), mc = nsl::read_manifest(c);
  BOOST_CHECK(checksums(ma) == checksums(mb));
  const auto ca = checksums(ma), cc = checksums(mc);
  for (size_t i = 0; i < ca.size(); ++i) BOOST_CHECK_NE(ca[i], cc[i]);
  nsl::verify_dataset(a, ma);
  // Rendering is a pure function of (seed, class, image), whatever the call order.
  const auto spec = small_spec(7);
  const auto late = nsl::render_synthetic_image(spec, 9, 4);
  const auto early = nsl::render_synthetic_image(spec, 0, 0);
  BOOST_CHECK(nsl::render_synthetic_image(spec, 9, 4) == late);
  BOOST_CHECK(nsl::render_synthetic_image(spec, 0, 0) == early);
}

BOOST_AUTO_TEST_CASE(default_dataset_layout_and_splits) {
  TempDir tmp;
  const std::string dir = (tmp.path() / "synth").string();
  const nsl::SyntheticSpec spec;  // the defaults: 300 classes x 16 images, 32x32, 8 shards
  nsl::write_synthetic(spec, dir);
  const nsl::Manifest m = nsl::read_manifest(dir);
  BOOST_CHECK_EQUAL(m.height, 32);
  BOOST_CHECK_EQUAL(m.width, 32);
  BOOST_CHECK_EQUAL(m.channels, 1);
  BOOST_REQUIRE_EQUAL(m.splits.size(), 2u);
  const auto& train = m.splits.at("train");
  const auto& test = m.splits.at("test");
  BOOST_CHECK_EQUAL(train.num_classes, 150);
  BOOST_CHECK_EQUAL(test.num_classes, 150);
  BOOST_CHECK_EQUAL(train.num_images, 150 * 16);
  BOOST_CHECK_EQUAL(test.num_images, 150 * 16);
  BOOST_CHECK_EQUAL(train.shards.size(), 8u);
  BOOST_CHECK_EQUAL(train.class_names.front(), "synth_0000");
  BOOST_CHECK_EQUAL(train.class_names.back(), "synth_0149");
  BOOST_CHECK_EQUAL(test.class_names.front(), "synth_0150");
  BOOST_CHECK_EQUAL(test.class_names.back(), "synth_0299");
  const std::set<std::string> tr(train.class_names.begin(), train.class_names.end());
  for (const auto& n : test.class_names) BOOST_CHECK(tr.count(n) == 0);
  for (int64_t h : train.class_histogram) BOOST_CHECK_EQUAL(h, 16);
  for (const auto& sh : train.shards) BOOST_CHECK_EQUAL(sh.count, 300);

  // Shard 0 of test: first sample is image 0 of class 150 (label 0), then image 8 of it.
  const nsl::ShardContents c = nsl::read_shard(dir + "/" + test.shards[0].file);
  BOOST_CHECK_EQUAL(c.paths[0], "synthetic/synth_0150/00");
  BOOST_CHECK_EQUAL(c.paths[1], "synthetic/synth_0150/08");
  BOOST_CHECK_EQUAL(c.paths[2], "synthetic/synth_0151/00");
  BOOST_CHECK_EQUAL(c.labels[2].item<int64_t>(), 1);
  const auto expected = nsl::render_synthetic_image(spec, 150, 8);
  const torch::Tensor img = c.images[1].flatten().contiguous();
  BOOST_CHECK(std::equal(expected.begin(), expected.end(), img.data_ptr<uint8_t>()));
}

BOOST_AUTO_TEST_CASE(images_vary_within_and_between_classes) {
  nsl::SyntheticSpec spec;
  const int64_t classes = 24, per_class = 8;
  std::vector<std::vector<std::vector<uint8_t>>> imgs(classes);
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t i = 0; i < per_class; ++i)
      imgs[c].push_back(nsl::render_synthetic_image(spec, c, i));

  // Pixel statistics: neither blank nor saturated, strokes present.
  for (int64_t c = 0; c < classes; ++c) {
    for (const auto& im : imgs[c]) {
      double sum = 0, sum2 = 0;
      int bright = 0;
      for (uint8_t v : im) {
        sum += v;
        sum2 += double(v) * v;
        bright += v > 150;
      }
      const double n = double(im.size());
      const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
      BOOST_CHECK_GT(mean, 10.0);
      BOOST_CHECK_LT(mean, 200.0);
      BOOST_CHECK_GT(sd, 15.0);
      BOOST_CHECK_GT(bright, int(0.03 * n));
      BOOST_CHECK_LT(bright, int(0.6 * n));
    }
  }
  // Images of one class all differ; images of different classes differ.
  double within = 0, between = 0;
  int nw = 0, nb = 0;
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t i = 0; i < per_class; ++i)
      for (int64_t j = i + 1; j < per_class; ++j) {
        BOOST_CHECK(imgs[c][i] != imgs[c][j]);
        within += mean_abs_diff(imgs[c][i], imgs[c][j]);
        ++nw;
      }
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t d = c + 1; d < classes; ++d) {
      BOOST_CHECK(imgs[c][0] != imgs[d][0]);
      between += mean_abs_diff(imgs[c][0], imgs[d][0]);
      ++nb;
    }
  within /= nw;
  between /= nb;
  BOOST_TEST_MESSAGE("mean |diff| within class " << within << ", between classes " << between);
  BOOST_CHECK_GT(within, 2.0);

  // The classes are learnable: leave-one-out nearest class mean (blurred pixels) beats chance
  // (1/24) by a wide margin.
  const int64_t size = spec.image_size;
  const auto blur = [&](const std::vector<uint8_t>& im) {
    std::vector<double> out(im.size(), 0.0);
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) {
        double s = 0;
        int n = 0;
        for (int64_t dy = -2; dy <= 2; ++dy)
          for (int64_t dx = -2; dx <= 2; ++dx) {
            const int64_t yy = y + dy, xx = x + dx;
            if (yy < 0 || xx < 0 || yy >= size || xx >= size) continue;
            s += im[yy * size + xx];
            ++n;
          }
        out[y * size + x] = s / n;
      }
    return out;
  };
  std::vector<std::vector<std::vector<double>>> b(classes);
  for (int64_t c = 0; c < classes; ++c)
    for (const auto& im : imgs[c]) b[c].push_back(blur(im));
  int correct = 0, total = 0;
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t i = 0; i < per_class; ++i) {
      int64_t best = -1;
      double best_d = 1e300;
      for (int64_t d = 0; d < classes; ++d) {
        std::vector<double> mean(b[d][0].size(), 0.0);
        int n = 0;
        for (int64_t j = 0; j < per_class; ++j) {
          if (d == c && j == i) continue;
          for (size_t k = 0; k < mean.size(); ++k) mean[k] += b[d][j][k];
          ++n;
        }
        double dist = 0;
        for (size_t k = 0; k < mean.size(); ++k) {
          const double e = mean[k] / n - b[c][i][k];
          dist += e * e;
        }
        if (dist < best_d) best_d = dist, best = d;
      }
      correct += best == c;
      ++total;
    }
  const double accuracy = double(correct) / total;
  BOOST_TEST_MESSAGE("nearest class mean accuracy " << accuracy);
  BOOST_CHECK_GT(accuracy, 0.25);
}
