// PrefetchLoader, the index samplers and the augmentation: batches do not depend on worker count,
// queue capacity or timing; they equal a synchronous reference built from read_shard(); crops,
// resizes and flips match naive double-precision references; failures surface from next_batch()
// instead of hanging; destruction mid-epoch returns promptly.
#define BOOST_TEST_MODULE prefetch_loader
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/seed.h"
#include "common/shuffle.h"
#include "config/config.h"
#include "data/augment.h"
#include "data/index_sampler.h"
#include "data/manifest.h"
#include "data/prefetch_loader.h"
#include "data/shard_batch_source.h"
#include "data/shard_pk_source.h"
#include "data/shard_reader.h"
#include "data/synthetic.h"
#include "data/train_source.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Train split: 6 classes x 11 images = 66 images in 4 shards of 17, 17, 16, 16; 16 x 16 gray.
struct Dataset {
  fs::path root;
  std::string dir;
  nsl::Manifest manifest;
  std::vector<int64_t> counts;
  std::vector<int64_t> labels;        // per global index
  std::vector<torch::Tensor> images;  // per global index, uint8 [H, W, C]
  Dataset() {
    root = fs::temp_directory_path() / ("nsl_test_prefetch-" + std::to_string(::getpid()));
    fs::remove_all(root);
    dir = (root / "synth").string();
    nsl::SyntheticSpec spec;
    spec.classes = 12;
    spec.images_per_class = 11;
    spec.image_size = 16;
    spec.shards = 4;
    spec.seed = 3;
    nsl::write_synthetic(spec, dir);
    manifest = nsl::read_manifest(dir);
    for (const auto& sh : manifest.splits.at("train").shards) {
      const nsl::ShardContents c = nsl::read_shard(dir + "/" + sh.file);
      counts.push_back(c.images.size(0));
      for (int64_t i = 0; i < c.images.size(0); ++i) {
        labels.push_back(c.labels[i].item<int64_t>());
        images.push_back(c.images[i].contiguous());
      }
    }
  }
  ~Dataset() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

Dataset& data() {
  static Dataset d;
  return d;
}

nsl::LoaderOptions options(int64_t workers, int64_t capacity, bool augment) {
  nsl::LoaderOptions o;
  o.workers = workers;
  o.prefetch_batches = capacity;
  o.augment.enabled = augment;
  return o;
}

std::shared_ptr<const nsl::IndexSampler> uniform(int64_t rank, int64_t world, int64_t batch,
                                                 uint64_t seed) {
  std::vector<int64_t> owned;
  for (int64_t s = rank; s < 4; s += world) owned.push_back(s);
  return std::make_shared<nsl::UniformShardSampler>(data().counts, owned, batch, seed);
}

std::shared_ptr<const nsl::IndexSampler> pk(int64_t rank, int64_t world, uint64_t seed) {
  return std::make_shared<nsl::PKIndexSampler>(
      std::make_shared<nsl::PKSampler>(data().labels, 4, 3, seed), rank, world);
}

std::unique_ptr<nsl::PrefetchLoader> loader(std::shared_ptr<const nsl::IndexSampler> sampler,
                                            uint64_t seed, const nsl::LoaderOptions& o) {
  return std::make_unique<nsl::PrefetchLoader>(
      std::move(sampler), nsl::manifest_shard_set(data().dir, data().manifest, "train"), seed, o);
}

// Every batch of `epochs` epochs.
std::vector<nsl::Batch> drain(nsl::PrefetchLoader& l, std::vector<int64_t> epochs) {
  std::vector<nsl::Batch> out;
  for (int64_t e : epochs) {
    l.start_epoch(e);
    for (int64_t t = 0; t < l.steps_per_epoch(); ++t) out.push_back(l.next_batch());
  }
  return out;
}

bool same(const nsl::Batch& a, const nsl::Batch& b) {
  return torch::equal(a.images, b.images) && torch::equal(a.labels, b.labels) &&
         torch::equal(a.indices, b.indices);
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.contiguous(), y = b.contiguous();
  return x.sizes() == y.sizes() && x.dtype() == y.dtype() &&
         (x.nbytes() == 0 ||
          std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<size_t>(x.nbytes())) == 0);
}

