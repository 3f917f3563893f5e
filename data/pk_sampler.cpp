#include "data/pk_sampler.h"

#include <map>
#include <random>
#include <string>

#include "common/error.h"
#include "common/seed.h"
#include "common/shuffle.h"

namespace nsl {

namespace {

constexpr uint64_t kPkStream = 0x504b53414d50ULL;  // keeps these seeds apart from other streams

// The first `count` entries of a seeded Fisher-Yates shuffle of `items` (count <= size).
std::vector<int64_t> draw_without_replacement(std::vector<int64_t> items, int64_t count,
                                              uint64_t seed) {
  std::mt19937_64 engine(seed);
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < count; ++i) {
    const auto j = i + static_cast<int64_t>(uniform_below(engine, static_cast<uint64_t>(n - i)));
    std::swap(items[static_cast<size_t>(i)], items[static_cast<size_t>(j)]);
  }
  items.resize(static_cast<size_t>(count));
  return items;
}

}  // namespace

PKSampler::PKSampler(const std::vector<int64_t>& labels, int64_t classes_per_batch,
                     int64_t images_per_class, uint64_t seed)
    : classes_per_batch_(classes_per_batch), images_per_class_(images_per_class), seed_(seed) {
  if (classes_per_batch < 1 || images_per_class < 1)
    throw ConfigError("P x K sampler: P = " + std::to_string(classes_per_batch) +
                      " classes x K = " + std::to_string(images_per_class) +
                      " images per batch; both must be >= 1");
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(static_cast<int64_t>(i));
  for (auto& [label, members] : by_class) members_.push_back(std::move(members));
  const auto classes = static_cast<int64_t>(members_.size());
  if (classes_per_batch > classes)
    throw ConfigError("P x K sampler: a batch of " + std::to_string(batch_size()) + " with " +
                      std::to_string(images_per_class) + " images per class needs " +
                      std::to_string(classes_per_batch) + " classes, but the split has " +
                      std::to_string(classes) +
                      "; lower train.batch_size or raise train.pk_images_per_class");
  steps_per_epoch_ = std::max<int64_t>(1, static_cast<int64_t>(labels.size()) / batch_size());
}

std::vector<int64_t> PKSampler::global_batch(int64_t epoch, int64_t step) const {
  const auto e = static_cast<uint64_t>(epoch);
  const auto t = static_cast<uint64_t>(step);
  std::vector<int64_t> class_ids(members_.size());
  for (size_t c = 0; c < class_ids.size(); ++c) class_ids[c] = static_cast<int64_t>(c);
  const std::vector<int64_t> chosen = draw_without_replacement(
      std::move(class_ids), classes_per_batch_, derive_seed({seed_, e, t, kPkStream}));
  std::vector<int64_t> batch;
  batch.reserve(static_cast<size_t>(batch_size()));
  for (int64_t c : chosen) {
    const auto& members = members_[static_cast<size_t>(c)];
    const auto n = static_cast<int64_t>(members.size());
    const uint64_t class_seed = derive_seed({seed_, e, t, kPkStream, static_cast<uint64_t>(c)});
    const std::vector<int64_t> order =
        draw_without_replacement(members, std::min(n, images_per_class_), class_seed);
    for (int64_t k = 0; k < images_per_class_; ++k)
      batch.push_back(order[static_cast<size_t>(k % static_cast<int64_t>(order.size()))]);
  }
  return batch;
}

BatchPart batch_part(int64_t size, int64_t rank, int64_t world) {
  const int64_t base = size / world, extra = size % world;
  BatchPart p;
  p.begin = rank * base + std::min(rank, extra);
  p.end = p.begin + base + (rank < extra ? 1 : 0);
  return p;
}

}  // namespace nsl
