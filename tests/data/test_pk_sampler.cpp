// PKSampler and batch_part against hand-built label lists.
#define BOOST_TEST_MODULE pk_sampler
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <set>
#include <vector>

#include "common/error.h"
#include "data/pk_sampler.h"

namespace {

// Class c has sizes[c] samples; samples of a class are interleaved with the others'.
std::vector<int64_t> labels_with_sizes(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> labels;
  std::vector<int64_t> left = sizes;
  bool any = true;
  while (any) {
    any = false;
    for (size_t c = 0; c < left.size(); ++c)
      if (left[c] > 0) {
        labels.push_back(static_cast<int64_t>(c));
        --left[c];
        any = true;
      }
  }
  return labels;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_batch_is_p_distinct_classes_of_k_images) {
  const auto labels = labels_with_sizes({9, 8, 7, 6, 5, 9, 8, 7, 6, 5});  // 70 samples
  nsl::PKSampler sampler(labels, 4, 3, 11);
  BOOST_TEST(sampler.batch_size() == 12);
  BOOST_TEST(sampler.steps_per_epoch() == 70 / 12);
  std::map<int64_t, int64_t> class_hits;
  for (int64_t epoch = 1; epoch <= 3; ++epoch) {
    for (int64_t step = 0; step < sampler.steps_per_epoch(); ++step) {
      const auto batch = sampler.global_batch(epoch, step);
      BOOST_REQUIRE_EQUAL(batch.size(), 12u);
      std::set<int64_t> classes;
      for (size_t p = 0; p < 4; ++p) {
        const int64_t c = labels[static_cast<size_t>(batch[p * 3])];
        classes.insert(c);
        ++class_hits[c];
        std::set<int64_t> images;
        for (size_t k = 0; k < 3; ++k) {
          const int64_t index = batch[p * 3 + k];
          BOOST_TEST(labels[static_cast<size_t>(index)] == c);  // K consecutive of one class
          images.insert(index);
        }
        BOOST_TEST(images.size() == 3u);  // every class has >= K images: no repeats
      }
      BOOST_TEST(classes.size() == 4u);  // P distinct classes
    }
  }
  BOOST_TEST(class_hits.size() == 10u);  // over 15 batches every class came up
}

BOOST_AUTO_TEST_CASE(seeded_by_seed_epoch_and_step_only) {
  const auto labels = labels_with_sizes({6, 6, 6, 6, 6, 6});
  nsl::PKSampler a(labels, 3, 2, 5), b(labels, 3, 2, 5), other_seed(labels, 3, 2, 6);
  // Asking in any order gives the same batch: nothing depends on earlier draws (resume, ranks).
  const auto late = a.global_batch(2, 7);
  for (int64_t s = 0; s < 7; ++s) b.global_batch(2, s);
  BOOST_TEST(b.global_batch(2, 7) == late);
  BOOST_TEST(a.global_batch(2, 0) != a.global_batch(2, 1));
  BOOST_TEST(a.global_batch(2, 0) != a.global_batch(3, 0));
  BOOST_TEST(a.global_batch(2, 0) != other_seed.global_batch(2, 0));
}

BOOST_AUTO_TEST_CASE(small_classes_repeat_their_images) {
  const auto labels = labels_with_sizes({1, 2, 5});
  nsl::PKSampler sampler(labels, 3, 4, 1);
  const auto batch = sampler.global_batch(1, 0);
  std::map<int64_t, std::set<int64_t>> distinct;
  for (int64_t index : batch) distinct[labels[static_cast<size_t>(index)]].insert(index);
  BOOST_TEST(distinct[0].size() == 1u);  // its one image, four times
  BOOST_TEST(distinct[1].size() == 2u);
  BOOST_TEST(distinct[2].size() == 4u);
  BOOST_TEST(sampler.steps_per_epoch() == 1);  // 8 images < one batch of 12: still one step
}

BOOST_AUTO_TEST_CASE(too_many_classes_per_batch_is_a_config_error) {
  const auto labels = labels_with_sizes({4, 4, 4});
  BOOST_CHECK_EXCEPTION(nsl::PKSampler(labels, 4, 2, 1), nsl::ConfigError,
                        [](const nsl::ConfigError& e) {
                          return std::string(e.what()).find(
                                     "needs 4 classes, but the split "
                                     "has 3") != std::string::npos;
                        });
  BOOST_CHECK_THROW(nsl::PKSampler(labels, 2, 0, 1), nsl::ConfigError);
}

BOOST_AUTO_TEST_CASE(batch_parts_tile_the_batch_in_rank_order) {
  for (int64_t size : {1, 7, 12, 13}) {
    for (int64_t world : {1, 2, 3, 5}) {
      int64_t next = 0;
      for (int64_t r = 0; r < world; ++r) {
        const auto p = nsl::batch_part(size, r, world);
        BOOST_TEST(p.begin == next);
        const int64_t n = p.end - p.begin;
        BOOST_TEST((n == size / world || n == size / world + 1));
        BOOST_TEST((n == size / world + 1) == (r < size % world));
        next = p.end;
      }
      BOOST_TEST(next == size);
    }
  }
}