// The synchronous reference of a step: the sampler's indices, the images from read_shard().
nsl::Batch reference(const nsl::IndexSampler& sampler, int64_t epoch, int64_t step) {
  const std::vector<int64_t> idx = sampler.local_indices(epoch, step);
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (int64_t g : idx) {
    images.push_back(data().images[static_cast<size_t>(g)]);
    labels.push_back(data().labels[static_cast<size_t>(g)]);
  }
  nsl::Batch b;
  b.images = images.empty() ? torch::empty({0, 1, 16, 16}, torch::kFloat32)
                            : nsl::normalise_images(torch::stack(images));
  b.labels = torch::tensor(labels, torch::kInt64);
  b.indices = torch::tensor(idx, torch::kInt64);
  return b;
}

// Value of the tent filter at distance d: the bilinear weight of a source pixel.
double tent(double d) { return std::max(0.0, 1.0 - std::abs(d)); }

// Naive double reference of crop -> bilinear resize (half-pixel centres, source coordinate
// clamped to [0, L - 1]) -> optional flip -> normalisation, as a sum over ALL source pixels.
std::vector<double> naive_resize(const std::vector<double>& img, int64_t width, int64_t channels,
                                 nsl::CropBox box, int64_t rh, int64_t rw, int64_t top,
                                 int64_t left, int64_t oh, int64_t ow, bool flip) {
  std::vector<double> out(static_cast<size_t>(channels * oh * ow));
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t xr = flip ? left + ow - 1 - x : left + x;
        const double sy = std::clamp((top + y + 0.5) * box.height / double(rh) - 0.5, 0.0,
                                     double(box.height - 1));
        const double sx =
            std::clamp((xr + 0.5) * box.width / double(rw) - 0.5, 0.0, double(box.width - 1));
        double v = 0;
        for (int64_t i = 0; i < box.height; ++i)
          for (int64_t j = 0; j < box.width; ++j)
            v += tent(sy - i) * tent(sx - j) *
                 img[static_cast<size_t>(((box.top + i) * width + box.left + j) * channels + c)];
        out[static_cast<size_t>((c * oh + y) * ow + x)] = (v / 255.0 - 0.5) / 0.5;
      }
  return out;
}

double max_diff(const std::vector<double>& ref, const float* got) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(ref[i] - got[i]));
  return worst;
}

// A small known image, uint8 H x W x C.
std::vector<uint8_t> known_image(int64_t h, int64_t w, int64_t c) {
  std::vector<uint8_t> img(static_cast<size_t>(h * w * c));
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  return img;
}

// Runs f on another thread; aborts the program (a test failure) if it takes over 60 s, so a hang
// in the loader fails the test instead of blocking it.
template <typename F>
auto with_timeout(F f) {
  auto fut = std::async(std::launch::async, std::move(f));
  if (fut.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: the loader did not answer within 60 s\n");
    std::abort();
  }
  return fut.get();
}

}  // namespace

BOOST_AUTO_TEST_CASE(normalise_chw_is_bitwise_normalise_images) {
  torch::Tensor all = torch::arange(256, torch::kInt64).to(torch::kUInt8).reshape({1, 16, 16, 1});
  std::vector<float> out(256);
  nsl::normalise_chw(all.data_ptr<uint8_t>(), 16, 16, 1, out.data());
  BOOST_CHECK(bitwise_equal(torch::from_blob(out.data(), {1, 1, 16, 16}, torch::kFloat32),
                            nsl::normalise_images(all)));
  // HWC -> CHW with 3 channels.
  torch::Tensor rgb =
      torch::arange(2 * 3 * 3, torch::kInt64).to(torch::kUInt8).reshape({1, 2, 3, 3});
  std::vector<float> o3(18);
  nsl::normalise_chw(rgb.data_ptr<uint8_t>(), 2, 3, 3, o3.data());
  BOOST_CHECK(bitwise_equal(torch::from_blob(o3.data(), {1, 3, 2, 3}, torch::kFloat32),
                            nsl::normalise_images(rgb)));
}

