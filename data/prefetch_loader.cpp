#include "data/prefetch_loader.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/error.h"
#include "data/h5_handle.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"

namespace nsl {

namespace {

std::vector<int64_t> prefix_offsets(const std::vector<int64_t>& counts) {
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (int64_t c : counts) {
    offsets.push_back(total);
    total += c;
  }
  return offsets;
}

void validate(const ShardSet& shards, const LoaderOptions& o) {
  if (o.workers < 1) throw std::invalid_argument("PrefetchLoader: workers must be >= 1");
  if (o.prefetch_batches < 1)
    throw std::invalid_argument("PrefetchLoader: prefetch_batches must be >= 1");
  const AugmentOptions& a = o.augment;
  if (a.enabled && !(a.scale_min > 0 && a.scale_min <= a.scale_max && a.scale_max <= 1))
    throw std::invalid_argument("PrefetchLoader: crop scale must satisfy 0 < min <= max <= 1");
  if (a.enabled && !(a.ratio_min > 0 && a.ratio_min <= a.ratio_max))
    throw std::invalid_argument("PrefetchLoader: crop ratio must satisfy 0 < min <= max");
  if (shards.counts.empty() || !shards.open)
    throw std::invalid_argument("PrefetchLoader: no shards or no way to open them");
  for (int64_t d : shards.image_shape)
    if (d < 1) throw std::invalid_argument("PrefetchLoader: empty image shape");
}

}  // namespace

struct PrefetchLoader::Slot {
  uint64_t generation = 0;
  int64_t epoch = 0, step = 0;
  Batch batch;
  std::vector<int64_t> indices;
  std::vector<uint8_t> raw;  // uint8 [n, H, W, C] as read
  float* out = nullptr;      // batch.images' storage
  int64_t pending = 0;       // tasks not yet done (under mutex_)
};

PrefetchLoader::PrefetchLoader(std::shared_ptr<const IndexSampler> sampler, ShardSet shards,
                               uint64_t seed, const LoaderOptions& options)
    : sampler_(std::move(sampler)),
      shards_(std::move(shards)),
      offsets_(prefix_offsets(shards_.counts)),
      seed_(seed),
      options_(options) {
  if (!sampler_) throw std::invalid_argument("PrefetchLoader: no sampler");
  validate(shards_, options_);
  files_.resize(shards_.counts.size());
  labels_.resize(shards_.counts.size());
  try {
    reader_ = std::thread([this] { reader_main(); });
    for (int64_t w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { worker_main(); });
  } catch (...) {
    stop_threads();
    throw;
  }
}

PrefetchLoader::~PrefetchLoader() { stop_threads(); }

void PrefetchLoader::stop_threads() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  reader_cv_.notify_all();
  worker_cv_.notify_all();
  consumer_cv_.notify_all();
  if (reader_.joinable()) reader_.join();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

void PrefetchLoader::start_epoch(int64_t epoch, int64_t first_step) {
  if (epoch < 0) throw std::invalid_argument("PrefetchLoader::start_epoch: negative epoch");
  if (first_step < 0 || first_step > steps_per_epoch()) {
    throw std::invalid_argument("PrefetchLoader::start_epoch: first step " +
                                std::to_string(first_step) + " outside [0, " +
                                std::to_string(steps_per_epoch()) + "]");
  }
  std::map<int64_t, std::shared_ptr<Slot>> discarded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    epoch_ = epoch;
    next_read_ = first_step;
    next_pop_ = first_step;
    discarded.swap(window_);
    tasks_.clear();
    error_ = nullptr;
  }
  reader_cv_.notify_all();
}

Batch PrefetchLoader::next_batch() {
  std::shared_ptr<Slot> slot;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (epoch_ < 0) throw std::logic_error("next_batch() before start_epoch()");
    if (next_pop_ >= steps_per_epoch())
      throw std::logic_error(
          "next_batch() called more than steps_per_epoch() = " + std::to_string(steps_per_epoch()) +
          " times in epoch " + std::to_string(epoch_));
    const int64_t step = next_pop_;
    const auto failed = [&] { return error_ && error_step_ <= step; };
    consumer_cv_.wait(lock, [&] {
      if (failed()) return true;
      const auto it = window_.find(step);
      return it != window_.end() && it->second->pending == 0;
    });
    if (failed()) std::rethrow_exception(error_);
    const auto it = window_.find(step);
    slot = std::move(it->second);
    window_.erase(it);
    ++next_pop_;
  }
  reader_cv_.notify_all();
  return std::move(slot->batch);
}

void PrefetchLoader::record_error(uint64_t generation, int64_t step, std::exception_ptr error) {
  if (generation != generation_) return;
  if (!error_ || step < error_step_) {
    error_ = std::move(error);
    error_step_ = step;
  }
  consumer_cv_.notify_all();
}

