#pragma once
// The asynchronous training loader of one rank. An IndexSampler says which samples each step
// needs; ONE reader thread reads them from the shards (the only thread of the loader that calls
// HDF5), a pool of worker threads turns the raw uint8 HWC images
// into the normalised (optionally augmented) float32 NCHW batch, and complete batches wait in a
// window of at most `prefetch_batches` steps ahead of the consumer. next_batch() returns them in
// step order.
//
// A batch is a pure function of (sampler, seed, epoch, step): augmentation draws are keyed by
// (seed, epoch, global index), never by thread, so worker count and timing change nothing.
// A failure in the reader or a worker (a DataError naming the file, say) is re-thrown by the
// next_batch() of the step it hit; the batches before it are still delivered.
#include <torch/torch.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/index_sampler.h"
#include "interfaces/batch_source.h"

namespace nsl {

class ShardFile;

// The split's shards as the reader sees them.
struct ShardSet {
  std::vector<int64_t> counts;  // samples per shard; global index = earlier counts + position
  std::array<int64_t, 3> image_shape{};  // H, W, C of every sample
  int64_t num_classes = 0;               // labels are checked against [0, num_classes)
  // Opens shard s (e.g. open_checked_shard). Called on the reader thread only, the first time a
  // step needs the shard.
  std::function<ShardFile(int64_t shard)> open;
};

struct LoaderOptions {
  int64_t workers = 1;           // decode/augment threads, >= 1
  int64_t prefetch_batches = 4;  // steps read ahead of the consumer, >= 1
  AugmentOptions augment;
};

class PrefetchLoader {
 public:
  // Starts the threads; they idle until start_epoch(). Throws std::invalid_argument for bad
  // options.
  PrefetchLoader(std::shared_ptr<const IndexSampler> sampler, ShardSet shards, uint64_t seed,
                 const LoaderOptions& options);
  // Stops and joins every thread, also mid-epoch.
  ~PrefetchLoader();
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  int64_t steps_per_epoch() const { return sampler_->steps_per_epoch(); }
  int64_t global_batch_size() const { return sampler_->global_batch_size(); }
  int64_t num_classes() const { return shards_.num_classes; }
  const IndexSampler& sampler() const { return *sampler_; }

  // Discards whatever was read ahead (and a pending error) and starts reading the epoch at step
  // `first_step` (a resumed run). Throws std::invalid_argument for a negative epoch or a step
  // outside [0, steps_per_epoch()].
  void start_epoch(int64_t epoch, int64_t first_step = 0);
  // The next step's batch. Throws std::logic_error before start_epoch() or after
  // steps_per_epoch() calls in an epoch; re-throws a reader or worker failure of this step.
  Batch next_batch();

 private:
  struct Slot;
  struct Task {
    std::shared_ptr<Slot> slot;
    int64_t begin = 0, end = 0;  // rows
  };

  void reader_main();
  void worker_main();
  // Reads step `step` of `epoch`; nullptr when abandoned because the
  // loader stopped or the epoch restarted meanwhile (generation changed).
  std::shared_ptr<Slot> read_step(int64_t epoch, int64_t step, uint64_t generation);
  void decode_rows(const Slot& slot, int64_t begin, int64_t end) const;
  // Keeps the earliest failing step's error of the current generation. Caller holds mutex_.
  void record_error(uint64_t generation, int64_t step, std::exception_ptr error);
  void stop_threads() noexcept;

  const std::shared_ptr<const IndexSampler> sampler_;
  const ShardSet shards_;
  const std::vector<int64_t> offsets_;
  const uint64_t seed_;
  const LoaderOptions options_;

  // Reader-thread state only.
  std::vector<std::unique_ptr<ShardFile>> files_;
  std::vector<std::vector<int64_t>> labels_;

  std::mutex mutex_;
  std::condition_variable reader_cv_, worker_cv_, consumer_cv_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{
      0};  // bumped by start_epoch: in-flight work of older ones is dropped
  int64_t epoch_ = -1;
  int64_t next_read_ = 0;                            // the reader's next step
  int64_t next_pop_ = 0;                             // the consumer's next step
  std::map<int64_t, std::shared_ptr<Slot>> window_;  // steps read and not yet popped
  std::deque<Task> tasks_;
  std::exception_ptr error_;
  int64_t error_step_ = 0;

  std::thread reader_;
  std::vector<std::thread> workers_;
};

}  // namespace nsl