// The uniform sampler, re-derived here from its definition: per-shard permutations seeded by
// (seed, epoch, shard), quotas B/S (+1 for the first B%S shards), owned shards in order.
BOOST_AUTO_TEST_CASE(uniform_sampler_follows_its_definition) {
  const std::vector<int64_t> offsets = {0, 17, 34, 50};
  for (int64_t batch : {2, 10, 12}) {
    for (int64_t world : {1, 2, 3, 4}) {
      for (int64_t e : {0, 3}) {
        std::set<int64_t> seen;
        for (int64_t r = 0; r < world; ++r) {
          const auto s = uniform(r, world, batch, 7);
          BOOST_CHECK_EQUAL(s->steps_per_epoch(),
                            batch == 2 ? 17 : 5);  // min(count_s / q_s) over q_s > 0
          for (int64_t t = 0; t < s->steps_per_epoch(); ++t) {
            std::vector<int64_t> expected;
            for (int64_t sh = r; sh < 4; sh += world) {
              const int64_t q = batch / 4 + (sh < batch % 4 ? 1 : 0);
              const auto perm = nsl::seeded_permutation(
                  data().counts[static_cast<size_t>(sh)],
                  nsl::derive_seed({7, static_cast<uint64_t>(e), static_cast<uint64_t>(sh)}));
              for (int64_t k = t * q; k < (t + 1) * q; ++k)
                expected.push_back(offsets[static_cast<size_t>(sh)] + perm[static_cast<size_t>(k)]);
            }
            const auto got = s->local_indices(e, t);
            BOOST_CHECK(got == expected);
            for (int64_t g : got) BOOST_CHECK(seen.insert(g).second);  // once per epoch
          }
        }
        BOOST_CHECK_EQUAL(static_cast<int64_t>(seen.size()),
                          uniform(0, 1, batch, 7)->steps_per_epoch() * batch);
      }
    }
  }
  BOOST_CHECK_THROW(uniform(0, 1, 70, 7), std::invalid_argument);
  BOOST_CHECK_THROW(uniform(0, 1, 12, 7)->local_indices(0, 5), std::out_of_range);
  // P x K: ranks' parts concatenate to PKSampler's global batch.
  nsl::PKSampler whole(data().labels, 4, 3, 5);
  for (int64_t t = 0; t < whole.steps_per_epoch(); ++t) {
    std::vector<int64_t> joined;
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t g : pk(r, 5, 5)->local_indices(2, t)) joined.push_back(g);
    BOOST_CHECK(joined == whole.global_batch(2, t));
  }
}

BOOST_AUTO_TEST_CASE(batches_equal_synchronous_reference_for_every_worker_count_and_capacity) {
  struct Case {
    std::string name;
    std::function<std::shared_ptr<const nsl::IndexSampler>()> sampler;
  };
  const std::vector<Case> cases = {
      {"uniform w1 B12", [] { return uniform(0, 1, 12, 9); }},
      {"uniform rank 1 of 2 B10", [] { return uniform(1, 2, 10, 9); }},
      {"uniform rank 2 of 4 B2 (empty)", [] { return uniform(2, 4, 2, 9); }},
      {"pk rank 0 of 1", [] { return pk(0, 1, 9); }},
      {"pk rank 1 of 2", [] { return pk(1, 2, 9); }},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const auto sampler = c.sampler();
      for (bool augment : {false, true}) {
        auto base = loader(sampler, 9, options(1, 1, augment));
        const auto expected = drain(*base, {0, 1});
        for (const auto& [w, q] :
             std::vector<std::pair<int64_t, int64_t>>{{2, 4}, {4, 2}, {4, 1}, {1, 8}, {2, 16}}) {
          auto l = loader(sampler, 9, options(w, q, augment));
          const auto got = drain(*l, {0, 1});
          BOOST_REQUIRE_EQUAL(got.size(), expected.size());
          for (size_t i = 0; i < got.size(); ++i)
            BOOST_CHECK_MESSAGE(same(got[i], expected[i]), "augment " << augment << " workers " << w
                                                                      << " capacity " << q
                                                                      << " batch " << i);
        }
        if (augment) continue;
        size_t i = 0;
        for (int64_t e : {0, 1})
          for (int64_t t = 0; t < sampler->steps_per_epoch(); ++t, ++i) {
            const nsl::Batch ref = reference(*sampler, e, t);
            BOOST_CHECK(bitwise_equal(expected[i].images, ref.images));
            BOOST_CHECK(torch::equal(expected[i].labels, ref.labels));
            BOOST_CHECK(torch::equal(expected[i].indices, ref.indices));
          }
      }
    }
  }
}