void PrefetchLoader::reader_main() {
  // Failures are reported as DataError only (a thread-safe HDF5 keeps this setting per thread).
  h5::silence_errors_on_this_thread();
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    reader_cv_.wait(lock, [&] {
      return stop_ || (epoch_ >= 0 && !error_ && next_read_ < steps_per_epoch() &&
                       next_read_ - next_pop_ < options_.prefetch_batches);
    });
    if (stop_) break;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_, step = next_read_;
    lock.unlock();
    std::shared_ptr<Slot> slot;
    std::exception_ptr error;
    try {
      slot = read_step(epoch, step, generation);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error) {
      record_error(generation, step, error);
      continue;
    }
    if (!slot || generation != generation_) continue;
    try {
      const auto n = static_cast<int64_t>(slot->indices.size());
      const int64_t chunk = std::max<int64_t>(1, (n + options_.workers - 1) / options_.workers);
      for (int64_t b = 0; b < n; b += chunk) tasks_.push_back({slot, b, std::min(n, b + chunk)});
      slot->pending = (n + chunk - 1) / chunk;
      window_[step] = slot;
      ++next_read_;
    } catch (...) {
      record_error(generation, step, std::current_exception());
      continue;
    }
    worker_cv_.notify_all();
    if (slot->pending == 0) consumer_cv_.notify_all();
  }
  lock.unlock();
  files_.clear();
}

std::shared_ptr<PrefetchLoader::Slot> PrefetchLoader::read_step(int64_t epoch, int64_t step,
                                                                uint64_t generation) {
  auto slot = std::make_shared<Slot>();
  slot->generation = generation;
  slot->epoch = epoch;
  slot->step = step;
  slot->indices = sampler_->local_indices(epoch, step);
  const auto [h, w, c] = shards_.image_shape;
  const int64_t n = static_cast<int64_t>(slot->indices.size()), bytes = h * w * c;
  const int64_t total = offsets_.back() + shards_.counts.back();
  slot->raw.resize(static_cast<size_t>(n * bytes));
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  torch::Tensor indices = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    if (stop_ || generation_ != generation) return nullptr;
    const int64_t g = slot->indices[static_cast<size_t>(i)];
    if (g < 0 || g >= total)
      throw std::out_of_range("PrefetchLoader: sample " + std::to_string(g) + " outside [0, " +
                              std::to_string(total) + ")");
    const auto s = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), g) -
                                       offsets_.begin() - 1);
    if (!files_[s]) {
      auto file = std::make_unique<ShardFile>(shards_.open(static_cast<int64_t>(s)));
      if (file->size() != shards_.counts[s] || file->image_shape() != shards_.image_shape)
        throw DataError("shard '" + file->path() + "' holds " + std::to_string(file->size()) +
                        " samples of another size than the loader expects (" +
                        std::to_string(shards_.counts[s]) + " of " + std::to_string(h) + "x" +
                        std::to_string(w) + "x" + std::to_string(c) + ")");
      const torch::Tensor l = file->read_labels();
      check_shard_labels(*file, l, shards_.num_classes);
      labels_[s].assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
      files_[s] = std::move(file);
    }
    const int64_t position = g - offsets_[s];
    files_[s]->read_image(position, slot->raw.data() + i * bytes);
    labels.data_ptr<int64_t>()[i] = labels_[s][static_cast<size_t>(position)];
    indices.data_ptr<int64_t>()[i] = g;
  }
  slot->batch.images = torch::empty({n, c, h, w}, torch::kFloat32);
  slot->batch.labels = labels;
  slot->batch.indices = indices;
  slot->out = slot->batch.images.data_ptr<float>();
  return slot;
}

void PrefetchLoader::worker_main() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    worker_cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
    if (stop_) break;
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    if (task.slot->generation != generation_) continue;
    lock.unlock();
    std::exception_ptr error;
    try {
      decode_rows(*task.slot, task.begin, task.end);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error) {
      record_error(task.slot->generation, task.slot->step, error);
    } else if (--task.slot->pending == 0 && task.slot->generation == generation_) {
      consumer_cv_.notify_all();
    }
  }
}

void PrefetchLoader::decode_rows(const Slot& slot, int64_t begin, int64_t end) const {
  const auto [h, w, c] = shards_.image_shape;
  const int64_t bytes = h * w * c;
  for (int64_t i = begin; i < end; ++i) {
    const uint8_t* src = slot.raw.data() + i * bytes;
    float* dst = slot.out + i * bytes;
    if (options_.augment.enabled) {
      const uint64_t key = augment_seed(seed_, slot.epoch, slot.indices[static_cast<size_t>(i)]);
      augment_image(src, h, w, c, draw_augment(options_.augment, h, w, key), dst);
    } else {
      normalise_chw(src, h, w, c, dst);
    }
  }
}

}  // namespace nsl
