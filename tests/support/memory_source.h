#pragma once
// In-memory batch sources for trainer tests: a few classes of small images that differ by a class
// pattern plus noise, so a network can learn them in a few steps on a CPU.
#include <torch/torch.h>

#include <stdexcept>

#include "interfaces/batch_source.h"

namespace nsl::test {

struct PatternData {
  torch::Tensor images, labels;
};

inline PatternData make_pattern_data(int64_t classes, int64_t per_class, uint64_t seed,
                                     int64_t size = 8) {
  torch::manual_seed(static_cast<int64_t>(seed));
  const auto patterns = torch::randn({classes, 1, size, size});
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < per_class; ++i) {
      images.push_back(patterns[c] + 0.3 * torch::randn({1, size, size}));
      labels.push_back(c);
    }
  }
  return {torch::stack(images), torch::tensor(labels, torch::kInt64)};
}

// World size 1: global batch t = a seeded permutation of the data per epoch, batch after batch.
class MemoryTrainSource : public TrainBatchSource {
 public:
  MemoryTrainSource(PatternData data, int64_t classes, int64_t batch)
      : data_(std::move(data)), classes_(classes), batch_(batch) {}
  int64_t num_classes() const override { return classes_; }
  int64_t global_batch_size() const override { return batch_; }
  int64_t steps_per_epoch() const override { return data_.labels.size(0) / batch_; }
  void start_epoch_at(int64_t epoch, int64_t first_step) override {
    torch::manual_seed(1000 + epoch);
    order_ = torch::randperm(data_.labels.size(0), torch::kInt64);
    step_ = first_step;
  }
  Batch next_batch() override {
    if (step_ >= steps_per_epoch()) throw std::logic_error("epoch exhausted");
    const auto idx = order_.slice(0, step_ * batch_, (step_ + 1) * batch_);
    ++step_;
    return {data_.images.index_select(0, idx), data_.labels.index_select(0, idx), idx};
  }

 private:
  PatternData data_;
  int64_t classes_, batch_, step_ = 0;
  torch::Tensor order_;
};

class MemoryEvalSource : public EvalSource {
 public:
  explicit MemoryEvalSource(PatternData data) : data_(std::move(data)) {}
  int64_t local_size() const override { return data_.labels.size(0); }
  int64_t total_size() const override { return data_.labels.size(0); }
  Batch slice(int64_t begin, int64_t end) override {
    return {data_.images.slice(0, begin, end), data_.labels.slice(0, begin, end),
            torch::arange(begin, end, torch::kInt64)};
  }

 private:
  PatternData data_;
};

// The trainer tests' small problem: 4 classes, 16 training and 4 test images each, batches of 16.
struct FourPatternClasses {
  MemoryTrainSource train{make_pattern_data(4, 16, 11), 4, 16};
  MemoryEvalSource test{make_pattern_data(4, 4, 12)};
};

}  // namespace nsl::test