// An augmented sample depends on (seed, epoch, global index) only: not on the rank, the row, the
// step, the sampler or the worker count.
BOOST_AUTO_TEST_CASE(augmentation_is_keyed_by_seed_epoch_and_index) {
  constexpr int64_t h = 16, w = 16, c = 1;
  nsl::AugmentOptions aug;
  aug.enabled = true;
  std::map<std::pair<int64_t, int64_t>, torch::Tensor> by_epoch_index;
  const auto check = [&](const nsl::Batch& b, int64_t epoch, uint64_t seed) {
    for (int64_t i = 0; i < b.indices.numel(); ++i) {
      const int64_t g = b.indices[i].item<int64_t>();
      std::vector<float> expected(static_cast<size_t>(h * w * c));
      nsl::augment_image(data().images[static_cast<size_t>(g)].data_ptr<uint8_t>(), h, w, c,
                         nsl::draw_augment(aug, h, w, nsl::augment_seed(seed, epoch, g)),
                         expected.data());
      BOOST_CHECK(bitwise_equal(b.images[i],
                                torch::from_blob(expected.data(), {c, h, w}, torch::kFloat32)));
      if (seed == 4) by_epoch_index[{epoch, g}] = b.images[i];
    }
  };
  for (int64_t world : {1, 2}) {
    for (int64_t r = 0; r < world; ++r) {
      for (const auto& s : {uniform(r, world, 12, 4), pk(r, world, 4)}) {
        auto l = loader(s, 4, options(3, 2, true));
        for (int64_t e : {1, 2}) {
          l->start_epoch(e);
          for (int64_t t = 0; t < l->steps_per_epoch(); ++t) check(l->next_batch(), e, 4);
        }
      }
    }
  }
  // Another seed or another epoch transforms the same image differently.
  auto other = loader(uniform(0, 1, 12, 4), 5, options(2, 2, true));
  other->start_epoch(1);
  const nsl::Batch b = other->next_batch();
  check(b, 1, 5);
  int64_t differ_seed = 0, differ_epoch = 0, compared = 0;
  for (int64_t i = 0; i < b.indices.numel(); ++i) {
    const int64_t g = b.indices[i].item<int64_t>();
    const auto e1 = by_epoch_index.find({1, g}), e2 = by_epoch_index.find({2, g});
    if (e1 == by_epoch_index.end() || e2 == by_epoch_index.end()) continue;
    ++compared;
    differ_seed += !torch::equal(e1->second, b.images[i]);
    differ_epoch += !torch::equal(e1->second, e2->second);
  }
  BOOST_CHECK_GT(compared, 6);
  BOOST_CHECK_GE(differ_seed, compared - 1);
  BOOST_CHECK_GE(differ_epoch, compared - 1);
}

BOOST_AUTO_TEST_CASE(draw_augment_follows_random_resized_crop) {
  nsl::AugmentOptions o;
  o.enabled = true;
  int64_t flips = 0;
  const int64_t n = 4000;
  for (int64_t k = 0; k < n; ++k) {
    const nsl::SampleAugment a = nsl::draw_augment(o, 32, 24, nsl::derive_seed({1, uint64_t(k)}));
    const nsl::CropBox& b = a.box;
    BOOST_REQUIRE(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1);
    BOOST_REQUIRE(b.top + b.height <= 32 && b.left + b.width <= 24);
    // Area and aspect within the ranges, up to the rounding of each side to whole pixels.
    const double area = double(b.height * b.width) / (32 * 24);
    BOOST_CHECK(area > 0.5 * 0.85 && area <= 1.0);
    const double ratio = double(b.width) / b.height;
    BOOST_CHECK(ratio > 0.75 * 0.9 && ratio < 4.0 / 3.0 * 1.1);
    flips += a.flip;
    // The flip setting never changes the crop.
    nsl::AugmentOptions no_flip = o;
    no_flip.flip = false;
    const nsl::SampleAugment c =
        nsl::draw_augment(no_flip, 32, 24, nsl::derive_seed({1, uint64_t(k)}));
    BOOST_CHECK(!c.flip);
    BOOST_CHECK(c.box.top == b.top && c.box.left == b.left && c.box.height == b.height &&
                c.box.width == b.width);
  }
  BOOST_CHECK(flips > n * 0.45 && flips < n * 0.55);
  // A range that no crop can satisfy falls back to the central crop clamped to the ratio range.
  nsl::AugmentOptions wide = o;
  wide.ratio_min = 3.0;
  wide.ratio_max = 4.0;
  wide.scale_min = wide.scale_max = 1.0;
  const nsl::CropBox fb = nsl::draw_augment(wide, 20, 10, 3).box;  // width 10 / height 20 < 3
  BOOST_CHECK_EQUAL(fb.width, 10);
  BOOST_CHECK_EQUAL(fb.height, 3);  // round(10 / 3)
  BOOST_CHECK_EQUAL(fb.top, (20 - 3) / 2);
  BOOST_CHECK_EQUAL(fb.left, 0);
}

