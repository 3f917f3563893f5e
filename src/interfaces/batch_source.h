#pragma once
// What the trainer consumes. Implemented by data/ (HDF5 shards) and by tests (in-memory tensors);
// the trainer never knows where images come from.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace nsl {

struct Batch {
  torch::Tensor images;   // float32 [n, channels, height, width], normalised
  torch::Tensor labels;   // int64 [n], contiguous class ids of the split (0 .. classes-1)
  torch::Tensor indices;  // int64 [n], the samples' global indices within the split
};

// This rank's part of every global training batch. The global batch of a step is the same set of
// samples whatever the number of ranks, so runs with different world sizes see the same data.
class TrainBatchSource {
 public:
  virtual ~TrainBatchSource() = default;
  virtual int64_t num_classes() const = 0;
  virtual int64_t global_batch_size() const = 0;
  // Steps this source can deliver per epoch; the trainer agrees on the minimum across ranks.
  virtual int64_t steps_per_epoch() const = 0;
  // Re-seeds the sampler for the epoch; must be called before the epoch's first next_batch().
  void start_epoch(int64_t epoch) { start_epoch_at(epoch, 0); }
  // The same, with the first `first_step` steps of the epoch already taken (a resumed run):
  // the next next_batch() is step `first_step`'s batch, exactly as in an uninterrupted epoch.
  virtual void start_epoch_at(int64_t epoch, int64_t first_step) = 0;
  virtual Batch next_batch() = 0;
};

// This rank's part of an evaluation split; the union over ranks is the whole split.
class EvalSource {
 public:
  virtual ~EvalSource() = default;
  virtual int64_t local_size() const = 0;
  virtual int64_t total_size() const = 0;
  // Samples [begin, end) of this rank's part.
  virtual Batch slice(int64_t begin, int64_t end) = 0;
  // Sizes of the consecutive pieces of this rank's part that are the same whichever rank holds
  // them (shards): evaluation batches never cross a piece, so a sample is embedded in the same
  // batch for every world size.
  virtual std::vector<int64_t> pieces() const { return {local_size()}; }
};

}  // namespace nsl
