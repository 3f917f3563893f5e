#pragma once
// The P x K batch sampler of the pair-based losses: every global batch holds P distinct classes
// with K images each, so each anchor has K - 1 positives and (P - 1) K negatives in the batch.
//
// Stateless per step: step t of epoch e draws its P classes with derive_seed(seed, e, t) and each
// class's K images with derive_seed(seed, e, t, class), so a batch depends on nothing but
// (seed, epoch, step): identical at every world size and after a resume at any step. A class
// with fewer than K images repeats its (shuffled) images.
#include <cstdint>
#include <vector>

namespace nsl {

class PKSampler {
 public:
  // labels: the split's label per global sample index. Throws ConfigError when K < 1, P < 1,
  // or P is larger than the number of classes that have an image.
  PKSampler(const std::vector<int64_t>& labels, int64_t classes_per_batch, int64_t images_per_class,
            uint64_t seed);

  int64_t batch_size() const { return classes_per_batch_ * images_per_class_; }
  // floor(images / (P K)), at least 1: an epoch shows about as many images as the split holds.
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Global sample indices of the step's batch, class by class (K consecutive entries per class).
  std::vector<int64_t> global_batch(int64_t epoch, int64_t step) const;

 private:
  std::vector<std::vector<int64_t>> members_;  // per class that has images: its sample indices
  int64_t classes_per_batch_ = 0;
  int64_t images_per_class_ = 0;
  uint64_t seed_ = 0;
  int64_t steps_per_epoch_ = 0;
};

// The contiguous part [begin, end) of a global batch of `size` that `rank` of `world` takes:
// sizes differ by at most one, lower ranks take the larger parts.
struct BatchPart {
  int64_t begin = 0, end = 0;
};
BatchPart batch_part(int64_t size, int64_t rank, int64_t world);

}  // namespace nsl