BOOST_AUTO_TEST_CASE(crop_resize_flip_against_references) {
  // Hand-computed: a 1 x 2 image [0, 255] widened to 1 x 4. Source x = (d + 0.5) / 2 - 0.5 =
  // -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel): 0, 63.75, 191.25, 255.
  const uint8_t two[2] = {0, 255};
  float out[4];
  nsl::ResizeWindow win;
  win.resized_h = win.out_h = 1;
  win.resized_w = win.out_w = 4;
  nsl::resize_window_normalised(two, 1, 2, 1, {0, 0, 1, 2}, win, out);
  const float expected[4] = {-1.0f, -0.5f, 0.5f, 1.0f};
  for (int i = 0; i < 4; ++i) BOOST_CHECK_CLOSE(out[i] + 2.0f, expected[i] + 2.0f, 1e-4);
  win.flip = true;
  nsl::resize_window_normalised(two, 1, 2, 1, {0, 0, 1, 2}, win, out);
  for (int i = 0; i < 4; ++i) BOOST_CHECK_CLOSE(out[i] + 2.0f, expected[3 - i] + 2.0f, 1e-4);

  // A 5 x 7 x 2 image, several crops, up- and down-sampled, flipped or not: against the naive
  // tent-filter sum and against torch's interpolate on the crop.
  const int64_t h = 5, w = 7, c = 2;
  const std::vector<uint8_t> img = known_image(h, w, c);
  const std::vector<double> imgd(img.begin(), img.end());
  const torch::Tensor chw =
      torch::from_blob(const_cast<uint8_t*>(img.data()), {h, w, c}, torch::kUInt8)
          .permute({2, 0, 1})
          .to(torch::kFloat64);
  for (const nsl::CropBox box : {nsl::CropBox{1, 2, 3, 4}, nsl::CropBox{0, 0, 5, 7},
                                 nsl::CropBox{2, 1, 2, 5}, nsl::CropBox{4, 6, 1, 1}}) {
    for (bool flip : {false, true}) {
      for (const auto& [oh, ow] :
           std::vector<std::pair<int64_t, int64_t>>{{5, 7}, {6, 9}, {2, 3}}) {
        nsl::SampleAugment a;
        a.box = box;
        a.flip = flip;
        std::vector<float> got(static_cast<size_t>(c * oh * ow));
        nsl::ResizeWindow rw;
        rw.resized_h = rw.out_h = oh;
        rw.resized_w = rw.out_w = ow;
        rw.flip = flip;
        nsl::resize_window_normalised(img.data(), h, w, c, box, rw, got.data());
        BOOST_CHECK_LT(
            max_diff(naive_resize(imgd, w, c, box, oh, ow, 0, 0, oh, ow, flip), got.data()), 1e-5);
        namespace F = torch::nn::functional;
        torch::Tensor crop = chw.slice(1, box.top, box.top + box.height)
                                 .slice(2, box.left, box.left + box.width)
                                 .unsqueeze(0);
        torch::Tensor ref = F::interpolate(crop, F::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{oh, ow})
                                                     .mode(torch::kBilinear)
                                                     .align_corners(false))[0];
        if (flip) ref = ref.flip({2});
        ref = (ref / 255.0 - 0.5) / 0.5;
        const torch::Tensor g =
            torch::from_blob(got.data(), {c, oh, ow}, torch::kFloat32).to(torch::kFloat64);
        BOOST_CHECK_LT((g - ref).abs().max().item<double>(), 1e-5);
      }
    }
  }
  // The training transform resizes back to the stored size; a full box without flip is the image.
  std::vector<float> aug(static_cast<size_t>(h * w * c)), plain(aug.size());
  nsl::augment_image(img.data(), h, w, c, {{0, 0, h, w}, false}, aug.data());
  nsl::normalise_chw(img.data(), h, w, c, plain.data());
  for (size_t i = 0; i < aug.size(); ++i) BOOST_CHECK_CLOSE(aug[i] + 2.0f, plain[i] + 2.0f, 1e-4);
  nsl::augment_image(img.data(), h, w, c, {{1, 2, 3, 4}, true}, aug.data());
  BOOST_CHECK_LT(
      max_diff(naive_resize(imgd, w, c, {1, 2, 3, 4}, h, w, 0, 0, h, w, true), aug.data()), 1e-5);
}

BOOST_AUTO_TEST_CASE(eval_resize_center_crop_against_references) {
  struct Case {
    int64_t h, w, out;
    double ratio;
    int64_t rh, rw, top, left;  // expected resize and crop offsets, worked out by hand
  };
  const std::vector<Case> cases = {
      {16, 16, 12, 1.14, 14, 14, 1, 1},  // S = round(13.68) = 14, offset round(1.0)
      {10, 14, 8, 1.25, 10, 14, 1, 3},   // S = 10: no resize, crop (1, 3)
      {14, 10, 8, 1.0, 11, 8, 2, 0},     // S = 8: 8 x int(8 * 14 / 10 = 11.2); round(1.5) = 2
      {9, 12, 6, 1.5, 9, 12, 2, 3},      // S = 9: no resize; round(1.5) = 2, round(3.0) = 3
      {7, 7, 7, 1.0, 7, 7, 0, 0},        // identity
  };
  for (const Case& k : cases) {
    BOOST_TEST_CONTEXT(k.h << "x" << k.w << " -> " << k.out << " ratio " << k.ratio) {
      const int64_t c = 3, n = 2;
      std::vector<uint8_t> img = known_image(n * k.h, k.w, c);
      const torch::Tensor t = torch::from_blob(img.data(), {n, k.h, k.w, c}, torch::kUInt8).clone();
      const torch::Tensor got = nsl::eval_resize_center_crop(t, k.out, k.ratio);
      BOOST_REQUIRE(got.sizes() == torch::IntArrayRef({n, c, k.out, k.out}));
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<double> imgd(img.begin() + i * k.h * k.w * c,
                                       img.begin() + (i + 1) * k.h * k.w * c);
        const auto ref = naive_resize(imgd, k.w, c, {0, 0, k.h, k.w}, k.rh, k.rw, k.top, k.left,
                                      k.out, k.out, false);
        BOOST_CHECK_LT(max_diff(ref, got[i].contiguous().data_ptr<float>()), 1e-5);
      }
      if (k.h == k.out && k.w == k.out) BOOST_CHECK(bitwise_equal(got, nsl::normalise_images(t)));
    }
  }
  BOOST_CHECK_THROW(nsl::eval_resize_center_crop(torch::zeros({1, 8, 8, 1}, torch::kUInt8), 8, 0.9),
                    std::invalid_argument);
  // ShardEvalSource applies it to its slices.
  nsl::ShardEvalSource plain(data().dir, data().manifest, "test", 0, 1);
  nsl::ShardEvalSource cropped(data().dir, data().manifest, "test", 0, 1, {12, 1.14});
  const nsl::Batch a = cropped.slice(3, 9);
  BOOST_CHECK(a.images.sizes() == torch::IntArrayRef({6, 1, 12, 12}));
  BOOST_CHECK(torch::equal(a.indices, plain.slice(3, 9).indices));
  const torch::Tensor raw =
      ((plain.slice(3, 9).images * 0.5 + 0.5) * 255.0).round().to(torch::kUInt8);
  BOOST_CHECK_LT(
      (nsl::eval_resize_center_crop(raw.permute({0, 2, 3, 1}).contiguous(), 12, 1.14) - a.images)
          .abs()
          .max()
          .item<float>(),
      1e-6);
}

BOOST_AUTO_TEST_CASE(start_epoch_mid_epoch_and_misuse) {
  const auto sampler = uniform(0, 1, 12, 2);
  auto fresh = loader(sampler, 2, options(2, 3, true));
  const auto e1 = drain(*fresh, {1});
  const auto e0 = drain(*fresh, {0});
  auto l = loader(sampler, 2, options(2, 3, true));
  BOOST_CHECK_THROW(l->next_batch(), std::logic_error);
  BOOST_CHECK_THROW(l->start_epoch(-1), std::invalid_argument);
  l->start_epoch(0);
  l->next_batch();
  l->next_batch();
  l->start_epoch(1);  // discards what was read ahead of epoch 0
  for (const auto& b : e1) BOOST_CHECK(same(l->next_batch(), b));
  BOOST_CHECK_THROW(l->next_batch(), std::logic_error);
  l->start_epoch(0);
  BOOST_CHECK(same(l->next_batch(), e0[0]));  // replays
  BOOST_CHECK_THROW(loader(sampler, 2, options(0, 3, false)), std::invalid_argument);
  BOOST_CHECK_THROW(loader(sampler, 2, options(1, 0, false)), std::invalid_argument);
  nsl::LoaderOptions bad = options(1, 1, true);
  bad.augment.scale_min = 0.0;
  BOOST_CHECK_THROW(loader(sampler, 2, bad), std::invalid_argument);
}

namespace {
// Fails at one step: checks that the batches before it arrive and the error comes at its step.
class FailingSampler : public nsl::IndexSampler {
 public:
  explicit FailingSampler(std::shared_ptr<const nsl::IndexSampler> inner) : inner_(inner) {}
  int64_t global_batch_size() const override { return inner_->global_batch_size(); }
  int64_t steps_per_epoch() const override { return inner_->steps_per_epoch(); }
  std::vector<int64_t> local_indices(int64_t epoch, int64_t step) const override {
    if (epoch == 0 && step == 2) throw nsl::DataError("sampler failure at step 2");
    return inner_->local_indices(epoch, step);
  }

 private:
  std::shared_ptr<const nsl::IndexSampler> inner_;
};
}  // namespace

// What one next_batch() did: "ok", "DataError", or "other".
std::string outcome(nsl::PrefetchLoader& l) {
  try {
    l.next_batch();
    return "ok";
  } catch (const nsl::DataError&) {
    return "DataError";
  } catch (...) {
    return "other";
  }
}

BOOST_AUTO_TEST_CASE(reader_failure_surfaces_at_its_step) {
  // Boost.Test assertions stay on this thread; the loader is driven from the guarded one.
  const std::vector<std::string> got = with_timeout([] {
    auto l =
        loader(std::make_shared<FailingSampler>(uniform(0, 1, 12, 2)), 2, options(2, 4, false));
    std::vector<std::string> out;
    l->start_epoch(0);
    for (int k = 0; k < 4; ++k) out.push_back(outcome(*l));  // the last: stays failed
    l->start_epoch(1);                                       // a new epoch starts clean
    for (int64_t t = 0; t < l->steps_per_epoch(); ++t) out.push_back(outcome(*l));
    return out;
  });
  const std::vector<std::string> expected = {"ok", "ok", "DataError", "DataError", "ok",
                                             "ok", "ok", "ok",        "ok"};
  BOOST_CHECK_EQUAL_COLLECTIONS(got.begin(), got.end(), expected.begin(), expected.end());
}

BOOST_AUTO_TEST_CASE(truncated_shard_throws_data_error_naming_the_file) {
  const fs::path dir = data().root / "truncated";
  nsl::SyntheticSpec spec;
  spec.classes = 8;
  spec.images_per_class = 8;
  spec.image_size = 16;
  spec.shards = 2;
  spec.seed = 4;
  nsl::write_synthetic(spec, dir.string());
  const nsl::Manifest m = nsl::read_manifest(dir.string());
  nsl::ShardSet shards = nsl::manifest_shard_set(dir.string(), m, "train");
  const std::string victim = m.splits.at("train").shards[1].file;
  const fs::path file = dir / victim;
  fs::resize_file(file, fs::file_size(file) / 2);
  for (int64_t workers : {1, 3}) {
    const std::string msg = with_timeout([&] {
      std::vector<int64_t> owned = {0, 1};
      nsl::PrefetchLoader l(std::make_shared<nsl::UniformShardSampler>(shards.counts, owned, 8, 1),
                            shards, 1, options(workers, 2, true));
      l.start_epoch(0);
      try {
        l.next_batch();
      } catch (const nsl::DataError& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    });
    BOOST_TEST_MESSAGE(msg);
    BOOST_CHECK(msg.find(victim) != std::string::npos);
  }
  // The sources check their shards when they are built.
  BOOST_CHECK_THROW(nsl::ShardTrainSource(dir.string(), m, "train", 1, 2, 8, 1), nsl::DataError);
  BOOST_CHECK_THROW(nsl::ShardPKSource(dir.string(), m, "train", 0, 1, 8, 2, 1), nsl::DataError);
}

BOOST_AUTO_TEST_CASE(destruction_mid_epoch_returns_promptly) {
  for (int64_t workers : {1, 4}) {
    const double seconds = with_timeout([&] {
      const auto sampler = pk(0, 1, 3);
      auto before_start = loader(sampler, 3, options(workers, 2, true));
      auto l = loader(sampler, 3, options(workers, 2, true));
      l->start_epoch(0);
      l->next_batch();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the window fills up
      const auto t0 = Clock::now();
      l.reset();
      before_start.reset();
      return std::chrono::duration<double>(Clock::now() - t0).count();
    });
    BOOST_CHECK_LT(seconds, 5.0);
  }
}

// Through the configuration: augmented sources keep the sampling, transform the images, and the
// union over 2 ranks still equals one process's batch, image by image.
BOOST_AUTO_TEST_CASE(configured_sources_with_augmentation) {
  for (const std::string sampler : {"uniform", "pk"}) {
    const std::string yaml = "data: {path: " + data().dir +
                             ", augment: true, crop_scale: [0.6, 0.9], loader_workers: 2, "
                             "prefetch_batches: 3}\ntrain: {batch_size: 12, sampler: " +
                             sampler + ", pk_images_per_class: 3}\n";
    const nsl::Config c = nsl::parse_config(yaml);
    nsl::Config plain_cfg = c;
    plain_cfg.data.augment = false;
    const auto plain = nsl::make_train_source(plain_cfg, data().manifest, 0, 1);
    const auto one = nsl::make_train_source(c, data().manifest, 0, 1);
    const auto r0 = nsl::make_train_source(c, data().manifest, 0, 2);
    const auto r1 = nsl::make_train_source(c, data().manifest, 1, 2);
    for (auto* s : {plain.get(), one.get(), r0.get(), r1.get()}) s->start_epoch(1);
    for (int64_t t = 0; t < one->steps_per_epoch(); ++t) {
      const nsl::Batch p = plain->next_batch(), b = one->next_batch();
      BOOST_CHECK(torch::equal(p.indices, b.indices));
      BOOST_CHECK(torch::equal(p.labels, b.labels));
      BOOST_CHECK(!torch::equal(p.images, b.images));
      std::map<int64_t, torch::Tensor> whole, parts;
      for (int64_t i = 0; i < b.indices.numel(); ++i)
        whole[b.indices[i].item<int64_t>()] = b.images[i];
      for (const nsl::Batch& part : {r0->next_batch(), r1->next_batch()})
        for (int64_t i = 0; i < part.indices.numel(); ++i)
          parts[part.indices[i].item<int64_t>()] = part.images[i];
      BOOST_REQUIRE_EQUAL(parts.size(), whole.size());
      for (const auto& [g, img] : whole) BOOST_CHECK(torch::equal(parts.at(g), img));
    }
  }
  const nsl::LoaderOptions o = nsl::loader_options(nsl::parse_config(
      "data: {path: x, augment: true, crop_scale: [0.3, 0.8], flip: false, loader_workers: 3, "
      "prefetch_batches: 2}\n"));
  BOOST_CHECK(o.augment.enabled && !o.augment.flip);
  BOOST_CHECK_EQUAL(o.augment.scale_min, 0.3);
  BOOST_CHECK_EQUAL(o.augment.scale_max, 0.8);
  BOOST_CHECK_EQUAL(o.workers, 3);
  BOOST_CHECK_EQUAL(o.prefetch_batches, 2);
  BOOST_CHECK_GE(nsl::loader_options(nsl::parse_config("data: {path: x}\n")).workers, 1);
  const nsl::Config d = nsl::parse_config("data: {path: x}\n");
  BOOST_CHECK(!d.data.augment && d.data.flip && d.data.loader_workers == 0 &&
              d.data.prefetch_batches == 4);
  BOOST_CHECK(nsl::to_yaml(d).find("crop_scale: [0.5, 1") != std::string::npos);
  BOOST_CHECK(nsl::parse_config(nsl::to_yaml(d)).data.crop_scale == d.data.crop_scale);
  for (const std::string bad : {"crop_scale: [0.9, 0.3]", "crop_scale: [0, 1]", "crop_scale: [0.5]",
                                "crop_scale: [0.5, 1.5]", "loader_workers: -1",
                                "prefetch_batches: 0", "crop_scale: [a, b]"})
    BOOST_CHECK_THROW(nsl::parse_config("data: {path: x, " + bad + "}\n"), nsl::ConfigError);
}
